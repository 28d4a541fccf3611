/*
 * Notifications of tenants' states (server/notify.h): which changes are
 * news, what each kind of target receives, and delivery against a real
 * HTTP receiver on loopback (tenantd's own httpd on the same loop): one
 * message per change, a flapping tenant held to one message per
 * interval, retries with backoff on 500, a 4xx final, and a close with
 * requests in flight.
 */
#include "base/compat.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <uv.h>

#include "server/httpd.h"
#include "server/log.h"
#include "server/notify.h"
#include "suites.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static struct config_notify target(enum config_notify_type type,
                                   const char *url, const char *secret)
{
  struct config_notify t = {0};

  t.name = (char *)"t1";
  t.type = type;
  t.url = (char *)url;
  t.secret = (char *)secret;
  t.repository = (char *)"ops/tenants";
  t.context = (char *)"tenantd";
  t.min_interval_ms = 10;
  t.attempts = 3;
  t.backoff_base_ms = 50;
  t.backoff_max_ms = 1000;
  t.timeout_ms = 2000;
  return t;
}

START_TEST(news_is_a_turn_for_the_worse_or_a_recovery)
{
  ck_assert(notify_wanted("Ready", "Failed"));
  ck_assert(notify_wanted("Ready", "Held"));
  ck_assert(notify_wanted("Suspended", "Stalled"));
  ck_assert(notify_wanted("Ready", "AwaitingApproval"));
  ck_assert(notify_wanted("Ready", "SourceUntrusted"));
  ck_assert(notify_wanted("SourceUntrusted", "Ready"));
  ck_assert(notify_wanted("Failed", "Stalled"));
  ck_assert(notify_wanted(NULL, "Failed"));
  ck_assert(notify_wanted("Failed", "Ready"));
  ck_assert(notify_wanted("Held", "Ready"));
  ck_assert(!notify_wanted("Failed", "Failed"));
  ck_assert(!notify_wanted(NULL, "Ready"));
  ck_assert(!notify_wanted("Suspended", "Ready"));
  ck_assert(!notify_wanted("AwaitingFirstReconcile", "Ready"));
  ck_assert(!notify_wanted("Failed", "Suspended"));
}
END_TEST

static const char *header_of(char **hdr, size_t n, const char *name)
{
  size_t len = strlen(name);

  for (size_t i = 0; i < n; i++)
    if (strncmp(hdr[i], name, len) == 0 && hdr[i][len] == ':')
      return hdr[i] + len + 2;
  return NULL;
}

static void free_headers(char **hdr, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(hdr[i]);
}

static char *hmac_hex(const char *key, const char *body)
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  char *hex = td_malloc(2 * EVP_MAX_MD_SIZE + 8);

  HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body,
       strlen(body), mac, &len);
  strcpy(hex, "sha256=");
  for (unsigned i = 0; i < len; i++)
    snprintf(hex + 7 + 2 * i, 3, "%02x", mac[i]);
  return hex;
}

/* The generic webhook: the fields in a fixed order, signed. */
START_TEST(webhook_body_is_signed)
{
  struct config_notify t =
      target(CONFIG_NOTIFY_WEBHOOK, "http://127.0.0.1:9/h", "s3cret");
  struct notify_event ev = {"acme", "Failed", "Ready",
                            "database/acme.prod: refused", COMMIT};
  char *hdr[8], *url, *body, *want;
  size_t n;

  body =
      notify_render(&t, &ev, "2026-11-23T10:00:00Z", "d-1", hdr, 8, &n, &url);
  ck_assert_str_eq(body, "{\"tenant\":\"acme\",\"state\":\"Failed\","
                         "\"previous\":\"Ready\",\"reason\":\"database/"
                         "acme.prod: refused\",\"commit\":\"" COMMIT "\","
                         "\"time\":\"2026-11-23T10:00:00Z\"}");
  ck_assert_str_eq(url, "http://127.0.0.1:9/h");
  want = hmac_hex("s3cret", body);
  ck_assert_str_eq(header_of(hdr, n, "X-Tenantd-Signature"), want);
  ck_assert_str_eq(header_of(hdr, n, "X-Tenantd-Delivery"), "d-1");
  ck_assert_str_eq(header_of(hdr, n, "Content-Type"), "application/json");
  for (size_t i = 0; i < n; i++)
    ck_assert_ptr_null(strstr(hdr[i], "s3cret"));
  ck_assert_ptr_null(strstr(body, "s3cret"));
  free(want);
  free_headers(hdr, n);
  free(url);
  free(body);

  /* Without a secret: unsigned; a previous state not known is null. */
  t.secret = NULL;
  ev.previous = NULL;
  body =
      notify_render(&t, &ev, "2026-11-23T10:00:00Z", "d-2", hdr, 8, &n, &url);
  ck_assert_ptr_null(header_of(hdr, n, "X-Tenantd-Signature"));
  ck_assert_ptr_nonnull(strstr(body, "\"previous\":null"));
  free_headers(hdr, n);
  free(url);
  free(body);
}
END_TEST

/* Slack: one line of text, with its three special characters escaped. */
START_TEST(slack_text_is_escaped)
{
  struct config_notify t =
      target(CONFIG_NOTIFY_SLACK, "https://hooks.example/T/B/X", NULL);
  struct notify_event ev = {"acme", "Held", "Ready", "unknown tier '<b>&x'",
                            COMMIT};
  char *hdr[8], *url, *body;
  json_t *j;
  size_t n;

  body = notify_render(&t, &ev, "now", "d", hdr, 8, &n, &url);
  j = json_loads(body, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(j, "text")),
                   "tenantd: *acme* is Held (was Ready): unknown tier "
                   "'&lt;b&gt;&amp;x' (commit 0123456789ab)");
  json_decref(j);
  free_headers(hdr, n);
  free(url);
  free(body);
}
END_TEST

/* A commit status: the repository's statuses URL, the token in its
 * header only, states mapped, a long reason cut between characters, and
 * nothing to send without a commit. */
START_TEST(commit_status_request)
{
  struct config_notify t =
      target(CONFIG_NOTIFY_COMMIT_STATUS, "https://git.example/api/v1/", "tok");
  char reason[400], *hdr[8], *url, *body;
  struct notify_event ev = {"acme", "Ready", "Failed", reason, COMMIT};
  const char *desc;
  json_t *j;
  size_t n;

  memset(reason, 'a', 138);
  strcpy(reason + 138, "\xc3\xa9\xc3\xa9 and more after the limit");
  body = notify_render(&t, &ev, "now", "d", hdr, 8, &n, &url);
  ck_assert_str_eq(url, "https://git.example/api/v1/repos/ops/tenants/"
                        "statuses/" COMMIT);
  ck_assert_str_eq(header_of(hdr, n, "Authorization"), "token tok");
  j = json_loads(body, 0, NULL);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "success");
  ck_assert_str_eq(json_string_value(json_object_get(j, "context")),
                   "tenantd/acme");
  desc = json_string_value(json_object_get(j, "description"));
  ck_assert_int_le(strlen(desc), 140);
  ck_assert_int_eq(strlen(desc), 137 + 3);
  ck_assert_str_eq(desc + 137, "...");
  ck_assert_ptr_null(strstr(body, "tok\""));
  json_decref(j);
  free_headers(hdr, n);
  free(url);
  free(body);

  ev.commit = "dir:/srv/tenants";
  ck_assert_ptr_null(notify_render(&t, &ev, "now", "d", hdr, 8, &n, &url));
  ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- delivery, against a receiver on the same loop ---- */

struct receiver {
  int status;        /* what it answers */
  char location[96]; /* a redirect's Location header line, or "" */
  size_t got;
  char bodies[16][512];
  char delivery[16][64];
  uint64_t at[16];
  uv_loop_t *loop;
};

static struct receiver rx;

static void receive(const struct httpd_request *req,
                    struct httpd_response *resp, void *arg)
{
  const char *d = httpd_header(req, "X-Tenantd-Delivery");

  (void)arg;
  if (rx.got < 16) {
    snprintf(rx.bodies[rx.got], sizeof(rx.bodies[0]), "%s", req->body);
    snprintf(rx.delivery[rx.got], sizeof(rx.delivery[0]), "%s", d ? d : "");
    rx.at[rx.got] = uv_now(rx.loop);
  }
  rx.got++;
  httpd_respond(resp, rx.status, NULL, "ok\n");
  if (*rx.location)
    resp->headers = rx.location;
}

struct world {
  FILE *log;
  char *logtext;
  size_t loglen;
  uv_loop_t loop;
  struct httpd *h;
  struct notify *n;
  struct metrics *m;
  struct metric *counter;
  char url[64];
};

static void world_open(struct world *w, int status, uint64_t min_interval)
{
  struct httpd_limits lim = HTTPD_LIMITS_DEFAULT;
  struct config_notify t;

  memset(&rx, 0, sizeof(rx));
  w->log = open_memstream(&w->logtext, &w->loglen);
  ck_assert_int_eq(log_setup(LOG_FORMAT_LOGFMT, w->log), 0);
  rx.status = status;
  rx.loop = &w->loop;
  uv_loop_init(&w->loop);
  ck_assert_int_eq(
      httpd_start(&w->h, &w->loop, "127.0.0.1", 0, &lim, receive, NULL), 0);
  snprintf(w->url, sizeof(w->url), "http://127.0.0.1:%d/hook",
           httpd_port(w->h));
  t = target(CONFIG_NOTIFY_WEBHOOK, w->url, "hook-secret-k");
  t.min_interval_ms = min_interval;
  w->m = metrics_new();
  w->counter = metrics_register(w->m, METRIC_COUNTER, "n_total", "N.",
                                "target,result", NULL, 0);
  w->n = notify_new(&w->loop, &t, 1, w->counter);
}

static void on_closed(void *arg)
{
  (void)arg;
}

static void world_close(struct world *w)
{
  notify_close(w->n, on_closed, NULL);
  httpd_close(w->h, on_closed, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&w->loop), 0);
  metrics_free(w->m);
  log_setup(LOG_FORMAT_LOGFMT, NULL);
  log_release();
  fclose(w->log);
  /* Neither the secret nor the URL (a Slack URL is a secret) is logged. */
  ck_assert_ptr_null(strstr(w->logtext, "hook-secret-k"));
  ck_assert_ptr_null(strstr(w->logtext, "/hook"));
  free(w->logtext);
}

static void on_tick(uv_timer_t *t)
{
  (void)t;
}

/* Runs the loop for `ms` of its time. */
static void run_for(struct world *w, uint64_t ms)
{
  uv_timer_t t;
  uint64_t end = uv_now(&w->loop) + ms;

  uv_timer_init(&w->loop, &t);
  uv_timer_start(&t, on_tick, 5, 5);
  while (uv_now(&w->loop) < end)
    uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
}

static void event(struct world *w, const char *prev, const char *state)
{
  struct notify_event ev = {"acme", state, prev, "why", COMMIT};

  notify_event(w->n, &ev);
}

static double counted(struct world *w, const char *result)
{
  return metric_get_v(w->counter, (const char *[]){"t1", result});
}

/* A failure and its recovery: two messages, in order; what is not news
 * sends nothing. */
START_TEST(one_message_per_change)
{
  struct world w;

  world_open(&w, 200, 10);
  event(&w, NULL, "Ready");
  event(&w, "Ready", "Failed");
  run_for(&w, 200);
  event(&w, "Failed", "Ready");
  run_for(&w, 200);
  event(&w, "Ready", "Suspended");
  run_for(&w, 100);
  ck_assert_int_eq(rx.got, 2);
  ck_assert_ptr_nonnull(strstr(rx.bodies[0], "\"state\":\"Failed\","
                                             "\"previous\":\"Ready\""));
  ck_assert_ptr_nonnull(strstr(rx.bodies[1], "\"state\":\"Ready\","
                                             "\"previous\":\"Failed\""));
  ck_assert_str_ne(rx.delivery[0], rx.delivery[1]);
  ck_assert(counted(&w, "sent") == 2);
  world_close(&w);
}
END_TEST

/* Changes within the interval wait for its end and go as one message, in
 * the tenant's newest state; a flap back to what was last said sends
 * nothing. */
START_TEST(flapping_is_held_to_the_interval)
{
  struct world w;

  world_open(&w, 200, 400);
  event(&w, "Ready", "Failed");
  run_for(&w, 100);
  ck_assert_int_eq(rx.got, 1);
  for (int i = 0; i < 10; i++) {
    event(&w, "Failed", "Ready");
    event(&w, "Ready", "Failed");
  }
  event(&w, "Failed", "Ready");
  event(&w, "Ready", "Held");
  run_for(&w, 150);
  ck_assert_int_eq(rx.got, 1);
  ck_assert_int_eq(notify_pending(w.n), 1);
  run_for(&w, 400);
  ck_assert_int_eq(rx.got, 2);
  ck_assert_ptr_nonnull(strstr(rx.bodies[1], "\"state\":\"Held\","
                                             "\"previous\":\"Failed\""));
  ck_assert_int_ge(rx.at[1] - rx.at[0], 380);

  /* Back and forth within the next interval: nothing left to say. */
  event(&w, "Held", "Ready");
  event(&w, "Ready", "Held");
  run_for(&w, 600);
  ck_assert_int_eq(rx.got, 2);
  ck_assert_int_eq(notify_pending(w.n), 0);
  world_close(&w);
}
END_TEST

/* A receiver answering 500: the same delivery again after 50, 100 ms
 * (backoff doubling, each spread by up to a fifth), three attempts in
 * all, then given up. */
START_TEST(retries_with_backoff_then_gives_up)
{
  struct world w;

  world_open(&w, 500, 10);
  event(&w, "Ready", "Failed");
  run_for(&w, 800);
  ck_assert_int_eq(rx.got, 3);
  ck_assert_str_eq(rx.delivery[0], rx.delivery[1]);
  ck_assert_str_eq(rx.delivery[1], rx.delivery[2]);
  ck_assert_int_ge(rx.at[1] - rx.at[0], 38);
  ck_assert_int_ge(rx.at[2] - rx.at[1], 78);
  ck_assert(counted(&w, "retried") == 2);
  ck_assert(counted(&w, "failed") == 1);
  world_close(&w);
}
END_TEST

/* A retry overtaken by a newer message of its tenant is dropped: the
 * receiver never hears Failed after Ready. */
START_TEST(an_overtaken_retry_is_dropped)
{
  struct world w;
  bool ready_seen = false;

  world_open(&w, 500, 10);
  event(&w, "Ready", "Failed");
  run_for(&w, 30);
  event(&w, "Failed", "Ready");
  run_for(&w, 800);
  ck_assert_int_ge(rx.got, 3);
  for (size_t i = 0; i < rx.got && i < 16; i++) {
    bool failed = strstr(rx.bodies[i], "\"state\":\"Failed\"") != NULL;

    ck_assert_msg(!(ready_seen && failed), "Failed after Ready: %s",
                  rx.bodies[i]);
    ready_seen |= !failed;
  }
  ck_assert(counted(&w, "superseded") == 1);
  world_close(&w);
}
END_TEST

/* News is judged against what the receiver was told: a recovery by way
 * of a state that is no news is still announced, and a failure seen
 * again after an unknown pass is not news. */
START_TEST(news_against_what_was_sent)
{
  struct world w;

  world_open(&w, 200, 10);
  event(&w, "Ready", "Failed");
  run_for(&w, 100);
  event(&w, "Failed", "Suspended");
  run_for(&w, 100);
  event(&w, "Suspended", "Ready");
  run_for(&w, 100);
  ck_assert_int_eq(rx.got, 2);
  ck_assert_ptr_nonnull(strstr(rx.bodies[1], "\"state\":\"Ready\","
                                             "\"previous\":\"Failed\""));
  event(&w, "Ready", "Failed");
  run_for(&w, 100);
  event(&w, "Failed", "Unknown");
  run_for(&w, 100);
  event(&w, "Unknown", "Failed");
  run_for(&w, 100);
  ck_assert_int_eq(rx.got, 3);
  ck_assert(counted(&w, "sent") == 3);
  world_close(&w);
}
END_TEST

/* A receiver that accepts connections and never answers. */
struct silent {
  uv_tcp_t server;
  uv_tcp_t conn[16];
  int accepted;
  int port;
};

static void silent_accept(uv_stream_t *server, int status)
{
  struct silent *sl = server->data;

  if (status < 0 || sl->accepted >= 16)
    return;
  uv_tcp_init(server->loop, &sl->conn[sl->accepted]);
  if (uv_accept(server, (uv_stream_t *)&sl->conn[sl->accepted]) == 0)
    sl->accepted++;
  else
    uv_close((uv_handle_t *)&sl->conn[sl->accepted], NULL);
}

static void silent_open(struct silent *sl, uv_loop_t *loop)
{
  struct sockaddr_storage ss;
  struct sockaddr_in sin;
  int len = sizeof(ss);

  memset(sl, 0, sizeof(*sl));
  uv_ip4_addr("127.0.0.1", 0, &sin);
  uv_tcp_init(loop, &sl->server);
  sl->server.data = sl;
  ck_assert_int_eq(uv_tcp_bind(&sl->server, (struct sockaddr *)&sin, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&sl->server, 64, silent_accept), 0);
  uv_tcp_getsockname(&sl->server, (struct sockaddr *)&ss, &len);
  sl->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void silent_close(struct silent *sl)
{
  for (int i = 0; i < sl->accepted; i++)
    uv_close((uv_handle_t *)&sl->conn[i], NULL);
  uv_close((uv_handle_t *)&sl->server, NULL);
}

/* Ten tenants failing at once to a receiver that hangs: no more than
 * NOTIFY_INFLIGHT_MAX requests open at a time, the rest wait; closing
 * with requests in flight leaves nothing behind. */
START_TEST(requests_in_flight_are_capped)
{
  struct world w;
  struct silent sl;
  struct config_notify t;
  char url[64], name[32];

  world_open(&w, 200, 10);
  silent_open(&sl, &w.loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", sl.port);
  t = target(CONFIG_NOTIFY_WEBHOOK, url, "hook-secret-k");
  t.min_interval_ms = 10;
  notify_configure(w.n, &t, 1);
  for (int i = 0; i < 10; i++) {
    struct notify_event ev = {name, "Failed", "Ready", "why", COMMIT};

    snprintf(name, sizeof(name), "tenant-%d", i);
    notify_event(w.n, &ev);
  }
  run_for(&w, 300);
  ck_assert_int_eq(sl.accepted, NOTIFY_INFLIGHT_MAX);
  ck_assert_int_eq(notify_pending(w.n), 10 - NOTIFY_INFLIGHT_MAX);
  silent_close(&sl);
  world_close(&w);
}
END_TEST

/* A 4xx is the receiver's final word: no retry. */
START_TEST(client_error_is_final)
{
  struct world w;

  world_open(&w, 400, 10);
  event(&w, "Ready", "Stalled");
  run_for(&w, 400);
  ck_assert_int_eq(rx.got, 1);
  ck_assert(counted(&w, "failed") == 1);
  world_close(&w);
}
END_TEST

/* 429 means "later": retried like a server error. */
START_TEST(too_many_requests_is_retried)
{
  struct world w;

  world_open(&w, 429, 10);
  event(&w, "Ready", "Failed");
  run_for(&w, 800);
  ck_assert_int_eq(rx.got, 3);
  ck_assert_str_eq(rx.delivery[0], rx.delivery[2]);
  ck_assert(counted(&w, "retried") == 2);
  ck_assert(counted(&w, "failed") == 1);
  world_close(&w);
}
END_TEST

/* A redirect is not followed (it could lead the signed body anywhere)
 * and not retried: the message did not arrive, once. */
START_TEST(redirect_is_final_and_not_followed)
{
  struct world w;

  world_open(&w, 307, 10);
  snprintf(rx.location, sizeof(rx.location), "Location: %s/moved\r\n", w.url);
  event(&w, "Ready", "Stalled");
  run_for(&w, 400);
  ck_assert_int_eq(rx.got, 1);
  ck_assert(counted(&w, "failed") == 1);
  ck_assert(counted(&w, "retried") == 0);
  world_close(&w);
}
END_TEST

/* A tenant forgotten drops its waiting message; closing with a request
 * in flight and one waiting leaves nothing behind. */
START_TEST(forget_and_close_with_work_pending)
{
  struct world w;
  struct notify_event other = {"zeta", "Failed", "Ready", NULL, NULL};

  world_open(&w, 200, 5000);
  event(&w, "Ready", "Failed");
  run_for(&w, 100);
  event(&w, "Failed", "Ready");
  ck_assert_int_eq(notify_pending(w.n), 1);
  notify_forget(w.n, "acme");
  ck_assert_int_eq(notify_pending(w.n), 0);
  notify_event(w.n, &other);
  event(&w, "Ready", "Held");
  world_close(&w);
}
END_TEST

/* A reload that keeps a target's settings keeps its intervals; a changed
 * target starts afresh. */
START_TEST(reconfigure_keeps_unchanged_targets)
{
  struct world w;
  struct config_notify t;

  world_open(&w, 200, 5000);
  event(&w, "Ready", "Failed");
  run_for(&w, 100);
  event(&w, "Failed", "Ready");
  ck_assert_int_eq(notify_pending(w.n), 1);
  t = target(CONFIG_NOTIFY_WEBHOOK, w.url, "hook-secret-k");
  t.min_interval_ms = 5000;
  notify_configure(w.n, &t, 1);
  ck_assert_int_eq(notify_pending(w.n), 1);
  t.min_interval_ms = 10;
  notify_configure(w.n, &t, 1);
  ck_assert_int_eq(notify_pending(w.n), 0);
  event(&w, "Ready", "Failed");
  run_for(&w, 150);
  ck_assert_int_eq(rx.got, 2);
  world_close(&w);
}
END_TEST

Suite *make_suite_notify(void)
{
  Suite *s = suite_create("notify");
  TCase *tc = tcase_create("notify");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, news_is_a_turn_for_the_worse_or_a_recovery);
  tcase_add_test(tc, webhook_body_is_signed);
  tcase_add_test(tc, slack_text_is_escaped);
  tcase_add_test(tc, commit_status_request);
  tcase_add_test(tc, one_message_per_change);
  tcase_add_test(tc, flapping_is_held_to_the_interval);
  tcase_add_test(tc, retries_with_backoff_then_gives_up);
  tcase_add_test(tc, an_overtaken_retry_is_dropped);
  tcase_add_test(tc, news_against_what_was_sent);
  tcase_add_test(tc, requests_in_flight_are_capped);
  tcase_add_test(tc, client_error_is_final);
  tcase_add_test(tc, too_many_requests_is_retried);
  tcase_add_test(tc, redirect_is_final_and_not_followed);
  tcase_add_test(tc, forget_and_close_with_work_pending);
  tcase_add_test(tc, reconfigure_keeps_unchanged_targets);
  suite_add_tcase(s, tc);
  return s;
}
