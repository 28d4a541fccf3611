#include "compat.h"

#include <stdio.h>

#include "suites.h"

const char *test_fixtures_dir(void)
{
  const char *d = getenv("TD_FIXTURES");

  return d && *d ? d : "tests/fixtures";
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
  SRunner *sr = srunner_create(make_suite_yamltree());
  int failed;

  srunner_add_suite(sr, make_suite_manifest());
  srunner_add_suite(sr, make_suite_fixtures());
  srunner_add_suite(sr, make_suite_naming());
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
