/*
 * writeback_internal.h - shared by writeback.c (the status branch: store,
 * history, commits, push), writeback_notes.c (the notes on manifest
 * commits), statusmsg.c (commit messages), summaries.c (the index of
 * status summaries kept between passes) and statustree.c (the status
 * directory's tree, kept between passes).
 */
#ifndef TD_WRITEBACK_INTERNAL_H
#define TD_WRITEBACK_INTERNAL_H

#include "base/compat.h"

#include <git2.h>

#include "engine/status.h"
#include "git/writeback.h"

#define STATUS_DIR "status"

struct writeback {
  struct status_store store;
  struct source *src;
  git_repository *repo;
  char *local_ref;  /* refs/heads/<status branch> */
  char *remote_ref; /* refs/remotes/origin/<status branch> */
  char *fetch_spec[2];
  git_tree *tree; /* status branch tip's tree, NULL when there is none */
  /* Its status/ directory's id, zeros when there is none; the tree is
   * parsed (once, not per tenant) only when something walks it: a read
   * of a few statuses after a commit finds them in statustree.c's copy.
   * Use writeback__status_dir(). */
  git_oid status_id;
  git_tree *status_tree;
};

/* writeback.c's helpers for writeback_notes.c: a ref's target (false
 * when there is none); a ref set, with a message naming it on failure;
 * a commit made, signed with status.signingKey when there is one, in
 * the repository `tree` belongs to. */
bool writeback__ref_oid(git_repository *repo, const char *name, git_oid *out);
int writeback__set_ref(struct writeback *wb, const char *name,
                       const git_oid *oid, const char *why);
int writeback__make_commit(struct writeback *wb, git_oid *out,
                           const git_signature *author,
                           const git_signature *committer, const char *msg,
                           git_tree *tree, size_t nparents,
                           const git_commit **parents);

/* The id of the status directory, or zeros when there is none. */
static inline git_oid writeback__status_dir_id(const struct writeback *wb)
{
  return wb->status_id;
}

/* The status directory's tree: 0 and *out (NULL when there is none), or
 * negative with a message. */
int writeback__status_dir(struct writeback *wb, git_tree **out);

/* Calls fn for each status file of the status directory, by tenant. */
int writeback__each_entry(struct writeback *wb,
                          void (*fn)(struct writeback *wb, const char *tenant,
                                     const git_tree_entry *e, void *arg),
                          void *arg);

/* The status of `tenant` stored as the blob `blob_id`: 0, or negative
 * with a message, *out then NULL. */
int writeback__read_blob_status(struct writeback *wb, const char *tenant,
                                const git_oid *blob_id,
                                struct tenant_status **out);

/* A commit made here of `n` statuses: tenant[i] written (st[i], as the
 * blob up[i].id) or removed (st[i] NULL), on the status directory
 * `before`; the summaries learn them. */
void writeback__sums_committed(struct writeback *wb, const git_oid *before,
                               const char *const *tenant,
                               const struct tenant_status *const *st,
                               const git_tree_update *up, size_t n);

/* statusmsg.c: "2 created, 1 updated" over the changed outcomes, or over
 * `only`'s alone; "" when none.  A note has a line for each of up to ten
 * thousand tenants, so a line's counts are its outcome's, not a scan of
 * the report. */
void writeback__counts_text(const struct reconcile_report *r,
                            const struct reconcile_outcome *only, char *buf,
                            size_t cap);

/*
 * statustree.c: the new root tree of a commit of `n` updates of status
 * files (paths "status/<tenant>.yaml", as git_tree_create_updated()
 * takes them) on wb's tree, written in `repo` (the mirror or a stage of
 * it, source_git.h), into *out.  TD_ENOTFOUND when this way does
 * not apply (no status directory yet, one that holds anything but files,
 * or one the updates empty): the caller builds it with libgit2 then.
 */
int writeback__tree_updated(struct writeback *wb, git_repository *repo,
                            const git_tree_update *up, size_t n, git_oid *out);

/* statustree.c: the blob of `name` ("<tenant>.yaml") in the status
 * directory `dir`, when the kept copy is of `dir`: 0 with *blob,
 * TD_ENOTFOUND when it has no such file; 1 when the kept copy cannot
 * say (it is of another directory): the caller reads the tree then. */
int writeback__kept_entry(const git_oid *dir, const char *name, git_oid *blob);

#endif
