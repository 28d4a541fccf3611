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
 * documents (unique names, overlapping networks) are kept as indexes that
 * move with them: such a reload checks the one file against them.
 *
 * Values that were not written in the file have pos.line == 0 and carry
 * their documented default after loading.
 */
#ifndef TD_MANIFEST_H
#define TD_MANIFEST_H

#include "base/compat.h"

#include "base/arena.h"
#include "base/diag.h"
#include "manifest/yamltree.h"
#include "model/resource.h"

#define MANIFEST_API_VERSION "tenantd.io/v1"

/* An app's `env`: at most this many variables, names of at most
 * MF_ENV_NAME_MAX bytes, values of at most MF_ENV_VALUE_MAX characters;
 * names starting with MF_ENV_RESERVED are tenantd's own. */
#define MF_ENV_MAX 128
#define MF_ENV_NAME_MAX 128
#define MF_ENV_VALUE_MAX 4096
#define MF_ENV_RESERVED "TENANTD_"

struct mf_str {
  const char *v; /* NULL when absent */
  struct src_pos pos;
};

struct mf_int {
  int64_t v;
  struct src_pos pos;
};

struct mf_num {
  double v;
  struct src_pos pos;
};

struct mf_bool {
  bool v;
  struct src_pos pos;
};

/* An enumerated string, stored as its index in the field's value list. */
struct mf_enum {
  int v;
  struct src_pos pos;
};

struct mf_cidr {
  uint32_t addr; /* host byte order */
  uint8_t prefix;
  const char *text;
  struct src_pos pos;
};

/* A list of items whose type the field says; items live in the arena. */
struct mf_list {
  void *v;
  uint32_t n;
  struct src_pos pos;
};

/* The head of every optional mapping: was it written, and where. */
struct mf_obj {
  bool present;
  struct src_pos pos;
};

struct mf_kv {
  struct mf_str key, val;
};

struct mf_meta {
  struct mf_obj obj;
  struct mf_str name;
  struct mf_list labels; /* struct mf_kv */
};

/* ---- Platform ---- */

enum mf_drift_policy { MF_DRIFT_CORRECT, MF_DRIFT_REPORT };
/* What a tier's monthlyPrice is for: each tenant, or each of its
 * environments (spec.priceBasis of the catalog). */
enum mf_price_basis { MF_PRICE_PER_TENANT, MF_PRICE_PER_ENVIRONMENT };
enum mf_backup_schedule { MF_BACKUP_HOURLY, MF_BACKUP_DAILY, MF_BACKUP_WEEKLY };

struct mf_platform {
  struct mf_str api_version, kind;
  struct mf_meta meta;
  struct mf_platform_spec {
    struct mf_obj obj;
    struct mf_domains {
      struct mf_obj obj;
      struct mf_str pub, priv;
    } domains;
    struct mf_ingress {
      struct mf_obj obj;
      struct mf_str pub;
    } ingress;
    struct mf_providers {
      struct mf_obj obj;
      struct mf_str by_type[RTYPE_COUNT]; /* default "local" */
    } providers;
    struct mf_policies {
      struct mf_obj obj;
      struct mf_bool prune;             /* default true */
      struct mf_enum drift_policy;      /* default correct */
      struct mf_int max_delete_percent; /* default 10 */
      struct mf_int resync_ms;          /* default 5m */
      struct mf_int stall_after;        /* default 3 */
    } policies;
  } spec;
};

/* ---- TierCatalog ---- */

struct mf_tier {
  struct mf_str name; /* the key in spec.tiers */
  struct mf_str vm;
  struct mf_int cpu, memory_mib, storage_gib, max_users;
  struct mf_str database_class;
  struct mf_bool database_ha;
  struct mf_backup {
    struct mf_obj obj;
    struct mf_enum schedule;
    struct mf_int retention_days;
  } backup;
  struct mf_list features; /* struct mf_str */
  struct mf_num monthly_price;
};

struct mf_catalog {
  struct mf_str api_version, kind;
  struct mf_meta meta;
  struct mf_catalog_spec {
    struct mf_obj obj;
    struct mf_list tiers;       /* struct mf_tier */
    struct mf_str currency;     /* ISO 4217 code; default USD */
    struct mf_enum price_basis; /* enum mf_price_basis; default tenant */
  } spec;
};

/* ---- Tenant ---- */

struct mf_app {
  struct mf_str name;
  struct mf_str image;
  struct mf_str endpoint;
  struct mf_int port;
  struct mf_int replicas; /* default 1 */
  /* The app's own environment variables (struct mf_kv): names as
   * MF_ENV_NAME_MAX and the rules in decode.c say, never TENANTD_*
   * (tenantd sets those), values plain text, never secrets. */
  struct mf_list env;
  struct mf_health {
    struct mf_obj obj;
    struct mf_str path;
    struct mf_int interval_s; /* default 10 */
    struct mf_int timeout_s;  /* default 5 */
  } health;
  struct mf_dns {
    struct mf_obj obj;
    struct mf_bool pub, priv;
    struct mf_list aliases; /* struct mf_str */
  } dns;
  struct mf_list depends_on; /* struct mf_str */
};

struct mf_env {
  struct mf_str name;
  struct mf_network {
    struct mf_obj obj;
    struct mf_cidr cidr;
  } network;
  struct mf_database {
    struct mf_obj obj;
    struct mf_enum deletion_policy; /* default: the tenant's */
    struct mf_bool adopt;
  } database;
  struct mf_bucket {
    struct mf_obj obj;
    struct mf_bool versioning;
    struct mf_enum deletion_policy; /* default: the tenant's */
    struct mf_bool adopt;
  } bucket;
  struct mf_list apps; /* struct mf_app */
};

struct mf_tenant {
  struct mf_str api_version, kind;
  struct mf_meta meta;
  struct mf_tenant_spec {
    struct mf_obj obj;
    struct mf_str display_name, tier, region, owner, cost_center;
    struct mf_enum deletion_policy; /* default Orphan */
    struct mf_bool suspend;
    struct mf_list envs; /* struct mf_env */
  } spec;
};

struct manifest__rules;
struct manifest__index;

/* One loaded document: the model plus what it came from. */
struct manifest_doc {
  char *path;           /* relative to the repository root; owned */
  char key[41];         /* the bytes' identity (a git blob id), or "" */
  struct arena arena;   /* every string and list of the model */
  struct diag_list own; /* what decoding this file alone found */
  /* A tenant's rules, worked out once (internal to manifest/). */
  struct manifest__rules *rules;
  bool valid; /* no diagnostic names this file */
  union {
    struct mf_platform *platform;
    struct mf_catalog *catalog;
    struct mf_tenant *tenant;
  } u;
};

static inline const struct mf_env *mf_tenant_env(const struct mf_tenant *t,
                                                 uint32_t i)
{
  return &((const struct mf_env *)t->spec.envs.v)[i];
}

static inline const struct mf_app *mf_env_app(const struct mf_env *e,
                                              uint32_t i)
{
  return &((const struct mf_app *)e->apps.v)[i];
}

static inline const struct mf_tier *mf_catalog_tier(const struct mf_catalog *c,
                                                    uint32_t i)
{
  return &((const struct mf_tier *)c->spec.tiers.v)[i];
}

static inline const struct mf_str *mf_str_at(const struct mf_list *l,
                                             uint32_t i)
{
  return &((const struct mf_str *)l->v)[i];
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
  /* No longer there (in a listing of changes): the previous repo's
   * document with this path goes; data is NULL. */
  bool gone;
};

struct manifest_files {
  struct manifest_file *v;
  size_t n, alloc;
  /*
   * NULL for a listing of everything.  Otherwise the listing holds only
   * the tenant files that changed since this repo was loaded (from its
   * `commit`), and those `gone`: every tenant document of it that no
   * entry names stands as it is.  platform.yaml and tiers.yaml are
   * listed either way.  Such a listing is for manifest_repo_reload()
   * with this very repo as prev; at 10,000 tenants a one-file commit
   * then costs one file, not a walk of every document.
   */
  const struct manifest_repo *delta_of;
};

/* clang-format off */
#define MANIFEST_FILES_INIT {NULL, 0, 0, NULL}
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
 * Nothing is read through a symbolic link, as in Git mode: such a path
 * (pointing outside the repository or inside, or dangling), or one that is
 * not a regular file, is added as unreadable and held with its problem.
 * Returns 0, or -1 with td_error_last() set when `dir` cannot be read, or
 * when its tenants/ is a link or not a directory (every tenant would look
 * deleted: the whole read is refused, as a Git snapshot is).
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

/* A file of the repo the listing is a delta of that is gone. */
void manifest_files_add_gone(struct manifest_files *f, const char *path);

/* A manifest path that exists but cannot be read: `problem` (a static
 * string) becomes its diagnostic, so it is held rather than missing. */
void manifest_files_add_unreadable(struct manifest_files *f, const char *path,
                                   const char *problem);

/*
 * What a repository path is to the loader: the rule every reader of a
 * repository (directory, git tree, change detection) shares.  MP_TENANT is
 * tenants/<stem>.yaml or .yml, <stem> not starting with '.': a file every
 * reader hands to the loader, whatever its stem.
 */
enum manifest_path_kind { MP_OTHER, MP_PLATFORM, MP_TIERS, MP_TENANT };
enum manifest_path_kind manifest_path_kind(const char *path);

/*
 * Whether `path` is the file of a tenant, and of which: true for a
 * tenant path whose stem is a tenant name (a DNS label: ASCII, so valid
 * UTF-8), with that name written to `name` (NULL, or cap >= 64).  False
 * for any other path, and for a tenant path with any other stem (bytes
 * that are not UTF-8, uppercase, dots, ...): the loader reports such a
 * file at its path and makes no document of it, so it is no tenant's,
 * and a queue, a status or a log line keyed by tenant never sees it.
 */
bool manifest_path_tenant(const char *path, char *name, size_t cap);

/* ---- The repository ---- */

struct manifest_opts {
  unsigned version;
  struct yaml_limits limits;
  /* Threads that decode tenant files (at most 4); 0: as many as there
   * are CPUs, one for a few files.  The result is the same for any. */
  unsigned threads;
};

#define MANIFEST_OPTS_VERSION 1
/* clang-format off */
#define MANIFEST_OPTS_INIT {MANIFEST_OPTS_VERSION, YAML_LIMITS_DEFAULT, 0}
/* clang-format on */

struct manifest_repo {
  struct manifest_doc *platform; /* NULL when platform.yaml is missing */
  struct manifest_doc *catalog;  /* tiers.yaml, or the built-in default */
  struct manifest_doc **tenants; /* sorted by path */
  size_t ntenants;
  /* Tenant paths refused for their name (see manifest_path_tenant()):
   * each is a diagnostic at its path and has no document.  One may be a
   * tenant's renamed file, so while any is there a caller must hold, not
   * prune, a tenant that has no document, as it does for an invalid one. */
  char **refused; /* their paths, owned */
  size_t nrefused;
  size_t ninvalid; /* tenant documents not valid (decoded with problems) */
  struct diag_list diags; /* every problem found, sorted */
  /* The rules across documents, kept between loads (internal). */
  struct manifest__index *index;
  /* The commit the files came from, when the caller says (a reload
   * starts it empty): a caller holding the repo between passes knows
   * then that the same commit needs no reading again. */
  char commit[41];
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
 * The same, for a caller done with the files once they are loaded: each
 * tenant file's bytes are freed as soon as it is decoded (its data NULL,
 * its len 0), so a large repository's text and model are never both
 * held.  The files are still the caller's to release.
 */
void manifest_repo_load_consume(struct manifest_repo **out,
                                struct manifest_files *files,
                                const struct manifest_opts *opts);

/*
 * The same as manifest_repo_load(), reusing the documents of `prev` (the
 * repo of an earlier load, consumed: freed here) whose path and key match
 * a file's; files marked `reused` must name such a document.  NULL prev
 * is a plain load.  A listing of changes (files->delta_of) must be of
 * prev: its unnamed tenant documents, and its refused paths, stand.
 */
void manifest_repo_reload(struct manifest_repo **out,
                          const struct manifest_files *files,
                          const struct manifest_opts *opts,
                          struct manifest_repo *prev);

/* The document read from `path` (platform, catalog or tenant), or NULL. */
const struct manifest_doc *manifest_repo_find(const struct manifest_repo *repo,
                                              const char *path);

/*
 * The tenant document at `path`, for a caller asking in path order (a
 * tree listing): `*hint` (0 at first) is where the last one was found,
 * so the next is one comparison away instead of a search.
 */
const struct manifest_doc *
manifest_repo_find_tenant(const struct manifest_repo *repo, const char *path,
                          size_t *hint);

void manifest_repo_free(struct manifest_repo *repo);

/* The tier named `name`, or NULL. */
const struct mf_tier *manifest_catalog_find(const struct mf_catalog *c,
                                            const char *name);

/* ---- Prices (price.c) ---- */

/*
 * Money is counted in cents (hundredths of the currency's unit), so that
 * sums over thousands of tenants are exact: a catalog price is rounded
 * to the cent when it is read.
 */
#define MANIFEST_CURRENCY_DEFAULT "USD"

/* The catalog's currency: spec.currency, or MANIFEST_CURRENCY_DEFAULT. */
const char *manifest_catalog_currency(const struct mf_catalog *c);

/* A tier's monthlyPrice in cents; TD_ENOTFOUND when it has none. */
int manifest_tier_price(const struct mf_tier *tier, int64_t *cents);

/*
 * What tenant `t` costs a month by catalog `c`: its tier's monthlyPrice,
 * times its environments when the catalog's priceBasis is environment
 * (a tenant without environments then costs nothing).  TD_ENOTFOUND when
 * the tier is not in the catalog or has no monthlyPrice.
 */
int manifest_tenant_monthly(const struct mf_catalog *c,
                            const struct mf_tenant *t, int64_t *cents);

/* An amount as people write it: "149", "9.99", "-250", "0.5" is "0.50". */
#define MANIFEST_MONEY_TEXT_MAX 32
void manifest_money_text(int64_t cents, char buf[MANIFEST_MONEY_TEXT_MAX]);

/* Reads what manifest_money_text wrote (an optional '-', digits, and at
 * most two decimals); TD_EINVALID for anything else or past 10^15. */
int manifest_money_parse(const char *s, int64_t *cents);

/* The built-in tier catalog (schemas/tiers.yaml), as bytes. */
extern const char manifest_default_tiers[];
extern const size_t manifest_default_tiers_len;

#endif
