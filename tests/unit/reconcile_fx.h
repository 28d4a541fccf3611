/*
 * reconcile_fx.h - what the reconcile suites share (test_reconcile.c,
 * test_reconcile_windows.c): manifests written in memory, statuses in an
 * in-memory store that each pass reads and that pass_with() updates from
 * the pass's report, as the CLI and the daemon persist them, and the
 * fake provider as the instance "local".  reconcile_fx_setup() and
 * reconcile_fx_teardown() are each test's fixture; everything here is
 * owned by it.
 */
#ifndef TD_TEST_RECONCILE_FX_H
#define TD_TEST_RECONCILE_FX_H

#include "base/compat.h"

#include "engine/reconcile.h"
#include "fake_provider.h"
#include "suites.h"

/* The manifests of the next pass. */
extern struct manifest_files files;

/* Statuses by tenant, as text, as a status branch would hold them. */
extern json_t *statuses;

/* The controller config's providers: {"local": {"type": "fake"}}. */
extern json_t *providers;

/* The last pass, and what it printed. */
extern struct reconcile_report report;
extern char *out_text, *err_text;

/* The store each pass reads: `statuses`. */
extern struct status_store store;

void reconcile_fx_setup(void);
void reconcile_fx_teardown(void);

/* A manifest file of the next pass. */
void put(const char *path, const char *text);

/* platform.yaml with these policies. */
void platform(const char *drift, int max_delete, int stall_after);

/* acme: a network, app api (service, route, public record), app web. */
void acme(bool suspend, bool with_api, const char *web_image);

/* The options of a pass over `files`, applying or not. */
struct reconcile_opts opts(bool apply);

/* Runs a pass (it must succeed) and persists what it returns. */
void pass_with(struct reconcile_opts *o);

/* A pass that applies, with opts(true). */
void apply_pass(void);

/* The outcome of `tenant` in the last pass; fails the test when none. */
const struct reconcile_outcome *outcome(const char *tenant);

#endif
