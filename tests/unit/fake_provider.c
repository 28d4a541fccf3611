#include "base/compat.h"

#include <stdio.h>

#include "fake_provider.h"

const char *const fake_op_names[FAKE_OP_MAX] = {"read", "create", "update",
                                                "remove"};

struct fault {
  char *id;
  enum fake_op op;
  int status;
  int times; /* < 0: forever */
};

struct pin {
  char *id, *attr;
  json_t *value;
};

/* The backend every instance shares. */
static struct {
  json_t *store; /* id -> {"spec", "outputs", "marker"} */
  json_t *sick;  /* id -> answers left that say unhealthy */
  uint64_t latency_ms;
  struct fault *faults;
  size_t nfaults;
  struct pin *pins;
  size_t npins;
  struct fake_call *calls;
  size_t ncalls;
  size_t in_flight, max_in_flight;
} fk;

struct fake {
  struct provider base;
  size_t in_flight;
  bool closing, close_due;
  provider_close_cb close_cb;
  void *close_arg;
  uv_timer_t close_timer; /* defers the close callback */
};

/* One operation whose answer is due on a later turn. */
struct answer {
  struct fake *f;
  uv_timer_t timer;
  int status;
  char *message;
  json_t *observed;
  provider_cb cb;
  provider_list_cb list_cb;
  struct provider_owned *owned;
  size_t nowned;
  void *arg;
};

static json_t *store(void)
{
  if (!fk.store)
    fk.store = json_object();
  return fk.store;
}

/* ---- the store ---- */

static json_t *outputs_of(const struct resource *r, const json_t *spec)
{
  json_int_t port = json_integer_value(json_object_get(spec, "port"));
  char buf[256];

  switch (r->type) {
  case RTYPE_SERVICE:
    snprintf(buf, sizeof(buf), "100.64.0.%zu:%lld", strlen(r->name) % 250,
             (long long)port);
    return json_pack("{s:s%, s:I, s:s, s:[s], s:b}", "ip", buf,
                     strcspn(buf, ":"), "port", port, "address", buf,
                     "addresses", buf, "healthy", 1);
  case RTYPE_NETWORK:
    snprintf(buf, sizeof(buf), "net-%s", r->name);
    return json_pack("{s:s}", "id", buf);
  case RTYPE_DATABASE:
    return json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 5432);
  case RTYPE_BUCKET:
    snprintf(buf, sizeof(buf), "fake://bucket/%s", r->name);
    return json_pack("{s:s}", "url", buf);
  case RTYPE_ROUTE:
  case RTYPE_DNS_RECORD:
  case RTYPE_COUNT:
    break;
  }
  return json_object();
}

static bool marked_as(const json_t *entry, const char *id)
{
  const char *marker = json_string_value(json_object_get(entry, "marker"));
  char tenant[128], mid[1024];

  return resource_marker_parse(marker, tenant, sizeof(tenant), mid,
                               sizeof(mid)) == 0 &&
         strcmp(mid, id) == 0;
}

static void apply_pins(const char *id, json_t *spec)
{
  for (size_t i = 0; i < fk.npins; i++)
    if (strcmp(fk.pins[i].id, id) == 0)
      json_object_set(spec, fk.pins[i].attr, fk.pins[i].value);
}

/* What a read answers now: a copy, with health as scripted. */
static json_t *observe(const char *id)
{
  json_t *entry = json_object_get(store(), id);
  json_t *copy, *sick;

  if (!entry)
    return NULL;
  copy = json_deep_copy(entry);
  sick = fk.sick ? json_object_get(fk.sick, id) : NULL;
  if (sick && json_integer_value(sick) > 0) {
    json_object_set_new(json_object_get(copy, "outputs"), "healthy",
                        json_false());
    json_object_set_new(fk.sick, id,
                        json_integer(json_integer_value(sick) - 1));
  }
  return copy;
}

/* ---- answers on a later turn ---- */

static void fake_free_if_done(struct fake *f);

static void answer_closed(uv_handle_t *h)
{
  struct answer *an = h->data;
  struct fake *f = an->f;

  for (size_t i = 0; i < an->nowned; i++) {
    free((char *)an->owned[i].id);
    free((char *)an->owned[i].name);
  }
  free(an->owned);
  free(an->message);
  json_decref(an->observed);
  free(an);
  f->in_flight--;
  fake_free_if_done(f);
}

static void on_answer(uv_timer_t *t)
{
  struct answer *an = container_of(t, struct answer, timer);

  fk.in_flight--;
  if (an->list_cb) {
    an->list_cb(&an->f->base, an->status, an->message, an->owned, an->nowned,
                an->arg);
  } else {
    struct provider_result res = {an->status, an->message, an->observed};

    an->cb(&an->f->base, &res, an->arg);
  }
  an->timer.data = an;
  uv_close((uv_handle_t *)&an->timer, answer_closed);
}

static struct answer *answer_new(struct provider *p, void *arg)
{
  struct fake *f = (struct fake *)p;
  struct answer *an = td_calloc(1, sizeof(*an));

  an->f = f;
  an->arg = arg;
  f->in_flight++;
  if (++fk.in_flight > fk.max_in_flight)
    fk.max_in_flight = fk.in_flight;
  return an;
}

static void answer_later(struct answer *an)
{
  uv_timer_init(an->f->base.loop, &an->timer);
  uv_timer_start(&an->timer, on_answer, fk.latency_ms, 0);
}

static void reply(struct provider *p, int status, const char *message,
                  json_t *observed, provider_cb cb, void *arg)
{
  struct answer *an = answer_new(p, arg);

  an->status = status;
  an->message = message ? td_strdup(message) : NULL;
  an->observed = observed;
  an->cb = cb;
  answer_later(an);
}

/* ---- faults and the journal ---- */

static void journal(struct provider *p, enum fake_op op, const char *id)
{
  fk.calls = td_realloc(fk.calls, (fk.ncalls + 1) * sizeof(*fk.calls));
  fk.calls[fk.ncalls++] =
      (struct fake_call){op, td_strdup(id), uv_now(p->loop)};
}

/* The status a scripted fault answers with, or PROVIDER_OK. */
static int take_fault(enum fake_op op, const char *id)
{
  for (size_t i = 0; i < fk.nfaults; i++) {
    struct fault *ft = &fk.faults[i];

    if (ft->op != op || strcmp(ft->id, id) != 0 || ft->times == 0)
      continue;
    if (ft->times > 0)
      ft->times--;
    return ft->status;
  }
  return PROVIDER_OK;
}

/* Journals the call; true when a fault answered it. */
static bool faulted(struct provider *p, enum fake_op op, const char *id,
                    provider_cb cb, void *arg)
{
  int status;
  char msg[64];

  journal(p, op, id);
  status = take_fault(op, id);
  if (status == PROVIDER_OK)
    return false;
  snprintf(msg, sizeof(msg), "injected %s fault", provider_status_name(status));
  reply(p, status, msg, NULL, cb, arg);
  return true;
}

/* ---- the ops ---- */

static int fake_open(struct provider **out, const char *instance,
                     const json_t *config, uv_loop_t *loop, char *err,
                     size_t errcap)
{
  struct fake *f;

  if (!json_is_object(config)) {
    snprintf(err, errcap, "fake: the config must be an object");
    return -1;
  }
  f = td_calloc(1, sizeof(*f));
  f->base.ops = &fake_provider_ops;
  f->base.instance = td_strdup(instance);
  f->base.loop = loop;
  /* As a provider says it at open (provider.h). */
  f->base.batches = json_is_true(json_object_get(config, "batches"));
  f->base.reads_nearby = json_is_true(json_object_get(config, "readsNearby"));
  *out = &f->base;
  return 0;
}

static void fake_read(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  json_t *obs;

  if (faulted(p, FAKE_READ, r->id, cb, arg))
    return;
  obs = observe(r->id);
  reply(p, obs ? PROVIDER_OK : PROVIDER_NOT_FOUND, obs ? NULL : "not found",
        obs, cb, arg);
}

static void write_entry(const struct resource *r, const json_t *spec)
{
  char marker[RESOURCE_MARKER_MAX];
  json_t *copy = json_deep_copy(spec);

  resource_marker(marker, r->tenant, r->id);
  apply_pins(r->id, copy);
  json_object_set_new(store(), r->id,
                      json_pack("{s:o, s:o, s:s}", "spec", copy, "outputs",
                                outputs_of(r, copy), "marker", marker));
}

static void fake_create(struct provider *p, const struct resource *r,
                        const json_t *spec, provider_cb cb, void *arg)
{
  json_t *entry = json_object_get(store(), r->id);

  if (faulted(p, FAKE_CREATE, r->id, cb, arg))
    return;
  if (entry && !marked_as(entry, r->id)) {
    reply(p, PROVIDER_CONFLICT, "exists without tenantd's marker", NULL, cb,
          arg);
    return;
  }
  write_entry(r, spec);
  reply(p, PROVIDER_OK, NULL, observe(r->id), cb, arg);
}

static void fake_update(struct provider *p, const struct resource *r,
                        const json_t *spec, provider_cb cb, void *arg)
{
  json_t *entry = json_object_get(store(), r->id);

  if (faulted(p, FAKE_UPDATE, r->id, cb, arg))
    return;
  if (!entry) {
    reply(p, PROVIDER_NOT_FOUND, "not found", NULL, cb, arg);
    return;
  }
  if (!marked_as(entry, r->id)) {
    reply(p, PROVIDER_CONFLICT, "not marked as this resource", NULL, cb, arg);
    return;
  }
  write_entry(r, spec);
  reply(p, PROVIDER_OK, NULL, observe(r->id), cb, arg);
}

static void fake_remove(struct provider *p, const struct resource *r,
                        provider_cb cb, void *arg)
{
  json_t *entry = json_object_get(store(), r->id);

  if (faulted(p, FAKE_REMOVE, r->id, cb, arg))
    return;
  if (!entry) {
    reply(p, PROVIDER_NOT_FOUND, "not found", NULL, cb, arg);
    return;
  }
  if (!marked_as(entry, r->id)) {
    reply(p, PROVIDER_CONFLICT, "not marked as this resource", NULL, cb, arg);
    return;
  }
  json_object_del(store(), r->id);
  reply(p, PROVIDER_OK, NULL, NULL, cb, arg);
}

static void fake_list_owned(struct provider *p, const char *tenant,
                            provider_list_cb cb, void *arg)
{
  struct answer *an = answer_new(p, arg);
  const char *id;
  json_t *entry;

  an->list_cb = cb;
  an->owned = td_calloc(json_object_size(store()) + 1, sizeof(*an->owned));
  json_object_foreach(store(), id, entry)
  {
    const char *marker = json_string_value(json_object_get(entry, "marker"));
    char who[128], mid[1024];
    const char *slash = strchr(id, '/');
    char tname[32];
    int type;

    if (resource_marker_parse(marker, who, sizeof(who), mid, sizeof(mid)) < 0 ||
        strcmp(who, tenant) != 0 || !slash)
      continue;
    snprintf(tname, sizeof(tname), "%.*s", (int)(slash - id), id);
    type = resource_type_parse(tname);
    an->owned[an->nowned++] = (struct provider_owned){
        td_strdup(id), type < 0 ? RTYPE_COUNT : (enum rtype)type,
        td_strdup(slash + 1)};
  }
  answer_later(an);
}

static void close_timer_closed(uv_handle_t *h)
{
  struct fake *f = h->data;

  f->close_cb(&f->base, f->close_arg);
  free(f->base.instance);
  free(f);
}

static void on_close_due(uv_timer_t *t)
{
  struct fake *f = container_of(t, struct fake, close_timer);

  f->close_timer.data = f;
  uv_close((uv_handle_t *)&f->close_timer, close_timer_closed);
}

/* Closes the instance once its last answer is out, on a later turn. */
static void fake_free_if_done(struct fake *f)
{
  if (!f->closing || f->in_flight > 0 || f->close_due)
    return;
  f->close_due = true;
  uv_timer_init(f->base.loop, &f->close_timer);
  uv_timer_start(&f->close_timer, on_close_due, 0, 0);
}

static void fake_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct fake *f = (struct fake *)p;

  f->closing = true;
  f->close_cb = cb;
  f->close_arg = arg;
  fake_free_if_done(f);
}

const struct provider_ops fake_provider_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "fake",
    .open = fake_open,
    .read = fake_read,
    .create = fake_create,
    .update = fake_update,
    .remove = fake_remove,
    .list_owned = fake_list_owned,
    .close = fake_close,
};

/* ---- the test's side ---- */

void fake_provider_register(void)
{
  int rc = provider_register_type(&fake_provider_ops);

  assert(rc == 0);
  (void)rc;
}

void fake_reset(void)
{
  json_decref(fk.store);
  json_decref(fk.sick);
  for (size_t i = 0; i < fk.nfaults; i++)
    free(fk.faults[i].id);
  free(fk.faults);
  for (size_t i = 0; i < fk.npins; i++) {
    free(fk.pins[i].id);
    free(fk.pins[i].attr);
    json_decref(fk.pins[i].value);
  }
  free(fk.pins);
  for (size_t i = 0; i < fk.ncalls; i++)
    free(fk.calls[i].id);
  free(fk.calls);
  memset(&fk, 0, sizeof(fk));
}

void fake_set_latency(uint64_t ms)
{
  fk.latency_ms = ms;
}

void fake_fault(const char *id, enum fake_op op, int status, int times)
{
  fk.faults = td_realloc(fk.faults, (fk.nfaults + 1) * sizeof(*fk.faults));
  fk.faults[fk.nfaults++] = (struct fault){td_strdup(id), op, status, times};
}

const json_t *fake_get(const char *id)
{
  return json_object_get(store(), id);
}

void fake_put(const char *id, const char *tenant, json_t *spec)
{
  char marker[RESOURCE_MARKER_MAX];

  resource_marker(marker, tenant, id);
  json_object_set_new(
      store(), id,
      json_pack("{s:o, s:{}, s:s}", "spec", spec, "outputs", "marker", marker));
}

void fake_put_foreign(const char *id, json_t *spec)
{
  json_object_set_new(store(), id,
                      json_pack("{s:o, s:{}}", "spec", spec, "outputs"));
}

void fake_set(const char *id, const char *attr, json_t *value)
{
  json_t *entry = json_object_get(store(), id);

  assert(entry);
  json_object_set_new(json_object_get(entry, "spec"), attr, value);
}

void fake_drop(const char *id)
{
  json_object_del(store(), id);
}

void fake_pin(const char *id, const char *attr, json_t *value)
{
  fk.pins = td_realloc(fk.pins, (fk.npins + 1) * sizeof(*fk.pins));
  fk.pins[fk.npins++] = (struct pin){td_strdup(id), td_strdup(attr), value};
}

void fake_unhealthy(const char *id, int n)
{
  if (!fk.sick)
    fk.sick = json_object();
  json_object_set_new(fk.sick, id, json_integer(n));
}

size_t fake_size(void)
{
  return json_object_size(store());
}

size_t fake_ncalls(void)
{
  return fk.ncalls;
}

const struct fake_call *fake_call_at(size_t i)
{
  return i < fk.ncalls ? &fk.calls[i] : NULL;
}

static bool call_is(const struct fake_call *c, enum fake_op op, const char *id)
{
  return (op == FAKE_OP_MAX || c->op == op) && (!id || strcmp(c->id, id) == 0);
}

size_t fake_count(enum fake_op op, const char *id)
{
  size_t n = 0;

  for (size_t i = 0; i < fk.ncalls; i++)
    n += call_is(&fk.calls[i], op, id);
  return n;
}

long fake_index(enum fake_op op, const char *id, size_t nth)
{
  for (size_t i = 0; i < fk.ncalls; i++)
    if (call_is(&fk.calls[i], op, id) && nth-- == 0)
      return (long)i;
  return -1;
}

size_t fake_writes(void)
{
  return fake_count(FAKE_CREATE, NULL) + fake_count(FAKE_UPDATE, NULL) +
         fake_count(FAKE_REMOVE, NULL);
}

size_t fake_max_in_flight(void)
{
  return fk.max_in_flight;
}
