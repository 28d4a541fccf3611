/*
 * Windows and selections: how many tenants a pass holds at once, and
 * which it reads, change memory and cost, never the outcome.
 */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>

#include "base/strset.h"
#include "reconcile_fx.h"

/* Tenants n00.. : a network and a public app each; n03 suspended. */
static void many(size_t k, const char *tier_of_n05)
{
  for (size_t i = 0; i < k; i++) {
    char path[64], text[1024];

    snprintf(path, sizeof(path), "tenants/n%02zu.yaml", i);
    snprintf(text, sizeof(text),
             "apiVersion: tenantd.io/v1\n"
             "kind: Tenant\n"
             "metadata:\n"
             "  name: n%02zu\n"
             "spec:\n"
             "  tier: %s\n"
             "  suspend: %s\n"
             "  environments:\n"
             "    - name: prod\n"
             "      network:\n"
             "        cidr: 10.%zu.0.0/16\n"
             "      apps:\n"
             "        - name: app\n"
             "          image: app:1\n"
             "          port: 8000\n"
             "          dns:\n"
             "            public: true\n",
             i, i == 5 ? tier_of_n05 : "basic", i == 3 ? "true" : "false",
             100 + i);
    put(path, text);
  }
}

/* What a pass did, tenant by tenant, without the clock. */
static char *digest(void)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  fprintf(f, "sum %zu %zu %zu %zu %zu %zu %d\n", report.sum.tenants,
          report.sum.held, report.sum.changes, report.sum.applied,
          report.sum.failed, report.sum.conflicts, report.sum.refused);
  for (size_t i = 0; i < report.n; i++) {
    const struct reconcile_outcome *o = &report.v[i];

    fprintf(f, "%s %d %d %zu:", o->tenant, o->result, o->changed,
            o->status ? o->status->ninventory : 0);
    for (size_t k = 0; k < OUT_COUNT_MAX; k++)
      fprintf(f, " %zu", o->count[k]);
    fputc('\n', f);
    for (size_t k = 0; k < o->nevents; k++)
      fprintf(f, "  %s\n", o->events[k]);
  }
  fclose(f);
  return text;
}

/* The clock's part of a text taken out in place: each step's time
 * (" in 0.01 s (+0.00 s to +0.01 s)") and when the tenant was ready. */
static void strip_times(char *s)
{
  char *r = s, *w = s;

  while (*r) {
    char *nl = strchr(r, '\n'), *end;

    if (strncmp(r, " in ", 4) == 0 && isdigit((unsigned char)r[4]) &&
        (end = strchr(r, ')')) != NULL && (!nl || end < nl)) {
      r = end + 1;
      continue;
    }
    if (strncmp(r, "ready ", 6) == 0 && isdigit((unsigned char)r[6]) &&
        (end = strstr(r, " s into the pass")) != NULL && (!nl || end < nl)) {
      memcpy(w, "ready", 5);
      w += 5;
      r = end + 2;
      continue;
    }
    *w++ = *r++;
  }
  *w = '\0';
}

/* A world of 21 tenants applied, then changed: n05 moves tier, n11 and
 * `gone` (n12..n12+gone-1) lose their files, a create fails.  Returns the
 * second pass's digest and output (`format`, applying or planning). */
static char *changed_world(size_t window, bool apply, enum plan_format format,
                           size_t gone, char **out_copy)
{
  struct reconcile_opts o = opts(true);
  char *d;

  fake_reset();
  fake_provider_register();
  json_decref(statuses);
  statuses = json_object();
  manifest_files_release(&files);
  platform("correct", 10, 3);
  acme(false, true, "registry.example.com/acme/web:1.0.0");
  many(21, "basic");
  o.window = window;
  pass_with(&o);
  many(21, "premium");
  manifest_files_remove(&files, "tenants/n11.yaml");
  for (size_t i = 0; i < gone; i++) {
    char path[64];

    snprintf(path, sizeof(path), "tenants/n%02zu.yaml", 12 + i);
    manifest_files_remove(&files, path);
  }
  put("tenants/late.yaml", "apiVersion: tenantd.io/v1\n"
                           "kind: Tenant\n"
                           "metadata:\n"
                           "  name: late\n"
                           "spec:\n"
                           "  tier: basic\n"
                           "  environments:\n"
                           "    - name: prod\n"
                           "      network:\n"
                           "        cidr: 10.250.0.0/16\n"
                           "      apps:\n"
                           "        - name: app\n"
                           "          image: app:1\n"
                           "          port: 8000\n");
  fake_fault("service/app.prod.late", FAKE_CREATE, PROVIDER_INVALID, -1);
  o = opts(apply);
  o.window = window;
  o.format = format;
  pass_with(&o);
  d = digest();
  *out_copy = td_strdup(out_text);
  /* The steps' times differ from run to run, and more so under load. */
  strip_times(d);
  strip_times(*out_copy);
  return d;
}

START_TEST(reconcile_windows_change_nothing_but_memory)
{
  static const enum plan_format formats[] = {PLAN_TEXT, PLAN_MARKDOWN,
                                             PLAN_JSON};

  for (int apply = 0; apply < 2; apply++)
    for (size_t f = 0; f < ARRAY_SIZE(formats); f++) {
      /* One tenant a window, two, and all in one. */
      char *out1, *out2, *outall;
      char *d1 = changed_world(1, apply, formats[f], 0, &out1);
      char *d2 = changed_world(2, apply, formats[f], 0, &out2);
      char *dall = changed_world(0, apply, formats[f], 0, &outall);

      ck_assert_str_eq(d1, dall);
      ck_assert_str_eq(d2, dall);
      ck_assert_str_eq(out1, outall);
      ck_assert_str_eq(out2, outall);
      if (!apply)
        ck_assert_ptr_nonnull(strstr(outall, "n11"));
      free(d1);
      free(d2);
      free(dall);
      free(out1);
      free(out2);
      free(outall);
    }
}
END_TEST

START_TEST(reconcile_refused_pass_prints_the_same_plans_in_windows)
{
  char *out1, *outall;
  char *d1 = changed_world(1, true, PLAN_TEXT, 6, &out1);
  char *dall = changed_world(0, true, PLAN_TEXT, 6, &outall);

  ck_assert(report.sum.refused);
  ck_assert_ptr_nonnull(strstr(outall, "refused: this pass would delete"));
  ck_assert_ptr_nonnull(strstr(outall, "<-- DELETE"));
  ck_assert_str_eq(d1, dall);
  ck_assert_str_eq(out1, outall);
  free(d1);
  free(dall);
  free(out1);
  free(outall);
}
END_TEST

/* A selection of a few tenants is found by name; a large one is walked.
 * Both find the same tenants: a valid file, a status without a file, a
 * file whose name inside differs (invalid), and a name nobody has. */
START_TEST(reconcile_selection_by_name_finds_what_the_walk_finds)
{
  struct strset few = STRSET_INIT, lots = STRSET_INIT;
  static const char *const names[] = {"n02", "n11", "nobody", "other"};
  struct reconcile_opts o;
  char *small, *large, *small_out, *large_out;

  /* 43 tenants: four names are found by name, 44 make a walk. */
  many(41, "basic");
  apply_pass();
  manifest_files_remove(&files, "tenants/n11.yaml");
  put("tenants/other.yaml", "apiVersion: tenantd.io/v1\n"
                            "kind: Tenant\n"
                            "metadata:\n"
                            "  name: n07\n"
                            "spec:\n"
                            "  tier: basic\n");
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    strset_add(&few, names[i]);
    strset_add(&lots, names[i]);
  }
  for (int i = 0; i < 40; i++) {
    char name[16];

    snprintf(name, sizeof(name), "zz%02d", i);
    strset_add(&lots, name);
  }
  strset_seal(&few);
  strset_seal(&lots);
  o = opts(false);
  o.only = &few;
  pass_with(&o);
  small = digest();
  small_out = td_strdup(out_text);
  o = opts(false);
  o.only = &lots;
  pass_with(&o);
  large = digest();
  large_out = td_strdup(out_text);
  ck_assert_str_eq(small, large);
  ck_assert_str_eq(small_out, large_out);
  /* n02, n11 (its status), other.yaml's n07 and other; never nobody. */
  ck_assert_uint_eq(report.n, 4);
  ck_assert_ptr_null(strstr(small_out, "nobody"));
  free(small);
  free(large);
  free(small_out);
  free(large_out);
  strset_release(&few);
  strset_release(&lots);
}
END_TEST

/* Reads in flight at most during a plan of acme and 150 tenants of four
 * resources each (605 reads), from an instance that batches and reads
 * nearby or not. */
static size_t most_reads_at_once(bool nearby)
{
  struct reconcile_opts o;

  fake_reset();
  json_decref(providers);
  providers = json_pack("{s:{s:s,s:b,s:b}}", "local", "type", "fake", "batches",
                        1, "readsNearby", nearby);
  many(150, "basic");
  o = opts(false);
  pass_with(&o);
  ck_assert_uint_eq(report.sum.tenants, 151);
  ck_assert_uint_eq(fake_count(FAKE_READ, NULL), 605);
  return fake_max_in_flight();
}

/* Windows of nearby reads end at about 512 resources, to stay in cache;
 * reads that cross a network cost a round trip a window, so then one
 * window takes every tenant here. */
START_TEST(reconcile_windows_are_small_only_when_reads_are_nearby)
{
  size_t near = most_reads_at_once(true);

  ck_assert_uint_ge(near, 512);
  ck_assert_uint_lt(near, 520);
  ck_assert_uint_eq(most_reads_at_once(false), 605);
}
END_TEST

Suite *make_suite_reconcile_windows(void)
{
  Suite *s = suite_create("reconcile_windows");
  TCase *tc = tcase_create("windows");

  tcase_add_checked_fixture(tc, reconcile_fx_setup, reconcile_fx_teardown);
  tcase_add_test(tc, reconcile_windows_change_nothing_but_memory);
  tcase_add_test(tc, reconcile_refused_pass_prints_the_same_plans_in_windows);
  tcase_add_test(tc, reconcile_selection_by_name_finds_what_the_walk_finds);
  tcase_add_test(tc, reconcile_windows_are_small_only_when_reads_are_nearby);
  suite_add_tcase(s, tc);
  return s;
}
