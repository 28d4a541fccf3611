/*
 * events.c - the Engine API's event stream (GET /events), followed while
 * an instance needs it: a rolling update waiting for a new replica
 * learns at once that it died, rather than at the end of its health
 * timeout.  The stream carries tenantd's containers only (a label
 * filter); a line is one JSON event.  When the stream ends or fails it
 * is opened again a second later, until the instance shuts down.
 *
 * The stream is open only while some op waits on it (dk__events_follow
 * and dk__events_unfollow): a pass ends when its loop has nothing left
 * to do, and an open stream would keep it going.
 *
 * A pass's instance lives for the pass.  The daemon keeps one more
 * instance for provider_watch (dk__events_watch): its stream stays open
 * while the daemon runs, and each container of tenantd's that dies, is
 * removed or paused is told to the daemon with its tenant, which then
 * passes that tenant at once: a container killed by hand comes back
 * within seconds, not at the next resync.  Reconnects resume from the
 * last event's second, so nothing between two streams is lost (an event
 * of that second may come twice; the daemon asks once).
 */
#include "base/compat.h"

#include <stdio.h>
#include <time.h>

#include "base/error.h"
#include "providers/docker/internal.h"

/* How long one stream request may stay open, and the wait before the
 * next one. */
#define STREAM_TIMEOUT_MS (60 * 60 * 1000)
#define RECONNECT_MS 1000
/* Deaths remembered: an instance lives for a pass. */
#define MAX_DEATHS 4096

/* What a watch is told of. */
static const char *const watched_actions[] = {"die", "oom", "destroy", "pause"};

struct dk_events {
  struct dk *dk;
  long long since;         /* replayed from on reconnects: the first follow's
                              time, then the last event's */
  unsigned users;          /* ops that wait on it */
  struct curl_uv_req *req; /* the stream, while open */
  bool stopping;
  char *line;
  size_t len;
  bool skipping;
  json_t *died; /* container id -> [exit code, time (ns)] */
  struct dk_wake retry;
};

static void follow(struct dk_events *ev);

/* A watched action on one of tenantd's containers: the watch's
 * callback hears of its tenant. */
static void tell(struct dk_events *ev, const char *action, const json_t *attrs)
{
  const char *tenant =
      json_string_value(json_object_get(attrs, DK_LABEL_TENANT));
  const char *name = json_string_value(json_object_get(attrs, "name"));
  char what[160];
  size_t i;

  for (i = 0; i < ARRAY_SIZE(watched_actions); i++)
    if (strcmp(action, watched_actions[i]) == 0)
      break;
  if (i == ARRAY_SIZE(watched_actions) || !tenant || !*tenant)
    return;
  snprintf(what, sizeof(what), "container %.100s: %s", name ? name : "?",
           strcmp(action, "die") == 0 ? "died" : action);
  ev->dk->watch_cb(&ev->dk->rt.base, tenant, what, ev->dk->watch_arg);
}

static void on_event(struct dk_events *ev, const char *text, size_t len)
{
  json_t *e = json_loadb(text, len, 0, NULL);
  const char *action = json_string_value(json_object_get(e, "Action"));
  const json_t *actor = json_object_get(e, "Actor");
  const json_t *attrs = json_object_get(actor, "Attributes");
  const char *id = json_string_value(json_object_get(actor, "ID"));
  const char *code = json_string_value(json_object_get(attrs, "exitCode"));
  json_int_t at = json_integer_value(json_object_get(e, "timeNano"));
  json_int_t secs = json_integer_value(json_object_get(e, "time"));

  if (!id)
    id = json_string_value(json_object_get(e, "id"));
  if (secs > ev->since)
    ev->since = secs;
  if (id && action &&
      (strcmp(action, "die") == 0 || strcmp(action, "oom") == 0 ||
       strcmp(action, "destroy") == 0)) {
    if (json_object_size(ev->died) >= MAX_DEATHS)
      json_object_clear(ev->died);
    /* The latest death says most; "die" carries the exit code. */
    if (!json_object_get(ev->died, id) || strcmp(action, "die") == 0)
      json_object_set_new(ev->died, id,
                          json_pack("[i, I]", code ? atoi(code) : -1, at));
  }
  if (action && ev->dk->watch_cb)
    tell(ev, action, attrs);
  json_decref(e);
}

static bool on_data(const char *data, size_t n, void *arg)
{
  struct dk_events *ev = arg;

  for (size_t i = 0; i < n; i++) {
    if (data[i] == '\n') {
      if (!ev->skipping && ev->len > 0)
        on_event(ev, ev->line, ev->len);
      ev->len = 0;
      ev->skipping = false;
    } else if (ev->len == DK_MAX_LINE) {
      ev->skipping = true;
    } else if (!ev->skipping) {
      ev->line[ev->len++] = data[i];
    }
  }
  return true;
}

static void on_retry(struct dk_wake *w)
{
  follow(container_of(w, struct dk_events, retry));
}

static void on_end(const struct curl_uv_response *res, void *arg)
{
  struct dk_events *ev = arg;

  (void)res;
  ev->req = NULL;
  ev->len = 0;
  ev->skipping = false;
  if (ev->users > 0 && !ev->stopping)
    dk__wake_after(ev->dk, &ev->retry, RECONNECT_MS, on_retry);
}

static void follow(struct dk_events *ev)
{
  struct dk *dk = ev->dk;
  json_t *f = json_pack("{s:[s], s:[s]}", "type", "container", "label",
                        DK_LABEL_MANAGED "=" RESOURCE_MARKER_MANAGED_BY);
  char *text = json_dumps(f, JSON_COMPACT);
  char *q = dk__query_escape(text);
  char *url = td_asprintf("http://docker/" DOCKER_API_VERSION
                          "/events?since=%lld&filters=%s",
                          ev->since, q);
  struct curl_uv_request req = {.method = "GET",
                                .url = url,
                                .timeout_ms = STREAM_TIMEOUT_MS,
                                .unix_socket = dk->socket,
                                .on_body = on_data};

  ev->req = curl_uv_send(dk->cu, &req, on_end, ev);
  free(url);
  free(q);
  free(text);
  json_decref(f);
}

void dk__events_follow(struct dk *dk)
{
  struct dk_events *ev = dk->events;

  if (!ev) {
    ev = dk->events = td_calloc(1, sizeof(*ev));
    ev->dk = dk;
    ev->line = td_malloc(DK_MAX_LINE);
    ev->died = json_object();
    /* A second back: a replica that dies as the stream opens is seen. */
    ev->since = (long long)time(NULL) - 1;
  }
  ev->users++;
  if (ev->req || ev->retry.armed || ev->stopping)
    return;
  follow(ev);
}

void dk__events_unfollow(struct dk *dk)
{
  struct dk_events *ev = dk->events;

  assert(ev && ev->users > 0);
  if (--ev->users > 0)
    return;
  dk__wake_cancel(dk, &ev->retry);
  if (ev->req)
    curl_uv_cancel(dk->cu, ev->req); /* on_end clears it */
}

bool dk__events_died(struct dk *dk, const char *id, int64_t after_ns,
                     int *exit_code)
{
  const json_t *v = dk->events ? json_object_get(dk->events->died, id) : NULL;

  /* The stream replays a second back: an earlier death (a stop before
   * this start) is not this run's. */
  if (!v || json_integer_value(json_array_get(v, 1)) < after_ns)
    return false;
  *exit_code = (int)json_integer_value(json_array_get(v, 0));
  return true;
}

int dk__events_watch(struct provider *p, provider_watch_cb cb, void *arg)
{
  struct dk *dk = container_of(p, struct dk, rt.base);

  if (dk->watch_cb)
    return td_error("docker %s: already watching", p->instance);
  dk->watch_cb = cb;
  dk->watch_arg = arg;
  /* Never unfollowed: the stream stays open until shutdown. */
  dk__events_follow(dk);
  return 0;
}

void dk__events_stop(struct dk *dk)
{
  if (!dk->events)
    return;
  dk->events->stopping = true;
  dk__wake_cancel(dk, &dk->events->retry);
}

void dk__events_free(struct dk *dk)
{
  if (!dk->events)
    return;
  json_decref(dk->events->died);
  free(dk->events->line);
  free(dk->events);
  dk->events = NULL;
}
