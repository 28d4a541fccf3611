#include "base/compat.h"

#include <stdio.h>

#include "engine/diff.h"

static json_t *resolve(const json_t *v, diff_lookup_fn lookup, void *arg,
                       bool *unknown);

/*
 * An object's members resolved, in one walk: NULL while none changed
 * (what holds no reference is shared, not copied: a spec is read, never
 * changed, once composed); at the first that did, a copy is made with
 * the members before it, in their order, and the rest go into it.
 */
static json_t *resolve_object(const json_t *v, diff_lookup_fn lookup, void *arg,
                              bool *unknown)
{
  json_t *copy = NULL, *item;
  const char *key;
  size_t key_len;

  json_object_keylen_foreach((json_t *)v, key, key_len, item)
  {
    json_t *r = resolve(item, lookup, arg, unknown);

    if (!copy && r == item) {
      json_decref(r);
      continue;
    }
    if (!copy) {
      const char *k;
      size_t kl;
      json_t *before;

      copy = json_object();
      json_object_keylen_foreach((json_t *)v, k, kl, before)
      {
        if (kl == key_len && memcmp(k, key, kl) == 0)
          break;
        json_object_setn_nocheck(copy, k, kl, before);
      }
    }
    json_object_setn_new_nocheck(copy, key, key_len, r);
  }
  return copy;
}

/* The same for an array's items. */
static json_t *resolve_array(const json_t *v, diff_lookup_fn lookup, void *arg,
                             bool *unknown)
{
  json_t *copy = NULL;

  for (size_t i = 0; i < json_array_size(v); i++) {
    json_t *item = json_array_get(v, i);
    json_t *r = resolve(item, lookup, arg, unknown);

    if (!copy && r == item) {
      json_decref(r);
      continue;
    }
    if (!copy) {
      copy = json_array();
      for (size_t k = 0; k < i; k++)
        json_array_append(copy, json_array_get(v, k));
    }
    json_array_append_new(copy, r);
  }
  return copy;
}

static json_t *resolve(const json_t *v, diff_lookup_fn lookup, void *arg,
                       bool *unknown)
{
  const char *id, *output;
  size_t idlen;
  json_t *copy = NULL;

  if (resource_ref_parse(v, &id, &idlen, &output) == 0) {
    const json_t *val = json_object_get(lookup(id, idlen, arg), output);

    if (!val) {
      *unknown = true;
      return json_null();
    }
    return json_incref((json_t *)val);
  }
  if (json_is_object(v))
    copy = resolve_object(v, lookup, arg, unknown);
  else if (json_is_array(v))
    copy = resolve_array(v, lookup, arg, unknown);
  return copy ? copy : json_incref((json_t *)v);
}

json_t *diff_resolve(const json_t *spec, diff_lookup_fn lookup, void *arg,
                     bool *unknown)
{
  *unknown = false;
  return resolve(spec, lookup, arg, unknown);
}

json_t *diff_resolve_value(const json_t *v, diff_lookup_fn lookup, void *arg,
                           bool *unknown)
{
  return resolve(v, lookup, arg, unknown);
}

void diff_result_new_v(struct diff_result *d, size_t n, size_t names)
{
  d->v = td_calloc(1, n * sizeof(*d->v) + names + 1);
  d->n = 0;
  d->next_name = (char *)(d->v + n);
}

/* Room for a field of each key of `spec`. */
static void new_v_for(struct diff_result *d, const json_t *spec)
{
  size_t names = 0;
  const char *key;
  size_t key_len;
  json_t *v;

  json_object_keylen_foreach((json_t *)spec, key, key_len, v)
  {
    (void)key;
    (void)v;
    names += key_len + 1;
  }
  diff_result_new_v(d, json_object_size(spec), names);
}

struct diff_field *diff_field_set(struct diff_result *d, const char *attr,
                                  size_t len)
{
  struct diff_field *f = &d->v[d->n++];

  memcpy(d->next_name, attr, len);
  d->next_name[len] = '\0';
  f->attr = d->next_name;
  d->next_name += len + 1;
  return f;
}

static int field_cmp(const void *a, const void *b)
{
  return strcmp(((const struct diff_field *)a)->attr,
                ((const struct diff_field *)b)->attr);
}

void diff_specs(enum rtype type, const json_t *desired,
                const json_t *observed_spec, struct diff_result *out)
{
  const char *key;
  json_t *want;

  size_t key_len;

  memset(out, 0, sizeof(*out));
  json_object_keylen_foreach((json_t *)desired, key, key_len, want)
  {
    json_t *have = json_object_get(observed_spec, key);
    struct diff_field *f;

    if (have && json_equal(want, have))
      continue;
    /* Sized for every attribute at the first difference: no realloc per
     * field, and nothing allocated when nothing differs. */
    if (!out->v)
      new_v_for(out, desired);
    f = diff_field_set(out, key, key_len);
    f->desired = json_incref(want);
    f->observed = json_incref(have);
    f->immutable = resource_attr_immutable(type, key);
    if (f->immutable)
      out->replace = true;
  }
  /* jansson's iteration order is its hash order: sort for stable plans. */
  if (out->n > 1)
    qsort(out->v, out->n, sizeof(*out->v), field_cmp);
}

void diff_result_release(struct diff_result *d)
{
  for (size_t i = 0; i < d->n; i++) {
    json_decref(d->v[i].desired);
    json_decref(d->v[i].observed);
  }
  free(d->v);
  memset(d, 0, sizeof(*d));
}

char *diff_value_text(const json_t *v)
{
  if (!v)
    return td_strdup("(none)");
  if (json_is_null(v))
    return td_strdup("(known after apply)");
  if (json_is_string(v))
    return td_strdup(json_string_value(v));
  if (json_is_integer(v))
    return td_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
  if (json_is_boolean(v))
    return td_strdup(json_is_true(v) ? "true" : "false");
  /* What json_dumps() writes with sorted keys, compact. */
  return resource_canonical_json(v);
}
