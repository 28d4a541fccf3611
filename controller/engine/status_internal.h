/*
 * status_internal.h - shared by status.c (the format and the YAML
 * reading) and status_canon.c (the canonical layout read without YAML).
 */
#ifndef TD_STATUS_INTERNAL_H
#define TD_STATUS_INTERNAL_H

#include "base/compat.h"

#include "engine/status.h"

#define STATUS_API_VERSION "tenantd.io/v1"
#define STATUS_KIND "TenantStatus"

/* A growing text, always NUL-terminated once something was added. */
struct status__out {
  char *buf;
  size_t len, alloc;
};

static inline void status__out_add(struct status__out *o, const char *s,
                                   size_t n)
{
  if (o->len + n + 1 > o->alloc) {
    while (o->len + n + 1 > o->alloc)
      o->alloc = o->alloc ? 2 * o->alloc : 1024;
    o->buf = td_realloc(o->buf, o->alloc);
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = '\0';
}

/* Appends the code point `cp` as UTF-8. */
void status__out_utf8(struct status__out *o, uint32_t cp);

/* A spec hash as an inventory records it: 16 lowercase hex digits. */
bool status__hash_ok(const char *h);

/* The order of a status's stalled list (qsort's comparison). */
int status__stalled_cmp(const void *pa, const void *pb);

/* The status `text` in tenant_status_format()'s layout, read without
 * YAML; NULL when it is not exactly that layout (then read it as YAML). */
struct tenant_status *status__canon_parse(const char *text, size_t len);

#endif
