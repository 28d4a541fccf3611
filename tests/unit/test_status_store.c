/*
 * The status files in a directory: written and read one at a time and
 * many together, and the directory store that lists them.
 */
#include "base/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "engine/status.h"
#include "status_fx.h"

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Names in `dir` other than . and .., sorted, joined by spaces. */
static char *list_dir(const char *dir)
{
  struct dirent **names = NULL;
  char *out = td_strdup("");
  int n = scandir(dir, &names, NULL, alphasort);

  ck_assert_int_ge(n, 0);
  for (int i = 0; i < n; i++) {
    const char *s = names[i]->d_name;

    if (strcmp(s, ".") != 0 && strcmp(s, "..") != 0) {
      size_t len = strlen(out);

      out = td_realloc(out, len + strlen(s) + 2);
      snprintf(out + len, strlen(s) + 2, "%s%s", len ? " " : "", s);
    }
    free(names[i]);
  }
  free(names);
  return out;
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

/* Many writes and removals together: each as tenant_status_write() and
 * tenant_status_remove() would have done it, each with its own rc. */
START_TEST(write_all_files_together)
{
  char *dir = test_tmpdir(), *sub = td_asprintf("%s/s", dir), *names;
  struct tenant_status *a = full_status(), *b = full_status(), *back = NULL;
  struct status_change v[4];

  free(b->tenant);
  b->tenant = td_strdup("beta");
  ck_assert_int_eq(tenant_status_write(sub, b), 0);
  free(b->tenant);
  b->tenant = td_strdup("gamma");
  memset(v, 0, sizeof(v));
  v[0] = (struct status_change){.tenant = "acme", .st = a};
  v[1] = (struct status_change){.tenant = "beta", .st = NULL};
  v[2] = (struct status_change){.tenant = "gamma", .st = b};
  v[3] = (struct status_change){.tenant = "../evil", .st = a};
  tenant_status_write_all(sub, v, 4);
  ck_assert_int_eq(v[0].rc, 0);
  ck_assert_int_eq(v[1].rc, 0);
  ck_assert_int_eq(v[2].rc, 0);
  ck_assert_int_eq(v[3].rc, TD_EINVALID);
  ck_assert_ptr_nonnull(strstr(v[3].error, "evil"));
  ck_assert_int_eq(tenant_status_read(sub, "acme", &back), 0);
  assert_status_eq(a, back);
  tenant_status_free(back);
  ck_assert_int_eq(tenant_status_read(sub, "gamma", &back), 0);
  assert_status_eq(b, back);
  tenant_status_free(back);
  names = list_dir(sub);
  ck_assert_str_eq(names, "acme.yaml gamma.yaml");
  free(names);
  /* Removing what is not there is fine. */
  v[0] = (struct status_change){.tenant = "beta", .st = NULL};
  tenant_status_write_all(sub, v, 1);
  ck_assert_int_eq(v[0].rc, 0);
  tenant_status_free(a);
  tenant_status_free(b);
  test_rm_rf(dir);
  free(dir);
  free(sub);
}
END_TEST

START_TEST(write_read_files)
{
  char root[] = "/tmp/td-status-XXXXXX";
  char dir[256], path[300];
  struct tenant_status *st = full_status(), *back = NULL;
  struct stat sb;
  char *names;

  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(dir, sizeof(dir), "%s/status/nested", root);

  /* mkdir -p, then an exact round trip. */
  ck_assert_int_eq(tenant_status_write(dir, st), 0);
  ck_assert_int_eq(tenant_status_read(dir, "acme", &back), 0);
  assert_status_eq(st, back);
  tenant_status_free(back);
  back = NULL;
  snprintf(path, sizeof(path), "%s/acme.yaml", dir);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0644);

  /* Overwrite in place; still only the one file, no temporaries. */
  tenant_status_inventory_remove(st, "database/acme.prod");
  ck_assert_int_eq(tenant_status_write(dir, st), 0);
  ck_assert_int_eq(tenant_status_read(dir, "acme", &back), 0);
  assert_status_eq(st, back);
  tenant_status_free(back);
  back = NULL;
  names = list_dir(dir);
  ck_assert_str_eq(names, "acme.yaml");
  free(names);

  /* No file, or no directory: not found, with a message. */
  back = (struct tenant_status *)1;
  ck_assert_int_eq(tenant_status_read(dir, "nobody", &back), TD_ENOTFOUND);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "nobody.yaml"));
  snprintf(path, sizeof(path), "%s/missing", root);
  ck_assert_int_eq(tenant_status_read(path, "acme", &back), TD_ENOTFOUND);

  /* Names that would leave or hide in the directory. */
  free(st->tenant);
  st->tenant = td_strdup("../evil");
  ck_assert_int_eq(tenant_status_write(dir, st), TD_EINVALID);
  free(st->tenant);
  st->tenant = td_strdup(".hidden");
  ck_assert_int_eq(tenant_status_write(dir, st), TD_EINVALID);
  free(st->tenant);
  st->tenant = td_strdup("");
  ck_assert_int_eq(tenant_status_write(dir, st), TD_EINVALID);
  ck_assert_int_eq(tenant_status_read(dir, "a/b", &back), TD_EINVALID);
  ck_assert_int_eq(tenant_status_read(dir, "..", &back), TD_EINVALID);
  ck_assert_ptr_null(back);

  /* A directory that is a file: an error, and nothing left behind. */
  free(st->tenant);
  st->tenant = td_strdup("acme");
  snprintf(path, sizeof(path), "%s/acme.yaml", dir);
  ck_assert_int_eq(tenant_status_write(path, st), -1);
  ck_assert_str_ne(td_error_last(), "");

  /* A corrupt file and a file of another tenant name their path. */
  snprintf(path, sizeof(path), "%s/bad.yaml", dir);
  write_file(path, "kind: [unclosed\n");
  ck_assert_int_eq(tenant_status_read(dir, "bad", &back), -1);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(td_error_last(), path));
  snprintf(path, sizeof(path), "%s/other.yaml", dir);
  write_file(path, FULL_TEXT);
  ck_assert_int_eq(tenant_status_read(dir, "other", &back), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "tenant is 'acme'"));
  ck_assert_ptr_null(back);

  names = list_dir(dir);
  ck_assert_str_eq(names, "acme.yaml bad.yaml other.yaml");
  free(names);
  tenant_status_free(st);
  ck_assert_int_eq(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

static void count_listed(const char *tenant, void *arg)
{
  (void)tenant;
  (*(size_t *)arg)++;
}

/* The directory store: after a listing that found no status, reads say
 * not found (and still refuse bad names) without opening files; a
 * listing that finds one reads the files again. */
START_TEST(dir_store_after_empty_listing)
{
  char root[] = "/tmp/td-status-XXXXXX";
  char dir[256];
  struct status_dir_store ds;
  struct tenant_status *st = full_status(), *back = NULL;
  size_t n = 0;

  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(dir, sizeof(dir), "%s/status", root);
  status_dir_store_init(&ds, dir);

  /* No directory yet: listed empty, then not found with a message. */
  ck_assert_int_eq(ds.base.list(&ds.base, count_listed, &n), 0);
  ck_assert_uint_eq(n, 0);
  back = (struct tenant_status *)1;
  ck_assert_int_eq(ds.base.read(&ds.base, "acme", &back), TD_ENOTFOUND);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "acme.yaml"));
  ck_assert_int_eq(ds.base.read(&ds.base, "a/b", &back), TD_EINVALID);

  /* A status written after that listing shows from the next one on. */
  ck_assert_int_eq(tenant_status_write(dir, st), 0);
  ck_assert_int_eq(ds.base.list(&ds.base, count_listed, &n), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_int_eq(ds.base.read(&ds.base, "acme", &back), 0);
  assert_status_eq(st, back);
  tenant_status_free(back);
  ck_assert_int_eq(ds.base.read(&ds.base, "nobody", &back), TD_ENOTFOUND);

  /* Reads before any listing always go to the files. */
  status_dir_store_init(&ds, dir);
  ck_assert_int_eq(ds.base.read(&ds.base, "acme", &back), 0);
  tenant_status_free(back);
  tenant_status_free(st);
  ck_assert_int_eq(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

Suite *make_suite_status_store(void)
{
  Suite *s = suite_create("status_store");
  TCase *tc = tcase_create("store");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, write_all_files_together);
  tcase_add_test(tc, write_read_files);
  tcase_add_test(tc, dir_store_after_empty_listing);
  suite_add_tcase(s, tc);
  return s;
}
