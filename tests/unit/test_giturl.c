#include "base/compat.h"

#include <check.h>
#include <stdio.h>

#include "git/giturl.h"
#include "suites.h"

struct url_case {
  const char *url;
  const char *scheme, *user, *password, *host;
  int port;
  const char *bare, *shown;
};

static void check_url(const struct url_case *c)
{
  struct giturl u;

  giturl_parse(&u, c->url);
  ck_assert_msg(c->scheme ? u.scheme && strcmp(u.scheme, c->scheme) == 0
                          : !u.scheme,
                "%s: scheme %s", c->url, u.scheme ? u.scheme : "NULL");
  ck_assert_msg(c->user ? u.user && strcmp(u.user, c->user) == 0 : !u.user,
                "%s: user %s", c->url, u.user ? u.user : "NULL");
  ck_assert_msg(c->password ? u.password && strcmp(u.password, c->password) == 0
                            : !u.password,
                "%s: password %s", c->url, u.password ? u.password : "NULL");
  ck_assert_msg(c->host ? u.host && strcmp(u.host, c->host) == 0 : !u.host,
                "%s: host %s", c->url, u.host ? u.host : "NULL");
  ck_assert_msg(u.port == c->port, "%s: port %d", c->url, u.port);
  ck_assert_str_eq(u.bare, c->bare);
  ck_assert_str_eq(u.shown, c->shown);
  giturl_release(&u);
}

START_TEST(giturl_takes_the_authority_apart)
{
  static const struct url_case cases[] = {
      /* The user information ends at the last '@' before the path. */
      {"https://me:p@ss@git.example.com/t.git", "https", "me", "p@ss",
       "git.example.com", 443, "https://git.example.com/t.git",
       "https://me:***@git.example.com/t.git"},
      {"http://me:a@b@c@127.0.0.1:8080/t.git", "http", "me", "a@b@c",
       "127.0.0.1", 8080, "http://127.0.0.1:8080/t.git",
       "http://me:***@127.0.0.1:8080/t.git"},
      /* Percent-encoded: decoded for the server, both forms secret. */
      {"https://me:p%40ss%3Aw%2Fd@h/t.git", "https", "me", "p@ss:w/d", "h", 443,
       "https://h/t.git", "https://me:***@h/t.git"},
      /* A token as the user name of an http(s) URL is a secret. */
      {"https://ghp_T0KEN@github.com/o/r.git", "https", "ghp_T0KEN", NULL,
       "github.com", 443, "https://github.com/o/r.git",
       "https://***@github.com/o/r.git"},
      /* An ssh user is not; ssh keeps it in the URL. */
      {"ssh://git@[::1]:2222/t.git", "ssh", "git", NULL, "::1", 2222,
       "ssh://git@[::1]:2222/t.git", "ssh://git@[::1]:2222/t.git"},
      {"ssh://git:pw@host/t.git", "ssh", "git", "pw", "host", 22,
       "ssh://git@host/t.git", "ssh://git:***@host/t.git"},
      /* scp-like: ssh to host, port 22, kept as written. */
      {"git@github.com:org/repo.git", "ssh", "git", NULL, "github.com", 22,
       "git@github.com:org/repo.git", "git@github.com:org/repo.git"},
      /* A '@' in the path is not user information. */
      {"https://host/u@x/t.git", "https", NULL, NULL, "host", 443,
       "https://host/u@x/t.git", "https://host/u@x/t.git"},
      {"/srv/git/t.git", NULL, NULL, NULL, NULL, 0, "/srv/git/t.git",
       "/srv/git/t.git"},
      {"file:///srv/a@b/t.git", "file", NULL, NULL, NULL, 0,
       "file:///srv/a@b/t.git", "file:///srv/a@b/t.git"},
      {"HTTPS://h:99999/x", "https", NULL, NULL, "h", 0, "HTTPS://h:99999/x",
       "HTTPS://h:99999/x"},
  };

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
    check_url(&cases[i]);
}
END_TEST

START_TEST(giturl_knows_loopback)
{
  static const struct {
    const char *url;
    bool loopback;
  } cases[] = {
      {"http://127.0.0.1:9/x", true},      {"http://127.0.0.2/x", true},
      {"http://localhost/x", true},        {"http://[::1]:80/x", true},
      {"http://127.1/x", false},           {"http://127.0.0.1.evil/x", false},
      {"http://128.0.0.1/x", false},       {"http://127.0.0.256/x", false},
      {"http://git.example.com/x", false}, {"/srv/x", false},
  };

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct giturl u;

    giturl_parse(&u, cases[i].url);
    ck_assert_msg(giturl_is_loopback(&u) == cases[i].loopback, "%s",
                  cases[i].url);
    giturl_release(&u);
  }
}
END_TEST

/* redact_text() of msg with the URL's secrets. */
static void redacted(const char *url, const char *msg, char *out, size_t cap)
{
  struct giturl u;
  const char *secrets[GITURL_SECRETS_MAX];
  size_t n;

  giturl_parse(&u, url);
  n = giturl_secrets(&u, secrets);
  redact_text(out, cap, msg, secrets, n);
  giturl_release(&u);
}

START_TEST(redact_hides_every_form_of_the_password)
{
  char out[512];

  /* libgit2 quoting the whole URL it could not parse. */
  redacted("https://me:p@ss@h/t.git", "malformed URL 'https://me:p@ss@h/t.git'",
           out, sizeof(out));
  ck_assert_str_eq(out, "malformed URL 'https://me:***@h/t.git'");
  redacted("https://me:p%40ss@h/t.git", "sent p@ss, written p%40ss", out,
           sizeof(out));
  ck_assert_str_eq(out, "sent ***, written ***");
  redacted("https://ghp_T0KEN@h/t.git", "user ghp_T0KEN refused", out,
           sizeof(out));
  ck_assert_str_eq(out, "user *** refused");
  /* Nothing secret in an ssh or scp-like URL: nothing changes. */
  redacted("git@h:o/r.git", "git@h:o/r.git: no route", out, sizeof(out));
  ck_assert_str_eq(out, "git@h:o/r.git: no route");
}
END_TEST

START_TEST(redact_terminates_on_a_password_of_stars)
{
  char out[512];
  const char *stars[] = {"***", "*"}, *tricky[] = {"a*"};
  struct giturl u;

  /* This used to loop for ever: a replacement is never rescanned, and
   * one that would spell the password is another word. */
  giturl_parse(&u, "https://me:***@h/t.git");
  ck_assert_str_eq(u.shown, "https://me:[redacted]@h/t.git");
  giturl_release(&u);
  redacted("https://me:***@h/t.git", "https://me:***@h/t.git failed", out,
           sizeof(out));
  ck_assert_str_eq(out, "https://me:[redacted]@h/t.git failed");
  redact_text(out, sizeof(out), "a * b ***", stars, 2);
  ck_assert_str_eq(out, "a [redacted] b [redacted]");
  /* Text before a replacement spelling the secret again: withheld. */
  redact_text(out, sizeof(out), "aa*", tricky, 1);
  ck_assert_ptr_null(strstr(out, "a*"));
  ck_assert_ptr_nonnull(strstr(out, "withheld"));
}
END_TEST

START_TEST(redact_is_bounded)
{
  char big[4000], out[64];
  const char *secrets[] = {"x"};
  size_t n;

  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  n = redact_text(out, sizeof(out), big, secrets, 1);
  ck_assert_uint_eq(n, sizeof(out) - 1);
  ck_assert_uint_eq(strlen(out), n);
  ck_assert_ptr_null(strchr(out, 'x'));
  /* No secrets, or empty ones: a plain copy. */
  secrets[0] = "";
  redact_text(out, sizeof(out), "abc", secrets, 1);
  ck_assert_str_eq(out, "abc");
  redact_text(out, sizeof(out), "abc", NULL, 0);
  ck_assert_str_eq(out, "abc");
}
END_TEST

Suite *make_suite_giturl(void)
{
  Suite *s = suite_create("giturl");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, giturl_takes_the_authority_apart);
  tcase_add_test(tc, giturl_knows_loopback);
  tcase_add_test(tc, redact_hides_every_form_of_the_password);
  tcase_add_test(tc, redact_terminates_on_a_password_of_stars);
  tcase_add_test(tc, redact_is_bounded);
  suite_add_tcase(s, tc);
  return s;
}
