#include "base/compat.h"

#include <stdio.h>

#include "providers/common/options.h"
#include "suites.h"

#define SECRET "s3cret-value"

struct cfg {
  char *dir;
  char *label;
  char *server;
  uint64_t timeout_ms;
  double rate;
  bool verbose;
  int mode;
  struct opt_secret key;
  json_t *command;
};

static const char *const modes[] = {"all", "writes", NULL};

static const struct opt table[] = {
    OPT_STR("dir", struct cfg, dir, OPT_REQUIRED | OPT_NONEMPTY, 16,
            "a directory path"),
    OPT_STR("label", struct cfg, label, 0, 0, NULL),
    OPT_STR_IN("server", struct cfg, server, OPT_NONEMPTY, 0,
               "abcdefghijklmnopqrstuvwxyz", "local",
               "a server id such as \"local\""),
    OPT_UINT("timeoutMs", struct cfg, timeout_ms, 1, 600000, 5000),
    OPT_NUMBER("rate", struct cfg, rate, 0, 1, 0.25),
    OPT_BOOL("verbose", struct cfg, verbose, true),
    OPT_ENUM("mode", struct cfg, mode, modes, 1),
    OPT_SECRET("keyEnv", struct cfg, key, "TD_TEST_OPT_KEY", "the API key"),
    OPT_JSON("command", struct cfg, command, 0, "a list of strings"),
};

/* Parses `text` into *c; the message (or "") goes to err. */
static int parse(const char *text, struct cfg *c, char *err, size_t errcap)
{
  json_t *config = json_loads(text, 0, NULL);
  int rc;

  ck_assert_msg(config != NULL, "bad test JSON: %s", text);
  memset(c, 0, sizeof(*c));
  err[0] = '\0';
  rc = opt_parse("t", table, ARRAY_SIZE(table), config, c, err, errcap);
  json_decref(config);
  return rc;
}

START_TEST(defaults_and_values)
{
  struct cfg c;
  char err[512];

  setenv("TD_TEST_OPT_KEY", SECRET, 1);
  ck_assert_int_eq(
      parse("{\"type\": \"t\", \"dir\": \"/d\"}", &c, err, sizeof(err)), 0);
  ck_assert_str_eq(err, "");
  ck_assert_str_eq(c.dir, "/d");
  ck_assert_ptr_null(c.label);
  ck_assert_str_eq(c.server, "local");
  ck_assert_uint_eq(c.timeout_ms, 5000);
  ck_assert(c.rate == 0.25);
  ck_assert(c.verbose);
  ck_assert_int_eq(c.mode, 1);
  ck_assert_str_eq(c.key.name, "TD_TEST_OPT_KEY");
  ck_assert_str_eq(c.key.value, SECRET);
  ck_assert_ptr_null(c.command);
  opt_release(table, ARRAY_SIZE(table), &c);
  ck_assert_ptr_null(c.dir);
  ck_assert_ptr_null(c.key.value);

  setenv("TD_TEST_OPT_OTHER", "other", 1);
  ck_assert_int_eq(parse("{\"dir\": \"/e\", \"label\": \"\", \"server\": "
                         "\"abc\", \"timeoutMs\": 600000, \"rate\": 1, "
                         "\"verbose\": false, \"mode\": \"all\", \"keyEnv\": "
                         "\"TD_TEST_OPT_OTHER\", \"command\": [\"a\", 1]}",
                         &c, err, sizeof(err)),
                   0);
  ck_assert_str_eq(c.label, "");
  ck_assert_str_eq(c.server, "abc");
  ck_assert_uint_eq(c.timeout_ms, 600000);
  ck_assert(c.rate == 1.0);
  ck_assert(!c.verbose);
  ck_assert_int_eq(c.mode, 0);
  ck_assert_str_eq(c.key.name, "TD_TEST_OPT_OTHER");
  ck_assert_str_eq(c.key.value, "other");
  /* Whatever it is, for open() to check: a reference the struct holds. */
  ck_assert(json_is_array(c.command));
  ck_assert_uint_eq(json_array_size(c.command), 2);
  opt_release(table, ARRAY_SIZE(table), &c);
  unsetenv("TD_TEST_OPT_OTHER");
  unsetenv("TD_TEST_OPT_KEY");
}
END_TEST

START_TEST(errors_are_one_clear_line)
{
  static const struct {
    const char *json, *message;
  } cases[] = {
      {"[]", "t: the config must be an object"},
      {"{}", "t: dir is required (a directory path)"},
      {"{\"dir\": 3}", "t: dir must be a directory path"},
      {"{\"dir\": \"\"}", "t: dir must be a directory path"},
      {"{\"dir\": \"/0123456789abcdef\"}", "t: dir must be at most 16 bytes"},
      {"{\"dir\": \"/d\", \"label\": 1}", "t: label must be a string"},
      {"{\"dir\": \"/d\", \"server\": \"ab-c\"}",
       "t: server must be a server id such as \"local\""},
      {"{\"dir\": \"/d\", \"timeoutMs\": 0}",
       "t: timeoutMs must be an integer between 1 and 600000"},
      {"{\"dir\": \"/d\", \"timeoutMs\": 600001}",
       "t: timeoutMs must be an integer between 1 and 600000"},
      {"{\"dir\": \"/d\", \"timeoutMs\": -5}",
       "t: timeoutMs must be an integer between 1 and 600000"},
      {"{\"dir\": \"/d\", \"timeoutMs\": 2.5}",
       "t: timeoutMs must be an integer between 1 and 600000"},
      {"{\"dir\": \"/d\", \"timeoutMs\": \"5\"}",
       "t: timeoutMs must be an integer between 1 and 600000"},
      {"{\"dir\": \"/d\", \"rate\": 1.5}",
       "t: rate must be a number between 0 and 1"},
      {"{\"dir\": \"/d\", \"rate\": -0.1}",
       "t: rate must be a number between 0 and 1"},
      {"{\"dir\": \"/d\", \"rate\": true}",
       "t: rate must be a number between 0 and 1"},
      {"{\"dir\": \"/d\", \"verbose\": 1}", "t: verbose must be true or false"},
      {"{\"dir\": \"/d\", \"mode\": \"some\"}",
       "t: mode must be one of all, writes"},
      {"{\"dir\": \"/d\", \"mode\": 0}", "t: mode must be one of all, writes"},
      {"{\"dir\": \"/d\", \"keyEnv\": \"\"}",
       "t: keyEnv must name an environment variable"},
      {"{\"dir\": \"/d\", \"keyEnv\": \"A=B\"}",
       "t: keyEnv must name an environment variable"},
      {"{\"dir\": \"/d\", \"keyEnv\": 7}",
       "t: keyEnv must name an environment variable"},
      {"{\"dir\": \"/d\", \"keyEnv\": \"TD_TEST_OPT_UNSET\"}",
       "t: the environment variable TD_TEST_OPT_UNSET (keyEnv) is not set; "
       "it must hold the API key"},
      {"{\"dir\": \"/d\", \"keyEnv\": \"TD_TEST_OPT_EMPTY\"}",
       "t: the environment variable TD_TEST_OPT_EMPTY (keyEnv) is not set; "
       "it must hold the API key"},
      {"{\"dir\": \"/d\", \"timeoutMS\": 5}",
       "t: unknown option 'timeoutMS' (did you mean 'timeoutMs'?)"},
      {"{\"dir\": \"/d\", \"verbos\": true}",
       "t: unknown option 'verbos' (did you mean 'verbose'?)"},
      {"{\"dir\": \"/d\", \"bogus\": 1}", "t: unknown option 'bogus'"},
  };

  setenv("TD_TEST_OPT_KEY", SECRET, 1);
  setenv("TD_TEST_OPT_EMPTY", "", 1);
  unsetenv("TD_TEST_OPT_UNSET");
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct cfg c;
    char err[512];

    ck_assert_int_eq(parse(cases[i].json, &c, err, sizeof(err)), -1);
    ck_assert_msg(strcmp(err, cases[i].message) == 0,
                  "case %zu: got '%s', want '%s'", i, err, cases[i].message);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_ptr_null(strstr(err, SECRET));
    /* What was filled before the error is released all the same. */
    opt_release(table, ARRAY_SIZE(table), &c);
  }
  unsetenv("TD_TEST_OPT_KEY");
  unsetenv("TD_TEST_OPT_EMPTY");
}
END_TEST

START_TEST(default_secret_missing)
{
  struct cfg c;
  char err[512];

  unsetenv("TD_TEST_OPT_KEY");
  ck_assert_int_eq(parse("{\"dir\": \"/d\"}", &c, err, sizeof(err)), -1);
  ck_assert_str_eq(err, "t: the environment variable TD_TEST_OPT_KEY "
                        "(keyEnv) is not set; it must hold the API key");
  opt_release(table, ARRAY_SIZE(table), &c);
}
END_TEST

START_TEST(short_buffer_is_cut_not_overrun)
{
  struct cfg c;
  char err[24];

  ck_assert_int_eq(
      parse("{\"dir\": \"/d\", \"mode\": \"x\"}", &c, err, sizeof(err)), -1);
  ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
  ck_assert_str_eq(err, "t: mode must be one of ");
  opt_release(table, ARRAY_SIZE(table), &c);
}
END_TEST

Suite *make_suite_options(void)
{
  Suite *s = suite_create("options");
  TCase *tc = tcase_create("options");

  tcase_add_test(tc, defaults_and_values);
  tcase_add_test(tc, errors_are_one_clear_line);
  tcase_add_test(tc, default_secret_missing);
  tcase_add_test(tc, short_buffer_is_cut_not_overrun);
  suite_add_tcase(s, tc);
  return s;
}
