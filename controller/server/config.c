#include "base/compat.h"

#include "base/strutil.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "server/config.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "engine/reconcile.h"
#include "git/source.h"
#include "git/verify.h"
#include "providers/provider.h"
#include "manifest/yamltree.h"
#include "model/naming.h"

/* The config is small; past this it is not a config file. */
#define CONFIG_MAX_BYTES (256 * 1024)

struct cx {
  const char *path;
  struct diag_list *d;
  struct config *c;
  unsigned flags;               /* CONFIG_* */
  struct diag_list *warnings;   /* with CONFIG_SECRETS_OPTIONAL */
  struct config_notify *target; /* the notify target being read */
  struct src_pos tokens_at;     /* where http.tokensFile is written */
  struct config_keys *keys;     /* the keys being read */
};

static void problem(struct cx *x, const struct ynode *n, const char *fmt, ...)
    TD_PRINTF(3, 4);

static void problem(struct cx *x, const struct ynode *n, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  diag_add(x->d, x->path, n ? n->line : 0, n ? n->col : 0, "%s", msg);
}

/* ---- typed values ---- */

static bool is_str(const struct ynode *n)
{
  return n->type == YNODE_SCALAR && n->scalar == YS_STR;
}

static void set_str(struct cx *x, const char *key, const struct ynode *n,
                    char **out)
{
  if (!is_str(n) || n->u.scalar.len == 0) {
    problem(x, n, "'%s' must be a non-empty string, not %s", key,
            ynode_kind_name(n));
    return;
  }
  free(*out);
  *out = td_strdup(n->u.scalar.s);
}

/* Durations past this are mistakes, and would overflow the jitter. */
#define DURATION_MAX_MS (30LL * 24 * 3600 * 1000)

static void set_duration_min(struct cx *x, const char *key,
                             const struct ynode *n, int64_t min_ms,
                             uint64_t *out)
{
  int64_t ms;

  if (!is_str(n) || str_parse_duration(n->u.scalar.s, &ms) < 0 || ms <= 0) {
    problem(x, n, "'%s' must be a duration like 30s, 5m or 1h30m", key);
    return;
  }
  if (ms < min_ms || ms > DURATION_MAX_MS) {
    problem(x, n, "'%s' must be from %lldms to 30 days", key,
            (long long)min_ms);
    return;
  }
  *out = (uint64_t)ms;
}

static void set_duration(struct cx *x, const char *key, const struct ynode *n,
                         uint64_t *out)
{
  set_duration_min(x, key, n, 1, out);
}

static void set_uint(struct cx *x, const char *key, const struct ynode *n,
                     int64_t lo, int64_t hi, unsigned *out)
{
  if (n->type != YNODE_SCALAR || n->scalar != YS_INT || n->u.scalar.v.i < lo ||
      n->u.scalar.v.i > hi) {
    problem(x, n, "'%s' must be an integer from %lld to %lld", key,
            (long long)lo, (long long)hi);
    return;
  }
  *out = (unsigned)n->u.scalar.v.i;
}

static void set_bool(struct cx *x, const char *key, const struct ynode *n,
                     bool *out)
{
  if (n->type != YNODE_SCALAR || n->scalar != YS_BOOL) {
    problem(x, n, "'%s' must be true or false", key);
    return;
  }
  *out = n->u.scalar.v.b;
}

/* A secret from the variable the value names; never the value itself. */
static void set_secret(struct cx *x, const char *key, const struct ynode *n,
                       char **out)
{
  const char *v;

  if (!is_str(n) || n->u.scalar.len == 0) {
    problem(x, n, "'%s' must name an environment variable", key);
    return;
  }
  v = getenv(n->u.scalar.s);
  if ((!v || !*v) && (x->flags & CONFIG_SECRETS_OPTIONAL)) {
    diag_add(x->warnings, x->path, n->line, n->col,
             "'%s': environment variable %s is not set", key, n->u.scalar.s);
    return;
  }
  if (!v || !*v) {
    problem(x, n, "'%s': environment variable %s is not set", key,
            n->u.scalar.s);
    return;
  }
  free(*out);
  *out = td_strdup(v);
}

/*
 * Calls `each` for every pair of mapping `n`, after checking each key is
 * one of `keys` (a NULL-terminated list); reports the others.
 */
typedef void (*pair_fn)(struct cx *x, const char *key, const struct ynode *v);

static void walk(struct cx *x, const char *what, const struct ynode *n,
                 const char *const *keys, pair_fn each)
{
  if (n->type != YNODE_MAP) {
    problem(x, n, "'%s' must be a mapping, not %s", what, ynode_kind_name(n));
    return;
  }
  for (uint32_t i = 0; i < n->u.coll.n; i++) {
    const struct ynode *k = ymap_key(n, i);
    const char *key = k->u.scalar.s;
    size_t j;

    for (j = 0; keys[j] && strcmp(keys[j], key) != 0; j++)
      ;
    if (!keys[j]) {
      char expected[256] = "";

      for (j = 0; keys[j]; j++)
        snprintf(expected + strlen(expected),
                 sizeof(expected) - strlen(expected), "%s%s", j ? ", " : "",
                 keys[j]);
      problem(x, k, "unknown key '%s' in %s (expected: %s)", key, what,
              expected);
      continue;
    }
    each(x, key, ymap_value(n, i));
  }
}

/* ---- signing keys ---- */

static struct config_keys *keys_target(struct cx *x);

static void keys_pair(struct cx *x, const char *key, const struct ynode *v)
{
  struct config_keys *k = keys_target(x);

  if (strcmp(key, "format") == 0) {
    if (is_str(v) && strcmp(v->u.scalar.s, "ssh") == 0)
      k->format = VERIFY_SSH;
    else if (is_str(v) && strcmp(v->u.scalar.s, "openpgp") == 0)
      k->format = VERIFY_OPENPGP;
    else
      problem(x, v, "'format' must be ssh or openpgp");
  } else if (strcmp(key, "keys") == 0) {
    set_str(x, key, v, &k->keys);
  }
}

/* A {format, keys} mapping; both are required. */
static void keys_section(struct cx *x, const char *what, const struct ynode *n,
                         const char *const *keys, pair_fn each)
{
  walk(x, what, n, keys, each);
  if (n->type != YNODE_MAP)
    return;
  if (!ymap_get(n, "format") || !ymap_get(n, "keys"))
    problem(x, n,
            "'%s' needs format (ssh or openpgp) and keys (an "
            "allowed_signers file, or an armored OpenPGP keyring)",
            what);
  keys_target(x)->set = true;
}

/* ---- sections ---- */

static void source_pair(struct cx *x, const char *key, const struct ynode *v)
{
  if (strcmp(key, "url") == 0)
    set_str(x, key, v, &x->c->source.url);
  else if (strcmp(key, "branch") == 0)
    set_str(x, key, v, &x->c->source.branch);
  else if (strcmp(key, "interval") == 0)
    set_duration_min(x, key, v, 1000, &x->c->source.interval_ms);
  else if (strcmp(key, "sshKey") == 0)
    set_str(x, key, v, &x->c->source.ssh_key);
  else if (strcmp(key, "knownHosts") == 0)
    set_str(x, key, v, &x->c->source.known_hosts);
  else if (strcmp(key, "allowInsecure") == 0)
    set_bool(x, key, v, &x->c->source.allow_insecure);
  else if (strcmp(key, "timeout") == 0)
    set_duration_min(x, key, v, 100, &x->c->source.timeout_ms);
  else if (strcmp(key, "verify") == 0) {
    static const char *const keys[] = {"format", "keys", NULL};

    x->keys = &x->c->source.verify;
    keys_section(x, "source.verify", v, keys, keys_pair);
  }
}

static struct config_keys *keys_target(struct cx *x)
{
  return x->keys;
}

static void approval_envs(struct cx *x, const struct ynode *v)
{
  if (v->type != YNODE_SEQ || v->u.coll.n == 0 ||
      v->u.coll.n > CONFIG_APPROVAL_ENVS_MAX) {
    problem(x, v,
            "'environments' must be a list of 1 to %d environment names, "
            "like [production]",
            CONFIG_APPROVAL_ENVS_MAX);
    return;
  }
  x->c->approval.environments =
      td_calloc(v->u.coll.n + 1, sizeof(*x->c->approval.environments));
  for (uint32_t i = 0; i < v->u.coll.n; i++) {
    const struct ynode *e = v->u.coll.v[i];

    if (!is_str(e) || !naming_is_label(e->u.scalar.s)) {
      problem(x, e,
              "an approval environment must be an environment name "
              "(a DNS label)");
      continue;
    }
    x->c->approval.environments[x->c->approval.nenvironments++] =
        td_strdup(e->u.scalar.s);
  }
}

static void approval_pair(struct cx *x, const char *key, const struct ynode *v)
{
  x->keys = &x->c->approval.keys;
  if (strcmp(key, "environments") == 0)
    approval_envs(x, v);
  else
    keys_pair(x, key, v);
}

static void status_pair(struct cx *x, const char *key, const struct ynode *v)
{
  if (strcmp(key, "branch") == 0)
    set_str(x, key, v, &x->c->status.branch);
  else if (strcmp(key, "push") == 0)
    set_bool(x, key, v, &x->c->status.push);
  else if (strcmp(key, "signingKey") == 0)
    set_str(x, key, v, &x->c->status.signing_key);
}

static void backoff_pair(struct cx *x, const char *key, const struct ynode *v)
{
  if (strcmp(key, "base") == 0)
    set_duration_min(x, key, v, 100, &x->c->reconcile.backoff_base_ms);
  else if (strcmp(key, "max") == 0)
    set_duration(x, key, v, &x->c->reconcile.backoff_max_ms);
}

static void reconcile_pair(struct cx *x, const char *key, const struct ynode *v)
{
  static const char *const backoff_keys[] = {"base", "max", NULL};

  if (strcmp(key, "resync") == 0)
    set_duration_min(x, key, v, 1000, &x->c->reconcile.resync_ms);
  else if (strcmp(key, "concurrency") == 0)
    set_uint(x, key, v, 1, 4096, &x->c->reconcile.concurrency);
  else if (strcmp(key, "batch") == 0)
    set_uint(x, key, v, 1, 1000000, &x->c->reconcile.batch);
  else if (strcmp(key, "backoff") == 0)
    walk(x, "reconcile.backoff", v, backoff_keys, backoff_pair);
  else if (strcmp(key, "shutdownTimeout") == 0)
    set_duration(x, key, v, &x->c->reconcile.shutdown_timeout_ms);
  else if (strcmp(key, "healthTimeout") == 0)
    set_duration(x, key, v, &x->c->reconcile.health_timeout_ms);
}

/* "127.0.0.1:9400", "[::1]:9400", ":9400" (loopback); an IP address,
 * since the server binds exactly what it is given. */
static void set_listen(struct cx *x, const struct ynode *v)
{
  const char *s, *colon;
  char host[64], addr[16];
  size_t hlen;
  long port = 0;
  bool ok;

  if (!is_str(v)) {
    problem(x, v, "'listen' must be host:port, like 127.0.0.1:9400");
    return;
  }
  s = v->u.scalar.s;
  colon = strrchr(s, ':');
  ok = colon && colon[1] &&
       strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
       strlen(colon + 1) <= 5;
  if (ok)
    port = strtol(colon + 1, NULL, 10);
  if (ok && colon == s) {
    snprintf(host, sizeof(host), "127.0.0.1");
  } else if (ok) {
    bool bracket = s[0] == '[' && colon[-1] == ']';

    hlen = (size_t)(colon - s) - (bracket ? 2 : 0);
    ok = hlen > 0 && hlen < sizeof(host);
    if (ok)
      snprintf(host, sizeof(host), "%.*s", (int)hlen, s + bracket);
  }
  ok = ok && port <= 65535 &&
       (uv_inet_pton(AF_INET, host, addr) == 0 ||
        uv_inet_pton(AF_INET6, host, addr) == 0);
  if (!ok) {
    problem(x, v,
            "'listen' must be an IP address and port, like 127.0.0.1:9400 "
            "or [::1]:9400, not '%s'",
            s);
    return;
  }
  free(x->c->http.host);
  x->c->http.host = td_strdup(host);
  x->c->http.port = (int)port;
}

static void http_pair(struct cx *x, const char *key, const struct ynode *v)
{
  if (strcmp(key, "listen") == 0)
    set_listen(x, v);
  else if (strcmp(key, "webhookSecretEnv") == 0)
    set_secret(x, key, v, &x->c->http.webhook_secret);
  else if (strcmp(key, "apiTokenEnv") == 0)
    set_secret(x, key, v, &x->c->http.api_token);
  else if (strcmp(key, "readTokenEnv") == 0)
    set_secret(x, key, v, &x->c->http.read_token);
  else if (strcmp(key, "tokensFile") == 0) {
    set_str(x, key, v, &x->c->http.tokens_file);
    x->tokens_at = (struct src_pos){v->line, v->col};
  }
}

static void api_pair(struct cx *x, const char *key, const struct ynode *v)
{
  (void)key;
  if (is_str(v) && strcmp(v->u.scalar.s, "direct") == 0)
    x->c->api.mode = CONFIG_API_DIRECT;
  else if (is_str(v) && strcmp(v->u.scalar.s, "branch") == 0)
    x->c->api.mode = CONFIG_API_BRANCH;
  else
    problem(x, v,
            "'mode' must be direct (commits to the tracked branch) or "
            "branch (a branch per change, for review)");
}

/*
 * The API's tokens: the tokens file's (a relative path is the config
 * file's neighbour), then those of apiTokenEnv and readTokenEnv, under
 * names of their own that the file may not take.
 */
static void tokens(struct cx *x)
{
  struct config *c = x->c;
  const char *slash = strrchr(x->path, '/');
  char *file = NULL;

  if (c->http.tokens_file) {
    if (c->http.tokens_file[0] == '/' || !slash)
      file = td_strdup(c->http.tokens_file);
    else
      file = td_asprintf("%.*s/%s", (int)(slash - x->path), x->path,
                         c->http.tokens_file);
    auth_tokens_load(&c->http.tokens, file, x->d);
    free(file);
  }
  for (int i = 0; i < 2; i++) {
    const char *name = i == 0 ? "api" : "read";
    const char *secret = i == 0 ? c->http.api_token : c->http.read_token;

    if (!secret)
      continue;
    if (auth_tokens_find(&c->http.tokens, name))
      diag_add(x->d, x->path, x->tokens_at.line, x->tokens_at.col,
               "the tokens file names a token '%s', the name of "
               "http.%sTokenEnv's",
               name, name);
    auth_tokens_add_secret(&c->http.tokens, name,
                           i == 0 ? AUTH_ROLE_WRITE : AUTH_ROLE_READ, secret);
  }
  c->http.reads_open = !c->http.read_token && !c->http.tokens_file;
}

static void log_pair(struct cx *x, const char *key, const struct ynode *v)
{
  (void)key;
  if (is_str(v) && strcmp(v->u.scalar.s, "logfmt") == 0)
    x->c->log_format = LOG_FORMAT_LOGFMT;
  else if (is_str(v) && strcmp(v->u.scalar.s, "json") == 0)
    x->c->log_format = LOG_FORMAT_JSON;
  else
    problem(x, v, "'format' must be logfmt or json");
}

/* ---- providers: checked here for shape, by the provider for content ---- */

static json_t *to_json(const struct ynode *n)
{
  json_t *j;

  switch (n->type) {
  case YNODE_MAP:
    j = json_object();
    for (uint32_t i = 0; i < n->u.coll.n; i++)
      json_object_set_new(j, ymap_key(n, i)->u.scalar.s,
                          to_json(ymap_value(n, i)));
    return j;
  case YNODE_SEQ:
    j = json_array();
    for (uint32_t i = 0; i < n->u.coll.n; i++)
      json_array_append_new(j, to_json(n->u.coll.v[i]));
    return j;
  default:
    switch (n->scalar) {
    case YS_NULL:
      return json_null();
    case YS_BOOL:
      return json_boolean(n->u.scalar.v.b);
    case YS_INT:
      return json_integer(n->u.scalar.v.i);
    case YS_FLOAT:
      return json_real(n->u.scalar.v.f);
    default:
      return json_stringn(n->u.scalar.s, n->u.scalar.len);
    }
  }
}

static void check_rate_limit(struct cx *x, const char *inst,
                             const struct ynode *rl)
{
  const struct ynode *qps, *burst;

  if (rl->type != YNODE_MAP) {
    problem(x, rl, "providers.%s.rateLimit must be {qps: N, burst: M}", inst);
    return;
  }
  for (uint32_t i = 0; i < rl->u.coll.n; i++) {
    const char *k = ymap_key(rl, i)->u.scalar.s;

    if (strcmp(k, "qps") != 0 && strcmp(k, "burst") != 0)
      problem(x, ymap_key(rl, i),
              "unknown key '%s' in providers.%s.rateLimit (expected: qps, "
              "burst)",
              k, inst);
  }
  qps = ymap_get(rl, "qps");
  burst = ymap_get(rl, "burst");
  if (!qps || qps->type != YNODE_SCALAR ||
      (qps->scalar != YS_INT && qps->scalar != YS_FLOAT) ||
      (qps->scalar == YS_INT
           ? qps->u.scalar.v.i <= 0 || qps->u.scalar.v.i > 1000000
           : !(qps->u.scalar.v.f >= 0.001 && qps->u.scalar.v.f <= 1e6)))
    problem(x, qps ? qps : rl,
            "providers.%s.rateLimit.qps must be a number from 0.001 to "
            "1000000 (calls per second)",
            inst);
  if (burst && (burst->type != YNODE_SCALAR || burst->scalar != YS_INT ||
                burst->u.scalar.v.i < 1 || burst->u.scalar.v.i > 100000))
    problem(x, burst,
            "providers.%s.rateLimit.burst must be an integer from "
            "1 to 100000",
            inst);
}

/* capacity: N, the most resources the instance should hold. */
static void check_capacity(struct cx *x, const char *inst,
                           const struct ynode *cap)
{
  if (cap && (cap->type != YNODE_SCALAR || cap->scalar != YS_INT ||
              cap->u.scalar.v.i < 1 || cap->u.scalar.v.i > 1000000000))
    problem(x, cap,
            "providers.%s.capacity must be an integer from 1 to 1000000000 "
            "(resources)",
            inst);
}

static void providers(struct cx *x, const struct ynode *n)
{
  if (n->type != YNODE_MAP) {
    problem(x, n, "'providers' must be a mapping of instance names");
    return;
  }
  for (uint32_t i = 0; i < n->u.coll.n; i++) {
    const char *inst = ymap_key(n, i)->u.scalar.s;
    const struct ynode *v = ymap_value(n, i), *type, *rl;

    if (v->type != YNODE_MAP) {
      problem(x, v, "providers.%s must be a mapping with a 'type'", inst);
      continue;
    }
    type = ymap_get(v, "type");
    if (!type)
      problem(x, v, "providers.%s has no 'type' (local, ...)", inst);
    else if (!is_str(type) || !provider_find_type(type->u.scalar.s))
      problem(x, type, "providers.%s: unknown provider type '%s'", inst,
              is_str(type) ? type->u.scalar.s : ynode_kind_name(type));
    rl = ymap_get(v, "rateLimit");
    if (rl)
      check_rate_limit(x, inst, rl);
    check_capacity(x, inst, ymap_get(v, "capacity"));
    json_object_set_new(x->c->providers, inst, to_json(v));
  }
}

/* ---- notify: a list of targets ---- */

static const char *const notify_types[] = {"webhook", "slack", "commit-status",
                                           NULL};

/* Whether a host (as libcurl parses it: IPv6 in brackets) is this
 * machine. */
static bool loopback_host(const char *host)
{
  size_t n = strlen(host);

  if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
    return true;
  return n > 4 && strncmp(host, "127.", 4) == 0 &&
         strspn(host, "0123456789.") == n;
}

/*
 * What is wrong with a target's URL, from the file or from urlEnv, or
 * NULL: it is http(s), at most 2,048 bytes, without spaces, control
 * characters or user info (curl would send that as credentials, and
 * `http://localhost:1@elsewhere/` must not pass for this machine); a
 * target that sends a token (commit-status) uses plain http only on this
 * machine.  The answer never quotes the URL: from urlEnv it is a secret.
 */
static const char *url_problem(const char *s, enum config_notify_type type)
{
  const char *bad = "notify url must be an http:// or https:// URL";
  char *scheme = NULL, *host = NULL, *user = NULL;
  const char *why = NULL;
  CURLU *u;
  bool ok = strlen(s) <= 2048;

  for (const char *p = s; ok && *p; p++)
    ok = (unsigned char)*p > ' ' && *p != 0x7f;
  if (!ok)
    return bad;
  u = curl_url();
  if (!u || curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    why = bad;
  else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
    why = "notify url must not carry a user name or password";
  else if (type == CONFIG_NOTIFY_COMMIT_STATUS &&
           strcmp(scheme, "https") != 0 && !loopback_host(host))
    why = "a commit-status target sends a token: its url must be "
          "https:// (or http:// on this machine)";
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_url_cleanup(u);
  return why;
}

static void notify_backoff_pair(struct cx *x, const char *key,
                                const struct ynode *v)
{
  struct config_notify *t = x->target;

  if (strcmp(key, "base") == 0)
    set_duration_min(x, key, v, 10, &t->backoff_base_ms);
  else if (strcmp(key, "max") == 0)
    set_duration_min(x, key, v, 10, &t->backoff_max_ms);
}

static void notify_type(struct cx *x, const struct ynode *v)
{
  for (int i = 0; notify_types[i]; i++)
    if (is_str(v) && strcmp(v->u.scalar.s, notify_types[i]) == 0) {
      x->target->type = (enum config_notify_type)i;
      return;
    }
  problem(x, v, "notify type must be webhook, slack or commit-status");
}

static void notify_pair(struct cx *x, const char *key, const struct ynode *v)
{
  static const char *const backoff_keys[] = {"base", "max", NULL};
  struct config_notify *t = x->target;

  if (strcmp(key, "name") == 0) {
    set_str(x, key, v, &t->name);
    if (t->name && !naming_is_label(t->name))
      problem(x, v, "notify name must be a DNS label, like ops-webhook");
  } else if (strcmp(key, "url") == 0) {
    set_str(x, key, v, &t->url);
  } else if (strcmp(key, "urlEnv") == 0) {
    set_secret(x, key, v, &t->url);
  } else if (strcmp(key, "secretEnv") == 0) {
    set_secret(x, key, v, &t->secret);
  } else if (strcmp(key, "repository") == 0) {
    set_str(x, key, v, &t->repository);
    if (t->repository &&
        (strspn(t->repository, "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") !=
             strlen(t->repository) ||
         !strchr(t->repository, '/') || strstr(t->repository, "..")))
      problem(x, v, "notify repository must be owner/name");
  } else if (strcmp(key, "context") == 0) {
    set_str(x, key, v, &t->context);
  } else if (strcmp(key, "minInterval") == 0) {
    set_duration_min(x, key, v, 10, &t->min_interval_ms);
  } else if (strcmp(key, "attempts") == 0) {
    set_uint(x, key, v, 1, 100, &t->attempts);
  } else if (strcmp(key, "backoff") == 0) {
    walk(x, "notify backoff", v, backoff_keys, notify_backoff_pair);
  } else if (strcmp(key, "timeout") == 0) {
    set_duration_min(x, key, v, 100, &t->timeout_ms);
  }
}

/* One target: its type first, since what else it needs depends on it. */
static void notify_target(struct cx *x, const struct ynode *n, size_t i)
{
  static const char *const keys[] = {"type",        "name",      "url",
                                     "urlEnv",      "secretEnv", "context",
                                     "repository",  "attempts",  "backoff",
                                     "minInterval", "timeout",   NULL};
  struct config_notify *t = &x->c->notify[i];
  const struct ynode *type = n->type == YNODE_MAP ? ymap_get(n, "type") : NULL;
  const char *why;

  t->min_interval_ms = CONFIG_NOTIFY_MIN_INTERVAL_MS;
  t->attempts = CONFIG_NOTIFY_ATTEMPTS;
  t->backoff_base_ms = CONFIG_NOTIFY_BACKOFF_BASE_MS;
  t->backoff_max_ms = CONFIG_NOTIFY_BACKOFF_MAX_MS;
  t->timeout_ms = CONFIG_NOTIFY_TIMEOUT_MS;
  x->target = t;
  if (type)
    notify_type(x, type);
  walk(x, "a notify target", n, keys, notify_pair);
  if (n->type != YNODE_MAP)
    return;
  if (!type)
    problem(x, n,
            "a notify target needs a type (webhook, slack or "
            "commit-status)");
  if (!ymap_get(n, "url") == !ymap_get(n, "urlEnv"))
    problem(x, n, "a notify target needs one of url and urlEnv");
  else if (t->url && (why = url_problem(t->url, t->type)))
    problem(x, ymap_get(n, "url") ? ymap_get(n, "url") : ymap_get(n, "urlEnv"),
            "%s", why);
  if (t->type == CONFIG_NOTIFY_COMMIT_STATUS &&
      (!ymap_get(n, "repository") || !ymap_get(n, "secretEnv")))
    problem(x, n,
            "a commit-status target needs repository (owner/name) "
            "and secretEnv (the API token)");
  if (t->backoff_max_ms < t->backoff_base_ms)
    problem(x, n, "notify backoff.max is shorter than its base");
  if (!t->name)
    t->name = td_asprintf("%s-%zu", notify_types[t->type], i + 1);
  if (!t->context)
    t->context = td_strdup("tenantd");
}

static void notify_list(struct cx *x, const struct ynode *n)
{
  if (n->type != YNODE_SEQ) {
    problem(x, n,
            "'notify' must be a list of targets, like [{type: "
            "webhook, url: https://...}]");
    return;
  }
  if (n->u.coll.n > CONFIG_NOTIFY_MAX) {
    problem(x, n, "'notify' may list at most %d targets", CONFIG_NOTIFY_MAX);
    return;
  }
  x->c->notify = td_calloc(n->u.coll.n + 1, sizeof(*x->c->notify));
  x->c->nnotify = n->u.coll.n;
  for (uint32_t i = 0; i < n->u.coll.n; i++)
    notify_target(x, n->u.coll.v[i], i);
  /* A target that is not a mapping was reported, and has no name. */
  for (size_t i = 0; i < x->c->nnotify; i++)
    for (size_t k = 0; k < i && x->c->notify[i].name; k++)
      if (x->c->notify[k].name &&
          strcmp(x->c->notify[i].name, x->c->notify[k].name) == 0)
        problem(x, n->u.coll.v[i], "two notify targets are named '%s'",
                x->c->notify[i].name);
}

static void root_pair(struct cx *x, const char *key, const struct ynode *v)
{
  static const char *const source_keys[] = {
      "url",           "branch",  "interval", "sshKey", "knownHosts",
      "allowInsecure", "timeout", "verify",   NULL};
  static const char *const approval_keys[] = {"environments", "format", "keys",
                                              NULL};
  static const char *const status_keys[] = {"branch", "push", "signingKey",
                                            NULL};
  static const char *const reconcile_keys[] = {
      "resync",          "concurrency",   "batch", "backoff",
      "shutdownTimeout", "healthTimeout", NULL};
  static const char *const http_keys[] = {"listen",      "webhookSecretEnv",
                                          "apiTokenEnv", "readTokenEnv",
                                          "tokensFile",  NULL};
  static const char *const log_keys[] = {"format", NULL};
  static const char *const api_keys[] = {"mode", NULL};

  if (strcmp(key, "source") == 0)
    walk(x, "source", v, source_keys, source_pair);
  else if (strcmp(key, "cacheDir") == 0)
    set_str(x, key, v, &x->c->cache_dir);
  else if (strcmp(key, "status") == 0)
    walk(x, "status", v, status_keys, status_pair);
  else if (strcmp(key, "reconcile") == 0)
    walk(x, "reconcile", v, reconcile_keys, reconcile_pair);
  else if (strcmp(key, "http") == 0)
    walk(x, "http", v, http_keys, http_pair);
  else if (strcmp(key, "log") == 0)
    walk(x, "log", v, log_keys, log_pair);
  else if (strcmp(key, "api") == 0)
    walk(x, "api", v, api_keys, api_pair);
  else if (strcmp(key, "providers") == 0)
    providers(x, v);
  else if (strcmp(key, "notify") == 0)
    notify_list(x, v);
  else if (strcmp(key, "approval") == 0) {
    x->keys = &x->c->approval.keys;
    keys_section(x, "approval", v, approval_keys, approval_pair);
    if (v->type == YNODE_MAP && !ymap_get(v, "environments"))
      problem(x, v, "'approval' needs environments, like [production]");
  }
}

/* The source's and the pass's defaults are theirs (git/source.h,
 * engine/reconcile.h); what only the daemon has is CONFIG_DEFAULT_*. */
static struct config *defaults(const char *path)
{
  const struct source_opts src = SOURCE_OPTS_INIT;
  struct config *c = td_calloc(1, sizeof(*c));

  c->path = td_strdup(path);
  c->source.branch = td_strdup(src.branch);
  c->source.interval_ms = CONFIG_DEFAULT_INTERVAL_MS;
  c->cache_dir = td_strdup("/var/cache/tenantd");
  c->status.branch = td_strdup(src.status_branch);
  c->status.push = true;
  c->reconcile.resync_ms = CONFIG_DEFAULT_RESYNC_MS;
  c->reconcile.concurrency = RECONCILE_DEFAULT_CONCURRENCY;
  c->reconcile.batch = CONFIG_DEFAULT_BATCH;
  c->reconcile.backoff_base_ms = CONFIG_DEFAULT_BACKOFF_BASE_MS;
  c->reconcile.backoff_max_ms = CONFIG_DEFAULT_BACKOFF_MAX_MS;
  c->reconcile.shutdown_timeout_ms = CONFIG_DEFAULT_SHUTDOWN_MS;
  c->reconcile.health_timeout_ms = RECONCILE_DEFAULT_HEALTH_TIMEOUT_MS;
  c->http.host = td_strdup("127.0.0.1");
  c->http.port = 9400;
  c->log_format = LOG_FORMAT_LOGFMT;
  c->providers = json_object();
  return c;
}

int config_parse(const char *path, const char *text, size_t len,
                 struct config **out, struct diag_list *d)
{
  return config_parse_flags(path, text, len, 0, out, d, NULL);
}

int config_parse_flags(const char *path, const char *text, size_t len,
                       unsigned flags, struct config **out, struct diag_list *d,
                       struct diag_list *warnings)
{
  static const char *const root_keys[] = {
      "source",    "cacheDir", "status", "reconcile", "http", "log",
      "providers", "api",      "notify", "approval",  NULL};
  struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct arena a = ARENA_INIT;
  struct ynode *root;
  struct cx x = {path, d, defaults(path), flags, warnings, NULL, {0, 0}, NULL};
  size_t before = d->n;

  assert(!(flags & CONFIG_SECRETS_OPTIONAL) || warnings);
  *out = NULL;
  lim.max_bytes = CONFIG_MAX_BYTES;
  if (yaml_parse(&a, &lim, path, text, len, &root, d) < 0)
    goto fail;
  if (root->type == YNODE_SCALAR && root->scalar == YS_NULL) {
    problem(&x, NULL, "the config is empty; it needs at least source.url");
    goto fail;
  }
  walk(&x, "the config", root, root_keys, root_pair);
  if (root->type == YNODE_MAP && !x.c->source.url)
    problem(&x, ymap_get(root, "source") ? ymap_get(root, "source") : root,
            "source.url is required (the manifest repository)");
  if (x.c->reconcile.backoff_max_ms < x.c->reconcile.backoff_base_ms)
    problem(&x, root, "reconcile.backoff.max is shorter than its base");
  if (root->type == YNODE_MAP && json_object_size(x.c->providers) == 0)
    problem(&x, root,
            "'providers' must name at least one provider "
            "instance, like {local: {type: local, stateDir: DIR}}");
  if (d->n == before)
    tokens(&x);
  if (d->n > before)
    goto fail;
  arena_release(&a);
  *out = x.c;
  return 0;
fail:
  arena_release(&a);
  config_free(x.c);
  return -1;
}

int config_load(const char *path, struct config **out, struct diag_list *d)
{
  return config_load_flags(path, 0, out, d, NULL);
}

int config_load_flags(const char *path, unsigned flags, struct config **out,
                      struct diag_list *d, struct diag_list *warnings)
{
  char *text = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  rc = fs_read_capped(path, CONFIG_MAX_BYTES + 1, &text, &len);
  if (rc < 0) {
    diag_add(d, path, 0, 0, "%s",
             rc == TD_ENOTFOUND ? "cannot open the config: no such file"
                                : td_error_last());
    return -1;
  }
  rc = config_parse_flags(path, text, len, flags, out, d, warnings);
  free(text);
  return rc;
}

static void wipe(char *secret)
{
  if (secret)
    explicit_bzero(secret, strlen(secret));
  free(secret);
}

void config_free(struct config *c)
{
  if (!c)
    return;
  free(c->path);
  free(c->source.url);
  free(c->source.branch);
  free(c->source.ssh_key);
  free(c->source.known_hosts);
  free(c->source.verify.keys);
  for (size_t i = 0; i < c->approval.nenvironments; i++)
    free(c->approval.environments[i]);
  free(c->approval.environments);
  free(c->approval.keys.keys);
  free(c->cache_dir);
  free(c->status.branch);
  free(c->status.signing_key);
  free(c->http.host);
  wipe(c->http.webhook_secret);
  wipe(c->http.api_token);
  wipe(c->http.read_token);
  free(c->http.tokens_file);
  auth_tokens_release(&c->http.tokens);
  json_decref(c->providers);
  for (size_t i = 0; i < c->nnotify; i++) {
    free(c->notify[i].name);
    wipe(c->notify[i].url);
    wipe(c->notify[i].secret);
    free(c->notify[i].repository);
    free(c->notify[i].context);
  }
  free(c->notify);
  free(c);
}
