/*
 * Plans and the safety rules, one test per rule: each fails if its rule
 * is removed from plan.c.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"
#include "suites.h"

static json_t *observed_map;

static const json_t *observed(const char *id, void *arg)
{
  (void)arg;
  return json_object_get(observed_map, id);
}

/* What the local provider would hold for r, marked as tenantd's. */
static void observe_as(const char *id, const char *tenant, json_t *spec)
{
  char marker[RESOURCE_MARKER_MAX];

  resource_marker(marker, tenant, id);
  json_object_set_new(
      observed_map, id,
      json_pack("{s:o, s:{}, s:s}", "spec", spec, "outputs", "marker", marker));
}

static struct resource *db(const char *id, int limit)
{
  return resource_new(
      RTYPE_DATABASE, id, "local", "acme", "acme_prod",
      json_pack("{s:s, s:i}", "name", "acme_prod", "connection_limit", limit));
}

static bool show_only;

static struct tenant_plan *make(struct resource_set *desired,
                                const struct tenant_status *last,
                                bool suspended, bool report)
{
  struct plan_input in = {0};

  in.show_only = show_only;

  resource_set_sort(desired);
  in.tenant = "acme";
  in.desired = desired;
  in.last = last;
  in.observed = observed;
  in.suspended = suspended;
  in.drift_report = report;
  in.stall_after = 3;
  return plan_tenant(&in);
}

static void inventory(struct tenant_status *st, const char *id,
                      const char *type, const json_t *spec, bool del)
{
  char hash[17];

  resource_spec_hash(spec, hash);
  tenant_status_inventory_put(st, id, type, "local", "n", hash)->prune_delete =
      del;
}

static void setup(void)
{
  observed_map = json_object();
  show_only = false;
}

static void teardown(void)
{
  json_decref(observed_map);
}

START_TEST(create_update_noop_field_level)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_plan *tp;

  resource_set_add(&set, db("database/acme.prod", 200));
  resource_set_add(&set,
                   resource_new(RTYPE_NETWORK, "network/acme.prod", "local",
                                "acme", "acme-prod",
                                json_pack("{s:s}", "cidr", "10.0.0.0/16")));
  resource_add_dep(set.v[0], "network/acme.prod");
  observe_as(
      "database/acme.prod", "acme",
      json_pack("{s:s, s:i}", "name", "acme_prod", "connection_limit", 50));
  tp = make(&set, NULL, false, false);
  ck_assert_uint_eq(tp->n, 2);
  /* dependencies first */
  ck_assert_str_eq(tp->v[0].res->id, "network/acme.prod");
  ck_assert_int_eq(tp->v[0].kind, PLAN_CREATE);
  ck_assert_int_eq(tp->v[1].kind, PLAN_UPDATE);
  ck_assert_uint_eq(tp->v[1].diff.n, 1);
  ck_assert_str_eq(tp->v[1].diff.v[0].attr, "connection_limit");
  ck_assert_int_eq(json_integer_value(tp->v[1].diff.v[0].observed), 50);
  ck_assert_int_eq(json_integer_value(tp->v[1].diff.v[0].desired), 200);
  ck_assert(!tp->v[1].drift);
  ck_assert_uint_eq(tenant_plan_changes(tp), 2);
  tenant_plan_free(tp);
  resource_set_release(&set);
}
END_TEST

START_TEST(immutable_change_is_a_replace)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_plan *tp;

  resource_set_add(&set,
                   resource_new(RTYPE_NETWORK, "network/acme.prod", "local",
                                "acme", "acme-prod",
                                json_pack("{s:s}", "cidr", "10.1.0.0/16")));
  observe_as("network/acme.prod", "acme",
             json_pack("{s:s}", "cidr", "10.0.0.0/16"));
  tp = make(&set, NULL, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_REPLACE);
  ck_assert(tp->v[0].diff.v[0].immutable);
  ck_assert_uint_eq(tenant_plan_deletes(tp), 1);
  tenant_plan_free(tp);
  resource_set_release(&set);
}
END_TEST

START_TEST(unmarked_resource_is_a_conflict_never_touched)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_plan *tp;

  resource_set_add(&set, db("database/acme.prod", 200));
  json_object_set_new(observed_map, "database/acme.prod",
                      json_pack("{s:{s:i}}", "spec", "connection_limit", 5));
  tp = make(&set, NULL, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_CONFLICT);
  ck_assert_uint_eq(tenant_plan_changes(tp), 0);
  tenant_plan_free(tp);
  resource_set_release(&set);
}
END_TEST

START_TEST(prune_needs_inventory_and_marker)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  json_t *spec = json_pack("{s:s}", "name", "x");
  struct tenant_plan *tp;

  /* In the inventory, marked: deleted.  In the inventory, unmarked: a
   * conflict.  Marked but not inventoried: not even looked at. */
  inventory(st, "route/a.prod.acme", "route", spec, false);
  inventory(st, "route/b.prod.acme", "route", spec, false);
  observe_as("route/a.prod.acme", "acme", json_deep_copy(spec));
  json_object_set_new(observed_map, "route/b.prod.acme",
                      json_pack("{s:O}", "spec", spec));
  observe_as("route/c.prod.acme", "acme", json_deep_copy(spec));
  tp = make(&set, st, false, false);
  ck_assert_uint_eq(tp->n, 2);
  ck_assert_str_eq(tp->v[0].res->id, "route/a.prod.acme");
  ck_assert_int_eq(tp->v[0].kind, PLAN_DELETE);
  ck_assert_str_eq(tp->v[1].res->id, "route/b.prod.acme");
  ck_assert_int_eq(tp->v[1].kind, PLAN_CONFLICT);
  ck_assert_uint_eq(tenant_plan_deletes(tp), 1);
  tenant_plan_free(tp);
  tenant_status_free(st);
  json_decref(spec);
  resource_set_release(&set);
}
END_TEST

START_TEST(stateful_types_are_orphaned_by_default)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  json_t *spec = json_pack("{s:s}", "name", "x");
  struct tenant_plan *tp;

  inventory(st, "database/acme.prod", "database", spec, false);
  inventory(st, "bucket/acme.prod", "bucket", spec, true);
  inventory(st, "network/acme.prod", "network", spec, false);
  observe_as("database/acme.prod", "acme", json_deep_copy(spec));
  observe_as("bucket/acme.prod", "acme", json_deep_copy(spec));
  observe_as("network/acme.prod", "acme", json_deep_copy(spec));
  tp = make(&set, st, false, false);
  ck_assert_uint_eq(tp->n, 3);
  /* Deletes run dependents first: state before the network. */
  ck_assert_str_eq(tp->v[2].res->id, "network/acme.prod");
  for (size_t i = 0; i < tp->n; i++) {
    if (strcmp(tp->v[i].res->id, "database/acme.prod") == 0)
      ck_assert_int_eq(tp->v[i].kind, PLAN_ORPHAN);
    else
      ck_assert_int_eq(tp->v[i].kind, PLAN_DELETE); /* bucket said Delete */
  }
  tenant_plan_free(tp);
  tenant_status_free(st);
  json_decref(spec);
  resource_set_release(&set);
}
END_TEST

START_TEST(blast_radius_guard)
{
  char buf[256];

  ck_assert_int_eq(plan_guard(0, 0, 10, -1, buf, sizeof(buf)), 0);
  ck_assert_int_eq(plan_guard(1, 10, 10, -1, buf, sizeof(buf)), 0);
  ck_assert_int_eq(plan_guard(2, 10, 10, -1, buf, sizeof(buf)), -1);
  ck_assert_str_eq(buf,
                   "refused: this pass would delete 2 of 10 managed "
                   "resources, more than maxDeletePercent (10%); allow "
                   "exactly this many with --allow-delete 2 or the trailer "
                   "'Tenantd-Allow-Delete: 2' on the manifest commit");
  ck_assert_int_eq(plan_guard(2, 10, 10, 2, buf, sizeof(buf)), 0);
  ck_assert_int_eq(plan_guard(2, 10, 10, 3, buf, sizeof(buf)), -1);
  ck_assert_int_eq(plan_guard(3, 0, 10, -1, buf, sizeof(buf)), -1);
  ck_assert_int_eq(plan_guard(10, 10, 100, -1, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(suspend_holds_everything)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_plan *tp;

  resource_set_add(&set, db("database/acme.prod", 200));
  tp = make(&set, NULL, true, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_CREATE);
  ck_assert(tp->v[0].held);
  ck_assert_uint_eq(tenant_plan_changes(tp), 0);
  tenant_plan_free(tp);
  resource_set_release(&set);
}
END_TEST

START_TEST(drift_corrected_reported_and_stalled)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  struct tenant_plan *tp;
  struct resource *r = db("database/acme.prod", 200);

  inventory(st, r->id, "database", r->spec, false);
  resource_set_add(&set, r);
  observe_as(
      "database/acme.prod", "acme",
      json_pack("{s:s, s:i}", "name", "acme_prod", "connection_limit", 7));
  tp = make(&set, st, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_UPDATE);
  ck_assert(tp->v[0].drift);
  ck_assert(!tp->v[0].held);
  ck_assert_uint_eq(tp->v[0].attempts, 1);
  tenant_plan_free(tp);

  resource_set_add(&set, db("database/acme.prod", 200));
  tp = make(&set, st, false, true);
  ck_assert(tp->v[0].drift);
  ck_assert(tp->v[0].held); /* driftPolicy: report */
  tenant_plan_free(tp);

  ((struct status_item *)tenant_status_inventory_find(st, "database/acme.prod"))
      ->corrections = 3;
  resource_set_add(&set, db("database/acme.prod", 200));
  tp = make(&set, st, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_STALLED);
  ck_assert_str_eq(tp->v[0].note,
                   "connection_limit keeps changing back (desired 200, "
                   "observed 7); not corrected again until the manifest "
                   "changes");
  tenant_plan_free(tp);

  /* A changed manifest is not drift: the breaker does not apply. */
  resource_set_add(&set, db("database/acme.prod", 300));
  tp = make(&set, st, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_UPDATE);
  ck_assert(!tp->v[0].drift);
  tenant_plan_free(tp);
  tenant_status_free(st);
  resource_set_release(&set);
}
END_TEST

START_TEST(deleted_behind_our_back_is_drift)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  struct resource *r = db("database/acme.prod", 200);
  struct tenant_plan *tp;

  inventory(st, r->id, "database", r->spec, false);
  resource_set_add(&set, r);
  tp = make(&set, st, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_CREATE);
  ck_assert(tp->v[0].drift);
  ck_assert_uint_eq(tp->drifted, 1);
  tenant_plan_free(tp);
  tenant_status_free(st);
  resource_set_release(&set);
}
END_TEST

/* A plan only shown hashes a spec only to compare it with the
 * inventory: drift is found all the same; one to apply hashes all. */
START_TEST(shown_plans_hash_what_they_compare)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  struct resource *r = db("database/acme.prod", 200);
  struct tenant_plan *tp;
  char want[17];

  resource_spec_hash(r->spec, want);
  inventory(st, r->id, "database", r->spec, false);
  resource_set_add(&set, r);
  resource_set_add(&set, db("database/acme.qa", 20));
  show_only = true;
  tp = make(&set, st, false, false);
  ck_assert_str_eq(tp->v[0].res->id, "database/acme.prod");
  ck_assert(tp->v[0].drift);
  ck_assert_str_eq(tp->v[0].hash, want);
  ck_assert_str_eq(tp->v[1].hash, "");
  ck_assert_int_eq(tp->v[1].kind, PLAN_CREATE);
  tenant_plan_free(tp);
  resource_set_release(&set);
  resource_set_add(&set, db("database/acme.qa", 20));
  show_only = false;
  tp = make(&set, st, false, false);
  ck_assert_uint_eq(strlen(tp->v[0].hash), 16);
  tenant_plan_free(tp);
  tenant_status_free(st);
  resource_set_release(&set);
}
END_TEST

static struct resource *net(const char *id)
{
  return resource_new(RTYPE_NETWORK, id, "local", "acme", id + 8, NULL);
}

/* Dependencies first, else by id; a cycle (which validation prevents)
 * is broken at its smallest id, and nothing is lost. */
START_TEST(order_is_dependencies_then_ids)
{
  static const char *const want[] = {"network/c", "network/d", "network/a",
                                     "network/b", "network/z", "network/x",
                                     "network/y"};
  static const char *const ids[] = {"network/a", "network/b", "network/c",
                                    "network/d", "network/x", "network/y",
                                    "network/z"};
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_plan *tp;

  for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
    resource_set_add(&set, net(ids[i]));
  resource_add_dep(set.v[0], "network/d");
  resource_add_dep(set.v[1], "network/a");
  resource_add_dep(set.v[1], "network/gone");
  resource_add_dep(set.v[4], "network/y");
  resource_add_dep(set.v[5], "network/x");
  resource_add_dep(set.v[4], "network/d");
  resource_add_dep(set.v[6], "network/b");
  tp = make(&set, NULL, false, false);
  ck_assert_uint_eq(tp->n, ARRAY_SIZE(want));
  for (size_t i = 0; i < ARRAY_SIZE(want); i++)
    ck_assert_str_eq(tp->v[i].res->id, want[i]);
  tenant_plan_free(tp);
  resource_set_release(&set);
}
END_TEST

/* Ours at the provider but not in the inventory: a pass created it and
 * stopped before its status was written.  Applying records it. */
START_TEST(marked_but_not_inventoried_is_adopted)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("acme");
  struct resource *r = db("database/acme.prod", 200);
  struct tenant_plan *tp;

  observe_as(r->id, "acme", json_deep_copy(r->spec));
  resource_set_add(&set, r);
  tp = make(&set, NULL, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_NOOP);
  ck_assert(tp->v[0].adopted);
  ck_assert_uint_eq(tenant_plan_changes(tp), 0);
  tenant_plan_free(tp);

  /* Inventoried: nothing to adopt. */
  r = db("database/acme.prod", 200);
  inventory(st, r->id, "database", r->spec, false);
  resource_set_add(&set, r);
  tp = make(&set, st, false, false);
  ck_assert(!tp->v[0].adopted);
  tenant_plan_free(tp);

  /* Someone else's: a conflict, never adopted. */
  json_object_set_new(observed_map, "database/acme.prod",
                      json_pack("{s:{s:i}}", "spec", "connection_limit", 5));
  resource_set_add(&set, db("database/acme.prod", 200));
  tp = make(&set, NULL, false, false);
  ck_assert_int_eq(tp->v[0].kind, PLAN_CONFLICT);
  ck_assert(!tp->v[0].adopted);
  tenant_plan_free(tp);
  tenant_status_free(st);
  resource_set_release(&set);
}
END_TEST

Suite *make_suite_plan(void)
{
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("plan");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, create_update_noop_field_level);
  tcase_add_test(tc, immutable_change_is_a_replace);
  tcase_add_test(tc, unmarked_resource_is_a_conflict_never_touched);
  tcase_add_test(tc, prune_needs_inventory_and_marker);
  tcase_add_test(tc, stateful_types_are_orphaned_by_default);
  tcase_add_test(tc, blast_radius_guard);
  tcase_add_test(tc, suspend_holds_everything);
  tcase_add_test(tc, drift_corrected_reported_and_stalled);
  tcase_add_test(tc, deleted_behind_our_back_is_drift);
  tcase_add_test(tc, shown_plans_hash_what_they_compare);
  tcase_add_test(tc, order_is_dependencies_then_ids);
  tcase_add_test(tc, marked_but_not_inventoried_is_adopted);
  suite_add_tcase(s, tc);
  return s;
}
