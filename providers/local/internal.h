/*
 * internal.h - shared by the local provider's files only: local.c (the
 * instance, its jobs, batches and the threadpool) and state.c (the state
 * files: reading, checking, rendering, and the outputs computed from a
 * spec).  See local.h for what the provider does.
 */
#ifndef TD_LOCAL_INTERNAL_H
#define TD_LOCAL_INTERNAL_H

#include "base/compat.h"
#include "base/fsutil.h"

#include <jansson.h>
#include <stdatomic.h>
#include <uv.h>

#include "providers/common/runtime.h"
#include "providers/local/local.h"

/* Bounds on what the config may ask for; beyond them it is a mistake. */
#define MAX_LATENCY_MS 600000
#define MAX_HEALTH_DELAY_MS 86400000
#define MAX_STATE_DIR 3000
/*
 * File names must leave room in 255 bytes for ".<stem>.json.XXXXXX".  A
 * longer external name (a DNS name may have 253 characters) is stored
 * under its first STEM_KEEP bytes, '~' and a 16-digit hash of the whole.
 */
#define MAX_STEM 200
#define STEM_KEEP (MAX_STEM - 17)
/* A service's addresses: one a replica, at most this many. */
#define LOCAL_MAX_REPLICAS 1000
/* A list larger than this is a runaway state directory, not a tenant. */
#define MAX_LIST 100000
/* Reads and lists per threadpool work item, writes to prepare per work
 * item, and how many work items a turn aims to spread each over
 * (libuv's default pool size).  The controller may keep READ_BATCH reads
 * in flight per call it allows (provider.h's read_batch): a cold pass's
 * window of reads then goes in a few work items, a thread hand-off each,
 * not one per handful.  Writes go in smaller items, so the first are
 * ready for a flush early. */
#define BATCH_MAX 1024
#define PREPARE_BATCH_MAX 64
#define BATCH_SPREAD 4
#define READ_BATCH 512
/* Flushes running at once.  A flush takes every write whose temp file is
 * written by the time it starts (a group commit), so the busier the
 * provider, the more writes share one; writes prepared meanwhile wait
 * for the next. */
#define FLUSH_STREAMS 2
/* A flush of at most this many temp files syncs each of them, so it
 * waits for its own bytes and nobody else's; a larger one syncs the
 * file system in one call (fsutil.h has the figures; at 64 a file at a
 * time made a busy provider a quarter slower: the first apply, and 128
 * calls at once, whose flushes are larger than this). */
#define SYNC_FILES_MAX FS_SYNC_FILES_FEW
/* A batch of at most this many jobs, when the instance has no work on
 * the threadpool and no latencyMs, runs on the loop's thread instead:
 * a pass that changes one tenant then does its few reads and writes
 * without a thread hand-off, each of which costs two wake-ups (a few
 * milliseconds on a loaded machine, more than the work itself). */
#define INLINE_MAX 8
/* Unnamed files an instance holds open at once, each a descriptor from
 * its write to its flush; past it new files take temp names, so a pass
 * at a high concurrency leaves the process's other descriptors (often
 * 1024 in all: sockets, repositories) their room. */
#define UNNAMED_MAX 256
/* In `unsynced`: a directory was made (stateDir or a type directory);
 * a new file was linked into place, whose link count only a file system
 * sync is sure to write (fsutil.h).  Either takes a syncfs(). */
#define DIRS_MADE (1u << RTYPE_COUNT)
#define FILES_LINKED (1u << (RTYPE_COUNT + 1))
#define SYNC_ALL (DIRS_MADE | FILES_LINKED)

struct local {
  struct rt rt; /* first: the runtime's */
  /* Options (local.h). */
  char *state_dir;
  uint64_t latency_ms;
  uint64_t health_delay_ms;
  double fault_rate;
  int fault_class;   /* into fault_classes */
  char *fault_match; /* faults only for ids containing this; NULL: all */
  int fault_on;      /* FAULT_ON_ALL or FAULT_ON_WRITES */
  uint64_t seed;
  uint64_t rng; /* xorshift64* state, never zero */
  /* What no flush has made durable yet: a bit (1u << type) for each
   * type directory with renames or removals, and DIRS_MADE once a
   * directory was made.  Workers set and take bits; close flushes what
   * is left. */
  atomic_uint unsynced;
  uv_work_t flush;
  /* Writes whose temp files are written, and removals allowed, that wait
   * for a flush (loop thread only), in the order they were prepared. */
  struct job **ready;
  size_t nready, ready_alloc;
  unsigned flushing; /* flush work items running */
  unsigned pooled;   /* work items on the threadpool */
  bool small_turn;   /* the turn start() is in has INLINE_MAX jobs at most */
  bool unnamed_ok;   /* new files may be written unnamed (fsutil.h) */
  atomic_uint unnamed_open; /* unnamed files open, up to UNNAMED_MAX */
};

struct job {
  struct rt_op op;  /* first: the runtime's, with the resource's copies */
  uv_timer_t timer; /* delivers the result after latencyMs */
  /* Inputs the worker reads besides the op's: all owned by the job, but
   * state_dir, the instance's, which is never changed and outlives it.
   * dir, path and stem share one allocation, at dir. */
  const char *state_dir;
  char *dir;  /* <stateDir>/<type> */
  char *path; /* <dir>/<stem>.json */
  char *stem; /* the file name without .json: the name, or shortened */
  uint64_t health_delay_ms;
  /* A write: the new state and its text, then the temp file it was
   * written to (tmp), or, for a create holding a slot, the unnamed
   * file open on fd; or a removal, once allowed. */
  json_t *state;
  char *text;
  size_t len;
  char *tmp;
  int fd;
  bool slot;    /* holds one of the instance's UNNAMED_MAX */
  bool unnamed; /* fd is open on the unnamed file */
  bool unread;  /* a create that did not read its name first */
  bool unlink;
  bool done, waited; /* the work is done; latencyMs has passed */
};

/* What a work item does with its jobs: read (and list); prepare writes
 * (check, render, write the temp files); or flush them into place. */
enum batch_kind { BATCH_READS, BATCH_PREPARE, BATCH_FLUSH };

/* Jobs handed to the threadpool as one work item. */
struct batch {
  uv_work_t work;
  enum batch_kind kind;
  bool pooled; /* on the threadpool, not run on the loop's thread */
  size_t n;
  struct job *jobs[];
};

/* Fails j's op with what errno `e` means for it (permissions are AUTH, a
 * file in the path INVALID, the rest TRANSIENT); returns the status. */
int local__fail_errno(struct job *j, const char *what, const char *path, int e);

/*
 * Reads and parses one state file into *out (owned by the caller).
 * PROVIDER_NOT_FOUND when absent; a file too large or not of the state
 * file's shape is PROVIDER_INVALID, named.  Worker threads.
 */
int local__load_state(struct job *j, const char *path, json_t **out);

/* The text of the job's new state, for its batch to write; takes
 * `state` either way. */
int local__render_state(struct job *j, json_t *state);

/* FNV-1a of a name: stable across builds, for file names and addresses. */
uint64_t local__name_hash(const char *name);

/* Sets the outputs computed from `spec` into `outputs`, leaving other
 * keys alone; PROVIDER_INVALID for a spec they cannot come from. */
int local__compute_outputs(struct job *j, const json_t *spec, json_t *outputs);

/* A service's health, recomputed from the clock on every read (and its
 * "addresses" filled in for files written before they existed). */
void local__refresh_health(struct job *j, json_t *state);

#endif
