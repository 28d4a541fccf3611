/*
 * status_dir.c - statuses as files in a directory: <dir>/<tenant>.yaml,
 * written atomically, read with a cap, and the status store over them.
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
#include "engine/status.h"

/* Longest tenant name accepted for a file name: NAME_MAX less room for
 * ".yaml" and the temporary file's suffix. */
#define TENANT_NAME_MAX 200

/* Tenant names are DNS labels; anything that could leave the directory or
 * hide in it is refused before it becomes a path. */
static int check_tenant(const char *tenant)
{
  if (!tenant || !*tenant || tenant[0] == '.' || strchr(tenant, '/') ||
      strlen(tenant) > TENANT_NAME_MAX)
    return td_error_code(TD_EINVALID,
                         "'%.64s' is not a valid tenant name for a status file",
                         tenant ? tenant : "");
  return 0;
}

static char *status_path(const char *dir, const char *tenant)
{
  size_t n = strlen(dir) + strlen(tenant) + sizeof("/.yaml");
  char *p = td_malloc(n);

  snprintf(p, n, "%s/%s.yaml", dir, tenant);
  return p;
}

/* mkdir -p: every missing component, mode 0755. */
static int make_dirs(const char *dir)
{
  struct stat sb;
  int rc;

  if (!*dir)
    return td_error("no status directory given");
  rc = fs_mkdir_p(dir, 0755);
  if (rc < 0)
    return rc;
  if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
    return td_error("%s is not a directory", dir);
  return 0;
}

int tenant_status_write(const char *dir, const struct tenant_status *st)
{
  char *name = NULL, *text = NULL;
  int err, rc;

  assert(dir && st);
  err = check_tenant(st->tenant);
  if (err < 0)
    return err;
  err = make_dirs(dir);
  if (err < 0)
    return err;
  name = td_asprintf("%s.yaml", st->tenant);
  text = tenant_status_format(st);
  /* A status holds no secrets: others may read it. */
  rc = fs_write_atomic(dir, name, text, strlen(text), 0644);
  if (rc < 0)
    err = rc;
  free(name);
  free(text);
  return err;
}

static void change_failed(struct status_change *c, int rc)
{
  c->rc = rc < 0 ? rc : TD_ERROR;
  snprintf(c->error, sizeof(c->error), "%s", td_error_last());
}

/* The temp file of each write; false when none was written. */
static bool write_temps(const char *dir, struct status_change *v, size_t n,
                        char **tmp)
{
  bool any = false;
  int rc;

  for (size_t i = 0; i < n; i++) {
    char *name, *text;

    v[i].rc = 0;
    v[i].error[0] = '\0';
    rc = check_tenant(v[i].tenant);
    if (rc < 0) {
      change_failed(&v[i], rc);
      continue;
    }
    if (!v[i].st)
      continue;
    rc = make_dirs(dir);
    if (rc < 0) {
      change_failed(&v[i], rc);
      continue;
    }
    name = td_asprintf("%s.yaml", v[i].tenant);
    text = tenant_status_format(v[i].st);
    /* A status holds no secrets: others may read it. */
    rc = fs_write_temp(dir, name, text, strlen(text), 0644, &tmp[i]);
    free(name);
    free(text);
    if (rc < 0)
      change_failed(&v[i], rc);
    else
      any = true;
  }
  return any;
}

/*
 * Makes the `n` temp files durable: a few one by one when the directory
 * was there before (a pass that changes a few tenants then waits for its
 * own bytes, not for everything the file system has yet to write), the
 * rest with one flush of the file system.
 */
static int sync_temps(const char *dir, char **tmp, size_t n, bool existed)
{
  char *few[FS_SYNC_FILES_FEW];
  size_t k = 0;

  for (size_t i = 0; i < n; i++) {
    if (!tmp[i])
      continue;
    if (!existed || k == FS_SYNC_FILES_FEW)
      return fs_sync(dir);
    few[k++] = tmp[i];
  }
  return fs_sync_files(few, k);
}

void tenant_status_write_all(const char *dir, struct status_change *v, size_t n)
{
  char **tmp = td_calloc(n ? n : 1, sizeof(*tmp));
  struct stat sb;
  /* A directory made now has its name in its parent to make durable. */
  bool existed = stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
  bool any = write_temps(dir, v, n, tmp), moved = false;
  int rc = any ? sync_temps(dir, tmp, n, existed) : 0;

  for (size_t i = 0; i < n; i++) {
    char *path;

    if (v[i].rc < 0)
      continue;
    /* Not flushed: never renamed.  A removal needs no flush first. */
    if (tmp[i] && rc < 0) {
      unlink(tmp[i]);
      change_failed(&v[i], rc);
      continue;
    }
    path = status_path(dir, v[i].tenant);
    if (tmp[i] ? rename(tmp[i], path) < 0
               : unlink(path) < 0 && errno != ENOENT) {
      int e = errno;

      if (tmp[i])
        unlink(tmp[i]);
      v[i].rc = td_error_code(fs_errno_code(e), "cannot %s %s: %s",
                              tmp[i] ? "replace" : "remove", path, strerror(e));
      change_failed(&v[i], v[i].rc);
    } else {
      moved = true;
    }
    free(path);
  }
  /* The renames and removals are durable once the directory is (and
   * a new directory once the file system is). */
  if (moved && (existed ? fs_sync_dir(dir) : fs_sync(dir)) < 0)
    for (size_t i = 0; i < n; i++)
      if (v[i].rc == 0)
        change_failed(&v[i], TD_ERROR);
  for (size_t i = 0; i < n; i++)
    free(tmp[i]);
  free(tmp);
}

/* Reads all of fd, at most STATUS_MAX_BYTES; *buf is NUL-terminated. */
static int read_capped(int fd, const char *path, size_t hint, char **buf,
                       size_t *len)
{
  size_t alloc = (hint < STATUS_MAX_BYTES ? hint : STATUS_MAX_BYTES) + 2;
  size_t n = 0;
  char *p = td_malloc(alloc);
  int err = 0;

  for (;;) {
    ssize_t got;

    if (n + 1 == alloc) {
      if (n > STATUS_MAX_BYTES) {
        err = td_error("%s: status is larger than %zu bytes", path,
                       STATUS_MAX_BYTES);
        break;
      }
      alloc =
          alloc * 2 < STATUS_MAX_BYTES + 2 ? alloc * 2 : STATUS_MAX_BYTES + 2;
      p = td_realloc(p, alloc);
    }
    got = read(fd, p + n, alloc - 1 - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      err = td_error("cannot read %s: %s", path, strerror(errno));
      break;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  if (err == 0 && n > STATUS_MAX_BYTES)
    err =
        td_error("%s: status is larger than %zu bytes", path, STATUS_MAX_BYTES);
  if (err < 0) {
    free(p);
    return err;
  }
  p[n] = '\0';
  *buf = p;
  *len = n;
  return 0;
}

int tenant_status_read(const char *dir, const char *tenant,
                       struct tenant_status **out)
{
  char *path = NULL, *text = NULL;
  struct tenant_status *st = NULL;
  struct stat sb;
  size_t len = 0;
  int fd = -1, err;

  assert(dir && out);
  *out = NULL;
  err = check_tenant(tenant);
  if (err < 0)
    goto out;
  path = status_path(dir, tenant);
  /* O_NONBLOCK so a FIFO in its place cannot hang us before the check. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) {
    err = td_error_code(TD_ENOTFOUND, "%s: no status yet", path);
    goto out;
  }
  if (fd < 0 || fstat(fd, &sb) < 0) {
    err = td_error("cannot open %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(sb.st_mode)) {
    err = td_error("%s is not a regular file", path);
    goto out;
  }
  err = read_capped(fd, path, (size_t)sb.st_size, &text, &len);
  if (err == 0)
    err = tenant_status_parse_from(path, text, len, &st);
  if (err < 0)
    goto out;
  if (strcmp(st->tenant, tenant) != 0) {
    err = td_error("%s: tenant is '%.64s', expected '%s'", path, st->tenant,
                   tenant);
    goto out;
  }
  *out = st;
  st = NULL;
out:
  if (fd >= 0)
    close(fd);
  tenant_status_free(st);
  free(text);
  free(path);
  return err;
}

int tenant_status_remove(const char *dir, const char *tenant)
{
  char *path;
  int err = check_tenant(tenant);

  if (err < 0)
    return err;
  path = status_path(dir, tenant);
  if (unlink(path) < 0 && errno != ENOENT)
    err = td_error("cannot remove %s: %s", path, strerror(errno));
  free(path);
  return err;
}

static int dir_store_read(struct status_store *s, const char *tenant,
                          struct tenant_status **out)
{
  struct status_dir_store *ds = container_of(s, struct status_dir_store, base);
  int err;

  /* A listing found no status: a cold plan of many tenants opens no
   * file for each. */
  if (ds->listed_none) {
    *out = NULL;
    err = check_tenant(tenant);
    if (err == 0)
      err = td_error_code(TD_ENOTFOUND, "%s/%s.yaml: no status yet", ds->dir,
                          tenant);
    return err;
  }
  return tenant_status_read(ds->dir, tenant, out);
}

static int dir_store_list(struct status_store *s,
                          void (*each)(const char *tenant, void *arg),
                          void *arg)
{
  struct status_dir_store *ds = container_of(s, struct status_dir_store, base);
  DIR *d = opendir(ds->dir);
  struct dirent *de;
  size_t listed = 0;

  ds->listed_none = false;
  if (!d) {
    if (errno != ENOENT)
      return td_error("cannot read %s: %s", ds->dir, strerror(errno));
    ds->listed_none = true;
    return 0;
  }
  while ((de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    char name[TENANT_NAME_MAX + 1];

    /* A status writer killed before its rename left this: remove it. */
    if (fs_is_temp_name(de->d_name, ".yaml")) {
      unlinkat(dirfd(d), de->d_name, 0);
      continue;
    }
    if (n <= 5 || strcmp(de->d_name + n - 5, ".yaml") != 0 ||
        de->d_name[0] == '.' || n - 5 >= sizeof(name))
      continue;
    snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
    each(name, arg);
    listed++;
  }
  closedir(d);
  ds->listed_none = listed == 0;
  return 0;
}

void status_dir_store_init(struct status_dir_store *s, const char *dir)
{
  s->base.read = dir_store_read;
  s->base.list = dir_store_list;
  s->dir = dir;
  s->listed_none = false;
}
