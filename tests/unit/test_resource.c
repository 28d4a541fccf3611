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

Suite *make_suite_resource(void)
{
  Suite *s = suite_create("resource");
  TCase *tc = tcase_create("resource");

  tcase_add_test(tc, marker_round_trip);
  tcase_add_test(tc, set_sorts_and_finds);
  tcase_add_test(tc, spec_hash_ignores_key_order);
  tcase_add_test(tc, refs);
  suite_add_tcase(s, tc);
  return s;
}
