/*
 * statusmsg.c - the words of a status commit: its subject, one event a
 * line, and the trailers that make it machine-readable (writeback.h).
 */
#include "base/compat.h"

#include <stdio.h>

#include "git/writeback.h"
#include "git/writeback_internal.h"

static enum tenant_result worst(const struct reconcile_report *r,
                                bool changed_only)
{
  enum tenant_result w = RESULT_READY;

  for (size_t i = 0; i < r->n; i++)
    if ((!changed_only || r->v[i].changed) && r->v[i].result > w)
      w = r->v[i].result;
  return w;
}

void writeback__counts_text(const struct reconcile_report *r,
                            const struct reconcile_outcome *only, char *buf,
                            size_t cap)
{
  size_t total[OUT_COUNT_MAX] = {0}, used = 0;

  for (size_t i = 0; i < (only ? 1 : r->n); i++) {
    const struct reconcile_outcome *o = only ? only : &r->v[i];

    if (!only && !o->changed)
      continue;
    for (int k = 0; k < OUT_COUNT_MAX; k++)
      total[k] += o->count[k];
  }
  buf[0] = '\0';
  for (int k = 0; k < OUT_COUNT_MAX; k++)
    if (total[k] && used < cap)
      used +=
          (size_t)snprintf(buf + used, cap - used, "%s%zu %s", used ? ", " : "",
                           total[k], outcome_count_names[k]);
}

/* Does a changed status say the source could not be fetched? */
static bool source_error(const struct reconcile_report *r)
{
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].changed && r->v[i].status &&
        r->v[i].status->cond[STATUS_SOURCE_ERROR].status)
      return true;
  return false;
}

char *writeback_message(const struct reconcile_report *r, const char *source)
{
  struct {
    char *p;
    size_t n;
  } m = {0};
  FILE *f;
  size_t changed = 0;
  const char *first = NULL;
  char counts[512];

  for (size_t i = 0; i < r->n; i++) {
    if (!r->v[i].changed || r->v[i].unwritable)
      continue;
    if (!first)
      first = r->v[i].tenant;
    changed++;
  }
  if (!changed)
    return NULL;
  f = open_memstream(&m.p, &m.n);
  writeback__counts_text(r, NULL, counts, sizeof(counts));
  if (changed == 1)
    fprintf(f, "reconcile %s: ", first);
  else
    fprintf(f, "reconcile %zu tenants: ", changed);
  fputs(*counts           ? counts
        : source_error(r) ? "source error"
                          : tenant_result_names[worst(r, true)],
        f);
  fputs("\n\n", f);
  for (size_t i = 0; i < r->n; i++) {
    const struct reconcile_outcome *o = &r->v[i];

    if (!o->changed || o->unwritable)
      continue;
    for (size_t k = 0; k < o->nevents; k++)
      fprintf(f, "%s: %s\n", o->tenant, o->events[k]);
    if (!o->nevents)
      fprintf(f, "%s: %s, %zu resources, no resource changed\n", o->tenant,
              tenant_result_names[o->result],
              o->status ? o->status->ninventory : 0);
  }
  fprintf(f, "\nTenantd-Source: %s\n", source);
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].changed && !r->v[i].unwritable)
      fprintf(f, "Tenantd-Tenant: %s\n", r->v[i].tenant);
  fprintf(f, "Tenantd-Result: %s\n", tenant_result_names[worst(r, true)]);
  fclose(f);
  return m.p;
}
