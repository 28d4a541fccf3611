/*
 * notify.c - messages about tenants' states: kept per target and tenant
 * (the intervals, the message waiting), sent on the loop with curl_uv,
 * retried with backoff.  notify.h says what goes out and when.
 */
#include "base/compat.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#include "engine/status.h"
#include "providers/common/curl_uv.h"
#include "providers/provider.h"
#include "server/log.h"
#include "server/notify.h"

/* A commit status' description: GitHub refuses more than 140. */
#define DESCRIPTION_MAX 140
/* Header lines a message has at most. */
#define HEADERS_MAX 8

struct msg;

/* What one target remembers of one tenant. */
struct tstate {
  char *tenant;
  char *last_sent; /* the state last sent, NULL: none yet */
  uint64_t last_sent_at;
  struct msg *waiting; /* its message not sent yet, or NULL */
};

struct target {
  struct config_notify cfg; /* copies, owned */
  struct tstate *ts;        /* sorted by tenant */
  size_t nts, tsalloc;
  size_t queued, inflight;
  bool retired; /* no longer configured: freed after its last request */
};

struct msg {
  struct notify *n;
  struct target *t;
  char *tenant, *state, *previous, *reason, *commit;
  char time[32];
  char id[48];
  unsigned attempt; /* deliveries started */
  uint64_t due;     /* loop ms when it may go */
  bool inflight;
  struct msg *next;
};

struct notify {
  uv_loop_t *loop;
  struct curl_uv *cu;
  uv_timer_t timer;
  struct target **t;
  size_t nt;
  struct target **retired;
  size_t nretired;
  struct msg *head; /* waiting and in flight, oldest first */
  struct metric *counter;
  uint64_t seq, origin;
  bool closing;
  int open_handles; /* the timer and curl_uv, until closed */
  void (*closed)(void *arg);
  void *closed_arg;
};

static const char *const wanted_states[] = {"Failed", "Stalled", "Held",
                                            "AwaitingApproval"};

static bool is_bad(const char *state)
{
  for (size_t i = 0; state && i < ARRAY_SIZE(wanted_states); i++)
    if (strcmp(state, wanted_states[i]) == 0)
      return true;
  return false;
}

bool notify_wanted(const char *previous, const char *state)
{
  if (previous && strcmp(previous, state) == 0)
    return false;
  return is_bad(state) || (strcmp(state, "Ready") == 0 && is_bad(previous));
}

static char *dup_or_null(const char *s)
{
  return s ? td_strdup(s) : NULL;
}

static void count(struct notify *n, const struct target *t, const char *result)
{
  if (n->counter)
    metric_add_v(n->counter, (const char *[]){t->cfg.name, result}, 1);
}

/* ---- rendering ---- */

static void add_header(char **hdr, size_t cap, size_t *nhdr, char *line)
{
  if (*nhdr < cap)
    hdr[(*nhdr)++] = line;
  else
    free(line);
}

static char *signature(const char *secret, const char *body)
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];

  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
            (const unsigned char *)body, strlen(body), mac, &len))
    abort();
  for (unsigned i = 0; i < len; i++)
    snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  return td_asprintf("X-Tenantd-Signature: sha256=%s", hex);
}

/* Slack's text escapes only these three. */
static void slack_escape(FILE *f, const char *s)
{
  for (; s && *s; s++) {
    if (*s == '&')
      fputs("&amp;", f);
    else if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else
      fputc(*s, f);
  }
}

static char *slack_text(const struct notify_event *ev)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  if (!f)
    abort();
  fputs("tenantd: *", f);
  slack_escape(f, ev->tenant);
  fputs("* is ", f);
  slack_escape(f, ev->state);
  if (ev->previous) {
    fputs(" (was ", f);
    slack_escape(f, ev->previous);
    fputc(')', f);
  }
  if (ev->reason && *ev->reason) {
    fputs(": ", f);
    slack_escape(f, ev->reason);
  }
  if (ev->commit && *ev->commit)
    fprintf(f, " (commit %.12s)", ev->commit);
  fclose(f);
  return text;
}

/* At most DESCRIPTION_MAX bytes, cut between UTF-8 characters. */
static char *description(const char *reason)
{
  size_t n = reason ? strlen(reason) : 0;

  if (n <= DESCRIPTION_MAX)
    return td_strdup(reason ? reason : "");
  n = DESCRIPTION_MAX - 3;
  while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
    n--;
  return td_asprintf("%.*s...", (int)n, reason);
}

static const char *commit_state(const char *state)
{
  if (strcmp(state, "Ready") == 0)
    return "success";
  if (strcmp(state, "Held") == 0)
    return "error";
  if (strcmp(state, "AwaitingApproval") == 0)
    return "pending";
  return "failure";
}

static bool is_commit(const char *s)
{
  return s && strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

static char *render_body(const struct config_notify *t,
                         const struct notify_event *ev, const char *time)
{
  json_t *j = NULL;
  char *text = NULL, *desc;

  switch (t->type) {
  case CONFIG_NOTIFY_WEBHOOK:
    j = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s}", "tenant", ev->tenant,
                  "state", ev->state, "previous", ev->previous, "reason",
                  ev->reason, "commit", ev->commit, "time", time);
    break;
  case CONFIG_NOTIFY_SLACK:
    text = slack_text(ev);
    j = json_pack("{s:s}", "text", text);
    break;
  case CONFIG_NOTIFY_COMMIT_STATUS:
    desc = description(ev->reason);
    text = td_asprintf("%s/%s", t->context, ev->tenant);
    j = json_pack("{s:s, s:s, s:s}", "state", commit_state(ev->state),
                  "description", desc, "context", text);
    free(desc);
    break;
  }
  free(text);
  /* Text that is not UTF-8 cannot be JSON: the message goes without it. */
  if (!j && ev->reason) {
    struct notify_event plain = *ev;

    plain.reason = NULL;
    return render_body(t, &plain, time);
  }
  text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  return text;
}

char *notify_render(const struct config_notify *t,
                    const struct notify_event *ev, const char *time,
                    const char *id, char **hdr, size_t cap, size_t *nhdr,
                    char **url)
{
  char *body;

  *nhdr = 0;
  *url = NULL;
  if (t->type == CONFIG_NOTIFY_COMMIT_STATUS && !is_commit(ev->commit))
    return NULL;
  body = render_body(t, ev, time);
  if (!body)
    return NULL;
  add_header(hdr, cap, nhdr, td_strdup("Content-Type: application/json"));
  add_header(hdr, cap, nhdr, td_strdup("User-Agent: tenantd/" TD_VERSION));
  add_header(hdr, cap, nhdr, td_strdup("X-Tenantd-Event: tenant-state"));
  add_header(hdr, cap, nhdr, td_asprintf("X-Tenantd-Delivery: %s", id));
  if (t->type == CONFIG_NOTIFY_WEBHOOK && t->secret)
    add_header(hdr, cap, nhdr, signature(t->secret, body));
  if (t->type == CONFIG_NOTIFY_COMMIT_STATUS) {
    size_t n = strlen(t->url);

    while (n > 0 && t->url[n - 1] == '/')
      n--;
    *url = td_asprintf("%.*s/repos/%s/statuses/%s", (int)n, t->url,
                       t->repository, ev->commit);
    add_header(hdr, cap, nhdr, td_strdup("Accept: application/json"));
    if (t->secret)
      add_header(hdr, cap, nhdr,
                 td_asprintf("Authorization: token %s", t->secret));
  } else {
    *url = td_strdup(t->url);
  }
  return body;
}

/* ---- targets and their tenants ---- */

static int tstate_cmp(const void *key, const void *elem)
{
  return strcmp(key, ((const struct tstate *)elem)->tenant);
}

static struct tstate *tstate_find(struct target *t, const char *tenant)
{
  return t->nts ? bsearch(tenant, t->ts, t->nts, sizeof(*t->ts), tstate_cmp)
                : NULL;
}

static struct tstate *tstate_get(struct target *t, const char *tenant)
{
  struct tstate *s = tstate_find(t, tenant);
  size_t at = t->nts;

  if (s)
    return s;
  while (at > 0 && strcmp(t->ts[at - 1].tenant, tenant) > 0)
    at--;
  if (t->nts == t->tsalloc) {
    t->tsalloc = t->tsalloc ? 2 * t->tsalloc : 16;
    t->ts = td_realloc(t->ts, t->tsalloc * sizeof(*t->ts));
  }
  memmove(&t->ts[at + 1], &t->ts[at], (t->nts - at) * sizeof(*t->ts));
  t->nts++;
  memset(&t->ts[at], 0, sizeof(t->ts[at]));
  t->ts[at].tenant = td_strdup(tenant);
  return &t->ts[at];
}

static void tstate_remove(struct target *t, const char *tenant)
{
  struct tstate *s = tstate_find(t, tenant);
  size_t at;

  if (!s)
    return;
  at = (size_t)(s - t->ts);
  free(s->tenant);
  free(s->last_sent);
  memmove(&t->ts[at], &t->ts[at + 1], (t->nts - at - 1) * sizeof(*t->ts));
  t->nts--;
}

static struct target *target_new(const struct config_notify *c)
{
  struct target *t = td_calloc(1, sizeof(*t));

  t->cfg = *c;
  t->cfg.name = td_strdup(c->name);
  t->cfg.url = dup_or_null(c->url);
  t->cfg.secret = dup_or_null(c->secret);
  t->cfg.repository = dup_or_null(c->repository);
  t->cfg.context = dup_or_null(c->context);
  return t;
}

static void wipe(char *s)
{
  if (s)
    explicit_bzero(s, strlen(s));
  free(s);
}

static void target_free(struct target *t)
{
  for (size_t i = 0; i < t->nts; i++) {
    free(t->ts[i].tenant);
    free(t->ts[i].last_sent);
  }
  free(t->ts);
  free(t->cfg.name);
  wipe(t->cfg.url);
  wipe(t->cfg.secret);
  free(t->cfg.repository);
  free(t->cfg.context);
  free(t);
}

static bool str_same(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_settings(const struct config_notify *a,
                          const struct config_notify *b)
{
  return a->type == b->type && str_same(a->name, b->name) &&
         str_same(a->url, b->url) && str_same(a->secret, b->secret) &&
         str_same(a->repository, b->repository) &&
         str_same(a->context, b->context) &&
         a->min_interval_ms == b->min_interval_ms &&
         a->attempts == b->attempts &&
         a->backoff_base_ms == b->backoff_base_ms &&
         a->backoff_max_ms == b->backoff_max_ms &&
         a->timeout_ms == b->timeout_ms;
}

/* ---- messages ---- */

static void msg_free(struct msg *m)
{
  free(m->tenant);
  free(m->state);
  free(m->previous);
  free(m->reason);
  free(m->commit);
  free(m);
}

static void msg_unlink(struct notify *n, struct msg *m)
{
  struct msg **p = &n->head;

  while (*p && *p != m)
    p = &(*p)->next;
  if (*p)
    *p = m->next;
}

/* A message not in flight goes: its tenant no longer waits for it.  One
 * never tried is counted in its target's queue. */
static void drop_waiting(struct notify *n, struct msg *m)
{
  struct tstate *s = tstate_find(m->t, m->tenant);

  if (s && s->waiting == m)
    s->waiting = NULL;
  if (m->attempt == 0)
    m->t->queued--;
  msg_unlink(n, m);
  msg_free(m);
}

static void set_content(struct msg *m, const struct notify_event *ev)
{
  free(m->state);
  free(m->reason);
  free(m->commit);
  m->state = td_strdup(ev->state);
  m->reason = dup_or_null(ev->reason);
  m->commit = dup_or_null(ev->commit);
  status_now(m->time);
}

static void arm(struct notify *n);

/* The oldest waiting message of t goes when t holds too many. */
static void bound_queue(struct notify *n, struct target *t)
{
  for (struct msg *m = n->head; m && t->queued > NOTIFY_QUEUE_MAX;
       m = m->next) {
    if (m->t != t || m->attempt > 0)
      continue;
    log_at(LOG_LEVEL_WARN, "notification dropped: too many waiting",
           LOG_S("target", t->cfg.name), LOG_S("tenant", m->tenant),
           LOG_S("state", m->state));
    count(n, t, "dropped");
    drop_waiting(n, m);
    return;
  }
}

static void enqueue(struct notify *n, struct target *t, struct tstate *s,
                    const struct notify_event *ev)
{
  uint64_t now = uv_now(n->loop);
  struct msg *m = td_calloc(1, sizeof(*m)), **tail = &n->head;

  m->n = n;
  m->t = t;
  m->tenant = td_strdup(ev->tenant);
  m->previous = dup_or_null(ev->previous);
  set_content(m, ev);
  snprintf(m->id, sizeof(m->id), "%llx-%llu", (unsigned long long)n->origin,
           (unsigned long long)++n->seq);
  m->due = now;
  if (s->last_sent_at && now < s->last_sent_at + t->cfg.min_interval_ms)
    m->due = s->last_sent_at + t->cfg.min_interval_ms;
  while (*tail)
    tail = &(*tail)->next;
  *tail = m;
  s->waiting = m;
  t->queued++;
  bound_queue(n, t);
}

/* One target's view of a state change. */
static void target_event(struct notify *n, struct target *t,
                         const struct notify_event *ev)
{
  struct tstate *s = tstate_get(t, ev->tenant);
  struct msg *m = s->waiting;

  if (m) {
    /* What the receiver knows now: the state last sent, or where the
     * waiting message's change began. */
    const char *known = s->last_sent ? s->last_sent : m->previous;

    if (!notify_wanted(known, ev->state))
      drop_waiting(n, m);
    else
      set_content(m, ev);
    return;
  }
  if (notify_wanted(ev->previous, ev->state))
    enqueue(n, t, s, ev);
}

void notify_event(struct notify *n, const struct notify_event *ev)
{
  if (!n || n->closing)
    return;
  for (size_t i = 0; i < n->nt; i++)
    target_event(n, n->t[i], ev);
  arm(n);
}

/* ---- delivery ---- */

static void free_retired(struct notify *n, struct target *t)
{
  for (size_t i = 0; i < n->nretired; i++)
    if (n->retired[i] == t) {
      n->retired[i] = n->retired[--n->nretired];
      target_free(t);
      return;
    }
}

static uint64_t backoff(const struct target *t, unsigned attempt)
{
  uint64_t delay = t->cfg.backoff_base_ms;

  for (unsigned i = 1; i < attempt && delay < t->cfg.backoff_max_ms; i++)
    delay *= 2;
  return delay < t->cfg.backoff_max_ms ? delay : t->cfg.backoff_max_ms;
}

/* How a delivery ended: done (sent, refused for good, or given up), or
 * due again after its backoff. */
static void on_sent(const struct curl_uv_response *res, void *arg)
{
  struct msg *m = arg;
  struct target *t = m->t;
  struct notify *n = m->n;
  bool retry = res->status == PROVIDER_TRANSIENT &&
               m->attempt < t->cfg.attempts && !t->retired;

  m->inflight = false;
  t->inflight--;
  if (n->closing) {
    msg_free(m);
    return;
  }
  if (res->status == PROVIDER_OK) {
    count(n, t, "sent");
    log_at(LOG_LEVEL_INFO, "notification sent", LOG_S("target", t->cfg.name),
           LOG_S("tenant", m->tenant), LOG_S("state", m->state),
           LOG_U("attempt", m->attempt), LOG_I("http_status", res->http_code));
  } else {
    count(n, t, retry ? "retried" : "failed");
    log_at(LOG_LEVEL_WARN,
           retry ? "notification failed: retrying"
                 : "notification failed: giving up",
           LOG_S("target", t->cfg.name), LOG_S("tenant", m->tenant),
           LOG_S("state", m->state), LOG_U("attempt", m->attempt),
           LOG_I("http_status", res->http_code),
           /* Not curl_uv's message: it names the URL's path, and a Slack
            * URL's path is its secret. */
           LOG_S("error", provider_status_name(res->status)));
  }
  if (retry) {
    struct msg **tail = &n->head;

    m->due = uv_now(n->loop) + backoff(t, m->attempt);
    while (*tail)
      tail = &(*tail)->next;
    *tail = m;
    arm(n);
  } else {
    msg_free(m);
  }
  if (t->retired && t->inflight == 0)
    free_retired(n, t);
}

/* A retry that a newer message of its tenant overtook (sent, or
 * waiting): it would arrive after it, saying something no longer true. */
static bool superseded(const struct tstate *s, const struct msg *m)
{
  return m->attempt > 0 && s &&
         (s->waiting || !s->last_sent || strcmp(s->last_sent, m->state) != 0);
}

static void deliver(struct notify *n, struct msg *m)
{
  struct target *t = m->t;
  struct tstate *s = tstate_find(t, m->tenant);
  struct notify_event ev = {m->tenant, m->state, m->previous, m->reason,
                            m->commit};
  struct curl_uv_request req = {0};
  char *hdr[HEADERS_MAX], *url = NULL, *body;
  size_t nhdr = 0;

  if (superseded(s, m)) {
    count(n, t, "superseded");
    log_at(LOG_LEVEL_INFO, "notification superseded by a newer one",
           LOG_S("target", t->cfg.name), LOG_S("tenant", m->tenant),
           LOG_S("state", m->state));
    msg_unlink(n, m);
    msg_free(m);
    return;
  }
  /* The first attempt is the transition's message: the tenant's interval
   * starts, and a later change is a new message. */
  if (m->attempt == 0) {
    if (s && s->waiting == m) {
      s->waiting = NULL;
      free(s->last_sent);
      s->last_sent = td_strdup(m->state);
      s->last_sent_at = uv_now(n->loop);
    }
    t->queued--;
  }
  m->attempt++;
  msg_unlink(n, m);
  body = notify_render(&t->cfg, &ev, m->time, m->id, hdr, HEADERS_MAX, &nhdr,
                       &url);
  if (!body) {
    log_at(LOG_LEVEL_DEBUG, "notification skipped: no commit to mark",
           LOG_S("target", t->cfg.name), LOG_S("tenant", m->tenant));
    msg_free(m);
    return;
  }
  req.method = "POST";
  req.url = url;
  req.headers = (const char *const *)hdr;
  req.nheaders = nhdr;
  req.body = body;
  req.body_len = strlen(body);
  req.timeout_ms = t->cfg.timeout_ms;
  req.max_response_bytes = 64 * 1024;
  m->inflight = true;
  m->next = NULL; /* out of the list while in flight */
  t->inflight++;
  curl_uv_send(n->cu, &req, on_sent, m);
  for (size_t i = 0; i < nhdr; i++)
    wipe(hdr[i]);
  wipe(url);
  free(body);
}

static void on_timer(uv_timer_t *timer)
{
  struct notify *n = timer->data;
  uint64_t now = uv_now(n->loop);
  struct msg *m = n->head, *next;

  for (; m; m = next) {
    next = m->next;
    if (m->due <= now)
      deliver(n, m);
  }
  arm(n);
}

/* The timer for the earliest message waiting. */
static void arm(struct notify *n)
{
  uint64_t now = uv_now(n->loop), due = UINT64_MAX;

  if (n->closing)
    return;
  for (struct msg *m = n->head; m; m = m->next)
    if (m->due < due)
      due = m->due;
  if (due == UINT64_MAX)
    uv_timer_stop(&n->timer);
  else
    uv_timer_start(&n->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- lifecycle ---- */

struct notify *notify_new(uv_loop_t *loop, const struct config_notify *targets,
                          size_t ntargets, struct metric *counter)
{
  struct notify *n = td_calloc(1, sizeof(*n));

  n->loop = loop;
  n->counter = counter;
  n->origin = uv_hrtime();
  n->cu = curl_uv_new(loop);
  uv_timer_init(loop, &n->timer);
  n->timer.data = n;
  n->open_handles = 2;
  notify_configure(n, targets, ntargets);
  return n;
}

/* Drops t's waiting messages; frees it, or leaves it to its last
 * request. */
static void retire(struct notify *n, struct target *t)
{
  struct msg *m = n->head, *next;

  for (; m; m = next) {
    next = m->next;
    if (m->t == t)
      drop_waiting(n, m);
  }
  t->retired = true;
  if (t->inflight == 0) {
    target_free(t);
    return;
  }
  n->retired = td_realloc(n->retired, (n->nretired + 1) * sizeof(*n->retired));
  n->retired[n->nretired++] = t;
}

void notify_configure(struct notify *n, const struct config_notify *targets,
                      size_t ntargets)
{
  struct target **old = n->t, **now = td_calloc(ntargets + 1, sizeof(*now));
  size_t nold = n->nt;

  for (size_t i = 0; i < ntargets; i++) {
    for (size_t k = 0; k < nold && !now[i]; k++)
      if (old[k] && same_settings(&old[k]->cfg, &targets[i])) {
        now[i] = old[k];
        old[k] = NULL;
      }
    if (!now[i])
      now[i] = target_new(&targets[i]);
  }
  n->t = now;
  n->nt = ntargets;
  for (size_t k = 0; k < nold; k++)
    if (old[k])
      retire(n, old[k]);
  free(old);
  arm(n);
}

void notify_forget(struct notify *n, const char *tenant)
{
  for (size_t i = 0; n && i < n->nt; i++) {
    struct tstate *s = tstate_find(n->t[i], tenant);

    if (s && s->waiting)
      drop_waiting(n, s->waiting);
    tstate_remove(n->t[i], tenant);
  }
}

size_t notify_pending(const struct notify *n)
{
  size_t k = 0;

  for (size_t i = 0; n && i < n->nt; i++)
    k += n->t[i]->queued;
  return k;
}

static void handle_done(struct notify *n)
{
  if (--n->open_handles > 0)
    return;
  for (size_t i = 0; i < n->nt; i++)
    target_free(n->t[i]);
  for (size_t i = 0; i < n->nretired; i++)
    target_free(n->retired[i]);
  free(n->t);
  free(n->retired);
  if (n->closed)
    n->closed(n->closed_arg);
  free(n);
}

static void on_timer_closed(uv_handle_t *h)
{
  handle_done(h->data);
}

static void on_curl_closed(void *arg)
{
  handle_done(arg);
}

void notify_close(struct notify *n, void (*closed)(void *arg), void *arg)
{
  size_t dropped = 0;

  if (!n) {
    if (closed)
      closed(arg);
    return;
  }
  while (n->head) {
    dropped++;
    drop_waiting(n, n->head);
  }
  if (dropped)
    log_at(LOG_LEVEL_WARN, "notifications dropped at shutdown",
           LOG_U("count", dropped));
  n->closing = true;
  n->closed = closed;
  n->closed_arg = arg;
  uv_close((uv_handle_t *)&n->timer, on_timer_closed);
  curl_uv_close(n->cu, on_curl_closed, n);
}
