/*
 * Webhook deliveries judged as the daemon judges them: who proved the
 * secret, and whether the push is one to fetch for.
 */
#include "base/compat.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#include "server/webhook.h"
#include "suites.h"

#define SECRET "It's a Secret to Everybody"

struct delivery {
  struct httpd_header h[4];
  struct httpd_request req;
};

static void deliver(struct delivery *d, const char *body)
{
  memset(d, 0, sizeof(*d));
  d->req.method = "POST";
  d->req.path = "/hooks/x";
  d->req.query = "";
  d->req.headers = d->h;
  d->req.body = body;
  d->req.body_len = strlen(body);
  d->req.peer = "127.0.0.1:1";
}

static void header(struct delivery *d, const char *name, const char *value)
{
  d->h[d->req.nheaders++] = (struct httpd_header){name, value};
}

/* "sha256=<hex>" of the body under `secret`, into buf. */
static const char *sign(char buf[80], const char *secret, const char *body)
{
  unsigned char mac[32];
  unsigned int len = 0;
  int n;

  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body,
       strlen(body), mac, &len);
  n = snprintf(buf, 80, "sha256=");
  for (unsigned i = 0; i < len; i++)
    n += snprintf(buf + n, 80 - (size_t)n, "%02x", mac[i]);
  return buf;
}

/* GitHub's published example: this secret, this body, this signature. */
START_TEST(github_test_vector_accepted_and_variations_refused)
{
  static const char *const sigs[] = {
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  };
  static const char *const bad[] = {
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
      "sha256="
      "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177",
      "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "",
  };
  struct delivery d;
  struct webhook_result w;

  for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
    deliver(&d, "Hello, World!");
    header(&d, "X-Hub-Signature-256", sigs[i]);
    webhook_judge("github", &d.req, SECRET, "main", &w);
    ck_assert_int_eq(w.verdict, WEBHOOK_FETCH);
    ck_assert_int_eq(w.status, 202);
  }
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    deliver(&d, "Hello, World!");
    header(&d, "X-Hub-Signature-256", bad[i]);
    webhook_judge("github", &d.req, SECRET, "main", &w);
    ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED);
    ck_assert_int_eq(w.status, 401);
  }
  /* No signature at all; the right one under another kind's header. */
  deliver(&d, "Hello, World!");
  webhook_judge("github", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED);
  header(&d, "X-Gitea-Signature", sigs[1]);
  webhook_judge("github", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED);
  webhook_judge("gitea", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_FETCH);
}
END_TEST

START_TEST(ping_and_other_branches_need_no_fetch)
{
  const char *ping = "{\"zen\":\"Design for failure.\",\"hook_id\":1}";
  const char *main_push = "{\"ref\":\"refs/heads/main\",\"after\":\"ab\"}";
  const char *other = "{\"ref\":\"refs/heads/feature\"}";
  const char *tag = "{\"ref\":\"refs/tags/v1\"}";
  struct delivery d;
  struct webhook_result w;
  char sig[80];

  deliver(&d, ping);
  header(&d, "X-GitHub-Event", "ping");
  header(&d, "X-Hub-Signature-256", sign(sig, SECRET, ping));
  webhook_judge("github", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_PING);
  ck_assert_int_eq(w.status, 200);

  deliver(&d, other);
  header(&d, "X-GitHub-Event", "push");
  header(&d, "X-Hub-Signature-256", sign(sig, SECRET, other));
  webhook_judge("github", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_IGNORED);
  ck_assert_int_eq(w.status, 202);
  ck_assert_str_eq(w.ref, "refs/heads/feature");

  deliver(&d, tag);
  header(&d, "X-Hub-Signature-256", sign(sig, SECRET, tag));
  webhook_judge("generic", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED); /* wrong header */
  d.h[0].name = "X-Tenantd-Signature";
  webhook_judge("generic", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_IGNORED);

  deliver(&d, main_push);
  header(&d, "X-Gitea-Event", "push");
  header(&d, "X-Gitea-Signature", sign(sig, SECRET, main_push) + 7);
  webhook_judge("gitea", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_FETCH);
  ck_assert_str_eq(w.ref, "refs/heads/main");

  /* Another event than a push: nothing to fetch. */
  d.h[0].value = "issues";
  webhook_judge("gitea", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_IGNORED);
}
END_TEST

START_TEST(gitlab_token_is_the_secret)
{
  const char *push = "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\"}";
  struct delivery d;
  struct webhook_result w;

  deliver(&d, push);
  header(&d, "X-Gitlab-Event", "Push Hook");
  header(&d, "X-Gitlab-Token", SECRET);
  webhook_judge("gitlab", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_FETCH);
  d.h[1].value = SECRET "x";
  webhook_judge("gitlab", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED);
  ck_assert_str_eq(w.reason, "bad token");
  d.h[1].value = "It's a Secret";
  webhook_judge("gitlab", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_REJECTED);
  d.h[1].value = SECRET;
  d.h[0].value = "Merge Request Hook";
  webhook_judge("gitlab", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_IGNORED);
}
END_TEST

/* Proven deliveries whose body says nothing usable fetch; unknown kinds
 * are 404 whatever they carry. */
START_TEST(doubt_fetches_and_unknown_kinds_are_404)
{
  static const char *const bodies[] = {
      "",
      "not json",
      "[1,2]",
      "{\"ref\":7}",
      "{\"ref\":\"\\u0000\"}",
      "{\"ref\":\"refs/heads/main\",\"ref\":\"refs/heads/x\"}",
  };
  struct delivery d;
  struct webhook_result w;
  char sig[80];

  for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
    deliver(&d, bodies[i]);
    header(&d, "X-Tenantd-Signature", sign(sig, SECRET, bodies[i]));
    webhook_judge("generic", &d.req, SECRET, "main", &w);
    ck_assert_msg(w.verdict == WEBHOOK_FETCH, "body %zu", i);
  }
  deliver(&d, "{}");
  webhook_judge("bitbucket", &d.req, SECRET, "main", &w);
  ck_assert_int_eq(w.verdict, WEBHOOK_UNKNOWN);
  ck_assert_int_eq(w.status, 404);
}
END_TEST

Suite *make_suite_webhook(void)
{
  Suite *s = suite_create("webhook");
  TCase *tc = tcase_create("webhook");

  tcase_add_test(tc, github_test_vector_accepted_and_variations_refused);
  tcase_add_test(tc, ping_and_other_branches_need_no_fetch);
  tcase_add_test(tc, gitlab_token_is_the_secret);
  tcase_add_test(tc, doubt_fetches_and_unknown_kinds_are_404);
  suite_add_tcase(s, tc);
  return s;
}
