#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "engine/status.h"
#include "model/resource.h"
#include "status_fx.h"

static const char EMPTY_TEXT[] = "apiVersion: tenantd.io/v1\n"
                                 "kind: TenantStatus\n"
                                 "tenant: acme\n"
                                 "source: \"\"\n"
                                 "lastChange: \"\"\n"
                                 "conditions:\n"
                                 "  - type: Ready\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "  - type: Reconciling\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "  - type: Stalled\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "  - type: SourceError\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "  - type: DriftDetected\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "  - type: Suspended\n"
                                 "    status: \"False\"\n"
                                 "    reason: \"\"\n"
                                 "    message: \"\"\n"
                                 "    since: \"\"\n"
                                 "inventory: []\n"
                                 "stalled: []\n"
                                 "lastError: null\n";

/* format(parse(text)) must give `text` back. */
static void assert_reformats(const char *text)
{
  struct tenant_status *st = parse_ok(text);
  char *again = tenant_status_format(st);

  ck_assert_str_eq(again, text);
  free(again);
  tenant_status_free(st);
}

START_TEST(format_full)
{
  struct tenant_status *st = full_status();
  char *text = tenant_status_format(st);

  ck_assert_str_eq(text, FULL_TEXT);
  free(text);
  tenant_status_free(st);
}
END_TEST

START_TEST(round_trip_full)
{
  struct tenant_status *st = full_status();
  char *text = tenant_status_format(st);
  struct tenant_status *back = parse_ok(text);

  assert_status_eq(st, back);
  assert_reformats(text);
  free(text);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

START_TEST(empty_status)
{
  struct tenant_status *st = tenant_status_new("acme");
  char *text = tenant_status_format(st);
  struct tenant_status *back = parse_ok(text);

  ck_assert_str_eq(text, EMPTY_TEXT);
  assert_status_eq(st, back);
  ck_assert_ptr_null(back->source);
  ck_assert_ptr_null(back->cond[STATUS_READY].since);
  ck_assert_ptr_null(back->last_error.message);
  assert_reformats(text);
  free(text);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

/* The shape the design document shows, without the optional keys format
 * adds, reads too; absent conditions default to False. */
START_TEST(parse_minimal_and_unordered)
{
  const char *text = "kind: TenantStatus\n"
                     "apiVersion: tenantd.io/v1\n"
                     "tenant: acme\n"
                     "conditions:\n"
                     "  - type: Suspended\n"
                     "    status: true\n"
                     "inventory:\n"
                     "  - id: service/b\n"
                     "    type: service\n"
                     "    provider: local\n"
                     "    name: b\n"
                     "    hash: 0123456789abcdef\n"
                     "  - id: database/a\n"
                     "    type: database\n"
                     "    provider: local\n"
                     "    name: a\n"
                     "    hash: fedcba9876543210\n"
                     "futureField: ignored\n";
  struct tenant_status *st = parse_ok(text);

  ck_assert(st->cond[STATUS_SUSPENDED].status);
  ck_assert(!st->cond[STATUS_READY].status);
  ck_assert_uint_eq(st->ninventory, 2);
  ck_assert_str_eq(st->inventory[0].id, "database/a");
  ck_assert_str_eq(st->inventory[1].id, "service/b");
  ck_assert(!st->inventory[0].prune_delete);
  ck_assert_uint_eq(st->inventory[0].corrections, 0);
  ck_assert_ptr_nonnull(tenant_status_inventory_find(st, "service/b"));
  ck_assert_ptr_null(st->last_error.message);
  tenant_status_free(st);
}
END_TEST

/* Strings that YAML would misread, break or type if written plain. */
static const char *const special[] = {
    "a: b",
    "trailing:",
    "# not a comment",
    "x #y",
    "x#y",
    " leading space",
    "trailing space ",
    "'single'",
    "\"double\"",
    "say \"hi\" and 'bye'",
    "back\\slash",
    "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89",
    "line1\nline2",
    "multi\n\nblank\n",
    "tab\tsep",
    "cr\r\nlf",
    "\x7f del",
    "nel\xc2\x85",
    "ls\xe2\x80\xa8ps\xe2\x80\xa9",
    "bom\xef\xbb\xbf",
    "nonchar\xef\xbf\xbe",
    "bell\a",
    "True",
    "false",
    "yes",
    "No",
    "null",
    "~",
    "123",
    "-1",
    "+1",
    "1.5",
    "1e3",
    "0x1F",
    "0o17",
    ".inf",
    "-.NaN",
    "1_000",
    "12:30:00",
    "2026-11-23",
    "- dash",
    "-",
    "[list]",
    "{map}",
    "a, b",
    "&anchor",
    "*alias",
    "!tag",
    "|block",
    ">fold",
    "%pct",
    "@at",
    "`tick`",
    "?q",
    "dir:/work/repo",
    "---",
    "...",
    "<<",
    "\\u0041 is not an escape here",
    "{\"replicas\":3}",
};

/* A status with `s` in every kind of string field but an inventory
 * entry's id and type, which follow a grammar. */
static struct tenant_status *status_with(const char *s)
{
  struct tenant_status *st = tenant_status_new("acme");

  st->source = td_strdup(s);
  st->last_change = td_strdup(s);
  tenant_status_set(st, STATUS_READY, true, s, s, s);
  tenant_status_inventory_put(st, "service/x", "service", s, s, HASH_A);
  st->stalled = td_calloc(1, sizeof(*st->stalled));
  st->nstalled = 1;
  st->stalled[0].id = td_strdup(s);
  st->stalled[0].field = td_strdup(s);
  st->stalled[0].desired = td_strdup(s);
  st->stalled[0].observed = td_strdup(s);
  st->last_error.message = td_strdup(s);
  st->last_error.resource = td_strdup(s);
  st->last_error.path = td_strdup(s);
  st->last_error.line = 1;
  st->last_error.col = 2;
  return st;
}

/* The `message:` line of the Ready condition, as formatted. */
static char *message_line(const char *s)
{
  struct tenant_status *st = status_with(s);
  char *text = tenant_status_format(st);
  const char *p = strstr(text, "\n    message: ");
  char *line;

  ck_assert_ptr_nonnull(p);
  p += 5;
  line = td_strndup(p, strcspn(p, "\n"));
  free(text);
  tenant_status_free(st);
  return line;
}

static size_t count_lines(const char *text)
{
  size_t n = 0;

  for (const char *p = text; *p; p++)
    n += *p == '\n';
  return n;
}

START_TEST(special_strings_round_trip)
{
  struct tenant_status *plain = status_with("plain");
  char *plain_text = tenant_status_format(plain);

  for (size_t i = 0; i < ARRAY_SIZE(special); i++) {
    struct tenant_status *st = status_with(special[i]);
    char *text = tenant_status_format(st);
    struct tenant_status *back = parse_ok(text);

    /* One field per line: a newline in a value is always escaped. */
    ck_assert_uint_eq(count_lines(text), count_lines(plain_text));
    assert_status_eq(st, back);
    assert_reformats(text);
    free(text);
    tenant_status_free(back);
    tenant_status_free(st);
  }
  free(plain_text);
  tenant_status_free(plain);
}
END_TEST

START_TEST(special_strings_spelling)
{
  static const struct {
    const char *in, *line;
  } cases[] = {
      {"12 resources in sync", "message: 12 resources in sync"},
      {"a: b", "message: \"a: b\""},
      {"x#y", "message: x#y"},
      {"x #y", "message: \"x #y\""},
      {" lead", "message: \" lead\""},
      {"say \"hi\"", "message: say \"hi\""},
      {"\"q\"", "message: \"\\\"q\\\"\""},
      {"back\\slash", "message: back\\slash"},
      {"line1\nline2", "message: \"line1\\nline2\""},
      {"tab\tsep", "message: \"tab\\tsep\""},
      {"\x7f", "message: \"\\x7F\""},
      {"ls\xe2\x80\xa8", "message: \"ls\\u2028\""},
      {"h\xc3\xa9llo \xf0\x9f\x8e\x89",
       "message: h\xc3\xa9llo \xf0\x9f\x8e\x89"},
      {"True", "message: \"True\""},
      {"2026-11-23T10:00:00Z", "message: \"2026-11-23T10:00:00Z\""},
      {"dir:/work/repo", "message: dir:/work/repo"},
      {"0123456789abcdef", "message: 0123456789abcdef"},
      {"00000000000001e5", "message: \"00000000000001e5\""},
  };

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *line = message_line(cases[i].in);

    ck_assert_str_eq(line, cases[i].line);
    free(line);
  }
}
END_TEST

/* Invalid UTF-8 from a provider becomes U+FFFD rather than a file that no
 * longer parses; the text is stable from then on. */
START_TEST(invalid_utf8_is_replaced)
{
  struct tenant_status *st = status_with("bad\xff\xfe byte \xc3");
  char *text = tenant_status_format(st);
  struct tenant_status *back = parse_ok(text);

  ck_assert_str_eq(back->last_error.message,
                   "bad\xef\xbf\xbd\xef\xbf\xbd byte \xef\xbf\xbd");
  assert_reformats(text);
  free(text);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

START_TEST(set_keeps_since_until_flip)
{
  struct tenant_status *st = tenant_status_new("acme");
  struct status_condition *c = &st->cond[STATUS_READY];

  ck_assert_ptr_null(c->since);
  /* Never set: `since` is taken even though False is the default. */
  tenant_status_set(st, STATUS_READY, false, "Pending", NULL, "T1");
  ck_assert_str_eq(c->since, "T1");
  ck_assert_str_eq(c->reason, "Pending");
  ck_assert_ptr_null(c->message);

  tenant_status_set(st, STATUS_READY, false, "Pending", "again", "T2");
  ck_assert_str_eq(c->since, "T1");
  ck_assert_str_eq(c->message, "again");

  tenant_status_set(st, STATUS_READY, true, "Applied", "ok", "T3");
  ck_assert(c->status);
  ck_assert_str_eq(c->since, "T3");
  ck_assert_str_eq(c->reason, "Applied");

  tenant_status_set(st, STATUS_READY, true, "Applied", NULL, "T4");
  ck_assert_str_eq(c->since, "T3");
  ck_assert_ptr_null(c->message);

  tenant_status_set(st, STATUS_READY, false, "ApplyFailed", "boom", "T5");
  ck_assert(!c->status);
  ck_assert_str_eq(c->since, "T5");

  /* The condition's own strings passed back in survive. */
  tenant_status_set(st, STATUS_READY, false, c->reason, c->message, c->since);
  ck_assert_str_eq(c->reason, "ApplyFailed");
  ck_assert_str_eq(c->message, "boom");
  ck_assert_str_eq(c->since, "T5");

  /* Other conditions are untouched. */
  ck_assert_ptr_null(st->cond[STATUS_STALLED].since);
  tenant_status_free(st);
}
END_TEST

static void assert_sorted(const struct tenant_status *st)
{
  for (size_t i = 1; i < st->ninventory; i++)
    ck_assert_int_lt(strcmp(st->inventory[i - 1].id, st->inventory[i].id), 0);
}

START_TEST(inventory_sorted_ops)
{
  struct tenant_status *st = tenant_status_new("acme");
  const char *ids[] = {"service/b", "database/a", "route/c", "bucket/z",
                       "network/m"};
  const struct status_item *it;
  char *text;

  for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
    tenant_status_inventory_put(st, ids[i], "t", "local", ids[i], HASH_A);
    assert_sorted(st);
  }
  ck_assert_uint_eq(st->ninventory, ARRAY_SIZE(ids));
  ck_assert_str_eq(st->inventory[0].id, "bucket/z");
  ck_assert_str_eq(st->inventory[4].id, "service/b");
  for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
    it = tenant_status_inventory_find(st, ids[i]);
    ck_assert_ptr_nonnull(it);
    ck_assert_str_eq(it->name, ids[i]);
  }
  ck_assert_ptr_null(tenant_status_inventory_find(st, "route/b"));
  ck_assert_ptr_null(tenant_status_inventory_find(st, "zzz"));

  /* Replace: same count, new values, extra fields start afresh. */
  ((struct status_item *)tenant_status_inventory_find(st, "route/c"))
      ->prune_delete = true;
  tenant_status_inventory_put(st, "route/c", "route", "edge", "c2", HASH_B);
  ck_assert_uint_eq(st->ninventory, ARRAY_SIZE(ids));
  it = tenant_status_inventory_find(st, "route/c");
  ck_assert_str_eq(it->type, "route");
  ck_assert_str_eq(it->provider, "edge");
  ck_assert_str_eq(it->name, "c2");
  ck_assert_str_eq(it->hash, HASH_B);
  ck_assert(!it->prune_delete);
  assert_sorted(st);

  /* The entry's own strings passed back in survive the replace. */
  tenant_status_inventory_put(st, it->id, it->type, it->provider, it->name,
                              it->hash);
  it = tenant_status_inventory_find(st, "route/c");
  ck_assert_str_eq(it->name, "c2");
  ck_assert_str_eq(it->hash, HASH_B);

  tenant_status_inventory_remove(st, "bucket/z");  /* first */
  tenant_status_inventory_remove(st, "service/b"); /* last */
  tenant_status_inventory_remove(st, "network/m"); /* middle */
  tenant_status_inventory_remove(st, "not/there"); /* no-op */
  ck_assert_uint_eq(st->ninventory, 2);
  ck_assert_str_eq(st->inventory[0].id, "database/a");
  ck_assert_str_eq(st->inventory[1].id, "route/c");
  ck_assert_ptr_null(tenant_status_inventory_find(st, "bucket/z"));
  tenant_status_inventory_put(st, "a/first", "t", "p", "n", HASH_A);
  ck_assert_str_eq(st->inventory[0].id, "a/first");
  assert_sorted(st);

  tenant_status_inventory_remove(st, "a/first");
  tenant_status_inventory_remove(st, "database/a");
  tenant_status_inventory_remove(st, "route/c");
  ck_assert_uint_eq(st->ninventory, 0);
  text = tenant_status_format(st);
  ck_assert_ptr_nonnull(strstr(text, "\ninventory: []\n"));
  free(text);
  tenant_status_free(st);
}
END_TEST

/* FULL_TEXT with the first occurrence of `from` replaced by `to`. */
static char *edit(const char *from, const char *to)
{
  const char *p = strstr(FULL_TEXT, from);
  size_t n = strlen(FULL_TEXT) - strlen(from) + strlen(to) + 1;
  char *s = td_malloc(n);

  ck_assert_ptr_nonnull(p);
  snprintf(s, n, "%.*s%s%s", (int)(p - FULL_TEXT), FULL_TEXT, to,
           p + strlen(from));
  return s;
}

START_TEST(parse_rejects)
{
  static const struct {
    const char *from, *to, *error;
  } cases[] = {
      {"kind: TenantStatus", "kind: Tenant", "kind is 'Tenant'"},
      {"kind: TenantStatus\n", "", "kind is missing"},
      {"apiVersion: tenantd.io/v1", "apiVersion: tenantd.io/v2",
       "apiVersion is 'tenantd.io/v2'"},
      {"tenant: acme\n", "", "tenant is missing"},
      {"tenant: acme", "tenant: \"\"", "tenant must not be empty"},
      {"tenant: acme", "tenant: [acme]", "tenant must be a string"},
      {"type: Ready", "type: Healthy",
       "conditions[0].type 'Healthy' is not a condition type"},
      {"type: Reconciling", "type: Ready",
       "conditions[1].type: condition "
       "Ready is listed twice"},
      {"status: \"True\"", "status: maybe",
       "conditions[0].status must be \"True\" or \"False\""},
      {"conditions:\n", "conditions:\n  - 42\n",
       "conditions[0] must be a mapping, not an integer"},
      {"conditions:\n", "conditions: 3\nx:\n", "conditions must be a list"},
      {"  - id: database/acme.prod\n", "  - idx: database/acme.prod\n",
       "inventory[0].id is missing"},
      {"    type: database\n", "", "inventory[0].type is missing"},
      {"    name: acme_prod\n", "    name: {a: 1}\n",
       "inventory[0].name must be a string"},
      {"hash: 0123456789abcdef", "hash: 0123456789ABCDEF",
       "inventory[0].hash must be 16 lowercase hex digits"},
      {"hash: 0123456789abcdef", "hash: 0123456789abcde",
       "inventory[0].hash must be 16"},
      {"hash: 0123456789abcdef", "hash: 0123456789abcdef0",
       "inventory[0].hash must be 16"},
      {"hash: 0123456789abcdef", "hash: 0123456789abcdeg",
       "inventory[0].hash must be 16"},
      {"hash: \"0000000000001234\"", "hash: ~", "inventory[1].hash is missing"},
      {"pruneDelete: true", "pruneDelete: maybe",
       "inventory[0].pruneDelete must be true or false"},
      {"corrections: 2", "corrections: -2",
       "inventory[1].corrections must be an integer"},
      {"id: service/api.prod.acme\n    type: service",
       "id: database/acme.prod\n    type: database",
       "inventory lists "
       "'database/acme.prod' "
       "twice"},
      {"id: database/acme.prod", "id: widget/acme.prod",
       "inventory[0].id 'widget/acme.prod' is not <type>/<key> with a type "
       "of network, database"},
      {"id: database/acme.prod", "id: database",
       "inventory[0].id 'database' is not <type>/<key>"},
      {"id: database/acme.prod", "id: database/",
       "inventory[0].id 'database/' is not <type>/<key>"},
      {"id: database/acme.prod", "id: /acme.prod",
       "inventory[0].id '/acme.prod' is not <type>/<key>"},
      {"id: database/acme.prod", "id: \"database/acme prod\"",
       "inventory[0].id 'database/acme prod': the key after '/' may hold "
       "only lowercase letters"},
      {"id: database/acme.prod", "id: database/acme/prod",
       "the key after '/' may hold only"},
      {"id: database/acme.prod", "id: database/ACME",
       "the key after '/' may hold only"},
      {"id: database/acme.prod", "id: \"database/acme\\nprod\"",
       "inventory[0].id holds the byte 0x0A at 13: an id is printable ASCII"},
      {"id: database/acme.prod", "id: \"database/acme\\x7Fprod\"",
       "inventory[0].id holds the byte 0x7F at 13"},
      {"id: database/acme.prod", "id: \"database/acm\\u00e9\"",
       "inventory[0].id holds the byte 0xC3 at 12"},
      {"    type: database\n", "    type: bucket\n",
       "inventory[0].type 'bucket' does not match the id "
       "'database/acme.prod'"},
      {"inventory:\n", "inventory:\n  - just a string\n",
       "inventory[0] must be a mapping, not a string"},
      {"    field: replicas\n", "", "stalled[0].field is missing"},
      {"  message: \"connection", "  mess: \"connection",
       "lastError.message is missing"},
      {"  line: 12", "  line: twelve", "lastError.line must be an integer"},
      {"  line: 12", "  line: 99999999999",
       "lastError.line must be an integer"},
      {"lastError:\n", "lastError: [1]\nignored:\n",
       "lastError must be a mapping"},
      {"tenant: acme", "tenant: \"a\\0b\"", "a NUL character"},
      {"tenant: acme\n", "tenant: acme\ntenant: again\n", "duplicate key"},
      {"tenant: acme", "tenant: [unclosed", "status:"},
  };

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *text = edit(cases[i].from, cases[i].to);
    struct tenant_status *st = (struct tenant_status *)1;
    int rc = tenant_status_parse(text, strlen(text), &st);

    ck_assert_msg(rc == -1, "case %zu accepted", i);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(td_error_last(), cases[i].error) != NULL,
                  "case %zu: '%s' lacks '%s'", i, td_error_last(),
                  cases[i].error);
    /* Messages say where: "status:<line>:<col>: ...". */
    ck_assert_msg(strncmp(td_error_last(), "status:", 7) == 0, "%s",
                  td_error_last());
    free(text);
  }
}
END_TEST

/* The longest id a status holds still makes a whole marker with the
 * longest tenant name; one byte more and the status is refused. */
START_TEST(inventory_id_length_is_bounded)
{
  char id[STATUS_ID_MAX + 2], tenant[64], marker[RESOURCE_MARKER_MAX];
  char mtenant[RESOURCE_MARKER_MAX], mid[RESOURCE_MARKER_MAX];
  struct tenant_status *st = tenant_status_new("acme"), *back;
  char *text;
  int rc;

  memset(tenant, 't', 63);
  tenant[63] = '\0';
  memcpy(id, "service/", 8);
  memset(id + 8, 'k', STATUS_ID_MAX - 8);
  id[STATUS_ID_MAX] = '\0';
  resource_marker(marker, tenant, id);
  ck_assert_int_eq(
      resource_marker_parse(marker, mtenant, sizeof(mtenant), mid, sizeof(mid)),
      0);
  ck_assert_str_eq(mid, id);
  ck_assert_str_eq(mtenant, tenant);

  tenant_status_inventory_put(st, id, "service", "local", "n", HASH_A);
  text = tenant_status_format(st);
  back = parse_ok(text);
  ck_assert_str_eq(back->inventory[0].id, id);
  tenant_status_free(back);
  free(text);
  tenant_status_free(st);

  st = tenant_status_new("acme");
  strcat(id, "k");
  tenant_status_inventory_put(st, id, "service", "local", "n", HASH_A);
  text = tenant_status_format(st);
  back = (struct tenant_status *)1;
  rc = tenant_status_parse(text, strlen(text), &back);
  ck_assert_int_eq(rc, -1);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(td_error_last(),
                               "inventory[0].id is 513 bytes long; the limit "
                               "is 512"));
  free(text);
  tenant_status_free(st);
}
END_TEST

START_TEST(parse_rejects_documents)
{
  static const struct {
    const char *text, *error;
  } cases[] = {
      {"", "a status must be a mapping, not null"},
      {"- a\n- b\n", "a status must be a mapping, not a list"},
      {"just text\n", "a status must be a mapping, not a string"},
      {"kind: TenantStatus\n---\nkind: TenantStatus\n", "more than one"},
      {"kind: Tenant\napiVersion: tenantd.io/v1\nname: acme\n",
       "kind is 'Tenant', expected TenantStatus"},
  };
  size_t big = (size_t)16 * 1024 * 1024 + 1;
  char *huge = td_malloc(big);
  struct tenant_status *st = NULL;

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    int rc = tenant_status_parse(cases[i].text, strlen(cases[i].text), &st);

    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(td_error_last(), cases[i].error) != NULL,
                  "'%s' lacks '%s'", td_error_last(), cases[i].error);
  }
  memset(huge, ' ', big);
  ck_assert_int_eq(tenant_status_parse(huge, big, &st), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "larger than"));
  ck_assert_ptr_null(st);
  free(huge);
}
END_TEST

static uint64_t rng_state;

/* xorshift64*: a fixed seed makes every run try the same inputs. */
static uint64_t rng(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

/*
 * Parses `len` bytes copied to a buffer of exactly that size, so reading
 * past the end is caught by ASan.  Anything accepted must format to text
 * that parses back and formats identically.
 */
static void try_parse(const char *data, size_t len)
{
  char *buf = td_malloc(len);
  struct tenant_status *st = NULL, *again = NULL;
  char *a, *b;
  int rc;

  memcpy(buf, data, len);
  rc = tenant_status_parse(buf, len, &st);
  free(buf);
  if (rc < 0) {
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(st);
    ck_assert_str_ne(td_error_last(), "");
    return;
  }
  a = tenant_status_format(st);
  ck_assert_int_eq(tenant_status_parse(a, strlen(a), &again), 0);
  b = tenant_status_format(again);
  ck_assert_str_eq(a, b);
  free(a);
  free(b);
  tenant_status_free(again);
  tenant_status_free(st);
}

/* Strings a status may hold: empty, typed-looking, quotes, escapes,
 * controls, non-ASCII, stray bytes. */
static const char *some_text(void)
{
  static const char *const texts[] = {"",
                                      "plain",
                                      "true",
                                      "0123",
                                      "a: b",
                                      "# x",
                                      "\"quoted\"",
                                      "back\\slash",
                                      "tab\there",
                                      "line\nbreak",
                                      "\x01",
                                      "caf\xc3\xa9",
                                      "\xe2\x80\xa8",
                                      "\xef\xbb\xbf",
                                      "\xff\xfe",
                                      "- dash",
                                      " lead",
                                      "trail ",
                                      "2026-11-23",
                                      "~",
                                      "{x}",
                                      "100%",
                                      "it's",
                                      "\xf0\x9f\x98\x80"};

  return texts[rng() % ARRAY_SIZE(texts)];
}

/*
 * The canonical layout is read without YAML; anything it takes must be
 * what the YAML reading takes.  The same text with a comment after it is
 * read as YAML: both readings must agree, on every random status.
 */
START_TEST(canonical_reading_agrees_with_yaml)
{
  rng_state = 0xfeedfacecafebeefULL;
  for (int i = 0; i < 600; i++) {
    struct tenant_status *st = tenant_status_new(i % 7 ? "acme" : "0123");
    struct tenant_status *fast = NULL, *slow = NULL;
    char *text, *commented;
    int rcf, rcs;

    st->source = rng() % 3 ? td_strdup(some_text()) : NULL;
    st->last_change = rng() % 2 ? td_strdup("2026-11-23T10:00:00Z") : NULL;
    /* The tier and its cost, as a status records them (or not). */
    if (rng() % 3) {
      st->tier = td_strdup(rng() % 4 ? "premium" : some_text());
      st->has_cost = rng() % 3 != 0;
      st->monthly_cost = (int64_t)(rng() % 100000);
    }
    for (int c = 0; c < STATUS_COND_COUNT; c++)
      tenant_status_set(st, (enum status_cond)c, rng() & 1, some_text(),
                        some_text(), some_text());
    for (int k = (int)(rng() % 4); k > 0; k--) {
      char id[64];

      snprintf(id, sizeof(id), "service/s%d.acme", (int)(rng() % 50));
      tenant_status_inventory_put(st, id, rng() % 9 ? "service" : "route",
                                  some_text(), some_text(),
                                  rng() % 9 ? HASH_A : "xyz");
    }
    for (int k = (int)(rng() % 3); k > 0; k--)
      tenant_status_stalled_add(st, rng() % 2 ? "service/a.b" : "route/c",
                                some_text(), some_text(), some_text());
    if (rng() % 2) {
      st->last_error.message = td_strdup(some_text());
      st->last_error.resource = rng() % 2 ? td_strdup(some_text()) : NULL;
      st->last_error.path = rng() % 2 ? td_strdup(some_text()) : NULL;
      st->last_error.line = (uint32_t)(rng() % 100);
    }
    text = tenant_status_format(st);
    commented = td_asprintf("%s# a comment\n", text);
    rcf = tenant_status_parse(text, strlen(text), &fast);
    rcs = tenant_status_parse(commented, strlen(commented), &slow);
    ck_assert_int_eq(rcf, rcs);
    if (rcf == 0)
      assert_status_eq(fast, slow);
    tenant_status_free(fast);
    tenant_status_free(slow);
    tenant_status_free(st);
    free(text);
    free(commented);
  }
}
END_TEST

START_TEST(garbage_never_crashes)
{
  static const char yamlish[] = "\n :-\"'#[]{}&*!|>%@`,?\\\t0aZ~.";
  size_t full = strlen(FULL_TEXT);
  char buf[4096];

  rng_state = 0x5eed5eed5eed5eedULL;
  /* Truncated prefixes of a valid document, at every length. */
  for (size_t n = 0; n <= full; n++)
    try_parse(FULL_TEXT, n);
  try_parse(EMPTY_TEXT, strlen(EMPTY_TEXT));

  /* Random bytes. */
  for (int i = 0; i < 2000; i++) {
    size_t n = rng() % 300;

    for (size_t k = 0; k < n; k++)
      buf[k] = i % 2 ? (char)rng() : yamlish[rng() % (sizeof(yamlish) - 1)];
    try_parse(buf, n);
  }

  /* A valid document with a few bytes changed, dropped or added. */
  for (int i = 0; i < 4000; i++) {
    size_t n = full;
    int edits = 1 + (int)(rng() % 4);

    memcpy(buf, FULL_TEXT, full);
    for (int e = 0; e < edits && n > 0; e++) {
      size_t at = rng() % n;
      char c = (char)(rng() % 4 ? yamlish[rng() % (sizeof(yamlish) - 1)]
                                : (char)rng());

      switch (rng() % 3) {
      case 0:
        buf[at] = c;
        break;
      case 1:
        memmove(buf + at, buf + at + 1, n - at - 1);
        n--;
        break;
      default:
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = c;
        n++;
        break;
      }
    }
    try_parse(buf, n);
  }
}
END_TEST

START_TEST(now_is_rfc3339_utc)
{
  char buf[32];
  unsigned y, mo, d, h, mi, s;
  char z = 0;

  status_now(buf);
  ck_assert_uint_eq(strlen(buf), 20);
  ck_assert_int_eq(
      sscanf(buf, "%4u-%2u-%2uT%2u:%2u:%2u%c", &y, &mo, &d, &h, &mi, &s, &z),
      7);
  ck_assert_int_eq(z, 'Z');
  ck_assert_uint_ge(y, 2024);
  ck_assert_str_eq(status_cond_names[STATUS_DRIFT_DETECTED], "DriftDetected");
}
END_TEST

START_TEST(stalled_list_stays_sorted_and_round_trips)
{
  struct tenant_status *st = tenant_status_new("acme");
  struct tenant_status *back = NULL;
  char *text, *again;

  tenant_status_stalled_add(st, "service/b", "replicas", "3", "1");
  tenant_status_stalled_add(st, "database/a", "connection_limit", "200", "7");
  tenant_status_stalled_add(st, "route/c", "hosts", "[\"x\"]", NULL);
  ck_assert_uint_eq(st->nstalled, 3);
  ck_assert_str_eq(st->stalled[0].id, "database/a");
  ck_assert_str_eq(st->stalled[1].id, "route/c");
  ck_assert_str_eq(st->stalled[2].id, "service/b");
  text = tenant_status_format(st);
  ck_assert_int_eq(tenant_status_parse(text, strlen(text), &back), 0);
  ck_assert_uint_eq(back->nstalled, 3);
  ck_assert_str_eq(back->stalled[0].desired, "200");
  ck_assert_str_eq(back->stalled[0].observed, "7");
  again = tenant_status_format(back);
  ck_assert_str_eq(text, again);
  tenant_status_stalled_clear(st);
  ck_assert_uint_eq(st->nstalled, 0);
  ck_assert_ptr_null(st->stalled);
  free(text);
  free(again);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

Suite *make_suite_status(void)
{
  Suite *s = suite_create("status");
  TCase *tc = tcase_create("status");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, format_full);
  tcase_add_test(tc, round_trip_full);
  tcase_add_test(tc, empty_status);
  tcase_add_test(tc, parse_minimal_and_unordered);
  tcase_add_test(tc, special_strings_round_trip);
  tcase_add_test(tc, special_strings_spelling);
  tcase_add_test(tc, invalid_utf8_is_replaced);
  tcase_add_test(tc, set_keeps_since_until_flip);
  tcase_add_test(tc, inventory_sorted_ops);
  tcase_add_test(tc, parse_rejects);
  tcase_add_test(tc, inventory_id_length_is_bounded);
  tcase_add_test(tc, parse_rejects_documents);
  tcase_add_test(tc, garbage_never_crashes);
  tcase_add_test(tc, canonical_reading_agrees_with_yaml);
  tcase_add_test(tc, now_is_rfc3339_utc);
  tcase_add_test(tc, stalled_list_stays_sorted_and_round_trips);
  suite_add_tcase(s, tc);
  return s;
}
