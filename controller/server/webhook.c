/*
 * webhook.c - see webhook.h.
 */
#include "base/compat.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <strings.h>

#include "server/auth.h"
#include "server/webhook.h"

/* How each kind proves the secret and names its event. */
struct kind {
  const char *name;
  const char *proof_header;
  bool token; /* the header holds the secret itself, not an HMAC */
  const char *event_header;
  const char *push_event; /* the event that announces a push */
  const char *ping_event; /* NULL: the kind has none */
};

static const struct kind kinds[] = {
    {"github", "X-Hub-Signature-256", false, "X-GitHub-Event", "push", "ping"},
    {"gitea", "X-Gitea-Signature", false, "X-Gitea-Event", "push", NULL},
    {"gitlab", "X-Gitlab-Token", true, "X-Gitlab-Event", "Push Hook", NULL},
    {"generic", "X-Tenantd-Signature", false, NULL, NULL, NULL},
};

/* Whether `sig` (hex, "sha256=" prefix optional) is the HMAC-SHA256 of
 * the body under the secret. */
static bool hmac_valid(const char *secret, const struct httpd_request *r,
                       const char *sig)
{
  unsigned char mac[EVP_MAX_MD_SIZE], given[SHA256_DIGEST_LENGTH];
  unsigned int maclen = 0;
  size_t len = 0;

  if (!sig)
    return false;
  if (strncmp(sig, "sha256=", 7) == 0)
    sig += 7;
  if (strlen(sig) != 2 * SHA256_DIGEST_LENGTH ||
      OPENSSL_hexstr2buf_ex(given, sizeof(given), &len, sig, '\0') != 1 ||
      len != SHA256_DIGEST_LENGTH)
    return false;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
            (const unsigned char *)r->body, r->body_len, mac, &maclen) ||
      maclen != SHA256_DIGEST_LENGTH)
    return false;
  return CRYPTO_memcmp(mac, given, SHA256_DIGEST_LENGTH) == 0;
}

static bool proven(const struct kind *k, const struct httpd_request *req,
                   const char *secret)
{
  const char *proof = httpd_header(req, k->proof_header);

  if (k->token)
    return proof &&
           auth_secret_equal(proof, strlen(proof), secret, strlen(secret));
  return hmac_valid(secret, req, proof);
}

static void set(struct webhook_result *out, enum webhook_verdict v, int status,
                const char *reason)
{
  out->verdict = v;
  out->status = status;
  out->reason = reason;
}

/* The body's "ref" into out->ref; false when it has none we can use. */
static bool body_ref(const struct httpd_request *req,
                     struct webhook_result *out)
{
  json_t *body =
      json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
  const char *ref = json_string_value(json_object_get(body, "ref"));
  bool ok = ref && strlen(ref) < sizeof(out->ref);

  if (ok)
    snprintf(out->ref, sizeof(out->ref), "%s", ref);
  json_decref(body);
  return ok;
}

/* Whether `ref` is the tracked branch, named in full or short. */
static bool is_branch(const char *ref, const char *branch)
{
  if (strncmp(ref, "refs/heads/", 11) == 0)
    ref += 11;
  return strcmp(ref, branch) == 0;
}

void webhook_judge(const char *kind, const struct httpd_request *req,
                   const char *secret, const char *branch,
                   struct webhook_result *out)
{
  const struct kind *k = NULL;
  const char *event;

  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
    if (strcmp(kinds[i].name, kind) == 0)
      k = &kinds[i];
  if (!k)
    return set(out, WEBHOOK_UNKNOWN, 404,
               "no such webhook (github, gitea, gitlab, generic)");
  if (!proven(k, req, secret))
    return set(out, WEBHOOK_REJECTED, 401,
               k->token ? "bad token" : "bad signature");
  event = k->event_header ? httpd_header(req, k->event_header) : NULL;
  if (event && k->ping_event && strcmp(event, k->ping_event) == 0)
    return set(out, WEBHOOK_PING, 200, "pong");
  if (event && k->push_event && strcasecmp(event, k->push_event) != 0)
    return set(out, WEBHOOK_IGNORED, 202, "ignored: not a push");
  if (body_ref(req, out) && !is_branch(out->ref, branch))
    return set(out, WEBHOOK_IGNORED, 202, "ignored: another branch");
  set(out, WEBHOOK_FETCH, 202, "fetch scheduled");
}
