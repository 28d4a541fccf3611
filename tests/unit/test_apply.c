/*
 * The executor (apply.c) against the fake provider: dependencies before
 * dependents, deletes in reverse, a failure stopping only what waits for
 * it, transient errors retried with backoff up to max_attempts, bounded
 * concurrency (and the calls of a provider that batches, outside it; the
 * observer's reads too), the health gate, replaces, cancellation and
 * suspension.
 * Plans are built by plan_tenant() from what the fake store holds, as a
 * pass would build them.
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "engine/apply.h"
#include "engine/observe.h"
#include "engine/plan.h"
#include "fake_provider.h"
#include "suites.h"

static uv_loop_t loop;
static struct provider *fake;
static struct tenant_status *last; /* the inventory plans prune from */
static struct tenant_plan *plan;
static struct apply_run *run;

static struct provider *provider_of(const char *instance, void *arg)
{
  (void)arg;
  return strcmp(instance, "fake") == 0 ? fake : NULL;
}

static void setup(void)
{
  json_t *cfg = json_object();
  char err[256];

  fake_reset();
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(provider_open(&fake, &fake_provider_ops, "fake", cfg, &loop,
                                 err, sizeof(err)),
                   0);
  json_decref(cfg);
  last = tenant_status_new("acme");
  plan = NULL;
  run = NULL;
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  *(bool *)arg = true;
}

/* Closes the provider and the loop: nothing may be left open. */
static void finish(void)
{
  bool closed = false;

  apply_run_free(run);
  tenant_plan_free(plan);
  tenant_status_free(last);
  provider_close(fake, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  fake_reset();
}

static const json_t *observed_in_store(const char *id, void *arg)
{
  (void)arg;
  return fake_get(id);
}

static struct resource *res(struct resource_set *set, enum rtype type,
                            const char *key, json_t *spec)
{
  char id[256];
  struct resource *r;

  snprintf(id, sizeof(id), "%s/%s", resource_type_name(type), key);
  r = resource_new(type, id, "fake", "acme", key, spec);
  resource_set_add(set, r);
  return r;
}

static struct resource *network(struct resource_set *set, const char *key)
{
  return res(set, RTYPE_NETWORK, key,
             json_pack("{s:s}", "cidr", "10.0.0.0/16"));
}

static struct resource *service(struct resource_set *set, const char *key)
{
  return res(set, RTYPE_SERVICE, key,
             json_pack("{s:s, s:i}", "image", "app:1", "port", 8080));
}

/* Marks `id` as applied, so dropping it from the desired set prunes it. */
static void inventory(const char *id, enum rtype type)
{
  char hash[17] = "0000000000000000";

  tenant_status_inventory_put(last, id, resource_type_name(type), "fake",
                              strchr(id, '/') + 1, hash);
}

static void make_plan(struct resource_set *desired, bool suspended)
{
  struct plan_input in = {0};

  resource_set_sort(desired);
  in.tenant = "acme";
  in.desired = desired;
  in.last = last;
  in.observed = observed_in_store;
  in.suspended = suspended;
  in.stall_after = 3;
  plan = plan_tenant(&in);
  resource_set_release(desired);
}

static void on_done(struct apply_run *r, void *arg)
{
  (void)r;
  ++*(int *)arg;
}

static void apply_with(struct apply_opts *ao)
{
  int done = 0;

  ao->provider = provider_of;
  ck_assert_int_eq(apply_start(&run, &loop, &plan, 1, ao, on_done, &done), 0);
  ck_assert_int_eq(done, 0); /* never inline */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(done, 1);
}

static void apply_plan(void)
{
  struct apply_opts ao = APPLY_OPTS_INIT;

  ao.backoff_ms = 1;
  apply_with(&ao);
}

static const struct plan_action *action(const char *id)
{
  for (size_t i = 0; i < plan->n; i++)
    if (strcmp(plan->v[i].res->id, id) == 0)
      return &plan->v[i];
  ck_abort_msg("no action for %s", id);
  return NULL;
}

static enum apply_state state(const char *id)
{
  return apply_action_state(run, action(id));
}

static const char *message(const char *id)
{
  const char *m = apply_action_message(run, action(id));

  return m ? m : "";
}

static long created_at(const char *id)
{
  return fake_index(FAKE_CREATE, id, 0);
}

static uint64_t call_time(enum fake_op op, const char *id, size_t nth)
{
  long i = fake_index(op, id, nth);

  ck_assert_int_ge(i, 0);
  return fake_call_at((size_t)i)->at;
}

START_TEST(apply_creates_dependencies_first)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct resource *db, *svc, *route, *dns;

  network(&set, "acme.prod");
  db = res(&set, RTYPE_DATABASE, "acme.prod", json_pack("{s:s}", "name", "d"));
  resource_add_dep(db, "network/acme.prod");
  svc = service(&set, "api.prod.acme");
  resource_add_dep(svc, "network/acme.prod");
  resource_add_dep(svc, "database/acme.prod");
  route = res(&set, RTYPE_ROUTE, "api.prod.acme",
              json_pack("{s:o}", "upstreams",
                        resource_ref("service/api.prod.acme", "addresses")));
  resource_add_dep(route, "service/api.prod.acme");
  dns = res(&set, RTYPE_DNS_RECORD, "api.prod.acme.public",
            json_pack("{s:s}", "target", "lb.example.com"));
  resource_add_dep(dns, "route/api.prod.acme");
  make_plan(&set, false);
  apply_plan();

  for (size_t i = 0; i < plan->n; i++)
    ck_assert_int_eq(apply_action_state(run, &plan->v[i]), APPLY_DONE);
  ck_assert_int_lt(created_at("network/acme.prod"),
                   created_at("database/acme.prod"));
  ck_assert_int_lt(created_at("database/acme.prod"),
                   created_at("service/api.prod.acme"));
  ck_assert_int_lt(created_at("service/api.prod.acme"),
                   created_at("route/api.prod.acme"));
  ck_assert_int_lt(created_at("route/api.prod.acme"),
                   created_at("dns_record/api.prod.acme.public"));
  /* The route got the addresses the service's create returned: a list
   * resolved as a whole. */
  ck_assert(json_equal(
      json_object_get(json_object_get(fake_get("route/api.prod.acme"), "spec"),
                      "upstreams"),
      json_object_get(
          json_object_get(fake_get("service/api.prod.acme"), "outputs"),
          "addresses")));
  ck_assert(json_is_array(json_object_get(
      json_object_get(fake_get("route/api.prod.acme"), "spec"), "upstreams")));
  ck_assert_uint_eq(fake_writes(), 5);
  finish();
}
END_TEST

/* One pass over a service and its route, the service as given. */
static void route_pass(const char *image, int port)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct resource *route;

  apply_run_free(run);
  tenant_plan_free(plan);
  run = NULL;
  plan = NULL;
  res(&set, RTYPE_SERVICE, "api.prod.acme",
      json_pack("{s:s, s:i}", "image", image, "port", port));
  route = res(&set, RTYPE_ROUTE, "api.prod.acme",
              json_pack("{s:o}", "upstreams",
                        resource_ref("service/api.prod.acme", "addresses")));
  resource_add_dep(route, "service/api.prod.acme");
  make_plan(&set, false);
  apply_plan();
}

#define RT "route/api.prod.acme"

/* A route planned as a no-op is written in the same run when its
 * service's update changed the addresses it refers to; not otherwise. */
START_TEST(apply_rewrites_a_noop_whose_references_changed)
{
  const json_t *ups;

  route_pass("app:1", 8080);
  ck_assert_uint_eq(fake_count(FAKE_CREATE, RT), 1);

  route_pass("app:1", 9090);
  ck_assert_int_eq(action(RT)->kind, PLAN_NOOP);
  ck_assert_int_eq(action("service/api.prod.acme")->kind, PLAN_UPDATE);
  ck_assert_int_eq(state(RT), APPLY_DONE);
  ck_assert(apply_action_written(run, action(RT)));
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, RT), 1);
  ck_assert_int_gt(fake_index(FAKE_UPDATE, RT, 0),
                   fake_index(FAKE_UPDATE, "service/api.prod.acme", 0));
  ups = json_object_get(json_object_get(fake_get(RT), "spec"), "upstreams");
  ck_assert(strstr(json_string_value(json_array_get(ups, 0)), ":9090"));

  /* Nothing changed: the route is not looked at again. */
  route_pass("app:1", 9090);
  ck_assert(!apply_action_written(run, action(RT)));
  /* The service changed, its addresses did not: nothing written. */
  route_pass("app:2", 9090);
  ck_assert_int_eq(action("service/api.prod.acme")->kind, PLAN_UPDATE);
  ck_assert_int_eq(state(RT), APPLY_DONE);
  ck_assert(!apply_action_written(run, action(RT)));
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, RT), 1);

  /* The service's update failed: the route stays a no-op, done. */
  fake_fault("service/api.prod.acme", FAKE_UPDATE, PROVIDER_INVALID, -1);
  route_pass("app:3", 7070);
  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_FAILED);
  ck_assert_int_eq(state(RT), APPLY_DONE);
  ck_assert(!apply_action_written(run, action(RT)));
  ck_assert_uint_eq(fake_count(FAKE_UPDATE, RT), 1);
  finish();
}
END_TEST

START_TEST(apply_deletes_dependents_first)
{
  struct resource_set none = RESOURCE_SET_INIT;
  static const struct {
    const char *id;
    enum rtype type;
  } items[] = {
      {"network/acme.prod", RTYPE_NETWORK},
      {"service/api.prod.acme", RTYPE_SERVICE},
      {"route/api.prod.acme", RTYPE_ROUTE},
      {"dns_record/api.prod.acme.public", RTYPE_DNS_RECORD},
  };

  for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
    fake_put(items[i].id, "acme", json_object());
    inventory(items[i].id, items[i].type);
  }
  make_plan(&none, false);
  ck_assert_uint_eq(plan->count[PLAN_DELETE], 4);
  apply_plan();

  for (size_t i = 0; i + 1 < ARRAY_SIZE(items); i++)
    ck_assert_int_gt(fake_index(FAKE_REMOVE, items[i].id, 0),
                     fake_index(FAKE_REMOVE, items[i + 1].id, 0));
  for (size_t i = 0; i < ARRAY_SIZE(items); i++)
    ck_assert_int_eq(state(items[i].id), APPLY_DONE);
  ck_assert_uint_eq(fake_size(), 0);
  finish();
}
END_TEST

START_TEST(apply_failure_stops_only_its_dependents)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct resource *r;

  network(&set, "acme.prod");
  resource_add_dep(service(&set, "api.prod.acme"), "network/acme.prod");
  resource_add_dep(service(&set, "web.prod.acme"), "network/acme.prod");
  r = res(&set, RTYPE_ROUTE, "api.prod.acme",
          json_pack("{s:o}", "upstreams",
                    resource_ref("service/api.prod.acme", "addresses")));
  resource_add_dep(r, "service/api.prod.acme");
  fake_fault("service/api.prod.acme", FAKE_CREATE, PROVIDER_INVALID, -1);
  make_plan(&set, false);
  apply_plan();

  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_FAILED);
  ck_assert_str_eq(message("service/api.prod.acme"),
                   "invalid: injected invalid fault");
  /* Invalid is not retried. */
  ck_assert_uint_eq(fake_count(FAKE_CREATE, "service/api.prod.acme"), 1);
  ck_assert_int_eq(state("route/api.prod.acme"), APPLY_SKIPPED);
  ck_assert_str_eq(message("route/api.prod.acme"),
                   "waits for service/api.prod.acme, which did not apply");
  ck_assert_uint_eq(fake_count(FAKE_CREATE, "route/api.prod.acme"), 0);
  ck_assert_int_eq(state("network/acme.prod"), APPLY_DONE);
  ck_assert_int_eq(state("service/web.prod.acme"), APPLY_DONE);
  ck_assert_ptr_nonnull(fake_get("service/web.prod.acme"));
  finish();
}
END_TEST

/* Progress, as a person reads it: one report per job, counts that only
 * go up, a failure before what it caused. */
struct seen {
  size_t done[16];
  const struct plan_action *a[16];
  size_t n;
};

static void on_progress(const struct plan_action *a, int st, const char *msg,
                        size_t done, size_t total, void *arg)
{
  struct seen *seen = arg;

  (void)st;
  (void)msg;
  (void)total;
  ck_assert_uint_lt(seen->n, ARRAY_SIZE(seen->done));
  seen->a[seen->n] = a;
  seen->done[seen->n++] = done;
}

static size_t seen_at(const struct seen *seen, const char *id)
{
  for (size_t i = 0; i < seen->n; i++)
    if (seen->a[i] == action(id))
      return i;
  ck_abort_msg("%s not reported", id);
  return 0;
}

START_TEST(apply_reports_a_failure_before_its_dependents)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;
  struct seen seen = {0};
  struct resource *r;

  network(&set, "acme.prod");
  resource_add_dep(service(&set, "api.prod.acme"), "network/acme.prod");
  r = res(&set, RTYPE_ROUTE, "api.prod.acme", json_pack("{s:s}", "a", "b"));
  resource_add_dep(r, "service/api.prod.acme");
  r = res(&set, RTYPE_DNS_RECORD, "api.prod.acme.public",
          json_pack("{s:s}", "a", "b"));
  resource_add_dep(r, "route/api.prod.acme");
  fake_fault("service/api.prod.acme", FAKE_CREATE, PROVIDER_INVALID, -1);
  make_plan(&set, false);
  ao.backoff_ms = 1;
  ao.progress = on_progress;
  ao.progress_arg = &seen;
  apply_with(&ao);

  ck_assert_uint_eq(seen.n, 4);
  for (size_t i = 0; i < seen.n; i++)
    ck_assert_uint_eq(seen.done[i], i + 1);
  ck_assert_uint_lt(seen_at(&seen, "service/api.prod.acme"),
                    seen_at(&seen, "route/api.prod.acme"));
  ck_assert_uint_lt(seen_at(&seen, "route/api.prod.acme"),
                    seen_at(&seen, "dns_record/api.prod.acme.public"));
  /* What each skip waited for leads back to the failure. */
  ck_assert_ptr_eq(apply_action_cause(run, action("route/api.prod.acme")),
                   action("service/api.prod.acme"));
  ck_assert_ptr_eq(
      apply_action_cause(run, action("dns_record/api.prod.acme.public")),
      action("route/api.prod.acme"));
  ck_assert_ptr_null(apply_action_cause(run, action("service/api.prod.acme")));
  ck_assert_ptr_null(apply_action_cause(run, action("network/acme.prod")));
  ck_assert_str_eq(message("dns_record/api.prod.acme.public"),
                   "waits for route/api.prod.acme, which did not apply");
  finish();
}
END_TEST

START_TEST(apply_retries_transient_errors_with_backoff)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;
  const char *id = "network/acme.prod";

  network(&set, "acme.prod");
  fake_fault(id, FAKE_CREATE, PROVIDER_TRANSIENT, 2);
  make_plan(&set, false);
  ao.backoff_ms = 40;
  ao.max_attempts = 5;
  apply_with(&ao);

  ck_assert_int_eq(state(id), APPLY_DONE);
  ck_assert_uint_eq(fake_count(FAKE_CREATE, id), 3);
  /* The delay doubles; jitter takes off at most half of it. */
  ck_assert_uint_ge(
      call_time(FAKE_CREATE, id, 1) - call_time(FAKE_CREATE, id, 0), 20);
  ck_assert_uint_ge(
      call_time(FAKE_CREATE, id, 2) - call_time(FAKE_CREATE, id, 1), 40);
  finish();
}
END_TEST

START_TEST(apply_gives_up_after_max_attempts)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;

  network(&set, "acme.prod");
  resource_add_dep(service(&set, "api.prod.acme"), "network/acme.prod");
  fake_fault("network/acme.prod", FAKE_CREATE, PROVIDER_TRANSIENT, -1);
  make_plan(&set, false);
  ao.backoff_ms = 1;
  ao.max_attempts = 3;
  apply_with(&ao);

  ck_assert_uint_eq(fake_count(FAKE_CREATE, "network/acme.prod"), 3);
  ck_assert_int_eq(state("network/acme.prod"), APPLY_FAILED);
  ck_assert_str_eq(message("network/acme.prod"),
                   "transient: injected transient fault");
  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_SKIPPED);
  ck_assert_uint_eq(fake_size(), 0);
  finish();
}
END_TEST

START_TEST(apply_bounds_concurrency)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;

  for (int i = 0; i < 12; i++) {
    char key[32];

    snprintf(key, sizeof(key), "acme.env%02d", i);
    network(&set, key);
  }
  make_plan(&set, false);
  fake_set_latency(2);
  ao.concurrency = 3;
  apply_with(&ao);

  ck_assert_uint_eq(fake_max_in_flight(), 3);
  ck_assert_uint_eq(fake_size(), 12);
  finish();
}
END_TEST

/* A provider that batches its calls (provider.h) gets every ready call
 * at once: outside the concurrency, which still bounds the others. */
START_TEST(apply_hands_a_batching_provider_every_ready_call)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;

  for (int i = 0; i < 12; i++) {
    char key[32];

    snprintf(key, sizeof(key), "acme.env%02d", i);
    network(&set, key);
  }
  make_plan(&set, false);
  fake_set_latency(2);
  fake->batches = true;
  ao.concurrency = 3;
  apply_with(&ao);

  ck_assert_uint_eq(fake_max_in_flight(), 12);
  ck_assert_uint_eq(fake_size(), 12);
  for (int i = 0; i < 12; i++) {
    char id[64];

    snprintf(id, sizeof(id), "network/acme.env%02d", i);
    ck_assert_int_eq(state(id), APPLY_DONE);
  }
  finish();
}
END_TEST

/* The second instance of observe_hands_a_batching_provider_every_read. */
static struct provider *plain;

static struct provider *fake_or_plain(const char *instance, void *arg)
{
  if (strcmp(instance, "plain") == 0)
    return plain;
  return provider_of(instance, arg);
}

/* Reads go `concurrency` at a time, but an instance that batches them
 * (provider.h) gets all of its reads at once: 12 reads of the batching
 * instance and at most 2 of the other are in flight together. */
START_TEST(observe_hands_a_batching_provider_every_read)
{
  struct observe_opts oo = {.concurrency = 2, .max_attempts = 1};
  struct resource *rs[16];
  struct observe_read reads[16];
  json_t *observed = json_object(), *cfg = json_object();
  char *hold = NULL, err[256];
  bool closed = false;

  ck_assert_int_eq(provider_open(&plain, &fake_provider_ops, "plain", cfg,
                                 &loop, err, sizeof(err)),
                   0);
  json_decref(cfg);
  fake->batches = true;
  for (int i = 0; i < 16; i++) {
    char key[32], id[64];

    snprintf(key, sizeof(key), "acme.env%02d", i);
    snprintf(id, sizeof(id), "network/%s", key);
    rs[i] = resource_new(RTYPE_NETWORK, id, i < 12 ? "fake" : "plain", "acme",
                         key, json_pack("{s:s}", "cidr", "10.0.0.0/16"));
    reads[i] = (struct observe_read){rs[i], observed, &hold};
  }
  fake_set_latency(2);
  oo.provider = fake_or_plain;
  observe_run(&loop, reads, 16, &oo);

  ck_assert_uint_eq(fake_count(FAKE_READ, NULL), 16);
  ck_assert_uint_eq(fake_max_in_flight(), 14);
  ck_assert_ptr_null(hold);
  for (int i = 0; i < 16; i++)
    resource_free(rs[i]);
  json_decref(observed);
  provider_close(plain, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  finish();
}
END_TEST

START_TEST(apply_waits_for_a_healthy_service)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;
  struct resource *route;

  service(&set, "api.prod.acme");
  route = res(&set, RTYPE_ROUTE, "api.prod.acme", json_object());
  resource_add_dep(route, "service/api.prod.acme");
  /* The create's answer and two polls say unhealthy. */
  fake_unhealthy("service/api.prod.acme", 3);
  make_plan(&set, false);
  ao.health_poll_ms = 1;
  apply_with(&ao);

  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_DONE);
  ck_assert_uint_eq(fake_count(FAKE_READ, "service/api.prod.acme"), 3);
  ck_assert_int_gt(created_at("route/api.prod.acme"),
                   fake_index(FAKE_READ, "service/api.prod.acme", 2));
  finish();
}
END_TEST

START_TEST(apply_fails_a_service_never_healthy)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;

  service(&set, "api.prod.acme");
  fake_unhealthy("service/api.prod.acme", 1000000);
  make_plan(&set, false);
  ao.health_poll_ms = 1;
  ao.health_timeout_ms = 20;
  apply_with(&ao);

  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_FAILED);
  ck_assert_str_eq(message("service/api.prod.acme"),
                   "not healthy within 20 ms");
  /* It exists all the same: the outcome inventories it. */
  ck_assert(apply_action_written(run, action("service/api.prod.acme")));
  finish();
}
END_TEST

START_TEST(apply_replaces_by_removing_then_creating)
{
  struct resource_set set = RESOURCE_SET_INIT;
  const char *id = "network/acme.prod";

  fake_put(id, "acme", json_pack("{s:s}", "cidr", "10.9.0.0/16"));
  network(&set, "acme.prod");
  make_plan(&set, false);
  ck_assert_int_eq(action(id)->kind, PLAN_REPLACE);
  apply_plan();

  ck_assert_int_eq(state(id), APPLY_DONE);
  ck_assert_int_lt(fake_index(FAKE_REMOVE, id, 0), created_at(id));
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(fake_get(id), "spec"), "cidr")),
                   "10.0.0.0/16");
  finish();
}
END_TEST

START_TEST(apply_conflict_is_not_retried)
{
  struct resource_set set = RESOURCE_SET_INIT;
  const char *id = "network/acme.prod";

  network(&set, "acme.prod");
  make_plan(&set, false);
  /* Someone else took the name between observing and applying. */
  fake_put_foreign(id, json_object());
  apply_plan();

  ck_assert_int_eq(state(id), APPLY_FAILED);
  ck_assert_str_eq(message(id), "conflict: exists without tenantd's marker");
  ck_assert_uint_eq(fake_count(FAKE_CREATE, id), 1);
  ck_assert(!apply_action_written(run, action(id)));
  finish();
}
END_TEST

START_TEST(apply_cancelled_starts_nothing)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct apply_opts ao = APPLY_OPTS_INIT;
  atomic_bool cancel = true;

  network(&set, "acme.prod");
  resource_add_dep(service(&set, "api.prod.acme"), "network/acme.prod");
  make_plan(&set, false);
  ao.cancel = &cancel;
  apply_with(&ao);

  ck_assert_uint_eq(fake_ncalls(), 0);
  ck_assert_int_eq(state("network/acme.prod"), APPLY_SKIPPED);
  ck_assert(apply_action_cancelled(run, action("network/acme.prod")));
  ck_assert_str_eq(message("network/acme.prod"),
                   "not started: tenantd is shutting down");
  ck_assert_int_eq(state("service/api.prod.acme"), APPLY_SKIPPED);
  finish();
}
END_TEST

START_TEST(apply_suspended_changes_nothing)
{
  struct resource_set set = RESOURCE_SET_INIT;

  network(&set, "acme.prod");
  fake_put("service/old.prod.acme", "acme", json_object());
  inventory("service/old.prod.acme", RTYPE_SERVICE);
  make_plan(&set, true);
  apply_plan();

  ck_assert_uint_eq(fake_ncalls(), 0);
  ck_assert_int_eq(state("network/acme.prod"), APPLY_HELD);
  ck_assert_int_eq(state("service/old.prod.acme"), APPLY_HELD);
  ck_assert_ptr_nonnull(fake_get("service/old.prod.acme"));
  finish();
}
END_TEST

START_TEST(apply_unconfigured_instance_fails_the_action)
{
  struct resource_set set = RESOURCE_SET_INIT;

  resource_set_add(&set,
                   resource_new(RTYPE_NETWORK, "network/acme.prod", "elsewhere",
                                "acme", "acme-prod", json_object()));
  make_plan(&set, false);
  apply_plan();

  ck_assert_int_eq(state("network/acme.prod"), APPLY_FAILED);
  ck_assert_str_eq(message("network/acme.prod"),
                   "provider instance 'elsewhere' is not configured");
  finish();
}
END_TEST

Suite *make_suite_apply(void)
{
  Suite *s = suite_create("apply");
  TCase *tc = tcase_create("apply");

  tcase_add_checked_fixture(tc, setup, NULL);
  tcase_add_test(tc, apply_creates_dependencies_first);
  tcase_add_test(tc, apply_rewrites_a_noop_whose_references_changed);
  tcase_add_test(tc, apply_deletes_dependents_first);
  tcase_add_test(tc, apply_failure_stops_only_its_dependents);
  tcase_add_test(tc, apply_reports_a_failure_before_its_dependents);
  tcase_add_test(tc, apply_retries_transient_errors_with_backoff);
  tcase_add_test(tc, apply_gives_up_after_max_attempts);
  tcase_add_test(tc, apply_hands_a_batching_provider_every_ready_call);
  tcase_add_test(tc, apply_bounds_concurrency);
  tcase_add_test(tc, observe_hands_a_batching_provider_every_read);
  tcase_add_test(tc, apply_waits_for_a_healthy_service);
  tcase_add_test(tc, apply_fails_a_service_never_healthy);
  tcase_add_test(tc, apply_replaces_by_removing_then_creating);
  tcase_add_test(tc, apply_conflict_is_not_retried);
  tcase_add_test(tc, apply_cancelled_starts_nothing);
  tcase_add_test(tc, apply_suspended_changes_nothing);
  tcase_add_test(tc, apply_unconfigured_instance_fails_the_action);
  suite_add_tcase(s, tc);
  return s;
}
