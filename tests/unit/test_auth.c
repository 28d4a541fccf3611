/*
 * Tokens with roles: the tokens file, every problem at its position,
 * digests only, and matching a presented token.
 */
#include "base/compat.h"

#include <stdio.h>

#include "server/auth.h"
#include "server/config.h"
#include "suites.h"

/* 64 hex digits: a digest of some token. */
#define ALICE "3e5ae1bd3d8d6cd5e04a0c0b6a85e1b6e8bd1f6b7e0cf53cbb1fc78c0a79d70b"

static void digest_hex(const char *token, char out[65])
{
  struct auth_tokens t = AUTH_TOKENS_INIT;

  auth_tokens_add_secret(&t, "x", AUTH_ROLE_READ, token);
  for (size_t i = 0; i < AUTH_DIGEST_LEN; i++)
    snprintf(out + 2 * i, 3, "%02x", t.v[0].digest[i]);
  auth_tokens_release(&t);
}

static char *problems(const char *text)
{
  struct auth_tokens t = AUTH_TOKENS_INIT;
  struct diag_list d = DIAG_LIST_INIT;
  char *out;

  ck_assert_int_eq(auth_tokens_parse(&t, "tokens.yaml", text, strlen(text), &d),
                   -1);
  diag_sort(&d);
  out = test_diags_text(&d);
  diag_list_release(&d);
  auth_tokens_release(&t);
  return out;
}

START_TEST(a_tokens_file_gives_names_roles_and_digests)
{
  struct auth_tokens t = AUTH_TOKENS_INIT;
  struct diag_list d = DIAG_LIST_INIT;
  char alice[65], grafana[65], header[64];
  char *text;
  const struct auth_token *who;

  digest_hex("alice-token", alice);
  digest_hex("grafana-token", grafana);
  text = td_asprintf("# who may do what\n"
                     "- {name: Alice Liddell, role: write, sha256: %s,\n"
                     "   email: alice@example.com}\n"
                     "- name: grafana\n"
                     "  role: read\n"
                     "  sha256: %s\n",
                     alice, grafana);
  ck_assert_int_eq(auth_tokens_parse(&t, "tokens.yaml", text, strlen(text), &d),
                   0);
  ck_assert_uint_eq(t.n, 2);
  ck_assert_str_eq(t.v[0].name, "Alice Liddell");
  ck_assert_str_eq(t.v[0].email, "alice@example.com");
  ck_assert_int_eq(t.v[0].role, AUTH_ROLE_WRITE);
  ck_assert_ptr_null(t.v[1].email);
  ck_assert_int_eq(t.v[1].role, AUTH_ROLE_READ);

  who = auth_tokens_match(&t, "Bearer grafana-token");
  ck_assert_ptr_nonnull(who);
  ck_assert_str_eq(who->name, "grafana");
  ck_assert_ptr_eq(auth_tokens_match(&t, "Bearer alice-token"), &t.v[0]);
  ck_assert_ptr_eq(auth_tokens_match(&t, "bearer  alice-token"), &t.v[0]);
  ck_assert_ptr_null(auth_tokens_match(&t, "Bearer alice-tokenX"));
  ck_assert_ptr_null(auth_tokens_match(&t, "Bearer alice-token "));
  ck_assert_ptr_null(auth_tokens_match(&t, "Bearer "));
  ck_assert_ptr_null(auth_tokens_match(&t, "alice-token"));
  ck_assert_ptr_null(auth_tokens_match(&t, NULL));
  /* The digest itself is no token. */
  snprintf(header, sizeof(header), "Bearer %.56s", alice);
  ck_assert_ptr_null(auth_tokens_match(&t, header));
  ck_assert(auth_tokens_any(&t, AUTH_ROLE_WRITE));
  ck_assert_str_eq(auth_role_name(AUTH_ROLE_OPERATE), "operate");
  auth_tokens_release(&t);
  diag_list_release(&d);
  free(text);
}
END_TEST

START_TEST(every_problem_has_its_position)
{
  char *out = problems(
      "- {name: ok, role: read, sha256: " ALICE "}\n"
      "- {name: '', role: admin, sha256: abc}\n"
      "- {name: bob, role: read, sha256: " ALICE "}\n"
      "- {name: ok, role: write, sha256: " ALICE "}\n"
      "- {name: eve, role: read, token: s3cret, sha256: " ALICE "}\n"
      "- just a string\n"
      "- {name: \"a\\nb\", role: read, sha256: " ALICE ", email: x}\n");

  ck_assert_str_eq(
      out,
      "tokens.yaml:2:10: error: 'name' must be 1 to 64 letters, digits, "
      "spaces or .-_@\n"
      "tokens.yaml:2:20: error: 'role' must be read, operate or write\n"
      "tokens.yaml:2:35: error: 'sha256' must be the token's SHA-256 in 64 "
      "hex digits (sha256sum), never the token\n"
      "tokens.yaml:3:3: error: the digest of token 'bob' is given twice\n"
      "tokens.yaml:4:3: error: the name of token 'ok' is given twice\n"
      "tokens.yaml:5:27: error: unknown key 'token' (expected: name, role, "
      "sha256, email)\n"
      "tokens.yaml:6:3: error: each token is a mapping {name, role, sha256}, "
      "not a string\n"
      "tokens.yaml:7:10: error: 'name' must be 1 to 64 letters, digits, "
      "spaces or .-_@\n"
      "tokens.yaml:7:111: error: 'email' must be an address like "
      "ops@example.com\n");
  free(out);
  out = problems("{name: x}\n");
  ck_assert_str_eq(out, "tokens.yaml:1:1: error: a tokens file is a list of "
                        "{name, role, sha256}, not a mapping\n");
  free(out);
}
END_TEST

START_TEST(the_config_reads_the_tokens_file_beside_it)
{
  char *dir = test_tmpdir(), *path = td_asprintf("%s/tenantd.yaml", dir);
  char *tokens = td_asprintf("%s/tokens.yaml", dir), *text;
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c = NULL;
  char alice[65];
  FILE *f;

  digest_hex("alice-token", alice);
  f = fopen(tokens, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "- {name: alice, role: operate, sha256: %s}\n", alice);
  fclose(f);
  setenv("TD_TEST_API_TOKEN", "api-token", 1);
  text = td_asprintf("source: {url: file:///srv/t.git}\n"
                     "http: {tokensFile: tokens.yaml, apiTokenEnv: "
                     "TD_TEST_API_TOKEN}\n"
                     "api: {mode: branch}\n"
                     "providers: {local: {type: local, stateDir: /tmp/x}}\n");
  ck_assert_int_eq(config_parse(path, text, strlen(text), &c, &d), 0);
  ck_assert_uint_eq(c->http.tokens.n, 2);
  ck_assert_str_eq(
      auth_tokens_match(&c->http.tokens, "Bearer alice-token")->name, "alice");
  ck_assert_int_eq(auth_tokens_match(&c->http.tokens, "Bearer api-token")->role,
                   AUTH_ROLE_WRITE);
  ck_assert_str_eq(c->http.tokens.v[1].name, "api");
  ck_assert(!c->http.reads_open);
  ck_assert_int_eq(c->api.mode, CONFIG_API_BRANCH);
  config_free(c);
  free(text);

  /* The file's problems, at their place in the file. */
  f = fopen(tokens, "w");
  fprintf(f, "- {name: api, role: read, sha256: %s}\n- {name: x}\n", alice);
  fclose(f);
  text = td_asprintf("source: {url: file:///srv/t.git}\n"
                     "http: {tokensFile: tokens.yaml, apiTokenEnv: "
                     "TD_TEST_API_TOKEN}\n"
                     "api: {mode: review}\n"
                     "providers: {local: {type: local, stateDir: /tmp/x}}\n");
  ck_assert_int_eq(config_parse(path, text, strlen(text), &c, &d), -1);
  ck_assert_uint_eq(d.n, 1);
  ck_assert_str_eq(d.v[0].msg, "'mode' must be direct (commits to the "
                               "tracked branch) or branch (a branch per "
                               "change, for review)");
  diag_list_release(&d);
  free(text);
  text = td_asprintf("source: {url: file:///srv/t.git}\n"
                     "http: {tokensFile: tokens.yaml, apiTokenEnv: "
                     "TD_TEST_API_TOKEN}\n"
                     "providers: {local: {type: local, stateDir: /tmp/x}}\n");
  ck_assert_int_eq(config_parse(path, text, strlen(text), &c, &d), -1);
  diag_sort(&d);
  ck_assert_uint_eq(d.n, 3);
  ck_assert_str_eq(d.v[0].path, path);
  ck_assert_str_eq(d.v[0].msg, "the tokens file names a token 'api', the "
                               "name of http.apiTokenEnv's");
  ck_assert_uint_eq(d.v[0].line, 2);
  ck_assert_str_eq(d.v[1].path, tokens);
  ck_assert_uint_eq(d.v[1].line, 2);
  diag_list_release(&d);
  free(text);

  /* Without readTokenEnv or a tokens file, reads stay open. */
  text = td_asprintf("source: {url: file:///srv/t.git}\n"
                     "http: {apiTokenEnv: TD_TEST_API_TOKEN}\n"
                     "providers: {local: {type: local, stateDir: /tmp/x}}\n");
  ck_assert_int_eq(config_parse(path, text, strlen(text), &c, &d), 0);
  ck_assert(c->http.reads_open);
  ck_assert_int_eq(c->api.mode, CONFIG_API_DIRECT);
  config_free(c);
  free(text);
  unsetenv("TD_TEST_API_TOKEN");
  test_rm_rf(dir);
  free(dir);
  free(path);
  free(tokens);
}
END_TEST

START_TEST(bearer_scheme_any_case_token_exact)
{
  ck_assert(auth_bearer_ok("Bearer s3cret", "s3cret"));
  ck_assert(auth_bearer_ok("bearer s3cret", "s3cret"));
  ck_assert(auth_bearer_ok("BEARER   s3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer S3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cre", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cret ", "s3cret"));
  ck_assert(!auth_bearer_ok("Basic s3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearers3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer ", "s3cret"));
  ck_assert(!auth_bearer_ok(NULL, "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cret", NULL));
}
END_TEST

START_TEST(secrets_compared_whole)
{
  ck_assert(auth_secret_equal("abc", 3, "abc", 3));
  ck_assert(!auth_secret_equal("abc", 3, "abd", 3));
  ck_assert(!auth_secret_equal("abc", 3, "abc", 2));
  ck_assert(!auth_secret_equal("abc\0x", 5, "abc\0y", 5));
  ck_assert(auth_secret_equal("", 0, "", 0));
}
END_TEST

Suite *make_suite_auth(void)
{
  Suite *s = suite_create("auth");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, a_tokens_file_gives_names_roles_and_digests);
  tcase_add_test(tc, every_problem_has_its_position);
  tcase_add_test(tc, the_config_reads_the_tokens_file_beside_it);
  tcase_add_test(tc, bearer_scheme_any_case_token_exact);
  tcase_add_test(tc, secrets_compared_whole);
  suite_add_tcase(s, tc);
  return s;
}
