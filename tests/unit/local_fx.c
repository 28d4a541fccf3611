/*
 * local_fx.c - the fixture of the local provider's suites (local_fx.h).
 */
#include "base/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "providers/local/local.h"
#include "local_fx.h"
#include "suites.h"

bool in_call;

void fx_init(struct fx *f)
{
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  snprintf(f->dir, sizeof(f->dir), "/tmp/td-local-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
  f->p = NULL;
}

/* Opens with stateDir set and the options of `extra` (a JSON text). */
void fx_open(struct fx *f, const char *extra)
{
  json_t *cfg = json_loads(extra ? extra : "{}", 0, NULL);
  char err[512] = "";

  ck_assert_ptr_nonnull(cfg);
  json_object_set_new(cfg, "type", json_string("local"));
  json_object_set_new(cfg, "stateDir", json_string(f->dir));
  ck_assert_int_eq(provider_open(&f->p, &local_provider_ops, "local", cfg,
                                 &f->loop, err, sizeof(err)),
                   0);
  ck_assert_str_eq(err, "");
  json_decref(cfg);
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  ck_assert(!in_call);
  *(bool *)arg = true;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void fx_release(struct fx *f)
{
  bool closed = false;

  if (f->p) {
    START(provider_close(f->p, on_closed, &closed));
    ck_assert(!closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ck_assert(closed);
  }
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  ck_assert_int_eq(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

void on_res(struct provider *p, const struct provider_result *r, void *arg)
{
  struct res *x = arg;

  ck_assert(!in_call);
  ck_assert(!x->done);
  ck_assert_ptr_nonnull(p);
  x->done = true;
  x->status = r->status;
  snprintf(x->message, sizeof(x->message), "%s", r->message ? r->message : "");
  x->has_message = r->message != NULL;
  x->observed = r->observed ? json_deep_copy(r->observed) : NULL;
  x->at = uv_now(p->loop);
  /* Every failure says why; a read that found nothing is an answer. */
  if (r->status < 0 && r->status != PROVIDER_NOT_FOUND)
    ck_assert_ptr_nonnull(r->message);
}

void res_release(struct res *x)
{
  json_decref(x->observed);
  memset(x, 0, sizeof(*x));
}

void on_list(struct provider *p, int status, const char *message,
             const struct provider_owned *items, size_t n, void *arg)
{
  struct list_res *x = arg;

  (void)p;
  ck_assert(!in_call);
  ck_assert(!x->done);
  x->done = true;
  x->status = status;
  snprintf(x->message, sizeof(x->message), "%s", message ? message : "");
  ck_assert_uint_le(n, ARRAY_SIZE(x->ids));
  x->n = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(x->ids[i], sizeof(x->ids[i]), "%s", items[i].id);
    snprintf(x->names[i], sizeof(x->names[i]), "%s", items[i].name);
    x->types[i] = items[i].type;
  }
}

/* Runs one operation to completion; the result is in *x. */
int run_op(struct fx *f, enum op op, const struct resource *r,
           const json_t *spec, struct res *x)
{
  memset(x, 0, sizeof(*x));
  in_call = true;
  switch (op) {
  case READ:
    provider_read(f->p, r, on_res, x);
    break;
  case CREATE:
    provider_create(f->p, r, spec ? spec : r->spec, on_res, x);
    break;
  case UPDATE:
    provider_update(f->p, r, spec ? spec : r->spec, on_res, x);
    break;
  case REMOVE:
    provider_remove(f->p, r, on_res, x);
    break;
  }
  in_call = false;
  ck_assert(!x->done);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert(x->done);
  return x->status;
}

int run_list(struct fx *f, const char *tenant, struct list_res *x)
{
  memset(x, 0, sizeof(*x));
  START(provider_list_owned(f->p, tenant, on_list, x));
  ck_assert(!x->done);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert(x->done);
  return x->status;
}

struct resource *service(const char *tenant, const char *id, const char *name,
                         int port)
{
  return resource_new(RTYPE_SERVICE, id, "local", tenant, name,
                      json_pack("{s:s, s:s, s:i}", "name", name, "image",
                                "nginx:1", "port", port));
}

struct resource *database(const char *tenant, const char *id, const char *name)
{
  return resource_new(
      RTYPE_DATABASE, id, "local", tenant, name,
      json_pack("{s:s, s:i}", "name", name, "connection_limit", 100));
}

char *state_path(struct fx *f, const char *type, const char *name)
{
  char *path = td_malloc(512);

  snprintf(path, 512, "%s/%s/%s.json", f->dir, type, name);
  return path;
}

/* The whole file, or NULL when absent; the caller frees. */
char *slurp(const char *path)
{
  FILE *fp = fopen(path, "rb");
  char *buf;
  size_t n;

  if (!fp)
    return NULL;
  buf = td_malloc(LOCAL_STATE_MAX + 1);
  n = fread(buf, 1, LOCAL_STATE_MAX, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

void put_file(struct fx *f, const char *type, const char *name,
              const char *text)
{
  char dir[512];
  char *path = state_path(f, type, name);
  FILE *fp;

  snprintf(dir, sizeof(dir), "%s/%s", f->dir, type);
  mkdir(dir, 0755);
  fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  fputs(text, fp);
  fclose(fp);
  free(path);
}

bool exists(const char *path)
{
  return access(path, F_OK) == 0;
}
