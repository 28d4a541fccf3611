#include "base/compat.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "base/error.h"
#include "git/gitstream.h"

/*
 * The first four members are those of libgit2's own socket stream
 * (git_socket_stream in src/libgit2/streams/socket.h): its ssh transport
 * takes whatever stream the registry gave it as one and reads the
 * descriptor from `s` to hand it to libssh2.  Keep them first, in this
 * order.
 */
struct tstream {
  git_stream parent;
  char *host;
  char *port;
  int s;
  /* ours */
  uint64_t deadline_ms; /* the operation's, when it was opened */
  bool watched;         /* on the watchdog's list */
  struct tstream *prev, *next;
};

static __thread struct gitstream_op *current;

uint64_t gitstream_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void gitstream_begin(struct gitstream_op *op, uint64_t timeout_ms,
                     const char *host, int port)
{
  memset(op, 0, sizeof(*op));
  op->deadline_ms = timeout_ms ? gitstream_now_ms() + timeout_ms : 0;
  op->host = host;
  op->port = port;
  op->outer = current;
  current = op;
}

void gitstream_end(struct gitstream_op *op)
{
  assert(current == op);
  current = op->outer;
}

bool gitstream_expired(const struct gitstream_op *op)
{
  return op->deadline_ms && gitstream_now_ms() >= op->deadline_ms;
}

/* ---- the watchdog: for descriptors libssh2 reads itself ---- */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static bool wd_running;
static struct tstream *wd_list;

/* Shuts down every listed socket past its deadline; the next deadline,
 * 0 when none.  Shutting down (not closing) keeps the descriptor the
 * stream's own until it closes it, so no other file can take its
 * number meanwhile. */
static uint64_t expire(uint64_t now)
{
  uint64_t next = 0;

  for (struct tstream *st = wd_list; st; st = st->next) {
    if (st->deadline_ms <= now)
      shutdown(st->s, SHUT_RDWR);
    else if (!next || st->deadline_ms < next)
      next = st->deadline_ms;
  }
  return next;
}

static void *watchdog(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&wd_lock);
  for (;;) {
    uint64_t next = expire(gitstream_now_ms());
    struct timespec ts;

    if (!next) {
      pthread_cond_wait(&wd_cond, &wd_lock);
      continue;
    }
    ts.tv_sec = (time_t)(next / 1000);
    ts.tv_nsec = (long)(next % 1000) * 1000000;
    pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
  }
  return NULL;
}

static void watchdog_start(void)
{
  pthread_condattr_t attr;
  pthread_attr_t tattr;
  pthread_t t;

  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&wd_cond, &attr);
  pthread_condattr_destroy(&attr);
  pthread_attr_init(&tattr);
  pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
  wd_running = pthread_create(&t, &tattr, watchdog, NULL) == 0;
  pthread_attr_destroy(&tattr);
}

static void watch(struct tstream *st)
{
  pthread_once(&wd_once, watchdog_start);
  if (!wd_running)
    return;
  pthread_mutex_lock(&wd_lock);
  st->prev = NULL;
  st->next = wd_list;
  if (wd_list)
    wd_list->prev = st;
  wd_list = st;
  st->watched = true;
  pthread_cond_signal(&wd_cond);
  pthread_mutex_unlock(&wd_lock);
}

static void unwatch(struct tstream *st)
{
  if (!st->watched)
    return;
  pthread_mutex_lock(&wd_lock);
  if (st->prev)
    st->prev->next = st->next;
  else
    wd_list = st->next;
  if (st->next)
    st->next->prev = st->prev;
  st->watched = false;
  pthread_mutex_unlock(&wd_lock);
}

/* ---- the stream ---- */

/* Waits until `fd` is ready for `events` or the deadline passes; on the
 * deadline the connection is torn down. */
static int wait_fd(struct tstream *st, short events)
{
  struct pollfd p = {st->s, events, 0};

  for (;;) {
    int ms = -1, rc;

    if (st->deadline_ms) {
      uint64_t now = gitstream_now_ms();

      if (now >= st->deadline_ms) {
        shutdown(st->s, SHUT_RDWR);
        git_error_set(GIT_ERROR_NET, "%s:%s did not answer in time", st->host,
                      st->port);
        return -1;
      }
      ms = (int)(st->deadline_ms - now);
    }
    rc = poll(&p, 1, ms);
    if (rc > 0)
      return 0;
    if (rc < 0 && errno != EINTR) {
      git_error_set(GIT_ERROR_OS, "poll: %s", strerror(errno));
      return -1;
    }
  }
}

/* Whether the operation forbids host:port: its host on another port.
 * Says why, for libgit2 and for the caller. */
static bool pinned_out(const char *host, const char *port)
{
  struct gitstream_op *op = current;

  if (!op || !op->host || strcasecmp(op->host, host) != 0 ||
      atoi(port) == op->port)
    return false;
  snprintf(op->refused, sizeof(op->refused),
           "refused to connect to %s:%s: the source is %s:%d, and "
           "credentials and fetches go only there (a redirect?)",
           host, port, op->host, op->port);
  git_error_set_str(GIT_ERROR_NET, op->refused);
  return true;
}

static int connect_one(struct tstream *st, const struct addrinfo *ai)
{
  int err = 0;
  socklen_t elen = sizeof(err);

  st->s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                 ai->ai_protocol);
  if (st->s < 0)
    return -1;
  if (connect(st->s, ai->ai_addr, ai->ai_addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS)
    err = errno;
  else if (wait_fd(st, POLLOUT) < 0)
    err = ETIMEDOUT; /* wait_fd said why */
  else if (getsockopt(st->s, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
    err = errno;
  if (err == 0)
    return 0;
  close(st->s);
  st->s = -1;
  errno = err;
  return -1;
}

static int st_connect(git_stream *g)
{
  struct tstream *st = (struct tstream *)g;
  struct addrinfo hints, *res = NULL;
  int rc, err = 0;

  if (pinned_out(st->host, st->port))
    return -1;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(st->host, st->port, &hints, &res);
  if (rc != 0) {
    git_error_set(GIT_ERROR_NET, "cannot resolve %s: %s", st->host,
                  gai_strerror(rc));
    return -1;
  }
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (connect_one(st, ai) == 0)
      break;
    err = errno;
    if (st->deadline_ms && gitstream_now_ms() >= st->deadline_ms)
      break;
  }
  freeaddrinfo(res);
  if (st->s < 0) {
    if (err != ETIMEDOUT)
      git_error_set(GIT_ERROR_NET, "failed to connect to %s:%s: %s", st->host,
                    st->port, strerror(err));
    return -1;
  }
  if (st->deadline_ms)
    watch(st);
  return 0;
}

static ssize_t st_read(git_stream *g, void *buf, size_t len)
{
  struct tstream *st = (struct tstream *)g;

  for (;;) {
    ssize_t n = recv(st->s, buf, len, 0);

    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      git_error_set(GIT_ERROR_NET, "read from %s: %s", st->host,
                    strerror(errno));
      return -1;
    }
    if (wait_fd(st, POLLIN) < 0)
      return -1;
  }
}

static ssize_t st_write(git_stream *g, const char *data, size_t len, int flags)
{
  struct tstream *st = (struct tstream *)g;

  (void)flags;
  for (;;) {
    ssize_t n = send(st->s, data, len, MSG_NOSIGNAL);

    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      git_error_set(GIT_ERROR_NET, "write to %s: %s", st->host,
                    strerror(errno));
      return -1;
    }
    if (wait_fd(st, POLLOUT) < 0)
      return -1;
  }
}

static int st_close(git_stream *g)
{
  struct tstream *st = (struct tstream *)g;

  unwatch(st);
  if (st->s >= 0)
    close(st->s);
  st->s = -1;
  return 0;
}

static void st_free(git_stream *g)
{
  struct tstream *st = (struct tstream *)g;

  st_close(g);
  free(st->host);
  free(st->port);
  free(st);
}

static int st_new(git_stream **out, const char *host, const char *port)
{
  struct tstream *st = td_calloc(1, sizeof(*st));

  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = st_connect;
  st->parent.read = st_read;
  st->parent.write = st_write;
  st->parent.close = st_close;
  st->parent.free = st_free;
  st->host = td_strdup(host);
  st->port = td_strdup(port);
  st->s = -1;
  st->deadline_ms = current ? current->deadline_ms : 0;
  *out = &st->parent;
  return 0;
}

int gitstream_register(void)
{
  git_stream_registration reg = {GIT_STREAM_VERSION, st_new, NULL};

  if (git_stream_register(GIT_STREAM_STANDARD, &reg) < 0)
    return td_error("cannot register the network stream: %s",
                    git_error_last() ? git_error_last()->message : "?");
  return 0;
}
