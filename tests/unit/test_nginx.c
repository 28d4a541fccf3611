#include "base/compat.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "providers/nginx/internal.h"
#include "suites.h"

#define LISTEN "127.0.0.1:8088"
#define REV "0123456789abcdef"

/* ---- routes ---- */

static void route_set(struct ngx_route *r, const char *tenant, const char *id,
                      const char *spec_json, const char *revision, bool pending)
{
  memset(r, 0, sizeof(*r));
  snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
  snprintf(r->id, sizeof(r->id), "%s", id);
  r->spec = json_loads(spec_json, 0, NULL);
  ck_assert_msg(r->spec != NULL, "bad test JSON: %s", spec_json);
  snprintf(r->revision, sizeof(r->revision), "%s", revision);
  r->pending = pending;
}

/* The file of the usual test route (malloc'd). */
static char *acme_file(bool pending, size_t *len)
{
  struct ngx_route r;
  char *text;

  route_set(&r, "acme", "route/api.staging.acme",
            "{\"upstreams\": [\"10.0.0.7:8080\", \"10.0.0.8:8080\"], "
            "\"hosts\": [\"api.staging.acme.example\", \"api.acme.example\"]}",
            REV, pending);
  text = ngx__render(&r, LISTEN, len);
  ngx__route_release(&r);
  return text;
}

static const char acme_text[] =
    "# managed-by=tenantd tenant=acme id=route/api.staging.acme\n"
    "# spec: {\"hosts\":[\"api.staging.acme.example\",\"api.acme.example\"],"
    "\"upstreams\":[\"10.0.0.7:8080\",\"10.0.0.8:8080\"]}\n"
    "# revision: 0123456789abcdef\n"
    "%s"
    "# Written by tenantd: edits here are reverted on the next reconcile.\n"
    "upstream tenantd.route.api.staging.acme {\n"
    "  server 10.0.0.7:8080;\n"
    "  server 10.0.0.8:8080;\n"
    "}\n"
    "server {\n"
    "  listen 127.0.0.1:8088;\n"
    "  server_name api.staging.acme.example api.acme.example;\n"
    "  location / {\n"
    "    proxy_pass http://tenantd.route.api.staging.acme;\n"
    "    proxy_set_header Host $host;\n"
    "    add_header X-Tenantd-Route route/api.staging.acme always;\n"
    "    add_header X-Tenantd-Revision 0123456789abcdef always;\n"
    "  }\n"
    "}\n";

START_TEST(render_is_byte_for_byte)
{
  char want[2048];
  size_t len;
  char *text;

  snprintf(want, sizeof(want), acme_text, "");
  text = acme_file(false, &len);
  ck_assert_uint_eq(len, strlen(want));
  ck_assert_str_eq(text, want);
  free(text);

  snprintf(want, sizeof(want), acme_text, "# state: pending\n");
  text = acme_file(true, &len);
  ck_assert_uint_eq(len, strlen(want));
  ck_assert_str_eq(text, want);
  free(text);
}
END_TEST

/* xorshift64*: the same routes on every run. */
static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static unsigned rnd(unsigned n)
{
  rnd_state ^= rnd_state >> 12;
  rnd_state ^= rnd_state << 25;
  rnd_state ^= rnd_state >> 27;
  return (unsigned)((rnd_state * 0x2545f4914f6cdd1dULL) >> 33) % n;
}

static void rnd_chars(char *out, size_t n, const char *set)
{
  size_t k = strlen(set);

  for (size_t i = 0; i < n; i++)
    out[i] = set[rnd((unsigned)k)];
  out[n] = '\0';
}

#define LDH "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#define TOKEN "abcdefghijklmnopqrstuvwxyz0123456789._-"

/* A DNS name of 1 to 4 labels, at most NGX_MAX_HOST bytes. */
static void rnd_host(char *out)
{
  size_t len = 0, labels = 1 + rnd(4);

  for (size_t i = 0; i < labels; i++) {
    size_t n = 1 + rnd(i == 0 ? 63 : 20);

    if (len + n + 1 > NGX_MAX_HOST)
      break;
    if (i)
      out[len++] = '.';
    rnd_chars(out + len, n, LDH);
    len += n;
  }
}

static json_t *rnd_upstream(void)
{
  char host[NGX_MAX_HOST + 1], buf[NGX_MAX_HOST + 16];
  unsigned port = 1 + rnd(65535);

  switch (rnd(3)) {
  case 0:
    rnd_host(host);
    snprintf(buf, sizeof(buf), "%s:%u", host, port);
    break;
  case 1:
    snprintf(buf, sizeof(buf), "%u.%u.%u.%u:%u", rnd(256), rnd(256), rnd(256),
             rnd(256), port);
    break;
  default:
    snprintf(buf, sizeof(buf), "[fd00::%x:%x]:%u", rnd(65536), rnd(65536),
             port);
    break;
  }
  return json_string(buf);
}

static void rnd_route(struct ngx_route *r)
{
  size_t nhosts = rnd(10) == 0 ? NGX_MAX_HOSTS : 1 + rnd(5);
  size_t nups = rnd(10) == 0 ? NGX_MAX_UPSTREAMS : 1 + rnd(4);
  json_t *hosts = json_array(), *ups = json_array();
  char name[NGX_MAX_STEM + 1];

  memset(r, 0, sizeof(*r));
  r->tenant[0] = "abcdefghijklmnopqrstuvwxyz"[rnd(26)];
  rnd_chars(r->tenant + 1, rnd(62), TOKEN);
  rnd_chars(name, 1 + rnd(NGX_MAX_STEM - 1), TOKEN);
  snprintf(r->id, sizeof(r->id), "route/%s", name);
  for (size_t i = 0; i < nhosts; i++) {
    char host[NGX_MAX_HOST + 1];

    rnd_host(host);
    json_array_append_new(hosts, json_string(host));
  }
  for (size_t i = 0; i < nups; i++)
    json_array_append_new(ups, rnd_upstream());
  r->spec = json_pack("{s:o, s:o}", "hosts", hosts, "upstreams", ups);
  rnd_chars(r->revision, NGX_REVISION_LEN, "0123456789abcdef");
  r->pending = rnd(2);
}

START_TEST(parse_render_round_trip)
{
  for (int i = 0; i < 2000; i++) {
    struct ngx_route r, back;
    char msg[256];
    size_t len;
    char *text;

    rnd_route(&r);
    ck_assert_msg(ngx__check_spec(r.spec, msg, sizeof(msg)) == 0, "%s", msg);
    text = ngx__render(&r, LISTEN, &len);
    ck_assert_int_eq(ngx__parse(text, len, LISTEN, &back), 0);
    ck_assert_str_eq(back.tenant, r.tenant);
    ck_assert_str_eq(back.id, r.id);
    ck_assert_str_eq(back.revision, r.revision);
    ck_assert(back.pending == r.pending);
    ck_assert(json_equal(back.spec, r.spec));
    ngx__route_release(&back);
    /* The same route read with another listen is not the file written. */
    ck_assert_int_eq(ngx__parse(text, len, "127.0.0.1:9", &back), TD_EINVALID);
    ngx__route_release(&r);
    free(text);
  }
}
END_TEST

/* Replaces the first `from` in `text` with `to` (malloc'd). */
static char *replace(const char *text, const char *from, const char *to)
{
  const char *at = strstr(text, from);

  ck_assert_msg(at != NULL, "'%s' is not in the file", from);
  return td_asprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* Asserts that the file edited by one replacement does not parse. */
static void refused(const char *base, const char *from, const char *to)
{
  char *text = replace(base, from, to);
  struct ngx_route r;

  ck_assert_msg(ngx__parse(text, strlen(text), LISTEN, &r) == TD_EINVALID,
                "accepted: '%s' -> '%s'", from, to);
  ngx__route_release(&r);
  free(text);
}

START_TEST(parse_refuses_what_tenantd_does_not_write)
{
  static const char *const edits[][2] = {
      /* A directive added, anywhere. */
      {"    proxy_set_header",
       "    include /etc/passwd;\n    proxy_set_header"},
      {"api.acme.example;\n", "api.acme.example; include /etc/passwd;\n"},
      {"}\n", "}\ninclude /etc/passwd;\n"},
      {"server {\n", "server {\n  return 200;\n"},
      {"10.0.0.7:8080;", "10.0.0.7:8080; return 200;"},
      {"  server 10.0.0.8", "  server 10.0.0.9:1;\n  server 10.0.0.8"},
      {"}\nserver {", "  keepalive 2;\n}\nserver {"},
      /* A value changed behind the spec line. */
      {"http://tenantd.route.api.staging.acme", "http://127.0.0.1:9"},
      {"server 10.0.0.8:8080", "server 127.0.0.1:9"},
      {"upstream tenantd.route.api", "upstream other.route.api"},
      {"server_name api.staging", "server_name evil.example api.staging"},
      /* Values that nginx would read as syntax, in the spec line too. */
      {"\"api.acme.example\"]", "\"api.acme.example;\"]"},
      {"\"api.acme.example\"]", "\"api.acme.example{\"]"},
      {"\"api.acme.example\"]", "\"a}\"]"},
      {"\"api.acme.example\"]", "\"a b\"]"},
      {"\"10.0.0.7:8080\"", "\"10.0.0.7:8080;}\""},
      {"\"10.0.0.7:8080\"", "\"10.0.0.7:8080/x\""},
      {"\"10.0.0.7:8080\"", "\"http://10.0.0.7:8080\""},
      /* CR and LF. */
      {"\"api.acme.example\"]", "\"a\\r\\ninclude /x;\"]"},
      {"\"10.0.0.7:8080\"", "\"10.0.0.7:8080\\ninclude /x\""},
      {"server {\n", "server {\r\n"},
      /* Format strings, in every value. */
      {"tenant=acme", "tenant=a%sb"},
      {"id=route/api.staging.acme", "id=route/%n%n"},
      {"\"api.acme.example\"]", "\"%s.example\"]"},
      {"\"10.0.0.7:8080\"", "\"%x:8080\""},
      /* The header. */
      {"# managed-by=tenantd", "# managed-by=someone"},
      {"# revision: 0123456789abcdef", "# revision: 0123456789ABCDEF"},
      {"# revision: 0123456789abcdef\n", ""},
      {"# spec: ", "# spec: {\"extra\": 1} "},
      {"# Written", "# state: pending\n# state: pending\n# Written"},
      {"\"upstreams\"", "\"upstreams\":[\"a:1\"],\"upstreams\""},
      {"\"upstreams\":[", "\"upstreams\":[\"a:1\",\"b:2\","},
      {"\"upstreams\":[\"10.0.0.7:8080\",", "\"upstreams\":["},
  };
  char *text;
  size_t len;

  text = acme_file(false, &len);
  for (size_t i = 0; i < ARRAY_SIZE(edits); i++)
    refused(text, edits[i][0], edits[i][1]);
  free(text);
}
END_TEST

START_TEST(parse_refuses_oversize_files)
{
  size_t len, big = NGX_FILE_MAX + 1;
  char *text = acme_file(false, &len), *padded = td_malloc(big + 1);
  struct ngx_route r;

  /* The file as written, then the same file with trailing comments that
   * take it past the cap. */
  ck_assert_int_eq(ngx__parse(text, len, LISTEN, &r), 0);
  ngx__route_release(&r);
  memcpy(padded, text, len);
  memset(padded + len, '#', big - len);
  padded[big] = '\0';
  ck_assert_int_eq(ngx__parse(padded, big, LISTEN, &r), TD_EINVALID);
  ck_assert_ptr_null(r.spec);
  free(padded);
  free(text);
}
END_TEST

START_TEST(check_spec_refuses_syntax)
{
  static const char *const bad[] = {
      "[]",
      "{\"hosts\": [\"a.example\"]}",
      "{\"hosts\": [\"a.example\"], \"upstream\": \"a:1\"}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": []}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": \"a:1\"}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1\", 2]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1\", \"b\"]}",
      "{\"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": \"a.example\", \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [1], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1\"], \"x\": 1}",
      "{\"hosts\": [\"a;b\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a{\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a}\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a\\nb\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a\\rb\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a\\u0000b\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"$host\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a..b\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\".a\"], \"upstreams\": [\"a:1\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:0\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:65536\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1;\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1 b\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"a:1\\u0000x\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"[]:1\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"[::1;]:1\"]}",
      "{\"hosts\": [\"a.example\"], \"upstreams\": [\"%s:%n\"]}",
  };
  char msg[256];

  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    json_t *spec = json_loads(bad[i], JSON_ALLOW_NUL, NULL);

    ck_assert_msg(spec != NULL, "bad test JSON: %s", bad[i]);
    ck_assert_msg(ngx__check_spec(spec, msg, sizeof(msg)) < 0, "accepted %s",
                  bad[i]);
    json_decref(spec);
  }
}
END_TEST

START_TEST(check_spec_host_limits)
{
  json_t *spec = json_pack("{s:[], s:[s]}", "hosts", "upstreams", "[::1]:80");
  json_t *hosts = json_object_get(spec, "hosts");
  char label[64], msg[256];

  memset(label, 'a', 63);
  label[63] = '\0';
  json_array_append_new(hosts, json_string(label));
  ck_assert_int_eq(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  /* A 64-byte label is too long for DNS. */
  json_array_set_new(hosts, 0, json_sprintf("%sa", label));
  ck_assert_int_lt(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  ck_assert_msg(strstr(msg, label) && strstr(msg, "' is not a plain DNS name"),
                "%s", msg);
  json_array_clear(hosts);
  for (int i = 0; i < NGX_MAX_HOSTS; i++)
    json_array_append_new(hosts, json_sprintf("h%d.example", i));
  ck_assert_int_eq(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  json_array_append_new(hosts, json_string("one-more.example"));
  ck_assert_int_lt(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  ck_assert_str_eq(msg, "hosts must be a list of 1 to 64 DNS names");
  json_decref(spec);
}
END_TEST

START_TEST(check_spec_upstream_limits)
{
  json_t *spec = json_pack("{s:[s], s:[]}", "hosts", "a.example", "upstreams");
  json_t *ups = json_object_get(spec, "upstreams");
  char msg[256];

  for (int i = 0; i < NGX_MAX_UPSTREAMS; i++)
    json_array_append_new(ups,
                          json_sprintf("10.0.%d.%d:8080", i / 250, i % 250));
  ck_assert_int_eq(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  json_array_append_new(ups, json_string("10.1.0.1:8080"));
  ck_assert_int_lt(ngx__check_spec(spec, msg, sizeof(msg)), 0);
  ck_assert_str_eq(msg, "upstreams must be a list of 1 to 128 host:port");
  json_decref(spec);
}
END_TEST

/* ---- the observed state of a file ---- */

static json_t *observe(const char *text)
{
  json_t *obs = ngx__observe(text, strlen(text), LISTEN);

  ck_assert_ptr_nonnull(obs);
  return obs;
}

/* The observed upstreams as compact JSON, in `buf`. */
static const char *obs_upstreams(const json_t *obs, char *buf, size_t cap)
{
  char *text =
      json_dumps(json_object_get(json_object_get(obs, "spec"), "upstreams"),
                 JSON_COMPACT | JSON_ENCODE_ANY);

  snprintf(buf, cap, "%s", text ? text : "(none)");
  free(text);
  return buf;
}

#define ACME_UPS "\"10.0.0.7:8080\",\"10.0.0.8:8080\""

START_TEST(observe_reads_what_nginx_would)
{
  size_t len;
  char *text = acme_file(false, &len), *edited, buf[256];
  json_t *obs = observe(text);

  /* As written: the spec line, the marker, the first host's URL. */
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)), "[" ACME_UPS "]");
  ck_assert_str_eq(json_string_value(json_object_get(obs, "marker")),
                   "managed-by=tenantd tenant=acme id=route/api.staging.acme");
  ck_assert_str_eq(json_string_value(
                       json_object_get(json_object_get(obs, "outputs"), "url")),
                   "http://api.staging.acme.example");
  json_decref(obs);

  /* A proxy_pass edited by hand shows as what nginx serves. */
  edited = replace(text, "http://tenantd.route.api.staging.acme",
                   "http://127.0.0.1:9");
  obs = observe(edited);
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)), "[\"127.0.0.1:9\"]");
  json_decref(obs);
  free(edited);

  /* So does a server of the upstream block. */
  edited = replace(text, "server 10.0.0.8:8080", "server 127.0.0.1:9 down");
  obs = observe(edited);
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)),
                   "[\"10.0.0.7:8080\",\"127.0.0.1:9\"]");
  json_decref(obs);
  free(edited);

  /* An edit the directives do not show is marked. */
  edited = replace(text, "    proxy_set_header", "    return 200;\n    x");
  obs = observe(edited);
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)),
                   "[\"10.0.0.7:8080\",\"10.0.0.8:8080" NGX_EDITED "\"]");
  json_decref(obs);
  free(edited);

  /* No marker: what the directives say, no "marker". */
  edited = replace(text, "# managed-by=tenantd", "# managed-by=me");
  obs = observe(edited);
  ck_assert_ptr_null(json_object_get(obs, "marker"));
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)), "[" ACME_UPS "]");
  ck_assert_uint_eq(
      json_array_size(json_object_get(json_object_get(obs, "spec"), "hosts")),
      2);
  json_decref(obs);
  free(edited);
  free(text);

  /* Pending: drift until nginx is seen serving it. */
  text = acme_file(true, &len);
  obs = observe(text);
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)),
                   "[\"10.0.0.7:8080\",\"10.0.0.8:8080" NGX_PENDING "\"]");
  json_decref(obs);
  free(text);
}
END_TEST

/* A file written before routes had upstream blocks reads as its
 * proxy_pass alone, marked edited: drift, rewritten by the next pass. */
START_TEST(observe_a_file_of_the_old_format)
{
  static const char old[] =
      "# managed-by=tenantd tenant=acme id=route/api.staging.acme\n"
      "# spec: {\"hosts\":[\"api.acme.example\"],"
      "\"upstream\":\"10.0.0.7:8080\"}\n"
      "# revision: 0123456789abcdef\n"
      "server {\n"
      "  listen 127.0.0.1:8088;\n"
      "  server_name api.acme.example;\n"
      "  location / {\n"
      "    proxy_pass http://10.0.0.7:8080;\n"
      "  }\n"
      "}\n";
  json_t *obs = observe(old);
  char buf[256];

  ck_assert_ptr_nonnull(json_object_get(obs, "marker"));
  ck_assert_str_eq(obs_upstreams(obs, buf, sizeof(buf)),
                   "[\"10.0.0.7:8080" NGX_EDITED "\"]");
  json_decref(obs);
}
END_TEST

START_TEST(hosts_of_a_file)
{
  size_t len;
  char *text = acme_file(false, &len), *edited;
  json_t *hosts = ngx__hosts_of(text, len);

  ck_assert_uint_eq(json_array_size(hosts), 2);
  ck_assert_str_eq(json_string_value(json_array_get(hosts, 0)),
                   "api.staging.acme.example");
  ck_assert_str_eq(json_string_value(json_array_get(hosts, 1)),
                   "api.acme.example");
  json_decref(hosts);
  /* Without a spec line: server_name's plain names. */
  edited = replace(text, "# spec: ", "# nothing: ");
  hosts = ngx__hosts_of(edited, strlen(edited));
  ck_assert_uint_eq(json_array_size(hosts), 2);
  json_decref(hosts);
  free(edited);
  edited = td_strdup("server {\n  server_name $x a.example;\n}\n");
  hosts = ngx__hosts_of(edited, strlen(edited));
  free(edited);
  ck_assert_uint_eq(json_array_size(hosts), 1);
  ck_assert_str_eq(json_string_value(json_array_get(hosts, 0)), "a.example");
  json_decref(hosts);
  free(text);
}
END_TEST

START_TEST(summarize_keeps_errors)
{
  static const char out[] =
      "nginx: [emerg] unknown directive \"x\" in /s/a.conf:1\n"
      "nginx: configuration file /etc/nginx.conf test failed\n";
  static const char fine[] = "nginx: the configuration file ok\n"
                             "nginx: configuration file test is "
                             "successful\n";
  char buf[256];

  ngx__summarize(out, strlen(out), buf, sizeof(buf));
  ck_assert_str_eq(buf, "[emerg] unknown directive \"x\" in /s/a.conf:1");
  ngx__summarize(fine, strlen(fine), buf, sizeof(buf));
  ck_assert_str_eq(buf, "the configuration file ok; configuration file test "
                        "is successful");
  ngx__summarize("a\x01\tb", 4, buf, sizeof(buf));
  ck_assert_str_eq(buf, "a  b");
}
END_TEST

/* ---- the provider through the runtime ---- */

START_TEST(open_rejects_bad_options)
{
  static const struct {
    const char *json, *message;
  } cases[] = {
      {"{\"command\": [\"nginx\"], \"listen\": \"127.0.0.1:1\"}",
       "nginx: sitesDir is required (a directory path)"},
      {"{\"sitesDir\": \"\", \"command\": [\"nginx\"], \"listen\": \"a:1\"}",
       "nginx: sitesDir must be a directory path"},
      {"{\"sitesDir\": \"/s\", \"listen\": \"a:1\"}",
       "nginx: command is required (a list of strings"},
      {"{\"sitesDir\": \"/s\", \"command\": \"nginx\", \"listen\": \"a:1\"}",
       "nginx: command must be a list of 1 to 64 strings"},
      {"{\"sitesDir\": \"/s\", \"command\": [], \"listen\": \"a:1\"}",
       "nginx: command must be a list of 1 to 64 strings"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\", \"\"], \"listen\": "
       "\"a:1\"}",
       "nginx: command[1] must be a non-empty string"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"]}",
       "nginx: listen is required (host:port, like 127.0.0.1:8088)"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"], \"listen\": "
       "\"127.0.0.1:80; include /etc/passwd\", \"verifyTimeoutMs\": 0}",
       "nginx: listen must be host:port, like 127.0.0.1:8088"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"], \"listen\": "
       "\"127.0.0.1\"}",
       "nginx: listen must be host:port, like 127.0.0.1:8088"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"], \"listen\": "
       "\"a:1\", \"verifyTimeoutMs\": 0}",
       "nginx: verifyTimeoutMs must be an integer between 1 and 600000"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"], \"listen\": "
       "\"a:1\", \"verifyTimeoutMs\": \"5\"}",
       "nginx: verifyTimeoutMs must be an integer between 1 and 600000"},
      {"{\"sitesDir\": \"/s\", \"command\": [\"nginx\"], \"listen\": "
       "\"a:1\", \"verifyTimeoutMS\": 5}",
       "nginx: unknown option 'verifyTimeoutMS' (did you mean "
       "'verifyTimeoutMs'?)"},
  };
  uv_loop_t loop;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *cfg = json_loads(cases[i].json, 0, NULL);
    struct provider *p = (struct provider *)1;
    char err[512] = "";

    ck_assert_msg(cfg != NULL, "bad test JSON: %s", cases[i].json);
    ck_assert_int_eq(provider_open(&p, &nginx_provider_ops, "edge", cfg, &loop,
                                   err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(p);
    ck_assert_msg(strncmp(err, cases[i].message, strlen(cases[i].message)) == 0,
                  "case %zu: got '%s'", i, err);
    json_decref(cfg);
  }
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A loop, a sites directory and an instance whose nginx cannot run. */
struct fx {
  uv_loop_t loop;
  char dir[64];
  struct provider *p;
};

struct res {
  bool done;
  int status;
  char message[1024];
  json_t *observed;
  uint64_t at; /* uv_now when it was answered */
};

/* The loop and directory made; the instance opened with `command` and
 * `listen` (verifyTimeoutMs when not 0). */
static void fx_open(struct fx *f, const char *command, const char *listen,
                    int verify_ms)
{
  json_t *cfg;
  char err[512] = "";

  cfg = json_pack("{s:s, s:s, s:[s], s:s}", "type", "nginx", "sitesDir", f->dir,
                  "command", command, "listen", listen);
  if (verify_ms)
    json_object_set_new(cfg, "verifyTimeoutMs", json_integer(verify_ms));
  ck_assert_int_eq(provider_open(&f->p, &nginx_provider_ops, "edge", cfg,
                                 &f->loop, err, sizeof(err)),
                   0);
  json_decref(cfg);
}

static void fx_begin(struct fx *f)
{
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  snprintf(f->dir, sizeof(f->dir), "/tmp/td-nginx-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
}

/* An instance whose nginx cannot run. */
static void fx_init(struct fx *f)
{
  fx_begin(f);
  fx_open(f, "/nonexistent/nginx", LISTEN, 0);
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
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

static void fx_release(struct fx *f)
{
  bool closed = false;

  provider_close(f->p, on_closed, &closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  ck_assert_int_eq(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void on_res(struct provider *p, const struct provider_result *r,
                   void *arg)
{
  struct res *x = arg;

  (void)p;
  x->done = true;
  x->status = r->status;
  snprintf(x->message, sizeof(x->message), "%s", r->message ? r->message : "");
  x->observed = r->observed ? json_deep_copy(r->observed) : NULL;
}

static struct resource *acme_route(void)
{
  return resource_new(RTYPE_ROUTE, "route/api.staging.acme", "edge", "acme",
                      "api.staging.acme",
                      json_pack("{s:[s, s], s:[s, s]}", "hosts",
                                "api.staging.acme.example", "api.acme.example",
                                "upstreams", "10.0.0.7:8080", "10.0.0.8:8080"));
}

static void write_file(const struct fx *f, const char *name, const char *text)
{
  char *path = td_asprintf("%s/%s", f->dir, name);
  FILE *out = fopen(path, "w");

  ck_assert_ptr_nonnull(out);
  fputs(text, out);
  ck_assert_int_eq(fclose(out), 0);
  free(path);
}

START_TEST(read_a_file_tenantd_wrote)
{
  struct fx f;
  struct resource *r = acme_route();
  struct res x = {0};
  size_t len;
  char *text = acme_file(false, &len);

  fx_init(&f);
  provider_read(f.p, r, on_res, &x);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(x.status, PROVIDER_NOT_FOUND);

  write_file(&f, "api.staging.acme.conf", text);
  memset(&x, 0, sizeof(x));
  provider_read(f.p, r, on_res, &x);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(x.status, PROVIDER_OK);
  ck_assert(json_equal(json_object_get(x.observed, "spec"), r->spec));
  json_decref(x.observed);
  free(text);
  resource_free(r);
  fx_release(&f);
}
END_TEST

static void on_list(struct provider *p, int status, const char *message,
                    const struct provider_owned *items, size_t n, void *arg)
{
  json_t *names = arg;

  (void)p;
  (void)message;
  ck_assert_int_eq(status, PROVIDER_OK);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(names, json_string(items[i].name));
}

START_TEST(list_owned_by_marker)
{
  struct fx f;
  json_t *names = json_array();
  size_t len;
  char *text = acme_file(false, &len);
  char *other = replace(text, "tenant=acme", "tenant=other");

  fx_init(&f);
  write_file(&f, "b.conf", text);
  write_file(&f, "a.conf", text);
  write_file(&f, "c.conf", other);
  write_file(&f, "d.conf", "server { listen 80; }\n");
  write_file(&f, ".e.conf", text);
  provider_list_owned(f.p, "acme", on_list, names);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(json_array_size(names), 2);
  ck_assert_str_eq(json_string_value(json_array_get(names, 0)), "a");
  ck_assert_str_eq(json_string_value(json_array_get(names, 1)), "b");
  json_decref(names);
  free(other);
  free(text);
  fx_release(&f);
}
END_TEST

START_TEST(writes_refused_before_any_file)
{
  struct fx f;
  struct resource *r = acme_route();
  json_t *bad = json_pack("{s:[s], s:[s]}", "hosts", "a.example; include /x",
                          "upstreams", "10.0.0.7:8080");
  struct res x = {0}, y = {0};

  fx_init(&f);
  provider_create(f.p, r, bad, on_res, &x);
  free(r->name);
  r->name = td_strdup("../etc/passwd");
  provider_create(f.p, r, r->spec, on_res, &y);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(x.status, PROVIDER_INVALID);
  ck_assert_str_eq(x.message, "nginx: route api.staging.acme: host 'a.example; "
                              "include /x' is not a plain DNS name");
  ck_assert_int_eq(y.status, PROVIDER_INVALID);
  ck_assert_str_eq(y.message, "nginx: invalid route name '../etc/passwd'");
  json_decref(bad);
  resource_free(r);
  fx_release(&f);
}
END_TEST

/* nginx cannot run: the write is transient and its file taken back. */
START_TEST(create_without_nginx_is_taken_back)
{
  struct fx f;
  struct resource *r = acme_route();
  struct res x = {0};
  char *path;
  struct stat st;

  fx_init(&f);
  provider_create(f.p, r, r->spec, on_res, &x);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(x.status, PROVIDER_TRANSIENT);
  ck_assert_msg(strstr(x.message, "nginx -t: cannot run /nonexistent/nginx"),
                "%s", x.message);
  path = td_asprintf("%s/api.staging.acme.conf", f.dir);
  ck_assert_int_eq(stat(path, &st), -1);
  free(path);
  resource_free(r);
  fx_release(&f);
}
END_TEST

/* ---- verification against a fake nginx ----
 *
 * nginx -t and nginx -s reload are /bin/true; "nginx" is a server on the
 * test's loop that answers each request, on a new connection each, from
 * a script: 'N' answers as the new config (the route and the revision of
 * the file on disk), 'O' as the old one (no route), 'S' not at all (the
 * connection stays open until the client leaves), one letter a request
 * per host; past the end of the script the last letter repeats.  So a
 * reload's handover, old workers still accepting after a new one
 * answered, and an alias nginx does not serve are played exactly.
 */

struct fake {
  uv_tcp_t server;
  const char *dir;
  const char *script[2]; /* per host: the first host, the alias */
  size_t asked[2];
  uint64_t last_old; /* uv_now of the last 'O' answer */
  bool any_old;
  uv_loop_t *loop;
};

struct fake_conn {
  uv_tcp_t tcp;
  struct fake *fk;
  char buf[4096];
  size_t len;
  uv_write_t write;
  char *response;
  bool asked;
};

static void fake_conn_closed(uv_handle_t *h)
{
  struct fake_conn *c = h->data;

  free(c->response);
  free(c);
}

static void fake_written(uv_write_t *w, int status)
{
  struct fake_conn *c = w->data;

  (void)status;
  uv_close((uv_handle_t *)&c->tcp, fake_conn_closed);
}

/* The response the script says for the request in c->buf; NULL for
 * none. */
static char *fake_answer(struct fake *fk, const char *request)
{
  size_t host = strstr(request, "Host: api.acme.example") ? 1 : 0;
  const char *script = fk->script[host];
  size_t n = strlen(script), i = fk->asked[host]++;
  char *path, text[NGX_FILE_MAX + 1];
  struct ngx_scan s;
  size_t len;
  FILE *in;
  char *out;

  if (script[i < n ? i : n - 1] == 'S')
    return NULL;
  if (script[i < n ? i : n - 1] == 'O') {
    fk->last_old = uv_now(fk->loop);
    fk->any_old = true;
    return td_strdup("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
  }
  path = td_asprintf("%s/api.staging.acme.conf", fk->dir);
  in = fopen(path, "r");
  ck_assert_ptr_nonnull(in);
  len = fread(text, 1, NGX_FILE_MAX, in);
  fclose(in);
  free(path);
  ngx__scan(text, len, &s);
  out = td_asprintf("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                    "Connection: close\r\nX-Tenantd-Route: %s\r\n"
                    "X-Tenantd-Revision: %s\r\n\r\n",
                    s.route.id, s.route.revision);
  ngx__scan_release(&s);
  return out;
}

static void fake_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
  struct fake_conn *c = h->data;

  (void)size;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void fake_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  struct fake_conn *c = st->data;
  uv_buf_t out;

  (void)buf;
  if (n < 0) {
    uv_close((uv_handle_t *)&c->tcp, fake_conn_closed);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (c->asked || !strstr(c->buf, "\r\n\r\n"))
    return;
  c->asked = true;
  c->response = fake_answer(c->fk, c->buf);
  if (!c->response)
    return; /* silent: read on, to see the client leave */
  uv_read_stop(st);
  out = uv_buf_init(c->response, (unsigned)strlen(c->response));
  c->write.data = c;
  uv_write(&c->write, st, &out, 1, fake_written);
}

static void fake_accept(uv_stream_t *server, int status)
{
  struct fake *fk = server->data;
  struct fake_conn *c = td_calloc(1, sizeof(*c));

  ck_assert_int_eq(status, 0);
  c->fk = fk;
  uv_tcp_init(fk->loop, &c->tcp);
  c->tcp.data = c;
  ck_assert_int_eq(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
  uv_read_start((uv_stream_t *)&c->tcp, fake_alloc, fake_read);
}

/* Starts the fake on a free port; its host:port in `listen`. */
static void fake_start(struct fake *fk, struct fx *f, char *listen, size_t cap)
{
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound);

  fk->loop = &f->loop;
  fk->dir = f->dir;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(&f->loop, &fk->server);
  fk->server.data = fk;
  ck_assert_int_eq(uv_tcp_bind(&fk->server, (struct sockaddr *)&addr, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&fk->server, 64, fake_accept), 0);
  uv_tcp_getsockname(&fk->server, (struct sockaddr *)&bound, &len);
  snprintf(listen, cap, "127.0.0.1:%d",
           ntohs(((struct sockaddr_in *)&bound)->sin_port));
}

static void fake_stop(struct fake *fk)
{
  uv_close((uv_handle_t *)&fk->server, NULL);
}

static void on_res_at(struct provider *p, const struct provider_result *r,
                      void *arg)
{
  struct res *x = arg;

  on_res(p, r, arg);
  x->at = uv_now(p->loop);
}

/* Creates the acme route against the fake; the result in *x. */
static void create_against(struct fx *f, struct fake *fk, int verify_ms,
                           struct res *x)
{
  struct resource *r = acme_route();
  char listen[64];

  fx_begin(f);
  fake_start(fk, f, listen, sizeof(listen));
  fx_open(f, "/bin/true", listen, verify_ms);
  provider_create(f->p, r, r->spec, on_res_at, x);
  while (!x->done)
    uv_run(&f->loop, UV_RUN_ONCE);
  fake_stop(fk);
  resource_free(r);
}

START_TEST(served_only_after_the_handover)
{
  /* A new worker answers first, then old workers still accept for a
   * while, as during nginx's reload: the write is answered only once the
   * new config has answered steadily after the last old answer. */
  struct fake fk = {.script = {"NNOOONOONNNN", "NOONNONN"}};
  struct fx f;
  struct res x = {0};

  create_against(&f, &fk, 0, &x);
  ck_assert_msg(x.status == PROVIDER_OK, "%s", x.message);
  ck_assert(fk.any_old);
  ck_assert_msg(x.at >= fk.last_old + NGX_SETTLE_MS,
                "answered %llu ms after the last old answer",
                (unsigned long long)(x.at - fk.last_old));
  /* Every host was asked, the alias too. */
  ck_assert_uint_ge(fk.asked[1], 8);
  json_decref(x.observed);
  fx_release(&f);
}
END_TEST

START_TEST(an_alias_not_served_fails_the_write)
{
  /* The first host is served, the alias never: not served, taken back. */
  struct fake fk = {.script = {"N", "O"}};
  struct fx f;
  struct res x = {0};
  char *path;
  struct stat st;

  create_against(&f, &fk, 300, &x);
  ck_assert_int_eq(x.status, PROVIDER_TRANSIENT);
  ck_assert_msg(strstr(x.message, "nginx: api.acme.example not served by "
                                  "route route/api.staging.acme within 300 ms"),
                "%s", x.message);
  path = td_asprintf("%s/api.staging.acme.conf", f.dir);
  ck_assert_int_eq(stat(path, &st), -1);
  free(path);
  fx_release(&f);
}
END_TEST

START_TEST(the_window_ending_does_not_hide_the_wrong_host)
{
  /* The alias answers as the old config; the first host answers once,
   * then not at all, so the window ends with its request still out.
   * That request is cut short last, and the message still names the
   * host that answered wrong, with its answer. */
  struct fake fk = {.script = {"NS", "O"}};
  struct fx f;
  struct res x = {0};

  create_against(&f, &fk, 300, &x);
  ck_assert_int_eq(x.status, PROVIDER_TRANSIENT);
  ck_assert_uint_ge(fk.asked[0], 2);
  ck_assert_msg(strstr(x.message, "nginx: api.acme.example not served by "
                                  "route route/api.staging.acme within 300 ms "
                                  "of the reload (last answer: HTTP 404 "
                                  "without it)"),
                "%s", x.message);
  fx_release(&f);
}
END_TEST

Suite *make_suite_nginx(void)
{
  Suite *s = suite_create("nginx");
  TCase *tc = tcase_create("nginx");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, render_is_byte_for_byte);
  tcase_add_test(tc, parse_render_round_trip);
  tcase_add_test(tc, parse_refuses_what_tenantd_does_not_write);
  tcase_add_test(tc, parse_refuses_oversize_files);
  tcase_add_test(tc, check_spec_refuses_syntax);
  tcase_add_test(tc, check_spec_host_limits);
  tcase_add_test(tc, check_spec_upstream_limits);
  tcase_add_test(tc, observe_reads_what_nginx_would);
  tcase_add_test(tc, observe_a_file_of_the_old_format);
  tcase_add_test(tc, hosts_of_a_file);
  tcase_add_test(tc, summarize_keeps_errors);
  tcase_add_test(tc, open_rejects_bad_options);
  tcase_add_test(tc, read_a_file_tenantd_wrote);
  tcase_add_test(tc, list_owned_by_marker);
  tcase_add_test(tc, writes_refused_before_any_file);
  tcase_add_test(tc, create_without_nginx_is_taken_back);
  tcase_add_test(tc, served_only_after_the_handover);
  tcase_add_test(tc, an_alias_not_served_fails_the_write);
  tcase_add_test(tc, the_window_ending_does_not_hide_the_wrong_host);
  suite_add_tcase(s, tc);
  return s;
}
