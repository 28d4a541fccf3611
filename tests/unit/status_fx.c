/*
 * status_fx.c - the statuses the status suites share (see status_fx.h).
 */
#include "base/compat.h"

#include "base/error.h"
#include "status_fx.h"

const char HASH_A[17] = "0123456789abcdef";
const char HASH_B[17] = "0000000000001234";

/* Every field set, with values that need quoting and values that do not. */
struct tenant_status *full_status(void)
{
  struct tenant_status *st = tenant_status_new("acme");
  struct status_item *it;

  st->source = td_strdup("3f2a9c0d1e2b3a4f5c6d7e8f9a0b1c2d3e4f5a6b");
  st->last_change = td_strdup("2026-11-23T10:00:00Z");
  tenant_status_set(st, STATUS_READY, true, "Applied", "12 resources in sync",
                    "2026-11-23T10:00:00Z");
  tenant_status_set(st, STATUS_RECONCILING, false, "Idle", NULL,
                    "2026-11-20T08:00:00Z");
  tenant_status_set(st, STATUS_STALLED, true, "NotConverging",
                    "service/api.prod.acme: replicas keeps changing",
                    "2026-11-22T08:30:00Z");
  tenant_status_set(st, STATUS_SOURCE_ERROR, false, "SourceRead", NULL,
                    "2026-11-20T08:00:00Z");
  tenant_status_set(st, STATUS_DRIFT_DETECTED, true, "DriftCorrected",
                    "1 drift corrected", "2026-11-23T10:00:00Z");
  tenant_status_set(st, STATUS_SUSPENDED, false, "Active", NULL,
                    "2026-11-20T08:00:00Z");

  tenant_status_inventory_put(st, "service/api.prod.acme", "service", "local",
                              "api-prod-acme", HASH_B);
  tenant_status_inventory_put(st, "database/acme.prod", "database", "local",
                              "acme_prod", HASH_A);
  it = (struct status_item *)tenant_status_inventory_find(st,
                                                          "database/acme.prod");
  it->prune_delete = true;
  it = (struct status_item *)tenant_status_inventory_find(
      st, "service/api.prod.acme");
  it->corrections = 2;

  st->stalled = td_calloc(1, sizeof(*st->stalled));
  st->nstalled = 1;
  st->stalled[0].id = td_strdup("service/api.prod.acme");
  st->stalled[0].field = td_strdup("replicas");
  st->stalled[0].desired = td_strdup("3");
  st->stalled[0].observed = td_strdup("2");

  st->last_error.message = td_strdup("connection refused: 127.0.0.1:5432");
  st->last_error.resource = td_strdup("service/api.prod.acme");
  st->last_error.path = td_strdup("tenants/acme.yaml");
  st->last_error.line = 12;
  st->last_error.col = 7;
  return st;
}

const char FULL_TEXT[] =
    "apiVersion: tenantd.io/v1\n"
    "kind: TenantStatus\n"
    "tenant: acme\n"
    "source: 3f2a9c0d1e2b3a4f5c6d7e8f9a0b1c2d3e4f5a6b\n"
    "lastChange: \"2026-11-23T10:00:00Z\"\n"
    "conditions:\n"
    "  - type: Ready\n"
    "    status: \"True\"\n"
    "    reason: Applied\n"
    "    message: 12 resources in sync\n"
    "    since: \"2026-11-23T10:00:00Z\"\n"
    "  - type: Reconciling\n"
    "    status: \"False\"\n"
    "    reason: Idle\n"
    "    message: \"\"\n"
    "    since: \"2026-11-20T08:00:00Z\"\n"
    "  - type: Stalled\n"
    "    status: \"True\"\n"
    "    reason: NotConverging\n"
    "    message: \"service/api.prod.acme: replicas keeps changing\"\n"
    "    since: \"2026-11-22T08:30:00Z\"\n"
    "  - type: SourceError\n"
    "    status: \"False\"\n"
    "    reason: SourceRead\n"
    "    message: \"\"\n"
    "    since: \"2026-11-20T08:00:00Z\"\n"
    "  - type: DriftDetected\n"
    "    status: \"True\"\n"
    "    reason: DriftCorrected\n"
    "    message: 1 drift corrected\n"
    "    since: \"2026-11-23T10:00:00Z\"\n"
    "  - type: Suspended\n"
    "    status: \"False\"\n"
    "    reason: Active\n"
    "    message: \"\"\n"
    "    since: \"2026-11-20T08:00:00Z\"\n"
    "inventory:\n"
    "  - id: database/acme.prod\n"
    "    type: database\n"
    "    provider: local\n"
    "    name: acme_prod\n"
    "    hash: 0123456789abcdef\n"
    "    pruneDelete: true\n"
    "    corrections: 0\n"
    "  - id: service/api.prod.acme\n"
    "    type: service\n"
    "    provider: local\n"
    "    name: api-prod-acme\n"
    "    hash: \"0000000000001234\"\n"
    "    pruneDelete: false\n"
    "    corrections: 2\n"
    "stalled:\n"
    "  - id: service/api.prod.acme\n"
    "    field: replicas\n"
    "    desired: \"3\"\n"
    "    observed: \"2\"\n"
    "lastError:\n"
    "  message: \"connection refused: 127.0.0.1:5432\"\n"
    "  resource: service/api.prod.acme\n"
    "  path: tenants/acme.yaml\n"
    "  line: 12\n"
    "  column: 7\n";

void assert_status_eq(const struct tenant_status *a,
                      const struct tenant_status *b)
{
  ck_assert_str_eq(a->tenant, b->tenant);
  ck_assert_pstr_eq(a->source, b->source);
  ck_assert_pstr_eq(a->last_change, b->last_change);
  ck_assert_pstr_eq(a->tier, b->tier);
  ck_assert_int_eq(a->has_cost, b->has_cost);
  if (a->has_cost)
    ck_assert_int_eq(a->monthly_cost, b->monthly_cost);
  for (size_t i = 0; i < STATUS_COND_COUNT; i++) {
    ck_assert_int_eq(a->cond[i].status, b->cond[i].status);
    ck_assert_pstr_eq(a->cond[i].reason, b->cond[i].reason);
    ck_assert_pstr_eq(a->cond[i].message, b->cond[i].message);
    ck_assert_pstr_eq(a->cond[i].since, b->cond[i].since);
  }
  ck_assert_uint_eq(a->ninventory, b->ninventory);
  for (size_t i = 0; i < a->ninventory; i++) {
    const struct status_item *x = &a->inventory[i], *y = &b->inventory[i];

    ck_assert_str_eq(x->id, y->id);
    ck_assert_str_eq(x->type, y->type);
    ck_assert_str_eq(x->provider, y->provider);
    ck_assert_str_eq(x->name, y->name);
    ck_assert_str_eq(x->hash, y->hash);
    ck_assert_int_eq(x->prune_delete, y->prune_delete);
    ck_assert_uint_eq(x->corrections, y->corrections);
  }
  ck_assert_uint_eq(a->nstalled, b->nstalled);
  for (size_t i = 0; i < a->nstalled; i++) {
    ck_assert_str_eq(a->stalled[i].id, b->stalled[i].id);
    ck_assert_str_eq(a->stalled[i].field, b->stalled[i].field);
    ck_assert_str_eq(a->stalled[i].desired, b->stalled[i].desired);
    ck_assert_str_eq(a->stalled[i].observed, b->stalled[i].observed);
  }
  ck_assert_pstr_eq(a->last_error.message, b->last_error.message);
  ck_assert_pstr_eq(a->last_error.resource, b->last_error.resource);
  ck_assert_pstr_eq(a->last_error.path, b->last_error.path);
  ck_assert_uint_eq(a->last_error.line, b->last_error.line);
  ck_assert_uint_eq(a->last_error.col, b->last_error.col);
}

/* Parses `text`, which must succeed; the caller frees the result. */
struct tenant_status *parse_ok(const char *text)
{
  struct tenant_status *st = NULL;
  int rc = tenant_status_parse(text, strlen(text), &st);

  ck_assert_msg(rc == 0, "parse failed: %s", td_error_last());
  ck_assert_ptr_nonnull(st);
  return st;
}
