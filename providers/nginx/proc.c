/*
 * proc.c - nginx commands (see internal.h): the configured argv plus "-t"
 * or "-s reload", spawned with uv_spawn in nginx's own small environment,
 * its stderr collected through a pipe (capped; the rest is read and
 * dropped), killed after CMD_TIMEOUT_MS.  A command ends once it exited
 * and its output is drained, or EXIT_GRACE_MS after it exited when a
 * child it left behind holds the pipe; its three handles are closed
 * before `done` runs, so the command owns nothing by then.
 */
#include "base/compat.h"

#include <signal.h>
#include <stdio.h>

#include "providers/nginx/internal.h"

/* nginx's output kept for messages; the rest is read and dropped. */
#define OUTPUT_MAX 8192
#define CMD_TIMEOUT_MS 30000
/* After nginx exits, how long its output may still take to drain. */
#define EXIT_GRACE_MS 1000

/* One nginx command: the process, its stderr, its deadline. */
struct proc {
  const char *program; /* argv[0], for messages */
  const char *what;    /* "nginx -t", for messages */
  ngx_proc_cb done;
  void *arg;
  uv_process_t process;
  uv_pipe_t pipe;
  uv_timer_t timer;
  int open_handles;
  int spawn_err;
  bool exited, timed_out;
  int64_t exit_status;
  int term_signal;
  char out[OUTPUT_MAX];
  size_t len;
};

void ngx__summarize(const char *out, size_t len, char *buf, size_t cap)
{
  const char *p = out, *end = out + len;
  size_t used = 0;
  bool serious =
      memmem(out, len, "[emerg]", 7) || memmem(out, len, "[alert]", 7) ||
      memmem(out, len, "[crit]", 6) || memmem(out, len, "[error]", 7);

  buf[0] = '\0';
  while (p < end && used + 1 < cap) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *q = p;
    int n;

    if ((size_t)(e - q) >= 7 && memcmp(q, "nginx: ", 7) == 0)
      q += 7;
    p = nl ? nl + 1 : end;
    /* With errors, only them: the rest says "test failed". */
    if (e == q || (serious && !memmem(q, (size_t)(e - q), "] ", 2)))
      continue;
    n = snprintf(buf + used, cap - used, "%s%.*s", used ? "; " : "",
                 (int)(e - q), q);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  for (char *c = buf; *c; c++)
    if ((unsigned char)*c < 0x20)
      *c = ' ';
}

/* The command's outcome as a status and a message. */
static int outcome(const struct proc *pr, char *msg, size_t cap)
{
  char summary[800];
  int status = PROVIDER_TRANSIENT;

  if (pr->spawn_err == 0 && !pr->timed_out && pr->term_signal == 0)
    status = pr->exit_status == 0 ? PROVIDER_OK : PROVIDER_INVALID;
  ngx__summarize(pr->out, pr->len, summary, sizeof(summary));
  if (pr->spawn_err)
    snprintf(msg, cap, "%s: cannot run %s: %s", pr->what, pr->program,
             uv_strerror(pr->spawn_err));
  else if (pr->timed_out)
    snprintf(msg, cap, "%s: killed after %d ms", pr->what, CMD_TIMEOUT_MS);
  else if (pr->term_signal)
    snprintf(msg, cap, "%s: killed by signal %d%s%s", pr->what, pr->term_signal,
             summary[0] ? ": " : "", summary);
  else if (status < 0)
    snprintf(msg, cap, "%s: %s", pr->what,
             summary[0] ? summary : "failed without a message");
  else
    msg[0] = '\0';
  return status;
}

static void on_handle_closed(uv_handle_t *h)
{
  struct proc *pr = h->data;
  char msg[1024];
  int status;

  if (--pr->open_handles > 0)
    return;
  status = outcome(pr, msg, sizeof(msg));
  pr->done(status, msg, pr->arg);
  free(pr);
}

static void close_once(uv_handle_t *h)
{
  if (!uv_is_closing(h))
    uv_close(h, on_handle_closed);
}

/* Ends the command once it exited and its output is drained. */
static void check_end(struct proc *pr, bool drained)
{
  if (drained)
    close_once((uv_handle_t *)&pr->pipe);
  if (pr->exited && uv_is_closing((uv_handle_t *)&pr->pipe)) {
    uv_timer_stop(&pr->timer);
    close_once((uv_handle_t *)&pr->timer);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct proc *pr = h->data;
  static char sink[4096];

  (void)suggested;
  /* Past the cap, the output goes to a sink: read, never kept. */
  if (pr->len < sizeof(pr->out))
    *buf =
        uv_buf_init(pr->out + pr->len, (unsigned)(sizeof(pr->out) - pr->len));
  else
    *buf = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct proc *pr = s->data;

  if (n > 0 && buf->base == pr->out + pr->len)
    pr->len += (size_t)n;
  if (n < 0)
    check_end(pr, true);
}

static void on_timer(uv_timer_t *t)
{
  struct proc *pr = t->data;

  if (!pr->exited) {
    pr->timed_out = true;
    uv_process_kill(&pr->process, SIGKILL);
    return;
  }
  check_end(pr, true);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
  struct proc *pr = p->data;

  pr->exited = true;
  pr->exit_status = exit_status;
  pr->term_signal = term_signal;
  close_once((uv_handle_t *)&pr->process);
  /* A child it left behind may hold the pipe open: not for long. */
  if (!uv_is_closing((uv_handle_t *)&pr->pipe))
    uv_timer_start(&pr->timer, on_timer, EXIT_GRACE_MS, 0);
  check_end(pr, false);
}

/* Spawns argv with stderr into the pipe; the spawn's error code. */
static int spawn(struct ngx *ng, struct proc *pr, char **argv)
{
  uv_process_options_t opts = {0};
  uv_stdio_container_t stdio[3];

  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_IGNORE;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&pr->pipe;
  opts.file = argv[0];
  opts.args = argv;
  opts.env = ng->env;
  opts.exit_cb = on_exit_cb;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  return uv_spawn(ng->rt.base.loop, &pr->process, &opts);
}

void ngx__run(struct ngx *ng, const char *what, const char *const *extra,
              size_t nextra, ngx_proc_cb done, void *arg)
{
  uv_loop_t *loop = ng->rt.base.loop;
  struct proc *pr = td_calloc(1, sizeof(*pr));
  char **argv = td_calloc(ng->ncmd + nextra + 1, sizeof(*argv));

  pr->program = ng->cmd[0];
  pr->what = what;
  pr->done = done;
  pr->arg = arg;
  for (size_t i = 0; i < ng->ncmd; i++)
    argv[i] = ng->cmd[i];
  for (size_t i = 0; i < nextra; i++)
    argv[ng->ncmd + i] = (char *)extra[i];
  uv_pipe_init(loop, &pr->pipe, 0);
  uv_timer_init(loop, &pr->timer);
  pr->pipe.data = pr;
  pr->timer.data = pr;
  pr->process.data = pr;
  pr->open_handles = 3;
  pr->spawn_err = spawn(ng, pr, argv);
  free(argv);
  if (pr->spawn_err) {
    /* The handles exist even so; closing them ends the command. */
    pr->exited = true;
    uv_close((uv_handle_t *)&pr->process, on_handle_closed);
    uv_close((uv_handle_t *)&pr->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&pr->timer, on_handle_closed);
    return;
  }
  uv_timer_start(&pr->timer, on_timer, CMD_TIMEOUT_MS, 0);
  if (uv_read_start((uv_stream_t *)&pr->pipe, on_alloc, on_read) != 0)
    close_once((uv_handle_t *)&pr->pipe);
}
