/*
 * git_fx.h - what the Git suites (test_git.c, test_writeback.c) share: a
 * remote made with libgit2 in a temp dir, fetched over file://, and a
 * pass's outcome for a tenant.
 */
#ifndef TD_TEST_GIT_FX_H
#define TD_TEST_GIT_FX_H

#include "base/compat.h"

#include <git2.h>

#include "engine/reconcile.h"
#include "git/source.h"

struct gfx {
  char dir[64];
  char remote[128], url[160], cache[128];
  git_repository *repo;
};

void gfx_init(struct gfx *f);
void gfx_free(struct gfx *f);

/* Commits on refs/heads/main: pairs of (path, content or NULL to remove),
 * with `mode` for every file; returns the commit id. */
void gfx_commit(struct gfx *f, const char *msg, git_filemode_t mode,
                const char *const *files, size_t n, char id[41]);

/* The first commit most tests start from: a platform, two tenants, and
 * files that are not manifests (a text file, a tenant too deep, a
 * README). */
void gfx_commit_first(struct gfx *f, char id[41]);

/* The remote, opened as a source with its mirror in f->cache. */
struct source *gfx_open(struct gfx *f);

/* A pass's changed outcome of `tenant`, with a new status and `events`. */
void gfx_outcome(struct reconcile_outcome *o, const char *tenant,
                 enum tenant_result result, const char *const *events,
                 size_t n);

/* Packs, loose objects, objects stored as deltas (by git verify-pack),
 * and the packs' names (one a line; malloc'd) under objects_dir. */
size_t gfx_packs_in(const char *objects_dir);
size_t gfx_loose_in(const char *objects_dir);
size_t gfx_deltas_in(const char *objects_dir);
char *gfx_pack_names(const char *objects_dir);

#endif
