#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "suites.h"

static void touch(const char *dir, const char *name)
{
  char *path = td_asprintf("%s/%s", dir, name);
  FILE *f = fopen(path, "w");

  ck_assert_ptr_nonnull(f);
  fclose(f);
  free(path);
}

static bool exists(const char *dir, const char *name)
{
  char *path = td_asprintf("%s/%s", dir, name);
  bool yes = access(path, F_OK) == 0;

  free(path);
  return yes;
}

START_TEST(temp_names)
{
  ck_assert(fs_is_temp_name(".a.json.Ab3dE9", ".json"));
  ck_assert(fs_is_temp_name(".api.staging.conf.XXXXXX", ".conf"));
  /* the target itself, another suffix, a short or odd random part */
  ck_assert(!fs_is_temp_name("a.json", ".json"));
  ck_assert(!fs_is_temp_name(".a.yaml.Ab3dE9", ".json"));
  ck_assert(!fs_is_temp_name(".a.json.Ab3dE", ".json"));
  ck_assert(!fs_is_temp_name(".a.json.Ab3-E9", ".json"));
  ck_assert(!fs_is_temp_name(".json.Ab3dE9", ".json"));
  ck_assert(!fs_is_temp_name(".", ".json"));
  ck_assert(!fs_is_temp_name("", ".json"));
}
END_TEST

START_TEST(sweep_removes_only_leftovers)
{
  char *dir = test_tmpdir();

  touch(dir, "a.conf");
  touch(dir, ".a.conf.Q1w2E3");
  touch(dir, ".b.conf.zzzzzz");
  touch(dir, ".a.conf.failed");
  touch(dir, ".hidden");
  ck_assert_uint_eq(fs_sweep_temp(dir, ".conf", "failed"), 2);
  ck_assert(exists(dir, "a.conf"));
  ck_assert(exists(dir, ".a.conf.failed"));
  ck_assert(exists(dir, ".hidden"));
  ck_assert(!exists(dir, ".a.conf.Q1w2E3"));
  ck_assert(!exists(dir, ".b.conf.zzzzzz"));
  /* A missing directory is nothing to sweep. */
  ck_assert_uint_eq(fs_sweep_temp("/nonexistent/td", ".conf", NULL), 0);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

START_TEST(codes_are_td_codes)
{
  char *dir = test_tmpdir(), *data = NULL, *nested, *under;
  size_t len = 0;
  int rc;

  rc = fs_read_capped("/nonexistent/td/file", 10, &data, &len);
  ck_assert_int_eq(rc, TD_ENOTFOUND);
  ck_assert_ptr_null(data);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "/nonexistent/td/file"));

  nested = td_asprintf("%s/a/b/c", dir);
  ck_assert_int_eq(fs_mkdir_p(nested, 0700), 0);
  ck_assert_int_eq(fs_mkdir_p(nested, 0700), 0);
  ck_assert_int_eq(fs_write_atomic(nested, "f", "hello", 5, 0600), 0);
  free(nested);
  nested = td_asprintf("%s/a/b/c/f", dir);
  ck_assert_int_eq(fs_read_capped(nested, 3, &data, &len), 0);
  ck_assert_uint_eq(len, 3);
  ck_assert(memcmp(data, "hel", 3) == 0);
  free(data);

  /* A directory under a file cannot exist: an error naming the path,
   * never an errno that reads like a TD code. */
  under = td_asprintf("%s/x", nested);
  rc = fs_mkdir_p(under, 0700);
  ck_assert_int_eq(rc, TD_ERROR);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "cannot create directory"));
  ck_assert_ptr_nonnull(strstr(td_error_last(), under));
  free(under);
  free(nested);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

/* Syncing files and a directory leaves them as they are; a file or a
 * directory that is not there, or a file taken for a directory, is an
 * error that names it. */
START_TEST(sync_files_and_dirs)
{
  char *dir = test_tmpdir(), *data = NULL;
  char *paths[3];
  size_t len = 0;

  ck_assert_int_eq(fs_write_temp(dir, "a", "alpha", 5, 0644, &paths[0]), 0);
  ck_assert_int_eq(fs_write_temp(dir, "b", "beta", 4, 0644, &paths[1]), 0);
  ck_assert_int_eq(fs_sync_files(paths, 2), 0);
  ck_assert_int_eq(fs_sync_files(paths, 0), 0);
  ck_assert_int_eq(fs_read_capped(paths[1], 16, &data, &len), 0);
  ck_assert_uint_eq(len, 4);
  ck_assert(memcmp(data, "beta", 4) == 0);
  free(data);
  ck_assert_int_eq(fs_sync_dir(dir), 0);

  paths[2] = td_asprintf("%s/.gone.XXXXXX", dir);
  ck_assert_int_eq(fs_sync_files(paths, 3), TD_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(td_error_last(), paths[2]));
  free(paths[2]);
  paths[2] = td_asprintf("%s/missing", dir);
  ck_assert_int_eq(fs_sync_dir(paths[2]), TD_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(td_error_last(), paths[2]));
  /* A file is not a directory. */
  ck_assert_int_eq(fs_sync_dir(paths[0]), TD_ERROR);
  ck_assert_ptr_nonnull(strstr(td_error_last(), paths[0]));
  for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
    free(paths[i]);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

/* Whether `dir` holds nothing but "." and "..". */
static size_t entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n = 0;

  ck_assert_ptr_nonnull(d);
  while ((de = readdir(d)) != NULL)
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  closedir(d);
  return n;
}

/*
 * An unnamed file takes no name until it is linked: with its bytes and
 * its mode whatever the umask; one closed unlinked leaves nothing; a
 * name taken meanwhile is refused (EEXIST) and keeps what it holds.
 */
START_TEST(unnamed_files)
{
  char *dir = test_tmpdir(), *path = td_asprintf("%s/a.json", dir);
  char *data = NULL;
  size_t len = 0;
  struct stat st;
  mode_t old = umask(077);
  int fd = -2, rc;

  rc = fs_write_unnamed(dir, "alpha", 5, 0644, &fd);
  umask(old);
  if (rc == 1) { /* this file system cannot: the caller's fallback */
    ck_assert_int_eq(fd, -1);
    goto out;
  }
  ck_assert_int_eq(rc, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_uint_eq(entries(dir), 0);
  ck_assert_int_eq(fs_sync_fds(&fd, 1), 0);
  ck_assert_int_eq(fs_link_unnamed(fd, path), 0);
  close(fd);
  ck_assert_int_eq(fs_read_capped(path, 16, &data, &len), 0);
  ck_assert_uint_eq(len, 5);
  ck_assert(memcmp(data, "alpha", 5) == 0);
  free(data);
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0644);

  /* The name is taken: refused, and what holds it stays. */
  ck_assert_int_eq(fs_write_unnamed(dir, "beta", 4, 0644, &fd), 0);
  ck_assert_int_eq(fs_link_unnamed(fd, path), -1);
  ck_assert_int_eq(errno, EEXIST);
  close(fd);
  ck_assert_int_eq(fs_read_capped(path, 16, &data, &len), 0);
  ck_assert(len == 5 && memcmp(data, "alpha", 5) == 0);
  free(data);
  ck_assert_uint_eq(entries(dir), 1);

  /* Closed before it was named: nothing is left. */
  ck_assert_int_eq(fs_write_unnamed(dir, "gamma", 5, 0644, &fd), 0);
  close(fd);
  ck_assert_uint_eq(entries(dir), 1);

  /* A directory that is not there is an error that names it. */
  free(path);
  path = td_asprintf("%s/missing", dir);
  ck_assert_int_eq(fs_write_unnamed(path, "x", 1, 0644, &fd), TD_ENOTFOUND);
  ck_assert_int_eq(fd, -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), path));
out:
  test_rm_rf(dir);
  free(path);
  free(dir);
}
END_TEST

Suite *make_suite_fsutil(void)
{
  Suite *s = suite_create("fsutil");
  TCase *tc = tcase_create("fsutil");

  tcase_add_test(tc, temp_names);
  tcase_add_test(tc, sweep_removes_only_leftovers);
  tcase_add_test(tc, codes_are_td_codes);
  tcase_add_test(tc, sync_files_and_dirs);
  tcase_add_test(tc, unnamed_files);
  suite_add_tcase(s, tc);
  return s;
}
