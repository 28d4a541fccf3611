/*
 * git_fx.c - the Git suites' remote and outcomes (git_fx.h).
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "git_fx.h"
#include "suites.h"

void gfx_init(struct gfx *f)
{
  git_libgit2_init();
  snprintf(f->dir, sizeof(f->dir), "/tmp/td-git-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
  snprintf(f->remote, sizeof(f->remote), "%s/remote.git", f->dir);
  snprintf(f->url, sizeof(f->url), "file://%s", f->remote);
  snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
  ck_assert_int_eq(git_repository_init(&f->repo, f->remote, 1), 0);
}

void gfx_free(struct gfx *f)
{
  char *cmd = td_asprintf("rm -rf '%s'", f->dir);

  git_repository_free(f->repo);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
  git_libgit2_shutdown();
}

void gfx_commit(struct gfx *f, const char *msg, git_filemode_t mode,
                const char *const *files, size_t n, char id[41])
{
  git_tree_update up[16];
  git_oid parent_oid, tree_oid, oid;
  git_commit *parent = NULL;
  git_tree *base = NULL, *tree;
  git_signature *sig;

  ck_assert_uint_le(n, ARRAY_SIZE(up));
  if (git_reference_name_to_id(&parent_oid, f->repo, "refs/heads/main") == 0) {
    ck_assert_int_eq(git_commit_lookup(&parent, f->repo, &parent_oid), 0);
    ck_assert_int_eq(git_commit_tree(&base, parent), 0);
  } else {
    git_treebuilder *tb;

    ck_assert_int_eq(git_treebuilder_new(&tb, f->repo, NULL), 0);
    ck_assert_int_eq(git_treebuilder_write(&tree_oid, tb), 0);
    ck_assert_int_eq(git_tree_lookup(&base, f->repo, &tree_oid), 0);
    git_treebuilder_free(tb);
  }
  for (size_t i = 0; i < n; i++) {
    const char *content = files[2 * i + 1];

    memset(&up[i], 0, sizeof(up[i]));
    up[i].path = files[2 * i];
    up[i].action = content ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
    up[i].filemode = mode;
    if (content)
      ck_assert_int_eq(git_blob_create_from_buffer(&up[i].id, f->repo, content,
                                                   strlen(content)),
                       0);
  }
  ck_assert_int_eq(git_tree_create_updated(&tree_oid, f->repo, base, n, up), 0);
  ck_assert_int_eq(git_tree_lookup(&tree, f->repo, &tree_oid), 0);
  ck_assert_int_eq(git_signature_now(&sig, "op", "op@example.com"), 0);
  ck_assert_int_eq(git_commit_create(&oid, f->repo, "refs/heads/main", sig, sig,
                                     NULL, msg, tree, parent ? 1 : 0,
                                     (const git_commit **)&parent),
                   0);
  git_oid_tostr(id, 41, &oid);
  git_signature_free(sig);
  git_tree_free(tree);
  git_tree_free(base);
  git_commit_free(parent);
}

struct source *gfx_open(struct gfx *f)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  struct source *s;

  o.url = f->url;
  o.cache_dir = f->cache;
  ck_assert_msg(source_open(&s, &o) == 0, "%s", td_error_last());
  return s;
}

static const char *const first[] = {
    "platform.yaml",       "kind: Platform\n",
    "tenants/acme.yaml",   "kind: Tenant\n",
    "tenants/beta.yml",    "kind: Tenant\n",
    "tenants/notes.txt",   "not a manifest\n",
    "tenants/deep/x.yaml", "not at the top of tenants/\n",
    "README.md",           "hello\n",
};

void gfx_commit_first(struct gfx *f, char id[41])
{
  gfx_commit(f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, id);
}

void gfx_outcome(struct reconcile_outcome *o, const char *tenant,
                 enum tenant_result result, const char *const *events, size_t n)
{
  memset(o, 0, sizeof(*o));
  o->tenant = td_strdup(tenant);
  o->status = tenant_status_new(tenant);
  o->changed = true;
  o->result = result;
  for (size_t i = 0; i < n; i++) {
    o->events = td_realloc(o->events, (i + 1) * sizeof(*o->events));
    o->events[o->nevents++] = td_strdup(events[i]);
  }
}

/* The number a shell command prints. */
static size_t count_of(char *cmd)
{
  FILE *p = popen(cmd, "r");
  unsigned long n = 0;

  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(fscanf(p, "%lu", &n), 1);
  pclose(p);
  free(cmd);
  return n;
}

size_t gfx_packs_in(const char *objects_dir)
{
  return count_of(
      td_asprintf("ls %s/pack 2>/dev/null | grep -c '\\.pack$'", objects_dir));
}

size_t gfx_loose_in(const char *objects_dir)
{
  return count_of(td_asprintf(
      "find %s -path '*/objects/[0-9a-f][0-9a-f]/*' -type f | wc -l",
      objects_dir));
}

size_t gfx_deltas_in(const char *objects_dir)
{
  return count_of(td_asprintf(
      "for i in %s/pack/*.idx; do git verify-pack -v \"$i\"; done | "
      "awk 'NF == 7' | wc -l",
      objects_dir));
}

char *gfx_pack_names(const char *objects_dir)
{
  char *cmd = td_asprintf("ls %s/pack 2>/dev/null | grep '\\.pack$'; true",
                          objects_dir);
  FILE *p = popen(cmd, "r");
  char line[256], *out = td_strdup("");

  ck_assert_ptr_nonnull(p);
  while (fgets(line, sizeof(line), p)) {
    char *more = td_asprintf("%s%s", out, line);

    free(out);
    out = more;
  }
  pclose(p);
  free(cmd);
  return out;
}
