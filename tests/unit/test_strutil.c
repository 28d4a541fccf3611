/*
 * Text helpers (base/strutil.h): "did you mean" suggestions and
 * durations.
 */
#include "base/compat.h"

#include "base/strutil.h"
#include "suites.h"

static const char *const keys[] = {"tier",     "environments", "suspend",
                                   "replicas", "port",         "dns_record",
                                   "dnssec",   "stateDir"};

/* One edit away (a letter missing, extra or wrong) is a likely typo. */
START_TEST(suggest_typos)
{
  ck_assert_str_eq(str_suggest("tiers", keys, ARRAY_SIZE(keys)), "tier");
  ck_assert_str_eq(str_suggest("replica", keys, ARRAY_SIZE(keys)), "replicas");
  ck_assert_str_eq(str_suggest("enviroments", keys, ARRAY_SIZE(keys)),
                   "environments");
  ck_assert_str_eq(str_suggest("suspemd", keys, ARRAY_SIZE(keys)), "suspend");
  ck_assert_str_eq(str_suggest("poort", keys, ARRAY_SIZE(keys)), "port");
  /* Two edits in a word long enough to carry them. */
  ck_assert_str_eq(str_suggest("enviromnts", keys, ARRAY_SIZE(keys)),
                   "environments");
  /* Any case for the word itself. */
  ck_assert_str_eq(str_suggest("TIER", keys, ARRAY_SIZE(keys)), "tier");
  ck_assert_str_eq(str_suggest("tier", keys, ARRAY_SIZE(keys)), "tier");
}
END_TEST

/* Two letters swapped count as one edit. */
START_TEST(suggest_transpositions)
{
  ck_assert_str_eq(str_suggest("tire", keys, ARRAY_SIZE(keys)), "tier");
  ck_assert_str_eq(str_suggest("stateDri", keys, ARRAY_SIZE(keys)), "stateDir");
  ck_assert_str_eq(str_suggest("prot", keys, ARRAY_SIZE(keys)), "port");
  ck_assert_str_eq(str_suggest("rpelicas", keys, ARRAY_SIZE(keys)), "replicas");
}
END_TEST

/* Three characters or more that begin a longer name suggest the first
 * such name; fewer do not. */
START_TEST(suggest_prefixes)
{
  ck_assert_str_eq(str_suggest("dns", keys, ARRAY_SIZE(keys)), "dns_record");
  ck_assert_str_eq(str_suggest("envir", keys, ARRAY_SIZE(keys)),
                   "environments");
  ck_assert_str_eq(str_suggest("state", keys, ARRAY_SIZE(keys)), "stateDir");
  ck_assert_ptr_null(str_suggest("dn", keys, ARRAY_SIZE(keys)));
  ck_assert_ptr_null(str_suggest("st", keys, ARRAY_SIZE(keys)));
}
END_TEST

/* Nothing close: no suggestion rather than a wild one. */
START_TEST(suggest_nothing_close)
{
  ck_assert_ptr_null(str_suggest("colour", keys, ARRAY_SIZE(keys)));
  ck_assert_ptr_null(str_suggest("memoryMiB", keys, ARRAY_SIZE(keys)));
  /* Two edits in four letters is another word. */
  ck_assert_ptr_null(str_suggest("pxrx", keys, ARRAY_SIZE(keys)));
  /* One edit in a two-letter word is anything. */
  ck_assert_ptr_null(str_suggest("ti", keys, ARRAY_SIZE(keys)));
  ck_assert_ptr_null(str_suggest("x", keys, ARRAY_SIZE(keys)));
  ck_assert_ptr_null(str_suggest("", keys, ARRAY_SIZE(keys)));
  ck_assert_ptr_null(str_suggest("tier", keys, 0));
  /* Longer than anything compared stays unmatched, and safe. */
  ck_assert_ptr_null(str_suggest("environmentsenvironmentsenvironments"
                                 "environmentsenvironmentsenvironments",
                                 keys, ARRAY_SIZE(keys)));
}
END_TEST

START_TEST(duration_units)
{
  static const struct {
    const char *text;
    int64_t ms;
  } ok[] = {
      {"250ms", 250},     {"0ms", 0},
      {"90s", 90000},     {"0s", 0},
      {"2m", 120000},     {"1h", 3600000},
      {"1h30m", 5400000}, {"1m30s500ms", 90500},
      {"007s", 7000},     {"1ms1m", 60001},
      {"24h", 86400000},  {"1s1s", 2000},
  };

  for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
    int64_t ms = -7;

    ck_assert_msg(str_parse_duration(ok[i].text, &ms) == 0, "%s", ok[i].text);
    ck_assert_msg(ms == ok[i].ms, "%s: got %lld", ok[i].text, (long long)ms);
  }
}
END_TEST

START_TEST(duration_malformed)
{
  static const char *const bad[] = {
      "",    "10",  "s",    "ms",   "h1",    "1x",  "1.5s",
      "-1s", "+1s", " 1s",  "1s ",  "1 s",   "1S",  "1H",
      "1d",  "1sm", "1mss", "1h30", "1m30x", "1\n", "5 minutes",
  };

  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    int64_t ms = 0;

    ck_assert_msg(str_parse_duration(bad[i], &ms) == -1, "'%s' accepted",
                  bad[i]);
  }
}
END_TEST

/* Totals up to INT64_MAX ms are kept; one more, in a number, a unit or
 * a sum, is -1, never a wrapped value. */
START_TEST(duration_overflow)
{
  int64_t ms = 0;

  ck_assert_int_eq(str_parse_duration("2562047788015h", &ms), 0);
  ck_assert(ms == 2562047788015LL * 3600000);
  ck_assert_int_eq(str_parse_duration("2562047788016h", &ms), -1);
  ck_assert_int_eq(str_parse_duration("153722867280912m", &ms), 0);
  ck_assert(ms == 153722867280912LL * 60000);
  ck_assert_int_eq(str_parse_duration("153722867280913m", &ms), -1);
  ck_assert_int_eq(str_parse_duration("9223372036854775s", &ms), 0);
  ck_assert_int_eq(str_parse_duration("9223372036854776s", &ms), -1);
  ck_assert_int_eq(str_parse_duration("9223372036854775000ms807ms", &ms), 0);
  ck_assert(ms == INT64_MAX);
  ck_assert_int_eq(str_parse_duration("9223372036854775000ms808ms", &ms), -1);
  ck_assert_int_eq(
      str_parse_duration("9223372036854775s9223372036854775s", &ms), -1);
  ck_assert_int_eq(str_parse_duration("9223372036854775808ms", &ms), -1);
  ck_assert_int_eq(str_parse_duration("99999999999999999999h", &ms), -1);
  ck_assert_int_eq(
      str_parse_duration("99999999999999999999999999999999999999ms", &ms), -1);
}
END_TEST

START_TEST(duration_largest_number)
{
  int64_t ms = 0;

  ck_assert_int_eq(str_parse_duration("9223372036854775807ms", &ms), 0);
  ck_assert(ms == INT64_MAX);
  ck_assert_int_eq(str_parse_duration("9223372036854775799ms", &ms), 0);
  ck_assert(ms == INT64_MAX - 8);
}
END_TEST

START_TEST(utf8_valid_and_not)
{
  static const char *const good[] = {"",
                                     "ascii",
                                     "caf\xc3\xa9",
                                     "\xe2\x82\xac",
                                     "\xf0\x9f\x98\x80",
                                     "\xef\xbf\xbf",
                                     "\xf4\x8f\xbf\xbf"};
  static const char *const bad[] = {"\xff",         "caf\xe9",
                                    "\xc0\xaf",     "\xe0\x80\xaf",
                                    "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                    "\xc3",         "\x80",
                                    "\xe2\x82",     "\xf8\x88\x80\x80\x80"};

  for (size_t i = 0; i < ARRAY_SIZE(good); i++)
    ck_assert_msg(str_is_utf8(good[i], strlen(good[i])), "good %zu", i);
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
    ck_assert_msg(!str_is_utf8(bad[i], strlen(bad[i])), "bad %zu", i);
  /* A sequence cut by the length given is not one. */
  ck_assert(!str_is_utf8("\xc3\xa9", 1));
  ck_assert_uint_eq(str_utf8_seq((const unsigned char *)"\xe2\x82\xac", 3), 3);
  ck_assert_uint_eq(str_utf8_seq((const unsigned char *)"x", 0), 0);
}
END_TEST

/* A join is what snprintf of "%s%s%s" gives, at every capacity: the
 * same bytes, cut in the same place, and the same length returned. */
START_TEST(join_is_snprintf_of_the_parts)
{
  static const char *const parts[][3] = {
      {"service/", "web.prod.acme", ""},
      {"dns_record/", "api.qa.b", ".alias.x.example"},
      {"", "", ""},
  };

  for (size_t p = 0; p < ARRAY_SIZE(parts); p++)
    for (size_t cap = 0; cap < 48; cap++) {
      char got[48], want[48];
      size_t n;
      int w;

      memset(got, 'X', sizeof(got));
      memset(want, 'X', sizeof(want));
      n = str_join(got, cap, parts[p][0], parts[p][1], parts[p][2], NULL);
      w = snprintf(want, cap, "%s%s%s", parts[p][0], parts[p][1], parts[p][2]);
      ck_assert_uint_eq(n, (size_t)w);
      /* Nothing past the capacity is touched. */
      ck_assert_mem_eq(got, want, sizeof(got));
    }
}
END_TEST

START_TEST(sanitize_keeps_text_and_marks_the_rest)
{
  char a[] = "caf\xc3\xa9 \xff\xfe ok\tand\nlines \x1b[31m\x7f end \xe2\x82";

  str_sanitize(a);
  ck_assert_str_eq(a, "caf\xc3\xa9 ?? ok\tand\nlines ?[31m? end ??");
  ck_assert(str_is_utf8(a, strlen(a)));
}
END_TEST

/* Every byte value, at every place in a run of printable text, becomes
 * what it becomes alone: text is read eight bytes at a time, and what a
 * word holds must not hide a byte or mark one beside it. */
START_TEST(sanitize_each_byte_anywhere_in_a_word)
{
  for (unsigned b = 1; b < 256; b++)
    for (size_t at = 0; at < 19; at++) {
      char s[20], want[20], alone[2] = {(char)b, '\0'};

      memset(s, 'a', 19);
      s[19] = '\0';
      s[at] = (char)b;
      str_sanitize(alone);
      memcpy(want, s, sizeof(want));
      want[at] = alone[0];
      str_sanitize(s);
      ck_assert_msg(strcmp(s, want) == 0, "byte %u at %zu", b, at);
    }
}
END_TEST

Suite *make_suite_strutil(void)
{
  Suite *s = suite_create("strutil");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, suggest_typos);
  tcase_add_test(tc, suggest_transpositions);
  tcase_add_test(tc, suggest_prefixes);
  tcase_add_test(tc, suggest_nothing_close);
  tcase_add_test(tc, duration_units);
  tcase_add_test(tc, duration_malformed);
  tcase_add_test(tc, duration_overflow);
  tcase_add_test(tc, duration_largest_number);
  tcase_add_test(tc, utf8_valid_and_not);
  tcase_add_test(tc, sanitize_keeps_text_and_marks_the_rest);
  tcase_add_test(tc, sanitize_each_byte_anywhere_in_a_word);
  tcase_add_test(tc, join_is_snprintf_of_the_parts);
  suite_add_tcase(s, tc);
  return s;
}
