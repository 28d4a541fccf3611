/*
 * libFuzzer target: arbitrary bytes sent to the daemon's HTTP server, on
 * a real socket on loopback, through http_parser, the server's limits and
 * the daemon's router (server/api.c) with a daemon that has no webhook
 * secret and no API token (so nothing starts a pass).  Each input is one
 * connection: written whole, our side shut down, then the loop runs until
 * the server has closed it.  Whatever the bytes: no crash, no leak, and
 * the server is left with no connection.
 */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/daemon_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
  uv_loop_t loop;
  struct httpd *h;
  struct daemon d;
  int port;
} F;

static void setup(void)
{
  static const char config[] =
      "source: {url: file:///nonexistent}\n"
      "providers: {local: {type: local, stateDir: /nonexistent}}\n";
  struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;
  struct diag_list dl = DIAG_LIST_INIT;

  if (uv_loop_init(&F.loop) != 0 ||
      config_parse("fuzz.yaml", config, sizeof(config) - 1, &F.d.cfg, &dl) < 0)
    abort();
  diag_list_release(&dl);
  F.d.loop = &F.loop;
  F.d.ready = true;
  F.d.m = metrics_new();
  F.d.m_queue = metrics_register(F.d.m, METRIC_GAUGE, "q", "q.", NULL, NULL, 0);
  F.d.m_webhooks =
      metrics_register(F.d.m, METRIC_COUNTER, "w", "w.", "result", NULL, 0);
  limits.first_byte_timeout_ms = 1000;
  limits.request_timeout_ms = 1000;
  limits.idle_timeout_ms = 1000;
  if (httpd_start(&F.h, &F.loop, "127.0.0.1", 0, &limits, api__handle,
                  &F.d) < 0)
    abort();
  F.port = httpd_port(F.h);
}

static void count_one(uv_handle_t *h, void *arg)
{
  if (!uv_is_closing(h))
    (*(unsigned *)arg)++;
}

/* Open handles on the loop: the listener, and a connection's two while
 * it lives. */
static unsigned count_handles(void)
{
  unsigned n = 0;

  uv_walk(&F.loop, count_one, &n);
  return n;
}

/* Reads what is there; false once the server closed the connection. */
static bool drain(int fd)
{
  char buf[65536];

  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n > 0)
      continue;
    if (n == 0)
      return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sockaddr_in sin = {.sin_family = AF_INET};
  int fd;
  uint64_t deadline;

  if (!F.h)
    setup();
  sin.sin_port = htons((uint16_t)F.port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
    abort();
  /* Inputs are small (libFuzzer's -max_len): the kernel takes them
   * whole before the server reads anything. */
  if (size && send(fd, data, size, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
      errno != ECONNRESET)
    abort();
  shutdown(fd, SHUT_WR);
  deadline = uv_hrtime() + 5000000000ULL;
  while (drain(fd)) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    uv_run(&F.loop, UV_RUN_NOWAIT);
    poll(&pfd, 1, 1);
    if (uv_hrtime() > deadline) {
      fprintf(stderr, "the server kept a connection past every timeout\n");
      abort();
    }
  }
  close(fd);
  /* Let the server see the close and free the connection: then only the
   * listener is left on the loop, or a connection outlived its socket. */
  for (int i = 0; i < 200 && count_handles() > 1; i++)
    uv_run(&F.loop, UV_RUN_NOWAIT);
  if (count_handles() != 1) {
    fprintf(stderr, "%u handles left after the connection closed\n",
            count_handles());
    abort();
  }
  return 0;
}
