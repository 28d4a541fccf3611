/*
 * The docker provider's mapping, with no Engine API: request bodies,
 * labels, container lists read back into replicas, observed specs that
 * diff unchanged against what was created, the plan of a convergence
 * (fresh, drift, scaling, rolling, an interrupted update), image
 * references, credentials and pull errors; then the instance's options
 * and an API socket that is not there.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/diff.h"
#include "providers/docker/internal.h"
#include "suites.h"

static const struct dk_owner owner = {"acme", "service/api.prod.acme",
                                      "api.prod.acme"};

/* A service spec as compose builds it, references resolved. */
static json_t *spec_new(const char *image, long replicas)
{
  return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:s, "
                   "s:{s:s, s:s, s:i}}",
                   "name", "api.prod.acme", "image", image, "port", 8080,
                   "replicas", (int)replicas, "cpu", 1, "memory_mib", 256,
                   "health_path", "/health", "health_interval_s", 1,
                   "health_timeout_s", 1, "network", "acme-prod", "env",
                   "TENANTD_TENANT", "acme", "APP_MODE", "fast",
                   "TENANTD_DB_PORT", 5432);
}

/* What the Engine API lists for a container created from `body`. */
static json_t *listed(const json_t *body, const char *name, const char *id,
                      const char *state, int host_port)
{
  json_t *c = json_pack(
      "{s:s, s:[s], s:s, s:O, s:[{s:s, s:i, s:i, s:s}], s:{s:{}}}", "Id", id,
      "Names", name, "State", state, "Labels", json_object_get(body, "Labels"),
      "Ports", "IP", "127.0.0.1", "PrivatePort", 8080, "PublicPort", host_port,
      "Type", "tcp", "NetworkSettings", "Networks");

  /* Docker lists the image's own labels beside the container's. */
  json_object_set_new(json_object_get(c, "Labels"), "io.buildah.version",
                      json_string("1.28.2"));
  json_object_set_new(
      json_object_get(json_object_get(c, "NetworkSettings"), "Networks"),
      "acme-prod", json_pack("{s:s}", "IPAddress", "10.40.0.2"));
  return c;
}

/* Appends replica `ordinal` of `spec` to a list. */
static void add_replica(json_t *list, const json_t *spec, long ordinal,
                        const char *state, int host_port)
{
  char hash[17], name[256], id[64];
  json_t *tmpl = dk__template(spec, hash);
  json_t *body = dk__container_body(tmpl, hash, ordinal, &owner, "127.0.0.1");

  ck_assert(dk__replica_name(name, sizeof(name), owner.name, ordinal, hash));
  snprintf(id, sizeof(id), "%s%ld", hash, ordinal);
  json_array_append_new(list, listed(body, name, id, state, host_port));
  json_decref(body);
  json_decref(tmpl);
}

static void parse(const json_t *list, long want, struct dk_family *f)
{
  char err[256];

  ck_assert_int_eq(dk__family_parse(list, &owner, want, f, err, sizeof(err)),
                   0);
}

static void all_passing(struct dk_family *f)
{
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].state == DK_RUNNING)
      f->v[i].health = DK_H_PASSING;
}

START_TEST(names_and_queries)
{
  char buf[256], *q;
  long ord = -1;

  q = dk__query_escape("a b/c=d&é");
  ck_assert_str_eq(q, "a%20b%2Fc%3Dd%26%C3%A9");
  free(q);
  q = dk__filter("label", "tenantd.id=service/x");
  ck_assert_str_eq(q, "%7B%22label%22%3A%5B%22tenantd.id%3Dservice%2Fx%22%5D"
                      "%7D");
  free(q);

  ck_assert(dk__replica_name(buf, sizeof(buf), "api.prod.acme", 3,
                             "0123456789abcdef"));
  ck_assert_str_eq(buf, "api.prod.acme-3-01234567");
  ck_assert(!dk__replica_name(buf, 10, "api.prod.acme", 3, "0123456789"));

  ck_assert(dk__family_ordinal("api.prod.acme", "api.prod.acme-0", &ord));
  ck_assert_int_eq(ord, 0);
  ck_assert(
      dk__family_ordinal("api.prod.acme", "api.prod.acme-12-0123abcd", &ord));
  ck_assert_int_eq(ord, 12);
  ck_assert(!dk__family_ordinal("api.prod.acme", "api.prod.acme-01", &ord));
  ck_assert(!dk__family_ordinal("api.prod.acme", "api.prod.acme-", &ord));
  ck_assert(!dk__family_ordinal("api.prod.acme", "api.prod.acme-1-xyz", &ord));
  ck_assert(
      !dk__family_ordinal("api.prod.acme", "api.prod.acme-1-0123abcdef", &ord));
  ck_assert(!dk__family_ordinal("api.prod.acme", "api.prod.acmex-1", &ord));
  ck_assert(!dk__family_ordinal("api.prod.acme", "xapi.prod.acme-1", &ord));
}
END_TEST

START_TEST(container_body)
{
  json_t *spec = spec_new("localhost/app:1", 2), *tmpl, *body, *labels, *host;
  json_t *back;
  char hash[17], marker[RESOURCE_MARKER_MAX];

  tmpl = dk__template(spec, hash);
  ck_assert_ptr_null(json_object_get(tmpl, "replicas"));
  body = dk__container_body(tmpl, hash, 1, &owner, "127.0.0.1");
  ck_assert_str_eq(json_string_value(json_object_get(body, "Image")),
                   "localhost/app:1");
  /* Sorted, integers in decimal. */
  ck_assert_str_eq(
      json_string_value(json_array_get(json_object_get(body, "Env"), 0)),
      "APP_MODE=fast");
  ck_assert_str_eq(
      json_string_value(json_array_get(json_object_get(body, "Env"), 1)),
      "TENANTD_DB_PORT=5432");
  labels = json_object_get(body, "Labels");
  ck_assert(dk__labels_marker(labels, marker));
  ck_assert_str_eq(marker,
                   "managed-by=tenantd tenant=acme id=service/api.prod.acme");
  ck_assert(dk__labels_ours(labels, &owner));
  ck_assert_str_eq(json_string_value(json_object_get(labels, DK_LABEL_HASH)),
                   hash);
  ck_assert_str_eq(json_string_value(json_object_get(labels, DK_LABEL_ORDINAL)),
                   "1");
  back = json_loads(json_string_value(json_object_get(labels, DK_LABEL_SPEC)),
                    0, NULL);
  ck_assert(json_equal(back, tmpl));
  host = json_object_get(body, "HostConfig");
  ck_assert(json_is_true(json_object_get(host, "Init")));
  ck_assert_str_eq(json_string_value(json_object_get(host, "NetworkMode")),
                   "acme-prod");
  ck_assert_int_eq(json_integer_value(json_object_get(host, "NanoCpus")),
                   1000000000LL);
  ck_assert_int_eq(json_integer_value(json_object_get(host, "Memory")),
                   256LL * 1024 * 1024);
  ck_assert_str_eq(
      json_string_value(json_object_get(
          json_array_get(json_object_get(json_object_get(host, "PortBindings"),
                                         "8080/tcp"),
                         0),
          "HostIp")),
      "127.0.0.1");
  ck_assert_ptr_nonnull(
      json_object_get(json_object_get(body, "ExposedPorts"), "8080/tcp"));
  json_decref(back);
  json_decref(body);
  json_decref(tmpl);
  json_decref(spec);
}
END_TEST

START_TEST(network_body_and_observed)
{
  json_t *spec = json_pack("{s:s, s:s, s:s}", "name", "acme-prod", "cidr",
                           "10.40.0.0/16", "region", "eu");
  struct dk_owner o = {"acme", "network/acme.prod", "acme-prod"};
  json_t *body = dk__network_body(spec, &o), *net, *obs;
  struct diff_result d;

  ck_assert_str_eq(json_string_value(json_object_get(body, "Driver")),
                   "bridge");
  ck_assert_str_eq(
      json_string_value(json_object_get(
          json_array_get(
              json_object_get(json_object_get(body, "IPAM"), "Config"), 0),
          "Subnet")),
      "10.40.0.0/16");
  net = json_pack("{s:s, s:s, s:O, s:{s:[{s:s, s:s}]}}", "Name", "acme-prod",
                  "Id", "d2836b7d", "Labels", json_object_get(body, "Labels"),
                  "IPAM", "Config", "Subnet", "10.40.0.0/16", "Gateway",
                  "10.40.0.1");
  obs = dk__network_observed(net, "acme-prod", "eu");
  ck_assert_str_eq(json_string_value(json_object_get(obs, "marker")),
                   "managed-by=tenantd tenant=acme id=network/acme.prod");
  /* Containers join by name. */
  ck_assert_str_eq(
      json_string_value(json_object_get(json_object_get(obs, "outputs"), "id")),
      "acme-prod");
  diff_specs(RTYPE_NETWORK, spec, json_object_get(obs, "spec"), &d);
  ck_assert_uint_eq(d.n, 0);
  diff_result_release(&d);
  /* Docker also finds networks by id prefix: only the name counts. */
  ck_assert_ptr_null(dk__network_observed(net, "acme-staging", "eu"));
  json_decref(obs);
  json_decref(net);
  json_decref(body);
  json_decref(spec);
}
END_TEST

/* What was created reads back equal: no perpetual diff. */
START_TEST(unchanged_service_diffs_unchanged)
{
  json_t *spec = spec_new("localhost/app:1", 2), *list = json_array(), *obs;
  struct dk_family f;
  struct diff_result d;

  add_replica(list, spec, 0, "running", 40001);
  add_replica(list, spec, 1, "running", 40002);
  parse(list, 2, &f);
  ck_assert_uint_eq(f.n, 2);
  ck_assert_uint_eq(f.foreign, 0);
  ck_assert_uint_eq(f.v[1].host_port, 40002);
  ck_assert_str_eq(f.v[0].ip, "10.40.0.2");
  all_passing(&f);
  obs = dk__service_observed(&f, &owner, 2, "127.0.0.1");
  diff_specs(RTYPE_SERVICE, spec, json_object_get(obs, "spec"), &d);
  ck_assert_msg(d.n == 0, "differs in %s", d.n ? d.v[0].attr : "");
  diff_result_release(&d);
  ck_assert(json_is_true(
      json_object_get(json_object_get(obs, "outputs"), "healthy")));
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(obs, "outputs"), "address")),
                   "127.0.0.1:40001");
  ck_assert_uint_eq(json_array_size(json_object_get(
                        json_object_get(obs, "outputs"), "addresses")),
                    2);
  ck_assert_str_eq(json_string_value(json_object_get(obs, "marker")),
                   "managed-by=tenantd tenant=acme id=service/api.prod.acme");
  json_decref(obs);
  dk__family_release(&f);
  json_decref(list);
  json_decref(spec);
}
END_TEST

/* A stopped replica, a failing one and a half-done update all differ
 * from any desired spec. */
START_TEST(drift_reads_as_a_difference)
{
  json_t *spec = spec_new("localhost/app:1", 2), *next, *list, *obs;
  struct dk_family f;
  struct diff_result d;

  list = json_array();
  add_replica(list, spec, 0, "running", 40001);
  add_replica(list, spec, 1, "exited", 0);
  parse(list, 2, &f);
  all_passing(&f);
  obs = dk__service_observed(&f, &owner, 2, "127.0.0.1");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(obs, "spec"), "replicas")),
                   1);
  ck_assert(json_is_false(
      json_object_get(json_object_get(obs, "outputs"), "healthy")));
  json_decref(obs);
  /* Failing its checks: not counted either. */
  f.v[1].state = DK_RUNNING;
  f.v[1].health = DK_H_FAILING;
  obs = dk__service_observed(&f, &owner, 2, "127.0.0.1");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(obs, "spec"), "replicas")),
                   1);
  json_decref(obs);
  dk__family_release(&f);
  json_decref(list);

  /* Version 2 at ordinal 0, version 1 at ordinal 1: mixed, whichever
   * version is desired. */
  next = spec_new("localhost/app:2", 2);
  list = json_array();
  add_replica(list, next, 0, "running", 40003);
  add_replica(list, spec, 1, "running", 40002);
  parse(list, 2, &f);
  all_passing(&f);
  obs = dk__service_observed(&f, &owner, 2, "127.0.0.1");
  ck_assert_str_eq(
      json_string_value(json_object_get(json_object_get(obs, "spec"), "image")),
      "mixed: \"localhost/app:2\" | \"localhost/app:1\"");
  diff_specs(RTYPE_SERVICE, next, json_object_get(obs, "spec"), &d);
  ck_assert_uint_eq(d.n, 1);
  diff_result_release(&d);
  diff_specs(RTYPE_SERVICE, spec, json_object_get(obs, "spec"), &d);
  ck_assert_uint_eq(d.n, 1);
  diff_result_release(&d);
  ck_assert(json_is_false(
      json_object_get(json_object_get(obs, "outputs"), "healthy")));
  json_decref(obs);
  dk__family_release(&f);
  json_decref(list);
  json_decref(next);
  json_decref(spec);
}
END_TEST

/* Someone else's container in a name tenantd wants: no marker; beyond
 * the wanted replicas, or another resource's, it is not counted. */
START_TEST(foreign_containers)
{
  json_t *spec = spec_new("localhost/app:1", 2), *list = json_array(), *obs;
  json_t *hand = json_pack("{s:s, s:[s], s:s, s:{}}", "Id", "hand", "Names",
                           "/api.prod.acme-0", "State", "running", "Labels");
  json_t *far = json_pack("{s:s, s:[s], s:s, s:{}}", "Id", "far", "Names",
                          "/api.prod.acme-7", "State", "running", "Labels");
  struct dk_family f;

  json_array_append_new(list, far);
  parse(list, 2, &f);
  ck_assert_uint_eq(f.n + f.foreign, 0);
  dk__family_release(&f);
  json_array_append_new(list, hand);
  add_replica(list, spec, 1, "running", 40002);
  parse(list, 2, &f);
  ck_assert_uint_eq(f.n, 1);
  ck_assert_uint_eq(f.foreign, 1);
  ck_assert_str_eq(f.foreign_name, "api.prod.acme-0");
  obs = dk__service_observed(&f, &owner, 2, "127.0.0.1");
  ck_assert_ptr_null(json_object_get(obs, "marker"));
  json_decref(obs);
  dk__family_release(&f);
  json_decref(list);
  json_decref(spec);
}
END_TEST

/* A replica left off its network (the network was replaced) is
 * replaced itself. */
START_TEST(detached_replica_is_broken)
{
  json_t *spec = spec_new("localhost/app:1", 1), *list = json_array();
  struct dk_family f;

  add_replica(list, spec, 0, "running", 40001);
  json_object_clear(json_object_get(
      json_object_get(json_array_get(list, 0), "NetworkSettings"), "Networks"));
  parse(list, 1, &f);
  ck_assert_int_eq(f.v[0].state, DK_BROKEN);
  dk__family_release(&f);
  json_decref(list);
  json_decref(spec);
}
END_TEST

/* The plan's steps as text: "remove 0 start 1 roll 2 create 3". */
static void plan_text(const struct dk_plan *p, char *buf, size_t cap)
{
  static const char *const names[] = {"remove", "start", "restart", "roll",
                                      "create"};
  size_t used = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < p->n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s %ld", i ? " " : "",
                             names[p->v[i].act], p->v[i].ordinal);
}

static void expect_plan(const json_t *list, const json_t *spec, long want,
                        bool failing1, const char *text)
{
  struct dk_family f;
  struct dk_plan p;
  char hash[17], got[512];
  json_t *tmpl = dk__template(spec, hash);

  parse(list, want, &f);
  all_passing(&f);
  for (size_t i = 0; failing1 && i < f.n; i++)
    if (f.v[i].ordinal == 1)
      f.v[i].health = DK_H_FAILING;
  dk__plan(&f, hash, want, &p);
  plan_text(&p, got, sizeof(got));
  ck_assert_str_eq(got, text);
  dk__plan_release(&p);
  dk__family_release(&f);
  json_decref(tmpl);
}

START_TEST(convergence_plans)
{
  json_t *v1 = spec_new("localhost/app:1", 3), *v2 = spec_new("app:2", 3);
  json_t *list = json_array();

  expect_plan(list, v1, 3, false, "create 0 create 1 create 2");
  add_replica(list, v1, 0, "running", 40001);
  add_replica(list, v1, 1, "exited", 0);
  add_replica(list, v1, 2, "running", 40003);
  /* Drift: the stopped one starts; the failing one restarts. */
  expect_plan(list, v1, 3, false, "start 1");
  json_object_set_new(json_array_get(list, 1), "State", json_string("running"));
  expect_plan(list, v1, 3, true, "restart 1");
  expect_plan(list, v1, 3, false, "");
  /* Scaling adds or removes replicas only. */
  expect_plan(list, v1, 5, false, "create 3 create 4");
  expect_plan(list, v1, 1, false, "remove 1 remove 2");
  /* A new version rolls ordinal by ordinal, after removing what is
   * beyond the wanted count. */
  expect_plan(list, v2, 3, false, "roll 0 roll 1 roll 2");
  expect_plan(list, v2, 2, false, "remove 2 roll 0 roll 1");
  expect_plan(list, v2, 4, false, "roll 0 roll 1 roll 2 create 3");
  /* Interrupted after ordinal 0's new replica started: it still has to
   * pass, then the old one goes; a stopped old one just goes. */
  add_replica(list, v2, 0, "running", 40004);
  json_object_set_new(json_array_get(list, 2), "State", json_string("exited"));
  expect_plan(list, v2, 3, false, "remove 2 roll 0 roll 1 create 2");
  /* A broken replica of the wanted version is replaced. */
  json_array_clear(list);
  add_replica(list, v1, 0, "dead", 0);
  expect_plan(list, v1, 1, false, "remove 0 create 0");
  json_decref(list);
  json_decref(v1);
  json_decref(v2);
}
END_TEST

START_TEST(images_and_credentials)
{
  char repo[256], tag[128], err[256];
  char *auth;

  ck_assert(
      dk__image_ref("localhost/app:1", repo, sizeof(repo), tag, sizeof(tag)));
  ck_assert_str_eq(repo, "localhost/app");
  ck_assert_str_eq(tag, "1");
  ck_assert(dk__image_ref("registry.example:5000/team/app", repo, sizeof(repo),
                          tag, sizeof(tag)));
  ck_assert_str_eq(repo, "registry.example:5000/team/app");
  ck_assert_str_eq(tag, "latest");
  ck_assert(
      dk__image_ref("app@sha256:abc", repo, sizeof(repo), tag, sizeof(tag)));
  ck_assert_str_eq(repo, "app");
  ck_assert_str_eq(tag, "sha256:abc");

  /* base64url of {"password":"p:w","serveraddress":"reg.example",
   * "username":"u"}, '=' padded as Docker's clients write it. */
  auth = dk__registry_auth("u:p:w", "reg.example/app:1");
  ck_assert_str_eq(auth, "eyJwYXNzd29yZCI6InA6dyIsInNlcnZlcmFkZHJlc3MiOiJyZW"
                         "cuZXhhbXBsZSIsInVzZXJuYW1lIjoidSJ9");
  free(auth);
  auth = dk__registry_auth("{\"identitytoken\": \"t\"}", "app");
  ck_assert_ptr_nonnull(auth);
  free(auth);
  ck_assert_ptr_null(dk__registry_auth("{not json", "app"));

  ck_assert(!dk__pull_error("{\"status\":\"Pulling fs layer\"}", 29, err,
                            sizeof(err)));
  ck_assert(dk__pull_error("{\"errorDetail\":{\"message\":\"manifest "
                           "unknown\"},\"error\":\"manifest unknown\"}",
                           73, err, sizeof(err)));
  ck_assert_str_eq(err, "manifest unknown");
  ck_assert_int_eq(dk__pull_class(err), PROVIDER_INVALID);
  ck_assert_int_eq(dk__pull_class("pull access denied for x, repository "
                                  "does not exist or may require login"),
                   PROVIDER_INVALID);
  ck_assert_int_eq(dk__pull_class("unauthorized: authentication required"),
                   PROVIDER_AUTH);
  ck_assert_int_eq(dk__pull_class("dial tcp: i/o timeout"), PROVIDER_TRANSIENT);
}
END_TEST

START_TEST(spec_checks)
{
  json_t *spec = spec_new("localhost/app:1", 1);
  char err[256];

  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)), 0);
  json_object_set_new(spec, "image", json_string("bad image"));
  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)),
                   PROVIDER_INVALID);
  json_object_set_new(spec, "image", json_string("app:1"));
  json_object_set_new(spec, "port", json_integer(0));
  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)),
                   PROVIDER_INVALID);
  ck_assert_str_eq(err, "port must be an integer from 1 to 65535");
  json_object_set_new(spec, "port", json_integer(80));
  json_object_set_new(json_object_get(spec, "env"), "BAD-NAME",
                      json_string("x"));
  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)),
                   PROVIDER_INVALID);
  json_object_del(json_object_get(spec, "env"), "BAD-NAME");
  json_object_set_new(json_object_get(spec, "env"), "FLAG", json_true());
  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)),
                   PROVIDER_INVALID);
  json_object_del(json_object_get(spec, "env"), "FLAG");
  json_object_set_new(spec, "health_path", json_null());
  ck_assert_int_eq(dk__service_spec_check(spec, err, sizeof(err)), 0);
  json_decref(spec);
}
END_TEST

/* ---- the instance ---- */

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  *(bool *)arg = true;
}

static int open_with(uv_loop_t *loop, const char *config, struct provider **p,
                     char *err, size_t cap)
{
  json_t *cfg = json_loads(config, 0, NULL);
  int rc;

  ck_assert_ptr_nonnull(cfg);
  rc = provider_open(p, &docker_provider_ops, "docker", cfg, loop, err, cap);
  json_decref(cfg);
  return rc;
}

START_TEST(options)
{
  uv_loop_t loop;
  struct provider *p = NULL;
  char err[512];
  bool closed = false;

  uv_loop_init(&loop);
  ck_assert_int_eq(
      open_with(&loop, "{\"type\": \"docker\"}", &p, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "socket"));
  ck_assert_int_eq(open_with(&loop,
                             "{\"type\": \"docker\", \"socket\": \"rel.sock\"}",
                             &p, err, sizeof(err)),
                   -1);
  ck_assert_str_eq(err, "docker: socket must be an absolute path");
  ck_assert_int_eq(open_with(&loop,
                             "{\"type\": \"docker\", \"socket\": \"/x.sock\", "
                             "\"hostAddress\": \"1.2.3\"}",
                             &p, err, sizeof(err)),
                   -1);
  ck_assert_str_eq(err, "docker: hostAddress must be an IPv4 or IPv6 address");
  ck_assert_int_eq(open_with(&loop,
                             "{\"type\": \"docker\", \"socket\": \"/x.sock\", "
                             "\"timeoutMs\": 5000, \"stopTimeoutSeconds\": 30}",
                             &p, err, sizeof(err)),
                   -1);
  ck_assert_str_eq(err,
                   "docker: timeoutMs must be longer than stopTimeoutSeconds");
  unsetenv("TD_TEST_REGISTRY_AUTH");
  ck_assert_int_eq(open_with(&loop,
                             "{\"type\": \"docker\", \"socket\": \"/x.sock\", "
                             "\"registryAuthEnv\": \"TD_TEST_REGISTRY_AUTH\"}",
                             &p, err, sizeof(err)),
                   -1);
  ck_assert_ptr_nonnull(strstr(err, "TD_TEST_REGISTRY_AUTH"));
  ck_assert_int_eq(open_with(&loop,
                             "{\"type\": \"docker\", \"socket\": \"/x.sock\", "
                             "\"hostAddress\": \"::1\", \"maxParallel\": 2}",
                             &p, err, sizeof(err)),
                   0);
  provider_close(p, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

struct answer {
  bool done;
  int status;
  char message[512];
};

static void on_answer(struct provider *p, const struct provider_result *res,
                      void *arg)
{
  struct answer *a = arg;

  (void)p;
  a->done = true;
  a->status = res->status;
  snprintf(a->message, sizeof(a->message), "%s",
           res->message ? res->message : "");
}

/* No Engine API at the socket: every operation is transient, and the
 * instance closes with nothing left on the loop. */
START_TEST(socket_gone_is_transient)
{
  uv_loop_t loop;
  struct provider *p = NULL;
  struct resource *svc, *net;
  struct answer read = {0}, create = {0}, remove = {0};
  json_t *spec = spec_new("localhost/app:1", 1);
  char *dir = test_tmpdir(), cfg[600], err[512];
  bool closed = false;

  uv_loop_init(&loop);
  snprintf(cfg, sizeof(cfg),
           "{\"type\": \"docker\", \"socket\": \"%s/none.sock\"}", dir);
  ck_assert_int_eq(open_with(&loop, cfg, &p, err, sizeof(err)), 0);
  svc = resource_new(RTYPE_SERVICE, owner.id, "docker", "acme", owner.name,
                     json_incref(spec));
  net = resource_new(RTYPE_NETWORK, "network/acme.prod", "docker", "acme",
                     "acme-prod", NULL);
  provider_read(p, svc, on_answer, &read);
  provider_create(p, svc, spec, on_answer, &create);
  provider_remove(p, net, on_answer, &remove);
  while (!read.done || !create.done || !remove.done)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(read.status, PROVIDER_TRANSIENT);
  ck_assert_int_eq(create.status, PROVIDER_TRANSIENT);
  ck_assert_int_eq(remove.status, PROVIDER_TRANSIENT);
  ck_assert_msg(strstr(read.message, "docker: GET /v1.41/containers/json") !=
                    NULL,
                "%s", read.message);
  provider_close(p, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  resource_free(svc);
  resource_free(net);
  json_decref(spec);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

Suite *make_suite_docker(void)
{
  Suite *s = suite_create("docker");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, names_and_queries);
  tcase_add_test(tc, container_body);
  tcase_add_test(tc, network_body_and_observed);
  tcase_add_test(tc, unchanged_service_diffs_unchanged);
  tcase_add_test(tc, drift_reads_as_a_difference);
  tcase_add_test(tc, foreign_containers);
  tcase_add_test(tc, detached_replica_is_broken);
  tcase_add_test(tc, convergence_plans);
  tcase_add_test(tc, images_and_credentials);
  tcase_add_test(tc, spec_checks);
  tcase_add_test(tc, options);
  tcase_add_test(tc, socket_gone_is_transient);
  suite_add_tcase(s, tc);
  return s;
}
