/*
 * options.c - a provider's options against its table (see options.h).
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/strutil.h"
#include "providers/common/options.h"

/* An environment variable's name: long ones are a mistake, not a name. */
#define ENV_NAME_MAX 256
/* Keys offered as a suggestion for a misspelt one. */
#define SUGGEST_MAX 64

static void *field(void *out, const struct opt *o)
{
  return (char *)out + o->offset;
}

static int unknown_key(const char *provider, const struct opt *table, size_t n,
                       const char *key, char *err, size_t errcap)
{
  const char *cands[SUGGEST_MAX];
  const char *best;
  size_t k = 0;

  for (size_t i = 0; i < n && k < SUGGEST_MAX; i++)
    cands[k++] = table[i].key;
  best = str_suggest(key, cands, k);
  if (best)
    snprintf(err, errcap, "%s: unknown option '%.100s' (did you mean '%s'?)",
             provider, key, best);
  else
    snprintf(err, errcap, "%s: unknown option '%.100s'", provider, key);
  return -1;
}

static int check_keys(const char *provider, const struct opt *table, size_t n,
                      const json_t *config, char *err, size_t errcap)
{
  const char *key;
  const json_t *v;

  json_object_foreach((json_t *)config, key, v)
  {
    size_t i = 0;

    if (strcmp(key, "type") == 0)
      continue;
    while (i < n && strcmp(table[i].key, key) != 0)
      i++;
    if (i == n)
      return unknown_key(provider, table, n, key, err, errcap);
  }
  return 0;
}

/* "must be <what>", or the plain shape when the table says nothing. */
static int bad_string(const char *provider, const struct opt *o, char *err,
                      size_t errcap)
{
  if (o->what)
    snprintf(err, errcap, "%s: %s must be %s", provider, o->key, o->what);
  else
    snprintf(err, errcap, "%s: %s must be a %sstring", provider, o->key,
             o->flags & OPT_NONEMPTY ? "non-empty " : "");
  return -1;
}

static int take_string(const char *provider, const struct opt *o,
                       const json_t *v, void *out, char *err, size_t errcap)
{
  const char *s = json_string_value(v);
  size_t max = o->max_len ? o->max_len : OPT_STRING_MAX;
  char **dst = field(out, o);

  if (!s || strlen(s) != json_string_length(v))
    return bad_string(provider, o, err, errcap);
  if (!*s && (o->flags & OPT_NONEMPTY))
    return bad_string(provider, o, err, errcap);
  if (o->chars && strspn(s, o->chars) != strlen(s))
    return bad_string(provider, o, err, errcap);
  if (strlen(s) > max) {
    snprintf(err, errcap, "%s: %s must be at most %zu bytes", provider, o->key,
             max);
    return -1;
  }
  free(*dst);
  *dst = td_strdup(s);
  return 0;
}

static int take_uint(const char *provider, const struct opt *o, const json_t *v,
                     void *out, char *err, size_t errcap)
{
  json_int_t i = json_integer_value(v);

  if (!json_is_integer(v) || i < 0 || (uint64_t)i < o->umin ||
      (uint64_t)i > o->umax) {
    snprintf(err, errcap, "%s: %s must be an integer between %llu and %llu",
             provider, o->key, (unsigned long long)o->umin,
             (unsigned long long)o->umax);
    return -1;
  }
  *(uint64_t *)field(out, o) = (uint64_t)i;
  return 0;
}

static int take_number(const char *provider, const struct opt *o,
                       const json_t *v, void *out, char *err, size_t errcap)
{
  double d = json_number_value(v);

  if (!json_is_number(v) || !(d >= o->dmin && d <= o->dmax)) {
    snprintf(err, errcap, "%s: %s must be a number between %g and %g", provider,
             o->key, o->dmin, o->dmax);
    return -1;
  }
  *(double *)field(out, o) = d;
  return 0;
}

static int take_bool(const char *provider, const struct opt *o, const json_t *v,
                     void *out, char *err, size_t errcap)
{
  if (!json_is_boolean(v)) {
    snprintf(err, errcap, "%s: %s must be true or false", provider, o->key);
    return -1;
  }
  *(bool *)field(out, o) = json_is_true(v);
  return 0;
}

static int take_enum(const char *provider, const struct opt *o, const json_t *v,
                     void *out, char *err, size_t errcap)
{
  const char *s = json_string_value(v);
  size_t len;
  int i;

  for (i = 0; s && o->choices[i]; i++) {
    if (strcmp(o->choices[i], s) == 0) {
      *(int *)field(out, o) = i;
      return 0;
    }
  }
  len =
      (size_t)snprintf(err, errcap, "%s: %s must be one of", provider, o->key);
  for (i = 0; o->choices[i] && len < errcap; i++)
    len += (size_t)snprintf(err + len, errcap - len, "%s %s", i ? "," : "",
                            o->choices[i]);
  return -1;
}

/* Reads the variable `name` names; the value never goes into `err`. */
static int take_secret(const char *provider, const struct opt *o,
                       const char *name, void *out, char *err, size_t errcap)
{
  struct opt_secret *dst = field(out, o);
  const char *value;

  if (!*name || strlen(name) > ENV_NAME_MAX || strchr(name, '=')) {
    snprintf(err, errcap, "%s: %s must name an environment variable", provider,
             o->key);
    return -1;
  }
  free(dst->name);
  dst->name = td_strdup(name);
  value = getenv(name);
  if (!value || !*value) {
    snprintf(err, errcap,
             "%s: the environment variable %.100s (%s) is not set%s%s",
             provider, name, o->key, o->what ? "; it must hold " : "",
             o->what ? o->what : "");
    return -1;
  }
  dst->value = td_strdup(value);
  return 0;
}

static int take_env(const char *provider, const struct opt *o, const json_t *v,
                    void *out, char *err, size_t errcap)
{
  const char *name = json_string_value(v);

  if (!name || strlen(name) != json_string_length(v)) {
    snprintf(err, errcap, "%s: %s must name an environment variable", provider,
             o->key);
    return -1;
  }
  return take_secret(provider, o, name, out, err, errcap);
}

static int take_json(const char *provider, const struct opt *o, const json_t *v,
                     void *out, char *err, size_t errcap)
{
  json_t **dst = field(out, o);

  (void)provider;
  (void)err;
  (void)errcap;
  json_decref(*dst);
  *dst = json_incref((json_t *)v);
  return 0;
}

/* How each type takes a value, by enum opt_type. */
static int (*const takers[])(const char *provider, const struct opt *o,
                             const json_t *v, void *out, char *err,
                             size_t errcap) = {
    [OPT_T_STRING] = take_string, [OPT_T_UINT] = take_uint,
    [OPT_T_NUMBER] = take_number, [OPT_T_BOOL] = take_bool,
    [OPT_T_ENUM] = take_enum,     [OPT_T_SECRET] = take_env,
    [OPT_T_JSON] = take_json,
};

/* A missing key's default as the JSON value it stands for (new), so it
 * goes through the same checks; NULL when there is none. */
static json_t *default_value(const struct opt *o)
{
  switch (o->type) {
  case OPT_T_STRING:
  case OPT_T_SECRET:
    return o->def_str ? json_string(o->def_str) : NULL;
  case OPT_T_UINT:
    return json_integer((json_int_t)o->def_uint);
  case OPT_T_NUMBER:
    return json_real(o->def_num);
  case OPT_T_BOOL:
    return json_boolean(o->def_int);
  case OPT_T_ENUM:
    return json_string(o->choices[o->def_int]);
  case OPT_T_JSON:
    return NULL;
  }
  return NULL;
}

int opt_parse(const char *provider, const struct opt *table, size_t n,
              const json_t *config, void *out, char *err, size_t errcap)
{
  if (!json_is_object(config)) {
    snprintf(err, errcap, "%s: the config must be an object", provider);
    return -1;
  }
  if (check_keys(provider, table, n, config, err, errcap) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const struct opt *o = &table[i];
    const json_t *v = json_object_get(config, o->key);
    json_t *def;
    int rc;

    if (!v && (o->flags & OPT_REQUIRED)) {
      snprintf(err, errcap, "%s: %s is required%s%s%s", provider, o->key,
               o->what ? " (" : "", o->what ? o->what : "", o->what ? ")" : "");
      return -1;
    }
    def = v ? NULL : default_value(o);
    assert((size_t)o->type < ARRAY_SIZE(takers));
    rc = v || def ? takers[o->type](provider, o, v ? v : def, out, err, errcap)
                  : 0;
    json_decref(def);
    if (rc < 0)
      return -1;
  }
  return 0;
}

void opt_release(const struct opt *table, size_t n, void *out)
{
  for (size_t i = 0; i < n; i++) {
    const struct opt *o = &table[i];

    if (o->type == OPT_T_STRING) {
      char **s = field(out, o);

      free(*s);
      *s = NULL;
    } else if (o->type == OPT_T_SECRET) {
      struct opt_secret *sec = field(out, o);

      /* The secret leaves no copy behind in freed memory. */
      if (sec->value)
        explicit_bzero(sec->value, strlen(sec->value));
      free(sec->value);
      free(sec->name);
      sec->value = sec->name = NULL;
    } else if (o->type == OPT_T_JSON) {
      json_t **j = field(out, o);

      json_decref(*j);
      *j = NULL;
    }
  }
}
