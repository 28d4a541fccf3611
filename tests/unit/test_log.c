/*
 * The daemon's event log (server/log.h): logfmt and JSON lines.
 */
#include "base/compat.h"

#include <stdio.h>

#include "server/log.h"
#include "suites.h"

START_TEST(log_lines_quote_what_needs_it)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  log_setup(LOG_FORMAT_LOGFMT, f);
  log_event(LOG_LEVEL_INFO, "pass done", "tenant", "acme", "error",
            "a \"b\"\nc=d", "skipped", NULL, "n", "3", NULL);
  log_event(LOG_LEVEL_DEBUG, "not shown", NULL);
  log_setup(LOG_FORMAT_JSON, f);
  log_event(LOG_LEVEL_WARN, "x", "k", "line\n\"q\"", NULL);
  fclose(f);
  log_setup(LOG_FORMAT_LOGFMT, NULL);
  ck_assert_ptr_nonnull(strstr(buf, " level=info msg=\"pass done\" "
                                    "tenant=acme error=\"a \\\"b\\\"\\nc=d\" "
                                    "n=3\n"));
  ck_assert_ptr_null(strstr(buf, "not shown"));
  ck_assert_ptr_null(strstr(buf, "skipped"));
  ck_assert_ptr_nonnull(strstr(buf, ",\"level\":\"warn\",\"msg\":\"x\","
                                    "\"k\":\"line\\n\\\"q\\\"\"}\n"));
  ck_assert_ptr_eq(memchr(buf, '{', len), strstr(buf, "{\"ts\":\""));
  free(buf);
}
END_TEST

Suite *make_suite_log(void)
{
  Suite *s = suite_create("log");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, log_lines_quote_what_needs_it);
  suite_add_tcase(s, tc);
  return s;
}
