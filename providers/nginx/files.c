/*
 * files.c - the nginx provider's file work (see internal.h), run on the
 * threadpool: each function is given an op it owns for the moment and
 * touches the instance only to read sitesDir and listen, which never
 * change after open.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "providers/nginx/internal.h"

/* FILE_ODD: not a regular file, or larger than the cap. */
enum { FILE_OK = 0, FILE_ODD = 1 };

/* Permission problems are refused credentials; the rest may pass. */
static int fail_errno(struct ngx_op *op, const char *what, const char *path,
                      int e)
{
  int status = e == EACCES || e == EPERM ? PROVIDER_AUTH : PROVIDER_TRANSIENT;

  return rt_op_fail(&op->base, status, "nginx: %s %s: %s", what, path,
                    strerror(e));
}

/* Reads all of `fd` up to `cap` bytes into *buf (cap + 1 allocated). */
static int read_fd(int fd, size_t cap, char **buf, size_t *got)
{
  *buf = td_malloc(cap + 1);
  *got = 0;
  while (*got < cap) {
    ssize_t n = read(fd, *buf + *got, cap - *got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    *got += (size_t)n;
  }
  (*buf)[*got] = '\0';
  return FILE_OK;
}

/* Reads at most `cap` bytes of a regular file: FILE_OK, FILE_ODD when
 * it is something else or larger (when `whole`), or -errno. */
static int read_file(const char *path, size_t cap, bool whole, char **out,
                     size_t *len)
{
  struct stat st;
  char *buf = NULL;
  size_t got = 0;
  int fd, rc;

  *out = NULL;
  *len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return errno == ELOOP ? FILE_ODD : -errno;
  if (fstat(fd, &st) < 0) {
    rc = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || (whole && (size_t)st.st_size > cap)) {
    rc = FILE_ODD;
    goto out;
  }
  rc = read_fd(fd, cap, &buf, &got);
  /* It grew past the cap while we read. */
  if (rc == FILE_OK && whole && got == cap && (size_t)st.st_size != cap)
    rc = FILE_ODD;
  if (rc != FILE_OK)
    goto out;
  *out = buf;
  *len = got;
  buf = NULL;
out:
  free(buf);
  close(fd);
  return rc;
}

/* ---- reads and lists ---- */

void ngx__read_file(struct ngx_op *op)
{
  char *text = NULL;
  size_t len;
  int rc = read_file(op->path, NGX_FILE_MAX, true, &text, &len);

  if (rc == -ENOENT) {
    rt_op_fail(&op->base, PROVIDER_NOT_FOUND, "nginx: %s does not exist",
               op->path);
  } else if (rc < 0) {
    fail_errno(op, "cannot read", op->path, -rc);
  } else if (rc == FILE_ODD) {
    /* Not a file tenantd writes: something else holds the name. */
    rt_op_ok(&op->base, ngx__observed_new(json_object(), NULL));
  } else {
    rt_op_ok(&op->base, ngx__observe(text, len, ngx_of(op)->listen));
  }
  free(text);
}

/* "<stem>.conf" with a stem tenantd could have written. */
static bool valid_stem_file(const char *name, size_t len)
{
  char stem[NGX_MAX_STEM + 1];

  if (len <= 5 || len - 5 > NGX_MAX_STEM ||
      strcmp(name + len - 5, ".conf") != 0)
    return false;
  memcpy(stem, name, len - 5);
  stem[len - 5] = '\0';
  return ngx__valid_token(stem, NGX_MAX_STEM, false);
}

/* Adds the file to the list when its marker names the op's tenant;
 * PROVIDER_OK, or the op's failure. */
static int list_one(struct ngx_op *op, const char *dir, const char *name)
{
  char *path = td_asprintf("%s/%s", dir, name), *text = NULL, *stem;
  struct ngx_scan s;
  size_t len;
  int rc = read_file(path, NGX_HEAD_MAX, false, &text, &len);

  free(path);
  /* Gone since readdir saw it, or not a file: not a route of ours. */
  if (rc == -ENOENT || rc == FILE_ODD)
    return PROVIDER_OK;
  if (rc < 0)
    return fail_errno(op, "cannot read", name, -rc);
  ngx__scan(text, len, &s);
  free(text);
  if (s.marked && strcmp(s.route.tenant, op->base.tenant) == 0) {
    if (op->base.nitems == NGX_MAX_LIST) {
      ngx__scan_release(&s);
      return rt_op_fail(&op->base, PROVIDER_INVALID,
                        "nginx: %s: more than %d owned files", dir,
                        NGX_MAX_LIST);
    }
    stem = td_strndup(name, strlen(name) - 5);
    rt_op_add_item(&op->base, s.route.id, RTYPE_ROUTE, stem);
    free(stem);
  }
  ngx__scan_release(&s);
  return PROVIDER_OK;
}

void ngx__list_files(struct ngx_op *op)
{
  const char *dir = ngx_of(op)->sites_dir;
  DIR *d = opendir(dir);
  struct dirent *de;

  if (!d) {
    if (errno != ENOENT)
      fail_errno(op, "cannot open directory", dir, errno);
    return;
  }
  for (;;) {
    errno = 0;
    de = readdir(d);
    if (!de) {
      if (errno)
        fail_errno(op, "cannot read directory", dir, errno);
      break;
    }
    if (valid_stem_file(de->d_name, strlen(de->d_name)) &&
        list_one(op, dir, de->d_name) < 0)
      break;
  }
  closedir(d);
  if (op->base.status == PROVIDER_OK)
    rt_op_sort_items(&op->base);
}

/* ---- a cycle's writes ---- */

/* PROVIDER_OK when the file found at the op's name (`exists`; its text,
 * when a regular file) may be replaced by the op; else the op's failure. */
static int check_holder(struct ngx_op *op, bool exists, const char *old,
                        size_t old_len)
{
  struct ngx_scan s = {0};
  int status = PROVIDER_OK;

  if (!exists) {
    if (op->base.kind != RT_CREATE)
      status = rt_op_fail(&op->base, PROVIDER_NOT_FOUND,
                          "nginx: %s does not exist", op->path);
    return status;
  }
  if (old)
    ngx__scan(old, old_len, &s);
  if (!s.marked)
    status = rt_op_fail(&op->base, PROVIDER_CONFLICT,
                        "nginx: %s exists without a tenantd marker", op->path);
  else if (strcmp(s.route.tenant, op->base.tenant) != 0 ||
           strcmp(s.route.id, op->base.id) != 0)
    status =
        rt_op_fail(&op->base, PROVIDER_CONFLICT,
                   "nginx: %s is held by another resource (tenant=%s id=%s)",
                   op->path, s.route.tenant, s.route.id);
  ngx__scan_release(&s);
  return status;
}

/* Deletes the op's file, or writes its pending text. */
static int put_file(struct ngx_op *op, const char *old, size_t old_len)
{
  const char *dir = ngx_of(op)->sites_dir;
  int rc;

  if (op->base.kind == RT_REMOVE) {
    if (unlink(op->path) < 0) {
      if (errno == ENOENT)
        return rt_op_fail(&op->base, PROVIDER_NOT_FOUND,
                          "nginx: %s does not exist", op->path);
      return fail_errno(op, "cannot remove", op->path, errno);
    }
    json_decref(op->hosts);
    op->hosts = ngx__hosts_of(old, old_len);
    return PROVIDER_OK;
  }
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return fail_errno(op, "cannot create directory", dir, errno);
  /* 0644: route files are meant to be read, like any nginx config. */
  rc = fs_write_atomic(dir, op->file, op->text, op->text_len, 0644);
  if (rc < 0)
    return rt_op_fail(&op->base, provider_status_of_fs(rc), "nginx: %s",
                      td_error_last());
  return PROVIDER_OK;
}

void ngx__apply(struct ngx_op *op)
{
  char *old = NULL;
  size_t old_len = 0;
  int rc = read_file(op->path, NGX_FILE_MAX, true, &old, &old_len);
  bool exists = rc == FILE_OK || rc == FILE_ODD;

  free(op->old_text);
  op->old_text = NULL;
  op->had_old = false;
  op->restore_err[0] = '\0';
  if (rc < 0 && rc != -ENOENT) {
    fail_errno(op, "cannot read", op->path, -rc);
    goto out;
  }
  if (check_holder(op, exists, old, old_len) < 0 ||
      put_file(op, old, old_len) < 0)
    goto out;
  op->applied = true;
  op->had_old = exists;
  op->old_text = old;
  op->old_len = old_len;
  old = NULL;
out:
  free(old);
}

/*
 * When the old file cannot be put back, the file this write left is
 * renamed out of the "*.conf" glob (".<name>.conf.failed"), so nginx
 * never loads a file no test accepted; the route then reads as missing
 * and the next pass writes it again.
 */
void ngx__revert(struct ngx_op *op)
{
  const char *dir = ngx_of(op)->sites_dir;
  char why[512];
  int rc = 0;

  if (op->had_old) {
    rc = fs_write_atomic(dir, op->file, op->old_text, op->old_len, 0644);
    snprintf(why, sizeof(why), "%s", td_error_last());
  } else if (unlink(op->path) < 0 && errno != ENOENT) {
    rc = TD_ERROR;
    snprintf(why, sizeof(why), "%s", strerror(errno));
  }
  op->applied = false;
  if (rc == 0)
    return;
  if (op->base.kind != RT_REMOVE) {
    char *aside = td_asprintf("%s/.%s.failed", dir, op->file);
    bool moved = rename(op->path, aside) == 0;

    if (moved)
      snprintf(op->restore_err, sizeof(op->restore_err),
               "cannot restore %s: %s; the new file is moved aside to %s",
               op->path, why, aside);
    free(aside);
    if (moved)
      return;
  }
  snprintf(op->restore_err, sizeof(op->restore_err), "cannot restore %s: %s",
           op->path, why);
}

/* A comment changes, so no reload is needed. */
void ngx__finalize(struct ngx_op *op)
{
  int rc = fs_write_atomic(ngx_of(op)->sites_dir, op->file, op->final_text,
                           op->final_len, 0644);

  if (rc < 0)
    rt_op_fail(&op->base, provider_status_of_fs(rc),
               "nginx: route %s is served, but it cannot be rewritten "
               "without its pending mark: %s",
               op->base.id, td_error_last());
}
