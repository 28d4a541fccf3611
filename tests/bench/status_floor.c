/*
 * status_floor - the floor for a status commit: libgit2 writing the
 * status/ tree of a branch once, with one entry changed, as a loose
 * object.  Every status commit writes that whole tree again (the
 * directory is flat, one entry a tenant), whatever else it costs.
 *
 * usage: status_floor GIT_DIR REF EMPTY_DIR ROUNDS
 *   reads REF:status/ in GIT_DIR; ROUNDS times, changes one entry's id
 *   and writes the tree with git_odb_write() into a new bare repository
 *   at EMPTY_DIR.  Prints "<median seconds> <entries> <bytes>".
 */
#define _GNU_SOURCE 1
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int fail(const char *what)
{
  const git_error *e = git_error_last();

  fprintf(stderr, "status_floor: %s: %s\n", what, e ? e->message : "?");
  return 1;
}

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* The offset of each entry's 20-byte id in the raw tree `buf`. */
static size_t id_offsets(const unsigned char *buf, size_t len, size_t *off,
                         size_t cap)
{
  size_t n = 0, i = 0;

  while (i < len && n < cap) {
    const unsigned char *nul = memchr(buf + i, '\0', len - i);

    if (!nul || (size_t)(nul - buf) + 1 + GIT_OID_RAWSZ > len)
      break;
    off[n++] = (size_t)(nul - buf) + 1;
    i = off[n - 1] + GIT_OID_RAWSZ;
  }
  return n;
}

static int run(const char *git_dir, const char *ref, const char *out_dir,
               int rounds)
{
  git_repository *src = NULL, *dst = NULL;
  git_object *dir = NULL;
  git_odb_object *raw = NULL;
  git_odb *odb = NULL;
  char spec[512], fan[4096];
  unsigned char *buf;
  size_t len, n, *off;
  double *t;

  snprintf(spec, sizeof(spec), "%s:status", ref);
  if (git_repository_open_bare(&src, git_dir) < 0 ||
      git_revparse_single(&dir, src, spec) < 0 ||
      git_repository_odb(&odb, src) < 0 ||
      git_odb_read(&raw, odb, git_object_id(dir)) < 0)
    return fail(spec);
  git_odb_free(odb);
  odb = NULL;
  len = git_odb_object_size(raw);
  buf = malloc(len);
  off = malloc(sizeof(*off) * (len / GIT_OID_RAWSZ + 1));
  t = malloc(sizeof(*t) * (size_t)rounds);
  if (!buf || !off || !t)
    return 1;
  memcpy(buf, git_odb_object_data(raw), len);
  n = id_offsets(buf, len, off, len / GIT_OID_RAWSZ + 1);
  if (n == 0)
    return fail("empty status tree");
  if (git_repository_init(&dst, out_dir, 1) < 0 ||
      git_repository_odb(&odb, dst) < 0)
    return fail(out_dir);
  /* A long-lived cache has every fan-out directory already. */
  for (int d = 0; d < 256; d++) {
    snprintf(fan, sizeof(fan), "%s/objects/%02x", out_dir, d);
    mkdir(fan, 0755);
  }
  for (int r = 0; r < rounds; r++) {
    unsigned char *id = buf + off[(size_t)r * 7919 % n];
    uint32_t mark = (uint32_t)r + 1;
    git_oid written;
    double t0;

    /* A new id for one tenant's status, as a commit makes: the round's
     * number, so no round writes a tree an earlier one wrote (that
     * write would find the object there and skip the work), however
     * few entries there are to choose from. */
    memcpy(id, &mark, sizeof(mark));
    t0 = now();
    if (git_odb_write(&written, odb, buf, len, GIT_OBJECT_TREE) < 0)
      return fail("git_odb_write");
    t[r] = now() - t0;
  }
  qsort(t, (size_t)rounds, sizeof(*t), by_value);
  printf("%.6f %zu %zu\n", t[(rounds - 1) / 2], n, len);
  free(t);
  free(off);
  free(buf);
  git_odb_object_free(raw);
  git_odb_free(odb);
  git_object_free(dir);
  git_repository_free(dst);
  git_repository_free(src);
  return 0;
}

int main(int argc, char **argv)
{
  int rounds, rc;

  if (argc != 5 || (rounds = atoi(argv[4])) < 1) {
    fprintf(stderr, "usage: status_floor GIT_DIR REF EMPTY_DIR ROUNDS\n");
    return 2;
  }
  git_libgit2_init();
  rc = run(argv[1], argv[2], argv[3], rounds);
  git_libgit2_shutdown();
  return rc;
}
