/*
 * manifest.h - the desired model: Platform, TierCatalog and Tenants.
 *
 * A manifest repository is read into typed structs in which every value
 * keeps its line and column, so any later stage can point a user at the
 * exact place in their file.  The loader does not care where bytes come
 * from: callers hand it (path, bytes) pairs from a directory today and from
 * git trees later.
 *
 *   struct manifest_files files = MANIFEST_FILES_INIT;
 *   manifest_files_read_dir(&files, "repo");            -- or from git
 *   struct manifest_repo *repo;
 *   manifest_repo_load(&repo, &files, NULL);
 *   if (repo->diags.n) ...                              -- every problem
 *   manifest_repo_free(repo);
 *   manifest_files_release(&files);
 *
 * Ownership: the repo owns every model struct and string; each document
 * (platform, catalog, each tenant) has its own arena, so one tenant can be
 * replaced without touching the others.  Nothing points into `files`.
 *
 * A long-lived caller (the daemon) keeps the repo between passes and
 * hands it to manifest_repo_reload(): documents whose bytes are unchanged
 * (same path, same key: a git blob id) move into the new repo as they are,
 * so a commit touching one tenant parses one file.  The rules across
 * documents (unique names, overlapping networks) run over all of them.
 *
 * Values that were not written in the file have pos.line == 0 and carry
 * their documented default after loading.
 */
#ifndef TD_MANIFEST_H
#define TD_MANIFEST_H

#include "compat.h"

#include "arena.h"
#include "diag.h"
#include "yamltree.h"

#define TD_API_VERSION "tenantd.io/v1"

struct td_pos {
  uint32_t line, col; /* 1-based; 0 when the value was not written */
};

struct td_str {
  const char *v; /* NULL when absent */
  struct td_pos pos;
};

struct td_int {
  int64_t v;
  struct td_pos pos;
};

struct td_num {
  double v;
  struct td_pos pos;
};

struct td_bool {
  bool v;
  struct td_pos pos;
};

/* An enumerated string, stored as its index in the field's value list. */
struct td_enum {
  int v;
  struct td_pos pos;
};

struct td_cidr {
  uint32_t addr; /* host byte order */
  uint8_t prefix;
  const char *text;
  struct td_pos pos;
};

/* A list of items whose type the field says; items live in the arena. */
struct td_list {
  void *v;
  uint32_t n;
  struct td_pos pos;
};

/* The head of every optional mapping: was it written, and where. */
struct td_obj {
  bool present;
  struct td_pos pos;
};

struct td_kv {
  struct td_str key, val;
};

struct td_meta {
  struct td_obj obj;
  struct td_str name;
  struct td_list labels; /* struct td_kv */
};

/* ---- Platform ---- */

enum td_rtype {
  TD_RT_NETWORK,
  TD_RT_DATABASE,
  TD_RT_BUCKET,
  TD_RT_SERVICE,
  TD_RT_ROUTE,
  TD_RT_DNS_RECORD,
  TD_RT_COUNT
};

extern const char *const td_rtype_names[TD_RT_COUNT];

enum td_drift_policy { TD_DRIFT_CORRECT, TD_DRIFT_REPORT };
enum td_deletion_policy { TD_DELETE_ORPHAN, TD_DELETE_DELETE };
enum td_backup_schedule { TD_BACKUP_HOURLY, TD_BACKUP_DAILY, TD_BACKUP_WEEKLY };

struct td_platform {
  struct td_str api_version, kind;
  struct td_meta meta;
  struct td_platform_spec {
    struct td_obj obj;
    struct td_domains {
      struct td_obj obj;
      struct td_str pub, priv;
    } domains;
    struct td_ingress {
      struct td_obj obj;
      struct td_str pub;
    } ingress;
    struct td_providers {
      struct td_obj obj;
      struct td_str by_type[TD_RT_COUNT]; /* default "local" */
    } providers;
    struct td_policies {
      struct td_obj obj;
      struct td_bool prune;             /* default true */
      struct td_enum drift_policy;      /* default correct */
      struct td_int max_delete_percent; /* default 10 */
      struct td_int resync_ms;          /* default 5m */
      struct td_int stall_after;        /* default 3 */
    } policies;
  } spec;
};

/* ---- TierCatalog ---- */

struct td_tier {
  struct td_str name; /* the key in spec.tiers */
  struct td_str vm;
  struct td_int cpu, memory_mib, storage_gib, max_users;
  struct td_str database_class;
  struct td_bool database_ha;
  struct td_backup {
    struct td_obj obj;
    struct td_enum schedule;
    struct td_int retention_days;
  } backup;
  struct td_list features; /* struct td_str */
  struct td_num monthly_price;
};

struct td_catalog {
  struct td_str api_version, kind;
  struct td_meta meta;
  struct td_catalog_spec {
    struct td_obj obj;
    struct td_list tiers; /* struct td_tier */
  } spec;
};

/* ---- Tenant ---- */

struct td_app {
  struct td_str name;
  struct td_str image;
  struct td_str endpoint;
  struct td_int port;
  struct td_int replicas; /* default 1 */
  struct td_health {
    struct td_obj obj;
    struct td_str path;
    struct td_int interval_s; /* default 10 */
    struct td_int timeout_s;  /* default 5 */
  } health;
  struct td_dns {
    struct td_obj obj;
    struct td_bool pub, priv;
    struct td_list aliases; /* struct td_str */
  } dns;
  struct td_list depends_on; /* struct td_str */
};

struct td_env {
  struct td_str name;
  struct td_network {
    struct td_obj obj;
    struct td_cidr cidr;
  } network;
  struct td_database {
    struct td_obj obj;
    struct td_enum deletion_policy; /* default: the tenant's */
    struct td_bool adopt;
  } database;
  struct td_bucket {
    struct td_obj obj;
    struct td_bool versioning;
    struct td_enum deletion_policy; /* default: the tenant's */
    struct td_bool adopt;
  } bucket;
  struct td_list apps; /* struct td_app */
};

struct td_tenant {
  struct td_str api_version, kind;
  struct td_meta meta;
  struct td_tenant_spec {
    struct td_obj obj;
    struct td_str display_name, tier, region, owner, cost_center;
    struct td_enum deletion_policy; /* default Orphan */
    struct td_bool suspend;
    struct td_list envs; /* struct td_env */
  } spec;
};

/* One loaded document: the model plus what it came from. */
struct manifest_doc {
  char *path;           /* relative to the repository root; owned */
  char key[41];         /* the bytes' identity (a git blob id), or "" */
  struct arena arena;   /* every string and list of the model */
  struct diag_list own; /* what decoding this file alone found */
  bool valid;           /* no diagnostic names this file */
  union {
    struct td_platform *platform;
    struct td_catalog *catalog;
    struct td_tenant *tenant;
  } u;
};

static inline const struct td_env *td_tenant_env(const struct td_tenant *t,
                                                 uint32_t i)
{
  return &((const struct td_env *)t->spec.envs.v)[i];
}

static inline const struct td_app *td_env_app(const struct td_env *e,
                                              uint32_t i)
{
  return &((const struct td_app *)e->apps.v)[i];
}

static inline const struct td_tier *td_catalog_tier(const struct td_catalog *c,
                                                    uint32_t i)
{
  return &((const struct td_tier *)c->spec.tiers.v)[i];
}

static inline const struct td_str *td_str_at(const struct td_list *l,
                                             uint32_t i)
{
  return &((const struct td_str *)l->v)[i];
}

/* ---- Input: (path, bytes) pairs, wherever they come from ---- */

struct manifest_file {
  char *path; /* relative, '/'-separated */
  char *data;
  size_t len;
  /* Why the file could not be read (a symbolic link in a git tree), or
   * NULL; the loader reports it at the file and holds what it holds. */
  const char *problem;
  /* The bytes' identity when known (a git blob id), or "". */
  char key[41];
  /* Not read: the previous repo's document with this path and key
   * stands (manifest_repo_reload); data is NULL. */
  bool reused;
};

struct manifest_files {
  struct manifest_file *v;
  size_t n, alloc;
};

/* clang-format off */
#define MANIFEST_FILES_INIT {NULL, 0, 0}
/* clang-format on */

/* Copies path and bytes; replaces an existing entry of the same path. */
void manifest_files_add(struct manifest_files *f, const char *path,
                        const char *data, size_t len);

/* Removes `path` if present. */
void manifest_files_remove(struct manifest_files *f, const char *path);

/*
 * Reads platform.yaml, tiers.yaml and tenants/<name>.yaml|yml of `dir`;
 * other files are ignored.  A file is read up to max_bytes + 1 bytes, so
 * an oversized one is reported by the loader without being read whole.
 * Returns 0, or -1 with td_error_last() set when `dir` cannot be read.
 */
int manifest_files_read_dir(struct manifest_files *f, const char *dir,
                            size_t max_bytes);

void manifest_files_release(struct manifest_files *f);

/*
 * Appends without looking for an existing entry (a tree listing has no
 * duplicates), taking `data`: malloc'd, len + 1 bytes, NUL-terminated.
 */
void manifest_files_take(struct manifest_files *f, const char *path, char *data,
                         size_t len);

/* A file whose bytes the previous repo already holds, under `key`. */
void manifest_files_add_reused(struct manifest_files *f, const char *path,
                               const char *key);

/* A manifest path that exists but cannot be read: `problem` (a static
 * string) becomes its diagnostic, so it is held rather than missing. */
void manifest_files_add_unreadable(struct manifest_files *f, const char *path,
                                   const char *problem);

/* What a repository path is to the loader: the rule every reader of a
 * repository (directory, git tree, change detection) shares. */
enum manifest_path_kind { MP_OTHER, MP_PLATFORM, MP_TIERS, MP_TENANT };
enum manifest_path_kind manifest_path_kind(const char *path);

/* ---- The repository ---- */

struct manifest_opts {
  unsigned version;
  struct yaml_limits limits;
};

#define MANIFEST_OPTS_VERSION 1
/* clang-format off */
#define MANIFEST_OPTS_INIT {MANIFEST_OPTS_VERSION, YAML_LIMITS_DEFAULT}
/* clang-format on */

struct manifest_repo {
  struct manifest_doc *platform; /* NULL when platform.yaml is missing */
  struct manifest_doc *catalog;  /* tiers.yaml, or the built-in default */
  struct manifest_doc **tenants; /* sorted by path */
  size_t ntenants;
  struct diag_list diags; /* every problem found, sorted */
};

/*
 * Loads and validates everything in `files`.  Always returns a repo (NULL
 * opts means defaults); problems are in repo->diags and each document's
 * `valid` says whether it may be acted on.
 */
void manifest_repo_load(struct manifest_repo **out,
                        const struct manifest_files *files,
                        const struct manifest_opts *opts);

/*
 * The same, reusing the documents of `prev` (the repo of an earlier load,
 * consumed: freed here) whose path and key match a file's; files marked
 * `reused` must name such a document.  NULL prev is a plain load.
 */
void manifest_repo_reload(struct manifest_repo **out,
                          const struct manifest_files *files,
                          const struct manifest_opts *opts,
                          struct manifest_repo *prev);

/* The document read from `path` (platform, catalog or tenant), or NULL. */
const struct manifest_doc *manifest_repo_find(const struct manifest_repo *repo,
                                              const char *path);

void manifest_repo_free(struct manifest_repo *repo);

/* The tier named `name`, or NULL. */
const struct td_tier *manifest_catalog_find(const struct td_catalog *c,
                                            const char *name);

/* The built-in tier catalog (schemas/tiers.yaml), as bytes. */
extern const char manifest_default_tiers[];
extern const size_t manifest_default_tiers_len;

#endif
