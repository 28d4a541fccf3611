/*
 * webhook.h - what a webhook delivery asks of tenantd.
 *
 * Forges announce pushes with a POST to /hooks/<kind>; tenantd answers
 * by fetching at once instead of waiting for the next poll.  Each kind
 * proves the sender knows the shared secret its own way:
 *   github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
 *   gitea    X-Gitea-Signature: <hex HMAC-SHA256 of the body>
 *   gitlab   X-Gitlab-Token: <the secret itself>
 *   generic  X-Tenantd-Signature: sha256=<hex HMAC-SHA256 of the body>
 * Comparisons take the same time however much matches.  A delivery that
 * proves nothing is rejected before its body is looked at; a proven one
 * is read (JSON, its "ref") so that a GitHub ping or a push to another
 * branch is answered without a fetch.  A proven delivery whose body does
 * not say which branch it is about fetches: when in doubt, look.
 *
 * Pure: no I/O, no state, safe on any input (a fuzz target proves it).
 */
#ifndef TD_WEBHOOK_H
#define TD_WEBHOOK_H

#include "base/compat.h"

#include "server/httpd.h"

enum webhook_verdict {
  WEBHOOK_FETCH,    /* a push to the tracked branch (or unknown): fetch */
  WEBHOOK_PING,     /* the forge checks the hook: answer, nothing to do */
  WEBHOOK_IGNORED,  /* another branch or event: answer, nothing to do */
  WEBHOOK_REJECTED, /* the secret was not proven */
  WEBHOOK_UNKNOWN,  /* no such kind of webhook */
};

struct webhook_result {
  enum webhook_verdict verdict;
  int status;         /* the HTTP status to answer with */
  const char *reason; /* one line for the answer and the log; static */
  char ref[128];      /* the ref the delivery names, "" when none */
};

/*
 * Judges a delivery to /hooks/<kind> for the tracked `branch` under
 * `secret` (NUL-terminated, not empty).  Fills *out; never fails.
 */
void webhook_judge(const char *kind, const struct httpd_request *req,
                   const char *secret, const char *branch,
                   struct webhook_result *out);

#endif
