/*
 * health.c - health checks by tenantd itself (see docker.h): an HTTP GET
 * of each replica's health path at its published port, on the loop
 * through curl_uv, 2xx passing.  A read probes every running replica in
 * rounds: a failed replica is probed again a health interval later
 * until it passes, is found starting (this instance started it), or has
 * failed healthFailures times in a row.  A rolling update's new replica
 * is probed until it passes, its time is up, or the event stream says it
 * died.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/docker/internal.h"

/* A health check's answer is not read, only its status: a body this big
 * on a failure is enough for curl_uv's message. */
#define PROBE_ERROR_BODY_MAX 4096

struct probe {
  struct dk_op *op;
  struct dk_replica *r; /* NULL: the rolling wait's replica */
};

static const char *path_of(const json_t *tmpl)
{
  return json_string_value(json_object_get(tmpl, "health_path"));
}

static uint64_t seconds_of(const json_t *tmpl, const char *key, uint64_t def)
{
  const json_t *v = json_object_get(tmpl, key);

  return json_is_integer(v) && json_integer_value(v) > 0
             ? (uint64_t)json_integer_value(v) * 1000
             : def * 1000;
}

static uint64_t interval_ms(const json_t *tmpl)
{
  return seconds_of(tmpl, "health_interval_s", 10);
}

static bool discard(const char *data, size_t len, void *arg)
{
  (void)data;
  (void)len;
  (void)arg;
  return true;
}

static void probe_send(struct dk *dk, unsigned port, const json_t *tmpl,
                       curl_uv_cb cb, void *arg)
{
  char *url = strchr(dk->host_address, ':')
                  ? td_asprintf("http://[%s]:%u%s", dk->host_address, port,
                                path_of(tmpl))
                  : td_asprintf("http://%s:%u%s", dk->host_address, port,
                                path_of(tmpl));
  struct curl_uv_request req = {
      .method = "GET",
      .url = url,
      .timeout_ms = seconds_of(tmpl, "health_timeout_s", 5),
      .max_response_bytes = PROBE_ERROR_BODY_MAX,
      .on_body = discard,
  };

  curl_uv_send(dk->cu, &req, cb, arg);
  free(url);
}

static bool passed(const struct curl_uv_response *res, char *why, size_t cap)
{
  if (res->http_code >= 200 && res->http_code < 300)
    return true;
  if (res->http_code == 0)
    snprintf(why, cap, "%s", res->message ? res->message : "no answer");
  else
    snprintf(why, cap, "HTTP %ld", res->http_code);
  return false;
}

void dk__mark_fresh(struct dk *dk, const char *container_id)
{
  /* A bound on the map: an instance lives for a pass. */
  if (json_object_size(dk->fresh) > DK_MAX_LIST)
    json_object_clear(dk->fresh);
  json_object_set_new(dk->fresh, container_id,
                      json_integer((json_int_t)uv_now(dk->rt.base.loop)));
}

/* ---- a read's rounds ---- */

static void round_start(struct dk_op *op);

static void on_next_round(struct dk_wake *w)
{
  round_start(container_of(w, struct dk_op, wake));
}

static void round_done(struct dk_op *op)
{
  uint64_t wait = UINT64_MAX;

  if (--op->probing > 0)
    return;
  for (size_t i = 0; i < op->fam.n; i++)
    if (op->fam.v[i].ours && !op->fam.v[i].settled &&
        interval_ms(op->fam.v[i].tmpl) < wait)
      wait = interval_ms(op->fam.v[i].tmpl);
  if (wait == UINT64_MAX)
    op->probed(op);
  else
    dk__wake_after(dk_of(op), &op->wake, wait, on_next_round);
}

static void on_probe(const struct curl_uv_response *res, void *arg)
{
  struct probe *p = arg;
  struct dk_op *op = p->op;
  struct dk_replica *r = p->r;
  struct dk *dk = dk_of(op);

  free(p);
  if (passed(res, r->last, sizeof(r->last))) {
    r->health = DK_H_PASSING;
    r->fails = 0;
    r->settled = true;
  } else if (json_object_get(dk->fresh, r->id)) {
    /* Started during this pass: not failing, not ready yet either. */
    r->health = DK_H_STARTING;
    r->settled = true;
  } else if (++r->fails >= dk->health_failures) {
    r->health = DK_H_FAILING;
    r->settled = true;
  }
  round_done(op);
}

static void round_start(struct dk_op *op)
{
  struct dk *dk = dk_of(op);

  op->probing = 1;
  for (size_t i = 0; i < op->fam.n; i++) {
    struct dk_replica *r = &op->fam.v[i];
    struct probe *p;

    if (!r->ours || r->settled)
      continue;
    if (r->state != DK_RUNNING || !r->host_port || !r->tmpl) {
      r->health = DK_H_UNKNOWN;
      r->settled = true;
      continue;
    }
    if (!path_of(r->tmpl)) {
      r->health = DK_H_NONE;
      r->settled = true;
      continue;
    }
    p = td_calloc(1, sizeof(*p));
    p->op = op;
    p->r = r;
    op->probing++;
    probe_send(dk, r->host_port, r->tmpl, on_probe, p);
  }
  round_done(op);
}

void dk__probe_family(struct dk_op *op, void (*probed)(struct dk_op *op))
{
  op->probed = probed;
  round_start(op);
}

/* ---- a rolling update's new replica ---- */

static void ready_probe(struct dk_op *op);

static void on_ready_wake(struct dk_wake *w)
{
  ready_probe(container_of(w, struct dk_op, wake));
}

static void on_ready_probe(const struct curl_uv_response *res, void *arg)
{
  struct dk_op *op = arg;
  struct dk_roll *rl = op->roll;
  uint64_t wait = interval_ms(rl->tmpl);

  if (passed(res, rl->why, sizeof(rl->why))) {
    rl->ready(op, true);
    return;
  }
  if (wait > DK_READY_POLL_MS)
    wait = DK_READY_POLL_MS;
  dk__wake_after(dk_of(op), &op->wake, wait, on_ready_wake);
}

static void ready_probe(struct dk_op *op)
{
  struct dk *dk = dk_of(op);
  struct dk_roll *rl = op->roll;
  int code;

  if (dk__events_died(dk, rl->id, rl->since_ns, &code)) {
    snprintf(rl->why, sizeof(rl->why), "it exited with code %d", code);
    rl->ready(op, false);
  } else if (!path_of(rl->tmpl)) {
    rl->ready(op, true); /* no check: running is all it can show */
  } else if (uv_now(dk->rt.base.loop) >= rl->deadline) {
    char last[sizeof(rl->why)];

    snprintf(last, sizeof(last), "%s", rl->why[0] ? rl->why : "no answer");
    snprintf(rl->why, sizeof(rl->why), "not within %llu ms; last: %.200s",
             (unsigned long long)dk->health_timeout_ms, last);
    rl->ready(op, false);
  } else if (!rl->host_port) {
    snprintf(rl->why, sizeof(rl->why), "it has no published port");
    rl->ready(op, false);
  } else {
    probe_send(dk, rl->host_port, rl->tmpl, on_ready_probe, op);
  }
}

void dk__wait_ready(struct dk_op *op,
                    void (*ready)(struct dk_op *op, bool ready))
{
  op->roll->ready = ready;
  ready_probe(op);
}
