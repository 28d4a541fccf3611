/*
 * gitpass.h - a reconcile pass whose manifests and status live in Git.
 *
 * apply: fetch (on the libuv threadpool), read the tracked branch's tip,
 * pick the tenants to reconcile, reconcile them, commit their statuses to
 * the status branch, note the manifest commit, push.
 *
 * Which tenants: with `all` (what `tenantd apply --once` does unless told
 * --changed), every one, so that drift made by hand is corrected.
 * Without it (the daemon's incremental passes, `--changed` for CI on
 * merge), those whose files changed between the manifest commit the last
 * status commit names (Tenantd-Source) and the new tip -- every tenant
 * when platform.yaml or tiers.yaml changed, or on the first run -- plus
 * every tenant whose status is not Ready or carries a SourceError, so a
 * failed tenant is retried by the next pass.
 *
 * When the fetch fails, the last fetched tip is applied again with every
 * tenant marked SourceError (safety rule 1: hold, never empty); its status
 * commit waits in the mirror until the remote is back.
 *
 * plan, without `ref`: the tracked branch's tip, fetched, planned for the
 * tenants apply would take (as above, by `all`) against what the
 * providers hold, so drift shows; a failed fetch is an error, never a plan
 * of stale manifests.  Judged as a directory's plan (PASS_MODE_PLAN).
 *
 * plan, with `ref`: the tenants a ref changed since its merge base with
 * `base`, planned against what the providers hold and the inventory on
 * the status branch.  A plan here gates a pull request, so a tenant held
 * for an invalid manifest makes it unsettled (PASS_MODE_PLAN_GATE in
 * engine/dirpass.h).
 *
 * Either plan writes nothing, and tells the plan printer where its
 * manifests come from (rec.plan_repository, plan_base, plan_head: the
 * URL without credentials, the commit compared with, the commit planned).
 *
 * Either way the result carries the pass's verdict (res->result), judged
 * as the directory pass judges its own: pass_exit_code() turns it into
 * the exit code.
 */
#ifndef TD_GITPASS_H
#define TD_GITPASS_H

#include "base/compat.h"

#include <stdio.h>

#include "engine/dirpass.h"
#include "engine/reconcile.h"
#include "git/source.h"

struct gitpass_opts {
  unsigned version;
  struct reconcile_opts rec; /* providers, concurrency, output... */
  bool all;                  /* every tenant, not only the changed ones */
  long allow_delete;         /* the CLI's --allow-delete, or -1 */
  const char *ref;           /* plan: the ref to plan, NULL: the tip */
  const char *base;          /* plan: the ref it merges into, NULL: branch */
  /* The daemon's knobs; zero for the CLI's behaviour. */
  const struct strset *extra; /* reconcile these too (resync, retries) */
  bool no_retry;              /* do not add every tenant not Ready */
  bool no_fetch;              /* apply the last fetched tip */
  bool no_push;               /* commit status, keep it in the mirror */
  /* The tip the caller last completed a pass on: when the tip is still
   * that and nothing is selected, the pass stops after the fetch. */
  const char *seen;
  /* When set, receives the pass's report instead of it being released. */
  struct reconcile_report *report;
};

#define GITPASS_OPTS_VERSION 1

struct gitpass_result {
  struct reconcile_summary sum;
  char source[SOURCE_ID_LEN];        /* the manifest commit applied */
  char status_commit[SOURCE_ID_LEN]; /* "" when nothing was committed */
  bool source_error;                 /* the fetch failed */
  bool pushed;                       /* the remote has every status */
  size_t selected;                   /* tenants in the pass */
  bool fetched;                      /* a fetch was made and succeeded */
  double fetch_seconds;              /* how long the fetch took */
  double commit_seconds; /* from the fetch done to the status commit */
  double push_seconds;   /* pushing status and notes */
  bool skipped;          /* nothing new, nothing selected */
  /* The verdict: a pass not pushed (unless no_push) or on the last good
   * manifests is unsettled; PASS_ERROR when the call returned -1. */
  enum pass_result result;
};

/* 0 when the pass ran (see the result), -1 with td_error_last() when it
 * could not (no snapshot at all, unreadable mirror). */
int gitpass_apply(struct source *src, const struct gitpass_opts *o,
                  struct gitpass_result *res);

int gitpass_plan(struct source *src, const struct gitpass_opts *o,
                 struct gitpass_result *res);

struct writeback;

/*
 * What `tenantd status` and `tenantd log` read (git/statusview.h): the
 * status branch, as fresh as it can be -- fetched, or when the fetch
 * fails (said on `err`), the copy last fetched into the mirror -- and the
 * tenants in the manifests at the tracked branch's tip, so that a tenant
 * never reconciled is shown too.  Reading writes nothing outside the
 * mirror (the cache).
 */
struct gitpass_view {
  struct writeback *wb;      /* owned; the branch may have no commit */
  bool has_status;           /* tenantd has written to the status branch */
  char head[SOURCE_ID_LEN];  /* the tracked branch's tip, "" when none */
  struct strset tenants;     /* the tenant files at head, by name */
  const char *url;           /* borrowed: the URL without credentials */
  const char *status_branch; /* borrowed */
};

/* 0 and *v filled (release it either way), or -1 with td_error_last():
 * the mirror cannot be read, or the fetch failed and it holds nothing. */
int gitpass_view_open(struct source *src, FILE *err, struct gitpass_view *v);
void gitpass_view_release(struct gitpass_view *v);

#endif
