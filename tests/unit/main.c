#include "base/compat.h"

#include <ftw.h>
#include <stdio.h>

#include "base/jsoncache.h"
#include "suites.h"

const char *test_fixtures_dir(void)
{
  const char *d = getenv("TD_FIXTURES");

  return d && *d ? d : "tests/fixtures";
}

char *test_tmpdir(void)
{
  char *dir = td_strdup("/tmp/td-unit-XXXXXX");

  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void test_rm_rf(const char *dir)
{
  ck_assert_int_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

char *test_diags_text(const struct diag_list *d)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  ck_assert_ptr_nonnull(f);
  diag_print_text(d, f);
  fclose(f);
  return buf;
}

int main(void)
{
  static Suite *(*const suites[])(void) = {
#define SUITE(name) make_suite_##name,
#include "unit_suites.h"
#undef SUITE
  };

  SRunner *sr = srunner_create(NULL);
  int failed;

  /* As tenantd runs: jansson on the block cache (not under ASan). */
  jsoncache_install();
  for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
    srunner_add_suite(sr, suites[i]());
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  jsoncache_flush();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
