/*
 * source_internal.h - what source.c and source_local.c share: the
 * source itself, and the fetch and push that copy objects between two
 * repositories on this machine instead of building a pack.
 */
#ifndef TD_SOURCE_INTERNAL_H
#define TD_SOURCE_INTERNAL_H

#include "base/compat.h"

#include <git2.h>

#include "git/giturl.h"
#include "git/source.h"

#define NOTES_REMOTE_REF "refs/tenantd/origin-notes"
#define APPROVED_REFS "refs/tags/approved/"

/* A pack built once, kept to be handed on as it is: the objects it
 * holds (sorted) and its bytes. */
struct source_pack {
  git_oid *ids;
  size_t n;
  git_buf data;
};

struct source {
  struct source_opts o;
  struct giturl u; /* the URL taken apart; u.shown is the one messages show */
  char *url;       /* what libgit2 is given: never holds a password */
  char *mirror;    /* <cache>/<name>-<hash>.git */
  char *known_hosts;
  uint64_t timeout_ms;
  int lock_fd;
  git_repository *repo;
  unsigned cred_tries;
  bool url_creds_offered;
  char why[768];      /* this module's own reason for refusing, "" when none */
  bool push_rejected; /* the remote refused a ref update */
  char push_why[256];
  /* refspecs of a regular fetch, and the refs they fill */
  char *spec[3];
  char *dst[3];
  /* While objects are staged (source_stage_begin), the repository they
   * are written to; the last pack landed, for the push. */
  git_repository *stage;
  struct source_pack staged;
};

/*
 * A fetch or push between repositories on this machine (file:// or a
 * path) goes through libgit2's transport as one built from a pack: the
 * remote side's pack is built, compressed and indexed in this process,
 * for every fetch and push, and each fetch leaves one more pack in the
 * mirror.  For the few objects a commit adds, copying them is cheaper:
 * the objects reachable from a tip that the other repository lacks are
 * read from one and written loose into the other, each after the
 * objects it names (so an object present means everything it names is
 * present, as Git assumes), and each checked against its id.  A tree is
 * walked against its first parent's tree, so an unchanged subtree or
 * file costs nothing.  Past SOURCE_LOOSE_MAX objects (a first fetch, a
 * status commit of every tenant) a file each costs more than a pack:
 * the same objects go as one pack, built by libgit2's pack builder and
 * indexed by the other side whole, each then checked to be there.  Past
 * SOURCE_COPY_MAX the caller falls back to the transport.
 */
#define SOURCE_LOOSE_MAX 2048
#define SOURCE_COPY_MAX (256 * 1024)

/* Copies what `tip` needs from `from` into `to`: loose up to
 * `loose_max` objects, else as a pack: `ready` when it holds every
 * object to copy (it may hold more), else one built now.  With `check`
 * a loose file linked over is read back and hashed (a fetch: the remote
 * is not trusted); without, it is linked unread (a push: the mirror's
 * objects were checked as they came in, or hashed as tenantd wrote
 * them).  0 done (or nothing to copy), 1 more than `max` objects:
 * nothing written, -1 with libgit2's error set. */
int source__copy_objects(git_repository *from, git_repository *to,
                         const git_oid *tip, size_t loose_max, size_t max,
                         const struct source_pack *ready, bool check);

/* Drops a kept pack. */
void source__pack_release(struct source_pack *p);

/* The git directory of a remote on this machine; NULL for others. */
char *source__local_gitdir(const struct source *s);

/*
 * The regular fetch (source_fetch) from a repository on this machine:
 * 0 fetched, 1 to fetch through the transport instead, -1 with
 * td_error_last().  The same refs change as through the transport.
 */
int source__local_fetch(struct source *s, const char *gitdir);

/*
 * A push of `specs` ("src:dst", never forced) to a bare repository on
 * this machine.  Each ref is updated only from the value it had when
 * its objects were checked (compare and swap under the ref's lock), and
 * only by a fast-forward: a remote that moved is a conflict, as through
 * the transport.  0 pushed, 1 to push through the transport instead
 * (anything else than plain branch updates), GIT_ENONFASTFORWARD, or
 * -1 with libgit2's error; a refused update sets s->push_rejected.
 */
int source__local_push(struct source *s, git_repository *remote,
                       const char *const *specs, size_t n);

#endif
