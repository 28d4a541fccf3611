#include "base/compat.h"

#include <math.h>
#include <stdio.h>

#include "server/metrics.h"

struct series {
  char *value; /* the label's value, NULL without a label */
  double v;    /* counter, gauge; a histogram's sum */
  uint64_t count;
  uint64_t *buckets; /* cumulative at render time, per bucket here */
};

struct metric {
  enum metric_kind kind;
  const char *name, *help, *label;
  const double *bounds;
  size_t nbounds;
  struct series *s;
  size_t n, alloc;
};

struct metrics {
  struct metric **v;
  size_t n, alloc;
};

struct metrics *metrics_new(void)
{
  return td_calloc(1, sizeof(struct metrics));
}

void metric_clear(struct metric *x)
{
  for (size_t i = 0; i < x->n; i++) {
    free(x->s[i].value);
    free(x->s[i].buckets);
  }
  x->n = 0;
}

void metrics_free(struct metrics *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++) {
    metric_clear(m->v[i]);
    free(m->v[i]->s);
    free(m->v[i]);
  }
  free(m->v);
  free(m);
}

struct metric *metrics_register(struct metrics *m, enum metric_kind kind,
                                const char *name, const char *help,
                                const char *label, const double *buckets,
                                size_t nbuckets)
{
  struct metric *x = td_calloc(1, sizeof(*x));

  x->kind = kind;
  x->name = name;
  x->help = help;
  x->label = label;
  x->bounds = buckets;
  x->nbounds = nbuckets;
  if (m->n == m->alloc) {
    m->alloc = m->alloc ? 2 * m->alloc : 16;
    m->v = td_realloc(m->v, m->alloc * sizeof(*m->v));
  }
  m->v[m->n++] = x;
  return x;
}

static struct series *series(struct metric *x, const char *value)
{
  struct series *s;

  for (size_t i = 0; i < x->n; i++)
    if ((!value && !x->s[i].value) ||
        (value && x->s[i].value && strcmp(value, x->s[i].value) == 0))
      return &x->s[i];
  if (x->n == x->alloc) {
    x->alloc = x->alloc ? 2 * x->alloc : 4;
    x->s = td_realloc(x->s, x->alloc * sizeof(*x->s));
  }
  s = &x->s[x->n++];
  memset(s, 0, sizeof(*s));
  s->value = value ? td_strdup(value) : NULL;
  if (x->kind == METRIC_HISTOGRAM)
    s->buckets = td_calloc(x->nbounds ? x->nbounds : 1, sizeof(uint64_t));
  return s;
}

void metric_add(struct metric *x, const char *value, double v)
{
  assert(x->kind != METRIC_HISTOGRAM);
  series(x, value)->v += v;
}

void metric_set(struct metric *x, const char *value, double v)
{
  assert(x->kind == METRIC_GAUGE);
  series(x, value)->v = v;
}

void metric_observe(struct metric *x, const char *value, double v)
{
  struct series *s;

  assert(x->kind == METRIC_HISTOGRAM);
  s = series(x, value);
  s->v += v;
  s->count++;
  for (size_t i = 0; i < x->nbounds; i++)
    if (v <= x->bounds[i]) {
      s->buckets[i]++;
      break;
    }
}

double metric_get(const struct metric *x, const char *value)
{
  for (size_t i = 0; i < x->n; i++)
    if ((!value && !x->s[i].value) ||
        (value && x->s[i].value && strcmp(value, x->s[i].value) == 0))
      return x->kind == METRIC_HISTOGRAM ? (double)x->s[i].count : x->s[i].v;
  return 0;
}

/* ---- rendering ---- */

/* The shortest text that reads back as exactly v ("0.1", not
 * "0.10000000000000001"), so a bucket's label names its own bound. */
static void number_text(char buf[32], double v)
{
  if (isinf(v)) {
    snprintf(buf, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (isnan(v)) {
    snprintf(buf, 32, "NaN");
    return;
  }
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, 32, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, 32, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      return;
  }
}

static void put_number(FILE *f, double v)
{
  char buf[32];

  number_text(buf, v);
  fputs(buf, f);
}

static void put_label_value(FILE *f, const char *s)
{
  for (; *s; s++) {
    if (*s == '\\' || *s == '"')
      fprintf(f, "\\%c", *s);
    else if (*s == '\n')
      fputs("\\n", f);
    else
      fputc(*s, f);
  }
}

/* name{label="value",le="0.1"} -- either part may be absent. */
static void put_name(FILE *f, const struct metric *x, const char *suffix,
                     const struct series *s, const char *le)
{
  bool label = x->label && s->value;

  fprintf(f, "%s%s", x->name, suffix);
  if (!label && !le)
    return;
  fputc('{', f);
  if (label) {
    fprintf(f, "%s=\"", x->label);
    put_label_value(f, s->value);
    fputc('"', f);
  }
  if (le)
    fprintf(f, "%sle=\"%s\"", label ? "," : "", le);
  fputc('}', f);
}

static void render_histogram(FILE *f, const struct metric *x,
                             const struct series *s)
{
  uint64_t cum = 0;
  char le[32];

  for (size_t b = 0; b < x->nbounds; b++) {
    cum += s->buckets[b];
    number_text(le, x->bounds[b]);
    put_name(f, x, "_bucket", s, le);
    fprintf(f, " %llu\n", (unsigned long long)cum);
  }
  put_name(f, x, "_bucket", s, "+Inf");
  fprintf(f, " %llu\n", (unsigned long long)s->count);
  put_name(f, x, "_sum", s, NULL);
  fputc(' ', f);
  put_number(f, s->v);
  fputc('\n', f);
  put_name(f, x, "_count", s, NULL);
  fprintf(f, " %llu\n", (unsigned long long)s->count);
}

char *metrics_render(const struct metrics *m)
{
  static const char *const kinds[] = {"counter", "gauge", "histogram"};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  if (!f)
    abort();
  for (size_t i = 0; i < m->n; i++) {
    const struct metric *x = m->v[i];

    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
            kinds[x->kind]);
    for (size_t j = 0; j < x->n; j++) {
      if (x->kind == METRIC_HISTOGRAM) {
        render_histogram(f, x, &x->s[j]);
        continue;
      }
      put_name(f, x, "", &x->s[j], NULL);
      fputc(' ', f);
      put_number(f, x->s[j].v);
      fputc('\n', f);
    }
  }
  fclose(f);
  return buf;
}
