/*
 * Plans as people and programs read them: the structure of each format
 * (text, Markdown for pull requests, JSON), Markdown's parts, and a
 * generated repository of 300 tenants planned end to end through the fake
 * provider.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"
#include "engine/reconcile.h"
#include "fake_provider.h"
#include "suites.h"

#define HEAD "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define BASE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static json_t *observed_map;

static const json_t *observed(const char *id, void *arg)
{
  (void)arg;
  return json_object_get(observed_map, id);
}

/* What a provider would hold for id, marked as tenantd's; spec stolen. */
static void observe_as(const char *id, const char *tenant, json_t *spec)
{
  char marker[RESOURCE_MARKER_MAX];

  resource_marker(marker, tenant, id);
  json_object_set_new(
      observed_map, id,
      json_pack("{s:o, s:{}, s:s}", "spec", spec, "outputs", "marker", marker));
}

static struct resource *network(const char *tenant, int i)
{
  char id[128], name[128], cidr[32];

  snprintf(id, sizeof(id), "network/n%d.%s", i, tenant);
  snprintf(name, sizeof(name), "%s-n%d", tenant, i);
  snprintf(cidr, sizeof(cidr), "10.%d.0.0/16", i % 256);
  return resource_new(
      RTYPE_NETWORK, id, "local", tenant, name,
      json_pack("{s:s, s:s, s:s}", "name", name, "cidr", cidr, "region", "eu"));
}

static struct resource *database(const char *tenant, int limit)
{
  char id[128], name[128];

  snprintf(id, sizeof(id), "database/%s.prod", tenant);
  snprintf(name, sizeof(name), "%s_prod", tenant);
  return resource_new(RTYPE_DATABASE, id, "local", tenant, name,
                      json_pack("{s:s, s:i, s:s}", "name", name,
                                "connection_limit", limit, "admin_password",
                                "hunter2"));
}

/* A tenant's plan: `desired` taken over, `last` borrowed (may be NULL). */
static struct tenant_plan *plan_of(const char *tenant,
                                   struct resource_set *desired,
                                   const struct tenant_status *last)
{
  struct plan_input in = {0};
  struct tenant_plan *tp;

  resource_set_sort(desired);
  in.tenant = tenant;
  in.desired = desired;
  in.last = last;
  in.observed = observed;
  in.stall_after = 3;
  tp = plan_tenant(&in);
  resource_set_release(desired);
  return tp;
}

/* `creates` new networks for tenant. */
static struct tenant_plan *creating(const char *tenant, int creates)
{
  struct resource_set set = RESOURCE_SET_INIT;

  for (int i = 0; i < creates; i++)
    resource_set_add(&set, network(tenant, i));
  return plan_of(tenant, &set, NULL);
}

/* The database's connection limit goes from 50 to 200. */
static struct tenant_plan *updating(const char *tenant)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct resource *db = database(tenant, 200);
  struct tenant_status *st = tenant_status_new(tenant);
  json_t *was = json_deep_copy(db->spec);
  struct tenant_plan *tp;
  char hash[17];

  json_object_set_new(was, "connection_limit", json_integer(50));
  resource_spec_hash(was, hash);
  tenant_status_inventory_put(st, db->id, "database", "local", db->name, hash);
  observe_as(db->id, tenant, was);
  resource_set_add(&set, db);
  tp = plan_of(tenant, &set, st);
  tenant_status_free(st);
  return tp;
}

/* Converged: the database as desired, in the inventory. */
static struct tenant_plan *unchanged(const char *tenant)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct resource *db = database(tenant, 200);
  struct tenant_status *st = tenant_status_new(tenant);
  struct tenant_plan *tp;
  char hash[17];

  resource_spec_hash(db->spec, hash);
  tenant_status_inventory_put(st, db->id, "database", "local", db->name, hash);
  observe_as(db->id, tenant, json_deep_copy(db->spec));
  resource_set_add(&set, db);
  tp = plan_of(tenant, &set, st);
  tenant_status_free(st);
  return tp;
}

/* A route it no longer wants: deleted. */
static struct tenant_plan *deleting(const char *tenant)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new(tenant);
  json_t *spec = json_pack("{s:s}", "upstream", "10.0.0.1:80");
  struct tenant_plan *tp;
  char id[128], hash[17];

  snprintf(id, sizeof(id), "route/web.prod.%s", tenant);
  resource_spec_hash(spec, hash);
  tenant_status_inventory_put(st, id, "route", "local", "r", hash);
  observe_as(id, tenant, spec);
  tp = plan_of(tenant, &set, st);
  tenant_status_free(st);
  return tp;
}

/* What open_memstream fills: outside any function, so that no pointer
 * into a caller's frame seems to escape. */
static char *printed;
static size_t printed_len;

/* Prints plans (freed here) into a string the caller frees. */
static char *print(struct tenant_plan **plans, size_t n, enum plan_format fmt,
                   size_t max, const struct plan_report *rep)
{
  struct plan_print_opts po = PLAN_PRINT_OPTS_INIT;
  struct plan_report none = {.max_percent = 10};
  FILE *out = open_memstream(&printed, &printed_len);
  char *text;

  po.format = fmt;
  po.max_bytes = max;
  plan_print(plans, n, &po, rep ? rep : &none, out);
  fclose(out);
  for (size_t i = 0; i < n; i++)
    tenant_plan_free(plans[i]);
  text = printed;
  printed = NULL;
  return text;
}

static size_t count(const char *haystack, const char *needle)
{
  size_t n = 0, at = 0;
  const char *hit;

  while ((hit = strstr(haystack + at, needle)) != NULL) {
    n++;
    at = (size_t)(hit - haystack) + 1;
  }
  return n;
}

/* The parts of a Markdown plan, split before each part's marker line. */
struct parts {
  char *v[64];
  size_t n;
};

static void split(const char *text, struct parts *p)
{
  const char *at = text;

  p->n = 0;
  if (strncmp(text, "<!-- tenantd plan part ", 23) != 0) {
    p->v[p->n++] = td_strdup(text);
    return;
  }
  while (at && *at) {
    const char *next = strstr(at + 1, "\n<!-- tenantd plan part ");

    ck_assert_uint_lt(p->n, ARRAY_SIZE(p->v));
    p->v[p->n++] =
        next ? td_strndup(at, (size_t)(next + 1 - at)) : td_strdup(at);
    at = next ? next + 1 : NULL;
  }
}

static void parts_release(struct parts *p)
{
  for (size_t i = 0; i < p->n; i++)
    free(p->v[i]);
  p->n = 0;
}

static void setup(void)
{
  observed_map = json_object();
}

static void teardown(void)
{
  json_decref(observed_map);
}

/* ---- each format's structure ---- */

START_TEST(text_shows_a_create_with_its_attributes)
{
  struct tenant_plan *plans[] = {creating("acme", 1), updating("beta")};
  char *text = print(plans, 2, PLAN_TEXT, 0, NULL);

  ck_assert_ptr_nonnull(strstr(text, "tenant acme: 1 to create, 0 to update"));
  ck_assert_ptr_nonnull(strstr(text, "\n  +   network/n0.acme\n"
                                     "        + cidr: 10.0.0.0/16\n"
                                     "        + name: acme-n0\n"
                                     "        + region: eu\n"));
  ck_assert_ptr_nonnull(strstr(text,
                               "\n  ~   database/beta.prod\n"
                               "        ~ connection_limit: 50 -> 200\n"));
  ck_assert_ptr_nonnull(strstr(text, "\n2 changes pending\n"));
  free(text);
}
END_TEST

START_TEST(secrets_never_printed)
{
  enum plan_format fmts[] = {PLAN_TEXT, PLAN_MARKDOWN, PLAN_JSON};
  struct resource_set set = RESOURCE_SET_INIT;

  ck_assert(plan_attr_sensitive("admin_password"));
  ck_assert(plan_attr_sensitive("apiToken"));
  ck_assert(plan_attr_sensitive("client_secret"));
  ck_assert(!plan_attr_sensitive("connection_limit"));
  ck_assert(plan_attr_sensitive("X_API-KEY"));
  ck_assert(plan_attr_sensitive("PrivateKey"));
  ck_assert(!plan_attr_sensitive("tok"));
  {
    char longname[300];

    memset(longname, 'a', sizeof(longname));
    longname[sizeof(longname) - 1] = '\0';
    ck_assert(!plan_attr_sensitive(longname));
    memcpy(longname + 200, "PASSWD", 6);
    ck_assert(plan_attr_sensitive(longname));
  }
  for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
    struct tenant_plan *plans[2];
    char *text;

    resource_set_add(&set, database("acme", 100));
    plans[0] = plan_of("acme", &set, NULL); /* a create */
    plans[1] = updating("beta");
    text = print(plans, 2, fmts[i], 0, NULL);
    ck_assert_msg(!strstr(text, "hunter2"), "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "(sensitive)"));
    free(text);
  }
}
END_TEST

START_TEST(json_lists_a_create_from_null)
{
  struct tenant_plan *plans[] = {creating("acme", 1), unchanged("beta")};
  struct plan_report rep = {
      .max_percent = 10,
      .repository = "https://user:s3cret@git.example.com/ops/t.git?x=1#f",
      .base = BASE,
      .head = HEAD,
  };
  char *text = print(plans, 2, PLAN_JSON, 0, &rep);
  json_error_t jerr;
  json_t *root = json_loads(text, 0, &jerr);
  json_t *acme, *action, *changes, *cidr;

  ck_assert_msg(root != NULL, "%s", jerr.text);
  ck_assert_ptr_null(strstr(text, "s3cret"));
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(root, "source"), "repository")),
                   "https://git.example.com/ops/t.git");
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(root, "source"), "head")),
                   HEAD);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(root, "summary"), "create")),
                   1);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(root, "summary"), "withChanges")),
                   1);
  acme = json_array_get(json_object_get(root, "tenants"), 0);
  action = json_array_get(json_object_get(acme, "actions"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(action, "action")),
                   "create");
  changes = json_object_get(action, "changes");
  ck_assert_uint_eq(json_array_size(changes), 3);
  cidr = json_array_get(changes, 0);
  ck_assert_str_eq(json_string_value(json_object_get(cidr, "attr")), "cidr");
  ck_assert(json_is_null(json_object_get(cidr, "from")));
  ck_assert_str_eq(json_string_value(json_object_get(cidr, "to")),
                   "10.0.0.0/16");
  ck_assert(json_is_false(json_object_get(cidr, "forcesReplace")));
  /* A converged tenant lists no action. */
  ck_assert_uint_eq(
      json_array_size(json_object_get(
          json_array_get(json_object_get(root, "tenants"), 1), "actions")),
      0);
  json_decref(root);
  free(text);
}
END_TEST

START_TEST(markdown_header_totals_and_changed_tenants_only)
{
  struct tenant_plan *plans[] = {updating("alpha"), unchanged("beta"),
                                 deleting("gamma"), creating("delta", 1)};
  struct plan_report rep = {
      .max_percent = 10,
      .deletes = 1,
      .managed = 3,
      .repository = "https://user:s3cret@git.example.com/ops/t.git",
      .base = BASE,
      .head = HEAD,
  };
  static const char header[] =
      "## tenantd plan\n\n"
      "Repository `https://git.example.com/ops/t.git`, "
      "`aaaaaaaaaaaa`..`bbbbbbbbbbbb`\n\n"
      "| Tenants | With changes | Create | Update | Replace | Delete | Drift "
      "|\n"
      "|---:|---:|---:|---:|---:|---:|---:|\n"
      "| 4 | 3 | 1 | 1 | 0 | **1** | 0 |\n\n"
      "1 tenant without changes is not listed.\n\n";
  char *text = print(plans, 4, PLAN_MARKDOWN, 0, &rep);

  ck_assert_msg(strncmp(text, header, strlen(header)) == 0, "%s", text);
  ck_assert_ptr_null(strstr(text, "s3cret"));
  ck_assert_ptr_null(strstr(text, "<!-- tenantd plan part"));
  ck_assert_ptr_null(strstr(text, "beta"));
  ck_assert_ptr_null(strstr(text, "(no changes)"));
  ck_assert_ptr_nonnull(strstr(text, "> Deletes 1 of 3 managed resources"));
  /* An update: the resource, then each attribute as - old / + new. */
  ck_assert_ptr_nonnull(strstr(text, "### alpha: 1 to update\n\n"
                                     "```diff\n"
                                     "! update   database/alpha.prod\n"
                                     "-     connection_limit: 50\n"
                                     "+     connection_limit: 200\n"
                                     "```\n"));
  ck_assert_ptr_nonnull(strstr(text, "### gamma: **1 to delete**\n\n"
                                     "```diff\n"
                                     "- delete   route/web.prod.gamma   <-- "
                                     "DELETE\n```\n"));
  ck_assert_ptr_nonnull(strstr(text, "### delta: 1 to create\n\n"
                                     "```diff\n"
                                     "+ create   network/n0.delta\n"
                                     "+     cidr: 10.0.0.0/16\n"));
  ck_assert_msg(strcmp(text + strlen(text) - 20, "\n3 changes pending.\n") == 0,
                "%s", text);
  free(text);
}
END_TEST

/* A plan whose update needs an approver, in every format. */
START_TEST(needs_approval_in_every_format)
{
  struct plan_report rep = {
      .max_percent = 10,
      .signature = "signed by alice@example.com (SHA256:abc)",
      .approvers = "carol@example.com",
  };
  struct tenant_plan *tp;
  char *text;

  tp = updating("alpha");
  tp->v[0].needs_approval = true;
  tp->awaiting = 1;
  text = print(&tp, 1, PLAN_TEXT, 0, &rep);
  ck_assert_msg(strstr(text, "head commit: signed by alice@example.com "
                             "(SHA256:abc)\n"),
                "%s", text);
  ck_assert_msg(strstr(text, "database/alpha.prod   (needs approval)\n"), "%s",
                text);
  ck_assert_msg(strstr(text, "1 needs approval by one of: carol@example.com"),
                "%s", text);
  free(text);

  tp = updating("alpha");
  tp->v[0].needs_approval = true;
  tp->awaiting = 1;
  text = print(&tp, 1, PLAN_MARKDOWN, 0, &rep);
  ck_assert_msg(strstr(text, "Head commit: signed by alice@example.com "
                             "(SHA256:abc).\n\n"
                             "**1 change needs approval** (gated "
                             "environments) by one of: carol@example.com."),
                "%s", text);
  ck_assert_msg(strstr(text, "(needs approval)"), "%s", text);
  free(text);

  tp = updating("alpha");
  tp->v[0].needs_approval = true;
  tp->awaiting = 1;
  text = print(&tp, 1, PLAN_JSON, 0, &rep);
  ck_assert_msg(strstr(text, "\"needsApproval\": true"), "%s", text);
  ck_assert_msg(strstr(text, "\"approvers\": \"carol@example.com\""), "%s",
                text);
  free(text);
}
END_TEST

START_TEST(markdown_directory_and_held_tenant)
{
  struct tenant_plan *plans[] = {
      plan_tenant_hold("acme", "tenants/acme.yaml:3:1: bad <b>tag</b>", 4)};
  struct plan_report rep = {.max_percent = 10, .directory = "repo"};
  char *text = print(plans, 1, PLAN_MARKDOWN, 0, &rep);

  ck_assert_ptr_nonnull(
      strstr(text, "## tenantd plan\n\nDirectory `repo`\n\n"));
  ck_assert_ptr_nonnull(strstr(text, "Also: 1 tenant held.\n"));
  ck_assert_ptr_nonnull(
      strstr(text, "### acme: held, nothing changes\n\n"
                   "tenants/acme.yaml:3:1: bad &lt;b&gt;tag&lt;/b&gt;\n"));
  free(text);
}
END_TEST

START_TEST(markdown_folds_a_long_section_and_flags_deletes)
{
  struct resource_set set = RESOURCE_SET_INIT;
  struct tenant_status *st = tenant_status_new("big");
  json_t *spec = json_pack("{s:s}", "upstream", "x");
  struct tenant_plan *plans[2];
  char hash[17];
  char *text;

  for (int i = 0; i < 6; i++)
    resource_set_add(&set, network("big", i));
  resource_spec_hash(spec, hash);
  tenant_status_inventory_put(st, "route/old.big", "route", "local", "r", hash);
  observe_as("route/old.big", "big", spec);
  plans[0] = plan_of("big", &set, st);
  plans[1] = creating("small", 2);
  text = print(plans, 2, PLAN_MARKDOWN, 0, NULL);
  /* 6 creates of 4 lines and a delete: 25 lines, folded. */
  ck_assert_ptr_nonnull(
      strstr(text, "<details>\n"
                   "<summary><b>big</b>: 6 to create, <b>1 to delete</b>"
                   "</summary>\n\n```diff\n+ create   network/n0.big\n"));
  ck_assert_ptr_nonnull(strstr(text, "- delete   route/old.big   <-- DELETE\n"
                                     "```\n\n</details>\n"));
  /* 2 creates of 4 lines: 8 lines, not folded. */
  ck_assert_ptr_nonnull(strstr(text, "### small: 2 to create\n"));
  ck_assert_uint_eq(count(text, "<details>"), 1);
  tenant_status_free(st);
  free(text);
}
END_TEST

START_TEST(markdown_parts_hold_whole_tenants)
{
  struct tenant_plan *plans[40];
  struct parts p;
  char *text;

  for (size_t i = 0; i < ARRAY_SIZE(plans); i++) {
    char name[16];

    snprintf(name, sizeof(name), "t%02zu", i);
    plans[i] = creating(name, 4); /* about 450 bytes each */
  }
  text = print(plans, ARRAY_SIZE(plans), PLAN_MARKDOWN, 4000, NULL);
  split(text, &p);
  ck_assert_uint_ge(p.n, 4);
  for (size_t k = 0; k < p.n; k++) {
    char marker[128], heading[64];

    snprintf(marker, sizeof(marker),
             "<!-- tenantd plan part %zu/%zu -->\n## tenantd plan (part %zu "
             "of %zu)\n\n",
             k + 1, p.n, k + 1, p.n);
    ck_assert_msg(strncmp(p.v[k], marker, strlen(marker)) == 0, "%s", p.v[k]);
    ck_assert_uint_le(strlen(p.v[k]), 4000);
    /* Every part repeats the totals. */
    ck_assert_ptr_nonnull(strstr(p.v[k], "| 40 | 40 | 160 |"));
    snprintf(heading, sizeof(heading), "changes pending.");
    ck_assert_uint_eq(count(p.v[k], heading), k + 1 == p.n);
    /* Code blocks open and close within the part. */
    ck_assert_uint_eq(count(p.v[k], "```") % 2, 0);
  }
  for (size_t i = 0; i < ARRAY_SIZE(plans); i++) {
    char heading[32];

    snprintf(heading, sizeof(heading), "### t%02zu: 4 to create\n", i);
    ck_assert_uint_eq(count(text, heading), 1);
  }
  parts_release(&p);
  free(text);
}
END_TEST

START_TEST(markdown_cuts_a_section_longer_than_a_part)
{
  struct tenant_plan *plans[] = {creating("small", 1), creating("huge", 200),
                                 creating("after", 1)};
  struct parts p;
  char *text = print(plans, 3, PLAN_MARKDOWN, 1000, NULL);
  const char *cut;

  /* 1000 is below the least a part may be: PLAN_PART_MIN applies. */
  split(text, &p);
  ck_assert_uint_eq(p.n, 3);
  for (size_t k = 0; k < p.n; k++) {
    ck_assert_uint_le(strlen(p.v[k]), PLAN_PART_MIN);
    ck_assert_uint_eq(count(p.v[k], "```") % 2, 0);
  }
  ck_assert_ptr_nonnull(strstr(p.v[0], "### small"));
  ck_assert_ptr_nonnull(strstr(p.v[1], "<summary><b>huge</b>: 200 to create"));
  cut = strstr(p.v[1], "  ... ");
  ck_assert_ptr_nonnull(cut);
  ck_assert_ptr_nonnull(strstr(cut, " more lines not shown: this section "
                                    "alone is longer than a part ("));
  ck_assert_ptr_nonnull(strstr(cut, "```\n\n</details>\n"));
  ck_assert_ptr_nonnull(strstr(p.v[2], "### after"));
  parts_release(&p);
  free(text);
}
END_TEST

/* ---- a generated repository, end to end ---- */

static struct manifest_files files;
static json_t *statuses;

static int store_read(struct status_store *s, const char *tenant,
                      struct tenant_status **out)
{
  json_t *text = json_object_get(statuses, tenant);

  (void)s;
  if (!text)
    return TD_ENOTFOUND;
  return tenant_status_parse(json_string_value(text), json_string_length(text),
                             out);
}

static int store_list(struct status_store *s,
                      void (*each)(const char *tenant, void *arg), void *arg)
{
  const char *tenant;
  json_t *text;

  (void)s;
  json_object_foreach(statuses, tenant, text)
  {
    each(tenant, arg);
  }
  return 0;
}

static struct status_store store = {store_read, store_list};

#define TENANTS 300
#define ON_STANDARD 200

/* 300 tenants, the first 200 on tier standard; t000 may have one app
 * more.  `memory` is the standard tier's memoryMiB. */
static void generate(int memory, bool extra_app)
{
  static const char platform[] = "apiVersion: tenantd.io/v1\n"
                                 "kind: Platform\n"
                                 "metadata: {name: gen}\n"
                                 "spec:\n"
                                 "  domains: {public: example.com}\n"
                                 "  ingress: {public: lb.example.com}\n";
  char text[2048];

  manifest_files_release(&files);
  files = (struct manifest_files)MANIFEST_FILES_INIT;
  manifest_files_add(&files, "platform.yaml", platform, strlen(platform));
  snprintf(text, sizeof(text),
           "apiVersion: tenantd.io/v1\n"
           "kind: TierCatalog\n"
           "metadata: {name: gen}\n"
           "spec:\n"
           "  tiers:\n"
           "    basic: {vm: e2-small, cpu: 1, memoryMiB: 2048, storageGiB: 20,"
           " databaseClass: db-f1-micro, maxUsers: 50,"
           " backup: {schedule: daily, retentionDays: 30}, monthlyPrice: 49}\n"
           "    standard: {vm: e2-medium, cpu: 1, memoryMiB: %d,"
           " storageGiB: 50, databaseClass: db-g1-small, maxUsers: 200,"
           " backup: {schedule: daily, retentionDays: 30},"
           " monthlyPrice: 149}\n",
           memory);
  manifest_files_add(&files, "tiers.yaml", text, strlen(text));
  for (int i = 0; i < TENANTS; i++) {
    char path[64];
    int n = snprintf(
        text, sizeof(text),
        "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: t%03d}\n"
        "spec:\n  tier: %s\n  environments:\n",
        i, i < ON_STANDARD ? "standard" : "basic");

    for (int e = 0; e < 2; e++)
      n +=
          snprintf(text + n, sizeof(text) - (size_t)n,
                   "    - name: %s\n"
                   "      network: {cidr: 10.%d.%d.0/24}\n"
                   "      database: {}\n"
                   "      apps:\n"
                   "        - {name: api, image: reg/api:1, port: 8080}\n"
                   "        - {name: web, image: reg/web:1, port: 8080}\n"
                   "        - {name: worker, image: reg/worker:1, port: 8080}\n"
                   "%s",
                   e ? "staging" : "production", 10 + 2 * e + i / 256, i % 256,
                   i == 0 && e == 0 && extra_app
                       ? "        - {name: extra, image: reg/extra:7, port: "
                         "9090}\n"
                       : "");
    snprintf(path, sizeof(path), "tenants/t%03d.yaml", i);
    manifest_files_add(&files, path, text, (size_t)n);
  }
}

/* One pass; its output (the plan) in a string the caller frees. */
static char *pass(bool apply, enum plan_format fmt)
{
  struct reconcile_opts o = RECONCILE_OPTS_INIT;
  struct reconcile_report report;
  json_t *providers = json_pack("{s:{s:s}}", "local", "type", "fake");
  char *out = NULL, *err = NULL;
  size_t outlen = 0, errlen = 0;

  o.files = &files;
  o.source = HEAD;
  o.plan_base = BASE;
  o.plan_repository = "https://ci:token@git.example.com/ops/tenants.git";
  o.store = &store;
  o.providers = providers;
  o.apply = apply;
  o.format = fmt;
  o.backoff_ms = 1;
  o.out = open_memstream(&out, &outlen);
  o.err = open_memstream(&err, &errlen);
  ck_assert_int_eq(reconcile_once(&o, &report), 0);
  fclose(o.out);
  fclose(o.err);
  for (size_t i = 0; apply && i < report.n; i++) {
    char *text = tenant_status_format(report.v[i].status);

    json_object_set_new(statuses, report.v[i].tenant, json_string(text));
    free(text);
  }
  reconcile_report_release(&report);
  json_decref(providers);
  free(err);
  return out;
}

START_TEST(generated_repository_plans_in_parts)
{
  struct parts p;
  char *md, *text, *json;
  size_t total = 0;

  fake_reset();
  fake_provider_register();
  statuses = json_object();
  files = (struct manifest_files)MANIFEST_FILES_INIT;
  generate(4096, false);
  free(pass(true, PLAN_TEXT));
  ck_assert_uint_eq(fake_size(), TENANTS * 10);

  /* One line of the tier used by 200 tenants, and one app more. */
  generate(6144, true);
  md = pass(false, PLAN_MARKDOWN);
  split(md, &p);
  ck_assert_uint_ge(p.n, 2);
  for (size_t k = 0; k < p.n; k++) {
    total += strlen(p.v[k]);
    ck_assert_uint_le(strlen(p.v[k]), PLAN_PART_MAX_DEFAULT);
    ck_assert_ptr_nonnull(strstr(p.v[k], "100 tenants without changes are "
                                         "not listed.\n"));
    ck_assert_ptr_nonnull(strstr(p.v[k], "| 300 | 200 | 1 | 1200 | 0 | 0 |"));
    ck_assert_ptr_nonnull(
        strstr(p.v[k], "Repository `https://git.example.com/ops/"
                       "tenants.git`, `aaaaaaaaaaaa`..`bbbbbbbbbbbb`\n"));
  }
  ck_assert_uint_eq(total, strlen(md));
  ck_assert_ptr_null(strstr(md, "token"));
  for (int i = 0; i < TENANTS; i++) {
    char heading[32];

    size_t found;

    snprintf(heading, sizeof(heading), "### t%03d: ", i);
    found = count(md, heading);
    snprintf(heading, sizeof(heading), "<summary><b>t%03d</b>", i);
    found += count(md, heading);
    ck_assert_msg(found == (i < ON_STANDARD), "t%03d: %zu", i, found);
  }
  ck_assert_ptr_nonnull(strstr(md, "+ create   service/extra.production.t000\n"
                                   "+     cpu: 1\n"));
  ck_assert_ptr_nonnull(strstr(md, "+     image: reg/extra:7\n"));
  ck_assert_ptr_nonnull(strstr(md, "! update   service/api.production.t001\n"
                                   "-     memory_mib: 4096\n"
                                   "+     memory_mib: 6144\n"));

  text = pass(false, PLAN_TEXT);
  ck_assert_ptr_nonnull(strstr(text, "  +   service/extra.production.t000\n"
                                     "        + cpu: 1\n"));
  ck_assert_ptr_nonnull(strstr(text, "        + image: reg/extra:7\n"));

  json = pass(false, PLAN_JSON);
  ck_assert_ptr_nonnull(strstr(json, "\"attr\": \"image\",\n"
                                     "              \"from\": null,\n"
                                     "              \"to\": \"reg/extra:7\""));
  parts_release(&p);
  free(md);
  free(text);
  free(json);
  manifest_files_release(&files);
  json_decref(statuses);
  fake_reset();
}
END_TEST

Suite *make_suite_plan_print(void)
{
  Suite *s = suite_create("plan_print");
  TCase *tc = tcase_create("plan_print");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, text_shows_a_create_with_its_attributes);
  tcase_add_test(tc, secrets_never_printed);
  tcase_add_test(tc, json_lists_a_create_from_null);
  tcase_add_test(tc, markdown_header_totals_and_changed_tenants_only);
  tcase_add_test(tc, markdown_directory_and_held_tenant);
  tcase_add_test(tc, needs_approval_in_every_format);
  tcase_add_test(tc, markdown_folds_a_long_section_and_flags_deletes);
  tcase_add_test(tc, markdown_parts_hold_whole_tenants);
  tcase_add_test(tc, markdown_cuts_a_section_longer_than_a_part);
  tcase_add_test(tc, generated_repository_plans_in_parts);
  suite_add_tcase(s, tc);
  return s;
}
