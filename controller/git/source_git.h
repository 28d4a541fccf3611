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
