/*
 * config.h - the controller's configuration file.
 *
 * One YAML file describes the source, the status branch, the loop's
 * timing, the HTTP endpoint, logging and the provider instances, for
 * `tenantd run` and for `plan`/`apply --once --config`:
 *
 *   source:    {url: file:///srv/tenants.git, branch: main, interval: 30s,
 *               timeout: 60s, knownHosts: ~/.ssh/known_hosts,
 *               allowInsecure: false}
 *   cacheDir:  /var/cache/tenantd
 *   status:    {branch: tenantd/status, push: true}
 *   reconcile: {resync: 5m, concurrency: 8}
 *   http:      {listen: 127.0.0.1:9400, webhookSecretEnv: ...,
 *               apiTokenEnv: ...}
 *   log:       {format: logfmt}
 *   providers: {local: {type: local, stateDir: /var/lib/tenantd/local,
 *                       capacity: 5000}}
 *   notify:    [{type: webhook, url: https://hooks.example/tenantd,
 *                secretEnv: TENANTD_NOTIFY_SECRET}]
 *
 * Every problem is reported at once, as "file:line:col: message", like a
 * manifest's.  Secrets never appear in the file: keys ending in `Env`
 * name environment variables, read when the file is loaded and kept only
 * in memory (config_load fails if a named variable is unset or empty; a
 * check that may run without them, run --check in CI, loads with
 * CONFIG_SECRETS_OPTIONAL).
 *
 * A config is immutable once loaded; SIGHUP loads a new one and swaps it.
 */
#ifndef TD_CONFIG_H
#define TD_CONFIG_H

#include "base/compat.h"

#include <jansson.h>

#include "base/diag.h"
#include "server/log.h"

/* Where notifications of tenants' state changes go (server/notify.h). */
enum config_notify_type {
  CONFIG_NOTIFY_WEBHOOK,      /* JSON, signed with HMAC-SHA256 */
  CONFIG_NOTIFY_SLACK,        /* a Slack-compatible incoming webhook */
  CONFIG_NOTIFY_COMMIT_STATUS /* GitHub/Gitea commit statuses */
};

struct config_notify {
  char *name; /* `name`, or "<type>-<position from 1>" */
  enum config_notify_type type;
  /* `url`, or the value of the variable `urlEnv` names (a Slack URL is
   * itself a secret): never logged, only the name is. */
  char *url;
  char *secret;             /* `secretEnv`'s value or NULL: the HMAC key
                     * (webhook), the API token (commit-status) */
  char *repository;         /* commit-status: "owner/name" */
  char *context;            /* commit-status: the status' context prefix */
  uint64_t min_interval_ms; /* per tenant, at most one message per this */
  unsigned attempts;        /* deliveries tried before giving up */
  uint64_t backoff_base_ms, backoff_max_ms;
  uint64_t timeout_ms; /* per delivery */
};

struct config {
  char *path;
  struct {
    char *url, *branch, *ssh_key;
    uint64_t interval_ms; /* poll period, jittered +-10% */
    /* Git source security (source.h): credentials over plain http to
     * another machine; the ssh known_hosts file (NULL: ~/.ssh/
     * known_hosts); the longest a fetch or push may take (0: the
     * source's default, SOURCE_DEFAULT_TIMEOUT_MS). */
    bool allow_insecure;
    char *known_hosts;
    uint64_t timeout_ms;
  } source;
  char *cache_dir;
  struct {
    char *branch;
    bool push;
  } status;
  struct {
    uint64_t resync_ms;   /* per-tenant drift check, jittered +-10% */
    unsigned concurrency; /* provider calls in flight */
    unsigned batch;       /* tenants per pass at most */
    uint64_t backoff_base_ms, backoff_max_ms;
    uint64_t shutdown_timeout_ms;
    uint64_t health_timeout_ms;
  } reconcile;
  struct {
    char *host;
    int port;
    char *webhook_secret; /* NULL: webhooks disabled; never printed */
    char *api_token;      /* NULL: POST /api/v1/reconcile disabled */
    char *read_token;     /* NULL: reads (metrics, tenants) are open */
  } http;
  enum log_format log_format;
  /* {"<instance>": {"type": ..., ...}}, rateLimit and capacity (the most
   * resources the instance should hold, for GET
   * /api/v1/infrastructure/capacity) included. */
  json_t *providers;
  struct config_notify *notify;
  size_t nnotify;
};

/* Defaults only the config has; a pass's (concurrency, health timeout)
 * are RECONCILE_DEFAULT_* (engine/reconcile.h), the source's branches
 * SOURCE_OPTS_INIT's (git/source.h). */
/* clang-format off */
#define CONFIG_DEFAULT_INTERVAL_MS      30000
#define CONFIG_DEFAULT_RESYNC_MS        300000
#define CONFIG_DEFAULT_BATCH            500
#define CONFIG_DEFAULT_BACKOFF_BASE_MS  5000
#define CONFIG_DEFAULT_BACKOFF_MAX_MS   300000
#define CONFIG_DEFAULT_SHUTDOWN_MS      60000
#define CONFIG_DEFAULT_LISTEN           "127.0.0.1:9400"
#define CONFIG_NOTIFY_MAX               16
#define CONFIG_NOTIFY_MIN_INTERVAL_MS   60000
#define CONFIG_NOTIFY_ATTEMPTS          5
#define CONFIG_NOTIFY_BACKOFF_BASE_MS   1000
#define CONFIG_NOTIFY_BACKOFF_MAX_MS    60000
#define CONFIG_NOTIFY_TIMEOUT_MS        10000
/* clang-format on */

/*
 * Loads `path`.  0 and *out set, or -1 with every problem in `d` (paths
 * as given); a file that cannot be read is one diagnostic without a
 * position.
 */
int config_load(const char *path, struct config **out, struct diag_list *d);

/* The same from bytes already read (tests). */
int config_parse(const char *path, const char *text, size_t len,
                 struct config **out, struct diag_list *d);

/*
 * Flags of config_load_flags().  CONFIG_SECRETS_OPTIONAL: a variable a
 * *Env key names that is unset or empty is a warning in `warnings`
 * (naming the key and the variable), not an error, and that secret stays
 * NULL.  For checking a config where its secrets are not (CI); a config
 * loaded so is for looking at, never for running.
 */
enum { CONFIG_SECRETS_OPTIONAL = 1u << 0 };

/* config_load() and config_parse() with flags; `warnings` may be NULL
 * without CONFIG_SECRETS_OPTIONAL. */
int config_load_flags(const char *path, unsigned flags, struct config **out,
                      struct diag_list *d, struct diag_list *warnings);
int config_parse_flags(const char *path, const char *text, size_t len,
                       unsigned flags, struct config **out, struct diag_list *d,
                       struct diag_list *warnings);

void config_free(struct config *c);

#endif
