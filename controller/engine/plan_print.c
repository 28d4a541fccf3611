/*
 * plan_print.c - plans for people (text, Markdown for pull requests) and
 * for programs (JSON, in plan_print_json.c).  Deletions are loud in every
 * format.
 *
 * Markdown is built in memory first, as blocks (the manifest problems,
 * the guard's verdict, one block per tenant), so that it can be cut into
 * parts that fit a pull-request comment without splitting a tenant.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "engine/plan.h"
#include "engine/plan_print_internal.h"
#include "manifest/manifest.h"

/* The longest a repository URL or directory is shown: the header of every
 * part must stay far below PLAN_PART_MIN. */
#define SOURCE_SHOWN_MAX 200

/* The words that mark a secret, lowercase; matched anywhere in a name,
 * whatever its case. */
static const char *const sensitive_words[] = {
    "password", "passwd",  "secret",     "token",       "apikey",
    "api_key",  "api-key", "credential", "private_key", "privatekey",
};

static bool attr_sensitive(const char *attr)
{
  char low[128];
  size_t n = strlen(attr);

  /* Every attribute of every create passes here: lowercase once and
   * compare where a word can start, rather than strcasestr per word. */
  if (n >= sizeof(low)) {
    for (size_t i = 0; i < ARRAY_SIZE(sensitive_words); i++)
      if (strcasestr(attr, sensitive_words[i]))
        return true;
    return false;
  }
  for (size_t i = 0; i <= n; i++)
    low[i] = (char)(attr[i] >= 'A' && attr[i] <= 'Z' ? attr[i] - 'A' + 'a'
                                                     : attr[i]);
  for (size_t i = 0; i < n; i++) {
    if (!strchr("pstac", low[i]))
      continue;
    for (size_t k = 0; k < ARRAY_SIZE(sensitive_words); k++) {
      const char *w = sensitive_words[k];
      size_t wl = strlen(w);

      if (w[0] == low[i] && wl <= n - i && memcmp(low + i, w, wl) == 0)
        return true;
    }
  }
  return false;
}

/*
 * Every attribute of every create of a plan passes here, and plans name
 * a few dozen attributes: a small cache per thread answers nearly all of
 * them.  A name may sit in any of SENSITIVE_WAYS slots from its hash, so
 * two names that hash alike do not keep pushing each other out (with
 * one slot a name, a cold plan missed one lookup in five).
 */
#define SENSITIVE_CACHE 256
#define SENSITIVE_WAYS 4
#define SENSITIVE_CACHED_LEN 40

bool plan_attr_sensitive(const char *attr)
{
  static __thread struct {
    char name[SENSITIVE_CACHED_LEN];
    bool sensitive;
  } cache[SENSITIVE_CACHE];
  size_t n = strlen(attr), at = SENSITIVE_CACHE;
  uint32_t h = 2166136261u;
  bool answer;

  if (n >= SENSITIVE_CACHED_LEN || n == 0)
    return attr_sensitive(attr);
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)attr[i]) * 16777619u;
  for (size_t w = 0; w < SENSITIVE_WAYS; w++) {
    size_t k = (h + w) % SENSITIVE_CACHE;

    if (strcmp(cache[k].name, attr) == 0)
      return cache[k].sensitive;
    if (at == SENSITIVE_CACHE && !cache[k].name[0])
      at = k;
  }
  /* No free slot: the first one's name goes. */
  if (at == SENSITIVE_CACHE)
    at = h % SENSITIVE_CACHE;
  answer = attr_sensitive(attr);
  memcpy(cache[at].name, attr, n + 1);
  cache[at].sensitive = answer;
  return answer;
}

/* An attribute's value as a plan shows it; caller frees. */
static char *value_text(const char *attr, const json_t *v)
{
  if (v && plan_attr_sensitive(attr))
    return td_strdup("(sensitive)");
  return diff_value_text(v);
}

/* Whether an action is worth a line: a change, a problem, an adoption. */
bool plan__shown(const struct plan_action *a)
{
  return a->kind != PLAN_NOOP || a->adopted;
}

static bool tenant_shown(const struct tenant_plan *tp)
{
  int64_t delta;

  if (tp->held || plan_cost_changes(&tp->cost, &delta))
    return true;
  for (size_t k = 0; k < tp->n; k++)
    if (plan__shown(&tp->v[k]))
      return true;
  return false;
}

/* ---- costs ---- */

#define ARROW "\xe2\x86\x92" /* U+2192, a rightwards arrow */

/* "+250" or "-149": a change of cost, signed. */
#define SIGNED_MONEY_MAX (MANIFEST_MONEY_TEXT_MAX + 1)
static void signed_money(int64_t cents, char buf[SIGNED_MONEY_MAX])
{
  char mag[MANIFEST_MONEY_TEXT_MAX];

  manifest_money_text(cents, mag);
  snprintf(buf, SIGNED_MONEY_MAX, "%s%s", cents > 0 ? "+" : "", mag);
}

/*
 * "+250/month: standard → premium", "+149/month: new tenant, standard",
 * "-49/month: basic, tenant removed", "+149/month: standard, 149 → 298";
 * false (and "") when the plan does not change what the tenant costs.
 */
bool plan__cost_line(const struct plan_cost *c, char *buf, size_t cap)
{
  char change[SIGNED_MONEY_MAX], from[MANIFEST_MONEY_TEXT_MAX],
      to[MANIFEST_MONEY_TEXT_MAX];
  const char *ft = c->from_tier ? c->from_tier : "?";
  const char *tt = c->to_tier ? c->to_tier : "?";
  int64_t delta;

  *buf = '\0';
  if (!plan_cost_changes(c, &delta))
    return false;
  signed_money(delta, change);
  manifest_money_text(c->from, from);
  manifest_money_text(c->to, to);
  if (c->is_new)
    snprintf(buf, cap, "%s/month: new tenant, %s", change, tt);
  else if (c->removed)
    snprintf(buf, cap, "%s/month: %s, tenant removed", change, ft);
  else if (strcmp(ft, tt) != 0)
    snprintf(buf, cap, "%s/month: %s " ARROW " %s", change, ft, tt);
  else
    snprintf(buf, cap, "%s/month: %s, %s " ARROW " %s", change, tt, from, to);
  return true;
}

/* The change of cost over the plan's tenants. */
static int64_t cost_total(struct tenant_plan *const *plans, size_t n)
{
  int64_t sum = 0, delta;

  for (size_t i = 0; i < n; i++)
    if (plan_cost_changes(&plans[i]->cost, &delta))
      sum += delta;
  return sum;
}

/* ---- text ---- */

static const char *symbol(const struct plan_action *a)
{
  switch (a->kind) {
  case PLAN_CREATE:
    return "+";
  case PLAN_UPDATE:
    return "~";
  case PLAN_REPLACE:
    return "-/+";
  case PLAN_DELETE:
    return "-";
  case PLAN_ORPHAN:
    return "o";
  case PLAN_CONFLICT:
    return "!";
  case PLAN_STALLED:
    return "x";
  case PLAN_NOOP:
    return "=";
  case PLAN_KIND_COUNT:
    break;
  }
  return " ";
}

/* ---- text: written with unlocked stdio, a tenant at a time, since a
 * plan of ten thousand tenants is a million lines ---- */

static void put(FILE *out, const char *s)
{
  fputs_unlocked(s, out);
}

static void put_size(FILE *out, size_t v)
{
  char buf[24], *p = buf + sizeof(buf);

  *--p = '\0';
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(out, p);
}

/* A value as the text plan shows it: borrowed from v or written into
 * buf, or malloc'd into *owned (the caller frees it). */
static const char *value_str(const char *attr, const json_t *v, char *buf,
                             size_t cap, char **owned)
{
  *owned = NULL;
  if (!v)
    return "(none)";
  if (plan_attr_sensitive(attr))
    return "(sensitive)";
  switch (json_typeof(v)) {
  case JSON_NULL:
    return "(known after apply)";
  case JSON_STRING:
    return json_string_value(v);
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  case JSON_INTEGER: {
    json_int_t i = json_integer_value(v);
    unsigned long long u =
        i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    char *p = buf + cap;

    *--p = '\0';
    do {
      *--p = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (i < 0)
      *--p = '-';
    return p;
  }
  case JSON_REAL:
  case JSON_ARRAY:
  case JSON_OBJECT:
    break;
  }
  *owned = diff_value_text(v);
  return *owned ? *owned : "(null)";
}

static void summary(const struct tenant_plan *tp, FILE *out)
{
  static const struct {
    enum plan_kind kind;
    const char *head, *tail;
    bool always;
  } parts[] = {
      {PLAN_CREATE, "", " to create", true},
      {PLAN_UPDATE, ", ", " to update", true},
      {PLAN_REPLACE, ", ", " to replace", true},
      {PLAN_DELETE, ", ", " to delete", true},
      {PLAN_ORPHAN, ", ", " to orphan", false},
      {PLAN_CONFLICT, ", ", " in conflict", false},
      {PLAN_STALLED, ", ", " stalled", false},
  };

  for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
    if (!parts[i].always && !tp->count[parts[i].kind])
      continue;
    put(out, parts[i].head);
    put_size(out, tp->count[parts[i].kind]);
    put(out, parts[i].tail);
  }
  if (tp->drifted) {
    put(out, " (");
    put_size(out, tp->drifted);
    put(out, " drifted)");
  }
}

static const char adopt_note[] =
    "adopt: created under tenantd's marker by a pass that stopped before "
    "writing its status; applying records it";

static void field_line(const struct plan_action *a, const struct diff_field *d,
                       FILE *out)
{
  char tobuf[32], frombuf[32];
  char *to_owned, *from_owned = NULL;
  const char *to =
      value_str(d->attr, d->desired, tobuf, sizeof(tobuf), &to_owned);

  if (a->kind == PLAN_CREATE) {
    char line[512];
    size_t al = strlen(d->attr), tl = strlen(to);

    /* A million of these in a large first plan: one write each. */
    if (10 + al + 2 + tl + 1 <= sizeof(line)) {
      memcpy(line, "        + ", 10);
      memcpy(line + 10, d->attr, al);
      memcpy(line + 10 + al, ": ", 2);
      memcpy(line + 12 + al, to, tl);
      line[12 + al + tl] = '\n';
      fwrite_unlocked(line, 1, 13 + al + tl, out);
      free(to_owned);
      return;
    }
    put(out, "        + ");
    put(out, d->attr);
    put(out, ": ");
    put(out, to);
  } else {
    put(out, "        ~ ");
    put(out, d->attr);
    put(out, ": ");
    put(out,
        value_str(d->attr, d->observed, frombuf, sizeof(frombuf), &from_owned));
    put(out, " -> ");
    put(out, to);
    if (d->immutable)
      put(out, " (forces replace)");
  }
  fputc_unlocked('\n', out);
  free(to_owned);
  free(from_owned);
}

static void action_lines(const struct plan_action *a, FILE *out)
{
  const char *sym = symbol(a);

  put(out, "  ");
  put(out, sym);
  /* "%-3s " */
  for (size_t pad = strlen(sym); pad < 4; pad++)
    fputc_unlocked(' ', out);
  put(out, a->res->id);
  if (a->kind == PLAN_DELETE)
    put(out, "   <-- DELETE");
  if (a->kind == PLAN_REPLACE)
    put(out, "   <-- REPLACE (delete, then create)");
  if (a->drift)
    put(out, "   (drift)");
  if (a->held)
    put(out, "   (held)");
  if (a->needs_approval)
    put(out, "   (needs approval)");
  fputc_unlocked('\n', out);
  for (size_t f = 0; f < a->diff.n; f++)
    field_line(a, &a->diff.v[f], out);
  if (a->adopted) {
    put(out, "        ");
    put(out, adopt_note);
    fputc_unlocked('\n', out);
  }
  if (a->note) {
    put(out, "        ");
    put(out, a->note);
    fputc_unlocked('\n', out);
  }
}

void plan_print_text_head(const struct plan_report *rep, FILE *out)
{
  if (rep->diags && rep->diags->n) {
    fputs("manifest problems:\n", out);
    for (size_t i = 0; i < rep->diags->n; i++) {
      const struct diag *g = &rep->diags->v[i];

      fprintf(out, "  %s:%u:%u: %s\n", g->path, g->line, g->col, g->msg);
    }
    fputc('\n', out);
  }
  if (rep->signature)
    fprintf(out, "head commit: %s\n\n", rep->signature);
  if (rep->refusal)
    fprintf(out, "%s\n\n", rep->refusal);
  else if (rep->deletes)
    fprintf(out,
            "deletes %zu of %zu managed resources: within maxDeletePercent "
            "(%d%%) or allowed\n\n",
            rep->deletes, rep->managed, rep->max_percent);
}

size_t plan_print_text_tenant(const struct tenant_plan *tp,
                              struct plan_text_sums *sums, FILE *out)
{
  char line[256];
  size_t lines = 0;
  int64_t delta;

  if (plan_cost_changes(&tp->cost, &delta))
    sums->cost += delta;
  sums->awaiting += tp->awaiting;

  flockfile(out);
  put(out, "tenant ");
  put(out, tp->tenant);
  put(out, ": ");
  if (tp->held) {
    put(out, "held, nothing changes: ");
    put(out, tp->held_reason);
    put(out, "\n\n");
    funlockfile(out);
    return tenant_plan_changes(tp);
  }
  if (tp->suspended)
    put(out, "suspended (observed only): ");
  summary(tp, out);
  fputc_unlocked('\n', out);
  if (plan__cost_line(&tp->cost, line, sizeof(line))) {
    put(out, "  cost ");
    put(out, line);
    fputc_unlocked('\n', out);
  }
  for (size_t k = 0; k < tp->n; k++) {
    if (!plan__shown(&tp->v[k]))
      continue;
    action_lines(&tp->v[k], out);
    lines++;
  }
  if (!lines)
    put(out, "  no changes\n");
  fputc_unlocked('\n', out);
  funlockfile(out);
  return tenant_plan_changes(tp);
}

void plan_print_text_foot(const struct plan_report *rep, size_t changes,
                          const struct plan_text_sums *sums, FILE *out)
{
  char money[SIGNED_MONEY_MAX];
  int64_t cost = sums->cost;

  fprintf(out, "%zu change%s pending\n", changes, changes == 1 ? "" : "s");
  if (sums->awaiting)
    fprintf(out, "%zu need%s approval by one of: %s\n", sums->awaiting,
            sums->awaiting == 1 ? "s" : "",
            rep->approvers && *rep->approvers ? rep->approvers
                                              : "(no approver key)");
  signed_money(cost, money);
  if (cost)
    fprintf(out, "monthly cost %s %s\n", money,
            rep->currency ? rep->currency : "");
}

static void print_text(struct tenant_plan *const *plans, size_t n,
                       const struct plan_report *rep, FILE *out)
{
  size_t changes = 0;
  struct plan_text_sums sums = {0};

  plan_print_text_head(rep, out);
  for (size_t i = 0; i < n; i++)
    changes += plan_print_text_tenant(plans[i], &sums, out);
  plan_print_text_foot(rep, changes, &sums, out);
}

/* ---- totals, for the Markdown header and JSON ---- */

void plan__add_up(struct tenant_plan *const *plans, size_t n, struct totals *t)
{
  memset(t, 0, sizeof(*t));
  t->tenants = n;
  t->cost_change = cost_total(plans, n);
  for (size_t i = 0; i < n; i++) {
    const struct tenant_plan *tp = plans[i];
    size_t changes = tenant_plan_changes(tp);

    t->shown += tenant_shown(tp);
    t->changing += changes > 0;
    t->held += tp->held;
    t->changes += changes;
    t->drifted += tp->drifted;
    t->awaiting += tp->awaiting;
    for (int k = 0; k < PLAN_KIND_COUNT; k++)
      t->count[k] += tp->count[k];
    for (size_t k = 0; k < tp->n; k++)
      t->adopted += tp->v[k].adopted;
  }
}

/* ---- Markdown: text building ---- */

/* A growing string. */
struct sb {
  char *p;
  size_t n, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = td_realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_printf(struct sb *b, const char *fmt, ...) TD_PRINTF(2, 3);

static void sb_printf(struct sb *b, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int n;

  va_start(ap, fmt);
  n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    abort();
  sb_add(b, s, (size_t)n);
  free(s);
}

/* Hands the text over (never NULL) and empties the builder. */
static char *sb_take(struct sb *b)
{
  char *p = b->p ? b->p : td_strdup("");

  memset(b, 0, sizeof(*b));
  return p;
}

/* Text inside a code block: one line stays one line, whatever it holds. */
static void sb_code(struct sb *b, const char *s)
{
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;

    if (c < 0x20 || c == 0x7f)
      sb_printf(b, "\\x%02X", c);
    else
      sb_add(b, s, 1);
  }
}

/* Text outside code: markup and HTML in it are shown, not interpreted. */
static void sb_inline(struct sb *b, const char *s, size_t max)
{
  size_t n = 0;

  for (; *s && n < max; s++, n++) {
    unsigned char c = (unsigned char)*s;

    if (c < 0x20 || c == 0x7f)
      sb_add(b, " ", 1);
    else if (c == '<')
      sb_add(b, "&lt;", 4);
    else if (c == '>')
      sb_add(b, "&gt;", 4);
    else if (c == '&')
      sb_add(b, "&amp;", 5);
    else if (strchr("\\`*_[]|#~", c))
      sb_printf(b, "\\%c", c);
    else
      sb_add(b, s, 1);
  }
  if (*s)
    sb_add(b, "...", 3);
}

/* ---- Markdown: blocks ---- */

/* A piece of the document that is never split across parts, only cut
 * (at a line of `lines`) when it alone is longer than a part. */
struct md_block {
  char *head;   /* owned */
  char **lines; /* owned, each ending in a newline */
  size_t n;
  char *tail;  /* owned */
  bool code;   /* the lines are in a code block */
  size_t size; /* bytes of head, lines and tail */
};

struct md_doc {
  struct md_block *v;
  size_t n;
};

static struct md_block *block_new(struct md_doc *d)
{
  struct md_block *b;

  d->v = td_realloc(d->v, (d->n + 1) * sizeof(*d->v));
  b = &d->v[d->n++];
  memset(b, 0, sizeof(*b));
  return b;
}

/* Adds the builder's text as a line (ending it) and empties it. */
static void block_line(struct md_block *b, struct sb *line)
{
  sb_add(line, "\n", 1);
  b->lines = td_realloc(b->lines, (b->n + 1) * sizeof(*b->lines));
  b->lines[b->n++] = sb_take(line);
}

static void block_close(struct md_block *b, char *head, char *tail)
{
  b->head = head;
  b->tail = tail;
  b->size = strlen(head) + strlen(tail);
  for (size_t i = 0; i < b->n; i++)
    b->size += strlen(b->lines[i]);
}

static void doc_release(struct md_doc *d)
{
  for (size_t i = 0; i < d->n; i++) {
    for (size_t k = 0; k < d->v[i].n; k++)
      free(d->v[i].lines[k]);
    free(d->v[i].lines);
    free(d->v[i].head);
    free(d->v[i].tail);
  }
  free(d->v);
}

static void diags_block(struct md_doc *d, const struct diag_list *g)
{
  struct md_block *b;
  struct sb line = {0};

  if (!g || !g->n)
    return;
  b = block_new(d);
  for (size_t i = 0; i < g->n; i++) {
    sb_printf(&line, "- `");
    sb_code(&line, g->v[i].path);
    sb_printf(&line, ":%u:%u`: ", g->v[i].line, g->v[i].col);
    sb_inline(&line, g->v[i].msg, 1024);
    block_line(b, &line);
  }
  block_close(b, td_strdup("### Manifest problems\n\n"), td_strdup("\n"));
}

static void verdict_block(struct md_doc *d, const struct plan_report *rep)
{
  struct md_block *b;
  struct sb line = {0};

  if (!rep->refusal && !rep->deletes)
    return;
  b = block_new(d);
  if (rep->refusal) {
    sb_add(&line, "> **", 4);
    sb_inline(&line, rep->refusal, 1024);
    sb_add(&line, "**", 2);
  } else {
    sb_printf(&line,
              "> Deletes %zu of %zu managed resources: within "
              "maxDeletePercent (%d%%) or allowed.",
              rep->deletes, rep->managed, rep->max_percent);
  }
  block_line(b, &line);
  block_close(b, td_strdup(""), td_strdup("\n"));
}

/* "11 to create, **2 to delete**": what is not zero; bold in HTML too. */
static void md_counts(struct sb *b, const struct tenant_plan *tp, bool html)
{
  static const struct {
    enum plan_kind kind;
    const char *what;
  } parts[] = {
      {PLAN_CREATE, "to create"},   {PLAN_UPDATE, "to update"},
      {PLAN_REPLACE, "to replace"}, {PLAN_DELETE, "to delete"},
      {PLAN_ORPHAN, "to orphan"},   {PLAN_CONFLICT, "in conflict"},
      {PLAN_STALLED, "stalled"},
  };
  const char *on = html ? "<b>" : "**", *off = html ? "</b>" : "**";
  bool first = true;

  if (tp->suspended)
    sb_printf(b, "suspended, observed only: ");
  for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
    size_t c = tp->count[parts[i].kind];
    bool loud = parts[i].kind == PLAN_DELETE || parts[i].kind == PLAN_REPLACE;

    if (!c)
      continue;
    sb_printf(b, "%s%s%zu %s%s", first ? "" : ", ", loud ? on : "", c,
              parts[i].what, loud ? off : "");
    first = false;
  }
  if (first)
    sb_printf(b, "nothing to change");
  if (tp->drifted)
    sb_printf(b, " (%zu drifted)", tp->drifted);
}

/* The resource's own line(s) in a diff block. */
static void md_action_head(struct md_block *b, const struct plan_action *a)
{
  static const char *const word[PLAN_KIND_COUNT] = {
      [PLAN_NOOP] = "adopt",        [PLAN_CREATE] = "create",
      [PLAN_UPDATE] = "update",     [PLAN_REPLACE] = "replace",
      [PLAN_DELETE] = "delete",     [PLAN_ORPHAN] = "orphan",
      [PLAN_CONFLICT] = "conflict", [PLAN_STALLED] = "stalled",
  };
  static const char sign[PLAN_KIND_COUNT] = {
      [PLAN_NOOP] = ' ',     [PLAN_CREATE] = '+',  [PLAN_UPDATE] = '!',
      [PLAN_REPLACE] = '-',  [PLAN_DELETE] = '-',  [PLAN_ORPHAN] = '!',
      [PLAN_CONFLICT] = '!', [PLAN_STALLED] = '!',
  };
  struct sb line = {0};

  sb_printf(&line, "%c %-8s ", sign[a->kind], word[a->kind]);
  sb_code(&line, a->res->id);
  if (a->kind == PLAN_DELETE)
    sb_printf(&line, "   <-- DELETE");
  if (a->kind == PLAN_REPLACE)
    sb_printf(&line, "   <-- REPLACE (delete, then create)");
  if (a->drift)
    sb_printf(&line, "   (drift)");
  if (a->held)
    sb_printf(&line, "   (held)");
  if (a->needs_approval)
    sb_printf(&line, "   (needs approval)");
  block_line(b, &line);
  if (a->kind == PLAN_REPLACE) {
    sb_printf(&line, "+ %-8s ", word[a->kind]);
    sb_code(&line, a->res->id);
    block_line(b, &line);
  }
}

/* An action in a diff block: its line, its attributes, its notes. */
static void md_action(struct md_block *b, const struct plan_action *a)
{
  struct sb line = {0};

  md_action_head(b, a);
  for (size_t f = 0; f < a->diff.n; f++) {
    const struct diff_field *d = &a->diff.v[f];
    char *to = value_text(d->attr, d->desired);

    if (a->kind != PLAN_CREATE) {
      char *from = value_text(d->attr, d->observed);

      sb_printf(&line, "-     %s: ", d->attr);
      sb_code(&line, from);
      block_line(b, &line);
      free(from);
    }
    sb_printf(&line, "+     %s: ", d->attr);
    sb_code(&line, to);
    if (d->immutable)
      sb_printf(&line, "   (forces replace)");
    block_line(b, &line);
    free(to);
  }
  if (a->adopted) {
    sb_printf(&line, "          %s", adopt_note);
    block_line(b, &line);
  }
  if (a->note) {
    sb_printf(&line, "          ");
    sb_code(&line, a->note);
    block_line(b, &line);
  }
}

static void tenant_block(struct md_doc *d, const struct tenant_plan *tp)
{
  struct md_block *b = block_new(d);
  struct sb head = {0}, line = {0};
  char cost[256];

  if (tp->held) {
    sb_printf(&head, "### %s: held, nothing changes\n\n", tp->tenant);
    sb_inline(&line, tp->held_reason, 1024);
    block_line(b, &line);
    block_close(b, sb_take(&head), td_strdup("\n"));
    return;
  }
  b->code = true;
  for (size_t k = 0; k < tp->n; k++)
    if (plan__shown(&tp->v[k]))
      md_action(b, &tp->v[k]);
  plan__cost_line(&tp->cost, cost, sizeof(cost));
  if (b->n > PLAN_FOLD_LINES) {
    sb_printf(&head, "<details>\n<summary><b>%s</b>: ", tp->tenant);
    md_counts(&head, tp, true);
    if (*cost)
      sb_printf(&head, "; <b>%s</b>", cost);
    sb_printf(&head, "</summary>\n\n```diff\n");
    block_close(b, sb_take(&head), td_strdup("```\n\n</details>\n\n"));
    return;
  }
  sb_printf(&head, "### %s: ", tp->tenant);
  md_counts(&head, tp, false);
  if (*cost)
    sb_printf(&head, "; **%s**", cost);
  sb_printf(&head, "\n\n```diff\n");
  block_close(b, sb_take(&head), td_strdup("```\n\n"));
}

/* ---- Markdown: the header every part repeats ---- */

/* A URL without what must stay private: user and password, query,
 * fragment.  Caller frees. */
char *plan__url_shown(const char *url)
{
  const char *scheme = strstr(url, "://");
  const char *host = scheme ? scheme + 3 : url;
  const char *at = memchr(host, '@', strcspn(host, "/?#"));
  struct sb b = {0};

  if (scheme)
    sb_add(&b, url, (size_t)(host - url));
  if (scheme && at)
    host = at + 1;
  sb_add(&b, host, strcspn(host, "?#"));
  return sb_take(&b);
}

/* Inline code; a commit id is cut to 12 characters. */
static void sb_code_span(struct sb *b, const char *s, size_t max)
{
  char *text = td_strndup(s, strnlen(s, max));

  for (char *p = text; *p; p++)
    if (*p == '`')
      *p = '\'';
  sb_add(b, "`", 1);
  sb_code(b, text);
  sb_add(b, "`", 1);
  free(text);
}

static void md_source(struct sb *b, const struct plan_report *rep)
{
  const char *base = rep->base, *head = rep->head;

  if (rep->repository && strlen(rep->repository) <= SOURCE_SHOWN_MAX) {
    char *url = plan__url_shown(rep->repository);

    sb_printf(b, "Repository ");
    sb_code_span(b, url, SOURCE_SHOWN_MAX);
    free(url);
  } else if (rep->directory && strlen(rep->directory) <= SOURCE_SHOWN_MAX) {
    sb_printf(b, "Directory ");
    sb_code_span(b, rep->directory, SOURCE_SHOWN_MAX);
  }
  if (base && *base && head && *head) {
    sb_printf(b, "%s", b->n ? ", " : "Commits ");
    sb_code_span(b, base, 12);
    sb_printf(b, "..");
    sb_code_span(b, head, 12);
  } else if (head && *head) {
    sb_printf(b, "%s", b->n ? " at " : "Commit ");
    sb_code_span(b, head, 12);
  }
  if (b->n)
    sb_printf(b, "\n\n");
}

/* "Also: 1 tenant held, 2 in conflict.": what the table has no column
 * for, when there is any. */
static void md_also(struct sb *b, const struct totals *t)
{
  const struct {
    size_t n;
    const char *one, *many;
  } items[] = {
      {t->held, "tenant held", "tenants held"},
      {t->count[PLAN_CONFLICT], "in conflict", "in conflict"},
      {t->count[PLAN_STALLED], "stalled", "stalled"},
      {t->count[PLAN_ORPHAN], "to orphan", "to orphan"},
      {t->adopted, "to adopt", "to adopt"},
  };
  size_t start = b->n;

  for (size_t i = 0; i < ARRAY_SIZE(items); i++)
    if (items[i].n)
      sb_printf(b, "%s%zu %s", b->n > start ? ", " : "Also: ", items[i].n,
                items[i].n == 1 ? items[i].one : items[i].many);
  if (b->n > start)
    sb_printf(b, ".\n\n");
}

/* Whether the head is signed and by whom, and who may approve what
 * waits. */
static void md_trust(struct sb *b, const struct plan_report *rep,
                     const struct totals *t)
{
  if (rep->signature) {
    sb_printf(b, "Head commit: ");
    sb_inline(b, rep->signature, 300);
    sb_printf(b, ".\n\n");
  }
  if (t->awaiting) {
    sb_printf(b,
              "**%zu change%s need%s approval** (gated environments) "
              "by one of: ",
              t->awaiting, t->awaiting == 1 ? "" : "s",
              t->awaiting == 1 ? "s" : "");
    sb_inline(b,
              rep->approvers && *rep->approvers ? rep->approvers
                                                : "(no approver key)",
              600);
    sb_printf(b, ".\n\n");
  }
}

/* Source, totals and the unchanged tenants: the same in every part. */
static char *md_common(const struct plan_report *rep, const struct totals *t)
{
  struct sb b = {0};

  md_source(&b, rep);
  md_trust(&b, rep, t);
  sb_printf(&b,
            "| Tenants | With changes | Create | Update | Replace | Delete "
            "| Drift |\n"
            "|---:|---:|---:|---:|---:|---:|---:|\n"
            "| %zu | %zu | %zu | %zu | %zu | %s%zu%s | %zu |\n\n",
            t->tenants, t->changing, t->count[PLAN_CREATE],
            t->count[PLAN_UPDATE], t->count[PLAN_REPLACE],
            t->count[PLAN_DELETE] ? "**" : "", t->count[PLAN_DELETE],
            t->count[PLAN_DELETE] ? "**" : "", t->drifted);
  md_also(&b, t);
  if (t->cost_change) {
    char money[SIGNED_MONEY_MAX];

    signed_money(t->cost_change, money);
    sb_printf(&b, "Monthly cost: **%s%s%s**.\n\n", money,
              rep->currency ? " " : "", rep->currency ? rep->currency : "");
  }
  if (t->tenants > t->shown)
    sb_printf(&b, "%zu tenant%s without changes %s not listed.\n\n",
              t->tenants - t->shown, t->tenants - t->shown == 1 ? "" : "s",
              t->tenants - t->shown == 1 ? "is" : "are");
  return sb_take(&b);
}

static char *md_header(const char *common, size_t k, size_t n)
{
  struct sb b = {0};

  if (n > 1)
    sb_printf(&b,
              "<!-- tenantd plan part %zu/%zu -->\n"
              "## tenantd plan (part %zu of %zu)\n\n",
              k, n, k, n);
  else
    sb_printf(&b, "## tenantd plan\n\n");
  sb_add(&b, common, strlen(common));
  return sb_take(&b);
}

/* ---- Markdown: parts ---- */

/* Where a block goes: its part, and how many of its lines fit. */
struct md_place {
  size_t part, keep;
};

static char *cut_note(const struct md_block *b, size_t keep)
{
  return td_asprintf("%s... %zu more lines not shown: this section alone "
                     "is longer than a part (%zu bytes); tenantd plan "
                     "--format text shows them\n",
                     b->code ? "  " : "", b->n - keep, b->size);
}

/* The lines of b that fit `budget` with its head, tail and a note. */
static size_t cut(const struct md_block *b, size_t budget)
{
  char *note = cut_note(b, 0);
  size_t used = strlen(b->head) + strlen(b->tail) + strlen(note) + 8;
  size_t keep = 0;

  free(note);
  while (keep < b->n && used + strlen(b->lines[keep]) <= budget)
    used += strlen(b->lines[keep++]);
  return keep;
}

/* Fills `at` for every block; returns the number of parts. */
static size_t place(const struct md_doc *d, size_t budget, struct md_place *at)
{
  size_t part = 0, used = 0;

  for (size_t i = 0; i < d->n; i++) {
    size_t size = d->v[i].size;

    if (used > 0 && used + size > budget) {
      part++;
      used = 0;
    }
    at[i].part = part;
    at[i].keep = d->v[i].n;
    if (size > budget) {
      at[i].keep = cut(&d->v[i], budget);
      size = budget;
    }
    used += size;
  }
  return part + 1;
}

static void write_block(const struct md_block *b, size_t keep, FILE *out)
{
  fputs(b->head, out);
  for (size_t k = 0; k < keep; k++)
    fputs(b->lines[k], out);
  if (keep < b->n) {
    char *note = cut_note(b, keep);

    fputs(note, out);
    free(note);
  }
  fputs(b->tail, out);
}

static void print_markdown(struct tenant_plan *const *plans, size_t n,
                           const struct plan_report *rep, size_t max, FILE *out)
{
  struct md_doc d = {0};
  struct md_place *at;
  struct totals t;
  char *common, *footer, *widest;
  size_t budget, nparts;

  plan__add_up(plans, n, &t);
  diags_block(&d, rep->diags);
  verdict_block(&d, rep);
  for (size_t i = 0; i < n; i++)
    if (tenant_shown(plans[i]))
      tenant_block(&d, plans[i]);
  common = md_common(rep, &t);
  footer = td_asprintf("%zu change%s pending.\n", t.changes,
                       t.changes == 1 ? "" : "s");
  /* No part has more parts than blocks: number the widest header so. */
  widest = md_header(common, d.n ? d.n : 1, d.n ? d.n : 1);
  budget = max - strlen(widest) - strlen(footer) - 32;
  at = td_calloc(d.n ? d.n : 1, sizeof(*at));
  nparts = place(&d, budget, at);
  for (size_t k = 0, i = 0; k < nparts; k++) {
    char *header = md_header(common, k + 1, nparts);

    fputs(header, out);
    free(header);
    for (; i < d.n && at[i].part == k; i++)
      write_block(&d.v[i], at[i].keep, out);
    if (k + 1 == nparts)
      fputs(footer, out);
  }
  free(at);
  free(widest);
  free(footer);
  free(common);
  doc_release(&d);
}

void plan_print(struct tenant_plan *const *plans, size_t n,
                const struct plan_print_opts *po, const struct plan_report *rep,
                FILE *out)
{
  size_t max = po->max_bytes ? po->max_bytes : PLAN_PART_MAX_DEFAULT;

  assert(po->version == PLAN_PRINT_OPTS_VERSION);
  if (max < PLAN_PART_MIN)
    max = PLAN_PART_MIN;
  if (po->format == PLAN_JSON)
    plan__print_json(plans, n, rep, out);
  else if (po->format == PLAN_MARKDOWN)
    print_markdown(plans, n, rep, max, out);
  else
    print_text(plans, n, rep, out);
}
