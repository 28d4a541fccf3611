/*
 * The status branch: commit messages, statuses committed and read back,
 * notes merged across passes, the summaries' index, and a large commit
 * staged as one pack.  The remote is real (git_fx.h).
 */
#include "base/compat.h"

#include <git2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/strset.h"
#include "engine/reconcile.h"
#include "git/source.h"
#include "git/source_git.h"
#include "git/source_internal.h"
#include "git/writeback.h"
#include "git/writeback_internal.h"
#include "git_fx.h"
#include "suites.h"

START_TEST(writeback_message_has_subject_events_and_trailers)
{
  struct reconcile_report r = {0};
  static const char *const ev[] = {"created database/acme.prod",
                                   "updated service/web.prod.acme (cpu)"};
  static const char *const held[] = {"held: tenants/beta.yaml:7:9: bad"};
  char *msg;

  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 1;
  gfx_outcome(&r.v[0], "acme", RESULT_READY, ev, 2);
  r.v[0].count[OUT_CREATED] = 1;
  r.v[0].count[OUT_UPDATED] = 1;
  msg = writeback_message(&r, "05a131a18bbd8cee414875f84f88839a42f094e2");
  ck_assert_str_eq(msg, "reconcile acme: 1 created, 1 updated\n"
                        "\n"
                        "acme: created database/acme.prod\n"
                        "acme: updated service/web.prod.acme (cpu)\n"
                        "\n"
                        "Tenantd-Source: "
                        "05a131a18bbd8cee414875f84f88839a42f094e2\n"
                        "Tenantd-Tenant: acme\n"
                        "Tenantd-Result: ready\n");
  free(msg);

  /* Two tenants changed, one not: the worst result of those in it. */
  gfx_outcome(&r.v[1], "beta", RESULT_HELD, held, 1);
  gfx_outcome(&r.v[2], "gamma", RESULT_FAILED, NULL, 0);
  r.v[2].changed = false;
  r.n = 3;
  msg = writeback_message(&r, "05a131a18bbd8cee414875f84f88839a42f094e2");
  ck_assert_ptr_nonnull(strstr(msg, "reconcile 2 tenants: 1 created, 1 "
                                    "updated\n"));
  ck_assert_ptr_nonnull(
      strstr(msg, "beta: held: tenants/beta.yaml:7:9: bad\n"));
  ck_assert_ptr_nonnull(strstr(msg, "Tenantd-Tenant: beta\n"));
  ck_assert_ptr_null(strstr(msg, "gamma"));
  ck_assert_ptr_nonnull(strstr(msg, "Tenantd-Result: held\n"));
  free(msg);

  /* Nothing changed: no commit. */
  r.v[0].changed = r.v[1].changed = false;
  ck_assert_ptr_null(writeback_message(&r, "x"));
  reconcile_report_release(&r);
}
END_TEST

struct sums {
  size_t n, inventory;
  bool ready[4];
};

static void sum_count(const char *tenant, const struct status_summary *sum,
                      void *arg)
{
  struct sums *s = arg;

  (void)tenant;
  ck_assert(sum->readable);
  if (s->n < ARRAY_SIZE(s->ready))
    s->ready[s->n] = sum->ready;
  s->n++;
  s->inventory += sum->ninventory;
}

START_TEST(writeback_commits_and_merges_notes)
{
  struct sums sums = {0};
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  struct tenant_status *st;
  static const char *const ev[] = {"created network/acme.prod"};
  char c1[41], commit[41], *note;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  ck_assert_int_eq(writeback_last_source(wb, commit), TD_ENOTFOUND);

  r.v = td_calloc(2, sizeof(*r.v));
  r.n = 2;
  gfx_outcome(&r.v[0], "acme", RESULT_READY, ev, 1);
  r.v[0].count[OUT_CREATED] = 1;
  r.v[0].status->cond[STATUS_READY].status = true;
  gfx_outcome(&r.v[1], "beta", RESULT_FAILED, NULL, 0);
  r.v[1].status->last_error.message = td_strdup("provider down");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_int_eq(writeback_note(wb, c1, &r, commit), 1);
  /* The same pass again says nothing new. */
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 0);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "tenantd: failed\n"));
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: failed, provider down\n"));
  free(note);

  /* A later pass retries beta alone: its line is replaced, acme's kept. */
  reconcile_report_release(&r);
  r.v = td_calloc(1, sizeof(*r.v));
  r.n = 1;
  gfx_outcome(&r.v[0], "beta", RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 1);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "tenantd: ready\n"));
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: ready, no change\n"));
  ck_assert_ptr_nonnull(strstr(note, "status: "));
  free(note);

  /* A drift check over the same commit leaves "how it was applied". */
  reconcile_report_release(&r);
  r.v = td_calloc(1, sizeof(*r.v));
  r.n = 1;
  gfx_outcome(&r.v[0], "acme", RESULT_READY, NULL, 0);
  r.v[0].count[OUT_DRIFT_CORRECTED] = 1;
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 0);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  free(note);

  /* The branch holds what was committed, for the next pass to read. */
  ck_assert_int_eq(writeback_last_source(wb, commit), 0);
  ck_assert_str_eq(commit, c1);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "acme", &st),
                   0);
  ck_assert_str_eq(st->tenant, "acme");
  tenant_status_free(st);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "zed", &st),
                   TD_ENOTFOUND);
  ck_assert_int_eq(
      writeback_store(wb)->read(writeback_store(wb), "../etc", &st),
      TD_EINVALID);

  /* Summaries: parsed once, then read from the cache by blob id. */
  writeback_summaries_forget();
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]); /* acme, beta (failed) */
  {
    /* The cache lives in the mirror: change acme's count there; a scan
     * by the next process trusts it by blob id and reports that count. */
    char *cmd = td_asprintf("sed -i 's/ 110 0$/ 110 7/' %s/*.git/%s", f.cache,
                            "tenantd-summaries");

    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
  }
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.inventory, 0);
  writeback_summaries_forget();
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.inventory, 7);

  /* A commit made here: the next scan has it without reading anything;
   * a new tenant, a changed one and a removed one. */
  reconcile_report_release(&r);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  gfx_outcome(&r.v[0], "aaa", RESULT_READY, NULL, 0);
  r.v[0].status->cond[STATUS_READY].status = true;
  gfx_outcome(&r.v[1], "acme", RESULT_READY, NULL, 0);
  gfx_outcome(&r.v[2], "beta", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[2].status);
  r.v[2].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]); /* aaa, acme (no longer) */
  /* And the next process reads the same from the branch. */
  writeback_summaries_forget();
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]);
  writeback_summaries_forget();
  ck_assert_int_eq(writeback_push(wb), 0);
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/* An outcome of `tenant` whose status holds `k` inventory entries. */
static void outcome_holding(struct reconcile_outcome *o, const char *tenant,
                            bool ready, size_t k)
{
  gfx_outcome(o, tenant, ready ? RESULT_READY : RESULT_FAILED, NULL, 0);
  o->status->cond[STATUS_READY].status = ready;
  o->status->inventory = td_calloc(k + 1, sizeof(*o->status->inventory));
  for (size_t i = 0; i < k; i++) {
    struct status_item *it = &o->status->inventory[i];

    it->id = td_asprintf("network/%s.e%zu", tenant, i);
    it->type = td_strdup("network");
    it->provider = td_strdup("local");
    it->name = td_asprintf("%s-e%zu", tenant, i);
    snprintf(it->hash, sizeof(it->hash), "%016zx", i);
  }
  o->status->ninventory = k;
}

struct outside_walk {
  const struct strset *within;
  struct strset retry;
  size_t outside; /* of the Ready ones */
  size_t all;     /* of every one */
};

/* What writeback_summaries_outside() answers, found by walking every
 * summary: its oracle. */
static void walk_outside(const char *tenant, const struct status_summary *sum,
                         void *arg)
{
  struct outside_walk *w = arg;

  if (strset_has(w->within, tenant))
    return;
  w->all += sum->ninventory;
  if (!sum->readable || !sum->ready || sum->source_error)
    strset_add(&w->retry, tenant);
  else
    w->outside += sum->ninventory;
}

/* Asks for what lies outside {acme, nobody}: with retries and without,
 * each equal to the walk's answer; returns the inventory outside. */
static size_t check_outside(struct writeback *wb, const char *retried)
{
  struct strset within = STRSET_INIT, retry = STRSET_INIT;
  struct outside_walk w = {&within, STRSET_INIT, 0, 0};
  size_t outside = 99, all = 99;

  strset_add(&within, "acme");
  strset_add(&within, "nobody");
  strset_seal(&within);
  ck_assert_int_eq(writeback_summaries(wb, walk_outside, &w), 0);
  strset_seal(&w.retry);
  ck_assert_int_eq(writeback_summaries_outside(wb, &within, &retry, &outside),
                   0);
  strset_seal(&retry);
  ck_assert_uint_eq(outside, w.outside);
  ck_assert_uint_eq(retry.n, w.retry.n);
  ck_assert_uint_eq(retry.n, retried ? 1 : 0);
  if (retried)
    ck_assert_str_eq(retry.v[0], retried);
  /* Without retries, the unready count as the rest do. */
  ck_assert_int_eq(writeback_summaries_outside(wb, &within, NULL, &all), 0);
  ck_assert_uint_eq(all, w.all);
  /* A pass over every tenant has nobody outside. */
  ck_assert_int_eq(writeback_summaries_outside(wb, NULL, &retry, &all), 0);
  ck_assert_uint_eq(all, 0);
  strset_release(&within);
  strset_release(&retry);
  strset_release(&w.retry);
  return outside;
}

/* The inventory outside a pass and the tenants to retry come from totals
 * the summaries' index keeps, and agree with a walk of every status:
 * after a scan, after a commit made here (a tenant added, one changed,
 * one removed), and for the next process. */
START_TEST(summaries_keep_what_lies_outside_a_pass)
{
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  char c1[41], commit[41];

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  outcome_holding(&r.v[0], "acme", true, 3);
  outcome_holding(&r.v[1], "beta", false, 2);
  outcome_holding(&r.v[2], "gamma", true, 5);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  writeback_summaries_forget();
  /* beta is not Ready: retried; gamma's 5 lie outside. */
  ck_assert_uint_eq(check_outside(wb, "beta"), 5);

  /* beta Ready now, gamma gone, delta new: nothing to retry. */
  reconcile_report_release(&r);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  outcome_holding(&r.v[0], "beta", true, 2);
  outcome_holding(&r.v[1], "delta", true, 4);
  gfx_outcome(&r.v[2], "gamma", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[2].status);
  r.v[2].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_uint_eq(check_outside(wb, NULL), 6);
  writeback_summaries_forget();
  ck_assert_uint_eq(check_outside(wb, NULL), 6);
  writeback_summaries_forget();
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/* Each tenant's line of a note counts its own outcome, the unchanged
 * ones' too, never its neighbours'; the commit's subject counts the
 * changed ones together. */
START_TEST(writeback_note_lines_count_their_own_outcome)
{
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  char c1[41], commit[41], *note, *msg;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  gfx_outcome(&r.v[0], "acme", RESULT_READY, NULL, 0);
  r.v[0].count[OUT_CREATED] = 3;
  r.v[0].count[OUT_UPDATED] = 1;
  gfx_outcome(&r.v[1], "beta", RESULT_READY, NULL, 0);
  r.v[1].count[OUT_DELETED] = 2;
  gfx_outcome(&r.v[2], "gamma", RESULT_READY, NULL, 0);
  gfx_outcome(&r.v[3], "delta", RESULT_READY, NULL, 0);
  r.v[3].count[OUT_CREATED] = 5;
  r.v[3].changed = false;
  msg = writeback_message(&r, c1);
  ck_assert_ptr_nonnull(
      strstr(msg, "reconcile 3 tenants: 3 created, 1 updated, 2 deleted\n"));
  free(msg);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_int_eq(writeback_note(wb, c1, &r, commit), 1);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 3 created, 1 updated\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: ready, 2 deleted\n"));
  ck_assert_ptr_nonnull(strstr(note, "gamma: ready, no change\n"));
  ck_assert_ptr_nonnull(strstr(note, "delta: ready, 5 created\n"));
  free(note);
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/* A pass over `c1` of one outcome, `tenant` with `result`, `created`
 * resources created and its status `changed` or not, merged into the
 * note: writeback_note()'s answer. */
static int note_pass(struct writeback *wb, const char *c1, const char *tenant,
                     enum tenant_result result, size_t created, bool changed)
{
  struct reconcile_report r = {0};
  int rc;

  r.v = td_calloc(1, sizeof(*r.v));
  r.n = 1;
  gfx_outcome(&r.v[0], tenant, result, NULL, 0);
  r.v[0].count[OUT_CREATED] = created;
  r.v[0].changed = changed;
  rc = writeback_note(wb, c1, &r, NULL);
  reconcile_report_release(&r);
  return rc;
}

static bool note_says(struct writeback *wb, const char *c1, const char *what)
{
  char *note = writeback_note_read(wb, c1);
  bool says = note && strstr(note, what);

  free(note);
  return says;
}

/*
 * A tenant a pass found as its status already said, Ready with nothing
 * done (a paced resync's), gets no line in a note that has none for it:
 * the note is not written again, nor pushed.  A line it has is still
 * brought up to date, and anything else is noted as before.
 */
START_TEST(writeback_note_leaves_out_tenants_found_as_they_were)
{
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  char c1[41];

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  ck_assert_int_eq(note_pass(wb, c1, "acme", RESULT_READY, 1, true), 1);

  /* Resync passes: beta as it was, then acme as it was. */
  ck_assert_int_eq(note_pass(wb, c1, "beta", RESULT_READY, 0, false), 0);
  ck_assert_int_eq(note_pass(wb, c1, "acme", RESULT_READY, 0, false), 0);
  ck_assert(!note_says(wb, c1, "beta"));
  ck_assert(note_says(wb, c1, "acme: ready, 1 created\n"));

  /* Found failing, then healed: both are news for the note. */
  ck_assert_int_eq(note_pass(wb, c1, "beta", RESULT_FAILED, 0, false), 1);
  ck_assert(note_says(wb, c1, "beta: failed"));
  ck_assert_int_eq(note_pass(wb, c1, "beta", RESULT_READY, 0, false), 1);
  ck_assert(note_says(wb, c1, "beta: ready, no change\n"));

  /* A changed status, or work done, is noted even with nothing else. */
  ck_assert_int_eq(note_pass(wb, c1, "gamma", RESULT_READY, 0, true), 1);
  ck_assert_int_eq(note_pass(wb, c1, "delta", RESULT_READY, 2, false), 1);
  ck_assert(note_says(wb, c1, "gamma: ready, no change\n"));
  ck_assert(note_says(wb, c1, "delta: ready, 2 created\n"));
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/* The status entries of the branch's tip, in order, as "name=<blob>"
 * lines; and whether libgit2 builds the same tree from them. */
static char *status_entries(git_repository *repo, bool *same)
{
  git_oid tip, rebuilt;
  git_commit *c;
  git_tree *root, *dir;
  git_tree_entry *e;
  git_treebuilder *tb;
  char *out = td_strdup("");

  ck_assert_int_eq(
      git_reference_name_to_id(&tip, repo, "refs/heads/tenantd/status"), 0);
  ck_assert_int_eq(git_commit_lookup(&c, repo, &tip), 0);
  ck_assert_int_eq(git_commit_tree(&root, c), 0);
  ck_assert_int_eq(git_tree_entry_bypath(&e, root, "status"), 0);
  ck_assert_int_eq(git_tree_lookup(&dir, repo, git_tree_entry_id(e)), 0);
  ck_assert_int_eq(git_treebuilder_new(&tb, repo, NULL), 0);
  for (size_t i = 0; i < git_tree_entrycount(dir); i++) {
    const git_tree_entry *x = git_tree_entry_byindex(dir, i);
    char *more = td_asprintf("%s%s\n", out, git_tree_entry_name(x));

    free(out);
    out = more;
    ck_assert_int_eq(git_treebuilder_insert(NULL, tb, git_tree_entry_name(x),
                                            git_tree_entry_id(x),
                                            git_tree_entry_filemode(x)),
                     0);
  }
  ck_assert_int_eq(git_treebuilder_write(&rebuilt, tb), 0);
  *same = git_oid_equal(&rebuilt, git_tree_id(dir));
  git_treebuilder_free(tb);
  git_tree_free(dir);
  git_tree_entry_free(e);
  git_tree_free(root);
  git_commit_free(c);
  return out;
}

START_TEST(writeback_edits_the_status_directory_in_place)
{
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  static const char *const names[] = {"acme", "beta", "a", "zz"};
  struct tenant_status *st;
  git_repository *mirror;
  char c1[41], commit[41], *list;
  bool same = false;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(ARRAY_SIZE(names), sizeof(*r.v));
  r.n = 3;
  for (size_t i = 0; i < r.n; i++)
    gfx_outcome(&r.v[i], names[i], RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);

  /* A new tenant sorted before another it prefixes ("a-b.yaml" comes
   * before "a.yaml"), one changed, one removed, one added at the end. */
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  gfx_outcome(&r.v[0], "zz", RESULT_READY, NULL, 0);
  gfx_outcome(&r.v[1], "a-b", RESULT_READY, NULL, 0);
  gfx_outcome(&r.v[2], "acme", RESULT_FAILED, NULL, 0);
  gfx_outcome(&r.v[3], "beta", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[3].status);
  r.v[3].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);
  {
    /* The mirror, read by libgit2 alone. */
    char *cmd = td_asprintf("ls -d %s/*.git", f.cache);
    FILE *p = popen(cmd, "r");
    char line[512] = "";

    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    pclose(p);
    free(cmd);
    line[strcspn(line, "\n")] = '\0';
    ck_assert_int_eq(git_repository_open_bare(&mirror, line), 0);
  }
  list = status_entries(mirror, &same);
  ck_assert_str_eq(list, "a-b.yaml\na.yaml\nacme.yaml\nzz.yaml\n");
  ck_assert(same);
  free(list);
  /* What it holds reads back. */
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "a-b", &st),
                   0);
  ck_assert_str_eq(st->tenant, "a-b");
  tenant_status_free(st);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "beta", &st),
                   TD_ENOTFOUND);

  /* Removing every tenant leaves no directory, as libgit2 would. */
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  for (size_t i = 0; i < r.n; i++) {
    gfx_outcome(&r.v[i],
                i == 0   ? "a-b"
                : i == 1 ? "a"
                : i == 2 ? "acme"
                         : "zz",
                RESULT_READY, NULL, 0);
    tenant_status_free(r.v[i].status);
    r.v[i].status = NULL;
  }
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "a", &st),
                   TD_ENOTFOUND);
  git_repository_free(mirror);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/* A commit through wb of `n` tenants, each Ready. */
static void commit_ready(struct writeback *wb, const char *const *names,
                         size_t n, const char *source)
{
  struct reconcile_report r = {0};
  char commit[41];

  r.v = td_calloc(n, sizeof(*r.v));
  r.n = n;
  for (size_t i = 0; i < n; i++)
    gfx_outcome(&r.v[i], names[i], RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_commit(wb, &r, source, commit), 1);
  reconcile_report_release(&r);
}

static void read_back(struct writeback *wb, const char *tenant, int want)
{
  struct tenant_status *st = NULL;
  int rc = writeback_store(wb)->read(writeback_store(wb), tenant, &st);

  ck_assert_msg(rc == want, "%s: %d: %s", tenant, rc, td_error_last());
  if (rc == 0)
    ck_assert_str_eq(st->tenant, tenant);
  tenant_status_free(st);
}

/*
 * The statuses a commit wrote read back in the next pass from the copy
 * of the status directory the commit kept, without the tree parsed; and
 * from the tree once that copy is another directory's (another mirror's
 * commit here).
 */
START_TEST(writeback_reads_statuses_from_the_kept_directory)
{
  static const char *const ours[] = {"acme", "beta", "gamma"};
  static const char *const theirs[] = {"other"};
  struct gfx f, g;
  struct source *s, *t;
  struct writeback *wb, *wb2;
  git_oid dir, blob;
  char c1[41], c2[41];

  gfx_init(&f);
  gfx_init(&g);
  gfx_commit_first(&f, c1);
  gfx_commit_first(&g, c2);
  s = gfx_open(&f);
  t = gfx_open(&g);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_fetch(t), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  commit_ready(wb, ours, 2, c1);
  commit_ready(wb, ours + 2, 1, c1); /* spliced into the kept copy */
  writeback_close(wb);

  ck_assert_int_eq(writeback_open(&wb, s), 0);
  dir = writeback__status_dir_id(wb);
  ck_assert_int_eq(writeback__kept_entry(&dir, "gamma.yaml", &blob), 0);
  ck_assert_int_eq(writeback__kept_entry(&dir, "delta.yaml", &blob),
                   TD_ENOTFOUND);
  ck_assert(wb->status_tree == NULL);
  read_back(wb, "acme", 0);
  read_back(wb, "gamma", 0);
  read_back(wb, "delta", TD_ENOTFOUND);
  ck_assert(wb->status_tree == NULL);

  /* Another directory kept now (g's second commit: its first had no
   * directory to splice into): wb reads its own from its tree. */
  ck_assert_int_eq(writeback_open(&wb2, t), 0);
  commit_ready(wb2, theirs, 1, c2);
  commit_ready(wb2, theirs, 1, c2);
  ck_assert_int_eq(writeback__kept_entry(&dir, "gamma.yaml", &blob), 1);
  read_back(wb, "beta", 0);
  read_back(wb, "delta", TD_ENOTFOUND);
  ck_assert(wb->status_tree != NULL);
  read_back(wb2, "other", 0);
  read_back(wb2, "acme", TD_ENOTFOUND);
  writeback_close(wb2);
  writeback_close(wb);
  source_close(t);
  source_close(s);
  gfx_free(&g);
  gfx_free(&f);
}
END_TEST

/* A pass's report of `n` tenants t00000.., each changed, from `from`. */
static void many_outcomes(struct reconcile_report *r, size_t from, size_t n,
                          const char *tag)
{
  r->v = td_calloc(n, sizeof(*r->v));
  r->n = n;
  for (size_t i = 0; i < n; i++) {
    char name[16];

    snprintf(name, sizeof(name), "t%05zu", from + i);
    gfx_outcome(&r->v[i], name, RESULT_READY, NULL, 0);
    r->v[i].status->last_error.message = td_strdup(tag);
  }
}

/* The status branch's tip in `repo` holds each status of `r`, as
 * formatted, and its root tree is `*root` (set when zero). */
static void holds_statuses(git_repository *repo,
                           const struct reconcile_report *r, git_oid *root)
{
  git_oid tip;
  git_commit *c;
  git_tree *tree;

  ck_assert_int_eq(
      git_reference_name_to_id(&tip, repo, "refs/heads/tenantd/status"), 0);
  ck_assert_int_eq(git_commit_lookup(&c, repo, &tip), 0);
  ck_assert_int_eq(git_commit_tree(&tree, c), 0);
  if (git_oid_is_zero(root))
    *root = *git_tree_id(tree);
  ck_assert(git_oid_equal(root, git_tree_id(tree)));
  for (size_t i = 0; i < r->n; i++) {
    char *path = td_asprintf("status/%s.yaml", r->v[i].tenant);
    char *text = tenant_status_format(r->v[i].status);
    git_tree_entry *e;
    git_blob *b;

    ck_assert_int_eq(git_tree_entry_bypath(&e, tree, path), 0);
    ck_assert_int_eq(git_blob_lookup(&b, repo, git_tree_entry_id(e)), 0);
    ck_assert_uint_eq(git_blob_rawsize(b), strlen(text));
    ck_assert(memcmp(git_blob_rawcontent(b), text, strlen(text)) == 0);
    git_blob_free(b);
    git_tree_entry_free(e);
    free(text);
    free(path);
  }
  git_tree_free(tree);
  git_commit_free(c);
}

#define MANY (SOURCE_LOOSE_MAX + 52)

/* The file of the one pack named in `names` (as gfx_pack_names gives
 * them) under objects_dir: its device and inode. */
static struct stat pack_file(const char *objects_dir, const char *names)
{
  char *path = td_asprintf("%s/pack/%.*s", objects_dir,
                           (int)strcspn(names, "\n"), names);
  struct stat st;

  ck_assert_int_eq(stat(path, &st), 0);
  free(path);
  return st;
}

/* Commits MANY statuses through f's mirror and pushes them:
 * the remote then holds every status, and exactly one pack more, the
 * one the commit staged in the mirror (a pack is named by its
 * checksum).  Returns the mirror's pack file and sets *remote_st to the
 * remote's. */
static struct stat push_staged(struct gfx *f, struct stat *remote_st)
{
  struct reconcile_report r = {0};
  struct source *s;
  struct writeback *wb;
  git_oid root = {{0}};
  char c1[41], commit[41], *objects, *remote, *staged, *pushed;
  struct stat mirror_st;
  size_t had;

  gfx_commit_first(f, c1);
  s = gfx_open(f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  remote = td_asprintf("%s/objects", f->remote);
  many_outcomes(&r, 0, MANY, "staged");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  staged = gfx_pack_names(objects);
  ck_assert_uint_eq(gfx_packs_in(objects), 1);
  had = gfx_packs_in(remote);
  ck_assert_int_eq(writeback_push(wb), 0);
  pushed = gfx_pack_names(remote);
  ck_assert_uint_eq(gfx_packs_in(remote), had + 1);
  ck_assert_ptr_nonnull(strstr(pushed, staged));
  holds_statuses(f->repo, &r, &root);
  mirror_st = pack_file(objects, staged);
  *remote_st = pack_file(remote, staged);
  reconcile_report_release(&r);
  free(pushed);
  free(staged);
  free(remote);
  free(objects);
  writeback_close(wb);
  source_close(s);
  return mirror_st;
}

/*
 * The pushed pack is the mirror's own file, linked: it is never indexed
 * a second time.  Where it cannot be linked (the mirror on another file
 * system: tmpfs), it is indexed into the remote, under the same name.
 */
START_TEST(writeback_push_links_the_staged_pack)
{
  struct gfx f, g;
  struct stat m, r;
  char shm[] = "/dev/shm/td-mirror-XXXXXX";
  char *cmd;

  gfx_init(&f);
  m = push_staged(&f, &r);
  ck_assert_uint_eq(m.st_dev, r.st_dev);
  ck_assert_uint_eq(m.st_ino, r.st_ino);
  ck_assert_uint_eq(r.st_nlink, 2);
  gfx_free(&f);

  gfx_init(&g);
  ck_assert_ptr_nonnull(mkdtemp(shm));
  snprintf(g.cache, sizeof(g.cache), "%s", shm);
  m = push_staged(&g, &r);
  /* Two file systems, or this case proves nothing. */
  ck_assert_uint_ne(m.st_dev, r.st_dev);
  ck_assert_uint_eq(r.st_nlink, 1);
  ck_assert_uint_eq(m.st_size, r.st_size);
  cmd = td_asprintf("rm -rf '%s'", shm);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
  gfx_free(&g);
}
END_TEST

/*
 * A commit of thousands of statuses lands in the mirror as one pack
 * (nothing loose), holds the same tree as the same statuses committed a
 * few at a time (written loose), and is pushed as that same pack.
 */
START_TEST(writeback_stages_a_large_commit_as_one_pack)
{
  struct gfx f, g;
  struct source *s, *t;
  struct writeback *wb, *wb2;
  struct reconcile_report r = {0}, part = {0};
  git_oid root = {{0}}, root2 = {{0}};
  char c1[41], c2[41], commit[41], *objects, *before, *after, *fresh, *cmd;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  before = gfx_pack_names(objects);
  ck_assert_uint_eq(gfx_loose_in(objects), 10);
  many_outcomes(&r, 0, MANY, "staged");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_uint_eq(gfx_loose_in(objects), 10);
  after = gfx_pack_names(objects);
  ck_assert_uint_eq(gfx_packs_in(objects), 1);
  ck_assert_str_eq(before, "");
  holds_statuses(source_repo(s), &r, &root);
  ck_assert_int_eq(writeback_push(wb), 0);
  /* The remote has the pack the mirror has, byte for byte (a pack is
   * named by its checksum), and reads the same. */
  cmd = td_asprintf("%s/objects", f.remote);
  fresh = gfx_pack_names(cmd);
  free(cmd);
  ck_assert_ptr_nonnull(strstr(fresh, after));
  holds_statuses(f.repo, &r, &root);
  free(fresh);

  /* The same statuses a few at a time: written loose, the same tree. */
  gfx_init(&g);
  gfx_commit_first(&g, c2);
  t = gfx_open(&g);
  ck_assert_int_eq(source_fetch(t), 0);
  ck_assert_int_eq(writeback_open(&wb2, t), 0);
  for (size_t from = 0; from < MANY; from += MANY / 4 + 1) {
    size_t n = from + MANY / 4 + 1 > MANY ? MANY - from : MANY / 4 + 1;

    many_outcomes(&part, from, n, "staged");
    ck_assert_int_eq(writeback_commit(wb2, &part, c1, commit), 1);
    reconcile_report_release(&part);
  }
  holds_statuses(source_repo(t), &r, &root2);
  ck_assert(git_oid_equal(&root, &root2));
  reconcile_report_release(&r);
  free(before);
  free(after);
  free(objects);
  writeback_close(wb2);
  source_close(t);
  gfx_free(&g);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/*
 * A staged commit that cannot be made (its signing key is missing) fails
 * whole: the branch stays where it was and nothing is left in the mirror;
 * with the key fixed, the same statuses commit.  A later commit not yet
 * pushed with it goes in a pack of the push's own making: the remote has
 * everything.
 */
START_TEST(writeback_staged_commit_fails_whole)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  struct gfx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0}, more = {0};
  git_oid root = {{0}};
  char c1[41], commit[41], *objects, *packs;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  o.url = f.url;
  o.cache_dir = f.cache;
  o.signing_key = "/nonexistent/tenantd-key";
  ck_assert_int_eq(source_open(&s, &o), 0);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  many_outcomes(&r, 0, MANY, "first try");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "signingKey"));
  ck_assert_int_eq(writeback_tip(wb, commit), TD_ENOTFOUND);
  ck_assert_uint_eq(gfx_loose_in(objects), 10);
  packs = gfx_pack_names(objects);
  ck_assert_str_eq(packs, "");
  free(packs);
  writeback_close(wb);
  source_close(s);

  s = gfx_open(&f);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  holds_statuses(source_repo(s), &r, &root);

  /* One more commit on top, then the push of both. */
  many_outcomes(&more, 7, 1, "second");
  ck_assert_int_eq(writeback_commit(wb, &more, c1, commit), 1);
  ck_assert_int_eq(writeback_push(wb), 0);
  memset(&root, 0, sizeof(root));
  holds_statuses(source_repo(s), &more, &root);
  holds_statuses(f.repo, &more, &root);
  reconcile_report_release(&more);
  reconcile_report_release(&r);
  free(objects);
  writeback_close(wb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

Suite *make_suite_writeback(void)
{
  Suite *s = suite_create("writeback");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, writeback_message_has_subject_events_and_trailers);
  tcase_add_test(tc, writeback_commits_and_merges_notes);
  tcase_add_test(tc, summaries_keep_what_lies_outside_a_pass);
  tcase_add_test(tc, writeback_note_lines_count_their_own_outcome);
  tcase_add_test(tc, writeback_note_leaves_out_tenants_found_as_they_were);
  tcase_add_test(tc, writeback_edits_the_status_directory_in_place);
  tcase_add_test(tc, writeback_reads_statuses_from_the_kept_directory);
  tcase_add_test(tc, writeback_stages_a_large_commit_as_one_pack);
  tcase_add_test(tc, writeback_push_links_the_staged_pack);
  tcase_add_test(tc, writeback_staged_commit_fails_whole);
  suite_add_tcase(s, tc);
  return s;
}
