/*
 * source.h - the manifest repository in Git, through a bare mirror.
 *
 * tenantd never checks files out: it keeps a bare mirror of the remote in
 * a cache directory, fetches the tracked branch, the status branch and
 * the notes into it, and reads manifests straight from commit trees.
 * Commits are named by their hex ids (char[41]) so results can cross
 * threads by value.
 *
 *   struct source *src;
 *   source_open(&src, &opts);           -- creates or reuses the mirror
 *   source_fetch(src);                  -- -1: the remote is unreachable
 *   source_head(src, head);             -- the last fetched tip, even then
 *   source_read_manifests(src, head, &files, max_bytes, NULL);
 *   source_changes(src, old, head, &tenants, &all);
 *   source_close(src);
 *
 * Refs in the mirror:
 *   refs/remotes/origin/<branch>          the tracked branch as fetched
 *   refs/remotes/origin/<status branch>   the status branch as fetched
 *   refs/tenantd/origin-notes             refs/notes/tenantd as fetched
 *   refs/heads/<status branch>, refs/notes/tenantd
 *                                         tenantd's own, ahead of the
 *                                         remote until pushed (writeback.h)
 *
 * A source is used by one thread at a time (libgit2 objects are not
 * shared); the daemon runs these calls on the libuv threadpool.  The
 * mirror is locked (flock) while open, so two tenantd processes never
 * share one; lock files found in it at open are a killed process's and
 * are removed.
 *
 * Hostile remotes: credentials (the URL's own, the environment's, a key
 * file or ssh-agent; never the repository's) go only to the configured
 * scheme, host and port, never over plain http to another machine
 * unless allowed, and are redacted from every message, libgit2's
 * included (giturl.h).  A redirect to another host or port is refused.
 * An ssh server's host key must be in known_hosts (knownhosts.h).
 * Every fetch, push and ls-remote ends within the timeout (gitstream.h):
 * past it the connection is torn down and the call fails with -1, the
 * mirror as it was.
 */
#ifndef TD_SOURCE_H
#define TD_SOURCE_H

#include "base/compat.h"

#include <uv.h>

#include "manifest/manifest.h"
#include "base/strset.h"

#define SOURCE_ID_LEN 41 /* 40 hex digits and a NUL */
#define SOURCE_NOTES_REF "refs/notes/tenantd"

struct source_opts {
  unsigned version;
  const char *url;           /* file://, a path, https://, ssh:// */
  const char *branch;        /* tracked branch, "main" */
  const char *status_branch; /* "tenantd/status" */
  /* Mirrors live here, one per URL; NULL: source_default_cache_dir(). */
  const char *cache_dir;
  /* https: user name and password (or token) from these variables;
   * default TENANTD_GIT_USERNAME, TENANTD_GIT_PASSWORD. */
  const char *username_env, *password_env;
  /* ssh: a private key file, or NULL for ssh-agent; its passphrase from
   * the variable named here. */
  const char *ssh_key, *ssh_passphrase_env;
  const char *author_name, *author_email; /* of status commits */
  /* Plain http:// carries credentials only to this machine (loopback)
   * unless this is set (source.allowInsecure). */
  bool allow_insecure;
  /* ssh:// host keys must be in this OpenSSH known_hosts file; NULL:
   * ~/.ssh/known_hosts (source.knownHosts). */
  const char *known_hosts;
  /* The longest one fetch, push or ls-remote may take, connecting
   * included (source.timeout); 0: TENANTD_GIT_TIMEOUT when set (a
   * duration), else SOURCE_DEFAULT_TIMEOUT_MS. */
  uint64_t timeout_ms;
  /* Fetch the approval tags too (every tag under refs/tags/approved/, as the remote has
   * them: one deleted there is deleted in the mirror), for approval. */
  bool fetch_approvals;
  /* An ssh private key that signs the status commits (status.signingKey),
   * or NULL: unsigned. */
  const char *signing_key;
};

#define SOURCE_DEFAULT_TIMEOUT_MS 60000
#define SOURCE_OPTS_VERSION 3
/* clang-format off */
#define SOURCE_OPTS_INIT {SOURCE_OPTS_VERSION, NULL, "main", \
    "tenantd/status", NULL, NULL, NULL, NULL, NULL, "tenantd", \
    "tenantd@localhost", false, NULL, 0, false, NULL}
/* clang-format on */

/*
 * The cache used when none is given: $XDG_CACHE_HOME/tenantd, or
 * $HOME/.cache/tenantd when XDG_CACHE_HOME is unset or not an absolute
 * path (the XDG base directories).  Never the current directory, so that
 * a command that only reads (plan, status, log) writes nothing there.
 * 0 and *out (malloc'd), or TD_ENOTFOUND when neither variable helps.
 */
int source_default_cache_dir(char **out);

struct source;

/*
 * libgit2 lives from the first source_open to the last source_close.  A
 * process whose sources open and close on threads that come and go (the
 * daemon's passes) holds it for its whole life instead, so no thread's
 * libgit2 state outlives the library.  While it is held, a closed
 * source's repository stays open, with its object cache, for the next
 * open of the same mirror (source.c); the last release frees them.
 */
void source_library_hold(void);
void source_library_release(void);

/* The process's own hold on libgit2, taken at its first source_open() or
 * source_library_hold() (not at start: setting the library up costs a
 * parse of the system's CA certificates), is given back here, once, as
 * the process ends. */
void source_library_exit(void);

/* Opens (creating if needed) and locks the mirror for o->url. */
int source_open(struct source **out, const struct source_opts *o);
void source_close(struct source *s);

const struct source_opts *source_options(const struct source *s);

/* The URL without credentials, for messages. */
const char *source_url(const struct source *s);

/*
 * Fetches the tracked branch, the status branch and the notes (and the
 * approval tags when asked).  When the
 * remote advertises the same tips the mirror already has, nothing is
 * downloaded.  -1 with td_error_last() when the remote cannot be reached
 * or does not have the branch: the mirror keeps what it had.
 */
int source_fetch(struct source *s);

/* source_fetch() on the libuv threadpool; done() runs on the loop with
 * the result and the error message (NULL on success). */
typedef void (*source_fetch_cb)(struct source *s, int rc, const char *error,
                                void *arg);
int source_fetch_start(uv_loop_t *loop, struct source *s, source_fetch_cb done,
                       void *arg);

/* The tracked branch's tip as last fetched; TD_ENOTFOUND before any. */
int source_head(struct source *s, char id[SOURCE_ID_LEN]);

/*
 * Resolves REF for a plan: a branch name, a full ref name (refs/...) or a
 * commit id; fetches it when needed.  TD_ENOTFOUND when the remote has no
 * such thing.
 */
int source_fetch_ref(struct source *s, const char *ref, char id[SOURCE_ID_LEN]);

/* The best common ancestor of two commits; TD_ENOTFOUND when none. */
int source_merge_base(struct source *s, const char *a, const char *b,
                      char id[SOURCE_ID_LEN]);

/* Does the mirror hold this commit? */
bool source_has_commit(struct source *s, const char *id);

/*
 * Appends the manifests of a commit's tree (platform.yaml, tiers.yaml,
 * tenants/<name>.yaml|yml; manifest_path_kind() decides) to `files`, each
 * keyed by its blob id.  A blob larger than max_bytes is cut at
 * max_bytes + 1 so the loader reports it; symbolic links are not
 * manifests and are held as unreadable.  A file whose path and blob id
 * `reuse` (an earlier load, or NULL) already holds is not read: it is
 * added as reused, for manifest_repo_reload() with that repo.
 */
int source_read_manifests(struct source *s, const char *commit,
                          struct manifest_files *files, size_t max_bytes,
                          const struct manifest_repo *reuse);

/*
 * The same, as a listing of changes when it can be one: with `reuse`
 * loaded from reuse->commit, only the tenant files that differ from that
 * commit's are read, and those it had and `commit` has not are listed
 * gone; files->delta_of is then `reuse` (see manifest.h).  Otherwise
 * (no reuse, no commit recorded, no tenants/ either side) everything is
 * listed, as source_read_manifests() does.  The listing is for
 * manifest_repo_reload() with `reuse`.
 */
int source_read_manifest_changes(struct source *s, const char *commit,
                                 struct manifest_files *files, size_t max_bytes,
                                 const struct manifest_repo *reuse);

/*
 * What changed between two commits' trees (from NULL: everything): the
 * tenant files touched, by file stem, into `tenants`; *all is set when
 * platform.yaml or tiers.yaml changed, or `from` is not in the mirror
 * (history rewritten and collected).  History need not connect the two:
 * after a force-push the trees are compared all the same.
 */
int source_changes(struct source *s, const char *from, const char *to,
                   struct strset *tenants, bool *all);

/*
 * The value of trailer `key` ("Tenantd-Allow-Delete") in a commit's
 * message into buf; TD_ENOTFOUND when absent.  The last one counts.
 */
int source_trailer(struct source *s, const char *commit, const char *key,
                   char *buf, size_t cap);

/* The first line of a commit's message into buf (for tables). */
int source_subject(struct source *s, const char *commit, char *buf, size_t cap);

#endif
