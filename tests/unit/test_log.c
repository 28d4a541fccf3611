/*
 * The daemon's event log (server/log.h): logfmt and JSON lines, each
 * event one line whatever its values hold.
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "base/error.h"
#include "server/log.h"
#include "suites.h"

/* Log lines into memory: capture_start(), log_at()s, capture_end()
 * (which hands the text over and puts the log back on stderr). */
struct capture {
  char *buf;
  size_t len;
  FILE *f;
};

static void capture_start(struct capture *c, enum log_format format)
{
  c->buf = NULL;
  c->len = 0;
  c->f = open_memstream(&c->buf, &c->len);
  ck_assert_ptr_nonnull(c->f);
  ck_assert_int_eq(log_setup(format, c->f), 0);
}

static char *capture_end(struct capture *c)
{
  fclose(c->f);
  log_setup(LOG_FORMAT_LOGFMT, NULL);
  log_release();
  return c->buf;
}

/* One event with the single pair k=value; the line without its "\n". */
static char *one_line(enum log_format format, const char *value)
{
  struct capture c;
  char *text;

  capture_start(&c, format);
  log_at(LOG_LEVEL_INFO, "m", LOG_S("k", value));
  text = capture_end(&c);
  ck_assert_uint_gt(strlen(text), 0);
  ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
  text[strlen(text) - 1] = '\0';
  return text;
}

START_TEST(log_lines_quote_what_needs_it)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  log_setup(LOG_FORMAT_LOGFMT, f);
  log_at(LOG_LEVEL_INFO, "pass done", LOG_S("tenant", "acme"),
         LOG_S("error", "a \"b\"\nc=d"), LOG_S("skipped", NULL), LOG_U("n", 3));
  log_at(LOG_LEVEL_DEBUG, "not shown");
  log_setup(LOG_FORMAT_JSON, f);
  log_at(LOG_LEVEL_WARN, "x", LOG_S("k", "line\n\"q\""));
  fclose(f);
  log_setup(LOG_FORMAT_LOGFMT, NULL);
  log_release();
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

/* ts=2026-11-23T10:00:00.123Z: UTC to the millisecond, then the level
 * and the message, then the pairs in the order given. */
START_TEST(log_logfmt_line_shape)
{
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  char *line = one_line(LOG_FORMAT_LOGFMT, "v");

  ck_assert_int_eq(strncmp(line, "ts=", 3), 0);
  for (size_t i = 0; i < sizeof(shape) - 1; i++) {
    char c = line[3 + i];

    if (shape[i] == 'd')
      ck_assert_msg(c >= '0' && c <= '9', "ts: %s", line);
    else
      ck_assert_msg(c == shape[i], "ts: %s", line);
  }
  ck_assert_str_eq(line + 3 + sizeof(shape) - 1, " level=info msg=m k=v");
  free(line);
}
END_TEST

/* A bare value has no space, quote, '=', backslash or control byte;
 * anything else is quoted, with \" \\ \n and \xNN escapes, so the event
 * stays one line and a reader splits it back into the same pairs. */
START_TEST(log_logfmt_quoting)
{
  static const char *const cases[][2] = {
      {"acme", "acme"},
      {"api.staging.mwc-murata", "api.staging.mwc-murata"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"", "\"\""},
      {"two words", "\"two words\""},
      {" lead", "\" lead\""},
      {"a=b", "\"a=b\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"C:\\dir", "\"C:\\\\dir\""},
      {"one\ntwo", "\"one\\ntwo\""},
      {"cr\rlf", "\"cr\\x0dlf\""},
      {"tab\there", "\"tab\\x09here\""},
      {"bell\a", "\"bell\\x07\""},
      {"\x1b[31mred", "\"\\x1b[31mred\""},
  };

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *line = one_line(LOG_FORMAT_LOGFMT, cases[i][0]);
    const char *v = strstr(line, " msg=m k=");

    ck_assert_ptr_nonnull(v);
    ck_assert_msg(strcmp(v + 9, cases[i][1]) == 0, "case %zu: got %s", i,
                  v + 9);
    free(line);
  }
}
END_TEST

/* Bytes that are not UTF-8 (a file name in the manifest repository, a
 * provider's message) are written as the text \xNN: every line is valid
 * UTF-8, every JSON line parses; DEL is escaped like other controls. */
START_TEST(log_bytes_that_are_not_utf8)
{
  static const char *const bad[] = {"caf\xe9", "\xff\xfe", "cut \xc3",
                                    "del\x7f"};

  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char *line = one_line(LOG_FORMAT_JSON, bad[i]);
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    json_t *s;

    ck_assert_msg(o != NULL, "case %zu: %s", i, err.text);
    json_decref(o);
    free(line);
    line = one_line(LOG_FORMAT_LOGFMT, bad[i]);
    s = json_string(line);
    ck_assert_msg(s != NULL, "case %zu: not UTF-8: %s", i, line);
    json_decref(s);
    ck_assert_msg(!strchr(line, 0x7f), "case %zu: DEL bare", i);
    free(line);
  }
}
END_TEST

START_TEST(log_bytes_that_are_not_utf8_read_as_escapes)
{
  char *line = one_line(LOG_FORMAT_LOGFMT, "caf\xe9");

  ck_assert_str_eq(strstr(line, " k="), " k=\"caf\\xe9\"");
  free(line);
  line = one_line(LOG_FORMAT_JSON, "caf\xe9 \xed\xa0\x80 \xc0\xaf");
  ck_assert_ptr_nonnull(strstr(
      line, "\"k\":\"caf\\\\xe9 \\\\xed\\\\xa0\\\\x80 \\\\xc0\\\\xaf\"}"));
  free(line);
}
END_TEST

/* Every JSON line parses back to the strings that were logged, control
 * bytes, quotes, backslashes and UTF-8 included. */
START_TEST(log_json_round_trips)
{
  static const char *const values[] = {
      "acme",
      "",
      "two words",
      "say \"hi\"",
      "C:\\dir\\",
      "one\ntwo",
      "cr\rtab\tbell\a\x1f",
      "caf\xc3\xa9 \xe2\x82\xac",
      "</script>",
      "a=b",
  };

  for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
    char *line = one_line(LOG_FORMAT_JSON, values[i]);
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);

    ck_assert_msg(o != NULL, "case %zu: %s: %s", i, err.text, line);
    ck_assert_str_eq(json_string_value(json_object_get(o, "k")), values[i]);
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "info");
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")), "m");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "ts"))), 24);
    ck_assert_uint_eq(json_object_size(o), 4);
    json_decref(o);
    /* The pairs are in the order given: ts, level, msg, then ours. */
    ck_assert_int_eq(strncmp(line, "{\"ts\":\"", 7), 0);
    ck_assert_ptr_nonnull(strstr(line, "\",\"level\":\"info\",\"msg\":\"m\","
                                       "\"k\":\""));
    free(line);
  }
}
END_TEST

/* A NULL string value drops its pair wherever it is. */
START_TEST(log_null_values_are_skipped)
{
  struct capture c;
  char *text;

  capture_start(&c, LOG_FORMAT_LOGFMT);
  log_at(LOG_LEVEL_WARN, "m", LOG_S("first", NULL), LOG_S("a", "1"),
         LOG_S("mid", NULL), LOG_S("b", "2"), LOG_S("last", NULL));
  log_at(LOG_LEVEL_WARN, "only", LOG_S("gone", NULL));
  text = capture_end(&c);
  ck_assert_ptr_nonnull(strstr(text, " level=warn msg=m a=1 b=2\n"));
  ck_assert_ptr_nonnull(strstr(text, " level=warn msg=only\n"));
  ck_assert_ptr_null(strstr(text, "first"));
  ck_assert_ptr_null(strstr(text, "mid"));
  ck_assert_ptr_null(strstr(text, "last"));
  ck_assert_ptr_null(strstr(text, "gone"));
  free(text);
  capture_start(&c, LOG_FORMAT_JSON);
  log_at(LOG_LEVEL_ERROR, "m", LOG_S("first", NULL), LOG_S("a", "1"),
         LOG_S("last", NULL));
  text = capture_end(&c);
  ck_assert_ptr_nonnull(
      strstr(text, ",\"level\":\"error\",\"msg\":\"m\",\"a\":\"1\"}\n"));
  ck_assert_ptr_null(strstr(text, "first"));
  free(text);
}
END_TEST

/* Count of lines in `text` holding `needle`. */
static int lines_with(const char *text, const char *needle)
{
  int n = 0;

  for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* Debug events show only with TENANTD_LOG_LEVEL=debug, as log_setup()
 * found it; every other level always shows, with its name. */
START_TEST(log_levels_and_tenantd_log_level)
{
  struct capture c;
  char *text;

  unsetenv("TENANTD_LOG_LEVEL");
  capture_start(&c, LOG_FORMAT_LOGFMT);
  log_at(LOG_LEVEL_DEBUG, "d1");
  log_at(LOG_LEVEL_INFO, "i1");
  log_at(LOG_LEVEL_WARN, "w1");
  log_at(LOG_LEVEL_ERROR, "e1");
  /* Read by log_setup(): set later, it changes nothing yet. */
  setenv("TENANTD_LOG_LEVEL", "debug", 1);
  log_at(LOG_LEVEL_DEBUG, "d2");
  text = capture_end(&c);
  ck_assert_int_eq(lines_with(text, "msg="), 3);
  ck_assert_int_eq(lines_with(text, " level=info msg=i1\n"), 1);
  ck_assert_int_eq(lines_with(text, " level=warn msg=w1\n"), 1);
  ck_assert_int_eq(lines_with(text, " level=error msg=e1\n"), 1);
  free(text);

  capture_start(&c, LOG_FORMAT_JSON);
  log_at(LOG_LEVEL_DEBUG, "d3");
  log_at(LOG_LEVEL_INFO, "i3");
  text = capture_end(&c);
  ck_assert_int_eq(lines_with(text, "\"level\":\"debug\",\"msg\":\"d3\"}"), 1);
  ck_assert_int_eq(lines_with(text, "\"msg\":"), 2);
  free(text);

  setenv("TENANTD_LOG_LEVEL", "warn", 1);
  capture_start(&c, LOG_FORMAT_LOGFMT);
  log_at(LOG_LEVEL_INFO, "i4");
  log_at(LOG_LEVEL_WARN, "w4");
  text = capture_end(&c);
  ck_assert_int_eq(lines_with(text, "msg="), 1);
  ck_assert_ptr_null(strstr(text, "i4"));
  free(text);

  /* A level tenantd does not know is an error, not a silent info. */
  setenv("TENANTD_LOG_LEVEL", "verbose", 1);
  ck_assert_int_eq(log_setup(LOG_FORMAT_LOGFMT, NULL), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "'verbose' is not a level"));
  unsetenv("TENANTD_LOG_LEVEL");
  ck_assert_int_eq(log_setup(LOG_FORMAT_LOGFMT, NULL), 0);
}
END_TEST

/* A long value is written whole, still one line. */
START_TEST(log_long_values_stay_whole)
{
  char *big = td_malloc(20001), *line;

  for (size_t i = 0; i < 20000; i++)
    big[i] = i % 100 == 99 ? ' ' : 'a' + i % 26;
  big[20000] = '\0';
  line = one_line(LOG_FORMAT_LOGFMT, big);
  ck_assert_uint_eq(strlen(strstr(line, " k=\"") + 4), 20000 + 1);
  free(line);
  free(big);
}
END_TEST

/* Numbers and booleans are typed in JSON, bare in logfmt. */
START_TEST(log_numbers_and_booleans_are_typed)
{
  struct capture c;
  char *text;
  json_t *o;

  capture_start(&c, LOG_FORMAT_JSON);
  log_at(LOG_LEVEL_INFO, "m", LOG_U("port", 9471), LOG_B("pushed", true),
         LOG_B("fetched", false), LOG_I("delta", -3),
         LOG_SECS("seconds", 1.2344));
  text = capture_end(&c);
  o = json_loads(text, 0, NULL);
  ck_assert_ptr_nonnull(o);
  ck_assert(json_is_integer(json_object_get(o, "port")));
  ck_assert_int_eq(json_integer_value(json_object_get(o, "port")), 9471);
  ck_assert(json_is_true(json_object_get(o, "pushed")));
  ck_assert(json_is_false(json_object_get(o, "fetched")));
  ck_assert_int_eq(json_integer_value(json_object_get(o, "delta")), -3);
  ck_assert(json_is_real(json_object_get(o, "seconds")));
  ck_assert_ptr_nonnull(strstr(text, "\"seconds\":1.234}"));
  json_decref(o);
  free(text);

  capture_start(&c, LOG_FORMAT_LOGFMT);
  log_at(LOG_LEVEL_INFO, "m", LOG_U("port", 9471), LOG_B("pushed", true),
         LOG_SECS("seconds", 2.5), LOG_U("big", UINT64_MAX));
  text = capture_end(&c);
  ck_assert_ptr_nonnull(strstr(text, " msg=m port=9471 pushed=true "
                                     "seconds=2.500 "
                                     "big=18446744073709551615\n"));
  free(text);
}
END_TEST

/* A warning repeated in a flood: a burst is written, the rest counted,
 * and the count comes with the next line of that message or a flush.
 * Infos are never limited. */
START_TEST(log_repeated_warnings_are_limited)
{
  struct capture c;
  char *text;

  capture_start(&c, LOG_FORMAT_LOGFMT);
  for (int i = 0; i < 20000; i++)
    log_at(LOG_LEVEL_WARN, "webhook rejected", LOG_S("peer", "1.2.3.4:5"));
  for (int i = 0; i < 50; i++)
    log_at(LOG_LEVEL_INFO, "pass done");
  log_at(LOG_LEVEL_WARN, "another warning");
  log_flush_suppressed();
  text = capture_end(&c);
  ck_assert_int_eq(lines_with(text, "msg=\"webhook rejected\""), LOG_BURST + 1);
  ck_assert_int_eq(lines_with(text, "msg=\"pass done\""), 50);
  ck_assert_int_eq(lines_with(text, "msg=\"another warning\""), 1);
  /* The flush line: the message and how many it stood for. */
  ck_assert_int_eq(
      lines_with(text, " level=warn msg=\"webhook rejected\" suppressed="), 1);
  ck_assert_ptr_nonnull(strstr(text, "suppressed=19990\n"));
  free(text);
}
END_TEST

Suite *make_suite_log(void)
{
  Suite *s = suite_create("log");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, log_lines_quote_what_needs_it);
  tcase_add_test(tc, log_logfmt_line_shape);
  tcase_add_test(tc, log_logfmt_quoting);
  tcase_add_test(tc, log_bytes_that_are_not_utf8);
  tcase_add_test(tc, log_bytes_that_are_not_utf8_read_as_escapes);
  tcase_add_test(tc, log_json_round_trips);
  tcase_add_test(tc, log_null_values_are_skipped);
  tcase_add_test(tc, log_levels_and_tenantd_log_level);
  tcase_add_test(tc, log_long_values_stay_whole);
  tcase_add_test(tc, log_numbers_and_booleans_are_typed);
  tcase_add_test(tc, log_repeated_warnings_are_limited);
  suite_add_tcase(s, tc);
  return s;
}
