/*
 * render.c - the route file (see nginx.h for its format): what a spec may
 * hold, the file tenantd writes, and reading one back.
 *
 * Everything here is a pure function of its arguments.  A file is read
 * twice over: ngx__scan() takes whatever it can from any file, a
 * hand-edited one included, and ngx__parse() accepts only a file that is
 * byte for byte what ngx__render() writes for the route it describes, so
 * nothing nginx would read as configuration can hide in a file tenantd
 * takes for its own.
 */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>

#include "providers/nginx/internal.h"

/* The header line of a file not yet known to be loaded by nginx. */
#define PENDING_LINE "# state: pending\n"
/* A server_name read from a hand-edited file keeps at most this many. */
#define SCAN_HOSTS_MAX 1024

/* ---- what a spec may hold: nothing that nginx would read as syntax ---- */

bool ngx__valid_hostname(const char *s, size_t len)
{
  size_t label = 0;

  if (len == 0 || len > NGX_MAX_HOST)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!isalnum(c) && c != '-')
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0;
}

bool ngx__valid_hostport(const char *s)
{
  const char *colon, *end;
  unsigned long port = 0;

  if (s[0] == '[') {
    end = strchr(s, ']');
    if (!end || end == s + 1 || end - s > 46 || end[1] != ':')
      return false;
    for (const char *p = s + 1; p < end; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
        return false;
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || !ngx__valid_hostname(s, (size_t)(colon - s)))
      return false;
  }
  if (!colon[1] || strlen(colon + 1) > 5)
    return false;
  for (const char *p = colon + 1; *p; p++) {
    if (!isdigit((unsigned char)*p))
      return false;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  return port >= 1 && port <= 65535;
}

bool ngx__valid_token(const char *s, size_t max, bool slash)
{
  size_t len = strlen(s);

  if (len == 0 || len > max || s[0] == '.')
    return false;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;

    if (!isalnum(c) && c != '.' && c != '_' && c != '-' && !(slash && c == '/'))
      return false;
  }
  return true;
}

static int check_hosts(const json_t *hosts, char *msg, size_t cap)
{
  const json_t *v;
  size_t i;

  if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
      json_array_size(hosts) > NGX_MAX_HOSTS) {
    snprintf(msg, cap, "hosts must be a list of 1 to %d DNS names",
             NGX_MAX_HOSTS);
    return -1;
  }
  json_array_foreach(hosts, i, v)
  {
    const char *h = json_string_value(v);

    if (!h || !ngx__valid_hostname(h, json_string_length(v))) {
      snprintf(msg, cap, "host '%.200s' is not a plain DNS name",
               h ? h : "(not a string)");
      return -1;
    }
  }
  return 0;
}

int ngx__check_spec(const json_t *spec, char *msg, size_t cap)
{
  const json_t *upstream = json_object_get(spec, "upstream");
  const char *key;
  const json_t *v;

  if (!json_is_object(spec)) {
    snprintf(msg, cap, "the spec is not an object");
    return -1;
  }
  json_object_foreach((json_t *)spec, key, v)
  {
    if (strcmp(key, "hosts") != 0 && strcmp(key, "upstream") != 0) {
      snprintf(msg, cap, "unknown route attribute '%.100s'", key);
      return -1;
    }
  }
  if (check_hosts(json_object_get(spec, "hosts"), msg, cap) < 0)
    return -1;
  if (!json_is_string(upstream) ||
      strlen(json_string_value(upstream)) != json_string_length(upstream) ||
      !ngx__valid_hostport(json_string_value(upstream))) {
    snprintf(msg, cap, "upstream '%.200s' is not host:port",
             json_is_string(upstream) ? json_string_value(upstream)
                                      : "(not a string)");
    return -1;
  }
  return 0;
}

/* ---- rendering ---- */

char *ngx__render(const struct ngx_route *r, const char *listen, size_t *len)
{
  char marker[RESOURCE_MARKER_MAX];
  char *spec_text = json_dumps(r->spec, JSON_COMPACT | JSON_SORT_KEYS);
  const json_t *hosts = json_object_get(r->spec, "hosts"), *h;
  char *text = NULL;
  size_t i;
  FILE *f;

  if (!spec_text)
    abort(); /* only allocation fails on a checked spec */
  f = open_memstream(&text, len);
  if (!f)
    abort();
  resource_marker(marker, r->tenant, r->id);
  fprintf(f,
          "# %s\n"
          "# spec: %s\n"
          "# revision: %s\n"
          "%s"
          "# Written by tenantd: edits here are reverted on the next "
          "reconcile.\n"
          "server {\n"
          "  listen %s;\n"
          "  server_name",
          marker, spec_text, r->revision, r->pending ? PENDING_LINE : "",
          listen);
  json_array_foreach(hosts, i, h) fprintf(f, " %s", json_string_value(h));
  fprintf(f,
          ";\n"
          "  location / {\n"
          "    proxy_pass http://%s;\n"
          "    proxy_set_header Host $host;\n"
          "    add_header X-Tenantd-Route %s always;\n"
          "    add_header X-Tenantd-Revision %s always;\n"
          "  }\n"
          "}\n",
          json_string_value(json_object_get(r->spec, "upstream")), r->id,
          r->revision);
  if (fclose(f) != 0)
    abort();
  free(spec_text);
  return text;
}

/* ---- scanning any file ---- */

void ngx__route_release(struct ngx_route *r)
{
  json_decref(r->spec);
  memset(r, 0, sizeof(*r));
}

void ngx__scan_release(struct ngx_scan *s)
{
  ngx__route_release(&s->route);
  json_decref(s->hosts);
  free(s->upstream);
  memset(s, 0, sizeof(*s));
}

/* A JSON string of a file's bytes; hand-written files need not be UTF-8. */
static json_t *file_string(const char *s, size_t len)
{
  json_t *v = json_stringn(s, len);

  return v ? v : json_string("(not UTF-8)");
}

static const char *skip_blank(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

/* The value of directive `name` on a trimmed line, up to ';'. */
static bool directive(const char *p, const char *end, const char *name,
                      const char **val, const char **val_end)
{
  size_t n = strlen(name);
  const char *semi;

  if ((size_t)(end - p) <= n || memcmp(p, name, n) != 0 ||
      (p[n] != ' ' && p[n] != '\t'))
    return false;
  p = skip_blank(p + n, end);
  semi = p < end ? memchr(p, ';', (size_t)(end - p)) : NULL;
  end = semi ? semi : end;
  while (end > p && isspace((unsigned char)end[-1]))
    end--;
  *val = p;
  *val_end = end;
  return true;
}

/* The value of "# <name>: value", spaces after the colon skipped. */
static const char *header_value(const char *line, const char *name)
{
  size_t n = strlen(name);

  if (strncmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  line += n + 1;
  while (*line == ' ')
    line++;
  return line;
}

static void take_spec_line(struct ngx_route *r, const char *text)
{
  json_t *spec = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
  char msg[256];

  if (spec && ngx__check_spec(spec, msg, sizeof(msg)) == 0)
    r->spec = spec;
  else
    json_decref(spec);
}

static void take_revision(struct ngx_route *r, const char *v)
{
  if (strlen(v) == NGX_REVISION_LEN &&
      strspn(v, "0123456789abcdef") == NGX_REVISION_LEN)
    memcpy(r->revision, v, NGX_REVISION_LEN + 1);
}

static void scan_header_line(struct ngx_scan *s, const char *p, const char *end)
{
  struct ngx_route *r = &s->route;
  char *line = td_strndup(p, (size_t)(end - p));
  const char *state = header_value(line, "state");

  if (!s->marked && strncmp(line, "managed-by=", 11) == 0)
    s->marked = resource_marker_parse(line, r->tenant, sizeof(r->tenant), r->id,
                                      sizeof(r->id)) == 0;
  else if (!r->spec && strncmp(line, "spec:", 5) == 0)
    take_spec_line(r, line + 5);
  else if (!r->revision[0] && header_value(line, "revision"))
    take_revision(r, header_value(line, "revision"));
  else if (state && strcmp(state, "pending") == 0)
    r->pending = true;
  free(line);
}

static void scan_body_line(struct ngx_scan *s, const char *p, const char *end)
{
  const char *v, *v_end;

  if (!s->hosts && directive(p, end, "server_name", &v, &v_end)) {
    s->hosts = json_array();
    while (v < v_end && json_array_size(s->hosts) < SCAN_HOSTS_MAX) {
      const char *w = v;

      while (w < v_end && !isspace((unsigned char)*w))
        w++;
      json_array_append_new(s->hosts, file_string(v, (size_t)(w - v)));
      v = skip_blank(w, v_end);
    }
  } else if (!s->upstream && directive(p, end, "proxy_pass", &v, &v_end)) {
    if ((size_t)(v_end - v) >= 7 && memcmp(v, "http://", 7) == 0)
      v += 7;
    s->upstream = td_strndup(v, (size_t)(v_end - v));
  }
}

/* The marker, spec, revision and state of the leading comment block; then
 * the server_name and proxy_pass directives. */
void ngx__scan(const char *text, size_t len, struct ngx_scan *out)
{
  const char *p = text, *end = text + len;
  bool header = true;

  memset(out, 0, sizeof(*out));
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    const char *q = skip_blank(p, line_end);

    if (line_end > q && line_end[-1] == '\r')
      line_end--;
    if (header && q < line_end && *q == '#') {
      scan_header_line(out, skip_blank(q + 1, line_end), line_end);
    } else {
      header = false;
      if (q < line_end && *q != '#')
        scan_body_line(out, q, line_end);
    }
    p = nl ? nl + 1 : end;
  }
}

/* ---- parsing a file tenantd wrote ---- */

int ngx__parse(const char *text, size_t len, const char *listen,
               struct ngx_route *out)
{
  struct ngx_scan s;
  char *want = NULL;
  size_t want_len = 0;
  int rc = TD_EINVALID;

  memset(out, 0, sizeof(*out));
  if (len > NGX_FILE_MAX)
    return TD_EINVALID;
  ngx__scan(text, len, &s);
  if (!s.marked || !s.route.spec || !s.route.revision[0] ||
      !ngx__valid_token(s.route.tenant, NGX_MAX_TOKEN, false) ||
      !ngx__valid_token(s.route.id, NGX_MAX_TOKEN, true))
    goto out;
  /* Whatever the scan skipped (a directive added, a line edited) makes
   * the file differ from the one its header describes. */
  want = ngx__render(&s.route, listen, &want_len);
  if (want_len != len || memcmp(want, text, len) != 0)
    goto out;
  *out = s.route;
  memset(&s.route, 0, sizeof(s.route));
  rc = 0;
out:
  free(want);
  ngx__scan_release(&s);
  return rc;
}

/* ---- observed state ---- */

json_t *ngx__observed_new(json_t *spec, const char *marker)
{
  const char *first =
      json_string_value(json_array_get(json_object_get(spec, "hosts"), 0));
  json_t *outputs = json_object(), *obs;

  if (first) {
    char *url = td_asprintf("http://%s", first);

    json_object_set_new(outputs, "url", file_string(url, strlen(url)));
    free(url);
  }
  obs = json_pack("{s:o, s:o}", "spec", spec, "outputs", outputs);
  if (marker)
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

/* The spec the directives give (new). */
static json_t *directive_spec(const struct ngx_scan *s)
{
  json_t *spec = json_object();

  if (s->hosts)
    json_object_set(spec, "hosts", s->hosts);
  if (s->upstream)
    json_object_set_new(spec, "upstream",
                        file_string(s->upstream, strlen(s->upstream)));
  return spec;
}

/* Appends `suffix` to a spec's upstream, so the spec diffs as drift. */
static void suffix_upstream(json_t *spec, const char *upstream,
                            const char *suffix)
{
  char *s = td_asprintf("%s%s", upstream, suffix);

  json_object_set_new(spec, "upstream", file_string(s, strlen(s)));
  free(s);
}

/* A file tenantd wrote reads as its spec, with its upstream marked
 * pending while it is: drift, so the next pass writes it again. */
static json_t *route_spec(const struct ngx_route *r)
{
  json_t *spec;

  if (!r->pending)
    return json_incref(r->spec);
  spec = json_deep_copy(r->spec);
  suffix_upstream(spec, json_string_value(json_object_get(r->spec, "upstream")),
                  NGX_PENDING);
  return spec;
}

/* A marked file edited by hand reads as what its directives say, marked
 * as edited when that alone would hide the edit. */
static json_t *edited_spec(const struct ngx_scan *s)
{
  json_t *spec = directive_spec(s);
  bool visible = s->route.spec && !json_equal(spec, s->route.spec);

  if (!visible && s->upstream)
    suffix_upstream(spec, s->upstream, NGX_EDITED);
  return spec;
}

json_t *ngx__observe(const char *text, size_t len, const char *listen)
{
  char marker[RESOURCE_MARKER_MAX];
  struct ngx_route r;
  struct ngx_scan s;
  json_t *obs;

  if (ngx__parse(text, len, listen, &r) == 0) {
    resource_marker(marker, r.tenant, r.id);
    obs = ngx__observed_new(route_spec(&r), marker);
    ngx__route_release(&r);
    return obs;
  }
  ngx__scan(text, len, &s);
  if (s.marked) {
    resource_marker(marker, s.route.tenant, s.route.id);
    obs = ngx__observed_new(edited_spec(&s), marker);
  } else {
    obs = ngx__observed_new(directive_spec(&s), NULL);
  }
  ngx__scan_release(&s);
  return obs;
}

json_t *ngx__hosts_of(const char *text, size_t len)
{
  struct ngx_scan s;
  const json_t *hosts, *h;
  json_t *out = json_array();
  size_t i;

  ngx__scan(text, len, &s);
  hosts = s.route.spec ? json_object_get(s.route.spec, "hosts") : s.hosts;
  json_array_foreach(hosts, i, h)
  {
    const char *name = json_string_value(h);

    if (name && ngx__valid_hostname(name, strlen(name)) &&
        json_array_size(out) < NGX_MAX_HOSTS)
      json_array_append_new(out, json_string(name));
  }
  ngx__scan_release(&s);
  return out;
}
