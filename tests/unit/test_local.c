#include "base/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "providers/local/local.h"
#include "local_fx.h"
#include "suites.h"

START_TEST(create_read_round_trip)
{
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  struct res x;
  char *path, *text;
  json_t *file;
  const json_t *outputs;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  ck_assert_ptr_nonnull(x.observed);
  ck_assert(json_equal(json_object_get(x.observed, "spec"), r->spec));
  ck_assert_str_eq(json_string_value(json_object_get(x.observed, "marker")),
                   "managed-by=tenantd tenant=acme id=service/api.acme");
  res_release(&x);

  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
  ck_assert(json_equal(json_object_get(x.observed, "spec"), r->spec));
  ck_assert_str_eq(json_string_value(json_object_get(x.observed, "marker")),
                   "managed-by=tenantd tenant=acme id=service/api.acme");
  outputs = json_object_get(x.observed, "outputs");
  ck_assert_int_eq(json_integer_value(json_object_get(outputs, "port")), 8080);
  ck_assert(json_is_true(json_object_get(outputs, "healthy")));
  ck_assert_ptr_nonnull(
      strstr(json_string_value(json_object_get(outputs, "address")), ":8080"));
  res_release(&x);

  path = state_path(&f, "service", "api-acme");
  text = slurp(path);
  ck_assert_ptr_nonnull(text);
  ck_assert_uint_gt(strlen(text), 0);
  ck_assert_int_eq(text[strlen(text) - 1], '\n');
  file = json_loads(text, 0, NULL);
  ck_assert_ptr_nonnull(file);
  ck_assert(json_equal(json_object_get(file, "spec"), r->spec));
  json_decref(file);
  free(text);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(outputs_by_type)
{
  struct fx f;
  struct resource *rs[] = {
      resource_new(RTYPE_NETWORK, "network/acme", "local", "acme", "acme-net",
                   json_pack("{s:s}", "cidr", "10.0.0.0/16")),
      database("acme", "database/acme.prod", "acme_prod"),
      resource_new(RTYPE_BUCKET, "bucket/acme.assets", "local", "acme",
                   "acme-assets", NULL),
      resource_new(RTYPE_ROUTE, "route/acme.www", "local", "acme",
                   "www.acme.example", NULL),
  };
  struct res x;
  json_t *key = json_pack("{s:s}", "name", "acme-net");
  char hash[17], want[32];
  const json_t *o;

  resource_spec_hash(key, hash);
  json_decref(key);
  snprintf(want, sizeof(want), "net-%.8s", hash);
  fx_init(&f);
  fx_open(&f, NULL);

  ck_assert_int_eq(run_op(&f, CREATE, rs[0], NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(o, "id")), want);
  res_release(&x);

  ck_assert_int_eq(run_op(&f, CREATE, rs[1], NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(o, "host")), "127.0.0.1");
  ck_assert_int_eq(json_integer_value(json_object_get(o, "port")), 5432);
  res_release(&x);

  ck_assert_int_eq(run_op(&f, CREATE, rs[2], NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(o, "url")),
                   "local://bucket/acme-assets");
  res_release(&x);

  ck_assert_int_eq(run_op(&f, CREATE, rs[3], NULL, &x), PROVIDER_OK);
  ck_assert_uint_eq(json_object_size(json_object_get(x.observed, "outputs")),
                    0);
  res_release(&x);

  for (size_t i = 0; i < ARRAY_SIZE(rs); i++)
    resource_free(rs[i]);
  fx_release(&f);
}
END_TEST

START_TEST(read_missing_is_not_found)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_NOT_FOUND);
  ck_assert_ptr_null(x.observed);
  /* Absent is an answer: no message is made for it. */
  ck_assert(!x.has_message);
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

/* Opens with stateDir <f->dir>/<sub>, which need not exist. */
static void fx_open_under(struct fx *f, const char *sub)
{
  json_t *cfg =
      json_pack("{s:s, s:s++}", "type", "local", "stateDir", f->dir, "/", sub);
  char err[512] = "";

  ck_assert_int_eq(provider_open(&f->p, &local_provider_ops, "local", cfg,
                                 &f->loop, err, sizeof(err)),
                   0);
  json_decref(cfg);
}

/* The first write makes stateDir with its parents, private; reads and
 * lists of an absent stateDir find nothing and make nothing. */
START_TEST(state_dir_made_with_parents)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct list_res l;
  struct res x;
  struct stat sb;
  char path[256];

  fx_init(&f);
  fx_open_under(&f, "a/b/c");
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_NOT_FOUND);
  ck_assert_int_eq(run_list(&f, "acme", &l), PROVIDER_OK);
  ck_assert_uint_eq(l.n, 0);
  snprintf(path, sizeof(path), "%s/a", f.dir);
  ck_assert(!exists(path));

  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  res_release(&x);
  snprintf(path, sizeof(path), "%s/a/b/c/database/acme_prod.json", f.dir);
  ck_assert(exists(path));
  snprintf(path, sizeof(path), "%s/a/b/c", f.dir);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0700);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

/* A file where stateDir should be cannot pass by itself: invalid, not
 * transient (which would be retried), naming the file. */
START_TEST(file_in_the_way_is_invalid)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  char path[256];
  FILE *fp;

  fx_init(&f);
  snprintf(path, sizeof(path), "%s/a", f.dir);
  fp = fopen(path, "w");
  ck_assert_ptr_nonnull(fp);
  fclose(fp);
  fx_open_under(&f, "a/state");
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, "Not a directory"));
  res_release(&x);
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, path));
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(create_over_unmarked_is_conflict)
{
  static const char hand[] = "{\"spec\": {\"name\": \"acme_prod\"}}\n";
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  char *path, *text;

  fx_init(&f);
  fx_open(&f, NULL);
  put_file(&f, "database", "acme_prod", hand);
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_CONFLICT);
  ck_assert_ptr_nonnull(strstr(x.message, "without a tenantd marker"));
  ck_assert_ptr_nonnull(strstr(x.message, "acme_prod.json"));
  res_release(&x);
  path = state_path(&f, "database", "acme_prod");
  text = slurp(path);
  ck_assert_str_eq(text, hand);
  free(text);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(create_over_other_marker_is_conflict)
{
  struct fx f;
  struct resource *mine = database("acme", "database/acme.prod", "shared");
  struct resource *other = database("globex", "database/globex.prod", "shared");
  struct res x;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, CREATE, other, NULL, &x), PROVIDER_OK);
  res_release(&x);
  ck_assert_int_eq(run_op(&f, CREATE, mine, NULL, &x), PROVIDER_CONFLICT);
  ck_assert_ptr_nonnull(strstr(x.message, "id=database/globex.prod"));
  res_release(&x);
  /* Its own marker: an idempotent re-create. */
  ck_assert_int_eq(run_op(&f, CREATE, other, NULL, &x), PROVIDER_OK);
  res_release(&x);
  ck_assert_int_eq(run_op(&f, READ, mine, NULL, &x), PROVIDER_OK);
  ck_assert_str_eq(json_string_value(json_object_get(x.observed, "marker")),
                   "managed-by=tenantd tenant=globex id=database/globex.prod");
  res_release(&x);
  resource_free(mine);
  resource_free(other);
  fx_release(&f);
}
END_TEST

START_TEST(update_replaces_spec_keeps_marker)
{
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  json_t *spec = json_pack("{s:s, s:s, s:i}", "name", "api-acme", "image",
                           "nginx:2", "port", 9090);
  struct res x;
  const json_t *o;
  char *ip;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  ip = td_strdup(json_string_value(
      json_object_get(json_object_get(x.observed, "outputs"), "ip")));
  res_release(&x);
  ck_assert_int_eq(run_op(&f, UPDATE, r, spec, &x), PROVIDER_OK);
  res_release(&x);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
  ck_assert(json_equal(json_object_get(x.observed, "spec"), spec));
  ck_assert_str_eq(json_string_value(json_object_get(x.observed, "marker")),
                   "managed-by=tenantd tenant=acme id=service/api.acme");
  o = json_object_get(x.observed, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(o, "ip")), ip);
  ck_assert_int_eq(json_integer_value(json_object_get(o, "port")), 9090);
  res_release(&x);
  free(ip);
  json_decref(spec);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(update_remove_unmarked_is_conflict)
{
  static const char hand[] =
      "{\"marker\": \"managed-by=terraform\", \"spec\": {\"port\": 1}}\n";
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  struct res x;
  char *path = NULL, *text;

  fx_init(&f);
  fx_open(&f, NULL);
  put_file(&f, "service", "api-acme", hand);
  path = state_path(&f, "service", "api-acme");
  ck_assert_int_eq(run_op(&f, UPDATE, r, NULL, &x), PROVIDER_CONFLICT);
  res_release(&x);
  text = slurp(path);
  ck_assert_str_eq(text, hand);
  free(text);
  ck_assert_int_eq(run_op(&f, REMOVE, r, NULL, &x), PROVIDER_CONFLICT);
  res_release(&x);
  text = slurp(path);
  ck_assert_str_eq(text, hand);
  free(text);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(update_missing_is_not_found)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, UPDATE, r, NULL, &x), PROVIDER_NOT_FOUND);
  /* An update of what is gone is a failure, and says which file. */
  ck_assert(x.has_message);
  ck_assert_ptr_nonnull(strstr(x.message, "acme_prod.json does not exist"));
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(remove_deletes)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  char *path;

  fx_init(&f);
  fx_open(&f, NULL);
  path = state_path(&f, "database", "acme_prod");
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  res_release(&x);
  ck_assert(exists(path));
  ck_assert_int_eq(run_op(&f, REMOVE, r, NULL, &x), PROVIDER_OK);
  ck_assert_ptr_null(x.observed);
  res_release(&x);
  ck_assert(!exists(path));
  ck_assert_int_eq(run_op(&f, REMOVE, r, NULL, &x), PROVIDER_NOT_FOUND);
  ck_assert(x.has_message);
  res_release(&x);
  /* The type's directory is there, the file is not. */
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_NOT_FOUND);
  ck_assert(!x.has_message);
  res_release(&x);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(list_owned_by_tenant)
{
  struct fx f;
  struct resource *rs[] = {
      service("acme", "service/api.acme", "api-acme", 80),
      database("acme", "database/acme.prod", "acme_prod"),
      service("globex", "service/api.globex", "api-globex", 80),
  };
  struct res x;
  struct list_res l;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_list(&f, "acme", &l), PROVIDER_OK);
  ck_assert_uint_eq(l.n, 0);
  for (size_t i = 0; i < ARRAY_SIZE(rs); i++) {
    ck_assert_int_eq(run_op(&f, CREATE, rs[i], NULL, &x), PROVIDER_OK);
    res_release(&x);
  }
  put_file(&f, "service", "hand-made", "{\"spec\": {}}\n");
  put_file(&f, "service", ".hidden", "not json");
  put_file(&f, "bucket", "acme-old",
           "{\"marker\": \"managed-by=tenantd tenant=acme id=bucket/acme.old\","
           " \"spec\": {}}\n");

  ck_assert_int_eq(run_list(&f, "acme", &l), PROVIDER_OK);
  ck_assert_uint_eq(l.n, 3);
  /* Sorted by type, then name. */
  ck_assert_str_eq(l.ids[0], "database/acme.prod");
  ck_assert_str_eq(l.names[0], "acme_prod");
  ck_assert_int_eq(l.types[0], RTYPE_DATABASE);
  ck_assert_str_eq(l.ids[1], "bucket/acme.old");
  ck_assert_str_eq(l.names[1], "acme-old");
  ck_assert_int_eq(l.types[1], RTYPE_BUCKET);
  ck_assert_str_eq(l.ids[2], "service/api.acme");
  ck_assert_str_eq(l.names[2], "api-acme");
  ck_assert_int_eq(l.types[2], RTYPE_SERVICE);

  ck_assert_int_eq(run_list(&f, "globex", &l), PROVIDER_OK);
  ck_assert_uint_eq(l.n, 1);
  ck_assert_str_eq(l.ids[0], "service/api.globex");
  ck_assert_int_eq(run_list(&f, "initech", &l), PROVIDER_OK);
  ck_assert_uint_eq(l.n, 0);
  for (size_t i = 0; i < ARRAY_SIZE(rs); i++)
    resource_free(rs[i]);
  fx_release(&f);
}
END_TEST

START_TEST(invalid_json_is_invalid)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  struct list_res l;

  fx_init(&f);
  fx_open(&f, NULL);
  put_file(&f, "database", "acme_prod", "{\"spec\": {\"name\": \n");
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, "acme_prod.json"));
  res_release(&x);
  /* Not absent either: create must not overwrite it. */
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_INVALID);
  res_release(&x);
  ck_assert_int_eq(run_list(&f, "acme", &l), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(l.message, "acme_prod.json"));

  put_file(&f, "database", "acme_prod", "[1, 2]\n");
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, "acme_prod.json"));
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(oversized_file_is_invalid)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  char *big = td_malloc(LOCAL_STATE_MAX + 64);

  memset(big, ' ', LOCAL_STATE_MAX + 63);
  big[0] = '{';
  memcpy(big + LOCAL_STATE_MAX + 50, "\"spec\":{}}", 10);
  big[LOCAL_STATE_MAX + 63] = '\0';
  fx_init(&f);
  fx_open(&f, NULL);
  put_file(&f, "database", "acme_prod", big);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, "state file too large"));
  res_release(&x);
  free(big);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(bad_names_are_invalid)
{
  struct fx f;
  struct resource *a = database("acme", "database/a", "../escape");
  struct resource *b = database("acme", "database/b", ".hidden");
  struct res x;

  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_op(&f, CREATE, a, NULL, &x), PROVIDER_INVALID);
  res_release(&x);
  ck_assert_int_eq(run_op(&f, READ, b, NULL, &x), PROVIDER_INVALID);
  res_release(&x);
  resource_free(a);
  resource_free(b);
  fx_release(&f);
}
END_TEST

static void on_wait(uv_timer_t *t)
{
  (void)t;
}

/* Wall-clock milliseconds, as the local provider keeps healthyAt. */
static uint64_t wall_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

START_TEST(service_outputs_and_health)
{
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  struct resource *r2 = service("acme", "service/api2.acme", "api-acme", 8080);
  struct res x;
  const json_t *o;
  char ip[32], address[64];
  unsigned a, b, c, d;
  uint64_t wait_ms;
  uv_timer_t wait;

  fx_init(&f);
  fx_open(&f, "{\"healthDelayMs\": 30}");
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert(json_is_false(json_object_get(o, "healthy")));
  snprintf(ip, sizeof(ip), "%s", json_string_value(json_object_get(o, "ip")));
  ck_assert_int_eq(sscanf(ip, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
  ck_assert_uint_eq(a, 100);
  ck_assert_uint_eq(b, 64);
  ck_assert_uint_le(c, 255);
  ck_assert(d >= 1 && d <= 254);
  snprintf(address, sizeof(address), "%s:8080", ip);
  ck_assert_str_eq(json_string_value(json_object_get(o, "address")), address);
  res_release(&x);

  /* Health is a function of the wall clock: a read that ended before
   * healthyAt must say false, one that began after it true, whatever
   * the machine's load made of the time in between. */
  {
    uint64_t t0 = wall_ms(), t1, at;

    ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
    t1 = wall_ms();
    o = json_object_get(x.observed, "outputs");
    at = (uint64_t)json_integer_value(json_object_get(o, "healthyAt"));
    ck_assert_uint_gt(at, 0);
    if (t1 < at)
      ck_assert(json_is_false(json_object_get(o, "healthy")));
    if (t0 >= at)
      ck_assert(json_is_true(json_object_get(o, "healthy")));
    res_release(&x);
    wait_ms = at > wall_ms() ? at - wall_ms() + 5 : 5;
  }

  uv_timer_init(&f.loop, &wait);
  uv_timer_start(&wait, on_wait, wait_ms, 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&wait, NULL);
  uv_run(&f.loop, UV_RUN_DEFAULT);

  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert(json_is_true(json_object_get(o, "healthy")));
  res_release(&x);

  /* Deterministic: the same name gives the same address, even re-created
   * by another resource after the first is gone. */
  ck_assert_int_eq(run_op(&f, REMOVE, r, NULL, &x), PROVIDER_OK);
  res_release(&x);
  ck_assert_int_eq(run_op(&f, CREATE, r2, NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(o, "ip")), ip);
  res_release(&x);
  resource_free(r);
  resource_free(r2);
  fx_release(&f);
}
END_TEST

/* One address a replica, the first being "address"; a state written
 * before services had "addresses" gets them when read. */
START_TEST(service_addresses_one_a_replica)
{
  struct fx f;
  struct resource *r = resource_new(
      RTYPE_SERVICE, "service/api.acme", "local", "acme", "api-acme",
      json_pack("{s:s, s:i, s:i}", "name", "api-acme", "port", 8080, "replicas",
                3));
  const json_t *o, *addrs;
  json_t *state;
  char *path, *text;
  struct res x;

  fx_init(&f);
  fx_open(&f, "{}");
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_OK);
  o = json_object_get(x.observed, "outputs");
  addrs = json_object_get(o, "addresses");
  ck_assert_uint_eq(json_array_size(addrs), 3);
  ck_assert_str_eq(json_string_value(json_array_get(addrs, 0)),
                   json_string_value(json_object_get(o, "address")));
  ck_assert_str_ne(json_string_value(json_array_get(addrs, 0)),
                   json_string_value(json_array_get(addrs, 1)));
  ck_assert(strstr(json_string_value(json_array_get(addrs, 2)), ":8080"));
  res_release(&x);

  path = state_path(&f, "service", "api-acme");
  text = slurp(path);
  state = json_loads(text, 0, NULL);
  ck_assert_ptr_nonnull(state);
  json_object_del(json_object_get(state, "outputs"), "addresses");
  free(text);
  text = json_dumps(state, JSON_SORT_KEYS | JSON_INDENT(2));
  put_file(&f, "service", "api-acme", text);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_OK);
  ck_assert_uint_eq(json_array_size(json_object_get(
                        json_object_get(x.observed, "outputs"), "addresses")),
                    3);
  res_release(&x);
  json_decref(state);
  free(text);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(service_without_port_is_invalid)
{
  struct fx f;
  struct resource *r =
      resource_new(RTYPE_SERVICE, "service/x", "local", "acme", "x", NULL);
  struct res x;
  char *path;

  fx_init(&f);
  fx_open(&f, NULL);
  path = state_path(&f, "service", "x");
  ck_assert_int_eq(run_op(&f, CREATE, r, NULL, &x), PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(x.message, "port"));
  res_release(&x);
  ck_assert(!exists(path));
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(fault_always_conflict)
{
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  struct res x;
  struct list_res l;
  char dir[512];

  fx_init(&f);
  fx_open(&f, "{\"faultRate\": 1.0, \"faultClass\": \"conflict\"}");
  for (int op = READ; op <= REMOVE; op++) {
    ck_assert_int_eq(run_op(&f, (enum op)op, r, NULL, &x), PROVIDER_CONFLICT);
    ck_assert_str_eq(x.message, "injected conflict fault");
    ck_assert_ptr_null(x.observed);
    res_release(&x);
  }
  ck_assert_int_eq(run_list(&f, "acme", &l), PROVIDER_CONFLICT);
  ck_assert_str_eq(l.message, "injected conflict fault");
  snprintf(dir, sizeof(dir), "%s/service", f.dir);
  ck_assert(!exists(dir));
  resource_free(r);
  fx_release(&f);
}
END_TEST

/* Failures among 200 reads of a missing resource at faultRate 0.3. */
static int count_faults(const char *seed)
{
  struct fx f;
  struct resource *r = database("acme", "database/x", "x");
  struct res *xs = td_calloc(200, sizeof(*xs));
  char opts[128];
  int faults = 0;

  snprintf(opts, sizeof(opts), "{\"faultRate\": 0.3, \"seed\": %s}", seed);
  fx_init(&f);
  fx_open(&f, opts);
  for (int i = 0; i < 200; i++)
    START(provider_read(f.p, r, on_res, &xs[i]));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 200; i++) {
    ck_assert(xs[i].done);
    if (xs[i].status == PROVIDER_TRANSIENT) {
      ck_assert_str_eq(xs[i].message, "injected transient fault");
      faults++;
    } else {
      ck_assert_int_eq(xs[i].status, PROVIDER_NOT_FOUND);
    }
    res_release(&xs[i]);
  }
  free(xs);
  resource_free(r);
  fx_release(&f);
  return faults;
}

START_TEST(fault_rate_is_seeded)
{
  int a = count_faults("7"), b = count_faults("7");

  /* Binomial(200, 0.3): mean 60, sd 6.5. */
  ck_assert_int_ge(a, 30);
  ck_assert_int_le(a, 90);
  ck_assert_int_eq(a, b);
}
END_TEST

START_TEST(latency_delays_callbacks)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct res x;
  uint64_t start;

  fx_init(&f);
  fx_open(&f, "{\"latencyMs\": 20}");
  uv_update_time(&f.loop);
  start = uv_now(&f.loop);
  ck_assert_int_eq(run_op(&f, READ, r, NULL, &x), PROVIDER_NOT_FOUND);
  ck_assert_uint_ge(x.at - start, 18);
  res_release(&x);
  resource_free(r);
  fx_release(&f);
}
END_TEST

START_TEST(open_rejects_bad_config)
{
  static const struct {
    const char *json, *message;
  } cases[] = {
      {"{\"type\": \"local\"}", "local: stateDir is required"},
      {"{\"stateDir\": \"/tmp/x\", \"faultRate\": 2}",
       "local: faultRate must be a number between 0 and 1"},
      {"{\"stateDir\": \"/tmp/x\", \"faultRate\": \"0.5\"}",
       "local: faultRate must be a number between 0 and 1"},
      {"{\"stateDir\": \"/tmp/x\", \"faultClass\": \"weird\"}",
       "local: faultClass must be one of"},
      {"{\"stateDir\": \"/tmp/x\", \"latencyMs\": -1}",
       "local: latencyMs must be an integer"},
      {"{\"stateDir\": \"/tmp/x\", \"latencyMS\": 5}",
       "local: unknown option 'latencyMS'"},
  };
  uv_loop_t loop;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *cfg = json_loads(cases[i].json, 0, NULL);
    struct provider *p = (struct provider *)1;
    char err[512] = "";

    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(provider_open(&p, &local_provider_ops, "local", cfg, &loop,
                                   err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(p);
    ck_assert_msg(strncmp(err, cases[i].message, strlen(cases[i].message)) == 0,
                  "case %zu: got '%s'", i, err);
    json_decref(cfg);
  }
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(registry_finds_local)
{
  ck_assert_ptr_eq(provider_find_type("local"), &local_provider_ops);
  ck_assert_ptr_null(provider_find_type("nope"));
  ck_assert_str_eq(provider_status_name(PROVIDER_OK), "ok");
  ck_assert_str_eq(provider_status_name(PROVIDER_TRANSIENT), "transient");
  ck_assert_str_eq(provider_status_name(PROVIDER_CONFLICT), "conflict");
  ck_assert_str_eq(provider_status_name(PROVIDER_INVALID), "invalid");
  ck_assert_str_eq(provider_status_name(PROVIDER_AUTH), "auth");
  ck_assert_str_eq(provider_status_name(PROVIDER_NOT_FOUND), "not_found");
}
END_TEST

struct close_wait {
  struct res *xs;
  size_t n;
  bool closed;
};

static void on_closed_after_all(struct provider *p, void *arg)
{
  struct close_wait *w = arg;

  (void)p;
  ck_assert(!in_call);
  for (size_t i = 0; i < w->n; i++)
    ck_assert(w->xs[i].done);
  w->closed = true;
}

START_TEST(close_waits_and_refuses)
{
  struct fx f;
  struct resource *r = service("acme", "service/api.acme", "api-acme", 8080);
  struct res xs[9];
  struct close_wait w = {xs, ARRAY_SIZE(xs), false};

  memset(xs, 0, sizeof(xs));
  fx_init(&f);
  fx_open(&f, "{\"latencyMs\": 5}");
  START(provider_create(f.p, r, r->spec, on_res, &xs[0]));
  for (size_t i = 1; i < 6; i++)
    START(provider_read(f.p, r, on_res, &xs[i]));
  START(provider_close(f.p, on_closed_after_all, &w));
  ck_assert(!w.closed);
  /* Started after close: refused, and still waited for. */
  START(provider_read(f.p, r, on_res, &xs[6]));
  START(provider_update(f.p, r, r->spec, on_res, &xs[7]));
  START(provider_remove(f.p, r, on_res, &xs[8]));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert(w.closed);
  ck_assert_int_eq(xs[0].status, PROVIDER_OK);
  for (size_t i = 6; i < 9; i++) {
    ck_assert_int_eq(xs[i].status, PROVIDER_TRANSIENT);
    ck_assert_str_eq(xs[i].message, "provider closing");
  }
  for (size_t i = 0; i < ARRAY_SIZE(xs); i++)
    res_release(&xs[i]);
  f.p = NULL; /* closed above */
  resource_free(r);
  fx_release(&f);
}
END_TEST

struct idle_close {
  struct res x;
  struct list_res l;
  bool closed;
};

static void on_closed_idle(struct provider *p, void *arg)
{
  struct idle_close *w = arg;

  (void)p;
  ck_assert(!in_call);
  ck_assert(w->x.done);
  ck_assert(w->l.done);
  w->closed = true;
}

START_TEST(close_idle_is_deferred)
{
  struct fx f;
  struct resource *r = database("acme", "database/acme.prod", "acme_prod");
  struct idle_close w;

  memset(&w, 0, sizeof(w));
  fx_init(&f);
  fx_open(&f, NULL);
  ck_assert_int_eq(run_list(&f, "acme", &w.l), PROVIDER_OK);
  memset(&w.l, 0, sizeof(w.l));
  /* Nothing in flight: the callback still waits for the loop. */
  START(provider_close(f.p, on_closed_idle, &w));
  ck_assert(!w.closed);
  /* Started before the deferred close ran: answered before it. */
  START(provider_list_owned(f.p, "acme", on_list, &w.l));
  START(provider_read(f.p, r, on_res, &w.x));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert(w.closed);
  ck_assert_int_eq(w.l.status, PROVIDER_TRANSIENT);
  ck_assert_str_eq(w.l.message, "provider closing");
  ck_assert_int_eq(w.x.status, PROVIDER_TRANSIENT);
  ck_assert_str_eq(w.x.message, "provider closing");
  res_release(&w.x);
  f.p = NULL; /* closed above */
  resource_free(r);
  fx_release(&f);
}
END_TEST

Suite *make_suite_local(void)
{
  Suite *s = suite_create("local");
  TCase *tc = tcase_create("local");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, create_read_round_trip);
  tcase_add_test(tc, outputs_by_type);
  tcase_add_test(tc, read_missing_is_not_found);
  tcase_add_test(tc, state_dir_made_with_parents);
  tcase_add_test(tc, file_in_the_way_is_invalid);
  tcase_add_test(tc, create_over_unmarked_is_conflict);
  tcase_add_test(tc, create_over_other_marker_is_conflict);
  tcase_add_test(tc, update_replaces_spec_keeps_marker);
  tcase_add_test(tc, update_remove_unmarked_is_conflict);
  tcase_add_test(tc, update_missing_is_not_found);
  tcase_add_test(tc, remove_deletes);
  tcase_add_test(tc, list_owned_by_tenant);
  tcase_add_test(tc, invalid_json_is_invalid);
  tcase_add_test(tc, oversized_file_is_invalid);
  tcase_add_test(tc, bad_names_are_invalid);
  tcase_add_test(tc, service_outputs_and_health);
  tcase_add_test(tc, service_addresses_one_a_replica);
  tcase_add_test(tc, service_without_port_is_invalid);
  tcase_add_test(tc, fault_always_conflict);
  tcase_add_test(tc, fault_rate_is_seeded);
  tcase_add_test(tc, latency_delays_callbacks);
  tcase_add_test(tc, open_rejects_bad_config);
  tcase_add_test(tc, registry_finds_local);
  tcase_add_test(tc, close_waits_and_refuses);
  tcase_add_test(tc, close_idle_is_deferred);
  suite_add_tcase(s, tc);
  return s;
}
