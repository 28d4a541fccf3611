#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"

char *fs_printf(const char *fmt, ...)
{
  va_list ap;
  int n;
  char *s;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  assert(n >= 0);
  s = td_malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

int fs_mkdir_p(const char *dir, mode_t mode)
{
  char *path = td_strdup(dir);
  int err = 0;

  for (char *p = path + 1; *p && err == 0; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, mode) < 0 && errno != EEXIST)
      err = -errno;
    *p = '/';
  }
  if (err == 0 && mkdir(path, mode) < 0 && errno != EEXIST)
    err = -errno;
  free(path);
  return err;
}

static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int fs_write_atomic(const char *dir, const char *name, const char *data,
                    size_t len, mode_t mode)
{
  char *tmp = fs_printf("%s/.%s.XXXXXX", dir, name);
  char *path = fs_printf("%s/%s", dir, name);
  int fd = -1, dfd = -1, err = 0;
  bool have_tmp = false;

  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    err = -errno;
    goto out;
  }
  have_tmp = true;
  /* mkstemp makes 0600; callers decide who may read. */
  if (fchmod(fd, mode) < 0) {
    err = -errno;
    goto out;
  }
  err = write_all(fd, data, len);
  if (err == 0 && fsync(fd) < 0)
    err = -errno;
  if (err < 0)
    goto out;
  if (close(fd) < 0) {
    fd = -1;
    err = -errno;
    goto out;
  }
  fd = -1;
  if (rename(tmp, path) < 0) {
    err = -errno;
    goto out;
  }
  have_tmp = false;
  /* The rename is durable only once the directory entry is. */
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL))
    err = -errno;
out:
  if (fd >= 0)
    close(fd);
  if (dfd >= 0)
    close(dfd);
  if (have_tmp)
    unlink(tmp);
  free(tmp);
  free(path);
  return err;
}

int fs_read_capped(const char *path, size_t cap, char **out, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t used = 0, alloc = 4096;
  char *buf = NULL;
  int err = 0;

  *out = NULL;
  *len = 0;
  if (fd < 0) {
    if (errno == ENOENT)
      return 1;
    return td_error("cannot open %s: %s", path, strerror(errno));
  }
  buf = td_malloc(alloc);
  for (;;) {
    ssize_t n;

    if (used == alloc) {
      if (used >= cap)
        break;
      alloc *= 2;
      buf = td_realloc(buf, alloc);
    }
    n = read(fd, buf + used, (alloc < cap ? alloc : cap) - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = td_error("cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used >= cap)
      break;
  }
  *out = buf;
  *len = used;
  buf = NULL;
out:
  free(buf);
  close(fd);
  return err;
}
