#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "base/strutil.h"
#include "model/resource.h"
#include "git/gitstream.h"
#include "git/giturl.h"
#include "git/knownhosts.h"
#include "git/source_git.h"
#include "git/source_internal.h"
#define MAX_CREDENTIAL_TRIES 3

/* ---- names, credentials, errors ---- */

/* Copies msg into out with every credential tenantd knows of replaced. */
static void redact_all(const struct source *s, char *out, size_t cap,
                       const char *msg)
{
  const char *secrets[GITURL_SECRETS_MAX + 1];
  size_t n = giturl_secrets(&s->u, secrets);

  secrets[n++] = getenv(s->o.password_env);
  redact_text(out, cap, msg, secrets, n);
}

/* td_error() with a message that may quote a URL or the server. */
static int error_redacted(struct source *s, int code, const char *msg)
{
  char clean[1024];

  redact_all(s, clean, sizeof(clean), msg);
  return td_error_code(code, "%s", clean);
}

int source_git_error(struct source *s, const char *what)
{
  const git_error *e = git_error_last();
  char msg[1024];

  /* Our own callbacks' reasons first: libgit2 may say less. */
  snprintf(msg, sizeof(msg), "%s: %s", what,
           s->why[0]         ? s->why
           : e && e->message ? e->message
                             : "unknown git error");
  return error_redacted(s, TD_ERROR, msg);
}

/* Refuses a callback's request, saying why; returns -1 for libgit2. */
static int refuse(struct source *s, const char *why)
{
  snprintf(s->why, sizeof(s->why), "%s", why);
  git_error_set_str(GIT_ERROR_NET, s->why);
  return -1;
}

static bool is_http(const struct source *s)
{
  return s->u.scheme && (strcmp(s->u.scheme, "http") == 0 ||
                         strcmp(s->u.scheme, "https") == 0);
}

/*
 * Credentials go to the configured URL only.  libgit2 1.5 names the
 * configured URL here even after a redirect (the redirect policy and
 * the stream's pin keep other hosts and ports away, see remote_connect
 * and gitstream.h); this check keeps any other URL out should that
 * change.  Plain http crosses the network in clear text: only to this
 * machine, unless the operator allowed it.
 */
static int may_send_credentials(struct source *s, const char *url)
{
  if (!url || strcmp(url, s->url) != 0)
    return refuse(s, "the remote asked for credentials for another URL; "
                     "none sent");
  if (s->u.scheme && strcmp(s->u.scheme, "http") == 0 && !s->o.allow_insecure &&
      !giturl_is_loopback(&s->u))
    return refuse(s, "the remote asks for credentials over plain http to "
                     "another machine; none sent (use https, or set "
                     "source.allowInsecure: true)");
  return 0;
}

static int userpass(struct source *s, git_credential **out)
{
  const char *user = getenv(s->o.username_env);
  const char *pass = getenv(s->o.password_env);
  char msg[256];

  /* The URL's own first, once; then the environment's. */
  if (!s->url_creds_offered && (s->u.password || s->u.token_user)) {
    s->url_creds_offered = true;
    return git_credential_userpass_plaintext_new(
        out, s->u.user, s->u.password ? s->u.password : "");
  }
  if (s->url_creds_offered && (!pass || !*pass))
    return refuse(s, "the remote refused the credentials in the URL");
  if (!pass || !*pass) {
    snprintf(msg, sizeof(msg),
             "the remote asks for credentials: set %s (and %s)",
             s->o.password_env, s->o.username_env);
    return refuse(s, msg);
  }
  if (!user || !*user)
    user = s->u.user && !s->u.token_user ? s->u.user : "git";
  return git_credential_userpass_plaintext_new(out, user, pass);
}

static int on_credentials(git_credential **out, const char *url,
                          const char *user_from_url, unsigned int allowed,
                          void *payload)
{
  struct source *s = payload;
  const char *user = getenv(s->o.username_env);

  if (++s->cred_tries > MAX_CREDENTIAL_TRIES)
    return refuse(s, "the remote refused the credentials");
  if (may_send_credentials(s, url) < 0)
    return -1;
  if (!user || !*user)
    user = user_from_url ? user_from_url : "git";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !is_http(s)) {
    const char *pass =
        s->o.ssh_passphrase_env ? getenv(s->o.ssh_passphrase_env) : NULL;

    if (s->o.ssh_key)
      return git_credential_ssh_key_new(out, user, NULL, s->o.ssh_key, pass);
    return git_credential_ssh_key_from_agent(out, user);
  }
  if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
    return userpass(s, out);
  if (allowed & GIT_CREDENTIAL_USERNAME)
    return git_credential_username_new(out, user);
  return GIT_PASSTHROUGH;
}

/*
 * An ssh server's host key must be in the known_hosts file; TLS
 * certificates are left to libgit2's own verification (a pass-through
 * keeps its verdict).
 */
static int on_certificate(git_cert *cert, int valid, const char *host,
                          void *payload)
{
  struct source *s = payload;
  const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;

  (void)valid;
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
    return GIT_PASSTHROUGH;
  if (!(hk->type & GIT_CERT_SSH_RAW) || !hk->hostkey)
    return refuse(s, "the ssh server's host key cannot be checked: "
                     "libgit2 did not pass it on");
  if (knownhosts_check(s->known_hosts, host, s->u.port,
                       (const unsigned char *)hk->hostkey,
                       hk->hostkey_len) < 0) {
    refuse(s, td_error_last());
    return GIT_ECERTIFICATE;
  }
  return 0;
}

static void init_callbacks(struct source *s, git_remote_callbacks *cb)
{
  git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
  cb->credentials = on_credentials;
  cb->certificate_check = on_certificate;
  cb->payload = s;
  s->cred_tries = 0;
  s->url_creds_offered = false;
}

/* "<cache>/<last path component>-<hash of the URL>.git" */
static char *mirror_path(const char *cache, const char *url)
{
  char hash[17], name[48];
  const char *end = url + strlen(url), *start;
  size_t n = 0;

  while (end > url && end[-1] == '/')
    end--;
  if (end - url > 4 && strncmp(end - 4, ".git", 4) == 0)
    end -= 4;
  start = end;
  while (start > url && start[-1] != '/' && start[-1] != ':')
    start--;
  for (const char *p = start; p < end && n < 40; p++)
    name[n++] =
        (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                   ? *p
                   : '_');
  name[n] = '\0';
  resource_hash_hex(url, strlen(url), hash);
  return td_asprintf("%s/%s-%s.git", cache, n ? name : "repo", hash);
}

/* ---- open, close ---- */

int source_default_cache_dir(char **out)
{
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");

  *out = NULL;
  if (xdg && xdg[0] == '/')
    *out = td_asprintf("%s/tenantd", xdg);
  else if (home && home[0] == '/')
    *out = td_asprintf("%s/.cache/tenantd", home);
  else
    return td_error_code(TD_ENOTFOUND,
                         "no cache directory: set XDG_CACHE_HOME or HOME, "
                         "or give one (--cache-dir)");
  return 0;
}

/*
 * Removes every "*.lock" under `dir` (the mirror; of objects/ only
 * objects/pack, where a pack's index is written under a lock: loose
 * objects are never locked, and there are many).  Git locks refs,
 * packed-refs, config, HEAD and the index.
 * Called with the mirror's flock held, when no live process can be
 * writing to it: such a file is a killed process's, and left there it
 * would fail every later ref update with "failed to lock file".
 */
static void remove_stale_locks(const char *dir, int depth)
{
  DIR *d = depth < 32 ? opendir(dir) : NULL;
  struct dirent *e;
  struct stat st;

  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    char *path;

    if (e->d_name[0] == '.' && (n == 1 || (n == 2 && e->d_name[1] == '.')))
      continue;
    path = td_asprintf("%s/%s", dir, e->d_name);
    if (depth == 0 && strcmp(e->d_name, "objects") == 0) {
      free(path);
      path = td_asprintf("%s/objects/pack", dir);
      remove_stale_locks(path, 31); /* this folder only */
      free(path);
      continue;
    }
    if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN &&
                                lstat(path, &st) == 0 && S_ISDIR(st.st_mode)))
      remove_stale_locks(path, depth + 1);
    else if (n > 5 && strcmp(e->d_name + n - 5, ".lock") == 0)
      unlink(path);
    free(path);
  }
  closedir(d);
}

/* "<home>/<rel>", home from $HOME or the password database. */
static char *home_path(const char *rel)
{
  const char *home = getenv("HOME");
  struct passwd *pw = home && *home ? NULL : getpwuid(getuid());

  if (pw && pw->pw_dir)
    home = pw->pw_dir;
  return td_asprintf("%s/%s", home && *home ? home : "", rel);
}

static char *default_known_hosts(void)
{
  return home_path(".ssh/known_hosts");
}

/* The known_hosts file and the timeout, from the options or defaults. */
static int open_settings(struct source *s)
{
  const char *env = getenv("TENANTD_GIT_TIMEOUT");
  int64_t ms = 0;

  if (!s->o.known_hosts)
    s->known_hosts = default_known_hosts();
  else if (strncmp(s->o.known_hosts, "~/", 2) == 0)
    s->known_hosts = home_path(s->o.known_hosts + 2);
  else
    s->known_hosts = td_strdup(s->o.known_hosts);
  s->timeout_ms = s->o.timeout_ms;
  if (!s->timeout_ms && env && *env) {
    if (str_parse_duration(env, &ms) < 0 || ms <= 0)
      return td_error("TENANTD_GIT_TIMEOUT: '%.40s' is not a duration "
                      "like 30s or 2m",
                      env);
    s->timeout_ms = (uint64_t)ms;
  }
  if (!s->timeout_ms)
    s->timeout_ms = SOURCE_DEFAULT_TIMEOUT_MS;
  return gitstream_register();
}

/* ---- repositories kept open while the library is held ---- */

/*
 * A process that holds the library (the daemon) opens and closes the
 * same mirror for every pass.  Opening it again each time throws away
 * libgit2's object cache, so every pass read and inflated the same large
 * trees (tenants/ and status/ at 10,000 tenants) again.  Instead, a
 * closed source leaves its repository here, and the next open of the
 * same mirror takes it back once it holds the mirror's flock: the flock
 * still makes one user at a time, and objects never change, so what the
 * cache holds stays true; refs are read from the disk each time.
 */
#define PARKED_MAX 4
/* Trees up to this size stay in the object cache (libgit2 keeps only
 * those under 4 KiB): a status/ or tenants/ tree of 10,000 entries is
 * about 400 KiB. */
#define TREE_CACHE_LIMIT (8u << 20)
/* Commits too: the status commit of a first apply lists every event
 * (19 MiB at 10,000 tenants), and every pass reads the status branch's
 * tip; uncached, an idle daemon spent a quarter of a CPU parsing it. */
#define COMMIT_CACHE_LIMIT (64u << 20)

static struct {
  pthread_mutex_t lock;
  unsigned holds;
  bool tuned;
  struct {
    char *mirror;
    git_repository *repo;
  } v[PARKED_MAX];
  size_t n;
} parked = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * Packs built from the mirror (a first apply's status commit, a large
 * push) searched ten candidates for a delta of each object: over 10,000
 * status files, about 5 s of CPU for a pack a fifth smaller.  With the
 * window's memory held to one byte, libgit2 keeps only the neighbour in
 * size order, which finds most of the same deltas for a tenth of the
 * work.  A pack.windowMemory the operator set is left as it is.
 */
static int narrow_delta_window(git_repository *repo)
{
  git_config *cfg = NULL;
  int64_t v;
  int rc = git_repository_config(&cfg, repo);

  if (rc == 0 &&
      git_config_get_int64(&v, cfg, "pack.windowMemory") == GIT_ENOTFOUND)
    rc = git_config_set_int64(cfg, "pack.windowMemory", 1);
  git_config_free(cfg);
  return rc < 0 ? -1 : 0;
}

/* The repository parked for `mirror`, taken; NULL when none is. */
static git_repository *unpark(const char *mirror)
{
  git_repository *repo = NULL;

  pthread_mutex_lock(&parked.lock);
  for (size_t i = 0; i < parked.n; i++) {
    if (strcmp(parked.v[i].mirror, mirror) != 0)
      continue;
    repo = parked.v[i].repo;
    free(parked.v[i].mirror);
    parked.v[i] = parked.v[--parked.n];
    break;
  }
  pthread_mutex_unlock(&parked.lock);
  return repo;
}

/* Parks repo for the next open of `mirror`; false when the library is
 * not held or there is no room (the caller frees it then). */
static bool park(const char *mirror, git_repository *repo)
{
  bool kept = false;

  pthread_mutex_lock(&parked.lock);
  if (parked.holds > 0 && parked.n < PARKED_MAX) {
    parked.v[parked.n].mirror = td_strdup(mirror);
    parked.v[parked.n++].repo = repo;
    kept = true;
  }
  pthread_mutex_unlock(&parked.lock);
  return kept;
}

/*
 * Process-wide settings, once: large trees and commits are cached
 * (above), and objects read from the mirror are not hashed again on
 * every read.  Git itself does not either: what comes from a remote is
 * checked when its pack is indexed, and what tenantd writes it hashed
 * itself (and objects copied from a local remote are hashed as they are
 * written: source_local.c).
 */
static void tune_library(void)
{
  if (parked.tuned)
    return;
  parked.tuned = true;
  git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE,
                   (size_t)TREE_CACHE_LIMIT);
  git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT,
                   (size_t)COMMIT_CACHE_LIMIT);
  git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
}

/*
 * libgit2's set-up parses the system's CA certificates (its TLS here is
 * mbedTLS's: about 9 ms at every start), which a command that never opens
 * a repository (plan or validate of a directory) has no use for.  So the
 * process takes its own hold on the library at its first use, not at
 * start, and keeps it until source_library_exit(): a command that opens
 * sources one after another sets the library up once.
 */
static pthread_once_t first_use = PTHREAD_ONCE_INIT;
static bool used;

static void use_library(void)
{
  git_libgit2_init();
  used = true;
}

void source_library_exit(void)
{
  if (used)
    git_libgit2_shutdown();
  used = false;
}

void source_library_hold(void)
{
  pthread_once(&first_use, use_library);
  git_libgit2_init();
  pthread_mutex_lock(&parked.lock);
  parked.holds++;
  tune_library();
  pthread_mutex_unlock(&parked.lock);
}

void source_library_release(void)
{
  pthread_mutex_lock(&parked.lock);
  if (parked.holds > 0 && --parked.holds == 0) {
    for (size_t i = 0; i < parked.n; i++) {
      git_repository_free(parked.v[i].repo);
      free(parked.v[i].mirror);
    }
    parked.n = 0;
  }
  pthread_mutex_unlock(&parked.lock);
  git_libgit2_shutdown();
}

int source_open(struct source **out, const struct source_opts *o)
{
  struct source *s;
  char *lock = NULL, *cache = NULL, *full;
  int rc = 0;

  assert(o->version == SOURCE_OPTS_VERSION && o->url);
  *out = NULL;
  pthread_once(&first_use, use_library);
  git_libgit2_init();
  s = td_calloc(1, sizeof(*s));
  s->o = *o;
  s->lock_fd = -1;
  if (!s->o.username_env)
    s->o.username_env = "TENANTD_GIT_USERNAME";
  if (!s->o.password_env)
    s->o.password_env = "TENANTD_GIT_PASSWORD";
  /* A relative path means the same repository from any directory. */
  if (!strstr(o->url, "://") && o->url[0] != '/' && !strchr(o->url, '@')) {
    /* Absolute even when it is missing now: the mirror's name must not
     * change while the remote is away. */
    char *abs = realpath(o->url, NULL);
    char *cwd = abs ? NULL : getcwd(NULL, 0);

    full = abs ? abs : td_asprintf("%s/%s", cwd ? cwd : ".", o->url);
    free(cwd);
  } else {
    full = td_strdup(o->url);
  }
  giturl_parse(&s->u, full);
  free(full);
  s->url = td_strdup(s->u.bare);
  s->spec[0] = td_asprintf("+refs/heads/%s:refs/remotes/origin/%s", o->branch,
                           o->branch);
  s->spec[1] = td_asprintf("+refs/heads/%s:refs/remotes/origin/%s",
                           o->status_branch, o->status_branch);
  s->spec[2] = td_strdup("+" SOURCE_NOTES_REF ":" NOTES_REMOTE_REF);
  for (size_t i = 0; i < 3; i++)
    s->dst[i] = td_strdup(strchr(s->spec[i], ':') + 1);

  rc = open_settings(s);
  if (rc < 0)
    goto fail;
  if (o->cache_dir)
    cache = td_strdup(o->cache_dir);
  else
    rc = source_default_cache_dir(&cache);
  if (rc < 0)
    goto fail;
  rc = fs_mkdir_p(cache, 0700);
  if (rc < 0) {
    rc = td_error("cache directory: %s", td_error_last());
    goto fail;
  }
  s->mirror = mirror_path(cache, s->u.shown);
  lock = td_asprintf("%s.lock", s->mirror);
  s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0) {
    rc = td_error("cannot open %s: %s", lock, strerror(errno));
    goto fail;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
    rc = td_error_code(TD_ECONFLICT,
                       "%s is in use by another tenantd process (%s)",
                       s->mirror, strerror(errno));
    goto fail;
  }
  /* Ours alone now: any lock file in it is a dead process's. */
  remove_stale_locks(s->mirror, 0);
  s->repo = unpark(s->mirror);
  if (!s->repo && ((git_repository_open_bare(&s->repo, s->mirror) < 0 &&
                    git_repository_init(&s->repo, s->mirror, 1) < 0) ||
                   narrow_delta_window(s->repo) < 0)) {
    rc = source_git_error(s, s->mirror);
    goto fail;
  }
  free(lock);
  free(cache);
  *out = s;
  return 0;
fail:
  free(lock);
  free(cache);
  source_close(s);
  return rc;
}

void source_close(struct source *s)
{
  if (!s)
    return;
  source_stage_end(s);
  source__pack_release(&s->staged);
  /* Parked before the flock goes: the next holder of it finds it. */
  if (s->repo && !(s->lock_fd >= 0 && park(s->mirror, s->repo)))
    git_repository_free(s->repo);
  if (s->lock_fd >= 0)
    close(s->lock_fd); /* releases the flock */
  for (size_t i = 0; i < 3; i++) {
    free(s->spec[i]);
    free(s->dst[i]);
  }
  free(s->url);
  giturl_release(&s->u);
  free(s->known_hosts);
  free(s->mirror);
  free(s);
  git_libgit2_shutdown();
}

git_repository *source_repo(struct source *s)
{
  return s->repo;
}

const struct source_opts *source_options(const struct source *s)
{
  return &s->o;
}

const char *source_url(const struct source *s)
{
  return s->u.shown;
}

int source_signature(struct source *s, git_signature **out)
{
  if (git_signature_now(out, s->o.author_name, s->o.author_email) < 0)
    return source_git_error(s, "status commit author");
  return 0;
}

int source_lookup_commit(struct source *s, const char *id, git_commit **out)
{
  git_oid oid;

  if (git_oid_fromstr(&oid, id) < 0)
    return td_error_code(TD_EINVALID, "'%.64s' is not a commit id", id);
  if (git_commit_lookup(out, s->repo, &oid) < 0)
    return td_error_code(TD_ENOTFOUND, "commit %.12s is not in the mirror", id);
  return 0;
}

bool source_has_commit(struct source *s, const char *id)
{
  git_commit *c;

  if (source_lookup_commit(s, id, &c) < 0)
    return false;
  git_commit_free(c);
  return true;
}

/* ---- fetch ---- */

/*
 * An anonymous remote for the URL.  insteadOf rewriting is skipped: the
 * mirror's config has none, and its lookup leaks in libgit2 1.5's regex
 * matching (fixed upstream in 1.6).
 */
static int remote_new(struct source *s, git_remote **remote)
{
  git_remote_create_options ro;

  git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  ro.repository = s->repo;
  ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
             GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(remote, s->url, &ro) < 0)
    return source_git_error(s, s->u.shown);
  return 0;
}

/*
 * Redirects: GIT_REMOTE_REDIRECT_NONE makes libgit2 refuse one to
 * another host at every stage (its default follows the first request's
 * anywhere, credentials included).  It still follows one to another
 * port of the same host: the stream's pin refuses that connection.
 */
static int remote_connect(struct source *s, git_remote **remote,
                          git_direction dir)
{
  git_remote_connect_options co;

  if (remote_new(s, remote) < 0)
    return -1;
  git_remote_connect_options_init(&co, GIT_REMOTE_CONNECT_OPTIONS_VERSION);
  init_callbacks(s, &co.callbacks);
  co.proxy_opts.type = GIT_PROXY_AUTO;
  co.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  if (git_remote_connect_ext(*remote, dir, &co) < 0) {
    int rc = source_git_error(s, s->u.shown);

    git_remote_free(*remote);
    *remote = NULL;
    return rc;
  }
  return 0;
}

static const git_remote_head *advertised(const git_remote_head **heads,
                                         size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(heads[i]->name, name) == 0)
      return heads[i];
  return NULL;
}

/* Downloads `specs` from a connected remote and updates their refs. */
static int download(struct source *s, git_remote *remote,
                    const char *const *specs, size_t n)
{
  git_fetch_options fo;
  git_strarray arr = {(char **)specs, n};

  git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
  init_callbacks(s, &fo.callbacks);
  fo.proxy_opts.type = GIT_PROXY_AUTO;
  fo.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  fo.update_fetchhead = 0;
  if (git_remote_download(remote, &arr, &fo) < 0 ||
      git_remote_update_tips(remote, &fo.callbacks, 0,
                             GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL) < 0)
    return source_git_error(s, s->u.shown);
  return 0;
}

/* Does ref `name` in the mirror point at `oid` (or, oid NULL, not exist)? */
static bool ref_is(struct source *s, const char *name, const git_oid *oid)
{
  git_oid have;

  if (git_reference_name_to_id(&have, s->repo, name) < 0)
    return oid == NULL;
  return oid && git_oid_equal(&have, oid);
}

/* libgit2 calls a missing local repository an "unsupported URL
 * protocol": say what is wrong instead. */
static int local_path_check(struct source *s)
{
  const char *path = s->url;
  struct stat st;

  if (strncmp(path, "file://", 7) == 0)
    path += 7;
  else if (strstr(path, "://") || path[0] != '/')
    return 0;
  if (stat(path, &st) < 0)
    return td_error("cannot reach %s: %s", s->u.shown, strerror(errno));
  return 0;
}

#define APPROVALS "+" APPROVED_REFS "*:" APPROVED_REFS "*"

/* Are the approval tags in the mirror those the remote advertises?  Ones
 * the remote no longer has are deleted here: a withdrawn approval
 * approves nothing. */
static bool approvals_current(struct source *s, const git_remote_head **heads,
                              size_t nheads)
{
  git_reference_iterator *it = NULL;
  git_reference *ref;
  bool current = true;

  for (size_t i = 0; i < nheads; i++)
    if (strncmp(heads[i]->name, APPROVED_REFS, strlen(APPROVED_REFS)) == 0 &&
        !ref_is(s, heads[i]->name, &heads[i]->oid))
      current = false;
  if (git_reference_iterator_glob_new(&it, s->repo, APPROVED_REFS "*") < 0)
    return current;
  while (git_reference_next(&ref, it) == 0) {
    if (!advertised(heads, nheads, git_reference_name(ref)))
      git_reference_delete(ref);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  return current;
}

/* The fetch from a repository on this machine, by copying objects;
 * 1: through the transport instead. */
static int local_fetch(struct source *s)
{
  char *gitdir = source__local_gitdir(s);
  int rc = gitdir ? source__local_fetch(s, gitdir) : 1;

  free(gitdir);
  return rc;
}

static int fetch_tips(struct source *s)
{
  git_remote *remote = NULL;
  const git_remote_head **heads;
  size_t nheads;
  char branch_ref[512];
  bool current = true;
  int rc;

  rc = local_path_check(s);
  if (rc == 0)
    rc = local_fetch(s);
  if (rc <= 0)
    return rc;
  rc = remote_connect(s, &remote, GIT_DIRECTION_FETCH);
  if (rc < 0)
    return rc;
  if (git_remote_ls(&heads, &nheads, remote) < 0) {
    rc = source_git_error(s, s->u.shown);
    goto out;
  }
  snprintf(branch_ref, sizeof(branch_ref), "refs/heads/%s", s->o.branch);
  /* A missing branch is an error, never an empty desired state. */
  if (!advertised(heads, nheads, branch_ref)) {
    rc = td_error("%s has no branch '%s'", s->u.shown, s->o.branch);
    goto out;
  }
  for (size_t i = 0; i < 3; i++) {
    const char *src = s->spec[i] + 1;
    size_t len = (size_t)(strchr(src, ':') - src);
    char name[512];
    const git_remote_head *h;

    snprintf(name, sizeof(name), "%.*s", (int)len, src);
    h = advertised(heads, nheads, name);
    if (!ref_is(s, s->dst[i], h ? &h->oid : NULL)) {
      current = false;
      /* Gone at the remote (the status branch reset by hand): forget
       * the copy, so what tenantd holds is pushed again. */
      if (!h) {
        git_reference *ref;

        if (git_reference_lookup(&ref, s->repo, s->dst[i]) == 0) {
          git_reference_delete(ref);
          git_reference_free(ref);
        }
      }
    }
  }
  if (s->o.fetch_approvals && !approvals_current(s, heads, nheads))
    current = false;
  /* The common case of a poll: nothing moved, nothing to download. */
  if (!current) {
    const char *specs[4] = {s->spec[0], s->spec[1], s->spec[2], APPROVALS};

    rc = download(s, remote, specs, s->o.fetch_approvals ? 4 : 3);
  }
out:
  git_remote_disconnect(remote);
  git_remote_free(remote);
  return rc;
}

static int fetch_specs(struct source *s, const char *const *specs, size_t n)
{
  git_remote *remote = NULL;
  int rc = remote_connect(s, &remote, GIT_DIRECTION_FETCH);

  if (rc == 0)
    rc = download(s, remote, specs, n);
  if (remote) {
    git_remote_disconnect(remote);
    git_remote_free(remote);
  }
  return rc;
}

struct fetch_job {
  uv_work_t req;
  struct source *s;
  source_fetch_cb done;
  void *arg;
  int rc;
  char error[1024];
};

static void fetch_work(uv_work_t *req)
{
  struct fetch_job *j = container_of(req, struct fetch_job, req);

  j->rc = source_fetch(j->s);
  /* Error messages are per thread: copy it out. */
  if (j->rc < 0)
    snprintf(j->error, sizeof(j->error), "%s", td_error_last());
}

static void fetch_after(uv_work_t *req, int status)
{
  struct fetch_job *j = container_of(req, struct fetch_job, req);

  if (status < 0 && j->rc == 0) {
    j->rc = -1;
    snprintf(j->error, sizeof(j->error), "fetch cancelled");
  }
  j->done(j->s, j->rc, j->rc < 0 ? j->error : NULL, j->arg);
  free(j);
}

int source_fetch_start(uv_loop_t *loop, struct source *s, source_fetch_cb done,
                       void *arg)
{
  struct fetch_job *j = td_calloc(1, sizeof(*j));
  int rc;

  j->s = s;
  j->done = done;
  j->arg = arg;
  rc = uv_queue_work(loop, &j->req, fetch_work, fetch_after);
  if (rc < 0) {
    free(j);
    return td_error("cannot queue a fetch: %s", uv_strerror(rc));
  }
  return 0;
}

/* ---- commits and trees ---- */

int source_head(struct source *s, char id[SOURCE_ID_LEN])
{
  char ref[512];
  git_oid oid;

  snprintf(ref, sizeof(ref), "refs/remotes/origin/%s", s->o.branch);
  if (git_reference_name_to_id(&oid, s->repo, ref) < 0)
    return td_error_code(TD_ENOTFOUND, "branch '%s' of %s was never fetched",
                         s->o.branch, s->u.shown);
  git_oid_tostr(id, SOURCE_ID_LEN, &oid);
  return 0;
}

static bool is_hex_id(const char *ref)
{
  size_t n = strspn(ref, "0123456789abcdef");

  return n == 40 && ref[n] == '\0';
}

static int fetch_ref(struct source *s, const char *ref, char id[SOURCE_ID_LEN])
{
  git_remote *remote = NULL;
  const git_remote_head **heads;
  size_t nheads;
  const git_remote_head *h = NULL;
  char name[512], spec[1100];
  const char *specs[1] = {spec};
  int rc;

  if (is_hex_id(ref) && source_has_commit(s, ref)) {
    memcpy(id, ref, SOURCE_ID_LEN);
    return 0;
  }
  rc = remote_connect(s, &remote, GIT_DIRECTION_FETCH);
  if (rc < 0)
    return rc;
  if (git_remote_ls(&heads, &nheads, remote) < 0) {
    rc = source_git_error(s, s->u.shown);
    goto out;
  }
  if (is_hex_id(ref)) {
    /* A commit id: whichever advertised ref has it as its tip. */
    for (size_t i = 0; i < nheads && !h; i++) {
      char hex[SOURCE_ID_LEN];

      git_oid_tostr(hex, sizeof(hex), &heads[i]->oid);
      if (strcmp(hex, ref) == 0 && strncmp(heads[i]->name, "refs/", 5) == 0)
        h = heads[i];
    }
  } else {
    static const char *const prefixes[] = {"", "refs/heads/", "refs/tags/"};

    for (size_t i = 0; i < ARRAY_SIZE(prefixes) && !h; i++) {
      snprintf(name, sizeof(name), "%s%s", prefixes[i], ref);
      h = advertised(heads, nheads, name);
    }
  }
  if (!h) {
    rc = td_error_code(TD_ENOTFOUND, "%s has no ref or commit '%.200s'",
                       s->u.shown, ref);
    goto out;
  }
  snprintf(spec, sizeof(spec), "+%s:refs/tenantd/plan/%s", h->name,
           strncmp(h->name, "refs/", 5) == 0 ? h->name + 5 : h->name);
  rc = download(s, remote, specs, 1);
  if (rc == 0)
    git_oid_tostr(id, SOURCE_ID_LEN, &h->oid);
out:
  git_remote_disconnect(remote);
  git_remote_free(remote);
  return rc;
}

/* ---- push ---- */

static int on_push_update(const char *ref, const char *status, void *payload)
{
  struct source *s = payload;

  if (status) {
    s->push_rejected = true;
    snprintf(s->push_why, sizeof(s->push_why), "%s: %s", ref, status);
  }
  return 0;
}

/*
 * A push to a repository on this machine is libgit2 writing that
 * repository's refs from our own process: killed in the middle, it
 * leaves the ref's lock file there, and every later push of the ref
 * fails on it.  So such a push is journaled: under an flock on
 * <gitdir>/tenantd-push (the kernel releases it when a process dies),
 * the file names the refs of the push under way, and is emptied when
 * the push returns.  A journal found non-empty is a dead push's: the
 * locks of the refs it names are that push's, and are removed.  A lock
 * held by anyone else (no journal names it) is left alone.
 */
#define PUSH_JOURNAL_MAX 4096

static void unlock_dead_push(const char *gitdir, char *journal)
{
  char *save = NULL;

  for (char *line = strtok_r(journal, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *lock;

    if (strncmp(line, "refs/", 5) != 0 || strstr(line, ".."))
      continue;
    lock = td_asprintf("%s/%s.lock", gitdir, line);
    unlink(lock);
    free(lock);
  }
}

/* Takes the journal's flock, clears a dead push's locks and writes this
 * push's refs; the descriptor to pass to push_journal_end, or -1. */
static int push_journal_begin(const char *gitdir, const char *const *specs,
                              size_t n)
{
  char *path = td_asprintf("%s/tenantd-push", gitdir);
  char old[PUSH_JOURNAL_MAX + 1], now[PUSH_JOURNAL_MAX];
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  size_t len = 0;
  ssize_t got;

  free(path);
  if (fd < 0)
    return -1;
  if (flock(fd, LOCK_EX) < 0) {
    close(fd);
    return -1;
  }
  got = pread(fd, old, PUSH_JOURNAL_MAX, 0);
  old[got > 0 ? got : 0] = '\0';
  unlock_dead_push(gitdir, old);
  for (size_t i = 0; i < n; i++) {
    const char *dst = strchr(specs[i], ':');
    size_t k = dst ? strlen(dst + 1) : 0;

    if (k > 0 && !strchr(dst, '\n') && len + k + 1 <= sizeof(now)) {
      memcpy(now + len, dst + 1, k);
      now[len + k] = '\n';
      len += k + 1;
    }
  }
  if (ftruncate(fd, 0) < 0 || pwrite(fd, now, len, 0) != (ssize_t)len) {
    /* Unjournaled, a push killed now leaves its lock as before. */
  }
  return fd;
}

static void push_journal_end(int fd)
{
  if (fd < 0)
    return;
  if (ftruncate(fd, 0) < 0) {
    /* Left as it is, it only costs the next push a needless unlink. */
  }
  close(fd); /* releases the flock */
}

/* A push through libgit2's transport: GIT_ENONFASTFORWARD, or
 * libgit2's error. */
static int transport_push(struct source *s, const char *const *specs, size_t n)
{
  git_remote *remote = NULL;
  git_push_options po;
  git_strarray arr = {(char **)specs, n};
  int rc = remote_new(s, &remote);

  if (rc < 0)
    return rc;
  git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
  init_callbacks(s, &po.callbacks);
  po.callbacks.push_update_reference = on_push_update;
  po.proxy_opts.type = GIT_PROXY_AUTO;
  po.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
  /* The pack's delta search on every CPU (0: as many threads as CPUs):
   * the status commit of a first apply at 10,000 tenants sends 10,000
   * new files, and that search was a third of its push. */
  po.pb_parallelism = 0;
  rc = git_remote_push(remote, &arr, &po);
  git_remote_free(remote);
  return rc;
}

/* The push to a bare repository on this machine, by copying objects;
 * 1: through the transport instead. */
static int local_push(struct source *s, const char *gitdir,
                      const char *const *specs, size_t n)
{
  git_repository *remote = NULL;
  int rc;

  if (git_repository_open_ext(&remote, gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH,
                              NULL) < 0)
    return 1; /* the transport says why, as it always did */
  rc = source__local_push(s, remote, specs, n);
  git_repository_free(remote);
  return rc;
}

static int push_specs(struct source *s, const char *const *specs, size_t n)
{
  char *gitdir = source__local_gitdir(s);
  int journal = -1, rc;

  if (local_path_check(s) < 0) {
    free(gitdir);
    return -1;
  }
  if (gitdir)
    journal = push_journal_begin(gitdir, specs, n);
  s->push_rejected = false;
  rc = gitdir ? local_push(s, gitdir, specs, n) : 1;
  if (rc == 1) {
    s->push_rejected = false;
    rc = transport_push(s, specs, n);
  }
  push_journal_end(journal);
  free(gitdir);
  if (rc == GIT_ENONFASTFORWARD)
    rc = td_error_code(TD_ECONFLICT, "%s moved on while tenantd wrote",
                       s->u.shown);
  else if (rc == 0 && s->push_rejected)
    /* The server's own check, the last word when two writers race
     * ("failed to update ref" when one moved it between our listing and
     * our update).  A hook or a lock says the same: the caller fetches
     * and retries only if the ref really moved. */
    rc = td_error_code(TD_ECONFLICT, "%s refused %s", s->u.shown, s->push_why);
  else if (rc < 0)
    rc = source_git_error(s, s->u.shown);
  return rc;
}

/* ---- network operations: each within source.timeout ---- */

static void op_begin(struct source *s, struct gitstream_op *op)
{
  s->why[0] = '\0';
  gitstream_begin(op, s->timeout_ms, s->u.port ? s->u.host : NULL, s->u.port);
}

/* Ends an operation: a failure past its deadline is a timeout, and says
 * so (libgit2 only saw a connection torn down). */
static int op_end(struct source *s, struct gitstream_op *op, int rc,
                  const char *verb)
{
  uint64_t ms = s->timeout_ms;
  char t[32];

  gitstream_end(op);
  s->why[0] = '\0'; /* said already: no later message may repeat it */
  if (rc != TD_ERROR || !gitstream_expired(op))
    return rc;
  if (ms % 1000 == 0)
    snprintf(t, sizeof(t), "%llus", (unsigned long long)(ms / 1000));
  else
    snprintf(t, sizeof(t), "%llums", (unsigned long long)ms);
  return td_error("%s %s timed out after %s (source.timeout); the mirror "
                  "keeps what it had",
                  verb, s->u.shown, t);
}

int source_fetch(struct source *s)
{
  struct gitstream_op op;

  op_begin(s, &op);
  return op_end(s, &op, fetch_tips(s), "fetch from");
}

int source_fetch_refspecs(struct source *s, const char *const *specs, size_t n)
{
  struct gitstream_op op;

  op_begin(s, &op);
  return op_end(s, &op, fetch_specs(s, specs, n), "fetch from");
}

int source_fetch_ref(struct source *s, const char *ref, char id[SOURCE_ID_LEN])
{
  struct gitstream_op op;

  op_begin(s, &op);
  return op_end(s, &op, fetch_ref(s, ref, id), "fetch from");
}

int source_push(struct source *s, const char *const *specs, size_t n)
{
  struct gitstream_op op;

  op_begin(s, &op);
  return op_end(s, &op, push_specs(s, specs, n), "push to");
}
