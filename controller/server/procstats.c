#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "server/procstats.h"

/* /proc/self/stat and /proc/stat are a few KiB; more is not procfs. */
#define PROC_MAX_BYTES (64 * 1024)

int procstats_parse(const char *self_stat, const char *stat, long ticks,
                    long page, struct procstats *out)
{
  /* The command name (field 2) may hold spaces and parentheses: the
   * fields are counted from the last ')'. */
  const char *p = strrchr(self_stat, ')'), *btime = strstr(stat, "\nbtime ");
  unsigned long long utime, stime, start, vsize, rss;
  int n;

  memset(out, 0, sizeof(*out));
  if (!p || !btime || ticks <= 0 || page <= 0)
    return td_error("/proc: unexpected contents");
  /* Fields 3 to 24: state, then 20 numbers up to rss. */
  n = sscanf(p + 1,
             " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d "
             "%*d %*d %*d %*d %*d %llu %llu %llu",
             &utime, &stime, &start, &vsize, &rss);
  if (n != 5)
    return td_error("/proc/self/stat: unexpected contents");
  out->cpu_seconds = (double)(utime + stime) / (double)ticks;
  out->virtual_bytes = (double)vsize;
  out->resident_bytes = (double)rss * (double)page;
  out->start_time = strtod(btime + 7, NULL) + (double)start / (double)ticks;
  return 0;
}

static int count_fds(double *out)
{
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *e;
  long n = 0;

  if (!dir)
    return td_error("/proc/self/fd: %s", strerror(errno));
  while ((e = readdir(dir)) != NULL)
    n += e->d_name[0] != '.';
  closedir(dir);
  /* The directory's own descriptor is not the process'. */
  *out = (double)(n > 0 ? n - 1 : 0);
  return 0;
}

/* A procfs file as a string. */
static int read_text(const char *path, char **out)
{
  char *raw = NULL;
  size_t len = 0;
  int rc = fs_read_capped(path, PROC_MAX_BYTES, &raw, &len);

  *out = rc == 0 ? td_strndup(raw, len) : NULL;
  free(raw);
  return rc;
}

int procstats_read(struct procstats *out)
{
  char *self = NULL, *stat = NULL;
  struct rlimit rl;
  int rc;

  memset(out, 0, sizeof(*out));
  rc = read_text("/proc/self/stat", &self);
  if (rc == 0)
    rc = read_text("/proc/stat", &stat);
  if (rc == 0)
    rc = procstats_parse(self, stat, sysconf(_SC_CLK_TCK),
                         sysconf(_SC_PAGESIZE), out);
  if (rc == 0)
    rc = count_fds(&out->open_fds);
  if (rc == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
    out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
  free(self);
  free(stat);
  return rc < 0 ? -1 : 0;
}
