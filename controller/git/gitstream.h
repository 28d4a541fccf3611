/*
 * gitstream.h - the TCP connections libgit2 makes, bounded in time and
 * held to the configured server.
 *
 * libgit2 1.5 has no network timeout: a server that accepts and never
 * answers holds a fetch for ever.  This module registers tenantd's own
 * standard stream with libgit2 (git2/sys/stream.h).  libgit2 opens it
 * for http://, for https:// underneath its TLS layer, and for ssh://.
 * Every connect, read and write waits with poll() against the deadline
 * of the operation under way on the calling thread; past it the
 * connection is shut down and the call fails.  libgit2's ssh transport
 * takes the descriptor and lets libssh2 read it directly, bypassing
 * read and write: for those connections a watchdog thread shuts the
 * socket down at the deadline, which ends libssh2's wait.
 *
 * An operation also pins the endpoint: a connection to the configured
 * host on another port (a redirect's doing: libgit2 itself refuses a
 * redirect to another host, but not to another port of the same host)
 * is refused before anything is sent.
 *
 *   gitstream_register();                   -- after git_libgit2_init()
 *   struct gitstream_op op;
 *   gitstream_begin(&op, 60000, "git.example.com", 443);
 *   git_remote_fetch(...);                  -- on this thread
 *   gitstream_end(&op);
 *   if (rc < 0 && gitstream_expired(&op)) ... it timed out
 *
 * Operations nest per thread, never across threads; a connection made
 * outside any operation has no deadline and no pin.
 */
#ifndef TD_GITSTREAM_H
#define TD_GITSTREAM_H

#include "base/compat.h"

struct gitstream_op {
  uint64_t deadline_ms; /* on the monotonic clock; 0: none */
  const char *host;     /* borrowed; NULL: no pin */
  int port;
  char refused[256]; /* why a connection was refused, "" when none */
  struct gitstream_op *outer;
};

/* Makes libgit2 open tenantd's streams.  0 or -1 (td_error). */
int gitstream_register(void);

/* Starts an operation on this thread: timeout_ms from now (0: none),
 * connections to `host` (borrowed until gitstream_end) only on `port`. */
void gitstream_begin(struct gitstream_op *op, uint64_t timeout_ms,
                     const char *host, int port);
void gitstream_end(struct gitstream_op *op);

/* Whether the operation's deadline has passed. */
bool gitstream_expired(const struct gitstream_op *op);

/* Milliseconds on the monotonic clock. */
uint64_t gitstream_now_ms(void);

#endif
