/*
 * api.c - requests to the Docker Engine API (see internal.h): over the
 * unix socket through curl_uv, at most maxParallel in flight (the rest
 * wait in a FIFO), JSON both ways, the Engine API's own message in every
 * error; and image pulls, streamed, one request per image shared by
 * every op that waits for it.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/docker/internal.h"

#define API_BASE "http://docker/" DOCKER_API_VERSION

struct dk_call {
  struct dk_call *next;
  struct dk *dk;
  struct dk_op *op;
  char *method;
  char *path;
  char *body; /* NULL: none */
  dk_api_cb cb;
  void *ctx;
};

/* ---- requests ---- */

static void pump(struct dk *dk);

static void call_free(struct dk_call *c)
{
  free(c->method);
  free(c->path);
  free(c->body);
  free(c);
}

/* The path without its query, for messages. */
static int path_len(const char *path)
{
  return (int)strcspn(path, "?");
}

static void on_response(const struct curl_uv_response *res, void *arg)
{
  struct dk_call *c = arg;
  struct dk *dk = c->dk;
  struct dk_resp r = {res->status, res->http_code, NULL, NULL};
  json_t *json = NULL;
  char msg[RT_MESSAGE_MAX];
  const char *why;

  dk->inflight--;
  if (res->body_len > 0)
    json = json_loadb(res->body, res->body_len, 0, NULL);
  r.json = json;
  /* Already started, already stopped: what was asked holds. */
  if (res->http_code == 304)
    r.status = PROVIDER_OK;
  if (r.status < 0) {
    why = dk__api_message(json);
    if (why)
      snprintf(msg, sizeof(msg), "docker: %s %.*s: %s", c->method,
               path_len(c->path), c->path, why);
    else
      snprintf(msg, sizeof(msg), "docker: %s", res->message);
    r.message = msg;
  }
  c->cb(c->op, &r, c->ctx);
  json_decref(json);
  call_free(c);
  pump(dk);
}

static void send_call(struct dk *dk, struct dk_call *c)
{
  static const char *const json_header[] = {"Content-Type: application/json"};
  char *url = td_asprintf(API_BASE "%s", c->path);
  struct curl_uv_request req = {
      .method = c->method,
      .url = url,
      .headers = c->body ? json_header : NULL,
      .nheaders = c->body ? 1 : 0,
      .body = c->body,
      .body_len = c->body ? strlen(c->body) : 0,
      .timeout_ms = dk->timeout_ms,
      .max_response_bytes = DK_MAX_LIST_BYTES,
      .unix_socket = dk->socket,
  };

  dk->inflight++;
  curl_uv_send(dk->cu, &req, on_response, c);
  free(url);
}

static void pump(struct dk *dk)
{
  while (dk->queue_head && dk->inflight < dk->max_parallel) {
    struct dk_call *c = dk->queue_head;

    dk->queue_head = c->next;
    if (!dk->queue_head)
      dk->queue_tail = &dk->queue_head;
    send_call(dk, c);
  }
}

void dk__api(struct dk *dk, struct dk_op *op, const char *method,
             const char *path, json_t *body, dk_api_cb cb, void *ctx)
{
  struct dk_call *c = td_calloc(1, sizeof(*c));

  c->dk = dk;
  c->op = op;
  c->method = td_strdup(method);
  c->path = td_strdup(path);
  if (body) {
    c->body = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(body);
  }
  c->cb = cb;
  c->ctx = ctx;
  *dk->queue_tail = c;
  dk->queue_tail = &c->next;
  /* curl_uv answers on a later turn even when sent at once. */
  pump(dk);
}

/* ---- image pulls ---- */

struct waiter {
  struct dk_op *op;
  dk_pull_cb cb;
  void *ctx;
};

struct dk_pull {
  struct dk_pull *next;
  struct dk *dk;
  char *image;
  struct waiter *w;
  size_t nw;
  char *line; /* the part of a line received so far */
  size_t len;
  bool skipping; /* a line longer than DK_MAX_LINE: dropped */
  char err[DK_MAX_MESSAGE];
};

static void pull_line(struct dk_pull *p, const char *line, size_t len)
{
  char err[DK_MAX_MESSAGE];

  if (dk__pull_error(line, len, err, sizeof(err)))
    snprintf(p->err, sizeof(p->err), "%s", err);
}

/* Progress arrives as lines of JSON; only an error matters. */
static bool on_pull_data(const char *data, size_t n, void *arg)
{
  struct dk_pull *p = arg;

  for (size_t i = 0; i < n; i++) {
    if (data[i] == '\n') {
      if (!p->skipping && p->len > 0)
        pull_line(p, p->line, p->len);
      p->len = 0;
      p->skipping = false;
    } else if (p->len == DK_MAX_LINE) {
      p->skipping = true;
    } else if (!p->skipping) {
      p->line[p->len++] = data[i];
    }
  }
  return true;
}

static void pull_unlink(struct dk_pull *p)
{
  struct dk_pull **at = &p->dk->pulls;

  while (*at != p)
    at = &(*at)->next;
  *at = p->next;
}

static void on_pulled(const struct curl_uv_response *res, void *arg)
{
  struct dk_pull *p = arg;
  int status = PROVIDER_OK;
  char msg[RT_MESSAGE_MAX];
  json_t *json = NULL;
  const char *why = NULL;

  if (p->len > 0 && !p->skipping)
    pull_line(p, p->line, p->len);
  if (res->status < 0) {
    json = res->body_len ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    why = dk__api_message(json) ? dk__api_message(json) : res->message;
    /* No answer at all: the API, not the image; a 404: no such image
     * (Docker says so before it streams); else the words say. */
    if (res->http_code == 0)
      status = res->status;
    else if (res->status == PROVIDER_NOT_FOUND)
      status = PROVIDER_INVALID;
    else
      status = dk__pull_class(why);
  } else if (p->err[0]) {
    why = p->err;
    status = dk__pull_class(why);
  }
  if (status < 0)
    snprintf(msg, sizeof(msg), "docker: pulling %.256s: %s", p->image, why);
  pull_unlink(p);
  for (size_t i = 0; i < p->nw; i++)
    p->w[i].cb(p->w[i].op, status, status < 0 ? msg : NULL, p->w[i].ctx);
  json_decref(json);
  free(p->w);
  free(p->line);
  free(p->image);
  free(p);
}

static void pull_send(struct dk *dk, struct dk_pull *p)
{
  char repo[512], tag[256], *qrepo, *qtag, *url, *auth = NULL, *header = NULL;
  const char *headers[1];
  struct curl_uv_request req = {.method = "POST",
                                .timeout_ms = dk->pull_timeout_ms,
                                .unix_socket = dk->socket,
                                .on_body = on_pull_data};

  if (!dk__image_ref(p->image, repo, sizeof(repo), tag, sizeof(tag)))
    snprintf(repo, sizeof(repo), "%s", p->image);
  qrepo = dk__query_escape(repo);
  qtag = dk__query_escape(tag);
  url = td_asprintf(API_BASE "/images/create?fromImage=%s&tag=%s", qrepo, qtag);
  if (dk->registry_auth.value)
    auth = dk__registry_auth(dk->registry_auth.value, p->image);
  if (auth) {
    header = td_asprintf("X-Registry-Auth: %s", auth);
    headers[0] = header;
    req.headers = headers;
    req.nheaders = 1;
  }
  req.url = url;
  curl_uv_send(dk->cu, &req, on_pulled, p);
  /* curl_uv copied the header: leave no credential behind. */
  if (auth) {
    explicit_bzero(auth, strlen(auth));
    explicit_bzero(header, strlen(header));
  }
  free(auth);
  free(header);
  free(url);
  free(qrepo);
  free(qtag);
}

void dk__pull(struct dk *dk, struct dk_op *op, const char *image,
              dk_pull_cb done, void *ctx)
{
  struct dk_pull *p = dk->pulls;

  while (p && strcmp(p->image, image) != 0)
    p = p->next;
  if (!p) {
    p = td_calloc(1, sizeof(*p));
    p->dk = dk;
    p->image = td_strdup(image);
    p->line = td_malloc(DK_MAX_LINE);
    p->next = dk->pulls;
    dk->pulls = p;
    pull_send(dk, p);
  }
  p->w = td_realloc(p->w, (p->nw + 1) * sizeof(*p->w));
  p->w[p->nw++] = (struct waiter){op, done, ctx};
}
