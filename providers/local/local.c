/*
 * local.c - the embedded simulated cloud (see local.h for the contract).
 *
 * Written on the provider runtime (providers/common/runtime.h): each
 * operation is a job, an op of the runtime's.  start() gets the jobs of a
 * loop turn together; it decides on the loop thread whether a job fails
 * early (injected fault, bad name); otherwise the file work runs on the
 * threadpool with only the job's own copies of its inputs.  Reads and
 * lists go in batches, up to BATCH_MAX a work item, so a pass observing
 * thousands of resources pays one thread handoff per batch, not per
 * file.  Writes are prepared the same way (checked, rendered, written to
 * temp files, not synced: a file that did not exist to an unnamed one,
 * fsutil.h's fs_write_unnamed), then flushed in groups: a flush takes
 * every write prepared by the time it starts, makes their temp files
 * durable, then the renames, links (and removals), each answered.  Up
 * to SYNC_FILES_MAX temp files are synced one by one, so a pass that
 * changes a tenant waits for its own few files, not for every byte the
 * host has yet to write; more take one syncfs().  Writes prepared while
 * a flush runs go in the next, so the busier the provider, the more
 * writes share a flush.  A crash leaves old or new files, never torn
 * ones: no file is renamed or linked before its bytes are on disk.  The
 * renames are made durable by the next flush (their directories synced;
 * after links or a directory made, the file system), and by one at close
 * for the last of them, before a pass records anything.
 * A small batch (INLINE_MAX jobs) when nothing else of the instance's
 * is on the threadpool and no latencyMs is set runs on the loop's thread
 * instead: a pass that changes one tenant reads, writes and syncs its
 * few files without a hand-off, and the closing sync of their
 * directories is made the same way.  Lists, and syncs of the whole file
 * system (after a directory was made or files linked), always go to a
 * worker.
 * With latencyMs the result waits on the job's timer, so latency applies
 * to every outcome.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "base/strset.h"
#include "model/naming.h"
#include "model/resource.h"
#include "providers/common/runtime.h"
#include "providers/local/internal.h"

static const char *const fault_classes[] = {"transient", "conflict", "invalid",
                                            "auth", NULL};
static const int fault_statuses[] = {PROVIDER_TRANSIENT, PROVIDER_CONFLICT,
                                     PROVIDER_INVALID, PROVIDER_AUTH};
enum { FAULT_ON_ALL, FAULT_ON_WRITES };
static const char *const fault_on_names[] = {"all", "writes", NULL};

static const struct opt local_options[] = {
    OPT_STR("stateDir", struct local, state_dir, OPT_REQUIRED | OPT_NONEMPTY,
            MAX_STATE_DIR, "a directory path"),
    OPT_UINT("latencyMs", struct local, latency_ms, 0, MAX_LATENCY_MS, 0),
    OPT_UINT("healthDelayMs", struct local, health_delay_ms, 0,
             MAX_HEALTH_DELAY_MS, 0),
    OPT_UINT("seed", struct local, seed, 0, UINT64_MAX, 1),
    OPT_NUMBER("faultRate", struct local, fault_rate, 0, 1, 0),
    OPT_ENUM("faultClass", struct local, fault_class, fault_classes, 0),
    OPT_STR("faultMatch", struct local, fault_match, OPT_NONEMPTY, 0, NULL),
    OPT_ENUM("faultOn", struct local, fault_on, fault_on_names, FAULT_ON_ALL),
};

/*
 * Permission problems are the local analogue of refused credentials, and
 * a file where a directory of the path should be is a stateDir that
 * cannot work: neither passes by itself, so neither is retried.  The rest
 * (full disk, I/O errors) may pass, so the controller retries them.
 */
int local__fail_errno(struct job *j, const char *what, const char *path, int e)
{
  int status = e == EACCES || e == EPERM || e == EROFS ? PROVIDER_AUTH
               : e == ENOTDIR                          ? PROVIDER_INVALID
                                                       : PROVIDER_TRANSIENT;

  return rt_op_fail(&j->op, status, "local: %s %s: %s", what, path,
                    strerror(e));
}

/* ---- the fault sequence (loop thread only) ---- */

/* Scrambles the seed so small seeds still start well-mixed. */
static uint64_t splitmix64(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* PROVIDER_OK when the file carries this resource's marker; else says
 * what holds the name, as a CONFLICT. */
static int check_owner(struct job *j, const json_t *state)
{
  const char *marker = json_string_value(json_object_get(state, "marker"));
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  if (resource_marker_parse(marker, tenant, sizeof(tenant), id, sizeof(id)) < 0)
    return rt_op_fail(&j->op, PROVIDER_CONFLICT,
                      "local: %s exists without a tenantd marker", j->path);
  if (strcmp(tenant, j->op.tenant) != 0 || strcmp(id, j->op.id) != 0)
    return rt_op_fail(&j->op, PROVIDER_CONFLICT,
                      "local: %s is held by another resource (%s)", j->path,
                      marker);
  return PROVIDER_OK;
}

static int do_read(struct job *j)
{
  json_t *state = NULL;
  int status = local__load_state(j, j->path, &state);

  if (status < 0)
    return status;
  local__refresh_health(j, state);
  rt_op_ok(&j->op, state);
  return PROVIDER_OK;
}

/* Computes the outputs into `state` and renders it for the batch to
 * write; takes `state` either way. */
static int save(struct job *j, json_t *state)
{
  json_t *outputs = json_object_get(state, "outputs");
  int status = local__compute_outputs(j, j->op.spec, outputs);

  if (status < 0) {
    json_decref(state);
    return status;
  }
  return local__render_state(j, state);
}

/* What holds a create's name: nothing, or this resource's own file;
 * anything else fails the create.  PROVIDER_OK when it may write. */
static int check_create(struct job *j)
{
  json_t *old = NULL;
  int status = local__load_state(j, j->path, &old);

  if (status == PROVIDER_OK) {
    status = check_owner(j, old);
  } else if (status == PROVIDER_NOT_FOUND) {
    /* Absent is what a create expects: the op is not failed. */
    rt_op_ok(&j->op, NULL);
    status = PROVIDER_OK;
  }
  json_decref(old);
  return status;
}

/* Takes one of the instance's UNNAMED_MAX unnamed files for the job. */
static bool take_slot(struct job *j)
{
  struct local *lp = container_of(j->op.rt, struct local, rt);

  if (!lp->unnamed_ok)
    return false;
  if (atomic_fetch_add(&lp->unnamed_open, 1) >= UNNAMED_MAX) {
    atomic_fetch_sub(&lp->unnamed_open, 1);
    return false;
  }
  j->slot = true;
  return true;
}

/*
 * A create that will link an unnamed file reads nothing first: the link
 * cannot take a name that is there, and place() judges what holds it
 * then (check_create).  One whose file would be renamed into place, or
 * written unnamed where that fails, checks first.  At a first apply of
 * thousands of files, that read of a missing name took about 7 % of
 * the CPU.
 */
static int do_create(struct job *j)
{
  int status = PROVIDER_OK;

  if (take_slot(j))
    j->unread = true;
  else
    status = check_create(j);
  if (status < 0)
    return status;
  return save(j, json_pack("{s:s, s:O, s:o}", "marker", j->op.marker, "spec",
                           j->op.spec, "outputs", json_object()));
}

static int do_update(struct job *j)
{
  json_t *state = NULL;
  int status = local__load_state(j, j->path, &state);

  if (status == PROVIDER_OK)
    status = check_owner(j, state);
  if (status < 0) {
    json_decref(state);
    return status;
  }
  json_object_set(state, "spec", j->op.spec);
  if (!json_object_get(state, "outputs"))
    json_object_set_new(state, "outputs", json_object());
  return save(j, state);
}

/* Allowed once the file carries this resource's marker; its batch
 * removes it. */
static int do_remove(struct job *j)
{
  json_t *state = NULL;
  int status = local__load_state(j, j->path, &state);

  if (status == PROVIDER_OK)
    status = check_owner(j, state);
  json_decref(state);
  if (status == PROVIDER_OK)
    j->unlink = true;
  return status;
}

/* Whether `marker` is tenantd's and names `tenant`; its id goes to `id`. */
static bool marker_names_tenant(const char *marker, const char *tenant,
                                char *id, size_t idcap)
{
  char found[RESOURCE_MARKER_MAX];

  return resource_marker_parse(marker, found, sizeof(found), id, idcap) == 0 &&
         strcmp(found, tenant) == 0;
}

/* Scans one type directory, appending the tenant's files to the job. */
static int list_dir(struct job *j, enum rtype type)
{
  char *dir = td_asprintf("%s/%s", j->state_dir, resource_type_name(type));
  char id[RESOURCE_MARKER_MAX], name[256];
  DIR *d = opendir(dir);
  int status = PROVIDER_OK;
  struct dirent *de;

  if (!d) {
    if (errno != ENOENT)
      status = local__fail_errno(j, "cannot open directory", dir, errno);
    goto out;
  }
  for (;;) {
    size_t len;
    char *path;
    json_t *state = NULL;
    const char *marker;
    bool owned;

    errno = 0;
    de = readdir(d);
    if (!de) {
      if (errno)
        status = local__fail_errno(j, "cannot read directory", dir, errno);
      break;
    }
    len = strlen(de->d_name);
    if (de->d_name[0] == '.' || len <= 5 ||
        strcmp(de->d_name + len - 5, ".json") != 0)
      continue;
    path = td_asprintf("%s/%s", dir, de->d_name);
    status = local__load_state(j, path, &state);
    free(path);
    if (status == PROVIDER_NOT_FOUND) {
      /* Removed since readdir saw it: it is simply gone. */
      status = PROVIDER_OK;
      continue;
    }
    if (status < 0)
      break;
    marker = json_string_value(json_object_get(state, "marker"));
    owned = marker_names_tenant(marker, j->op.tenant, id, sizeof(id));
    json_decref(state);
    if (!owned)
      continue;
    if (j->op.nitems == MAX_LIST) {
      status = rt_op_fail(&j->op, PROVIDER_INVALID,
                          "local: %s: more than %d owned state files",
                          j->state_dir, MAX_LIST);
      break;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
    rt_op_add_item(&j->op, id, type, name);
  }
out:
  if (d)
    closedir(d);
  free(dir);
  return status;
}

static int do_list(struct job *j)
{
  for (int t = 0; t < RTYPE_COUNT; t++) {
    int status = list_dir(j, (enum rtype)t);

    if (status < 0)
      return status;
  }
  rt_op_sort_items(&j->op);
  rt_op_ok(&j->op, NULL);
  return PROVIDER_OK;
}

/* Each do_ leaves its outcome in the op (rt_op_ok or rt_op_fail), or,
 * for a write, what its batch is to write. */
static void run_job(struct job *j)
{
  switch (j->op.kind) {
  case RT_READ:
    do_read(j);
    break;
  case RT_CREATE:
    do_create(j);
    break;
  case RT_UPDATE:
    do_update(j);
    break;
  case RT_REMOVE:
    do_remove(j);
    break;
  case RT_LIST:
    do_list(j);
    break;
  }
}

/* ---- writes (worker threads) ---- */

static struct local *batch_local(const struct batch *b)
{
  return container_of(b->jobs[0]->op.rt, struct local, rt);
}

/* A type directory that cannot be made fails the write that needs it. */
static void fail_mkdir(struct job *j, int rc)
{
  char *why = td_strdup(td_error_last());

  /* A create that read nothing first reads now: as before, its read
   * tells a file in the way of the path (invalid) from the rest. */
  if (!j->unread || check_create(j) == PROVIDER_OK)
    rt_op_fail(&j->op, provider_status_of_fs(rc), "local: %s", why);
  free(why);
}

/*
 * The type directories of the batch's writes exist, made with every
 * missing parent, stateDir included, private (0700: the state says what
 * every tenant runs).  The flush makes new entries durable with the
 * files put in them.  A write whose directory cannot be made fails.
 */
static void ensure_dirs(struct batch *b)
{
  const char *done[RTYPE_COUNT] = {0};
  size_t ndone = 0;

  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];
    struct stat sb;
    bool seen = false;
    int rc;

    if (!j->text)
      continue;
    for (size_t k = 0; k < ndone && !seen; k++)
      seen = strcmp(done[k], j->dir) == 0;
    if (seen)
      continue;
    if (stat(j->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
      rc = fs_mkdir_p(j->dir, 0700);
      if (rc < 0) {
        fail_mkdir(j, rc);
        continue;
      }
      /* Its entry, and any parent's, go with the next syncfs(). */
      atomic_fetch_or(&batch_local(b)->unsynced, DIRS_MADE);
    }
    if (ndone < ARRAY_SIZE(done))
      done[ndone++] = j->dir;
  }
}

/* Whether the write has a temp file, named or not, to put in place. */
static bool has_temp(const struct job *j)
{
  return j->tmp || j->unnamed;
}

/* Closes the job's unnamed file, if any, and gives back its slot. */
static void close_unnamed(struct job *j)
{
  if (j->unnamed) {
    close(j->fd);
    j->unnamed = false;
  }
  if (j->slot) {
    atomic_fetch_sub(&container_of(j->op.rt, struct local, rt)->unnamed_open,
                     1);
    j->slot = false;
  }
}

/* A write that failed lets go of what it was to write. */
static void drop_write(struct job *j)
{
  close_unnamed(j);
  if (j->tmp) {
    unlink(j->tmp);
    free(j->tmp);
    j->tmp = NULL;
  }
  json_decref(j->state);
  j->state = NULL;
  free(j->text);
  j->text = NULL;
  j->unlink = false;
}

/* Writes the job's temp file: unnamed when it holds a slot (its text
 * kept until it is in place: replace_taken), else named; 0644, as state
 * files are meant to be read and edited by people.  False when the job
 * failed. */
static bool write_temp(struct job *j)
{
  char *file;
  int rc = 1;

  if (j->slot) {
    rc = fs_write_unnamed(j->dir, j->text, j->len, 0644, &j->fd);
    j->unnamed = rc == 0;
    if (j->unnamed)
      return true;
    close_unnamed(j);
  }
  /* No unnamed file after all: a create that read nothing checks now. */
  if (rc == 1 && j->unread && check_create(j) < 0)
    return false;
  if (rc == 1) {
    file = td_asprintf("%s.json", j->stem);
    rc = fs_write_temp(j->dir, file, j->text, j->len, 0644, &j->tmp);
    free(file);
  }
  free(j->text);
  j->text = NULL;
  if (rc < 0)
    rt_op_fail(&j->op, provider_status_of_fs(rc), "local: %s", td_error_last());
  return rc == 0;
}

/*
 * Checks and renders each write, then writes its temp file, not synced:
 * the flush it joins makes it durable before putting it in place.  A
 * file that did not exist is written unnamed, where the file system
 * can.  What is left to flush has a temp file, or is a removal allowed;
 * the rest failed.
 */
static void prepare_writes(struct batch *b)
{
  for (size_t i = 0; i < b->n; i++)
    run_job(b->jobs[i]);
  ensure_dirs(b);
  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];

    /* A failed create lets go of its slot here, not when it is freed. */
    if (j->op.status < 0 || (j->text && !write_temp(j)))
      drop_write(j);
  }
}

/* A flush failed: every write of the batch still going fails with it. */
static void fail_flush(struct batch *b, const char *state_dir)
{
  const char *why = td_error_last();

  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];

    if (!has_temp(j))
      continue;
    rt_op_fail(&j->op, PROVIDER_TRANSIENT, "local: %s: %s", state_dir, why);
    drop_write(j);
  }
}

/*
 * Makes the renames, links, removals and directories made so far
 * durable: the type directories they were done in are synced, or the
 * file system is when `all` says so, a directory was made (its entry is
 * in its parent, perhaps above stateDir) or a file linked (its link
 * count is in its inode).  What fails stays for the next.
 */
static int sync_placed(struct local *lp, const char *state_dir, bool all)
{
  unsigned pending = atomic_exchange(&lp->unsynced, 0);
  int rc = 0;

  if (all || (pending & SYNC_ALL)) {
    rc = fs_sync(state_dir);
  } else {
    for (int t = 0; t < RTYPE_COUNT && rc == 0; t++) {
      char *dir;

      if (!(pending & (1u << t)))
        continue;
      dir = td_asprintf("%s/%s", state_dir, rtype_names[t]);
      rc = fs_sync_dir(dir);
      free(dir);
    }
  }
  if (rc < 0)
    atomic_fetch_or(&lp->unsynced, pending);
  return rc;
}

/*
 * Makes the batch's `temps` temp files durable, and what earlier flushes
 * placed: file by file when they are few and no directory is new, else
 * with one syncfs(), which covers all of it.
 */
static int sync_batch(struct batch *b, size_t temps)
{
  struct local *lp = batch_local(b);
  const char *state_dir = b->jobs[0]->state_dir;
  char *paths[SYNC_FILES_MAX];
  int fds[SYNC_FILES_MAX];
  size_t n = 0, nfds = 0;
  int rc;

  if (temps > SYNC_FILES_MAX || (atomic_load(&lp->unsynced) & SYNC_ALL))
    return sync_placed(lp, state_dir, true);
  for (size_t i = 0; i < b->n; i++) {
    if (b->jobs[i]->unnamed)
      fds[nfds++] = b->jobs[i]->fd;
    else if (b->jobs[i]->tmp)
      paths[n++] = b->jobs[i]->tmp;
  }
  rc = fs_sync_files(paths, n);
  if (rc == 0)
    rc = fs_sync_fds(fds, nfds);
  return rc < 0 ? rc : sync_placed(lp, state_dir, false);
}

/*
 * A create whose name was taken when it came to link: what holds it is
 * judged as a create that reads first judges it (check_create), and is
 * left as it is unless it is this resource's own file (an earlier try's,
 * never answered), which fs_write_atomic() replaces, synced before its
 * rename like every other.  False when the job failed.
 */
static bool replace_taken(struct job *j)
{
  char *file;
  int rc;

  close_unnamed(j);
  if (check_create(j) < 0)
    return false;
  file = td_asprintf("%s.json", j->stem);
  rc = fs_write_atomic(j->dir, file, j->text, j->len, 0644);
  free(file);
  if (rc < 0)
    rt_op_fail(&j->op, provider_status_of_fs(rc), "local: %s", td_error_last());
  return rc == 0;
}

/* A new file's name given to its unnamed file, or, taken meanwhile, to
 * whatever replace_taken() judges.  False when the job failed. */
static bool link_new(struct local *lp, struct job *j)
{
  bool ok = true;

  if (fs_link_unnamed(j->fd, j->path) == 0) {
    atomic_fetch_or(&lp->unsynced, FILES_LINKED);
  } else if (errno == EEXIST) {
    ok = replace_taken(j);
  } else {
    local__fail_errno(j, "cannot create", j->path, errno);
    ok = false;
  }
  if (!ok) {
    drop_write(j);
    return false;
  }
  close_unnamed(j);
  free(j->text);
  j->text = NULL;
  return true;
}

/* The links, renames and removals, each answered once done. */
static void place(struct batch *b)
{
  struct local *lp = batch_local(b);

  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];

    if (j->unnamed) {
      if (!link_new(lp, j))
        continue;
      rt_op_ok(&j->op, j->state);
      j->state = NULL;
    } else if (j->tmp) {
      if (rename(j->tmp, j->path) < 0) {
        local__fail_errno(j, "cannot replace", j->path, errno);
        drop_write(j);
        continue;
      }
      free(j->tmp);
      j->tmp = NULL;
      rt_op_ok(&j->op, j->state);
      j->state = NULL;
    } else if (j->unlink) {
      if (unlink(j->path) < 0) {
        if (errno == ENOENT)
          rt_op_fail(&j->op, PROVIDER_NOT_FOUND, "local: %s does not exist",
                     j->path);
        else
          local__fail_errno(j, "cannot remove", j->path, errno);
        continue;
      }
      rt_op_ok(&j->op, NULL);
    } else {
      continue;
    }
    atomic_fetch_or(&lp->unsynced, 1u << j->op.type);
  }
}

/*
 * A group of prepared writes into place: every temp file is made durable
 * (sync_batch), then the renames and removals, each answered.  A crash
 * leaves old or new files, never torn ones.  The next flush, which begins
 * at once while writes keep coming, makes the renames durable, and
 * close() flushes once more when one is left uncovered, before the
 * caller records anything.
 */
static void flush_writes(struct batch *b)
{
  const char *state_dir = b->jobs[0]->state_dir;
  size_t temps = 0;

  for (size_t i = 0; i < b->n; i++)
    temps += has_temp(b->jobs[i]);
  if (temps > 0 && sync_batch(b, temps) < 0)
    fail_flush(b, state_dir);
  place(b);
}

/* ---- reads (worker threads) ---- */

/* Whether a read's type directory is missing (then so is its file): a
 * first plan reads hundreds of thousands of files of an empty state, and
 * asks once a batch per directory, not once a file. */
static bool dir_missing(struct job *j, const char **seen, bool *missing,
                        size_t *nseen)
{
  struct stat st;

  for (size_t k = 0; k < *nseen; k++)
    if (strcmp(seen[k], j->dir) == 0)
      return missing[k];
  if (*nseen == RTYPE_COUNT)
    return false;
  seen[*nseen] = j->dir;
  missing[*nseen] = stat(j->dir, &st) < 0 && errno == ENOENT;
  return missing[(*nseen)++];
}

static void read_batch(struct batch *b)
{
  const char *seen[RTYPE_COUNT];
  bool missing[RTYPE_COUNT];
  size_t nseen = 0;

  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];

    if (j->op.kind == RT_READ && dir_missing(j, seen, missing, &nseen))
      rt_op_absent(&j->op);
    else
      run_job(j);
  }
}

static void work_cb(uv_work_t *req)
{
  struct batch *b = container_of(req, struct batch, work);

  switch (b->kind) {
  case BATCH_READS:
    read_batch(b);
    break;
  case BATCH_PREPARE:
    prepare_writes(b);
    break;
  case BATCH_FLUSH:
    flush_writes(b);
    break;
  }
}

/* ---- jobs (loop thread) ---- */

static void on_latency_closed(uv_handle_t *h)
{
  rt_op_deliver(&container_of((uv_timer_t *)h, struct job, timer)->op);
}

static void on_latency(uv_timer_t *t)
{
  struct job *j = container_of(t, struct job, timer);

  j->waited = true;
  if (j->done)
    uv_close((uv_handle_t *)t, on_latency_closed);
}

/* With latencyMs, a job's clock starts when it is started: the work runs
 * meanwhile, as a remote API's would. */
static void start_clock(struct local *lp, struct job *j)
{
  if (lp->latency_ms == 0)
    return;
  uv_timer_init(lp->rt.base.loop, &j->timer);
  uv_timer_start(&j->timer, on_latency, lp->latency_ms, 0);
}

/* Hands the job's outcome back, once latencyMs has passed since it was
 * started: latency applies to failures too. */
static void finish(struct job *j)
{
  struct local *lp = container_of(j->op.rt, struct local, rt);

  j->done = true;
  if (lp->latency_ms == 0)
    rt_op_deliver(&j->op);
  else if (j->waited)
    uv_close((uv_handle_t *)&j->timer, on_latency_closed);
}

static void flush_more(struct local *lp);

/* A prepared write waits for the next flush; the rest are answered. */
static void after_prepare(struct local *lp, struct job *j)
{
  if (j->op.status < 0 || (!has_temp(j) && !j->unlink)) {
    finish(j);
    return;
  }
  if (lp->nready == lp->ready_alloc) {
    lp->ready_alloc = lp->ready_alloc ? 2 * lp->ready_alloc : 64;
    lp->ready = td_realloc(lp->ready, lp->ready_alloc * sizeof(*lp->ready));
  }
  lp->ready[lp->nready++] = j;
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct batch *b = container_of(req, struct batch, work);
  struct local *lp = container_of(b->jobs[0]->op.rt, struct local, rt);
  enum batch_kind kind = b->kind;

  if (b->pooled)
    lp->pooled--;
  for (size_t i = 0; i < b->n; i++) {
    struct job *j = b->jobs[i];

    if (status == UV_ECANCELED)
      rt_op_fail(&j->op, PROVIDER_TRANSIENT, "cancelled");
    if (kind == BATCH_PREPARE && status != UV_ECANCELED)
      after_prepare(lp, j);
    else
      finish(j);
  }
  free(b);
  if (kind == BATCH_FLUSH)
    lp->flushing--;
  if (kind != BATCH_READS)
    flush_more(lp);
}

static struct batch *batch_new(size_t cap, enum batch_kind kind)
{
  struct batch *b = td_malloc(sizeof(*b) + cap * sizeof(b->jobs[0]));

  b->n = 0;
  b->kind = kind;
  return b;
}

/* Whether a batch runs on the loop's thread: a small one, when nothing
 * of this instance's is on the threadpool (so nothing of its runs
 * alongside and no order changes) and no latencyMs is simulated (whose
 * timers a blocked loop would delay); reads and writes to prepare only
 * when their whole turn is small, so a larger turn's batches still run
 * side by side and share a flush.  A flush then blocks the loop for the
 * sync of a few files; the pass would wait for it anyway.  A list,
 * which reads a whole type directory, and a flush that must sync the
 * file system (a directory was made) go to a worker. */
static bool runs_inline(struct local *lp, const struct batch *b)
{
  if (b->n > INLINE_MAX || lp->pooled > 0 || lp->latency_ms > 0)
    return false;
  if (b->kind != BATCH_FLUSH && !lp->small_turn)
    return false;
  if (b->kind == BATCH_FLUSH && (atomic_load(&lp->unsynced) & SYNC_ALL))
    return false;
  for (size_t i = 0; i < b->n; i++)
    if (b->jobs[i]->op.kind == RT_LIST)
      return false;
  return true;
}

/* Runs or queues a batch (never empty); if it cannot be queued, its jobs
 * fail. */
static void batch_submit(struct local *lp, struct batch *b)
{
  int err;

  b->pooled = !runs_inline(lp, b);
  if (!b->pooled) {
    work_cb(&b->work);
    after_work_cb(&b->work, 0);
    return;
  }
  err = uv_queue_work(lp->rt.base.loop, &b->work, work_cb, after_work_cb);
  if (err == 0) {
    lp->pooled++;
    return;
  }
  for (size_t i = 0; i < b->n; i++) {
    rt_op_fail(&b->jobs[i]->op, PROVIDER_TRANSIENT,
               "local: cannot queue work: %s", uv_strerror(err));
    finish(b->jobs[i]);
  }
  if (b->kind == BATCH_FLUSH)
    lp->flushing--;
  free(b);
}

static bool inject_fault(struct local *lp, const struct rt_op *op)
{
  double u;

  /* No draw at rate 0, so enabling faults never shifts other behaviour. */
  if (lp->fault_rate <= 0)
    return false;
  /* Targeted faults: one resource fails while the rest of the graph is
   * healthy, to test that a failure stops only what depends on it. */
  if (lp->fault_match && (!op->id || !strstr(op->id, lp->fault_match)))
    return false;
  if (lp->fault_on == FAULT_ON_WRITES &&
      (op->kind == RT_READ || op->kind == RT_LIST))
    return false;
  u = (double)(td_rand(&lp->rng) >> 11) * 0x1.0p-53;
  return u < lp->fault_rate;
}

/* Names become file names: keep them inside the type directory and away
 * from the dot files the provider uses itself. */
static bool valid_name(const char *name)
{
  size_t len = strlen(name);

  return len > 0 && len <= NAMING_MAX && name[0] != '.' && !strchr(name, '/');
}

/* <stateDir>/<type>, <dir>/<stem>.json and the stem, in one allocation
 * at j->dir: a pass makes a job per resource. */
static void job_paths(struct local *lp, struct job *j)
{
  const char *type = resource_type_name(j->op.type);
  const char *name = j->op.name;
  char shortened[MAX_STEM + 1];
  const char *stem = name;
  size_t dl, sl;
  char *at;

  if (strlen(name) > MAX_STEM) {
    snprintf(shortened, sizeof(shortened), "%.*s~%016llx", STEM_KEEP, name,
             (unsigned long long)local__name_hash(name));
    stem = shortened;
  }
  dl = strlen(lp->state_dir) + 1 + strlen(type);
  sl = strlen(stem);
  at = td_malloc((dl + 1) + (dl + 1 + sl + 5 + 1) + (sl + 1));
  j->dir = at;
  memcpy(at, lp->state_dir, strlen(lp->state_dir));
  at[strlen(lp->state_dir)] = '/';
  memcpy(at + strlen(lp->state_dir) + 1, type, strlen(type) + 1);
  j->path = at + dl + 1;
  memcpy(j->path, j->dir, dl);
  j->path[dl] = '/';
  memcpy(j->path + dl + 1, stem, sl);
  memcpy(j->path + dl + 1 + sl, ".json", 6);
  j->stem = j->path + dl + 1 + sl + 6;
  memcpy(j->stem, stem, sl + 1);
}

/* Fails the job on the loop thread when it must not touch the files (an
 * injected fault, a bad name), or fills in the rest of its inputs;
 * true when it failed.  Faults are drawn in the order of the calls. */
static bool decide(struct local *lp, struct job *j)
{
  struct rt_op *op = &j->op;

  if (inject_fault(lp, op)) {
    rt_op_fail(op, fault_statuses[lp->fault_class], "injected %s fault",
               fault_classes[lp->fault_class]);
    return true;
  }
  j->state_dir = lp->state_dir;
  j->health_delay_ms = lp->health_delay_ms;
  if (op->kind == RT_LIST)
    return false;
  if (!valid_name(op->name)) {
    rt_op_fail(op, PROVIDER_INVALID, "local: invalid name '%.200s'", op->name);
    return true;
  }
  assert(!op->spec || json_is_object(op->spec));
  job_paths(lp, j);
  return false;
}

/* Adds j to the open batch `*b` (of reads or of writes), submitting the
 * batch once it holds `cap`. */
static void batch_put(struct local *lp, struct batch **b, struct job *j,
                      size_t cap, enum batch_kind kind)
{
  if (!*b)
    *b = batch_new(cap, kind);
  (*b)->jobs[(*b)->n++] = j;
  if ((*b)->n == cap) {
    batch_submit(lp, *b);
    *b = NULL;
  }
}

/* Every prepared write goes in the next flush, while a stream is free:
 * a flush is sized by what waits for it, not by a fixed count. */
static void flush_more(struct local *lp)
{
  while (lp->nready > 0 && lp->flushing < FLUSH_STREAMS) {
    struct batch *b = batch_new(lp->nready, BATCH_FLUSH);

    memcpy(b->jobs, lp->ready, lp->nready * sizeof(*b->jobs));
    b->n = lp->nready;
    lp->nready = 0;
    lp->flushing++;
    batch_submit(lp, b);
  }
}

/*
 * The jobs of one loop turn: those decided on the loop thread are
 * answered; reads and lists, and writes to prepare, are spread over up
 * to BATCH_SPREAD work items each, of at most BATCH_MAX reads or
 * PREPARE_BATCH_MAX writes; prepared writes then wait for a flush
 * (flush_more).
 */
static void local_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct local *lp = container_of(rt, struct local, rt);
  size_t cap = (n + BATCH_SPREAD - 1) / BATCH_SPREAD;
  size_t read_cap = cap < 8 ? 8 : cap > BATCH_MAX ? BATCH_MAX : cap;
  size_t write_cap = cap < 8                   ? 8
                     : cap > PREPARE_BATCH_MAX ? PREPARE_BATCH_MAX
                                               : cap;
  struct batch *reads = NULL, *writes = NULL;
  struct rt_op *next;

  lp->small_turn = n <= INLINE_MAX;
  for (struct rt_op *op = ops; op; op = next) {
    struct job *j = container_of(op, struct job, op);

    next = op->next; /* the job may be answered below */
    start_clock(lp, j);
    if (decide(lp, j))
      finish(j);
    else if (op->kind == RT_READ || op->kind == RT_LIST)
      batch_put(lp, &reads, j, read_cap, BATCH_READS);
    else
      batch_put(lp, &writes, j, write_cap, BATCH_PREPARE);
  }
  if (reads)
    batch_submit(lp, reads);
  if (writes)
    batch_submit(lp, writes);
}

static void job_release(struct rt_op *op)
{
  struct job *j = container_of(op, struct job, op);

  /* A write whose flush never ran (cancelled) leaves its temp file. */
  close_unnamed(j);
  if (j->tmp)
    unlink(j->tmp);
  free(j->tmp);
  free(j->text);
  json_decref(j->state);
  free(j->dir);
}

/* ---- the instance ---- */

/*
 * A writer killed between mkstemp and rename leaves ".<name>.json.XXXXXX"
 * behind.  One tenantd owns a state directory, so at the first open in
 * this process any such file is a dead writer's: remove it.  This scans
 * each type directory once per process, before the first instance serves
 * a single operation; later opens (the daemon opens its instances for
 * every pass) skip it, since this process's own writers clean up after
 * themselves and the scan costs a readdir of every resource.
 */
static uv_mutex_t swept_lock;
static struct strset swept = STRSET_INIT;

static void swept_lock_init(void)
{
  if (uv_mutex_init(&swept_lock) != 0)
    abort();
}

static bool first_open(const char *state_dir)
{
  static uv_once_t once = UV_ONCE_INIT;
  bool first;

  uv_once(&once, swept_lock_init);
  uv_mutex_lock(&swept_lock);
  first = !strset_has(&swept, state_dir);
  if (first) {
    strset_add(&swept, state_dir);
    strset_seal(&swept);
  }
  uv_mutex_unlock(&swept_lock);
  return first;
}

static void sweep_temp_files(const char *state_dir)
{
  for (int t = 0; t < RTYPE_COUNT; t++) {
    char *dir = td_asprintf("%s/%s", state_dir, rtype_names[t]);

    fs_sweep_temp(dir, ".json", NULL);
    free(dir);
  }
}

/* The options are checked (local_options); this touches no file but the
 * first open's sweep, so it cannot block for long. */
static int local_open(struct rt *rt, char *err, size_t errcap)
{
  struct local *lp = container_of(rt, struct local, rt);

  (void)err;
  (void)errcap;
  lp->rng = splitmix64(lp->seed);
  if (lp->rng == 0)
    lp->rng = 1; /* xorshift never leaves zero */
  if (first_open(lp->state_dir))
    sweep_temp_files(lp->state_dir);
  /* Unnamed files are named through /proc (fsutil.h). */
  lp->unnamed_ok = access("/proc/self/fd", X_OK) == 0;
  /* An injected latency stands for a server's round trip. */
  rt->base.reads_nearby = lp->latency_ms == 0;
  return 0;
}

static void flush_work(uv_work_t *req)
{
  struct local *lp = container_of(req, struct local, flush);

  /* Nothing to report it to: the renames stay as they are, whole. */
  (void)sync_placed(lp, lp->state_dir, false);
}

static void flush_done(uv_work_t *req, int status)
{
  (void)status;
  rt_shutdown_done(&container_of(req, struct local, flush)->rt);
}

/* Every op is answered: the last renames and removals are made durable
 * before the caller records them (a pass writes statuses after closing).
 * Nothing of the instance's is on the threadpool by now: a few type
 * directories to sync are synced here, a file system on a worker. */
static void local_shutdown(struct rt *rt)
{
  struct local *lp = container_of(rt, struct local, rt);
  unsigned pending = atomic_load(&lp->unsynced);

  if (pending != 0 && !(pending & SYNC_ALL)) {
    (void)sync_placed(lp, lp->state_dir, false);
    pending = 0;
  }
  if (pending == 0 ||
      uv_queue_work(rt->base.loop, &lp->flush, flush_work, flush_done) != 0)
    rt_shutdown_done(rt);
}

static void local_release(struct rt *rt)
{
  free(container_of(rt, struct local, rt)->ready);
}

RT_PROVIDER(local_provider_ops, "local", struct local, struct job,
            local_options, .read_batch = READ_BATCH, .open = local_open,
            .start = local_start, .shutdown = local_shutdown,
            .release = local_release, .op_release = job_release);
