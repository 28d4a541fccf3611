#include "base/compat.h"

#include "model/resource.h"
#include "suites.h"

START_TEST(marker_round_trip)
{
  char buf[RESOURCE_MARKER_MAX], tenant[64], id[256];

  resource_marker(buf, "acme", "database/acme.prod");
  ck_assert_str_eq(buf, "managed-by=tenantd tenant=acme id=database/acme.prod");
  ck_assert_int_eq(
      resource_marker_parse(buf, tenant, sizeof(tenant), id, sizeof(id)), 0);
  ck_assert_str_eq(tenant, "acme");
  ck_assert_str_eq(id, "database/acme.prod");
  ck_assert_int_eq(resource_marker_parse("managed-by=terraform tenant=a id=b",
                                         tenant, sizeof(tenant), id,
                                         sizeof(id)),
                   -1);
  ck_assert_int_eq(resource_marker_parse("managed-by=tenantd tenant=a", tenant,
                                         sizeof(tenant), id, sizeof(id)),
                   -1);
  ck_assert_int_eq(
      resource_marker_parse(NULL, tenant, sizeof(tenant), id, sizeof(id)), -1);
  ck_assert_int_eq(resource_marker_parse("managed-by=tenantd tenant=a id=b",
                                         tenant, 1, id, sizeof(id)),
                   -1);
  {
    /* Cut where snprintf would cut it. */
    char longid[800], want[RESOURCE_MARKER_MAX];

    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    resource_marker(buf, "acme", longid);
    memcpy(want, "managed-by=tenantd tenant=acme id=", 34);
    memcpy(want + 34, longid, sizeof(want) - 35);
    want[sizeof(want) - 1] = '\0';
    ck_assert_str_eq(buf, want);
  }
}
END_TEST

START_TEST(set_sorts_and_finds)
{
  struct resource_set s = RESOURCE_SET_INIT;
  const char *ids[] = {"service/b", "network/a", "route/c", "bucket/z"};

  for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
    resource_set_add(
        &s, resource_new(RTYPE_NETWORK, ids[i], "local", "t", "n", NULL));
  resource_set_sort(&s);
  ck_assert_str_eq(s.v[0]->id, "bucket/z");
  ck_assert_str_eq(s.v[3]->id, "service/b");
  for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
    ck_assert_str_eq(resource_set_find(&s, ids[i])->id, ids[i]);
  ck_assert_ptr_null(resource_set_find(&s, "network/b"));
  resource_add_dep(s.v[0], "network/a");
  resource_add_dep(s.v[0], "network/a");
  ck_assert_uint_eq(s.v[0]->ndeps, 1);
  resource_set_release(&s);
}
END_TEST

START_TEST(spec_hash_ignores_key_order)
{
  json_t *a = json_pack("{s:i, s:s}", "x", 1, "y", "z");
  json_t *b = json_pack("{s:s, s:i}", "y", "z", "x", 1);
  json_t *c = json_pack("{s:i, s:s}", "x", 2, "y", "z");
  char ha[17], hb[17], hc[17];

  resource_spec_hash(a, ha);
  resource_spec_hash(b, hb);
  resource_spec_hash(c, hc);
  ck_assert_str_eq(ha, hb);
  ck_assert_str_ne(ha, hc);
  ck_assert_uint_eq(strlen(ha), 16);
  json_decref(a);
  json_decref(b);
  json_decref(c);
}
END_TEST

START_TEST(refs)
{
  json_t *r = resource_ref("service/api.prod.acme", "ip");
  const char *id, *out;
  size_t len;

  ck_assert_int_eq(resource_ref_parse(r, &id, &len, &out), 0);
  ck_assert_int_eq(len, strlen("service/api.prod.acme"));
  ck_assert(strncmp(id, "service/api.prod.acme", len) == 0);
  ck_assert_str_eq(out, "ip");
  json_decref(r);
  r = json_pack("{s:s}", "$ref", "nohash");
  ck_assert_int_eq(resource_ref_parse(r, &id, &len, &out), -1);
  json_decref(r);
  r = json_string("x");
  ck_assert_int_eq(resource_ref_parse(r, &id, &len, &out), -1);
  json_decref(r);
  ck_assert(resource_attr_immutable(RTYPE_NETWORK, "cidr"));
  ck_assert(!resource_attr_immutable(RTYPE_SERVICE, "image"));
  ck_assert_int_eq(resource_type_parse("dns_record"), RTYPE_DNS_RECORD);
  ck_assert_int_eq(resource_type_parse("dns"), -1);
}
END_TEST

/* A reference whose text would not fit is cut where snprintf() cuts it. */
START_TEST(long_refs_are_cut_as_before)
{
  char id[700], want[sizeof(id) + 8];

  for (size_t len = 500; len < sizeof(id); len += 3) {
    json_t *r;

    memset(id, 'x', len);
    id[len] = '\0';
    r = resource_ref(id, "host");
    /* The cut: 511 bytes and the NUL. */
    snprintf(want, sizeof(want), "%s#%s", id, "host");
    want[511] = '\0';
    ck_assert_str_eq(json_string_value(json_object_get(r, "$ref")), want);
    json_decref(r);
  }
}
END_TEST

/* The walk writes exactly what json_dumps() writes, so hashes recorded
 * in inventories before it stay the same. */
static void same_as_jansson(const json_t *v)
{
  const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
  char *want = json_dumps(v, flags), *got = resource_canonical_json(v);
  char hw[17], hg[17];

  if (want)
    ck_assert_str_eq(got, want);
  else
    ck_assert_ptr_null(got);
  resource_hash_hex(want ? want : "", want ? strlen(want) : 0, hw);
  resource_spec_hash(v, hg);
  ck_assert_str_eq(hg, hw);
  free(want);
  free(got);
}

/* A random value: keys and strings with escapes, controls, NULs and
 * multi-byte characters; numbers at their limits; nesting. */
static json_t *random_value(uint64_t *rng, int depth)
{
  static const char *const pieces[] = {"a",
                                       "b",
                                       "ab",
                                       "",
                                       "\"",
                                       "\\",
                                       "/",
                                       "\n",
                                       "\x01",
                                       "\x1f",
                                       "\x7f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       " ",
                                       "Z",
                                       "name",
                                       "na"};
  unsigned kind = (unsigned)(td_rand(rng) % (depth > 3 ? 6 : 8));
  char buf[64] = "";

  switch (kind) {
  case 0:
    return json_null();
  case 1:
    return json_boolean(td_rand(rng) & 1);
  case 2: {
    static const json_int_t ints[] = {0, -1, 1, 42, INT64_MAX, INT64_MIN};

    return json_integer(ints[td_rand(rng) % ARRAY_SIZE(ints)]);
  }
  case 3: {
    static const double reals[] = {0.5, -1.25, 1e300, 3.0, 1e-7, 123456789.0};

    return json_real(reals[td_rand(rng) % ARRAY_SIZE(reals)]);
  }
  case 4:
  case 5: {
    size_t n = td_rand(rng) % 5, len;

    for (size_t i = 0; i < n; i++)
      strcat(buf, pieces[td_rand(rng) % ARRAY_SIZE(pieces)]);
    len = strlen(buf);
    /* A NUL inside the string, where jansson allows one. */
    if (kind == 5 && len)
      buf[td_rand(rng) % len] = '\0';
    return json_stringn(buf, len);
  }
  case 6: {
    json_t *a = json_array();
    size_t n = td_rand(rng) % 4;

    for (size_t i = 0; i < n; i++)
      json_array_append_new(a, random_value(rng, depth + 1));
    return a;
  }
  default: {
    json_t *o = json_object();
    size_t n = td_rand(rng) % 20;

    for (size_t i = 0; i < n; i++) {
      buf[0] = '\0';
      for (size_t k = td_rand(rng) % 3 + 1; k > 0; k--)
        strcat(buf, pieces[td_rand(rng) % ARRAY_SIZE(pieces)]);
      json_object_set_new(o, buf, random_value(rng, depth + 1));
    }
    return o;
  }
  }
}

/* Every byte value, anywhere in a run of plain text, is written as
 * jansson writes it: plain text is read eight bytes at a time. */
START_TEST(canonical_json_each_byte_anywhere)
{
  for (unsigned b = 0; b < 256; b++)
    for (size_t at = 0; at < 19; at++) {
      char s[19];
      json_t *v;

      memset(s, 'a', sizeof(s));
      s[at] = (char)b;
      v = json_stringn_nocheck(s, sizeof(s));
      same_as_jansson(v);
      json_decref(v);
    }
}
END_TEST

START_TEST(canonical_json_is_jansson_s)
{
  uint64_t rng = 12345;
  json_t *bad;

  for (int i = 0; i < 3000; i++) {
    json_t *v = random_value(&rng, 0);

    same_as_jansson(v);
    json_decref(v);
  }
  /* Text jansson cannot encode hashes as the empty text, as before. */
  bad = json_pack("{s:o}", "x", json_stringn_nocheck("\xff", 1));
  same_as_jansson(bad);
  json_decref(bad);
  same_as_jansson(NULL);
}
END_TEST

/* A stashed spec comes back equal, as often as it is loaded. */
START_TEST(spec_stashed_as_text)
{
  struct resource *r = resource_new(
      RTYPE_SERVICE, "service/a", "local", "t", "a",
      json_pack("{s:i, s:s, s:b, s:[s], s:f, s:o}", "port", 80, "name",
                "caf\xc3\xa9\n", "ha", 1, "hosts", "x", "ratio", 0.5, "network",
                resource_ref("network/t.prod", "id")));
  json_t *orig = json_deep_copy(r->spec);
  char h1[17], h2[17];

  resource_spec_hash(r->spec, h1);
  resource_spec_stash(r);
  ck_assert_ptr_null(r->spec);
  ck_assert_ptr_nonnull(r->spec_text);
  for (int i = 0; i < 2; i++) {
    ck_assert(json_equal(resource_spec_load(r), orig));
    resource_spec_hash(r->spec, h2);
    ck_assert_str_eq(h1, h2);
    resource_spec_unload(r);
    ck_assert_ptr_null(r->spec);
  }
  json_decref(orig);
  resource_free(r);
  /* Never stashed: load and unload leave it be. */
  r = resource_new(RTYPE_ROUTE, "route/a", "local", "t", "a", NULL);
  ck_assert_ptr_nonnull(resource_spec_load(r));
  resource_spec_unload(r);
  ck_assert_ptr_nonnull(r->spec);
  resource_free(r);
}
END_TEST

/* A pool's strings are interned: equal strings are one copy, whatever
 * order tenants and providers come in; each resource keeps its own. */
START_TEST(pool_interns_names)
{
  struct resource_pool *p = resource_pool_new();
  static const char *const tenants[] = {"acme", "acme", "beta",
                                        "acme", "beta", "gamma"};
  static const char *const providers[] = {"local", "dns",   "dns",
                                          "local", "local", "dns"};
  struct resource *r[ARRAY_SIZE(tenants)];

  for (size_t i = 0; i < ARRAY_SIZE(tenants); i++) {
    char id[32], tenant[16], provider[16];

    /* Copies on the stack: the pool must not keep the caller's. */
    snprintf(id, sizeof(id), "network/n%zu", i);
    snprintf(tenant, sizeof(tenant), "%s", tenants[i]);
    snprintf(provider, sizeof(provider), "%s", providers[i]);
    r[i] = resource_new_in(p, RTYPE_NETWORK, id, provider, tenant, "n", NULL);
  }
  for (size_t i = 0; i < ARRAY_SIZE(tenants); i++) {
    ck_assert_str_eq(r[i]->tenant, tenants[i]);
    ck_assert_str_eq(r[i]->provider, providers[i]);
    for (size_t k = 0; k < i; k++) {
      ck_assert((r[i]->tenant == r[k]->tenant) ==
                (strcmp(tenants[i], tenants[k]) == 0));
      ck_assert((r[i]->provider == r[k]->provider) ==
                (strcmp(providers[i], providers[k]) == 0));
    }
  }
  for (size_t i = 0; i < ARRAY_SIZE(tenants); i++)
    resource_free(r[i]);
  resource_pool_free(p);
}
END_TEST

/* Thousands of ids of every length: each interned once, as the set grows. */
START_TEST(pool_interns_many_ids)
{
  struct resource_pool *p = resource_pool_new();
  enum { N = 3000 };
  struct resource **r = td_calloc(N, sizeof(*r));

  for (size_t i = 0; i < N; i++) {
    char id[64];

    snprintf(id, sizeof(id), "service/%.*s%zu", (int)(i % 40),
             "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", i % 1000);
    r[i] = resource_new_in(p, RTYPE_SERVICE, id, "local", "t", "n", NULL);
    ck_assert_str_eq(r[i]->id, id);
  }
  for (size_t i = 0; i < N; i++)
    for (size_t k = i % 1000; k < N; k += 1000)
      ck_assert((r[i]->id == r[k]->id) == (strcmp(r[i]->id, r[k]->id) == 0));
  for (size_t i = 0; i < N; i++)
    resource_free(r[i]);
  free(r);
  resource_pool_free(p);
}
END_TEST

Suite *make_suite_resource(void)
{
  Suite *s = suite_create("resource");
  TCase *tc = tcase_create("resource");

  tcase_add_test(tc, marker_round_trip);
  tcase_add_test(tc, pool_interns_names);
  tcase_add_test(tc, set_sorts_and_finds);
  tcase_add_test(tc, spec_hash_ignores_key_order);
  tcase_add_test(tc, refs);
  tcase_add_test(tc, canonical_json_is_jansson_s);
  tcase_add_test(tc, canonical_json_each_byte_anywhere);
  tcase_add_test(tc, long_refs_are_cut_as_before);
  tcase_add_test(tc, pool_interns_many_ids);
  tcase_add_test(tc, spec_stashed_as_text);
  suite_add_tcase(s, tc);
  return s;
}
