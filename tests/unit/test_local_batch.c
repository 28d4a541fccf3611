/*
 * The local provider's batches: writes of a turn share a flush, writes
 * prepared while a flush runs wait for the next, reads go in batches;
 * each call still gets its own answer, exactly once.
 */
#include "base/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "providers/local/local.h"
#include "local_fx.h"
#include "suites.h"

/* Names of the files in `dir` that start with '.' (temp files). */
static size_t dot_files(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n = 0;

  while (d && (de = readdir(d)) != NULL)
    if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
        strcmp(de->d_name, "..") != 0)
      n++;
  if (d)
    closedir(d);
  return n;
}

/*
 * Writes of one turn go to disk together (two flushes a group); each
 * still gets its own answer: creates, an update, a removal, a create
 * refused for another resource's file, a removal of a missing file.  No
 * temp file is left behind, and every file is whole.
 */
START_TEST(batched_writes_keep_their_results)
{
  enum { N = 40 };
  struct fx f;
  struct resource *rs[N], *mine, *theirs, *gone;
  struct res xs[N], xu = {0}, xr = {0}, xc = {0}, xg = {0};
  char *dir;

  fx_init(&f);
  fx_open(&f, NULL);
  mine = service("acme", "service/mine.acme", "mine-acme", 90);
  ck_assert_int_eq(run_op(&f, CREATE, mine, NULL, &xu), PROVIDER_OK);
  res_release(&xu);
  theirs = service("beta", "service/theirs.beta", "mine-acme", 91);
  gone = service("acme", "service/gone.acme", "gone-acme", 92);
  memset(xs, 0, sizeof(xs));
  for (int i = 0; i < N; i++) {
    char id[64], name[64];

    snprintf(id, sizeof(id), "service/b%d.acme", i);
    snprintf(name, sizeof(name), "b%d-acme", i);
    rs[i] = service("acme", id, name, 2000 + i);
    START(provider_create(f.p, rs[i], rs[i]->spec, on_res, &xs[i]));
  }
  START(provider_update(f.p, mine, mine->spec, on_res, &xu));
  START(provider_create(f.p, theirs, theirs->spec, on_res, &xc));
  START(provider_remove(f.p, gone, on_res, &xg));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < N; i++) {
    char *path = state_path(&f, "service", rs[i]->name);
    char *text = NULL;
    size_t len = 0;
    json_t *state;

    ck_assert_int_eq(xs[i].status, PROVIDER_OK);
    ck_assert_int_eq(fs_read_capped(path, LOCAL_STATE_MAX, &text, &len), 0);
    state = json_loadb(text, len, 0, NULL);
    ck_assert(json_equal(json_object_get(state, "spec"), rs[i]->spec));
    ck_assert(json_equal(state, xs[i].observed));
    json_decref(state);
    free(text);
    free(path);
    res_release(&xs[i]);
    resource_free(rs[i]);
  }
  ck_assert_int_eq(xu.status, PROVIDER_OK);
  ck_assert_int_eq(xc.status, PROVIDER_CONFLICT);
  ck_assert_int_eq(xg.status, PROVIDER_NOT_FOUND);
  /* Then a removal in a batch of its own. */
  ck_assert_int_eq(run_op(&f, REMOVE, mine, NULL, &xr), PROVIDER_OK);
  dir = td_asprintf("%s/service", f.dir);
  ck_assert_uint_eq(dot_files(dir), 0);
  free(dir);
  res_release(&xu);
  res_release(&xr);
  res_release(&xc);
  res_release(&xg);
  resource_free(mine);
  resource_free(theirs);
  resource_free(gone);
  fx_release(&f);
}
END_TEST

#define NCONC 200

START_TEST(many_concurrent_creates)
{
  struct fx f;
  struct resource **rs = td_calloc(NCONC, sizeof(*rs));
  struct res *xs = td_calloc(NCONC, sizeof(*xs));

  fx_init(&f);
  fx_open(&f, NULL);
  for (int i = 0; i < NCONC; i++) {
    char id[64], name[64];

    snprintf(id, sizeof(id), "service/s%d.acme", i);
    snprintf(name, sizeof(name), "s%d-acme", i);
    rs[i] = service("acme", id, name, 1000 + i);
    START(provider_create(f.p, rs[i], rs[i]->spec, on_res, &xs[i]));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < NCONC; i++) {
    char *path = state_path(&f, "service", rs[i]->name);

    ck_assert(xs[i].done);
    ck_assert_int_eq(xs[i].status, PROVIDER_OK);
    ck_assert(exists(path));
    free(path);
    res_release(&xs[i]);
    resource_free(rs[i]);
  }
  free(xs);
  free(rs);
  fx_release(&f);
}
END_TEST

/*
 * Many more writes at once than a turn's work items take: those prepared
 * while a flush runs wait and go in the next, each still answered once,
 * every file whole and no temp file left.
 */
#define NWAIT 700

START_TEST(writes_beyond_a_flush_wait)
{
  struct fx f;
  struct resource **rs = td_calloc(NWAIT, sizeof(*rs));
  struct res *xs = td_calloc(NWAIT, sizeof(*xs));
  char *dir;

  fx_init(&f);
  fx_open(&f, NULL);
  for (int i = 0; i < NWAIT; i++) {
    char id[64], name[64];

    snprintf(id, sizeof(id), "service/w%d.acme", i);
    snprintf(name, sizeof(name), "w%d-acme", i);
    rs[i] = service("acme", id, name, 3000 + i);
    START(provider_create(f.p, rs[i], rs[i]->spec, on_res, &xs[i]));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < NWAIT; i++) {
    char *path = state_path(&f, "service", rs[i]->name);
    char *text = NULL;
    size_t len = 0;
    json_t *state;

    ck_assert(xs[i].done);
    ck_assert_int_eq(xs[i].status, PROVIDER_OK);
    ck_assert_int_eq(fs_read_capped(path, LOCAL_STATE_MAX, &text, &len), 0);
    state = json_loadb(text, len, 0, NULL);
    ck_assert(json_equal(json_object_get(state, "spec"), rs[i]->spec));
    json_decref(state);
    free(text);
    free(path);
    res_release(&xs[i]);
    resource_free(rs[i]);
  }
  dir = td_asprintf("%s/service", f.dir);
  ck_assert_uint_eq(dot_files(dir), 0);
  free(dir);
  free(xs);
  free(rs);
  fx_release(&f);
}
END_TEST

/*
 * Reads go to the threadpool in batches: in one flush, present, absent
 * and unreadable files, a bad name (decided on the loop thread), writes
 * and a list each get their own answer, exactly once.
 */
START_TEST(batched_reads_keep_their_results)
{
  enum { N = 300 };
  struct fx f;
  struct resource **rs = td_calloc(N, sizeof(*rs));
  struct res *xs = td_calloc(N, sizeof(*xs));
  struct resource *bad = service("acme", "service/bad", "../bad", 80);
  struct resource *fresh = service("acme", "service/new.acme", "new-acme", 81);
  struct res xbad = {0}, xfresh = {0};
  struct list_res xl = {0};

  fx_init(&f);
  for (int i = 0; i < N; i++) {
    char id[64], name[64], text[256];

    snprintf(id, sizeof(id), "service/s%d.acme", i);
    snprintf(name, sizeof(name), "s%d-acme", i);
    rs[i] = service("acme", id, name, 1000 + i);
    if (i % 3 == 0) {
      snprintf(text, sizeof(text),
               "{\"marker\": \"managed-by=tenantd tenant=acme id=%s\", "
               "\"spec\": {\"port\": %d}}",
               id, 2000 + i);
      put_file(&f, "service", name, text);
    } else if (i % 3 == 1) {
      put_file(&f, "service", name, "{not json");
    }
  }
  fx_open(&f, NULL);
  for (int i = 0; i < N; i++)
    START(provider_read(f.p, rs[i], on_res, &xs[i]));
  START(provider_read(f.p, bad, on_res, &xbad));
  START(provider_create(f.p, fresh, fresh->spec, on_res, &xfresh));
  START(provider_list_owned(f.p, "acme", on_list, &xl));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < N; i++) {
    ck_assert(xs[i].done);
    if (i % 3 == 0) {
      ck_assert_int_eq(xs[i].status, PROVIDER_OK);
      ck_assert_int_eq(json_integer_value(json_object_get(
                           json_object_get(xs[i].observed, "spec"), "port")),
                       2000 + i);
    } else if (i % 3 == 1) {
      ck_assert_int_eq(xs[i].status, PROVIDER_INVALID);
      ck_assert_ptr_nonnull(strstr(xs[i].message, rs[i]->name));
    } else {
      ck_assert_int_eq(xs[i].status, PROVIDER_NOT_FOUND);
    }
    res_release(&xs[i]);
    resource_free(rs[i]);
  }
  ck_assert(xbad.done);
  ck_assert_int_eq(xbad.status, PROVIDER_INVALID);
  ck_assert(xfresh.done);
  ck_assert_int_eq(xfresh.status, PROVIDER_OK);
  /* The list fails on the unreadable files: unknown is not absent. */
  ck_assert(xl.done);
  ck_assert_int_eq(xl.status, PROVIDER_INVALID);
  res_release(&xbad);
  res_release(&xfresh);
  resource_free(bad);
  resource_free(fresh);
  free(xs);
  free(rs);
  fx_release(&f);
}
END_TEST

Suite *make_suite_local_batch(void)
{
  Suite *s = suite_create("local_batch");
  TCase *tc = tcase_create("batch");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, batched_writes_keep_their_results);
  tcase_add_test(tc, writes_beyond_a_flush_wait);
  tcase_add_test(tc, many_concurrent_creates);
  tcase_add_test(tc, batched_reads_keep_their_results);
  suite_add_tcase(s, tc);
  return s;
}
