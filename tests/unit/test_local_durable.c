/*
 * The local provider's durability, checked against the system calls
 * themselves.  syncfs, fdatasync, fsync, mkdir, rename, linkat, unlink
 * and open are wrapped here (this executable's definitions come before
 * the C library's) and, while a test watches a state directory, each is
 * recorded:
 *
 *   - a syncfs notes, as it begins, the temp files of the state directory
 *     and what they hold, the unnamed ones (O_TMPFILE) this process has
 *     open there included; once it has ended, that content is durable; so
 *     is a temp file's once an fdatasync (or fsync) of it has ended;
 *   - a temp file renamed, or an unnamed one linked, into place must hold
 *     what an ended sync saw in it: no file is put in place before its
 *     bytes are on disk;
 *   - a rename or removal of a state file, and a directory made, note how
 *     many syncs had begun; it is durable once a syncfs, or an fsync of
 *     its directory, that began after it has ended.  By the time close()
 *     calls back every one is: what a pass applied is on disk before it
 *     records it.
 *
 * Each sync, and each opendir of a directory under the watched one (a
 * list's), also notes whether it ran on the thread that watches (the
 * loop's) or on a worker of the threadpool.
 */
#include "base/compat.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "model/resource.h"
#include "providers/local/internal.h"
#include "providers/local/local.h"
#include "local_fx.h"
#include "status_fx.h"
#include "suites.h"

#define MAX_SEEN 1024
#define MAX_PLACED 1024
#define MAX_TEXT 4096

/* A temp file as a flush saw it when it began. */
struct seen {
  char path[512];
  char text[MAX_TEXT];
  unsigned flush; /* the ordinal of that flush */
};

/* A state file renamed into place or removed, or a directory made. */
struct placed {
  char path[512];
  unsigned begun; /* syncs begun by then */
  bool covered;   /* a sync that began after it has ended */
};

static struct watch {
  pthread_mutex_t lock;
  char dir[64];   /* the state directory watched; "" when none */
  unsigned begun; /* syncs begun, of any kind */
  unsigned syncfs, filesyncs, dirsyncs; /* of each kind, begun */
  struct seen *flushed;
  size_t nflushed;
  struct placed placed[MAX_PLACED];
  size_t nplaced;
  unsigned early; /* renames of a temp file no ended flush covered */
  char why[600];
  unsigned renames, links;   /* temp files put in place, each way */
  char squat[512];           /* a name to take just before a link to it */
  char squat_text[MAX_TEXT]; /* with this */
  bool no_tmpfile; /* open(O_TMPFILE) fails as without file system support */
  /* While set, a flush's sync on a worker waits until `hold_for` new
   * files are open unnamed and `hold_total` new files are written in all
   * (unnamed or under temp names); `held` records how many unnamed ones
   * it saw at most, and whether it gave up after HOLD_MS. */
  size_t hold_for, hold_total;
  size_t held_unnamed_max;
  bool held_too_long;
  pthread_t loop;                       /* the thread that called watch() */
  unsigned off_loop;                    /* syncs on any other thread */
  unsigned listings, listings_off_loop; /* directories read, on others */
} w = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The file's first MAX_TEXT - 1 bytes, NUL-terminated; "" when absent. */
static void read_text(const char *path, char *buf)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? 0 : read(fd, buf, MAX_TEXT - 1);

  buf[n > 0 ? n : 0] = '\0';
  if (fd >= 0)
    close(fd);
}

static bool watched(const char *path)
{
  size_t len = strlen(w.dir);

  return len > 0 && strncmp(path, w.dir, len) == 0 && path[len] == '/';
}

/* The name of an unnamed file, as /proc shows it: "<dir>/#<inode>
 * (deleted)". */
static bool is_unnamed(const char *path)
{
  const char *base = strrchr(path, '/');
  size_t len = strlen(path);

  return base && base[1] == '#' && len > 10 &&
         !strcmp(path + len - 10, " (deleted)");
}

static bool is_temp(const char *path)
{
  const char *base = strrchr(path, '/');

  return base && (base[1] == '.' || is_unnamed(path));
}

/* Set while this thread reads directories for the record itself. */
static __thread bool recording;

/* The next of this process's descriptors (`d` lists /proc/self/fd) open
 * on an unnamed file under the watched directory: its /proc link and the
 * name /proc shows for it; false after the last. */
static bool next_unnamed(DIR *d, char link[300], char path[512])
{
  struct dirent *de;

  while (d && (de = readdir(d)) != NULL) {
    ssize_t len;

    snprintf(link, 300, "/proc/self/fd/%s", de->d_name);
    len = readlink(link, path, 511);
    if (len < 0)
      continue;
    path[len] = '\0';
    if (watched(path) && is_unnamed(path))
      return true;
  }
  return false;
}

/* The unnamed files under the watched directory that this process has
 * open, as they are now: each named as /proc shows it. */
static size_t snapshot_unnamed(struct seen *out, size_t n, unsigned flush)
{
  DIR *d = opendir("/proc/self/fd");
  char link[300], path[512];

  while (n < MAX_SEEN && next_unnamed(d, link, path)) {
    snprintf(out[n].path, sizeof(out[n].path), "%s", path);
    read_text(link, out[n].text);
    out[n++].flush = flush;
  }
  if (d)
    closedir(d);
  return n;
}

/* The temp files under the watched directory, as they are now: in it
 * (a status directory's) and in its type directories (a provider's). */
static size_t snapshot(struct seen *out, unsigned flush)
{
  size_t n = 0;

  recording = true;
  for (int t = -1; t < RTYPE_COUNT; t++) {
    char dir[256];
    DIR *d;
    struct dirent *de;

    if (t < 0)
      snprintf(dir, sizeof(dir), "%s", w.dir);
    else
      snprintf(dir, sizeof(dir), "%s/%s", w.dir, rtype_names[t]);
    d = opendir(dir);
    while (d && (de = readdir(d)) != NULL && n < MAX_SEEN) {
      if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") ||
          !strcmp(de->d_name, ".."))
        continue;
      snprintf(out[n].path, sizeof(out[n].path), "%s/%s", dir, de->d_name);
      read_text(out[n].path, out[n].text);
      out[n++].flush = flush;
    }
    if (d)
      closedir(d);
  }
  n = snapshot_unnamed(out, n, flush);
  recording = false;
  return n;
}

/* What an ended flush saw is durable; a later flush's view wins. */
static void keep(const struct seen *s)
{
  for (size_t i = 0; i < w.nflushed; i++)
    if (!strcmp(w.flushed[i].path, s->path)) {
      if (s->flush > w.flushed[i].flush)
        w.flushed[i] = *s;
      return;
    }
  if (w.nflushed < MAX_SEEN)
    w.flushed[w.nflushed++] = *s;
}

/* Whether fd is open on the watched directory itself. */
static bool of_watched_dir(int fd)
{
  char link[64], path[512];
  ssize_t n;
  bool same;

  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  n = readlink(link, path, sizeof(path) - 1);
  if (n < 0)
    return false;
  path[n] = '\0';
  pthread_mutex_lock(&w.lock);
  same = w.dir[0] != '\0' && !strcmp(path, w.dir);
  pthread_mutex_unlock(&w.lock);
  return same;
}

/* A sync that began as the `me`th has ended: what was placed before it
 * began is durable, in `dir` alone, or everywhere when dir is NULL. */
static void cover(const char *dir, unsigned me)
{
  for (size_t i = 0; i < w.nplaced; i++) {
    struct placed *p = &w.placed[i];
    const char *slash = strrchr(p->path, '/');

    if (p->begun < me &&
        (!dir || (slash && (size_t)(slash - p->path) == strlen(dir) &&
                  !strncmp(p->path, dir, strlen(dir)))))
      p->covered = true;
  }
}

/* How long a held flush waits before the test gives up on it. */
#define HOLD_MS 20000

/* The new files being written under the watched directory, as they are
 * now: those this process has open unnamed (by their /proc names, no
 * file opened: a descriptor opened to read one would count twice), and
 * those under temp names. */
static void count_new_files(size_t *unnamed, size_t *named)
{
  char link[300], path[512];
  struct dirent *de;
  DIR *d;

  *unnamed = *named = 0;
  recording = true;
  d = opendir("/proc/self/fd");
  while (next_unnamed(d, link, path))
    (*unnamed)++;
  if (d)
    closedir(d);
  for (int t = 0; t < RTYPE_COUNT; t++) {
    char dir[256];

    snprintf(dir, sizeof(dir), "%s/%s", w.dir, rtype_names[t]);
    d = opendir(dir);
    while (d && (de = readdir(d)) != NULL)
      *named += de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
                strcmp(de->d_name, "..") != 0;
    if (d)
      closedir(d);
  }
  recording = false;
}

/* Holds a flush on a worker while the test asks (w.hold_for). */
static void hold_flush(void)
{
  uint64_t start = uv_hrtime();
  size_t unnamed, named;

  if (pthread_equal(pthread_self(), w.loop))
    return;
  while (__atomic_load_n(&w.hold_for, __ATOMIC_ACQUIRE)) {
    pthread_mutex_lock(&w.lock);
    count_new_files(&unnamed, &named);
    if (unnamed > w.held_unnamed_max)
      w.held_unnamed_max = unnamed;
    if (unnamed == w.hold_for && unnamed + named >= w.hold_total)
      __atomic_store_n(&w.hold_for, 0, __ATOMIC_RELEASE);
    else if (uv_hrtime() - start > HOLD_MS * 1000000ULL) {
      w.held_too_long = true;
      __atomic_store_n(&w.hold_for, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&w.lock);
    usleep(1000);
  }
}

int syncfs(int fd)
{
  static int (*real)(int);
  struct seen *snap = NULL;
  size_t n = 0;
  unsigned me;
  bool watching;
  int rc;

  if (!real)
    real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
  /* Only the flushes of the watched directory count: the suites share a
   * process under the sanitizers, and another's syncfs is not the
   * provider's flush. */
  if (!of_watched_dir(fd))
    return real(fd);
  hold_flush();
  pthread_mutex_lock(&w.lock);
  watching = w.dir[0] != '\0';
  me = ++w.begun;
  w.syncfs++;
  w.off_loop += !pthread_equal(pthread_self(), w.loop);
  if (watching) {
    snap = td_calloc(MAX_SEEN, sizeof(*snap));
    n = snapshot(snap, me);
  }
  pthread_mutex_unlock(&w.lock);
  rc = real(fd);
  pthread_mutex_lock(&w.lock);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++)
      keep(&snap[i]);
    cover(NULL, me);
  }
  pthread_mutex_unlock(&w.lock);
  free(snap);
  return rc;
}

/* The path fd is open on, when it is the watched directory or under it;
 * false for the rest. */
static bool watched_fd(int fd, char *path, size_t size, bool *is_dir)
{
  char link[64];
  struct stat st;
  ssize_t n;
  bool in;

  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  n = readlink(link, path, size - 1);
  if (n < 0 || fstat(fd, &st) < 0)
    return false;
  path[n] = '\0';
  *is_dir = S_ISDIR(st.st_mode);
  pthread_mutex_lock(&w.lock);
  in = watched(path) || (w.dir[0] && !strcmp(path, w.dir));
  pthread_mutex_unlock(&w.lock);
  return in;
}

/* fsync and fdatasync alike: of a temp file, its bytes are durable once
 * it has ended; of a directory, the entries placed in it before it
 * began. */
static int sync_one(int fd, int (*real)(int))
{
  char path[512], link[64];
  struct seen one = {0};
  bool is_dir = false;
  unsigned me;
  int rc;

  if (!watched_fd(fd, path, sizeof(path), &is_dir))
    return real(fd);
  if (!is_dir)
    hold_flush();
  pthread_mutex_lock(&w.lock);
  me = ++w.begun;
  w.off_loop += !pthread_equal(pthread_self(), w.loop);
  if (is_dir) {
    w.dirsyncs++;
  } else {
    w.filesyncs++;
    snprintf(one.path, sizeof(one.path), "%s", path);
    /* Through the descriptor: an unnamed file has no path to open. */
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    read_text(link, one.text);
    one.flush = me;
  }
  pthread_mutex_unlock(&w.lock);
  rc = real(fd);
  pthread_mutex_lock(&w.lock);
  if (rc == 0 && is_dir)
    cover(path, me);
  else if (rc == 0 && is_temp(path))
    keep(&one);
  pthread_mutex_unlock(&w.lock);
  return rc;
}

int fdatasync(int fd)
{
  static int (*real)(int);

  if (!real)
    real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return sync_one(fd, real);
}

int fsync(int fd)
{
  static int (*real)(int);

  if (!real)
    real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return sync_one(fd, real);
}

static void note_placed(const char *path)
{
  if (w.nplaced < MAX_PLACED) {
    snprintf(w.placed[w.nplaced].path, sizeof(w.placed[0].path), "%s", path);
    w.placed[w.nplaced].covered = false;
    w.placed[w.nplaced++].begun = w.begun;
  }
}

/* Whether the temp file `name`, read at `at` (its path, or its
 * descriptor's link), holds what an ended flush saw in it. */
static bool covered_temp(const char *name, const char *at)
{
  char now[MAX_TEXT];

  read_text(at, now);
  for (size_t i = 0; i < w.nflushed; i++)
    if (!strcmp(w.flushed[i].path, name))
      return now[0] && !strcmp(w.flushed[i].text, now);
  return false;
}

int rename(const char *from, const char *to)
{
  static int (*real)(const char *, const char *);
  int rc;

  if (!real)
    real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  pthread_mutex_lock(&w.lock);
  if (watched(to) && is_temp(from) && !covered_temp(from, from)) {
    w.early++;
    snprintf(w.why, sizeof(w.why), "renamed before flushed: %s", to);
  }
  rc = real(from, to);
  if (rc == 0 && watched(to)) {
    w.renames += is_temp(from);
    note_placed(to);
  }
  pthread_mutex_unlock(&w.lock);
  return rc;
}

/* A state file tenantd did not write. */
#define SQUATTER "{\"spec\": {\"by\": \"hand\"}}\n"

/* Another writer takes `path`, with `text`. */
static void take_name(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

/* An unnamed file linked into place through /proc. */
int linkat(int fromdir, const char *from, int todir, const char *to, int flags)
{
  static int (*real)(int, const char *, int, const char *, int);
  char name[512];
  ssize_t n;
  int rc;

  if (!real)
    real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT,
                                                                     "linkat");
  pthread_mutex_lock(&w.lock);
  if (watched(to) && (n = readlink(from, name, sizeof(name) - 1)) > 0) {
    name[n] = '\0';
    if (is_temp(name) && !covered_temp(name, from)) {
      w.early++;
      snprintf(w.why, sizeof(w.why), "linked before flushed: %s", to);
    }
  }
  if (w.squat[0] && !strcmp(to, w.squat)) {
    take_name(to, w.squat_text);
    w.squat[0] = '\0';
  }
  rc = real(fromdir, from, todir, to, flags);
  if (rc == 0 && watched(to)) {
    w.links++;
    note_placed(to);
  }
  pthread_mutex_unlock(&w.lock);
  return rc;
}

/* Without O_TMPFILE, when a test asks for a file system without it. */
int open(const char *path, int flags, ...)
{
  static int (*real)(const char *, int, ...);
  mode_t mode = 0;

  if (!real)
    real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list ap;

    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if ((flags & O_TMPFILE) == O_TMPFILE &&
      __atomic_load_n(&w.no_tmpfile, __ATOMIC_RELAXED)) {
    errno = EOPNOTSUPP;
    return -1;
  }
  return real(path, flags, mode);
}

int mkdir(const char *path, mode_t mode)
{
  static int (*real)(const char *, mode_t);
  int rc;

  if (!real)
    real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
  pthread_mutex_lock(&w.lock);
  rc = real(path, mode);
  if (rc == 0 && (watched(path) || (w.dir[0] && !strcmp(path, w.dir))))
    note_placed(path);
  pthread_mutex_unlock(&w.lock);
  return rc;
}

int unlink(const char *path)
{
  static int (*real)(const char *);
  int rc;

  if (!real)
    real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
  pthread_mutex_lock(&w.lock);
  rc = real(path);
  if (rc == 0 && watched(path) && !is_temp(path))
    note_placed(path);
  pthread_mutex_unlock(&w.lock);
  return rc;
}

/* A directory read under the watched one: a list's. */
DIR *opendir(const char *path)
{
  static DIR *(*real)(const char *);

  if (!real)
    real = (DIR * (*)(const char *)) dlsym(RTLD_NEXT, "opendir");
  if (recording)
    return real(path);
  pthread_mutex_lock(&w.lock);
  if (watched(path)) {
    w.listings++;
    w.listings_off_loop += !pthread_equal(pthread_self(), w.loop);
  }
  pthread_mutex_unlock(&w.lock);
  return real(path);
}

/* Starts watching `dir` from a clean record (the suites may share a
 * process), or stops with NULL. */
static void watch(const char *dir)
{
  char *real = dir ? realpath(dir, NULL) : NULL;

  ck_assert(!dir || real);
  pthread_mutex_lock(&w.lock);
  snprintf(w.dir, sizeof(w.dir), "%s", real ? real : "");
  free(real);
  free(w.flushed);
  w.flushed = dir ? td_calloc(MAX_SEEN, sizeof(*w.flushed)) : NULL;
  w.nflushed = w.nplaced = 0;
  w.begun = w.syncfs = w.filesyncs = w.dirsyncs = w.early = 0;
  w.renames = w.links = 0;
  w.why[0] = w.squat[0] = '\0';
  w.no_tmpfile = false;
  w.hold_for = w.hold_total = w.held_unnamed_max = 0;
  w.held_too_long = false;
  w.loop = pthread_self();
  w.off_loop = w.listings = w.listings_off_loop = 0;
  pthread_mutex_unlock(&w.lock);
}

/* Whether the last placing of `path` is covered by an ended flush. */
static bool durable(const char *path)
{
  bool found = false, ok = false;

  pthread_mutex_lock(&w.lock);
  for (size_t i = w.nplaced; i-- > 0 && !found;)
    if (!strcmp(w.placed[i].path, path)) {
      found = true;
      ok = w.placed[i].covered;
    }
  pthread_mutex_unlock(&w.lock);
  return found && ok;
}

/* How many renames and removals no ended flush covers. */
static size_t uncovered(void)
{
  size_t n = 0;

  pthread_mutex_lock(&w.lock);
  for (size_t i = 0; i < w.nplaced; i++)
    n += !w.placed[i].covered;
  pthread_mutex_unlock(&w.lock);
  return n;
}

/* A write or removal; its file is in place (or gone) when answered. */
struct call {
  struct fx *f;
  struct resource *r;
  struct res x;
  bool removal;
  bool in_place; /* as it was answered */
};

static void on_call(struct provider *p, const struct provider_result *r,
                    void *arg)
{
  struct call *c = arg;
  char *path = state_path(c->f, "service", c->r->name);

  c->in_place = exists(path) != c->removal;
  free(path);
  on_res(p, r, &c->x);
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  /* Counted here, in the callback: nothing may be left to flush. */
  *(size_t *)arg = uncovered();
}

enum { N = 150 };

static void start_all(struct call *cs, size_t n, enum op op)
{
  in_call = true;
  for (size_t i = 0; i < n; i++) {
    memset(&cs[i].x, 0, sizeof(cs[i].x));
    cs[i].removal = op == REMOVE;
    if (op == CREATE)
      provider_create(cs[i].f->p, cs[i].r, cs[i].r->spec, on_call, &cs[i]);
    else if (op == UPDATE)
      provider_update(cs[i].f->p, cs[i].r, cs[i].r->spec, on_call, &cs[i]);
    else
      provider_remove(cs[i].f->p, cs[i].r, on_call, &cs[i]);
  }
  in_call = false;
}

static void check_all(struct call *cs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    ck_assert(cs[i].x.done);
    ck_assert_int_eq(cs[i].x.status, PROVIDER_OK);
    ck_assert_msg(cs[i].in_place, "%s answered before it was in place",
                  cs[i].r->name);
    res_release(&cs[i].x);
  }
}

/* Stops watching; lets go of the n calls' resources and the fixture. */
static void release_calls(struct fx *f, struct call *cs, size_t n)
{
  watch(NULL);
  for (size_t i = 0; i < n; i++)
    resource_free(cs[i].r);
  fx_release(f);
}

/* Each of the n calls' state files is durable. */
static void assert_durable(struct fx *f, const struct call *cs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char *path = state_path(f, "service", cs[i].r->name);

    ck_assert_msg(durable(path), "%s not durable", path);
    free(path);
  }
}

/* n calls on services "<prefix><i>-acme" of tenant acme. */
static void services_of(struct fx *f, struct call *cs, size_t n,
                        const char *prefix)
{
  for (size_t i = 0; i < n; i++) {
    char id[64], name[64];

    snprintf(id, sizeof(id), "service/%s%zu.acme", prefix, i);
    snprintf(name, sizeof(name), "%s%zu-acme", prefix, i);
    cs[i].f = f;
    cs[i].r = service("acme", id, name, 4000 + (int)i);
  }
}

/* A fixture whose state directory is watched from before it is opened
 * (with the options `extra`), and n calls on services of `prefix`. */
static void watched_services(struct fx *f, struct call *cs, size_t n,
                             const char *prefix, const char *extra)
{
  fx_init(f);
  watch(f->dir);
  fx_open(f, extra);
  services_of(f, cs, n, prefix);
}

/* A new port for each of the n services: an update pass's change. */
static void move_ports(struct call *cs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    json_object_set_new(cs[i].r->spec, "port", json_integer(5000 + (int)i));
}

/*
 * Creates in one turn, then updates, removals and more creates together:
 * every file is renamed into place only after a flush covered its temp
 * file, each is in place when answered, the writes share flushes rather
 * than taking one each, and once close() calls back every rename and
 * removal is covered by a flush.
 */
START_TEST(applied_writes_are_durable)
{
  struct fx f;
  struct call *cs = td_calloc(2 * N, sizeof(*cs));
  size_t left = SIZE_MAX;

  fx_init(&f);
  fx_open(&f, NULL);
  services_of(&f, cs, 2 * N, "d");
  watch(f.dir);
  start_all(cs, N, CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  check_all(cs, N);
  /* New files are written unnamed and linked: no temp name to rename. */
  ck_assert_uint_eq(w.links, N);
  ck_assert_uint_eq(w.renames, 0);
  /* The writes share flushes: a busy provider syncs the file system for
   * many files at once rather than each file. */
  ck_assert_uint_lt(w.syncfs + w.dirsyncs + w.filesyncs, N / 4);
  /* So many writes are flushed by a worker, not on the loop's thread. */
  ck_assert_uint_gt(w.off_loop, 0);
  /* A third updated, a third removed, and N more created, together. */
  move_ports(cs, N / 3);
  start_all(cs, N / 3, UPDATE);
  start_all(cs + N / 3, N / 3, REMOVE);
  start_all(cs + N, N, CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  check_all(cs, N / 3);
  check_all(cs + N / 3, N / 3);
  check_all(cs + N, N);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  /* Updates replace their files through temp names. */
  ck_assert_uint_eq(w.links, 2 * N);
  ck_assert_uint_eq(w.renames, N / 3);
  /* Each write and removal, and service/ made. */
  ck_assert_uint_eq(w.nplaced, N + N / 3 + N / 3 + N + 1);
  START(provider_close(f.p, on_closed, &left));
  f.p = NULL;
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(left, 0);
  release_calls(&f, cs, 2 * N);
  free(cs);
}
END_TEST

/* Runs the calls to their answers, closes the instance and opens it again
 * with the options `extra`; the renames, removals and directories left
 * uncovered at close. */
static size_t run_and_close(struct fx *f, struct call *cs, size_t n, enum op op,
                            const char *extra)
{
  size_t left = SIZE_MAX;

  start_all(cs, n, op);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  check_all(cs, n);
  START(provider_close(f->p, on_closed, &left));
  f->p = NULL;
  uv_run(&f->loop, UV_RUN_DEFAULT);
  fx_open(f, extra);
  return left;
}

/*
 * A pass that changes a few files in directories that exist syncs those
 * files and their directories, never the whole file system: it does not
 * wait for whatever else the host has yet to write.  It does so on the
 * loop's thread, with no hand-off to a worker and back.  The first pass,
 * which makes the state directory's directories, makes them durable too.
 */
START_TEST(a_small_pass_syncs_only_its_files)
{
  struct fx f;
  struct call cs[3] = {{0}};
  unsigned before;

  watched_services(&f, cs, ARRAY_SIZE(cs), "s", NULL);
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), CREATE, NULL), 0);
  ck_assert_uint_ge(w.nplaced, ARRAY_SIZE(cs) + 1); /* service/ made */
  /* The file system flush a new directory takes runs on a worker. */
  ck_assert_uint_ge(w.syncfs, 1);
  ck_assert_uint_ge(w.off_loop, 1);
  before = w.syncfs;
  w.filesyncs = w.dirsyncs = w.off_loop = 0;
  move_ports(cs, ARRAY_SIZE(cs));
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), UPDATE, NULL), 0);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.syncfs, before);
  ck_assert_uint_eq(w.filesyncs, ARRAY_SIZE(cs));
  ck_assert_uint_ge(w.dirsyncs, 1);
  ck_assert_uint_eq(w.off_loop, 0);
  assert_durable(&f, cs, ARRAY_SIZE(cs));
  /* A list reads whole directories: never on the loop's thread. */
  {
    struct list_res lx = {0};

    w.listings = w.listings_off_loop = 0; /* not the first open's sweep */
    ck_assert_int_eq(run_list(&f, "acme", &lx), PROVIDER_OK);
    ck_assert_uint_gt(w.listings, 0);
    ck_assert_uint_eq(w.listings_off_loop, w.listings);
    ck_assert_uint_eq(lx.n, ARRAY_SIZE(cs));
  }
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/* A turn of more writes than INLINE_MAX, in directories that exist, is
 * prepared and flushed by workers, not batch after batch on the loop. */
START_TEST(a_larger_turn_goes_to_workers)
{
  struct fx f;
  struct call cs[20] = {{0}};

  watched_services(&f, cs, ARRAY_SIZE(cs), "m", NULL);
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), CREATE, NULL), 0);
  w.off_loop = 0;
  move_ports(cs, ARRAY_SIZE(cs));
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), UPDATE, NULL), 0);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_ge(w.off_loop, 1);
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/* With latencyMs the loop keeps its timers: even a small pass's files
 * are synced by a worker. */
#define LATENCY "{\"latencyMs\": 1}"

START_TEST(with_latency_a_small_pass_syncs_on_a_worker)
{
  struct fx f;
  struct call cs[3] = {{0}};

  watched_services(&f, cs, ARRAY_SIZE(cs), "l", LATENCY);
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), CREATE, LATENCY), 0);
  w.filesyncs = w.off_loop = 0;
  move_ports(cs, ARRAY_SIZE(cs));
  ck_assert_uint_eq(run_and_close(&f, cs, ARRAY_SIZE(cs), UPDATE, LATENCY), 0);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.filesyncs, ARRAY_SIZE(cs));
  ck_assert_uint_ge(w.off_loop, ARRAY_SIZE(cs));
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/*
 * A few new files in a directory that exists are linked into place
 * unnamed, each after its bytes were synced; their link counts live in
 * their inodes, which a directory's sync may not write (ext4 without a
 * journal), so close() syncs the file system for them, on a worker.
 */
START_TEST(new_files_take_a_file_system_sync_at_close)
{
  struct fx f;
  struct call cs[4] = {{0}};

  watched_services(&f, cs, ARRAY_SIZE(cs), "n", NULL);
  ck_assert_uint_eq(run_and_close(&f, cs, 1, CREATE, NULL), 0);
  w.syncfs = w.filesyncs = w.off_loop = w.links = w.renames = 0;
  ck_assert_uint_eq(run_and_close(&f, cs + 1, 3, CREATE, NULL), 0);
  ck_assert_msg(w.early == 0, "%u early links (%s)", w.early, w.why);
  ck_assert_uint_eq(w.links, 3);
  ck_assert_uint_eq(w.renames, 0);
  ck_assert_uint_eq(w.filesyncs, 3);
  ck_assert_uint_eq(w.syncfs, 1);
  ck_assert_uint_ge(w.off_loop, 1);
  assert_durable(&f, cs + 1, ARRAY_SIZE(cs) - 1);
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/*
 * A create links its new file without reading the name first; a name
 * taken by then (by hand, by another writer) keeps what took it, and the
 * create fails as a create that read it would have.  One that holds the
 * resource's own file (an earlier try's, never answered) is replaced,
 * its bytes synced before the rename like any other.
 */
START_TEST(a_name_taken_meanwhile_is_judged)
{
  struct fx f;
  struct call cs[2] = {{0}};
  char *path, *own, text[MAX_TEXT], marker[RESOURCE_MARKER_MAX];
  size_t left = SIZE_MAX;

  watched_services(&f, cs, 2, "q", NULL);
  path = state_path(&f, "service", cs[0].r->name);
  snprintf(w.squat, sizeof(w.squat), "%s", path);
  snprintf(w.squat_text, sizeof(w.squat_text), "%s", SQUATTER);
  start_all(cs, 1, CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert(cs[0].x.done);
  ck_assert_int_eq(cs[0].x.status, PROVIDER_CONFLICT);
  ck_assert_ptr_nonnull(strstr(cs[0].x.message, "without a tenantd marker"));
  res_release(&cs[0].x);
  read_text(path, text);
  ck_assert_str_eq(text, SQUATTER);

  own = state_path(&f, "service", cs[1].r->name);
  snprintf(w.squat, sizeof(w.squat), "%s", own);
  resource_marker(marker, "acme", cs[1].r->id);
  snprintf(w.squat_text, sizeof(w.squat_text),
           "{\"marker\": \"%s\", \"spec\": {}}\n", marker);
  start_all(cs + 1, 1, CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  check_all(cs + 1, 1);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.renames, 1);
  read_text(own, text);
  ck_assert_ptr_nonnull(strstr(text, "\"port\": 4001"));
  START(provider_close(f.p, on_closed, &left));
  f.p = NULL;
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(left, 0);
  ck_assert(durable(own));
  free(path);
  free(own);
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/* A file system without unnamed files: new files take temp names, and
 * are just as durable; a create then reads its name before it writes,
 * and leaves a file that is not tenantd's as it is. */
START_TEST(without_unnamed_files_new_files_are_renamed)
{
  struct fx f;
  struct call cs[12] = {{0}};
  char *dir, *path, text[MAX_TEXT];

  fx_init(&f);
  watch(f.dir);
  w.no_tmpfile = true;
  fx_open(&f, NULL);
  services_of(&f, cs, ARRAY_SIZE(cs), "r");
  dir = td_asprintf("%s/service", f.dir);
  ck_assert_int_eq(fs_mkdir_p(dir, 0700), 0);
  path = state_path(&f, "service", cs[0].r->name);
  take_name(path, SQUATTER);
  start_all(cs, ARRAY_SIZE(cs), CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(cs[0].x.status, PROVIDER_CONFLICT);
  res_release(&cs[0].x);
  read_text(path, text);
  ck_assert_str_eq(text, SQUATTER);
  check_all(cs + 1, ARRAY_SIZE(cs) - 1);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.links, 0);
  ck_assert_uint_eq(w.renames, ARRAY_SIZE(cs) - 1);
  free(path);
  free(dir);
  release_calls(&f, cs, ARRAY_SIZE(cs));
}
END_TEST

/*
 * An instance holds at most UNNAMED_MAX new files open unnamed; past
 * that, new files take temp names, so a pass at a high concurrency
 * leaves the process's other descriptors their room.  The first flushes
 * are held until every create is written: then exactly UNNAMED_MAX are
 * open unnamed and the rest are under temp names.  Once let go, each
 * file is linked or renamed into place after a flush covered it, and
 * all are durable when close() calls back.
 */
START_TEST(unnamed_files_are_bounded)
{
  enum { MANY = UNNAMED_MAX + 144 };
  struct fx f;
  struct call *cs = td_calloc(MANY, sizeof(*cs));
  size_t left = SIZE_MAX;
  int probe = -1;

  fx_init(&f);
  fx_open(&f, NULL);
  /* Only where the file system makes unnamed files at all. */
  if (fs_write_unnamed(f.dir, "x", 1, 0600, &probe) != 0) {
    fx_release(&f);
    free(cs);
    return;
  }
  close(probe);
  services_of(&f, cs, MANY, "u");
  watch(f.dir);
  w.hold_total = MANY;
  __atomic_store_n(&w.hold_for, UNNAMED_MAX, __ATOMIC_RELEASE);
  start_all(cs, MANY, CREATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_msg(!w.held_too_long,
                "the flush was held %d s: %zu unnamed files at most",
                HOLD_MS / 1000, w.held_unnamed_max);
  check_all(cs, MANY);
  ck_assert_uint_eq(w.held_unnamed_max, UNNAMED_MAX);
  ck_assert_uint_eq(w.links, UNNAMED_MAX);
  ck_assert_uint_eq(w.renames, MANY - UNNAMED_MAX);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  /* Linked files are durable once close() calls back. */
  START(provider_close(f.p, on_closed, &left));
  f.p = NULL;
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(left, 0);
  assert_durable(&f, cs, MANY);
  release_calls(&f, cs, MANY);
  free(cs);
}
END_TEST

/* tenant_status_write_all() of the statuses of `tenants` ("t0", "t1",
 * ...) into `dir`; each must succeed. */
static void write_statuses(const char *dir, size_t tenants)
{
  struct status_change v[16];
  struct tenant_status *st[16];

  ck_assert_uint_le(tenants, ARRAY_SIZE(v));
  for (size_t i = 0; i < tenants; i++) {
    st[i] = full_status();
    free(st[i]->tenant);
    st[i]->tenant = td_asprintf("t%zu", i);
    v[i] = (struct status_change){.tenant = st[i]->tenant, .st = st[i]};
  }
  tenant_status_write_all(dir, v, tenants);
  for (size_t i = 0; i < tenants; i++) {
    ck_assert_msg(v[i].rc == 0, "%s", v[i].error);
    tenant_status_free(st[i]);
  }
}

/*
 * The status directory of a pass without a repository: a few statuses
 * written where the directory exists are synced file by file, then the
 * directory, never the whole file system; many take one file system
 * flush for their bytes (a directory made then takes one for the names
 * too, which covers its own entry in its parent).
 */
START_TEST(a_few_statuses_sync_only_their_files)
{
  char *root = test_tmpdir(), *dir = td_asprintf("%s/status", root);

  ck_assert_int_eq(mkdir(dir, 0755), 0);
  watch(dir);
  write_statuses(dir, 3);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.syncfs, 0);
  ck_assert_uint_eq(w.filesyncs, 3);
  ck_assert_uint_eq(w.dirsyncs, 1);
  ck_assert_uint_eq(uncovered(), 0);
  watch(dir);
  write_statuses(dir, FS_SYNC_FILES_FEW + 1);
  ck_assert_msg(w.early == 0, "%u early renames (%s)", w.early, w.why);
  ck_assert_uint_eq(w.syncfs, 1);
  ck_assert_uint_eq(w.filesyncs, 0);
  ck_assert_uint_eq(w.dirsyncs, 1);
  ck_assert_uint_eq(uncovered(), 0);
  watch(NULL);
  test_rm_rf(root);
  free(root);
  free(dir);
}
END_TEST

/* The checks themselves: a file renamed in place of a temp file no flush
 * saw complete is caught. */
START_TEST(an_early_rename_is_caught)
{
  struct fx f;
  char dir[128], tmp[192], dst[192];
  int fd;

  fx_init(&f);
  snprintf(dir, sizeof(dir), "%s/service", f.dir);
  ck_assert_int_eq(fs_mkdir_p(dir, 0700), 0);
  watch(f.dir);
  snprintf(tmp, sizeof(tmp), "%s/.x.json.AAAAAA", dir);
  snprintf(dst, sizeof(dst), "%s/x.json", dir);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "{}\n", 3), 3);
  close(fd);
  ck_assert_int_eq(rename(tmp, dst), 0);
  ck_assert_uint_eq(w.early, 1);
  ck_assert(!durable(dst));
  ck_assert_int_eq(fs_sync(f.dir), 0);
  ck_assert(durable(dst));
  watch(NULL);
  fx_release(&f);
}
END_TEST

Suite *make_suite_local_durable(void)
{
  Suite *s = suite_create("local_durable");
  TCase *tc = tcase_create("durable");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, applied_writes_are_durable);
  tcase_add_test(tc, a_small_pass_syncs_only_its_files);
  tcase_add_test(tc, a_larger_turn_goes_to_workers);
  tcase_add_test(tc, with_latency_a_small_pass_syncs_on_a_worker);
  tcase_add_test(tc, new_files_take_a_file_system_sync_at_close);
  tcase_add_test(tc, a_name_taken_meanwhile_is_judged);
  tcase_add_test(tc, without_unnamed_files_new_files_are_renamed);
  tcase_add_test(tc, unnamed_files_are_bounded);
  tcase_add_test(tc, a_few_statuses_sync_only_their_files);
  tcase_add_test(tc, an_early_rename_is_caught);
  suite_add_tcase(s, tc);
  return s;
}
