/*
 * local_fx.h - the fixture the local provider's suites share
 * (test_local.c, test_local_batch.c): a loop, a fresh state directory and
 * an open instance per test, and calls run to their answer.
 */
#ifndef TD_TEST_LOCAL_FX_H
#define TD_TEST_LOCAL_FX_H

#include "base/compat.h"

#include "providers/local/local.h"
#include "suites.h"

/* Set around every starting call: a callback that sees it ran inside. */
extern bool in_call;

#define START(call)  \
  do {               \
    in_call = true;  \
    call;            \
    in_call = false; \
  } while (0)

/* A loop, a fresh state directory and an open instance, per test. */
struct fx {
  uv_loop_t loop;
  char dir[64];
  struct provider *p;
};

struct res {
  bool done;
  int status;
  char message[1024];
  bool has_message; /* the result had one (a read's NOT_FOUND has none) */
  json_t *observed; /* a deep copy, owned */
  uint64_t at;      /* uv_now when the callback ran */
};

struct list_res {
  bool done;
  int status;
  char message[1024];
  size_t n;
  char ids[16][256];
  char names[16][256];
  enum rtype types[16];
};

enum op { READ, CREATE, UPDATE, REMOVE };

void fx_init(struct fx *f);
void fx_open(struct fx *f, const char *extra);
void fx_release(struct fx *f);
void on_res(struct provider *p, const struct provider_result *r, void *arg);
void res_release(struct res *x);
void on_list(struct provider *p, int status, const char *message,
             const struct provider_owned *items, size_t n, void *arg);
int run_op(struct fx *f, enum op op, const struct resource *r,
           const json_t *spec, struct res *x);
int run_list(struct fx *f, const char *tenant, struct list_res *x);
struct resource *service(const char *tenant, const char *id, const char *name,
                         int port);
struct resource *database(const char *tenant, const char *id, const char *name);
char *state_path(struct fx *f, const char *type, const char *name);
char *slurp(const char *path);
void put_file(struct fx *f, const char *type, const char *name,
              const char *text);
bool exists(const char *path);

#endif
