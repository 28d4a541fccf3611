#include "base/compat.h"

#include "engine/reconcile.h"
#include "git/statusview.h"
#include "suites.h"

#define T0 "2026-11-20T08:00:00Z"
#define T1 "2026-11-23T10:00:00Z"

/* A status as a pass leaves it: Ready as given, every other condition
 * False since T0. */
static struct tenant_status *status(bool ready, const char *reason,
                                    const char *message)
{
  struct tenant_status *st = tenant_status_new("acme");

  st->source = td_strdup("3f2a9c0d1e2b3a4f5c6d7e8f9a0b1c2d3e4f5a6b");
  tenant_status_set(st, STATUS_READY, ready, reason, message, T0);
  for (int c = STATUS_RECONCILING; c < STATUS_COND_COUNT; c++)
    tenant_status_set(st, (enum status_cond)c, false, "No", NULL, T0);
  return st;
}

static const char *field(const json_t *row, const char *key)
{
  return json_string_value(json_object_get(row, key));
}

/* The row's state and message, checked; the row is released. */
static void expect_row(struct tenant_status *st, const char *state,
                       const char *message)
{
  json_t *row = statusview_row("acme", st, NULL);

  ck_assert_ptr_nonnull(row);
  ck_assert_str_eq(field(row, "state"), state);
  ck_assert_str_eq(field(row, "message"), message);
  json_decref(row);
  tenant_status_free(st);
}

START_TEST(statusview_ready)
{
  expect_row(status(true, "Applied", "12 resources, 0 failed"), "Ready",
             "12 resources, 0 failed");
}
END_TEST

START_TEST(statusview_held_for_an_invalid_manifest_names_the_place)
{
  struct tenant_status *st =
      status(false, "InvalidManifest", "tenants/acme.yaml:7:9: unknown tier");

  st->last_error.message = td_strdup("unknown tier 'platinum'");
  st->last_error.path = td_strdup("tenants/acme.yaml");
  st->last_error.line = 7;
  st->last_error.col = 9;
  expect_row(st, "Held", "tenants/acme.yaml:7:9: unknown tier 'platinum'");
}
END_TEST

START_TEST(statusview_held_by_the_delete_guard)
{
  struct tenant_status *st = status(false, "DeleteGuard", "would delete");

  st->last_error.message = td_strdup("this pass would delete 5 of 10");
  expect_row(st, "Held",
             "refused by the delete guard: this pass would delete 5 of 10");
}
END_TEST

START_TEST(statusview_failed_names_the_resource)
{
  struct tenant_status *st =
      status(false, "ApplyFailed", "5 resources, 1 failed");
  json_t *row;

  st->last_error.message = td_strdup("invalid: no such image");
  st->last_error.resource = td_strdup("service/api.prod.acme");
  row = statusview_row("acme", st, NULL);
  ck_assert_str_eq(field(row, "resource"), "service/api.prod.acme");
  json_decref(row);
  expect_row(st, "Failed", "service/api.prod.acme: invalid: no such image");
}
END_TEST

START_TEST(statusview_stalled_names_the_resource_and_both_values)
{
  struct tenant_status *st = status(false, "Applied", "5 resources, 0 failed");

  tenant_status_set(st, STATUS_STALLED, true, "NotConverging", NULL, T1);
  tenant_status_stalled_add(st, "database/acme.prod", "connection_limit", "500",
                            "3");
  tenant_status_stalled_add(st, "service/api.prod.acme", "replicas", "2", "1");
  expect_row(st, "Stalled",
             "database/acme.prod: connection_limit does not converge "
             "(wants 500, finds 3); 1 more stalled");
}
END_TEST

START_TEST(statusview_suspended)
{
  struct tenant_status *st = status(true, "Applied", "5 resources, 0 failed");

  tenant_status_set(st, STATUS_SUSPENDED, true, "Suspended", NULL, T1);
  expect_row(st, "Suspended",
             "suspended (spec.suspend): observed, nothing changed; 0 "
             "resources");
}
END_TEST

START_TEST(statusview_since_is_the_newest_flip_of_the_state)
{
  struct tenant_status *st = status(true, "Applied", "ok");
  json_t *row;

  /* DriftDetected flips often and says nothing about the state. */
  tenant_status_set(st, STATUS_DRIFT_DETECTED, true, "DriftCorrected", NULL,
                    "2026-12-01T00:00:00Z");
  row = statusview_row("acme", st, NULL);
  ck_assert_str_eq(field(row, "since"), T0);
  json_decref(row);
  tenant_status_set(st, STATUS_SUSPENDED, true, "Suspended", NULL, T1);
  row = statusview_row("acme", st, NULL);
  ck_assert_str_eq(field(row, "since"), T1);
  json_decref(row);
  tenant_status_free(st);
}
END_TEST

START_TEST(statusview_unreadable_is_unknown)
{
  json_t *row = statusview_row("acme", NULL, "bad yaml");

  ck_assert_str_eq(field(row, "state"), "Unknown");
  ck_assert_str_eq(field(row, "message"), "bad yaml");
  json_decref(row);
}
END_TEST

START_TEST(statusview_states_parse_by_name)
{
  ck_assert_int_eq(statusview_state_parse("held"), TENANT_HELD);
  ck_assert_int_eq(statusview_state_parse("AwaitingFirstReconcile"),
                   TENANT_AWAITING_FIRST_RECONCILE);
  ck_assert_int_eq(statusview_state_parse("SOURCEUNTRUSTED"),
                   TENANT_SOURCE_UNTRUSTED);
  ck_assert_int_eq(statusview_state_parse("helt"), -1);
  ck_assert_int_eq(statusview_state_parse(""), -1);
  for (int s = 0; s < TENANT_STATE_COUNT; s++)
    ck_assert_int_eq(statusview_state_parse(tenant_state_names[s]), s);
}
END_TEST

Suite *make_suite_statusview(void)
{
  Suite *s = suite_create("statusview");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, statusview_ready);
  tcase_add_test(tc, statusview_held_for_an_invalid_manifest_names_the_place);
  tcase_add_test(tc, statusview_held_by_the_delete_guard);
  tcase_add_test(tc, statusview_failed_names_the_resource);
  tcase_add_test(tc, statusview_stalled_names_the_resource_and_both_values);
  tcase_add_test(tc, statusview_suspended);
  tcase_add_test(tc, statusview_since_is_the_newest_flip_of_the_state);
  tcase_add_test(tc, statusview_unreadable_is_unknown);
  tcase_add_test(tc, statusview_states_parse_by_name);
  suite_add_tcase(s, tc);
  return s;
}
