/*
 * writeback_notes.c - the note on each manifest commit under
 * refs/notes/tenantd: whether and how it was applied, a line for each
 * tenant a pass had news of, merged over the passes on that commit.
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "git/source_git.h"
#include "git/writeback.h"
#include "git/writeback_internal.h"

/*
 * With status.signingKey, the notes commit libgit2 made (unsigned, on no
 * ref) is made again, signed: the same tree, parent, author and message.
 * So `git verify-commit refs/notes/tenantd` checks like the status
 * branch.  *oid becomes the signed commit's.
 */
static int sign_notes(struct writeback *wb, git_oid *oid)
{
  git_commit *c = NULL, *parent = NULL;
  git_tree *tree = NULL;
  const git_commit *parents[1];
  int rc;

  if (!source_options(wb->src)->signing_key)
    return 0;
  if (git_commit_lookup(&c, wb->repo, oid) < 0 ||
      git_commit_tree(&tree, c) < 0 ||
      (git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) < 0)) {
    rc = source_git_error(wb->src, "note");
    goto out;
  }
  parents[0] = parent;
  rc = writeback__make_commit(wb, oid, git_commit_author(c),
                              git_commit_committer(c), git_commit_message(c),
                              tree, parent ? 1 : 0, parents);
out:
  git_tree_free(tree);
  git_commit_free(parent);
  git_commit_free(c);
  return rc;
}

/* Note lines "<tenant>: ...", kept sorted by tenant (the text before the
 * first ':'): a note on a commit that touched every tenant has a line for
 * each of ten thousand, and a pass looks up only its own. */
struct note_lines {
  char **v;
  size_t n, alloc;
};

static enum tenant_result line_result(const char *line);

/* The first line whose tenant is not below `line`'s; *found when equal. */
static size_t note_find(const struct note_lines *nl, const char *line,
                        bool *found)
{
  size_t klen = strcspn(line, ":"), lo = 0, hi = nl->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *other = nl->v[mid];
    size_t olen = strcspn(other, ":");
    int c = memcmp(other, line, olen < klen ? olen : klen);

    if (c == 0)
      c = olen < klen ? -1 : olen > klen;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < nl->n && strcspn(nl->v[lo], ":") == klen &&
           memcmp(nl->v[lo], line, klen) == 0;
  return lo;
}

/*
 * Puts a tenant's line; takes `line`.  A line saying the commit was
 * applied (ready) stands: later passes over the same commit are drift
 * checks, whose story is on the status branch.  Any other line is
 * replaced, so a retry that finally applies the commit says so.  Returns
 * whether the note changed.
 */
static bool note_put(struct note_lines *nl, char *line, bool replace_ready)
{
  bool found;
  size_t i = note_find(nl, line, &found);

  if (found) {
    if ((!replace_ready && line_result(nl->v[i]) == RESULT_READY) ||
        strcmp(nl->v[i], line) == 0) {
      free(line);
      return false;
    }
    free(nl->v[i]);
    nl->v[i] = line;
    return true;
  }
  if (nl->n == nl->alloc) {
    nl->alloc = nl->alloc ? 2 * nl->alloc : 64;
    nl->v = td_realloc(nl->v, nl->alloc * sizeof(*nl->v));
  }
  memmove(&nl->v[i + 1], &nl->v[i], (nl->n - i) * sizeof(*nl->v));
  nl->v[i] = line;
  nl->n++;
  return true;
}

/* Whether the note has a line for `tenant`. */
static bool note_has(const struct note_lines *nl, const char *tenant)
{
  char *key = td_asprintf("%s:", tenant);
  bool found;

  note_find(nl, key, &found);
  free(key);
  return found;
}

/*
 * An outcome that says nothing about the commit: the tenant was found
 * Ready as its status already said, and nothing was done to it (a paced
 * resync's, or a retry's of nothing).  Noted on a commit without a line
 * for its tenant, every resync pass after a commit rewrote that commit's
 * note and pushed it: at 10,000 tenants one a second, for the hour the
 * resync takes to go round, the note growing to 10,000 lines.
 */
static bool found_as_it_was(const struct reconcile_outcome *o)
{
  if (o->changed || o->result != RESULT_READY)
    return false;
  for (size_t k = 0; k < OUT_COUNT_MAX; k++)
    if (o->count[k])
      return false;
  return true;
}

static int line_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A line of an earlier note, and where it was in it. */
struct old_line {
  char *line;
  size_t seq;
};

static int old_line_cmp(const void *pa, const void *pb)
{
  const struct old_line *a = pa, *b = pb;
  size_t al = strcspn(a->line, ":"), bl = strcspn(b->line, ":");
  int c = memcmp(a->line, b->line, al < bl ? al : bl);

  if (c == 0)
    c = al < bl ? -1 : al > bl;
  if (c == 0)
    c = a->seq < b->seq ? -1 : a->seq > b->seq;
  return c;
}

/* An earlier note's lines, sorted by tenant; of a tenant's lines (a hand
 * edit may repeat one) the last stands, as if each were put in turn. */
static void note_take_old(struct note_lines *nl, struct old_line *v, size_t n)
{
  if (n > 1)
    qsort(v, n, sizeof(*v), old_line_cmp);
  nl->v = td_calloc(n ? n : 1, sizeof(*nl->v));
  nl->alloc = n ? n : 1;
  for (size_t i = 0; i < n; i++) {
    bool last = i + 1 == n ||
                strcspn(v[i].line, ":") != strcspn(v[i + 1].line, ":") ||
                memcmp(v[i].line, v[i + 1].line, strcspn(v[i].line, ":")) != 0;

    if (last)
      nl->v[nl->n++] = v[i].line;
    else
      free(v[i].line);
  }
}

/* "acme: ready, 2 created" -> the result's rank (unknown words: ready). */
static enum tenant_result line_result(const char *line)
{
  const char *p = strchr(line, ':');
  size_t n;

  if (!p)
    return RESULT_READY;
  p += 2;
  n = strcspn(p, ",:");
  for (int k = 0; k < RESULT_COUNT; k++)
    if (strlen(tenant_result_names[k]) == n &&
        strncmp(p, tenant_result_names[k], n) == 0)
      return (enum tenant_result)k;
  return RESULT_READY;
}

static char *outcome_line(const struct reconcile_report *r,
                          const struct reconcile_outcome *o)
{
  char counts[512];

  writeback__counts_text(r, o, counts, sizeof(counts));
  if (o->result == RESULT_HELD || o->result == RESULT_REFUSED ||
      o->result == RESULT_FAILED) {
    const char *why = o->status && o->status->last_error.message
                          ? o->status->last_error.message
                          : (o->nevents ? o->events[o->nevents - 1] : "");

    if (o->status && o->status->last_error.path)
      return td_asprintf("%s: %s, %s:%u:%u: %s", o->tenant,
                         tenant_result_names[o->result],
                         o->status->last_error.path, o->status->last_error.line,
                         o->status->last_error.col, why);
    return td_asprintf("%s: %s, %s", o->tenant, tenant_result_names[o->result],
                       why);
  }
  return td_asprintf("%s: %s, %s", o->tenant, tenant_result_names[o->result],
                     *counts ? counts : "no change");
}

char *writeback_note_read(struct writeback *wb, const char *source)
{
  git_oid notes_oid, target;
  git_commit *notes = NULL;
  git_note *note = NULL;
  char *text = NULL;

  if (!writeback__ref_oid(wb->repo, SOURCE_NOTES_REF, &notes_oid) ||
      git_oid_fromstr(&target, source) < 0 ||
      git_commit_lookup(&notes, wb->repo, &notes_oid) < 0)
    return NULL;
  if (git_note_commit_read(&note, wb->repo, notes, &target) == 0)
    text = td_strdup(git_note_message(note));
  git_note_free(note);
  git_commit_free(notes);
  return text;
}

int writeback_note(struct writeback *wb, const char *source,
                   const struct reconcile_report *r, const char *status_commit)
{
  struct note_lines nl = {0};
  struct old_line *old_lines = NULL;
  size_t nold = 0, old_alloc = 0;
  char *old = writeback_note_read(wb, source);
  char *lines = old ? td_strdup(old) : NULL; /* tokenised below */
  char *status_line = NULL, *text = NULL, *save = NULL;
  struct {
    char *p;
    size_t n;
  } m = {0};
  FILE *f;
  enum tenant_result w = RESULT_READY;
  bool changed = false;
  git_oid notes_oid, target, new_notes, blob;
  git_commit *parent = NULL;
  git_signature *sig = NULL;
  int rc = 0;

  /* What earlier passes on this commit said, then this pass over it. */
  for (char *line = lines ? strtok_r(lines, "\n", &save) : NULL; line;
       line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "tenantd: ", 9) == 0 || line[0] == '(')
      continue;
    if (strncmp(line, "status: ", 8) == 0) {
      free(status_line);
      status_line = td_strdup(line);
    } else if (strchr(line, ':')) {
      if (nold == old_alloc) {
        old_alloc = old_alloc ? 2 * old_alloc : 64;
        old_lines = td_realloc(old_lines, old_alloc * sizeof(*old_lines));
      }
      old_lines[nold].line = td_strdup(line);
      old_lines[nold].seq = nold;
      nold++;
    }
  }
  note_take_old(&nl, old_lines, nold);
  free(old_lines);
  for (size_t i = 0; i < r->n; i++) {
    if (found_as_it_was(&r->v[i]) && !note_has(&nl, r->v[i].tenant))
      continue;
    changed |= note_put(&nl, outcome_line(r, &r->v[i]), false);
  }
  if (status_commit && (changed || !status_line)) {
    free(status_line);
    status_line = td_asprintf("status: %s (%s)", status_commit,
                              source_options(wb->src)->status_branch);
  }
  if (nl.n)
    qsort(nl.v, nl.n, sizeof(*nl.v), line_cmp);
  for (size_t i = 0; i < nl.n; i++)
    if (line_result(nl.v[i]) > w)
      w = line_result(nl.v[i]);

  f = open_memstream(&m.p, &m.n);
  fprintf(f, "tenantd: %s\n", tenant_result_names[w]);
  if (status_line)
    fprintf(f, "%s\n", status_line);
  for (size_t i = 0; i < nl.n; i++)
    fprintf(f, "%s\n", nl.v[i]);
  if (!nl.n)
    fputs("(no tenant affected)\n", f);
  fclose(f);
  text = m.p;

  if (old && strcmp(old, text) == 0)
    goto out; /* says nothing new */
  if (git_oid_fromstr(&target, source) < 0) {
    rc = td_error("'%.64s' is not a commit id", source);
    goto out;
  }
  if (writeback__ref_oid(wb->repo, SOURCE_NOTES_REF, &notes_oid) &&
      git_commit_lookup(&parent, wb->repo, &notes_oid) < 0) {
    rc = source_git_error(wb->src, SOURCE_NOTES_REF);
    goto out;
  }
  if (source_signature(wb->src, &sig) < 0) {
    rc = -1;
    goto out;
  }
  if (git_note_commit_create(&new_notes, &blob, wb->repo, parent, sig, sig,
                             &target, text, 1) < 0) {
    rc = source_git_error(wb->src, "note");
    goto out;
  }
  rc = sign_notes(wb, &new_notes);
  if (rc == 0)
    rc = writeback__set_ref(wb, SOURCE_NOTES_REF, &new_notes, "tenantd: note");
  if (rc == 0)
    rc = 1;
out:
  git_signature_free(sig);
  git_commit_free(parent);
  for (size_t i = 0; i < nl.n; i++)
    free(nl.v[i]);
  free(nl.v);
  free(status_line);
  free(lines);
  free(old);
  free(text);
  return rc;
}
