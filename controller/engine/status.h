/*
 * status.h - a tenant's status: what tenantd applied and how it went.
 *
 * The same text is written to a directory sink today (--status-dir,
 * <dir>/<tenant>.yaml) and committed to the status branch later
 * (status/<tenant>.yaml), so `git log -p` reads well: stable key order,
 * one field per line, no timestamps that change when nothing else did.
 * The inventory here is what prune trusts: a resource tenantd may delete
 * must be in it (and carry the marker at the provider).
 *
 *   struct tenant_status *st = tenant_status_new("acme");
 *   ... fill in ...
 *   char *text = tenant_status_format(st);           -- caller frees
 *   tenant_status_write(dir, st);                    -- atomic
 *   tenant_status_read(dir, "acme", &st2);           -- TD_ENOTFOUND if none
 *   tenant_status_free(st);
 *
 * Secrets never reach a status: it holds names, hashes, ids and messages
 * that providers build without credentials.
 */
#ifndef TD_STATUS_H
#define TD_STATUS_H

#include "base/compat.h"

enum status_cond {
  STATUS_READY,
  STATUS_RECONCILING,
  STATUS_STALLED,
  STATUS_SOURCE_ERROR,
  STATUS_DRIFT_DETECTED,
  STATUS_SUSPENDED,
  /* Trust (safety rules 8 and 9): listed only once set, that is when
   * source.verify or approval is configured, so that statuses written
   * without them keep their text. */
  STATUS_SOURCE_UNTRUSTED,
  STATUS_AWAITING_APPROVAL,
  STATUS_COND_COUNT
};

/* The conditions every status lists; the others only once set. */
#define STATUS_COND_ALWAYS STATUS_SOURCE_UNTRUSTED

/* Whether a status lists condition c (always, or set at least once). */
#define STATUS_COND_LISTED(st, c) \
  ((c) < STATUS_COND_ALWAYS || (st)->cond[(c)].reason != NULL)

/* "Ready", "Reconciling", "Stalled", "SourceError", "DriftDetected",
 * "Suspended", "SourceUntrusted", "AwaitingApproval" */
extern const char *const status_cond_names[STATUS_COND_COUNT];

struct status_condition {
  bool status;   /* True / False */
  char *reason;  /* CamelCase word, e.g. "Applied", "InvalidManifest"; owned */
  char *message; /* one line; owned, may be NULL */
  char *since;   /* RFC 3339 UTC time the status last flipped; owned */
};

/*
 * The longest inventory id a status may hold.  Ids read from a status are
 * input (anyone who can push to the status branch writes them), so a
 * parsed status holds only ids of the form "<type>/<key>": a resource
 * type this version knows, a key of lowercase letters, digits, '.', '-'
 * and '_', at most STATUS_ID_MAX bytes in all, so that the ownership
 * marker built from one and a tenant name always fits
 * RESOURCE_MARKER_MAX.  Any other id makes the status unreadable.
 */
#define STATUS_ID_MAX 512

struct status_item {
  char *id;       /* resource id; owned */
  char *type;     /* "database", ... ; owned */
  char *provider; /* instance; owned */
  char *name;     /* external name; owned */
  char hash[17];  /* resource_spec_hash() of the applied spec */
  /* Stateful types (database, bucket): the applied deletionPolicy was
   * Delete, so pruning may delete it; otherwise it is orphaned. */
  bool prune_delete;
  /* Drift corrections in a row that did not stay corrected: the
   * convergence breaker stalls the resource at the Platform's stallAfter. */
  unsigned corrections;
};

/* A resource the convergence breaker gave up on. */
struct status_stalled {
  char *id;       /* owned */
  char *field;    /* attribute that would not converge; owned */
  char *desired;  /* JSON text; owned */
  char *observed; /* JSON text; owned */
};

struct status_error {
  char *message;  /* owned; NULL when there is no error */
  char *resource; /* resource id, or NULL; owned */
  char *path;     /* manifest path, or NULL; owned */
  uint32_t line, col;
};

struct tenant_status {
  char *tenant;      /* owned */
  char *source;      /* commit id applied, or "dir:<path>"; owned */
  char *last_change; /* RFC 3339 UTC of the last change applied; owned */
  /* The tier of the manifests the tenant runs, and what they cost a
   * month by the catalog when applied, in cents (manifest.h's prices).
   * tier NULL: not recorded yet (a status written before tenantd kept
   * it); has_cost false: the tier has no monthlyPrice. */
  char *tier; /* owned */
  bool has_cost;
  int64_t monthly_cost;
  struct status_condition cond[STATUS_COND_COUNT];
  struct status_item *inventory; /* sorted by id */
  size_t ninventory;
  struct status_stalled *stalled; /* sorted by id */
  size_t nstalled;
  struct status_error last_error;
};

struct tenant_status *tenant_status_new(const char *tenant);
void tenant_status_free(struct tenant_status *st);

/* Sets a condition; `since` changes only when `status` flips. */
void tenant_status_set(struct tenant_status *st, enum status_cond c,
                       bool status, const char *reason, const char *message,
                       const char *now);

/*
 * Adds or replaces an inventory entry (kept sorted by id) and returns it,
 * borrowed until the next put or remove, for setting prune_delete and
 * corrections (a replaced entry starts with both cleared).
 */
struct status_item *
tenant_status_inventory_put(struct tenant_status *st, const char *id,
                            const char *type, const char *provider,
                            const char *name, const char hash[17]);
/* Removes an entry; no-op when absent. */
void tenant_status_inventory_remove(struct tenant_status *st, const char *id);
/* The entry for id, or NULL.  Borrowed. */
const struct status_item *
tenant_status_inventory_find(const struct tenant_status *st, const char *id);

/* Replaces the stalled list; strings are copied, order kept by id. */
void tenant_status_stalled_clear(struct tenant_status *st);
void tenant_status_stalled_add(struct tenant_status *st, const char *id,
                               const char *field, const char *desired,
                               const char *observed);

/* The YAML text, ending in a newline; caller frees. */
char *tenant_status_format(const struct tenant_status *st);

/* The largest status text read or parsed; a status with ten thousand
 * resources is about 2 MiB. */
#define STATUS_MAX_BYTES ((size_t)16 * 1024 * 1024)

/* Parses what tenant_status_format wrote; -1 with td_error_last(). */
int tenant_status_parse(const char *text, size_t len,
                        struct tenant_status **out);
/* The same, naming `origin` (a path, "branch:path") in its errors. */
int tenant_status_parse_from(const char *origin, const char *text, size_t len,
                             struct tenant_status **out);

/* <dir>/<tenant>.yaml, written atomically (temp file, fsync, rename). */
int tenant_status_write(const char *dir, const struct tenant_status *st);
/* TD_ENOTFOUND when there is no file; -1 on other errors. */
int tenant_status_read(const char *dir, const char *tenant,
                       struct tenant_status **out);

/* Removes <dir>/<tenant>.yaml; 0 when it was not there. */
int tenant_status_remove(const char *dir, const char *tenant);

/* One status file to write (st set) or remove (st NULL). */
struct status_change {
  const char *tenant;
  const struct tenant_status *st; /* borrowed */
  int rc;                         /* out: 0, or a TD code ... */
  char error[512];                /* ... and why */
};

/*
 * Writes and removes many status files of `dir` at once, as atomically as
 * tenant_status_write() each, with two flushes in all rather than two a
 * file (fsutil.h: temp files, a flush, the renames and removals, a
 * flush).  When `dir` exists and at most FS_SYNC_FILES_FEW files are
 * written, the flushes are of those files and of `dir`, not of the
 * whole file system.  Each change's rc says how it went.
 */
void tenant_status_write_all(const char *dir, struct status_change *v,
                             size_t n);

/*
 * Where statuses are kept, as the reconciler reads them: a directory
 * (below) or the status branch (writeback.h).  The reconciler only reads;
 * whoever called it persists what it returns.
 */
struct status_store {
  /* 0, TD_ENOTFOUND when the tenant has no status, or -1 with
   * td_error_last() when it exists but cannot be read. */
  int (*read)(struct status_store *s, const char *tenant,
              struct tenant_status **out);
  /* Calls each() for every tenant that has a status; -1 on error. */
  int (*list)(struct status_store *s,
              void (*each)(const char *tenant, void *arg), void *arg);
};

struct status_dir_store {
  struct status_store base;
  const char *dir;  /* borrowed */
  bool listed_none; /* the last listing found no status */
};

/* A store over <dir>/<tenant>.yaml; listing also sweeps the temp files a
 * killed writer left.  Once a listing finds no status (or no directory),
 * reads answer TD_ENOTFOUND without touching the disk until the next
 * listing: the store is a pass's view, and the pass writes its statuses
 * only after it has read them all. */
void status_dir_store_init(struct status_dir_store *s, const char *dir);

/* Current time as RFC 3339 UTC ("2026-11-23T10:00:00Z") into buf[32]. */
void status_now(char buf[32]);

#endif
