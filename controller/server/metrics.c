#include "base/compat.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "server/metrics.h"

struct series {
  char **values; /* one per label; NULL for a family without labels */
  double v;      /* counter, gauge; a histogram's sum */
  uint64_t count;
  uint64_t *buckets; /* cumulative at render time, per bucket here */
  bool dead;         /* removed: skipped, dropped at the next compaction */
};

struct metric {
  enum metric_kind kind;
  const char *name, *help;
  char *labels[METRIC_LABELS_MAX];
  size_t nlabels;
  const double *bounds;
  size_t nbounds;
  struct series *s;
  size_t n, alloc, dead;
  /* The values joined with NUL bytes -> the series' position in s. */
  json_t *index;
};

struct metrics {
  struct metric **v;
  size_t n, alloc;
};

struct metrics *metrics_new(void)
{
  return td_calloc(1, sizeof(struct metrics));
}

static void series_release(const struct metric *x, struct series *s)
{
  for (size_t k = 0; s->values && k < x->nlabels; k++)
    free(s->values[k]);
  free(s->values);
  free(s->buckets);
}

void metric_clear(struct metric *x)
{
  for (size_t i = 0; i < x->n; i++)
    series_release(x, &x->s[i]);
  x->n = x->dead = 0;
  json_object_clear(x->index);
}

void metrics_free(struct metrics *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++) {
    struct metric *x = m->v[i];

    metric_clear(x);
    for (size_t k = 0; k < x->nlabels; k++)
      free(x->labels[k]);
    json_decref(x->index);
    free(x->s);
    free(x);
  }
  free(m->v);
  free(m);
}

static bool label_name_ok(const char *s, size_t len)
{
  if (len == 0 || (len == 2 && strncmp(s, "le", 2) == 0))
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];

    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (i > 0 && c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

/* "a,b" into x->labels: a programmer's promise, checked. */
static void parse_labels(struct metric *x, const char *labels)
{
  const char *p = labels;

  while (p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);

    assert(x->nlabels < METRIC_LABELS_MAX && label_name_ok(p, len));
    x->labels[x->nlabels++] = td_strndup(p, len);
    p = comma ? comma + 1 : NULL;
  }
}

struct metric *metrics_register(struct metrics *m, enum metric_kind kind,
                                const char *name, const char *help,
                                const char *labels, const double *buckets,
                                size_t nbuckets)
{
  struct metric *x = td_calloc(1, sizeof(*x));

  x->kind = kind;
  x->name = name;
  x->help = help;
  if (labels)
    parse_labels(x, labels);
  x->bounds = buckets;
  x->nbounds = nbuckets;
  x->index = json_object();
  if (m->n == m->alloc) {
    m->alloc = m->alloc ? 2 * m->alloc : 16;
    m->v = td_realloc(m->v, m->alloc * sizeof(*m->v));
  }
  m->v[m->n++] = x;
  return x;
}

/* ---- finding series ---- */

/* The index key of a series: its values joined by NUL bytes. */
static char *series_key(const struct metric *x, const char *const *values,
                        size_t *len)
{
  size_t n = 0, at = 0;
  char *key;

  for (size_t k = 0; k < x->nlabels; k++)
    n += strlen(values[k]) + 1;
  key = td_malloc(n + 1);
  for (size_t k = 0; k < x->nlabels; k++) {
    size_t l = strlen(values[k]);

    memcpy(key + at, values[k], l + 1);
    at += l + 1;
  }
  key[n] = '\0';
  *len = n;
  return key;
}

static struct series *find(const struct metric *x, const char *const *values)
{
  size_t len;
  char *key = series_key(x, values, &len);
  json_t *at = json_object_getn(x->index, key, len);

  free(key);
  return at ? &x->s[json_integer_value(at)] : NULL;
}

/* Drops removed series once they are many, keeping the others' order. */
static void compact(struct metric *x)
{
  size_t k = 0;

  if (x->dead < 64 || x->dead * 2 < x->n)
    return;
  json_object_clear(x->index);
  for (size_t i = 0; i < x->n; i++) {
    size_t len;
    char *key;

    if (x->s[i].dead) {
      series_release(x, &x->s[i]);
      continue;
    }
    x->s[k] = x->s[i];
    key = series_key(x, (const char *const *)x->s[k].values, &len);
    json_object_setn_new_nocheck(x->index, key, len,
                                 json_integer((json_int_t)k));
    free(key);
    k++;
  }
  x->n = k;
  x->dead = 0;
}

static struct series *series(struct metric *x, const char *const *values)
{
  struct series *s = find(x, values);
  size_t len;
  char *key;

  if (s)
    return s;
  compact(x);
  if (x->n == x->alloc) {
    x->alloc = x->alloc ? 2 * x->alloc : 4;
    x->s = td_realloc(x->s, x->alloc * sizeof(*x->s));
  }
  s = &x->s[x->n];
  memset(s, 0, sizeof(*s));
  if (x->nlabels) {
    s->values = td_calloc(x->nlabels, sizeof(*s->values));
    for (size_t k = 0; k < x->nlabels; k++)
      s->values[k] = td_strdup(values[k]);
  }
  if (x->kind == METRIC_HISTOGRAM)
    s->buckets = td_calloc(x->nbounds ? x->nbounds : 1, sizeof(uint64_t));
  key = series_key(x, values, &len);
  json_object_setn_new_nocheck(x->index, key, len,
                               json_integer((json_int_t)x->n));
  free(key);
  x->n++;
  return s;
}

/* The values of a one-label family's call: NULL for none. */
static const char *const *one(const struct metric *x, const char *const *value)
{
  assert(x->nlabels <= 1 && (x->nlabels == 1) == (*value != NULL));
  return x->nlabels ? value : NULL;
}

/* ---- updates ---- */

void metric_add_v(struct metric *x, const char *const *values, double v)
{
  assert(x->kind != METRIC_HISTOGRAM);
  series(x, values)->v += v;
}

void metric_set_v(struct metric *x, const char *const *values, double v)
{
  assert(x->kind == METRIC_GAUGE);
  series(x, values)->v = v;
}

void metric_store_v(struct metric *x, const char *const *values, double v)
{
  assert(x->kind != METRIC_HISTOGRAM);
  series(x, values)->v = v;
}

void metric_observe_v(struct metric *x, const char *const *values, double v)
{
  struct series *s;

  assert(x->kind == METRIC_HISTOGRAM);
  s = series(x, values);
  s->v += v;
  s->count++;
  for (size_t i = 0; i < x->nbounds; i++)
    if (v <= x->bounds[i]) {
      s->buckets[i]++;
      break;
    }
}

void metric_histogram_store_v(struct metric *x, const char *const *values,
                              const uint64_t *per_bucket, uint64_t count,
                              double sum)
{
  struct series *s;

  assert(x->kind == METRIC_HISTOGRAM);
  s = series(x, values);
  memcpy(s->buckets, per_bucket, x->nbounds * sizeof(*per_bucket));
  s->count = count;
  s->v = sum;
}

double metric_get_v(const struct metric *x, const char *const *values)
{
  const struct series *s = find(x, values);

  if (!s)
    return 0;
  return x->kind == METRIC_HISTOGRAM ? (double)s->count : s->v;
}

void metric_remove_v(struct metric *x, const char *const *values)
{
  size_t len;
  char *key = series_key(x, values, &len);
  json_t *at = json_object_getn(x->index, key, len);

  if (at) {
    x->s[json_integer_value(at)].dead = true;
    x->dead++;
    json_object_deln(x->index, key, len);
  }
  free(key);
}

size_t metric_series_count(const struct metric *x)
{
  return x->n - x->dead;
}

void metric_add(struct metric *x, const char *value, double v)
{
  metric_add_v(x, one(x, &value), v);
}

void metric_set(struct metric *x, const char *value, double v)
{
  metric_set_v(x, one(x, &value), v);
}

void metric_observe(struct metric *x, const char *value, double v)
{
  metric_observe_v(x, one(x, &value), v);
}

double metric_get(const struct metric *x, const char *value)
{
  return metric_get_v(x, one(x, &value));
}

void metric_remove(struct metric *x, const char *value)
{
  metric_remove_v(x, one(x, &value));
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

/* name{a="x",b="y",le="0.1"} -- either part may be absent. */
static void put_name(FILE *f, const struct metric *x, const char *suffix,
                     const struct series *s, const char *le)
{
  fprintf(f, "%s%s", x->name, suffix);
  if (!x->nlabels && !le)
    return;
  fputc('{', f);
  for (size_t k = 0; k < x->nlabels; k++) {
    fprintf(f, "%s%s=\"", k ? "," : "", x->labels[k]);
    put_label_value(f, s->values[k]);
    fputc('"', f);
  }
  if (le)
    fprintf(f, "%sle=\"%s\"", x->nlabels ? "," : "", le);
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
      if (x->s[j].dead)
        continue;
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
