/*
 * Whole passes (reconcile_once) against the fake provider: the safety
 * rules as a pass applies them, and what each tenant's outcome says
 * (result, counts, events, status).  Manifests are written in memory;
 * statuses live in an in-memory store that each pass reads and that the
 * test updates from the pass's report, as the CLI and the daemon persist
 * them.  reconcile_once fails when its loop does not close (handles left
 * open), so every pass asserting rc == 0 asserts uv_loop_close() == 0.
 */
#include "base/compat.h"

#include <stdio.h>

#include "git/writeback.h"
#include "reconcile_fx.h"

#define NET "network/acme.prod"
#define API "service/api.prod.acme"
#define WEB "service/web.prod.acme"
#define ROUTE "route/api.prod.acme"
#define DNS "dns_record/api.prod.acme.public"

/* ---- passes ---- */

/* An event line as written, or followed by its step's timing
 * (" in <s> s ..." or, after a failure's message, the same). */
static bool has_event(const char *tenant, const char *line)
{
  const struct reconcile_outcome *o = outcome(tenant);
  size_t n = strlen(line);

  for (size_t i = 0; i < o->nevents; i++)
    if (strncmp(o->events[i], line, n) == 0 &&
        (o->events[i][n] == '\0' || strncmp(o->events[i] + n, " in ", 4) == 0))
      return true;
  return false;
}

static bool has_event_prefix(const char *tenant, const char *prefix)
{
  const struct reconcile_outcome *o = outcome(tenant);

  for (size_t i = 0; i < o->nevents; i++)
    if (strncmp(o->events[i], prefix, strlen(prefix)) == 0)
      return true;
  return false;
}

static const struct status_condition *cond(const char *tenant,
                                           enum status_cond c)
{
  const struct reconcile_outcome *o = outcome(tenant);

  ck_assert_ptr_nonnull(o->status);
  return &o->status->cond[c];
}

static json_t *spec_of(const char *id)
{
  return json_object_get((json_t *)fake_get(id), "spec");
}

/* Creates acme's five resources and checks that it converged. */
static void converge(void)
{
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_uint_eq(fake_size(), 5);
}

START_TEST(reconcile_creates_dependencies_first_then_converges)
{
  const struct reconcile_outcome *o;
  size_t writes;

  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_READY);
  ck_assert(o->changed);
  ck_assert_uint_eq(o->count[OUT_CREATED], 5);
  /* A line per resource with its time, then when the tenant was ready. */
  ck_assert_uint_eq(o->nevents, 6);
  ck_assert(has_event("acme", "created " NET));
  ck_assert(has_event("acme", "created " DNS));
  ck_assert(has_event_prefix("acme", "created " NET " in 0."));
  /* When it was ready depends on the machine: only the shape is fixed. */
  ck_assert_msg(strncmp(o->events[5], "ready 0.", 8) == 0 &&
                    strcmp(o->events[5] + strlen(o->events[5]) - 16,
                           " s into the pass") == 0,
                "%s", o->events[5]);
  ck_assert_int_lt(fake_index(FAKE_CREATE, NET, 0),
                   fake_index(FAKE_CREATE, API, 0));
  ck_assert_int_lt(fake_index(FAKE_CREATE, API, 0),
                   fake_index(FAKE_CREATE, ROUTE, 0));
  ck_assert_int_lt(fake_index(FAKE_CREATE, ROUTE, 0),
                   fake_index(FAKE_CREATE, DNS, 0));
  ck_assert(cond("acme", STATUS_READY)->status);
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "Applied");
  ck_assert_str_eq(cond("acme", STATUS_READY)->message,
                   "5 resources, 0 failed");
  ck_assert_uint_eq(o->status->ninventory, 5);
  ck_assert_str_eq(o->status->source,
                   "1111111111111111111111111111111111111111");
  ck_assert_uint_eq(report.sum.applied, 5);

  /* Converged: the next pass reads, writes nothing, says nothing new. */
  writes = fake_writes();
  apply_pass();
  o = outcome("acme");
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert(!o->changed);
  ck_assert_uint_eq(o->nevents, 0);
  ck_assert_int_eq(o->result, RESULT_READY);
}
END_TEST

/*
 * A caller that keeps the manifests between passes (the daemon) and
 * passes again on the same commit says so: the model is used as it is,
 * and the files (empty here) are not read.  Said falsely of new files,
 * they would be ignored: the promise is the caller's.
 */
START_TEST(reconcile_current_model_is_used_as_it_is)
{
  struct manifest_repo *model = NULL;
  struct manifest_files none = MANIFEST_FILES_INIT;
  struct reconcile_opts o = opts(true);
  const struct manifest_repo *first;

  o.model = &model;
  pass_with(&o);
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_ptr_nonnull(model);
  first = model;

  o = opts(true);
  o.model = &model;
  o.model_current = true;
  o.files = &none;
  pass_with(&o);
  ck_assert_ptr_eq(model, first);
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_uint_eq(fake_size(), 5);

  /* Not current: the files are read, and the model is theirs. */
  o = opts(false);
  o.model = &model;
  o.files = &none;
  pass_with(&o);
  ck_assert_ptr_ne(model, first);
  ck_assert_uint_eq(model->ntenants, 0);
  manifest_repo_free(model);
}
END_TEST

START_TEST(reconcile_plan_only_changes_nothing)
{
  struct reconcile_opts o = opts(false);

  pass_with(&o);
  ck_assert_uint_eq(fake_writes(), 0);
  ck_assert_uint_eq(fake_count(FAKE_READ, NULL), 5);
  ck_assert_ptr_nonnull(strstr(out_text, "tenant acme: 5 to create"));
  ck_assert_ptr_null(outcome("acme")->status);
  ck_assert_uint_eq(report.sum.changes, 5);
  ck_assert_uint_eq(json_object_size(statuses), 0);
}
END_TEST

START_TEST(reconcile_failure_stops_only_what_depends_on_it)
{
  struct reconcile_opts opt = opts(true);
  const struct reconcile_outcome *o;

  fake_fault(API, FAKE_CREATE, PROVIDER_INVALID, -1);
  opt.progress = true;
  pass_with(&opt);
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_FAILED);
  ck_assert_uint_eq(o->count[OUT_FAILED], 1);
  ck_assert_uint_eq(o->count[OUT_CREATED], 2);
  ck_assert(has_event("acme", "failed create " API
                              ": invalid: injected invalid fault"));
  ck_assert(has_event("acme", "skipped create " ROUTE ": waits for " API
                              ", which did not apply"));
  ck_assert(has_event("acme", "skipped create " DNS ": waits for " ROUTE
                              ", which did not apply"));
  ck_assert_ptr_nonnull(fake_get(WEB));
  ck_assert_ptr_null(fake_get(ROUTE));
  ck_assert(!cond("acme", STATUS_READY)->status);
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "ApplyFailed");
  ck_assert_str_eq(cond("acme", STATUS_READY)->message,
                   "2 resources, 1 failed");
  ck_assert_str_eq(o->status->last_error.resource, API);
  ck_assert_uint_eq(o->status->ninventory, 2);
  ck_assert_uint_eq(report.sum.failed, 1);
  ck_assert_uint_eq(report.sum.skipped, 2);
  /* The failure once, what it caused below it, no reason repeated. */
  ck_assert_ptr_nonnull(
      strstr(out_text,
             "failed   " API ": invalid: injected invalid fault\n"
             "  skipped  " ROUTE ": waits for " API ", which did not apply\n"
             "  skipped  " DNS ": waits for " ROUTE ", which did not apply\n"));
  ck_assert_ptr_nonnull(strstr(out_text, "] create   " API " failed\n"));
  ck_assert_ptr_null(strstr(out_text, "skipped: "));
}
END_TEST

START_TEST(reconcile_retries_transient_reads_with_backoff)
{
  struct reconcile_opts o = opts(true);
  uint64_t t0, t1, t2;

  fake_fault(NET, FAKE_READ, PROVIDER_TRANSIENT, 2);
  o.backoff_ms = 10;
  pass_with(&o);
  ck_assert_uint_eq(fake_count(FAKE_READ, NET), 3);
  t0 = fake_call_at((size_t)fake_index(FAKE_READ, NET, 0))->at;
  t1 = fake_call_at((size_t)fake_index(FAKE_READ, NET, 1))->at;
  t2 = fake_call_at((size_t)fake_index(FAKE_READ, NET, 2))->at;
  ck_assert_uint_ge(t1 - t0, 10);
  ck_assert_uint_ge(t2 - t1, 20);
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_uint_eq(fake_size(), 5);
}
END_TEST

START_TEST(reconcile_transient_writes_retried_up_to_max_attempts)
{
  fake_fault(WEB, FAKE_CREATE, PROVIDER_TRANSIENT, 2);
  fake_fault(API, FAKE_CREATE, PROVIDER_TRANSIENT, -1);
  apply_pass();
  ck_assert_uint_eq(fake_count(FAKE_CREATE, WEB), 3);
  ck_assert_ptr_nonnull(fake_get(WEB));
  ck_assert_uint_eq(fake_count(FAKE_CREATE, API), 3);
  ck_assert(has_event("acme", "failed create " API
                              ": transient: injected transient fault"));
  ck_assert_int_eq(outcome("acme")->result, RESULT_FAILED);
}
END_TEST

START_TEST(reconcile_unobservable_resource_holds_its_tenant)
{
  const struct reconcile_outcome *o;
  size_t writes;

  converge();
  writes = fake_writes();
  /* api is dropped, but one resource cannot be read: nothing moves. */
  acme(false, false, "registry.example.com/acme/web:1.0.0");
  fake_fault(NET, FAKE_READ, PROVIDER_AUTH, -1);
  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_HELD);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_size(), 5);
  ck_assert(has_event("acme",
                      "held: cannot observe " NET ": auth: injected auth "
                      "fault"));
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "Held");
  ck_assert_uint_eq(o->status->ninventory, 5);
  ck_assert_uint_eq(report.sum.held, 1);
  ck_assert_ptr_nonnull(strstr(out_text, "held     tenant acme: cannot "
                                         "observe " NET));
}
END_TEST

START_TEST(reconcile_unconfigured_instance_holds_its_tenant)
{
  json_decref(providers);
  providers = json_object();
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_HELD);
  ck_assert_uint_eq(fake_ncalls(), 0);
  ck_assert(has_event_prefix("acme", "held: provider instance 'local' (for "));
}
END_TEST

START_TEST(reconcile_invalid_manifest_holds_and_never_deletes)
{
  struct reconcile_opts o = opts(true);
  const struct reconcile_outcome *out;
  size_t writes;

  converge();
  writes = fake_writes();
  put("tenants/acme.yaml", "apiVersion: tenantd.io/v1\n"
                           "kind: Tenant\n"
                           "metadata:\n"
                           "  name: acme\n"
                           "spec:\n"
                           "  tier: standard\n"
                           "  environments:\n"
                           "    - name: prod\n"
                           "      network:\n"
                           "        cidr: 10.10.0.0/16\n"
                           "      apps:\n"
                           "        - name: web\n"
                           "          image: web:2\n"
                           "          port: 70000\n");
  o.source = "2222222222222222222222222222222222222222";
  pass_with(&o);
  out = outcome("acme");
  ck_assert_int_eq(out->result, RESULT_HELD);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_count(FAKE_READ, NULL), 5); /* not even observed */
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "InvalidManifest");
  ck_assert_str_eq(out->status->last_error.path, "tenants/acme.yaml");
  ck_assert_uint_eq(out->status->last_error.line, 14);
  /* It still runs what it last applied. */
  ck_assert_str_eq(out->status->source,
                   "1111111111111111111111111111111111111111");
  ck_assert_uint_eq(out->status->ninventory, 5);
}
END_TEST

START_TEST(reconcile_gone_tenant_not_pruned_beside_an_invalid_file)
{
  size_t writes;

  converge();
  writes = fake_writes();
  manifest_files_remove(&files, "tenants/acme.yaml");
  put("tenants/other.yaml", "kind: Tenant\nspec: [\n");
  platform("correct", 100, 3);
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_HELD);
  ck_assert(has_event_prefix("acme", "held: not pruned while a file under "
                                     "tenants/ is invalid"));
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_size(), 5);
}
END_TEST

/* acme.yaml renamed Acme.yaml: the file is refused for its name, and acme
 * only seems gone.  Held, never pruned. */
START_TEST(reconcile_renamed_file_holds_instead_of_pruning)
{
  char *text = NULL;
  size_t writes;

  converge();
  writes = fake_writes();
  for (size_t i = 0; i < files.n; i++)
    if (strcmp(files.v[i].path, "tenants/acme.yaml") == 0)
      text = td_strndup(files.v[i].data, files.v[i].len);
  ck_assert_ptr_nonnull(text);
  manifest_files_remove(&files, "tenants/acme.yaml");
  put("tenants/Acme.yaml", text);
  platform("correct", 100, 3);
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_HELD);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_size(), 5);
  free(text);
}
END_TEST

START_TEST(reconcile_gone_tenant_is_pruned_in_reverse)
{
  const struct reconcile_outcome *o;

  converge();
  manifest_files_remove(&files, "tenants/acme.yaml");
  platform("correct", 100, 3);
  apply_pass();
  o = outcome("acme");
  ck_assert_uint_eq(o->count[OUT_DELETED], 5);
  ck_assert_uint_eq(fake_size(), 0);
  ck_assert_int_lt(fake_index(FAKE_REMOVE, DNS, 0),
                   fake_index(FAKE_REMOVE, ROUTE, 0));
  ck_assert_int_lt(fake_index(FAKE_REMOVE, ROUTE, 0),
                   fake_index(FAKE_REMOVE, API, 0));
  ck_assert_int_lt(fake_index(FAKE_REMOVE, API, 0),
                   fake_index(FAKE_REMOVE, NET, 0));
  ck_assert_int_lt(fake_index(FAKE_REMOVE, WEB, 0),
                   fake_index(FAKE_REMOVE, NET, 0));
  /* Nothing left to manage: its status goes. */
  ck_assert_ptr_null(o->status);
  ck_assert(o->changed);
  ck_assert(has_event("acme", "removed: no manifest and nothing left to "
                              "manage"));
  ck_assert_ptr_null(json_object_get(statuses, "acme"));
}
END_TEST

START_TEST(reconcile_guard_refuses_a_large_delete)
{
  struct reconcile_opts o = opts(true);
  const struct reconcile_outcome *out;
  size_t writes;

  converge();
  writes = fake_writes();
  /* Dropping api deletes 3 of 5 managed resources: over 10%. */
  acme(false, false, "registry.example.com/acme/web:1.0.0");
  pass_with(&o);
  out = outcome("acme");
  ck_assert(report.sum.refused);
  ck_assert_int_eq(out->result, RESULT_REFUSED);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert(has_event_prefix("acme", "refused: refused: this pass would "
                                     "delete 3 of 5 managed resources"));
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "DeleteGuard");
  ck_assert_ptr_nonnull(strstr(out_text, "refused"));

  /* A different count does not unlock it. */
  o.allow_delete = 2;
  pass_with(&o);
  ck_assert(report.sum.refused);
  ck_assert_uint_eq(fake_writes(), writes);

  /* Exactly that many does, and deletes go dependents first. */
  o.allow_delete = 3;
  pass_with(&o);
  out = outcome("acme");
  ck_assert(!report.sum.refused);
  ck_assert_int_eq(out->result, RESULT_READY);
  ck_assert_uint_eq(out->count[OUT_DELETED], 3);
  ck_assert_int_lt(fake_index(FAKE_REMOVE, DNS, 0),
                   fake_index(FAKE_REMOVE, ROUTE, 0));
  ck_assert_int_lt(fake_index(FAKE_REMOVE, ROUTE, 0),
                   fake_index(FAKE_REMOVE, API, 0));
  ck_assert_uint_eq(fake_size(), 2);
  ck_assert_uint_eq(out->status->ninventory, 2);
}
END_TEST

START_TEST(reconcile_suspended_tenant_changes_nothing)
{
  const struct reconcile_outcome *o;
  size_t writes;

  converge();
  writes = fake_writes();
  acme(true, false, "registry.example.com/acme/web:2.0.0");
  platform("correct", 100, 3);
  fake_set(NET, "cidr", json_string("10.99.0.0/16"));
  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_SUSPENDED);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_size(), 5);
  ck_assert(cond("acme", STATUS_SUSPENDED)->status);
  ck_assert_str_eq(cond("acme", STATUS_SUSPENDED)->reason, "Suspended");
  ck_assert_uint_eq(o->count[OUT_DELETED] + o->count[OUT_UPDATED], 0);
}
END_TEST

START_TEST(reconcile_suspended_tenant_keeps_the_source_it_applied)
{
  struct reconcile_opts o;

  converge();
  /* A new commit changes the tenant while it is suspended: its change
   * waits, so the status still names the commit it runs. */
  acme(true, false, "registry.example.com/acme/web:2.0.0");
  o = opts(true);
  o.source = "3333333333333333333333333333333333333333";
  pass_with(&o);
  ck_assert_int_eq(outcome("acme")->result, RESULT_SUSPENDED);
  ck_assert_str_eq(outcome("acme")->status->source,
                   "1111111111111111111111111111111111111111");
  /* Suspended with nothing to change, a commit is what it runs. */
  acme(true, true, "registry.example.com/acme/web:1.0.0");
  o.source = "4444444444444444444444444444444444444444";
  pass_with(&o);
  ck_assert_int_eq(outcome("acme")->result, RESULT_SUSPENDED);
  ck_assert_str_eq(outcome("acme")->status->source,
                   "4444444444444444444444444444444444444444");
}
END_TEST

START_TEST(reconcile_held_before_its_first_apply_runs_nothing)
{
  /* Never applied, and its resources cannot be observed: its status
   * names no source, since it runs none. */
  fake_fault(NET, FAKE_READ, PROVIDER_AUTH, 1);
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_HELD);
  ck_assert_ptr_null(outcome("acme")->status->source);
  apply_pass();
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_str_eq(outcome("acme")->status->source,
                   "1111111111111111111111111111111111111111");
}
END_TEST

START_TEST(reconcile_breaker_stalls_a_resource_that_never_converges)
{
  const struct reconcile_outcome *o;

  platform("correct", 10, 2);
  fake_pin(WEB, "replicas", json_integer(7));
  converge();
  /* Two corrections that do not stay corrected... */
  apply_pass();
  ck_assert(has_event("acme", "drift corrected " WEB " (updated)"));
  apply_pass();
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 2);
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  /* ...and the breaker trips: no third update. */
  apply_pass();
  o = outcome("acme");
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 2);
  ck_assert_int_eq(o->result, RESULT_STALLED);
  ck_assert(cond("acme", STATUS_STALLED)->status);
  ck_assert_str_eq(cond("acme", STATUS_STALLED)->reason, "NotConverging");
  ck_assert(!cond("acme", STATUS_READY)->status);
  ck_assert_uint_eq(o->status->nstalled, 1);
  ck_assert_str_eq(o->status->stalled[0].id, WEB);
  ck_assert_str_eq(o->status->stalled[0].field, "replicas");
  ck_assert_str_eq(o->status->stalled[0].desired, "2");
  ck_assert_str_eq(o->status->stalled[0].observed, "7");
  ck_assert(has_event_prefix("acme", "stalled " WEB ": replicas keeps "
                                     "changing back"));
  ck_assert_uint_eq(report.sum.stalled, 1);
}
END_TEST

START_TEST(reconcile_drift_is_corrected)
{
  const struct reconcile_outcome *o;

  converge();
  fake_set(WEB, "replicas", json_integer(5));
  apply_pass();
  o = outcome("acme");
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 1);
  ck_assert_int_eq(
      json_integer_value(json_object_get(spec_of(WEB), "replicas")), 2);
  ck_assert_uint_eq(o->count[OUT_DRIFT_CORRECTED], 1);
  ck_assert(has_event("acme", "drift corrected " WEB " (updated)"));
  ck_assert(cond("acme", STATUS_DRIFT_DETECTED)->status);
  ck_assert_str_eq(cond("acme", STATUS_DRIFT_DETECTED)->reason,
                   "DriftCorrected");
  ck_assert_int_eq(o->result, RESULT_READY);
  ck_assert_uint_eq(report.sum.drifted, 1);

  apply_pass();
  ck_assert(!cond("acme", STATUS_DRIFT_DETECTED)->status);
  ck_assert_str_eq(cond("acme", STATUS_DRIFT_DETECTED)->reason, "NoDrift");
}
END_TEST

/* Approval: prod is gated and the commit is not approved. */
static struct reconcile_trust gated_trust(struct strset *gated, bool approved)
{
  struct reconcile_trust tr = {0};

  strset_add(gated, "prod");
  strset_seal(gated);
  tr.gated = gated;
  tr.approved = approved;
  tr.approvers = "carol@example.com";
  tr.commit = "1111111111111111111111111111111111111111";
  return tr;
}

START_TEST(reconcile_gated_changes_wait_for_approval)
{
  struct strset gated = STRSET_INIT;
  struct reconcile_trust tr = gated_trust(&gated, false);
  struct reconcile_opts o;

  converge();
  /* A new image: an update in prod, which waits. */
  acme(false, true, "registry.example.com/acme/web:2.0.0");
  o = opts(true);
  o.trust = &tr;
  pass_with(&o);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 0);
  ck_assert(has_event("acme", "awaiting approval: update " WEB));
  ck_assert(!cond("acme", STATUS_READY)->status);
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "AwaitingApproval");
  ck_assert(cond("acme", STATUS_AWAITING_APPROVAL)->status);
  ck_assert_msg(strstr(cond("acme", STATUS_AWAITING_APPROVAL)->message,
                       "1 change to prod waits for approval of commit "
                       "111111111111 by an approver (carol@example.com)"),
                "%s", cond("acme", STATUS_AWAITING_APPROVAL)->message);
  ck_assert_uint_eq(report.sum.awaiting, 1);
  ck_assert_uint_eq(report.sum.awaiting_changes, 1);
  /* The source is the commit it ran before, not this one. */
  ck_assert_str_eq(outcome("acme")->status->source,
                   "1111111111111111111111111111111111111111");

  /* Drift in prod toward the applied spec is corrected all the same. */
  fake_set(API, "replicas", json_integer(7));
  pass_with(&o);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, API), 1);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 0);

  /* Approved: applied, and the condition says so. */
  tr.approved = true;
  tr.approved_by = "signed by carol@example.com (SHA256:x)";
  o.source = "2222222222222222222222222222222222222222";
  pass_with(&o);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 1);
  ck_assert(cond("acme", STATUS_READY)->status);
  ck_assert(!cond("acme", STATUS_AWAITING_APPROVAL)->status);
  ck_assert_str_eq(cond("acme", STATUS_AWAITING_APPROVAL)->reason, "Approved");
  ck_assert_str_eq(outcome("acme")->status->source,
                   "2222222222222222222222222222222222222222");
  strset_release(&gated);
}
END_TEST

START_TEST(reconcile_gates_only_the_gated_environment)
{
  struct strset gated = STRSET_INIT;
  struct reconcile_trust tr = {0};
  struct reconcile_opts o = opts(true);

  /* Gating "staging" leaves acme's prod alone. */
  strset_add(&gated, "staging");
  strset_seal(&gated);
  tr.gated = &gated;
  o.trust = &tr;
  pass_with(&o);
  ck_assert_uint_eq(fake_size(), 5);
  ck_assert(cond("acme", STATUS_READY)->status);
  ck_assert_str_eq(cond("acme", STATUS_AWAITING_APPROVAL)->reason,
                   "NothingWaiting");
  strset_release(&gated);
}
END_TEST

START_TEST(reconcile_untrusted_source_holds_everything)
{
  struct reconcile_trust tr = {0};
  struct reconcile_opts o;

  converge();
  /* The api app gone from the manifests: nothing is deleted. */
  acme(false, false, "registry.example.com/acme/web:2.0.0");
  tr.verify = true;
  tr.untrusted = "source untrusted: commit 333333333333: not signed";
  o = opts(true);
  o.trust = &tr;
  /* Even allowed, the deletes do not happen while untrusted. */
  o.allow_delete = 3;
  pass_with(&o);
  ck_assert_uint_eq(fake_size(), 5);
  ck_assert_uint_eq(fake_count(FAKE_REMOVE, API), 0);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 0);
  ck_assert_int_eq(outcome("acme")->result, RESULT_HELD);
  ck_assert_str_eq(cond("acme", STATUS_READY)->reason, "SourceUntrusted");
  ck_assert(cond("acme", STATUS_SOURCE_UNTRUSTED)->status);
  ck_assert_str_eq(cond("acme", STATUS_SOURCE_UNTRUSTED)->message,
                   tr.untrusted);
  ck_assert_uint_eq(report.sum.held, 1);

  /* Trusted again: applied, the condition cleared. */
  tr.untrusted = NULL;
  pass_with(&o);
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, WEB), 1);
  ck_assert_uint_eq(fake_count(FAKE_REMOVE, API), 1);
  ck_assert(!cond("acme", STATUS_SOURCE_UNTRUSTED)->status);
  ck_assert_str_eq(cond("acme", STATUS_SOURCE_UNTRUSTED)->reason, "Verified");
}
END_TEST

START_TEST(reconcile_drift_is_only_reported)
{
  const struct reconcile_outcome *o;

  platform("report", 10, 3);
  converge();
  fake_set(WEB, "replicas", json_integer(5));
  apply_pass();
  o = outcome("acme");
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, NULL), 0);
  ck_assert_int_eq(
      json_integer_value(json_object_get(spec_of(WEB), "replicas")), 5);
  ck_assert_uint_eq(o->count[OUT_DRIFT_DETECTED], 1);
  ck_assert_uint_eq(o->count[OUT_DRIFT_CORRECTED], 0);
  ck_assert(has_event("acme", "drift detected " WEB
                              " (driftPolicy report: not corrected)"));
  ck_assert(cond("acme", STATUS_DRIFT_DETECTED)->status);
  ck_assert_str_eq(cond("acme", STATUS_DRIFT_DETECTED)->reason,
                   "DriftReported");
}
END_TEST

START_TEST(reconcile_unreadable_status_is_kept_as_it_is)
{
  const struct reconcile_outcome *o;

  json_object_set_new(statuses, "acme", json_string("tenant: [\n"));
  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_HELD);
  ck_assert(o->unwritable);
  ck_assert_ptr_null(o->status);
  ck_assert_uint_eq(fake_writes(), 0);
  ck_assert_ptr_nonnull(strstr(err_text,
                               "tenantd: acme: status not written: status "
                               "unreadable: "));
  ck_assert_str_eq(json_string_value(json_object_get(statuses, "acme")),
                   "tenant: [\n");
}
END_TEST

/* A pass stopped after its creates and before its status: the next pass
 * finds them under their own markers and says so, so that its counts
 * add up to the inventory it writes. */
START_TEST(reconcile_adopts_what_an_interrupted_pass_created)
{
  const struct reconcile_outcome *o;
  char *message;

  converge();
  json_object_del(statuses, "acme");
  fake_drop(DNS);
  fake_set(WEB, "replicas", json_integer(1));
  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_READY);
  ck_assert(o->changed);
  ck_assert_uint_eq(o->count[OUT_CREATED], 1);
  ck_assert_uint_eq(o->count[OUT_ADOPTED], 4);
  ck_assert_uint_eq(o->count[OUT_UPDATED], 1);
  ck_assert_uint_eq(o->status->ninventory, 5);
  ck_assert_uint_eq(o->count[OUT_CREATED] + o->count[OUT_ADOPTED],
                    o->status->ninventory);
  ck_assert(has_event("acme", "adopted after an interrupted pass: " NET));
  ck_assert(has_event("acme", "adopted after an interrupted pass: " API));
  ck_assert(has_event("acme", "adopted after an interrupted pass: " ROUTE));
  ck_assert(has_event("acme", "adopted after an interrupted pass: " WEB));
  ck_assert(has_event("acme", "updated " WEB " (replicas)"));
  ck_assert(has_event("acme", "created " DNS));
  ck_assert_uint_eq(report.sum.adopted, 4);
  ck_assert_uint_eq(report.sum.applied, 2);
  ck_assert_ptr_nonnull(strstr(out_text, "adopted  " NET
                                         ": created under its marker by an "
                                         "interrupted pass\n"));
  /* Commit subjects count them. */
  message =
      writeback_message(&report, "1111111111111111111111111111111111111111");
  ck_assert_ptr_nonnull(message);
  ck_assert_msg(strncmp(message,
                        "reconcile acme: 1 created, 4 adopted, 1 updated\n",
                        48) == 0,
                "%s", message);
  free(message);

  /* Recorded: the next pass adopts nothing. */
  apply_pass();
  ck_assert_uint_eq(outcome("acme")->count[OUT_ADOPTED], 0);
  ck_assert(!outcome("acme")->changed);
}
END_TEST

/* An inventory entry another writer pushed with an id outside the
 * grammar makes the status unreadable: the tenant is held, nothing is
 * deleted, and the status is kept for a person to repair. */
START_TEST(reconcile_bad_inventory_id_holds_the_tenant)
{
  const struct reconcile_outcome *o;
  const char *text;
  char *bad, *at;
  size_t writes;

  converge();
  writes = fake_writes();
  text = json_string_value(json_object_get(statuses, "acme"));
  bad = td_strdup(text);
  at = strstr(bad, "id: " ROUTE);
  ck_assert_ptr_nonnull(at);
  memcpy(at + 4, "route/a b", 9);
  json_object_set_new(statuses, "acme", json_string(bad));
  /* api dropped: without the hold, its resources would be pruned. */
  acme(false, false, "registry.example.com/acme/web:1.0.0");
  apply_pass();
  o = outcome("acme");
  ck_assert_int_eq(o->result, RESULT_HELD);
  ck_assert(o->unwritable);
  ck_assert_uint_eq(fake_writes(), writes);
  ck_assert_uint_eq(fake_size(), 5);
  ck_assert_ptr_nonnull(strstr(err_text, "status unreadable: status:"));
  ck_assert_ptr_nonnull(strstr(err_text, "the key after '/' may hold only"));
  ck_assert_str_eq(json_string_value(json_object_get(statuses, "acme")), bad);
  free(bad);
}
END_TEST

START_TEST(reconcile_outcomes_are_per_tenant)
{
  put("tenants/beta.yaml", "apiVersion: tenantd.io/v1\n"
                           "kind: Tenant\n"
                           "metadata:\n"
                           "  name: beta\n"
                           "spec:\n"
                           "  tier: basic\n"
                           "  environments:\n"
                           "    - name: prod\n"
                           "      network:\n"
                           "        cidr: 10.20.0.0/16\n"
                           "      apps:\n"
                           "        - name: app\n"
                           "          image: app:1\n"
                           "          port: 8000\n");
  fake_fault("service/app.prod.beta", FAKE_CREATE, PROVIDER_INVALID, -1);
  apply_pass();
  ck_assert_uint_eq(report.n, 2);
  ck_assert_str_eq(report.v[0].tenant, "acme");
  ck_assert_str_eq(report.v[1].tenant, "beta");
  ck_assert_int_eq(outcome("acme")->result, RESULT_READY);
  ck_assert_uint_eq(outcome("acme")->count[OUT_CREATED], 5);
  ck_assert_int_eq(outcome("beta")->result, RESULT_FAILED);
  ck_assert_uint_eq(outcome("beta")->count[OUT_CREATED], 1);
  ck_assert_uint_eq(outcome("beta")->count[OUT_FAILED], 1);
  ck_assert(has_event("beta", "created network/beta.prod"));
  ck_assert(!has_event("acme", "created network/beta.prod"));
  ck_assert_uint_eq(report.sum.tenants, 2);
  ck_assert_uint_eq(report.sum.applied, 6);
  ck_assert_uint_eq(report.sum.failed, 1);
}
END_TEST

Suite *make_suite_reconcile(void)
{
  Suite *s = suite_create("reconcile");
  TCase *tc = tcase_create("reconcile");

  tcase_add_checked_fixture(tc, reconcile_fx_setup, reconcile_fx_teardown);
  tcase_add_test(tc, reconcile_creates_dependencies_first_then_converges);
  tcase_add_test(tc, reconcile_plan_only_changes_nothing);
  tcase_add_test(tc, reconcile_failure_stops_only_what_depends_on_it);
  tcase_add_test(tc, reconcile_retries_transient_reads_with_backoff);
  tcase_add_test(tc, reconcile_transient_writes_retried_up_to_max_attempts);
  tcase_add_test(tc, reconcile_unobservable_resource_holds_its_tenant);
  tcase_add_test(tc, reconcile_unconfigured_instance_holds_its_tenant);
  tcase_add_test(tc, reconcile_invalid_manifest_holds_and_never_deletes);
  tcase_add_test(tc, reconcile_gone_tenant_not_pruned_beside_an_invalid_file);
  tcase_add_test(tc, reconcile_gone_tenant_is_pruned_in_reverse);
  tcase_add_test(tc, reconcile_renamed_file_holds_instead_of_pruning);
  tcase_add_test(tc, reconcile_guard_refuses_a_large_delete);
  tcase_add_test(tc, reconcile_suspended_tenant_changes_nothing);
  tcase_add_test(tc, reconcile_suspended_tenant_keeps_the_source_it_applied);
  tcase_add_test(tc, reconcile_held_before_its_first_apply_runs_nothing);
  tcase_add_test(tc, reconcile_breaker_stalls_a_resource_that_never_converges);
  tcase_add_test(tc, reconcile_drift_is_corrected);
  tcase_add_test(tc, reconcile_gated_changes_wait_for_approval);
  tcase_add_test(tc, reconcile_gates_only_the_gated_environment);
  tcase_add_test(tc, reconcile_untrusted_source_holds_everything);
  tcase_add_test(tc, reconcile_drift_is_only_reported);
  tcase_add_test(tc, reconcile_unreadable_status_is_kept_as_it_is);
  tcase_add_test(tc, reconcile_adopts_what_an_interrupted_pass_created);
  tcase_add_test(tc, reconcile_bad_inventory_id_holds_the_tenant);
  tcase_add_test(tc, reconcile_outcomes_are_per_tenant);
  tcase_add_test(tc, reconcile_current_model_is_used_as_it_is);
  suite_add_tcase(s, tc);
  return s;
}
