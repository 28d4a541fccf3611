/*
 * fsutil.c - see fsutil.h.
 */
#include "base/compat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"

int fs_errno_code(int e)
{
  if (e == EACCES || e == EPERM || e == EROFS)
    return TD_EPERM;
  if (e == ENOENT)
    return TD_ENOTFOUND;
  return TD_ERROR;
}

static int fail(int e, const char *what, const char *path)
{
  return td_error_code(fs_errno_code(e), "cannot %s %s: %s", what, path,
                       strerror(e));
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
      err = fail(errno, "create directory", path);
    *p = '/';
  }
  if (err == 0 && mkdir(path, mode) < 0 && errno != EEXIST)
    err = fail(errno, "create directory", path);
  free(path);
  return err;
}

/* 0 or an errno. */
static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int fs_write_atomic(const char *dir, const char *name, const char *data,
                    size_t len, mode_t mode)
{
  char *tmp = td_asprintf("%s/.%s.XXXXXX", dir, name);
  char *path = td_asprintf("%s/%s", dir, name);
  int fd = -1, e = 0;
  const char *what = "write";
  bool have_tmp = false;

  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    e = errno;
    goto out;
  }
  have_tmp = true;
  /* mkstemp makes 0600; callers decide who may read. */
  if (fchmod(fd, mode) < 0) {
    e = errno;
    goto out;
  }
  e = write_all(fd, data, len);
  if (e == 0 && fsync(fd) < 0)
    e = errno;
  if (e)
    goto out;
  if (close(fd) < 0) {
    fd = -1;
    e = errno;
    goto out;
  }
  fd = -1;
  if (rename(tmp, path) < 0) {
    e = errno;
    goto out;
  }
  have_tmp = false;
out:
  if (fd >= 0)
    close(fd);
  if (have_tmp)
    unlink(tmp);
  free(tmp);
  if (e) {
    int rc = fail(e, what, path);

    free(path);
    return rc;
  }
  free(path);
  /* The rename is durable only once the directory entry is. */
  return fs_sync_dir(dir);
}

int fs_write_temp(const char *dir, const char *name, const char *data,
                  size_t len, mode_t mode, char **tmp)
{
  char *path = td_asprintf("%s/.%s.XXXXXX", dir, name);
  int fd = mkostemp(path, O_CLOEXEC), e = 0;

  *tmp = NULL;
  if (fd < 0) {
    e = errno;
    goto out;
  }
  /* mkstemp makes 0600; callers decide who may read. */
  if (fchmod(fd, mode) < 0)
    e = errno;
  if (e == 0)
    e = write_all(fd, data, len);
  if (close(fd) < 0 && e == 0)
    e = errno;
  if (e)
    unlink(path);
out:
  if (e) {
    int rc = fail(e, "write", path);

    free(path);
    return rc;
  }
  *tmp = path;
  return 0;
}

int fs_write_unnamed(const char *dir, const char *data, size_t len, mode_t mode,
                     int *fd)
{
  int f = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode), e;

  *fd = -1;
  if (f < 0) {
    e = errno;
    /* EISDIR: a kernel that predates O_TMPFILE; EOPNOTSUPP: a file
     * system without it. */
    if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == EMFILE ||
        e == ENFILE)
      return 1;
    return fail(e, "write a file in", dir);
  }
  /* The umask narrows O_TMPFILE's mode; callers decide who may read. */
  e = fchmod(f, mode) < 0 ? errno : 0;
  if (e == 0)
    e = write_all(f, data, len);
  if (e) {
    close(f);
    return fail(e, "write a file in", dir);
  }
  *fd = f;
  return 0;
}

int fs_link_unnamed(int fd, const char *path)
{
  char self[48];

  /* Linking a descriptor by itself (AT_EMPTY_PATH) takes a privilege;
   * through /proc it takes none. */
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

int fs_sync(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;

  if (fd < 0)
    return fail(errno, "open", path);
  if (syncfs(fd) < 0)
    e = errno;
  close(fd);
  return e ? fail(e, "sync the file system of", path) : 0;
}

int fs_sync_files(char *const *paths, size_t n)
{
  /* Started for all first, the writebacks overlap; each fdatasync then
   * waits for its own, mostly done, and for the journal once. */
  for (size_t i = 0; i < n; i++) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC);

    if (fd < 0)
      return fail(errno, "open", paths[i]);
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    close(fd);
  }
  for (size_t i = 0; i < n; i++) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC), e = 0;

    if (fd < 0)
      return fail(errno, "open", paths[i]);
    if (fdatasync(fd) < 0)
      e = errno;
    close(fd);
    if (e)
      return fail(e, "sync", paths[i]);
  }
  return 0;
}

int fs_sync_fds(const int *fds, size_t n)
{
  for (size_t i = 0; i < n; i++)
    (void)sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
  for (size_t i = 0; i < n; i++)
    if (fdatasync(fds[i]) < 0)
      return td_error_code(fs_errno_code(errno), "cannot sync a new file: %s",
                           strerror(errno));
  return 0;
}

int fs_sync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;

  if (fd < 0)
    return fail(errno, "open", dir);
  /* EINVAL: a file system that cannot sync a directory has no more to
   * make durable by it. */
  if (fsync(fd) < 0 && errno != EINVAL)
    e = errno;
  close(fd);
  return e ? fail(e, "sync the directory", dir) : 0;
}

int fs_read_capped(const char *path, size_t cap, char **out, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t used = 0, alloc = 4096;
  char *buf = NULL;
  int err = 0;

  *out = NULL;
  *len = 0;
  if (fd < 0)
    return fail(errno, "open", path);
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
      err = fail(errno, "read", path);
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

bool fs_is_temp_name(const char *name, const char *suffix)
{
  size_t len = strlen(name), slen = strlen(suffix);

  /* "." + at least one byte of stem + suffix + "." + six random bytes */
  if (name[0] != '.' || len < 1 + 1 + slen + 7)
    return false;
  if (name[len - 7] != '.' || memcmp(name + len - 7 - slen, suffix, slen) != 0)
    return false;
  for (size_t i = len - 6; i < len; i++)
    if (!isalnum((unsigned char)name[i]))
      return false;
  return true;
}

size_t fs_sweep_temp(const char *dir, const char *suffix, const char *spare)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t removed = 0;

  assert(!spare || strlen(spare) == 6);
  if (!d)
    return 0;
  while ((de = readdir(d)) != NULL) {
    const char *name = de->d_name;

    if (!fs_is_temp_name(name, suffix))
      continue;
    if (spare && strcmp(name + strlen(name) - 6, spare) == 0)
      continue;
    if (unlinkat(dirfd(d), name, 0) == 0)
      removed++;
  }
  closedir(d);
  return removed;
}
