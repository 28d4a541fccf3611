/*
 * source_git.h - the libgit2 side of a source, for the modules that work
 * on the mirror (writeback.c).  Nothing else includes git2.h.
 */
#ifndef TD_SOURCE_GIT_H
#define TD_SOURCE_GIT_H

#include "base/compat.h"

#include <git2.h>

#include "git/source.h"

git_repository *source_repo(struct source *s);

/* td_error() with libgit2's last message, credentials redacted. */
int source_git_error(struct source *s, const char *what);

/* Fetches exactly these refspecs ("+src:dst"). */
int source_fetch_refspecs(struct source *s, const char *const *specs, size_t n);

/*
 * Pushes these refspecs ("src:dst", never forced).  TD_ECONFLICT when the
 * remote moved on (a non-fast-forward): fetch, rebuild and try again.
 */
int source_push(struct source *s, const char *const *specs, size_t n);

/*
 * Staging: the objects of a commit of thousands of new files, kept in
 * memory and landed in the mirror as one pack.  Written loose, each
 * file is compressed and created on its own, then read back and packed
 * again for the push; staged, it is packed once, and the pack is kept
 * for the next push of the commit, which hands it as it is to a
 * repository on this machine (source_internal.h).
 *
 *   source_stage_begin(s, nfiles, &repo);  -- where to write the objects
 *   ... blobs, trees, the commit, written in repo ...
 *   source_stage_land(s, &commit);  -- into the mirror, before any ref
 *   source_stage_end(s);            -- always; drops what is not landed
 *
 * For a few files, or too many to stage, repo is the mirror itself and
 * landing does nothing.  Objects in repo that the commit does not reach
 * are dropped, as are all of them when it is not landed: a ref may name
 * the commit only once landing returned 0.
 */
int source_stage_begin(struct source *s, size_t nfiles, git_repository **repo);
int source_stage_land(struct source *s, const git_oid *commit);
void source_stage_end(struct source *s);

/* A signature for commits tenantd makes, dated now; caller frees. */
int source_signature(struct source *s, git_signature **out);

/* Parses a hex commit id and looks the commit up. */
int source_lookup_commit(struct source *s, const char *id, git_commit **out);

/*
 * The entry of `tree` named `name`, or NULL, for a caller walking another
 * tree sorted alike that mostly holds the same names: the entry at `*at`,
 * then the next (a name the other tree dropped), is tried before a
 * search; `*at` (0 at first) moves past what is found.
 */
const git_tree_entry *source_entry_near(const git_tree *tree, size_t *at,
                                        const char *name);

#endif
