/*
 * What tenants cost: the catalog's prices (manifest/price.c), the tier and
 * cost a status records, and the cost line of every plan format.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"
#include "engine/status.h"
#include "manifest/manifest.h"
#include "suites.h"

#define CATALOG_HEAD                                                    \
  "apiVersion: tenantd.io/v1\nkind: TierCatalog\nmetadata: {name: c}\n" \
  "spec:\n"
#define TIERS                                                               \
  "  tiers:\n"                                                              \
  "    small: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"    \
  "            maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n" \
  "            monthlyPrice: 9.99}\n"                                       \
  "    big: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"      \
  "          maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"   \
  "          monthlyPrice: 399}\n"                                          \
  "    free: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"     \
  "           maxUsers: 1, backup: {schedule: daily, retentionDays: 1}}\n"

#define TENANT(tier)                                                  \
  "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: acme}\n" \
  "spec:\n  tier: " tier "\n  environments:\n"                        \
  "    - {name: prod, network: {cidr: 10.1.0.0/16}}\n"                \
  "    - {name: stage, network: {cidr: 10.2.0.0/16}}\n"               \
  "    - {name: dev, network: {cidr: 10.3.0.0/16}}\n"

#define PLATFORM                                                     \
  "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: p}\n" \
  "spec: {domains: {public: example.com}}\n"

/* A repository of the platform, a catalog with `spec_extra` before its
 * tiers, and tenant acme of `tier`. */
static struct manifest_repo *load(const char *spec_extra, const char *tenant)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char *catalog = td_asprintf(CATALOG_HEAD "%s" TIERS, spec_extra);

  manifest_files_add(&files, "platform.yaml", PLATFORM, strlen(PLATFORM));
  manifest_files_add(&files, "tiers.yaml", catalog, strlen(catalog));
  manifest_files_add(&files, "tenants/acme.yaml", tenant, strlen(tenant));
  manifest_repo_load(&repo, &files, NULL);
  manifest_files_release(&files);
  free(catalog);
  return repo;
}

static int64_t monthly(const struct manifest_repo *repo)
{
  int64_t cents = -1;

  ck_assert_int_eq(repo->diags.n, 0);
  ck_assert_int_eq(manifest_tenant_monthly(repo->catalog->u.catalog,
                                           repo->tenants[0]->u.tenant, &cents),
                   0);
  return cents;
}

/* Prices are cents: 9.99 stays 999, and sums are exact. */
START_TEST(money_reads_and_writes_cents)
{
  char buf[MANIFEST_MONEY_TEXT_MAX];
  int64_t c;

  manifest_money_text(14900, buf);
  ck_assert_str_eq(buf, "149");
  manifest_money_text(999, buf);
  ck_assert_str_eq(buf, "9.99");
  manifest_money_text(-25050, buf);
  ck_assert_str_eq(buf, "-250.50");
  manifest_money_text(5, buf);
  ck_assert_str_eq(buf, "0.05");
  ck_assert_int_eq(manifest_money_parse("149", &c), 0);
  ck_assert_int_eq(c, 14900);
  ck_assert_int_eq(manifest_money_parse("9.9", &c), 0);
  ck_assert_int_eq(c, 990);
  ck_assert_int_eq(manifest_money_parse("-250.50", &c), 0);
  ck_assert_int_eq(c, -25050);
  ck_assert_int_eq(manifest_money_parse("", &c), TD_EINVALID);
  ck_assert_int_eq(manifest_money_parse("1.", &c), TD_EINVALID);
  ck_assert_int_eq(manifest_money_parse("1.999", &c), TD_EINVALID);
  ck_assert_int_eq(manifest_money_parse("12abc", &c), TD_EINVALID);
  ck_assert_int_eq(manifest_money_parse("99999999999999999999", &c),
                   TD_EINVALID);
}
END_TEST

/* By default a tenant costs its tier's price; priceBasis: environment
 * multiplies it by the tenant's environments. */
START_TEST(tenant_cost_by_price_basis)
{
  struct manifest_repo *repo = load("", TENANT("big"));

  ck_assert_int_eq(monthly(repo), 39900);
  ck_assert_str_eq(manifest_catalog_currency(repo->catalog->u.catalog), "USD");
  manifest_repo_free(repo);

  repo = load("  priceBasis: environment\n  currency: EUR\n", TENANT("small"));
  ck_assert_int_eq(monthly(repo), 3 * 999);
  ck_assert_str_eq(manifest_catalog_currency(repo->catalog->u.catalog), "EUR");
  manifest_repo_free(repo);
}
END_TEST

/* A tier without a price has no cost (not a cost of 0). */
START_TEST(tier_without_price_is_unknown)
{
  struct manifest_repo *repo = load("", TENANT("free"));
  int64_t cents = 7;

  ck_assert_int_eq(repo->diags.n, 0);
  ck_assert_int_eq(manifest_tenant_monthly(repo->catalog->u.catalog,
                                           repo->tenants[0]->u.tenant, &cents),
                   TD_ENOTFOUND);
  ck_assert_int_eq(cents, 0);
  manifest_repo_free(repo);
}
END_TEST

/* A currency that is no ISO code and an unknown basis are refused at
 * their place in the file. */
START_TEST(catalog_price_fields_are_checked)
{
  struct manifest_repo *repo =
      load("  currency: dollars\n  priceBasis: seat\n", TENANT("big"));
  char *text = test_diags_text(&repo->diags);

  ck_assert_msg(strstr(text, "tiers.yaml:5:13: error: 'currency' must be an "
                             "ISO 4217 code"),
                "%s", text);
  ck_assert_msg(strstr(text, "tiers.yaml:6:15: error:"), "%s", text);
  ck_assert_msg(strstr(text, "tenant, environment"), "%s", text);
  free(text);
  manifest_repo_free(repo);
}
END_TEST

/* The status records the tier and its cost, reads them back, and a status
 * from before (no tier) keeps its text. */
START_TEST(status_records_tier_and_cost)
{
  struct tenant_status *st = tenant_status_new("acme"), *back = NULL;
  char *text = tenant_status_format(st), *again;

  ck_assert_ptr_null(strstr(text, "tier:"));
  free(text);
  st->tier = td_strdup("small");
  st->has_cost = true;
  st->monthly_cost = 999;
  text = tenant_status_format(st);
  ck_assert_msg(strstr(text, "\ntier: small\nmonthlyCost: 9.99\n"), "%s", text);
  ck_assert_int_eq(tenant_status_parse(text, strlen(text), &back), 0);
  ck_assert_str_eq(back->tier, "small");
  ck_assert(back->has_cost);
  ck_assert_int_eq(back->monthly_cost, 999);
  again = tenant_status_format(back);
  ck_assert_str_eq(again, text);
  free(again);
  free(text);
  tenant_status_free(back);

  /* A tier without a price: no monthlyCost line. */
  st->has_cost = false;
  text = tenant_status_format(st);
  ck_assert_ptr_null(strstr(text, "monthlyCost"));
  ck_assert_int_eq(tenant_status_parse(text, strlen(text), &back), 0);
  ck_assert(!back->has_cost);
  free(text);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

START_TEST(status_refuses_a_bad_cost)
{
  static const char text[] = "apiVersion: tenantd.io/v1\nkind: TenantStatus\n"
                             "tenant: acme\ntier: big\nmonthlyCost: lots\n"
                             "conditions: []\ninventory: []\n";
  struct tenant_status *st = NULL;

  ck_assert_int_lt(tenant_status_parse(text, strlen(text), &st), 0);
  ck_assert_ptr_null(st);
}
END_TEST

/* ---- plans ---- */

static struct tenant_plan *costed(const char *tenant, const char *from_tier,
                                  int64_t from, const char *to_tier, int64_t to)
{
  struct resource_set none = RESOURCE_SET_INIT;
  struct plan_input in = {0};
  struct tenant_plan *tp;

  in.tenant = tenant;
  in.desired = &none;
  in.stall_after = 3;
  tp = plan_tenant(&in);
  tp->cost.from_known = tp->cost.to_known = true;
  tp->cost.is_new = !from_tier;
  tp->cost.removed = !to_tier;
  tp->cost.from = from;
  tp->cost.to = to;
  tp->cost.from_tier = from_tier ? td_strdup(from_tier) : NULL;
  tp->cost.to_tier = to_tier ? td_strdup(to_tier) : NULL;
  return tp;
}

static char *printed;
static size_t printed_len;

static char *print(enum plan_format fmt)
{
  struct tenant_plan *plans[4];
  struct plan_print_opts po = PLAN_PRINT_OPTS_INIT;
  struct plan_report rep = {.max_percent = 10, .currency = "USD"};
  FILE *out = open_memstream(&printed, &printed_len);
  char *text;

  plans[0] = costed("a-up", "standard", 14900, "premium", 39900);
  plans[1] = costed("b-new", NULL, 0, "basic", 4900);
  plans[2] = costed("c-gone", "basic", 4900, NULL, 0);
  plans[3] = costed("d-same", "basic", 4900, "basic", 4900);
  po.format = fmt;
  plan_print(plans, 4, &po, &rep, out);
  fclose(out);
  for (size_t i = 0; i < 4; i++)
    tenant_plan_free(plans[i]);
  text = printed;
  printed = NULL;
  return text;
}

START_TEST(plan_text_says_each_change_of_cost)
{
  char *text = print(PLAN_TEXT);

  ck_assert_msg(strstr(text, "tenant a-up: 0 to create, 0 to update, 0 to "
                             "replace, 0 to delete\n"
                             "  cost +250/month: standard \xe2\x86\x92 "
                             "premium\n"),
                "%s", text);
  ck_assert_msg(strstr(text, "  cost +49/month: new tenant, basic\n"), "%s",
                text);
  ck_assert_msg(strstr(text, "  cost -49/month: basic, tenant removed\n"), "%s",
                text);
  ck_assert_msg(!strstr(text, "tenant d-same: 0 to create, 0 to update, 0 "
                              "to replace, 0 to delete\n  cost"),
                "%s", text);
  ck_assert_msg(strstr(text, "\nmonthly cost +250 USD\n"), "%s", text);
  free(text);
}
END_TEST

START_TEST(plan_markdown_lists_tenants_whose_cost_changes)
{
  char *text = print(PLAN_MARKDOWN);

  ck_assert_msg(strstr(text, "Monthly cost: **+250 USD**."), "%s", text);
  ck_assert_msg(strstr(text, "### a-up: nothing to change; **+250/month: "
                             "standard \xe2\x86\x92 premium**\n"),
                "%s", text);
  ck_assert_msg(!strstr(text, "### d-same"), "%s", text);
  free(text);
}
END_TEST

START_TEST(plan_json_gives_each_cost)
{
  char *text = print(PLAN_JSON);
  json_t *root = json_loads(text, 0, NULL), *t0, *t3;

  ck_assert_ptr_nonnull(root);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(root, "cost"), "currency")),
                   "USD");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(root, "cost"), "monthlyChange")),
                   250);
  t0 = json_array_get(json_object_get(root, "tenants"), 0);
  t3 = json_array_get(json_object_get(root, "tenants"), 3);
  ck_assert_int_eq(
      json_integer_value(json_object_get(json_object_get(t0, "cost"), "to")),
      399);
  ck_assert_str_eq(
      json_string_value(json_object_get(json_object_get(t0, "cost"), "text")),
      "+250/month: standard \xe2\x86\x92 premium");
  ck_assert_int_eq(json_integer_value(
                       json_object_get(json_object_get(t3, "cost"), "change")),
                   0);
  ck_assert(json_is_null(json_object_get(json_object_get(t3, "cost"), "text")));
  json_decref(root);
  free(text);
}
END_TEST

Suite *make_suite_costs(void)
{
  Suite *s = suite_create("costs");
  TCase *tc = tcase_create("costs");

  tcase_add_test(tc, money_reads_and_writes_cents);
  tcase_add_test(tc, tenant_cost_by_price_basis);
  tcase_add_test(tc, tier_without_price_is_unknown);
  tcase_add_test(tc, catalog_price_fields_are_checked);
  tcase_add_test(tc, status_records_tier_and_cost);
  tcase_add_test(tc, status_refuses_a_bad_cost);
  tcase_add_test(tc, plan_text_says_each_change_of_cost);
  tcase_add_test(tc, plan_markdown_lists_tenants_whose_cost_changes);
  tcase_add_test(tc, plan_json_gives_each_cost);
  suite_add_tcase(s, tc);
  return s;
}
