/*
 * verify.c - after a reload, nginx itself is asked which route serves
 * each host of a write, until the answer is the new one and stays so.
 *
 * Why "stays so": on a reload nginx's master starts workers with the new
 * config, sleeps 100 ms, and only then tells the old workers to stop
 * accepting.  In between both generations accept connections on the same
 * socket, so one answer from a new worker proves nothing about the next
 * connection, which an old worker may take and answer with the old
 * config.  So every host of the route is asked (an alias is served by
 * the same config as the first host only once no old worker answers for
 * either), each time on a new connection (a kept-alive one would keep
 * asking the same worker), once a round.
 *
 * The handover is the reload's, not a write's: an old worker answers
 * every host with the old config.  So a few writes of the reload, the
 * probes, time it: a write becomes one with a round of right answers
 * (its new revision, which no old worker knows), and the first whose run
 * of right rounds lasts NGX_SETTLE_MS (any wrong answer starting it
 * again) marks the handover done.  Every other write then needs one
 * round of right answers asked after that; before it, it is asked only
 * while no probe runs.  So a reload of a thousand routes asks each host
 * about twice, not once every POLL_MS for NGX_SETTLE_MS, and the old
 * workers are not kept busy answering while they hand over.  Up to
 * NGX_PROBES writes run at once, so one whose upstream stalls does not
 * hold the others; writes that waited are woken when the handover is
 * done or the last probe ends late, with NGX_WOKEN_MS left at least (a
 * write is never kept past NGX_WAIT_MAX_MS after its own window).  A
 * remove judges itself alone, as every write once did: the old config
 * may already lack its route, so its right answers say nothing of the
 * workers.
 *
 * The judging of answers and rounds is pure (ngx__answer_right,
 * ngx__verify_answer) so the unit tests drive it with any sequence of
 * answers; the rest sends the requests through curl_uv and paces the
 * rounds with the instance's timer.
 */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "providers/nginx/internal.h"

#define POLL_MS 20
#define VERIFY_RESPONSE_MAX (64 * 1024)

/* ---- judging answers (pure) ---- */

static const char *skip_blank(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

bool ngx__header_is(const char *headers, const char *name, const char *want)
{
  size_t n = strlen(name), wlen = strlen(want);
  const char *p = headers;

  while (p && *p) {
    const char *e = strchr(p, '\n');
    const char *end = e ? e : p + strlen(p);

    if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = skip_blank(p + n + 1, end);
      const char *ve = end;

      while (ve > v && isspace((unsigned char)ve[-1]))
        ve--;
      if ((size_t)(ve - v) == wlen && memcmp(v, want, wlen) == 0)
        return true;
    }
    p = e ? e + 1 : NULL;
  }
  return false;
}

bool ngx__answer_right(bool removed, const char *id, const char *revision,
                       long http_code, const char *headers)
{
  if (removed)
    return http_code != 0 && !ngx__header_is(headers, "X-Tenantd-Route", id);
  return ngx__header_is(headers, "X-Tenantd-Route", id) &&
         ngx__header_is(headers, "X-Tenantd-Revision", revision);
}

void ngx__verify_init(struct ngx_verify *v, size_t nhosts, uint64_t deadline,
                      bool alone, struct ngx_settle *settle)
{
  memset(v, 0, sizeof(*v));
  v->nhosts = nhosts;
  v->deadline = deadline;
  v->limit = deadline + NGX_WAIT_MAX_MS;
  v->round_right = true;
  v->alone = alone;
  v->settle = settle;
}

void ngx__verify_asking(struct ngx_verify *v, uint64_t now)
{
  v->asked_at = now;
}

/* Whether a run of right rounds has lasted NGX_SETTLE_MS with this one;
 * a wrong round starts it again. */
static bool run_lasted(struct ngx_verify *v, bool right, uint64_t now)
{
  if (!right) {
    v->steady = false;
    return false;
  }
  if (!v->steady) {
    v->steady = true;
    v->since = now;
    return false;
  }
  return now - v->since >= NGX_SETTLE_MS;
}

static enum ngx_verdict again_or_late(const struct ngx_verify *v, uint64_t now)
{
  return now >= v->deadline ? NGX_VERIFY_LATE : NGX_VERIFY_AGAIN;
}

/* A probe's round: served when its run lasted, which ends the handover
 * for every write of the reload. */
static enum ngx_verdict probe_round(struct ngx_verify *v, bool right,
                                    uint64_t now)
{
  struct ngx_settle *s = v->settle;
  enum ngx_verdict verdict = NGX_VERIFY_SERVED;

  if (run_lasted(v, right, now)) {
    s->done = true;
    s->done_at = now;
  } else {
    verdict = again_or_late(v, now);
  }
  if (verdict != NGX_VERIFY_AGAIN) {
    v->probe = false;
    s->probes--;
  }
  return verdict;
}

enum ngx_verdict ngx__verify_answer(struct ngx_verify *v, bool right,
                                    uint64_t now)
{
  struct ngx_settle *s = v->settle;

  assert(v->answered < v->nhosts);
  v->round_right = v->round_right && right;
  if (++v->answered < v->nhosts)
    return NGX_VERIFY_ASKING;
  right = v->round_right;
  /* The next round starts afresh. */
  v->answered = 0;
  v->round_right = true;
  if (v->alone)
    return run_lasted(v, right, now) ? NGX_VERIFY_SERVED
                                     : again_or_late(v, now);
  if (s->done) {
    /* A round asked before the handover ended proves nothing. */
    if (right && v->asked_at >= s->done_at)
      return NGX_VERIFY_SERVED;
    return again_or_late(v, now);
  }
  if (!v->probe && right && s->probes < NGX_PROBES) {
    v->probe = true;
    s->probes++;
  }
  if (v->probe)
    return probe_round(v, right, now);
  if (now >= v->deadline)
    return NGX_VERIFY_LATE;
  /* Any answer may be an old worker's: asked again after the handover,
   * the write meanwhile leaves nginx to the probes. */
  if (s->probes == 0)
    return NGX_VERIFY_AGAIN;
  s->waiting++;
  return NGX_VERIFY_WAIT;
}

bool ngx__verify_wake_due(const struct ngx_settle *s, enum ngx_verdict v)
{
  return s->waiting > 0 && (v == NGX_VERIFY_SERVED || v == NGX_VERIFY_LATE) &&
         (s->done || s->probes == 0);
}

void ngx__verify_woken(struct ngx_verify *v, uint64_t now)
{
  uint64_t want = now + NGX_WOKEN_MS;

  v->settle->waiting--;
  if (want > v->limit)
    want = v->limit;
  if (v->deadline < want)
    v->deadline = want;
}

/* ---- asking nginx ---- */

static void ask_all(struct ngx_op *op);

static void on_poll_timer(uv_timer_t *t)
{
  struct ngx *ng = container_of(t, struct ngx, poll);
  struct ngx_op **ops = NULL;
  size_t n = ngx__cycle_ops(ng, &ops);

  for (size_t i = 0; i < n; i++) {
    if (ops[i]->poll_due) {
      ops[i]->poll_due = false;
      ask_all(ops[i]);
    }
  }
}

/* Not served in time: the op fails with the last wrong answer. */
static void fail_late(struct ngx_op *op)
{
  rt_op_fail(&op->base, PROVIDER_TRANSIENT,
             "nginx: %s %s route %s within %llu ms of the reload (last "
             "answer: %s); the previous file is put back",
             op->wrong_host[0] ? op->wrong_host : "(every host)",
             op->base.kind == RT_REMOVE ? "still served by" : "not served by",
             op->base.id, (unsigned long long)ngx_of(op)->verify_timeout_ms,
             op->wrong_answer[0] ? op->wrong_answer : "right, not for long");
}

/* Keeps what a wrong answer was, for the message when time runs out.
 * A request is given what is left of the window, so when the window
 * ends every request still out ends with no response at once, in any
 * order: that says nothing about a host, and does not replace a wrong
 * answer already kept. */
static void note_wrong(struct ngx_op *op, const char *host,
                       const struct curl_uv_response *res, uint64_t now)
{
  if (!res->http_code && op->wrong_host[0] &&
      now + POLL_MS >= op->verify.deadline)
    return;
  snprintf(op->wrong_host, sizeof(op->wrong_host), "%s", host);
  if (res->http_code)
    snprintf(op->wrong_answer, sizeof(op->wrong_answer), "HTTP %ld without it",
             res->http_code);
  else
    snprintf(op->wrong_answer, sizeof(op->wrong_answer), "%s",
             res->message ? res->message : "no response");
}

/* Its next round after the pause. */
static void poll_again(struct ngx *ng, struct ngx_op *op)
{
  op->poll_due = true;
  if (!uv_is_active((uv_handle_t *)&ng->poll))
    uv_timer_start(&ng->poll, on_poll_timer, POLL_MS, 0);
}

/* The handover is done, or no probe runs any more: the writes waiting
 * for it ask again, to be served or to become probes. */
static void wake_waiting(struct ngx *ng, uint64_t now)
{
  struct ngx_op **ops = NULL;
  size_t n = ngx__cycle_ops(ng, &ops);

  for (size_t i = 0; i < n; i++) {
    if (ops[i]->waiting) {
      ops[i]->waiting = false;
      ngx__verify_woken(&ops[i]->verify, now);
      poll_again(ng, ops[i]);
    }
  }
}

static void on_answer(const struct curl_uv_response *res, void *arg)
{
  struct ngx_ask *ask = arg;
  struct ngx_op *op = ask->op;
  struct ngx *ng = ngx_of(op);
  const char *host = json_string_value(json_array_get(op->hosts, ask->host));
  uint64_t now = uv_now(ng->rt.base.loop);
  bool right =
      ngx__answer_right(op->base.kind == RT_REMOVE, op->base.id, op->revision,
                        res->http_code, res->headers ? res->headers : "");
  enum ngx_verdict verdict;

  if (!right)
    note_wrong(op, host, res, now);
  verdict = ngx__verify_answer(&op->verify, right, now);
  switch (verdict) {
  case NGX_VERIFY_ASKING:
    return;
  case NGX_VERIFY_SERVED:
    op->applied = false; /* final: nothing to take back */
    break;
  case NGX_VERIFY_LATE:
    fail_late(op);
    break;
  case NGX_VERIFY_WAIT:
    op->waiting = true;
    return;
  case NGX_VERIFY_AGAIN:
    poll_again(ng, op);
    return;
  }
  /* Before the op, and the cycle with it, may end. */
  if (ngx__verify_wake_due(op->verify.settle, verdict))
    wake_waiting(ng, now);
  ngx__verified(op);
}

/* One round: every host asked at once, each on a new connection. */
static void ask_all(struct ngx_op *op)
{
  struct ngx *ng = ngx_of(op);
  uint64_t now = uv_now(ng->rt.base.loop);

  ngx__verify_asking(&op->verify, now);
  for (size_t i = 0; i < op->verify.nhosts; i++) {
    char *host = td_asprintf("Host: %s",
                             json_string_value(json_array_get(op->hosts, i)));
    const char *headers[] = {host, "Connection: close"};
    struct curl_uv_request req = {
        .method = "HEAD",
        .url = ng->verify_url,
        .headers = headers,
        .nheaders = ARRAY_SIZE(headers),
        .timeout_ms = op->verify.deadline > now ? op->verify.deadline - now : 1,
        .max_response_bytes = VERIFY_RESPONSE_MAX,
        .fresh_connection = true,
    };

    curl_uv_send(ng->cu, &req, on_answer, &op->asks[i]);
    free(host);
  }
}

void ngx__verify_start(struct ngx_op *op, uint64_t now)
{
  size_t n = json_array_size(op->hosts);

  assert(n > 0);
  free(op->asks);
  op->asks = td_calloc(n, sizeof(*op->asks));
  for (size_t i = 0; i < n; i++) {
    op->asks[i].op = op;
    op->asks[i].host = i;
  }
  /* verifyTimeoutMs to be served, then the run of right rounds. */
  ngx__verify_init(&op->verify, n,
                   now + ngx_of(op)->verify_timeout_ms + NGX_SETTLE_MS,
                   op->base.kind == RT_REMOVE, ngx__cycle_settle(ngx_of(op)));
  op->waiting = false;
  ask_all(op);
}
