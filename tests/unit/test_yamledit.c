#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "manifest/yamledit.h"
#include "suites.h"

/* A tenant as people write them: comments everywhere, a flow mapping,
 * a quoted value, blank lines. */
static const char tenant[] = "# Sequans: MWC demo tenant.\n"
                             "apiVersion: tenantd.io/v1\n"
                             "kind: Tenant\n"
                             "metadata:\n"
                             "  name: mwc-sequans   # = the file name\n"
                             "spec:\n"
                             "  displayName: \"Sequans (MWC)\"\n"
                             "  tier: basic            # upgraded in Q3\n"
                             "  owner: devops@sequans.example\n"
                             "\n"
                             "  environments:\n"
                             "    # staging first\n"
                             "    - name: staging\n"
                             "      network: {cidr: 10.21.0.0/16}\n"
                             "      apps:\n"
                             "        - name: api\n"
                             "          image: 'registry.example/api:2.4.1'\n"
                             "          port: 8080\n"
                             "          dns: {public: true}\n"
                             "        - name: web   # the front\n"
                             "          image: registry.example/web:2.4.1\n"
                             "          replicas: 2\n"
                             "          dependsOn: [api]\n";

static char *set(const char *text, const char *path,
                 const struct yamledit_value *v, int want_rc)
{
  char *out = NULL;
  size_t len = 0;
  struct src_pos at;
  int rc = yamledit_set(text, strlen(text), path, v, &out, &len, &at);

  ck_assert_msg(rc == want_rc, "%s: rc %d (%s), want %d", path, rc,
                td_error_last(), want_rc);
  if (rc == 0) {
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), len);
  } else {
    ck_assert_ptr_null(out);
  }
  return out;
}

/* `text` with the first `from` replaced by `to`. */
static char *replaced(const char *text, const char *from, const char *to)
{
  const char *at = strstr(text, from);

  ck_assert_ptr_nonnull(at);
  return td_asprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

static void check_edit(const char *path, const struct yamledit_value *v,
                       const char *from, const char *to)
{
  char *out = set(tenant, path, v, 0);
  char *want = replaced(tenant, from, to);

  ck_assert_str_eq(out, want);
  free(out);
  free(want);
}

START_TEST(replaces_a_value_keeping_every_other_byte)
{
  struct yamledit_value tier = {.type = YS_STR, .s = "premium"};
  struct yamledit_value replicas = {.type = YS_INT, .i = 3};

  check_edit("spec.tier", &tier, "tier: basic ", "tier: premium ");
  check_edit("spec.environments[staging].apps[web].replicas", &replicas,
             "replicas: 2", "replicas: 3");
}
END_TEST

START_TEST(keeps_the_quoting_of_the_old_value)
{
  struct yamledit_value name = {.type = YS_STR, .s = "Sequans's MWC"};
  struct yamledit_value image = {.type = YS_STR, .s = "r.example/api:2.5"};

  check_edit("spec.displayName", &name, "\"Sequans (MWC)\"",
             "\"Sequans's MWC\"");
  check_edit("spec.environments[staging].apps[api].image", &image,
             "'registry.example/api:2.4.1'", "'r.example/api:2.5'");
}
END_TEST

START_TEST(adds_a_missing_key_after_its_siblings)
{
  struct yamledit_value yes = {.type = YS_BOOL, .b = true};
  struct yamledit_value three = {.type = YS_INT, .i = 3};

  check_edit("spec.suspend", &yes, "owner: devops@sequans.example\n",
             "owner: devops@sequans.example\n  suspend: true\n");
  check_edit("spec.environments[staging].apps[api].replicas", &three,
             "port: 8080\n", "port: 8080\n          replicas: 3\n");
  /* In a flow mapping, after a comma. */
  check_edit("spec.environments[staging].apps[api].dns.private", &yes,
             "{public: true}", "{public: true, private: true}");
}
END_TEST

START_TEST(a_string_that_would_read_as_another_type_is_quoted)
{
  struct yamledit_value v = {.type = YS_STR, .s = "true"};
  struct yamledit_value num = {.type = YS_STR, .s = "42"};
  struct yamledit_value odd = {.type = YS_STR, .s = "a: b # c\n\"d\""};

  check_edit("spec.tier", &v, "tier: basic ", "tier: \"true\" ");
  check_edit("spec.tier", &num, "tier: basic ", "tier: \"42\" ");
  check_edit("spec.tier", &odd, "tier: basic ",
             "tier: \"a: b # c\\n\\\"d\\\"\" ");
}
END_TEST

START_TEST(the_same_value_is_the_same_text)
{
  struct yamledit_value v = {.type = YS_STR, .s = "basic"};
  char *out = set(tenant, "spec.tier", &v, 0);

  ck_assert_str_eq(out, tenant);
  free(out);
}
END_TEST

START_TEST(missing_steps_are_not_found_with_a_position)
{
  struct yamledit_value v = {.type = YS_INT, .i = 1};
  struct src_pos at;
  char *out;
  size_t len;

  ck_assert_int_eq(yamledit_set(tenant, strlen(tenant),
                                "spec.environments[prod].apps[web].replicas",
                                &v, &out, &len, &at),
                   TD_ENOTFOUND);
  ck_assert_str_eq(td_error_last(), "environments has no item named 'prod'");
  ck_assert_uint_eq(at.line, 11);
  ck_assert_uint_eq(at.col, 3);
  set(tenant, "spec.environments[staging].apps[db].replicas", &v, TD_ENOTFOUND);
  set(tenant, "nothing.here", &v, TD_ENOTFOUND);
  set(tenant, "spec.environments", &v, TD_EINVALID); /* a list */
  set(tenant, "spec..tier", &v, TD_EINVALID);
  set(tenant, "spec.tier.", &v, TD_EINVALID);
  set(tenant, "spec.environments[staging]", &v, TD_EINVALID);
}
END_TEST

START_TEST(what_cannot_be_edited_in_place_is_refused)
{
  static const char *const texts[] = {
      /* an anchor: its other uses would change too */
      "spec:\n  tier: &t basic\n  other: *t\n",
      /* an alias */
      "base: &b basic\nspec:\n  tier: *b\n",
      /* a block scalar */
      "spec:\n  tier: |\n    basic\n",
      /* a plain scalar folded over two lines */
      "spec:\n  tier: basic\n    tier\n",
      /* a tag */
      "spec:\n  tier: !!str basic\n",
  };
  struct yamledit_value v = {.type = YS_STR, .s = "premium"};

  for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
    char *out = NULL;
    size_t len;
    struct src_pos at;
    int rc = yamledit_set(texts[i], strlen(texts[i]), "spec.tier", &v, &out,
                          &len, &at);

    ck_assert_msg(rc == TD_EINVALID, "text %zu: rc %d", i, rc);
    ck_assert_ptr_null(out);
  }
}
END_TEST

START_TEST(line_endings_and_a_byte_order_mark_are_kept)
{
  const char *crlf = "\xef\xbb\xbfspec:\r\n  tier: basic\r\n  owner: x\r\n";
  struct yamledit_value yes = {.type = YS_BOOL, .b = true};
  struct yamledit_value tier = {.type = YS_STR, .s = "premium"};
  char *out = set(crlf, "spec.suspend", &yes, 0);

  ck_assert_str_eq(out, "\xef\xbb\xbfspec:\r\n  tier: basic\r\n  owner: "
                        "x\r\n  suspend: true\r\n");
  free(out);
  out = set(crlf, "spec.tier", &tier, 0);
  ck_assert_str_eq(out,
                   "\xef\xbb\xbfspec:\r\n  tier: premium\r\n  owner: x\r\n");
  free(out);
}
END_TEST

START_TEST(multibyte_characters_before_a_value)
{
  const char *text = "spec:\n  displayName: \"Société\"\n  tier: é\n";
  struct yamledit_value tier = {.type = YS_STR, .s = "ü-premium"};
  char *out = set(text, "spec.tier", &tier, 0);

  ck_assert_str_eq(out, "spec:\n  displayName: \"Société\"\n  tier: "
                        "\"ü-premium\"\n");
  free(out);
}
END_TEST

START_TEST(get_reads_a_scalar_as_written)
{
  char *v = NULL;
  enum yscalar type;

  ck_assert_int_eq(yamledit_get(tenant, strlen(tenant),
                                "spec.environments[staging].apps[web].replicas",
                                &v, &type),
                   0);
  ck_assert_str_eq(v, "2");
  ck_assert_int_eq(type, YS_INT);
  free(v);
  ck_assert_int_eq(
      yamledit_get(tenant, strlen(tenant), "spec.suspend", &v, &type),
      TD_ENOTFOUND);
  ck_assert_int_eq(
      yamledit_get(tenant, strlen(tenant), "spec.environments", &v, &type),
      TD_EINVALID);
  ck_assert_ptr_null(v);
}
END_TEST

START_TEST(json_is_written_as_block_yaml)
{
  json_error_t err;
  json_t *doc = json_loads(
      "{\"apiVersion\": \"tenantd.io/v1\", \"kind\": \"Tenant\","
      " \"metadata\": {\"name\": \"acme\"},"
      " \"spec\": {\"tier\": \"basic\", \"suspend\": false, \"ratio\": 2.0,"
      "  \"labels\": {}, \"aliases\": [],"
      "  \"environments\": [{\"name\": \"prod\", \"database\": {},"
      "   \"apps\": [{\"name\": \"web\", \"port\": 8080,"
      "     \"dependsOn\": [\"api\", \"no\"], \"note\": \"yes: really\","
      "     \"cidr\": \"10.1.0.0/16\", \"version\": \"1.5\"}]}]}}",
      0, &err);
  char *yaml;

  ck_assert_ptr_nonnull(doc);
  yaml = yamledit_from_json(doc);
  ck_assert_str_eq(yaml, "apiVersion: tenantd.io/v1\n"
                         "kind: Tenant\n"
                         "metadata:\n"
                         "  name: acme\n"
                         "spec:\n"
                         "  tier: basic\n"
                         "  suspend: false\n"
                         "  ratio: 2.0\n"
                         "  labels: {}\n"
                         "  aliases: []\n"
                         "  environments:\n"
                         "    - name: prod\n"
                         "      database: {}\n"
                         "      apps:\n"
                         "        - name: web\n"
                         "          port: 8080\n"
                         "          dependsOn:\n"
                         "            - api\n"
                         "            - no\n"
                         "          note: \"yes: really\"\n"
                         "          cidr: 10.1.0.0/16\n"
                         "          version: \"1.5\"\n");
  free(yaml);
  json_decref(doc);
}
END_TEST

Suite *make_suite_yamledit(void)
{
  Suite *s = suite_create("yamledit");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, replaces_a_value_keeping_every_other_byte);
  tcase_add_test(tc, keeps_the_quoting_of_the_old_value);
  tcase_add_test(tc, adds_a_missing_key_after_its_siblings);
  tcase_add_test(tc, a_string_that_would_read_as_another_type_is_quoted);
  tcase_add_test(tc, the_same_value_is_the_same_text);
  tcase_add_test(tc, missing_steps_are_not_found_with_a_position);
  tcase_add_test(tc, what_cannot_be_edited_in_place_is_refused);
  tcase_add_test(tc, line_endings_and_a_byte_order_mark_are_kept);
  tcase_add_test(tc, multibyte_characters_before_a_value);
  tcase_add_test(tc, get_reads_a_scalar_as_written);
  tcase_add_test(tc, json_is_written_as_block_yaml);
  suite_add_tcase(s, tc);
  return s;
}
