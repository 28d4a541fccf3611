/*
 * reconcile_fx.c - the fixture of the reconcile suites (see
 * reconcile_fx.h).
 */
#include "base/compat.h"

#include <stdio.h>

#include "reconcile_fx.h"

/* The manifests of the next pass. */
struct manifest_files files;

/* Statuses by tenant, as text, as a status branch would hold them. */
json_t *statuses;

json_t *providers;

/* The last pass. */
struct reconcile_report report;
char *out_text, *err_text;

/* ---- the status store ---- */

static int store_read(struct status_store *s, const char *tenant,
                      struct tenant_status **out)
{
  json_t *text = json_object_get(statuses, tenant);

  (void)s;
  if (!text)
    return TD_ENOTFOUND;
  return tenant_status_parse(json_string_value(text), json_string_length(text),
                             out);
}

static int store_list(struct status_store *s,
                      void (*each)(const char *tenant, void *arg), void *arg)
{
  const char *tenant;
  json_t *text;

  (void)s;
  json_object_foreach(statuses, tenant, text)
  {
    each(tenant, arg);
  }
  return 0;
}

struct status_store store = {store_read, store_list};

static void persist(void)
{
  for (size_t i = 0; i < report.n; i++) {
    const struct reconcile_outcome *o = &report.v[i];

    if (!o->changed || o->unwritable)
      continue;
    if (o->status) {
      char *text = tenant_status_format(o->status);

      json_object_set_new(statuses, o->tenant, json_string(text));
      free(text);
    } else {
      json_object_del(statuses, o->tenant);
    }
  }
}

/* ---- manifests ---- */

void put(const char *path, const char *text)
{
  manifest_files_add(&files, path, text, strlen(text));
}

void platform(const char *drift, int max_delete, int stall_after)
{
  char text[1024];

  snprintf(text, sizeof(text),
           "apiVersion: tenantd.io/v1\n"
           "kind: Platform\n"
           "metadata:\n"
           "  name: testplat\n"
           "spec:\n"
           "  domains:\n"
           "    public: example.com\n"
           "  ingress:\n"
           "    public: lb.example.com\n"
           "  policies:\n"
           "    prune: true\n"
           "    driftPolicy: %s\n"
           "    maxDeletePercent: %d\n"
           "    stallAfter: %d\n",
           drift, max_delete, stall_after);
  put("platform.yaml", text);
}

/* acme: a network, app api (service, route, public record), app web. */
void acme(bool suspend, bool with_api, const char *web_image)
{
  char text[2048];

  snprintf(text, sizeof(text),
           "apiVersion: tenantd.io/v1\n"
           "kind: Tenant\n"
           "metadata:\n"
           "  name: acme\n"
           "spec:\n"
           "  tier: standard\n"
           "  suspend: %s\n"
           "  environments:\n"
           "    - name: prod\n"
           "      network:\n"
           "        cidr: 10.10.0.0/16\n"
           "      apps:\n"
           "%s"
           "        - name: web\n"
           "          image: %s\n"
           "          port: 3000\n"
           "          replicas: 2\n",
           suspend ? "true" : "false",
           with_api ? "        - name: api\n"
                      "          image: registry.example.com/acme/api:1.0.0\n"
                      "          port: 8080\n"
                      "          dns:\n"
                      "            public: true\n"
                    : "",
           web_image);
  put("tenants/acme.yaml", text);
}

void reconcile_fx_setup(void)
{
  fake_reset();
  fake_provider_register();
  files = (struct manifest_files)MANIFEST_FILES_INIT;
  statuses = json_object();
  /* Every type binds to the instance "local" unless the Platform says
   * otherwise: here that instance is the fake. */
  providers = json_pack("{s:{s:s}}", "local", "type", "fake");
  memset(&report, 0, sizeof(report));
  out_text = err_text = NULL;
  platform("correct", 10, 3);
  acme(false, true, "registry.example.com/acme/web:1.0.0");
}

void reconcile_fx_teardown(void)
{
  reconcile_report_release(&report);
  free(out_text);
  free(err_text);
  manifest_files_release(&files);
  json_decref(statuses);
  json_decref(providers);
  fake_reset();
}

struct reconcile_opts opts(bool apply)
{
  struct reconcile_opts o = {0};

  o.version = RECONCILE_OPTS_VERSION;
  o.files = &files;
  o.source = "1111111111111111111111111111111111111111";
  o.store = &store;
  o.providers = providers;
  o.apply = apply;
  o.allow_delete = -1;
  o.concurrency = 4;
  o.max_attempts = 3;
  o.backoff_ms = 1;
  o.health_timeout_ms = 5000;
  o.format = PLAN_TEXT;
  return o;
}

/* Runs a pass and persists what it returns. */
void pass_with(struct reconcile_opts *o)
{
  size_t outlen = 0, errlen = 0;

  reconcile_report_release(&report);
  free(out_text);
  free(err_text);
  o->out = open_memstream(&out_text, &outlen);
  o->err = open_memstream(&err_text, &errlen);
  ck_assert_int_eq(reconcile_once(o, &report), 0);
  fclose(o->out);
  fclose(o->err);
  persist();
}

void apply_pass(void)
{
  struct reconcile_opts o = opts(true);

  pass_with(&o);
}

const struct reconcile_outcome *outcome(const char *tenant)
{
  for (size_t i = 0; i < report.n; i++)
    if (strcmp(report.v[i].tenant, tenant) == 0)
      return &report.v[i];
  ck_abort_msg("no outcome for %s", tenant);
  return NULL;
}
