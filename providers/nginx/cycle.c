/*
 * cycle.c - the nginx provider's writes (see nginx.h for the contract):
 * one cycle at a time takes every waiting write, does the file work on
 * the threadpool (files.c), runs `nginx -t` and `nginx -s reload`
 * (proc.c) and asks nginx until the change is served (verify.c).
 *
 * A cycle walks its stages one callback at a time: each stage's work
 * (a threadpool job, a command, the polls) ends in a callback that picks
 * the next stage.  The ops stay the cycle's until finish_cycle() answers
 * them all.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/nginx/internal.h"

enum stage {
  ST_APPLY_ALL,   /* every write of the batch on disk */
  ST_TEST_ALL,    /* nginx -t of the batch */
  ST_REVERT_ALL,  /* the batch failed: every file restored */
  ST_TEST_BASE,   /* nginx -t without the batch: is the rest sound? */
  ST_SOLO_APPLY,  /* one write at a time ... */
  ST_SOLO_TEST,   /* ... tested alone ... */
  ST_SOLO_REVERT, /* ... and restored when refused */
  ST_RELOAD,      /* nginx -s reload */
  ST_UNDO,        /* the reload failed: files restored */
  ST_VERIFY,      /* polling nginx */
  ST_UNVERIFY,    /* not served in time: those files restored */
  ST_FINALIZE,    /* served: the pending marks removed */
};

enum fs_mode { FS_APPLY, FS_REVERT, FS_FINALIZE };

struct ngx_cycle {
  struct ngx *ng;
  struct ngx_op **ops;
  size_t n;
  enum stage stage;
  enum fs_mode fs_mode; /* what the threadpool job does */
  size_t fs_lo, fs_hi;  /* the ops it covers */
  size_t solo;          /* the op tried alone */
  size_t verifying;     /* verifications in flight */
  struct ngx_settle settle;
  uv_work_t work;
  int test_status; /* how the last nginx -t failed */
  char test_msg[1024];
};

static void cycle_fs(struct ngx_cycle *cy, enum fs_mode mode, size_t lo,
                     size_t hi, enum stage next);

/* ---- the end of a cycle ---- */

/* Answers every op of the cycle; the next cycle takes what waits. */
static void finish_cycle(struct ngx_cycle *cy)
{
  struct ngx *ng = cy->ng;

  for (size_t i = 0; i < cy->n; i++) {
    struct ngx_op *op = cy->ops[i];
    struct rt_op *base = &op->base;

    if (base->status == PROVIDER_OK)
      rt_op_ok(base,
               base->kind == RT_REMOVE
                   ? NULL
                   : ngx__observed_new(json_incref(base->spec), base->marker));
    if (base->status < 0 && op->restore_err[0])
      rt_op_fail(base, base->status, "%s; %s",
                 base->message ? base->message : "failed", op->restore_err);
    rt_op_deliver(base);
  }
  free(cy->ops);
  free(cy);
  ng->cycle = NULL;
  ngx__cycle_start(ng);
}

/* Writes that nginx serves and whose file still carries the mark. */
static bool finalizable(const struct ngx_op *op)
{
  return op->base.status == PROVIDER_OK && op->kept && op->final_text;
}

/* The writes nginx serves lose their pending mark; then the cycle ends. */
static void finalize(struct ngx_cycle *cy)
{
  for (size_t i = 0; i < cy->n; i++) {
    if (finalizable(cy->ops[i])) {
      cycle_fs(cy, FS_FINALIZE, 0, cy->n, ST_FINALIZE);
      return;
    }
  }
  finish_cycle(cy);
}

/* ---- verification (verify.c) ---- */

/*
 * The last verification ends the cycle.  A file nginx did not serve in
 * time is taken back: on disk it would read as applied, and the next pass
 * would take a route nginx never loaded for converged.
 */
void ngx__verified(struct ngx_op *op)
{
  struct ngx_cycle *cy = ngx_of(op)->cycle;

  assert(cy && cy->verifying > 0);
  if (--cy->verifying > 0)
    return;
  for (size_t i = 0; i < cy->n; i++) {
    if (cy->ops[i]->applied) {
      cycle_fs(cy, FS_REVERT, 0, cy->n, ST_UNVERIFY);
      return;
    }
  }
  finalize(cy);
}

size_t ngx__cycle_ops(struct ngx *ng, struct ngx_op ***ops)
{
  *ops = ng->cycle ? ng->cycle->ops : NULL;
  return ng->cycle ? ng->cycle->n : 0;
}

struct ngx_settle *ngx__cycle_settle(struct ngx *ng)
{
  assert(ng->cycle);
  return &ng->cycle->settle;
}

/* Whether the write is to be verified: kept in the reload, with hosts to
 * ask (a removed file's may have none). */
static bool to_verify(const struct ngx_op *op)
{
  return op->kept && json_array_size(op->hosts) > 0;
}

/* ---- reload ---- */

static void after_reload(int status, const char *message, void *arg)
{
  struct ngx_cycle *cy = arg;
  uint64_t now = uv_now(cy->ng->rt.base.loop);

  if (status < 0) {
    /* Not loaded: take the files back, so what is on disk is what nginx
     * was last told to serve. */
    for (size_t i = 0; i < cy->n; i++)
      if (cy->ops[i]->kept)
        rt_op_fail(&cy->ops[i]->base, PROVIDER_TRANSIENT, "%s", message);
    cycle_fs(cy, FS_REVERT, 0, cy->n, ST_UNDO);
    return;
  }
  cy->stage = ST_VERIFY;
  for (size_t i = 0; i < cy->n; i++) {
    if (to_verify(cy->ops[i]))
      cy->verifying++;
    else
      cy->ops[i]->applied = false; /* nothing to verify: final */
  }
  if (cy->verifying == 0) {
    finalize(cy);
    return;
  }
  for (size_t i = 0; i < cy->n; i++)
    if (to_verify(cy->ops[i]))
      ngx__verify_start(cy->ops[i], now);
}

static void reload(struct ngx_cycle *cy)
{
  static const char *const args[] = {"-s", "reload"};

  cy->stage = ST_RELOAD;
  ngx__run(cy->ng, "nginx -s reload", args, 2, after_reload, cy);
}

/* ---- nginx -t ---- */

static void after_test(int status, const char *message, void *arg);

static void test(struct ngx_cycle *cy, enum stage stage)
{
  static const char *const args[] = {"-t"};

  cy->stage = stage;
  ngx__run(cy->ng, "nginx -t", args, 1, after_test, cy);
}

/* Tries the next write of a refused batch alone; then reloads what
 * passed. */
static void solo_next(struct ngx_cycle *cy)
{
  while (cy->solo < cy->n && !cy->ops[cy->solo]->candidate)
    cy->solo++;
  if (cy->solo < cy->n) {
    cycle_fs(cy, FS_APPLY, cy->solo, cy->solo + 1, ST_SOLO_APPLY);
    return;
  }
  for (size_t i = 0; i < cy->n; i++) {
    if (cy->ops[i]->kept) {
      reload(cy);
      return;
    }
  }
  finish_cycle(cy);
}

/* Fails every write of the batch with the same status and message. */
static void fail_candidates(struct ngx_cycle *cy, int status, const char *fmt,
                            const char *message)
{
  for (size_t i = 0; i < cy->n; i++)
    if (cy->ops[i]->candidate)
      rt_op_fail(&cy->ops[i]->base, status, fmt, message);
}

/*
 * The batch is restored and nginx -t ran again.  When even that config
 * fails, the problem is outside the batch (a broken foreign file, nginx
 * itself): no write can be judged, so every one is retried later.
 * Otherwise a write alone in its batch was the one refused; more are
 * tried one at a time.
 */
static void after_base_test(struct ngx_cycle *cy, int status,
                            const char *message)
{
  size_t tried = 0;

  if (status != PROVIDER_OK) {
    fail_candidates(cy, PROVIDER_TRANSIENT,
                    "nginx: the config fails without this change too "
                    "(retried later): %s",
                    message);
    finish_cycle(cy);
    return;
  }
  for (size_t i = 0; i < cy->n; i++)
    if (cy->ops[i]->candidate)
      tried++;
  if (tried == 1) {
    fail_candidates(cy, cy->test_status, "%s", cy->test_msg);
    finish_cycle(cy);
    return;
  }
  cy->solo = 0;
  solo_next(cy);
}

static void after_test(int status, const char *message, void *arg)
{
  struct ngx_cycle *cy = arg;

  if (cy->stage == ST_TEST_BASE) {
    after_base_test(cy, status, message);
    return;
  }
  cy->test_status = status;
  if (cy->stage == ST_TEST_ALL) {
    if (status == PROVIDER_OK) {
      for (size_t i = 0; i < cy->n; i++)
        cy->ops[i]->kept = cy->ops[i]->applied;
      reload(cy);
      return;
    }
    snprintf(cy->test_msg, sizeof(cy->test_msg), "%s", message);
    cycle_fs(cy, FS_REVERT, 0, cy->n, ST_REVERT_ALL);
    return;
  }
  assert(cy->stage == ST_SOLO_TEST);
  if (status == PROVIDER_OK) {
    cy->ops[cy->solo++]->kept = true;
    solo_next(cy);
    return;
  }
  snprintf(cy->test_msg, sizeof(cy->test_msg), "%s", message);
  cycle_fs(cy, FS_REVERT, cy->solo, cy->solo + 1, ST_SOLO_REVERT);
}

/* ---- file work ---- */

static void fs_work(uv_work_t *req)
{
  struct ngx_cycle *cy = container_of(req, struct ngx_cycle, work);

  switch (cy->fs_mode) {
  case FS_APPLY:
    for (size_t i = cy->fs_lo; i < cy->fs_hi; i++)
      if (cy->ops[i]->base.status == PROVIDER_OK)
        ngx__apply(cy->ops[i]);
    return;
  case FS_REVERT:
    /* Newest first, so each file gets back exactly what it held. */
    for (size_t i = cy->fs_hi; i-- > cy->fs_lo;)
      if (cy->ops[i]->applied)
        ngx__revert(cy->ops[i]);
    return;
  case FS_FINALIZE:
    for (size_t i = cy->fs_lo; i < cy->fs_hi; i++)
      if (finalizable(cy->ops[i]))
        ngx__finalize(cy->ops[i]);
    return;
  }
}

/* The batch is on disk: tested, unless no write got that far. */
static void after_apply_all(struct ngx_cycle *cy)
{
  size_t tried = 0;

  for (size_t i = 0; i < cy->n; i++) {
    cy->ops[i]->candidate = cy->ops[i]->applied;
    if (cy->ops[i]->applied)
      tried++;
  }
  if (tried == 0)
    finish_cycle(cy);
  else
    test(cy, ST_TEST_ALL);
}

static void after_fs(uv_work_t *req, int status)
{
  struct ngx_cycle *cy = container_of(req, struct ngx_cycle, work);

  (void)status; /* never cancelled: nothing calls uv_cancel */
  switch (cy->stage) {
  case ST_APPLY_ALL:
    after_apply_all(cy);
    return;
  case ST_REVERT_ALL:
    /* When nginx could not run at all, no write can be tested. */
    if (cy->test_status == PROVIDER_TRANSIENT) {
      fail_candidates(cy, cy->test_status, "%s", cy->test_msg);
      finish_cycle(cy);
      return;
    }
    test(cy, ST_TEST_BASE);
    return;
  case ST_SOLO_APPLY:
    if (cy->ops[cy->solo]->applied) {
      test(cy, ST_SOLO_TEST);
    } else {
      cy->solo++;
      solo_next(cy);
    }
    return;
  case ST_SOLO_REVERT:
    rt_op_fail(&cy->ops[cy->solo]->base, cy->test_status, "%s", cy->test_msg);
    cy->solo++;
    solo_next(cy);
    return;
  case ST_UNDO:
  case ST_FINALIZE:
    finish_cycle(cy);
    return;
  case ST_UNVERIFY:
    finalize(cy);
    return;
  case ST_TEST_ALL:
  case ST_TEST_BASE:
  case ST_SOLO_TEST:
  case ST_RELOAD:
  case ST_VERIFY:
    break;
  }
  assert(!"file work in a stage without any");
}

static void cycle_fs(struct ngx_cycle *cy, enum fs_mode mode, size_t lo,
                     size_t hi, enum stage next)
{
  cy->fs_mode = mode;
  cy->fs_lo = lo;
  cy->fs_hi = hi;
  cy->stage = next;
  if (uv_queue_work(cy->ng->rt.base.loop, &cy->work, fs_work, after_fs) == 0)
    return;
  /* Only a programming error fails to queue; we are in a loop callback,
   * so doing the work here still answers no caller from inside its call. */
  fs_work(&cy->work);
  after_fs(&cy->work, 0);
}

/* ---- the queue ---- */

static bool file_in_cycle(const struct ngx_cycle *cy, const char *file)
{
  for (size_t i = 0; i < cy->n; i++)
    if (strcmp(cy->ops[i]->file, file) == 0)
      return true;
  return false;
}

void ngx__write(struct ngx *ng, struct ngx_op *op)
{
  op->base.next = NULL;
  *ng->pending_tail = &op->base;
  ng->pending_tail = &op->base.next;
}

/*
 * Takes every waiting write, except a second one to a file already in the
 * batch: that one waits for the next cycle (its restore and verification
 * would cross the first's), and so does every later write to that file.
 */
void ngx__cycle_start(struct ngx *ng)
{
  struct rt_op *later = NULL, **later_tail = &later, *next;
  struct ngx_cycle *cy;
  size_t n = 0;

  if (ng->cycle || !ng->pending)
    return;
  cy = td_calloc(1, sizeof(*cy));
  cy->ng = ng;
  for (struct rt_op *op = ng->pending; op; op = op->next)
    n++;
  cy->ops = td_calloc(n, sizeof(*cy->ops));
  for (struct rt_op *base = ng->pending; base; base = next) {
    struct ngx_op *op = container_of(base, struct ngx_op, base);

    next = base->next;
    base->next = NULL;
    if (file_in_cycle(cy, op->file)) {
      *later_tail = base;
      later_tail = &base->next;
    } else {
      cy->ops[cy->n++] = op;
    }
  }
  ng->pending = later;
  ng->pending_tail = later ? later_tail : &ng->pending;
  ng->cycle = cy;
  cycle_fs(cy, FS_APPLY, 0, cy->n, ST_APPLY_ALL);
}
