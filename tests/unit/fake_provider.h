/*
 * fake_provider.h - the engine's test bed: a provider type "fake" whose
 * backend is an in-memory store keyed by resource id, with faults
 * scripted per id and per operation.
 *
 * It is no stand-in for a real server: it exists so the engine (observe,
 * apply, outcomes) can be driven through every path from a unit test.
 * Like a real provider it never answers inside the call: each result
 * comes on a later turn of the loop (after `latency_ms`, 0 by default),
 * and close() waits for every operation in flight.
 *
 * One store serves every instance, so a test can set it up before a pass
 * opens an instance and look at it after the pass closed it:
 *
 *   fake_reset();                     -- empty store, no faults, no calls
 *   fake_fault("service/api.prod.acme", FAKE_CREATE, PROVIDER_INVALID, 1);
 *   ... reconcile_once() with {"<instance>": {"type": "fake"}},
 *       or provider_open(&p, &fake_provider_ops, ...) and apply_start() ...
 *   fake_count(FAKE_CREATE, "service/api.prod.acme")   -- calls made
 *   fake_reset();                     -- frees everything
 *
 * Its config may say {"batches": true} and {"readsNearby": true}: the
 * instance then says so at open (provider.h).
 *
 * The store holds per id what a read returns, {"spec", "outputs",
 * "marker"}: create puts the spec it is given with tenantd's marker and
 * the outputs below; update replaces the spec; remove deletes the entry.
 * Outputs: service {"ip", "port", "address", "addresses" (the address
 * alone), "healthy"}, network {"id"},
 * database {"host", "port"}, bucket {"url"}, others {}.
 *
 * Semantics as local.h describes them: create is CONFLICT over an entry
 * not marked as this id; update and remove are NOT_FOUND when absent and
 * CONFLICT when not marked as this id; read is NOT_FOUND when absent.  A
 * scripted fault answers without touching the store, with the message
 * "injected <class> fault".
 */
#ifndef TD_FAKE_PROVIDER_H
#define TD_FAKE_PROVIDER_H

#include "base/compat.h"

#include <jansson.h>

#include "providers/provider.h"

enum fake_op { FAKE_READ, FAKE_CREATE, FAKE_UPDATE, FAKE_REMOVE, FAKE_OP_MAX };

/* "read", "create", "update", "remove" */
extern const char *const fake_op_names[FAKE_OP_MAX];

extern const struct provider_ops fake_provider_ops;

/* Registers the "fake" type, so a pass can open it from its config. */
void fake_provider_register(void);

/* Empties the store, the faults and the journal; frees them. */
void fake_reset(void);

/* Every result comes this long after its call (0: on the next turn). */
void fake_set_latency(uint64_t ms);

/* The next `times` calls of `op` on `id` fail with `status`; times < 0:
 * every call. */
void fake_fault(const char *id, enum fake_op op, int status, int times);

/* ---- the store, changed behind the engine's back ---- */

/* What a read of `id` returns now (borrowed), or NULL when absent. */
const json_t *fake_get(const char *id);

/* Puts an entry as tenantd would have created it; `spec` is stolen. */
void fake_put(const char *id, const char *tenant, json_t *spec);

/* Puts an entry that carries no marker (someone else's); `spec` stolen. */
void fake_put_foreign(const char *id, json_t *spec);

/* Sets one attribute of the stored spec (drift); `value` is stolen. */
void fake_set(const char *id, const char *attr, json_t *value);

/* Deletes an entry (deleted behind tenantd's back). */
void fake_drop(const char *id);

/* After every create and update of `id`, the backend puts `attr` back to
 * `value` (stolen): a resource that never converges. */
void fake_pin(const char *id, const char *attr, json_t *value);

/* The next `n` answers about service `id` say healthy: false. */
void fake_unhealthy(const char *id, int n);

/* Entries in the store. */
size_t fake_size(void);

/* ---- the journal: every call, in the order made ---- */

struct fake_call {
  enum fake_op op;
  char *id;
  uint64_t at; /* uv_now() of the loop when called */
};

size_t fake_ncalls(void);
const struct fake_call *fake_call_at(size_t i);

/* Calls of `op` (FAKE_OP_MAX: of any op) on `id` (NULL: on any id). */
size_t fake_count(enum fake_op op, const char *id);

/* Position of the `nth` (from 0) such call in the journal, or -1. */
long fake_index(enum fake_op op, const char *id, size_t nth);

/* Writes (create, update, remove) made so far. */
size_t fake_writes(void);

/* The most operations that were in flight at once. */
size_t fake_max_in_flight(void);

#endif
