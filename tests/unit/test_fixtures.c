/*
 * The fixture corpus: tests/fixtures/{valid,invalid}/<case>/ are overlays
 * on tests/fixtures/base/.  Each invalid case's `expect` holds the exact
 * diagnostics, as `tenantd validate` prints them; a valid case must load
 * with none.  A case may list base paths to delete in `remove`.
 *
 * TD_FIXTURES_UPDATE=1 rewrites `expect` files from the current output,
 * for reviewing a new case: read every line it writes before committing.
 */
#include "base/compat.h"

#include <dirent.h>
#include <stdio.h>

#include "manifest/manifest.h"
#include "suites.h"

enum { MAX_CASES = 512 };

static char *cases[2][MAX_CASES];
static size_t ncases[2];
static const char *const kinds[2] = {"valid", "invalid"};

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;

  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = td_malloc((size_t)n + 1);
  ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void discover(int kind)
{
  char dir[1024];
  DIR *d;
  struct dirent *de;

  snprintf(dir, sizeof(dir), "%s/%s", test_fixtures_dir(), kinds[kind]);
  d = opendir(dir);
  if (!d)
    return;
  while ((de = readdir(d)) != NULL && ncases[kind] < MAX_CASES)
    if (de->d_name[0] != '.')
      cases[kind][ncases[kind]++] = td_strdup(de->d_name);
  closedir(d);
  qsort(cases[kind], ncases[kind], sizeof(char *), name_cmp);
}

static void run_case(int kind, const char *name)
{
  struct manifest_files files = MANIFEST_FILES_INIT,
                        overlay = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char base[1024], dir[1024], path[1200];
  char *got, *want, *remove;

  snprintf(base, sizeof(base), "%s/base", test_fixtures_dir());
  snprintf(dir, sizeof(dir), "%s/%s/%s", test_fixtures_dir(), kinds[kind],
           name);
  ck_assert_int_eq(manifest_files_read_dir(&files, base, 1 << 20), 0);
  ck_assert_int_eq(manifest_files_read_dir(&overlay, dir, 1 << 20), 0);
  for (size_t i = 0; i < overlay.n; i++)
    manifest_files_add(&files, overlay.v[i].path, overlay.v[i].data,
                       overlay.v[i].len);
  snprintf(path, sizeof(path), "%s/remove", dir);
  remove = slurp(path);
  for (char *line = remove ? strtok(remove, "\n") : NULL; line;
       line = strtok(NULL, "\n"))
    manifest_files_remove(&files, line);
  free(remove);

  manifest_repo_load(&repo, &files, NULL);
  got = test_diags_text(&repo->diags);
  snprintf(path, sizeof(path), "%s/expect", dir);
  if (kind == 1 && getenv("TD_FIXTURES_UPDATE")) {
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(got, f);
    fclose(f);
  }
  want = kind == 1 ? slurp(path) : td_strdup("");
  ck_assert_msg(want != NULL, "%s/%s has no expect file", kinds[kind], name);
  ck_assert_msg(strcmp(got, want) == 0, "%s/%s:\n--- expected\n%s--- got\n%s",
                kinds[kind], name, want, got);
  if (kind == 1)
    ck_assert_msg(repo->diags.n > 0, "invalid/%s has an empty expect", name);
  free(got);
  free(want);
  manifest_repo_free(repo);
  manifest_files_release(&files);
  manifest_files_release(&overlay);
}

START_TEST(valid_cases)
{
  run_case(0, cases[0][_i]);
}
END_TEST

START_TEST(invalid_cases)
{
  run_case(1, cases[1][_i]);
}
END_TEST

START_TEST(corpus_is_large_enough)
{
  ck_assert_uint_ge(ncases[0], 8);
  ck_assert_uint_ge(ncases[1], 40);
}
END_TEST

START_TEST(base_is_valid)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char base[1024];

  snprintf(base, sizeof(base), "%s/base", test_fixtures_dir());
  ck_assert_int_eq(manifest_files_read_dir(&files, base, 1 << 20), 0);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert_uint_ge(repo->ntenants, 2);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

static void free_cases(void)
{
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < ncases[k]; i++)
      free(cases[k][i]);
}

Suite *make_suite_fixtures(void)
{
  Suite *s = suite_create("fixtures");
  TCase *tc = tcase_create("corpus");

  discover(0);
  discover(1);
  atexit(free_cases);
  tcase_add_test(tc, corpus_is_large_enough);
  tcase_add_test(tc, base_is_valid);
  tcase_add_loop_test(tc, valid_cases, 0, (int)ncases[0]);
  tcase_add_loop_test(tc, invalid_cases, 0, (int)ncases[1]);
  suite_add_tcase(s, tc);
  return s;
}
