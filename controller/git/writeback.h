/*
 * writeback.h - status written back to Git: the status branch and notes.
 *
 * Each tenant's status is status/<tenant>.yaml on the status branch
 * (default tenantd/status).  A pass that changed anything becomes one
 * commit there:
 *
 *   reconcile acme: 2 created, 1 updated
 *
 *   acme: created database/acme.prod
 *   acme: updated service/web.prod.acme (cpu)
 *
 *   Tenantd-Source: <the manifest commit applied>
 *   Tenantd-Tenant: acme                  (one per tenant in the commit)
 *   Tenantd-Result: ready                 (the worst of them)
 *
 * and the manifest commit gets a note under refs/notes/tenantd saying how
 * it was applied, one line per tenant, merged with what earlier passes on
 * the same commit said.  A pass that changed nothing writes nothing.
 *
 * tenantd's commits are made on its own refs in the mirror and then
 * pushed; when the remote moved on (another writer), the remote's commits
 * are fetched and tenantd's are replayed on top of them, file by file, so
 * no other writer's commit is lost.  Commits that could not be pushed
 * (remote down) stay in the mirror and are replayed and pushed next time.
 *
 * The status_store of a writeback reads the mirror's status branch: the
 * inventory that authorises pruning is the one on the branch.
 */
#ifndef TD_WRITEBACK_H
#define TD_WRITEBACK_H

#include "base/compat.h"

#include "engine/reconcile.h"
#include "git/source.h"
#include "engine/status.h"

struct writeback;

/*
 * Takes the status branch and notes as last fetched by source_fetch(),
 * replaying tenantd's unpushed commits on top of them.  The source must
 * outlive the writeback.
 */
int writeback_open(struct writeback **out, struct source *src);
void writeback_close(struct writeback *wb);

/* Reads status/<tenant>.yaml at the branch's current tip. */
struct status_store *writeback_store(struct writeback *wb);

/* Calls each() for every status on the branch (st NULL when it cannot be
 * parsed; `error` says why). */
typedef void (*writeback_each_fn)(const char *tenant,
                                  const struct tenant_status *st,
                                  const char *error, void *arg);
int writeback_scan(struct writeback *wb, writeback_each_fn each, void *arg);

/* What a pass needs to know of every status, without parsing them all. */
struct status_summary {
  bool readable;     /* false: the file does not parse */
  bool ready;        /* Ready True */
  bool source_error; /* SourceError True */
  size_t ninventory;
};

/*
 * Calls each() with the summary of every status on the branch.  Summaries
 * are kept by blob id (a blob never changes, so they cannot go stale) in
 * an index that lives as long as the process and is saved in the mirror
 * for the next one: a pass over 10,000 tenants parses only the statuses
 * it has not seen.  The index also keeps the last answer with the status
 * directory it came from, and writeback_commit() updates both: after a
 * commit made here, the next call replays the summaries without reading
 * the directory.  Safe from any thread (one index, locked).
 */
typedef void (*writeback_summary_fn)(const char *tenant,
                                     const struct status_summary *sum,
                                     void *arg);
int writeback_summaries(struct writeback *wb, writeback_summary_fn each,
                        void *arg);

/*
 * What a pass over the tenants `within` (sealed; NULL: all of them) needs
 * of every other status, as writeback_summaries() would tell it: those
 * not Ready, unreadable or holding a source error go to `retry` (NULL: no
 * retries, they count as the rest do), and *outside gets the inventory
 * of the rest.  The index keeps both totals as it changes, so while every
 * other status is Ready (a fleet at rest) this costs the size of
 * `within`, not of the fleet.
 */
int writeback_summaries_outside(struct writeback *wb,
                                const struct strset *within,
                                struct strset *retry, size_t *outside);

/* Forgets the index in memory, as a new process starts without it: the
 * next call reads the mirror's file (for tests). */
void writeback_summaries_forget(void);

/* The Tenantd-Source of the newest status commit that has one; the
 * manifest commit the last changing pass applied.  TD_ENOTFOUND when the
 * branch has none. */
int writeback_last_source(struct writeback *wb, char id[SOURCE_ID_LEN]);

/*
 * Commits the changed statuses of a pass that applied `source`.  Returns 1
 * with the commit id in `id`, 0 when nothing changed, -1 on error.
 */
int writeback_commit(struct writeback *wb, const struct reconcile_report *r,
                     const char *source, char id[SOURCE_ID_LEN]);

/* Merges the pass into the note on `source`; status_commit is the
 * commit writeback_commit() made, or NULL.  1 written, 0 unchanged. */
int writeback_note(struct writeback *wb, const char *source,
                   const struct reconcile_report *r, const char *status_commit);

/* The note on `source` (caller frees), or NULL. */
char *writeback_note_read(struct writeback *wb, const char *source);

/*
 * Pushes the status branch and then the notes when they are ahead of the
 * remote, fetching and replaying on a non-fast-forward rejection (a few
 * times, then -1).  0 when the remote has everything.  The two halves
 * apart: the status branch first, so that a note can name the status
 * commit as the remote has it (replaying gives commits new ids).
 */
int writeback_push(struct writeback *wb);
int writeback_push_status(struct writeback *wb);
int writeback_push_notes(struct writeback *wb);

/* The status branch's tip (tenantd's latest commit after a push). */
int writeback_tip(struct writeback *wb, char id[SOURCE_ID_LEN]);

/* A status commit touching a tenant, for `tenantd log`. */
struct writeback_entry {
  const char *id;            /* commit id */
  int64_t time;              /* seconds since the epoch */
  const char *subject;       /* first line */
  const char *source;        /* Tenantd-Source, or "" */
  const char *result;        /* Tenantd-Result: the worst of the commit */
  const char *const *events; /* the tenant's event lines, prefix removed */
  size_t nevents;
  /* The tenant's own status as this commit left it (borrowed for the
   * call), NULL when the commit removed it (`removed`) or it cannot be
   * read. */
  const struct tenant_status *status;
  bool removed;
};

/* The commits naming `tenant` in a Tenantd-Tenant trailer, newest first,
 * at most `limit` entries (0: all). */
int writeback_log(struct writeback *wb, const char *tenant, size_t limit,
                  void (*each)(const struct writeback_entry *e, void *arg),
                  void *arg);

/* The commit message of a pass (for tests and previews); caller frees.
 * NULL when no outcome changed. */
char *writeback_message(const struct reconcile_report *r, const char *source);

#endif
