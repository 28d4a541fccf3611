/*
 * apiclient.c - see apiclient.h.
 */
#include "base/compat.h"

#include <curl/curl.h>
#include <time.h>

#include "base/error.h"
#include "server/apiclient.h"

struct answer {
  char *data;
  size_t len;
  bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
  struct answer *a = arg;
  size_t len = size * n;

  if (len > APICLIENT_MAX_ANSWER - a->len) {
    a->too_big = true;
    return 0;
  }
  a->data = td_realloc(a->data, a->len + len + 1);
  memcpy(a->data + a->len, p, len);
  a->len += len;
  a->data[a->len] = '\0';
  return len;
}

int apiclient_call(const struct apiclient_opts *o, const char *method,
                   const char *path, const char *body, long *status,
                   json_t **out)
{
  struct answer a = {0};
  struct curl_slist *h = NULL;
  char *url = td_asprintf("%s%s", o->server, path), *auth = NULL;
  CURL *c = curl_easy_init();
  CURLcode cc;
  int rc = 0;

  assert(o->version == APICLIENT_OPTS_VERSION);
  *status = 0;
  *out = NULL;
  if (!c)
    abort();
  h = curl_slist_append(h, "Accept: application/json");
  if (body)
    h = curl_slist_append(h, "Content-Type: application/json");
  if (o->token && *o->token) {
    auth = td_asprintf("Authorization: Bearer %s", o->token);
    h = curl_slist_append(h, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  /* A redirect would carry the token elsewhere: none is followed. */
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
  if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  cc = curl_easy_perform(c);
  if (a.too_big)
    rc = td_error("%s: the answer is larger than %d bytes", o->server,
                  APICLIENT_MAX_ANSWER);
  else if (cc != CURLE_OK)
    rc = td_error("%s: %s", o->server, curl_easy_strerror(cc));
  if (rc == 0) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (a.data)
      *out = json_loads(a.data, 0, NULL);
  }
  if (auth)
    explicit_bzero(auth, strlen(auth));
  free(auth);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  free(url);
  free(a.data);
  return rc;
}

/* ---- printing answers ---- */

static const char *str(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));

  return s ? s : "";
}

/* The refusal: its message, and each problem as validate prints it. */
static void print_refusal(FILE *err, long status, const json_t *a)
{
  const json_t *errors = json_object_get(a, "errors");
  const json_t *e;
  size_t i;

  fprintf(err, "tenantd: %s (HTTP %ld)\n",
          *str(a, "error") ? str(a, "error") : "the server refused", status);
  json_array_foreach(errors, i, e)
      fprintf(err, "%s:%lld:%lld: error: %s\n", str(e, "file"),
              (long long)json_integer_value(json_object_get(e, "line")),
              (long long)json_integer_value(json_object_get(e, "column")),
              str(e, "message"));
}

/* One call; on anything but `want` (or 200 when want_ok), says why. */
static int call(const struct apiclient_opts *o, const char *method,
                const char *path, const char *body, long want, bool also_200,
                json_t **answer, FILE *err)
{
  long status;

  if (apiclient_call(o, method, path, body, &status, answer) < 0) {
    fprintf(err, "tenantd: cannot reach the daemon: %s\n", td_error_last());
    return -1;
  }
  if (status == want || (also_200 && status == 200))
    return (int)status;
  print_refusal(err, status, *answer);
  json_decref(*answer);
  *answer = NULL;
  return -1;
}

static void sleep_ms(uint64_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

  nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- reconcile ---- */

static int print_pass(FILE *out, const char *tenant, const json_t *a)
{
  const json_t *row = json_object_get(a, "status");
  const char *result = str(a, "result"), *source = str(row, "source");

  fprintf(out, "%s: %s: %s", tenant, str(row, "state"), str(row, "message"));
  if (*source)
    fprintf(out, " (source %.12s)", source);
  fputc('\n', out);
  return strcmp(result, "ready") == 0 || strcmp(result, "suspended") == 0 ? 0
                                                                          : 1;
}

/* Polls until the tenant's pass count reaches `pass`. */
static int wait_pass(const struct apiclient_opts *o, const char *tenant,
                     json_int_t pass, FILE *out, FILE *err)
{
  char *path = td_asprintf("/api/v1/reconcile?tenant=%s", tenant);
  uint64_t deadline = now_ms() + o->wait_ms;
  int rc = 1;

  for (;;) {
    json_t *a = NULL;
    long status;

    if (apiclient_call(o, "GET", path, NULL, &status, &a) < 0) {
      fprintf(err, "tenantd: cannot reach the daemon: %s\n", td_error_last());
      break;
    }
    if (status == 404) {
      fprintf(out, "%s: removed: no longer in the manifests\n", tenant);
      json_decref(a);
      rc = 0;
      break;
    }
    if (status != 200) {
      print_refusal(err, status, a);
      json_decref(a);
      break;
    }
    if (json_integer_value(json_object_get(a, "passes")) >= pass) {
      rc = print_pass(out, tenant, a);
      json_decref(a);
      break;
    }
    json_decref(a);
    if (now_ms() >= deadline) {
      fprintf(err, "tenantd: %s: no pass within %llus\n", tenant,
              (unsigned long long)(o->wait_ms / 1000));
      break;
    }
    sleep_ms(o->poll_ms);
  }
  free(path);
  return rc;
}

int apiclient_reconcile(const struct apiclient_opts *o, const char *tenant,
                        bool wait, FILE *out, FILE *err)
{
  char *path = td_asprintf("/api/v1/reconcile?tenant=%s", tenant);
  json_t *a = NULL;
  json_int_t pass;
  int rc = 1;

  if (call(o, "POST", path, NULL, 202, false, &a, err) < 0)
    goto out;
  pass = json_integer_value(json_object_get(a, "pass"));
  if (!wait) {
    fprintf(out, "%s: reconcile queued\n", tenant);
    rc = 0;
  } else {
    rc = wait_pass(o, tenant, pass, out, err);
  }
out:
  json_decref(a);
  free(path);
  return rc;
}

/* ---- suspend, resume ---- */

int apiclient_suspend(const struct apiclient_opts *o, const char *tenant,
                      bool suspend, FILE *out, FILE *err)
{
  char *path = td_asprintf("/api/v1/tenants/%s", tenant);
  const char *body = suspend ? "{\"suspend\": true}" : "{\"suspend\": false}";
  const char *done = suspend ? "suspended" : "resumed";
  json_t *a = NULL, *plan;
  int status = call(o, "PATCH", path, body, 202, true, &a, err);

  free(path);
  if (status < 0)
    return 1;
  if (status == 200) {
    fprintf(out, "%s: already %s; nothing committed\n", tenant,
            suspend ? "suspended" : "running");
    json_decref(a);
    return 0;
  }
  fprintf(out, "%s: %s by commit %.12s on %s%s (request %s)\n", tenant, done,
          str(a, "commit"), str(a, "branch"),
          strcmp(str(a, "mode"), "branch") == 0 ? ", for review" : "",
          str(a, "request"));
  plan = json_object_get(a, "plan");
  if (json_is_object(plan))
    fprintf(out, "plan: %lld change%s pending\n",
            (long long)json_integer_value(
                json_object_get(json_object_get(plan, "summary"), "pending")),
            json_integer_value(json_object_get(json_object_get(plan, "summary"),
                                               "pending")) == 1
                ? ""
                : "s");
  else
    fprintf(out, "plan: not available: %s\n", str(a, "planError"));
  json_decref(a);
  return 0;
}
