#include "base/compat.h"

#include "engine/diff.h"
#include "suites.h"

static json_t *world;

static const json_t *lookup(const char *id, size_t idlen, void *arg)
{
  char buf[256];

  (void)arg;
  snprintf(buf, sizeof(buf), "%.*s", (int)idlen, id);
  return json_object_get(json_object_get(world, buf), "outputs");
}

START_TEST(resolves_refs_and_marks_unknown)
{
  json_t *spec =
      json_pack("{s:o, s:[o], s:s}", "target", resource_ref("service/a", "ip"),
                "list", resource_ref("service/b", "ip"), "plain", "x");
  json_t *out;
  bool unknown;

  world =
      json_pack("{s:{s:{s:s}}}", "service/a", "outputs", "ip", "100.64.1.2");
  out = diff_resolve(spec, lookup, NULL, &unknown);
  ck_assert(unknown); /* service/b does not exist yet */
  ck_assert_str_eq(json_string_value(json_object_get(out, "target")),
                   "100.64.1.2");
  ck_assert(json_is_null(json_array_get(json_object_get(out, "list"), 0)));
  ck_assert_str_eq(json_string_value(json_object_get(out, "plain")), "x");
  json_decref(out);
  json_object_set_new(world, "service/b",
                      json_pack("{s:{s:s}}", "outputs", "ip", "100.64.1.3"));
  out = diff_resolve(spec, lookup, NULL, &unknown);
  ck_assert(!unknown);
  json_decref(out);
  json_decref(spec);
  json_decref(world);
}
END_TEST

/* A resolved spec shares what holds no reference and copies the rest,
 * members in their order, however deep the reference and wherever it
 * sits among its siblings. */
START_TEST(resolve_copies_only_the_way_to_a_reference)
{
  json_t *spec = json_pack(
      "{s:{s:s, s:o, s:n, s:[i, o, s]}, s:{s:s}, s:[s, s], s:n, s:o}", "env",
      "A", "1", "HOST", resource_ref("database/d", "host"), "NONE", "LIST", 1,
      resource_ref("database/d", "port"), "z", "plain", "k", "v", "hosts", "a",
      "b", "empty", "last", resource_ref("database/d", "host"));
  json_t *want = json_pack(
      "{s:{s:s, s:s, s:n, s:[i, i, s]}, s:{s:s}, s:[s, s], s:n, s:s}", "env",
      "A", "1", "HOST", "10.0.0.9", "NONE", "LIST", 1, 5432, "z", "plain", "k",
      "v", "hosts", "a", "b", "empty", "last", "10.0.0.9");
  json_t *out, *env;
  const char *key;
  json_t *v;
  const char *order[] = {"A", "HOST", "NONE", "LIST"};
  size_t i = 0;
  bool unknown;

  world = json_pack("{s:{s:{s:s, s:i}}}", "database/d", "outputs", "host",
                    "10.0.0.9", "port", 5432);
  out = diff_resolve(spec, lookup, NULL, &unknown);
  ck_assert(!unknown);
  ck_assert(json_equal(out, want));
  ck_assert_ptr_ne(out, spec);
  ck_assert_ptr_eq(json_object_get(out, "plain"),
                   json_object_get(spec, "plain"));
  ck_assert_ptr_eq(json_object_get(out, "hosts"),
                   json_object_get(spec, "hosts"));
  env = json_object_get(out, "env");
  ck_assert_ptr_ne(env, json_object_get(spec, "env"));
  ck_assert_ptr_eq(json_object_get(env, "A"),
                   json_object_get(json_object_get(spec, "env"), "A"));
  json_object_foreach(env, key, v)
  {
    (void)v;
    ck_assert_str_eq(key, order[i++]);
  }
  json_decref(out);
  /* Without a reference, the spec itself. */
  out = diff_resolve(json_object_get(spec, "plain"), lookup, NULL, &unknown);
  ck_assert_ptr_eq(out, json_object_get(spec, "plain"));
  json_decref(out);
  json_decref(want);
  json_decref(spec);
  json_decref(world);
}
END_TEST

START_TEST(compares_only_managed_attributes_sorted)
{
  json_t *want = json_pack("{s:s, s:i, s:b}", "name", "n", "ttl", 300, "z", 1);
  json_t *have =
      json_pack("{s:s, s:i, s:s}", "name", "m", "ttl", 300, "extra", "ignored");
  struct diff_result d;
  char *text;

  diff_specs(RTYPE_DNS_RECORD, want, have, &d);
  ck_assert_uint_eq(d.n, 2);
  ck_assert_str_eq(d.v[0].attr, "name");
  ck_assert(d.v[0].immutable);
  ck_assert(d.replace);
  ck_assert_str_eq(d.v[1].attr, "z");
  ck_assert_ptr_null(d.v[1].observed);
  text = diff_value_text(d.v[1].observed);
  ck_assert_str_eq(text, "(none)");
  free(text);
  text = diff_value_text(d.v[0].observed);
  ck_assert_str_eq(text, "m");
  free(text);
  diff_result_release(&d);
  diff_specs(RTYPE_DNS_RECORD, want, want, &d);
  ck_assert_uint_eq(d.n, 0);
  ck_assert(!d.replace);
  diff_result_release(&d);
  json_decref(want);
  json_decref(have);
}
END_TEST

Suite *make_suite_diff(void)
{
  Suite *s = suite_create("diff");
  TCase *tc = tcase_create("diff");

  tcase_add_test(tc, resolves_refs_and_marks_unknown);
  tcase_add_test(tc, resolve_copies_only_the_way_to_a_reference);
  tcase_add_test(tc, compares_only_managed_attributes_sorted);
  suite_add_tcase(s, tc);
  return s;
}
