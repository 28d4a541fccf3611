/*
 * auth.c - see auth.h.
 */
#include "base/compat.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "manifest/yamltree.h"
#include "server/auth.h"

#define TOKENS_FILE_MAX (1024 * 1024)

bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

  SHA256((const unsigned char *)a, alen, ha);
  SHA256((const unsigned char *)b, blen, hb);
  return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

/* The token of "Bearer <token>", or NULL.  The scheme is
 * case-insensitive (RFC 9110), spaces after it are not part of the
 * token. */
static const char *bearer(const char *header)
{
  if (!header || strncasecmp(header, "Bearer ", 7) != 0)
    return NULL;
  header += 7;
  return header + strspn(header, " ");
}

bool auth_bearer_ok(const char *header, const char *token)
{
  header = bearer(header);
  if (!header || !token)
    return false;
  return auth_secret_equal(header, strlen(header), token, strlen(token));
}

const char *auth_role_name(enum auth_role r)
{
  static const char *const names[] = {"none", "read", "operate", "write"};

  return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "none";
}

/* ---- the tokens file ---- */

static bool name_ok(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > AUTH_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr(" .-_@", c)))
      return false;
  }
  return true;
}

/* An address git can carry between < and >. */
static bool email_ok(const char *s)
{
  size_t n = strlen(s);

  if (n < 3 || n > 254 || !strchr(s, '@'))
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || strchr("<>", s[i]))
      return false;
  return true;
}

static bool digest_parse(const char *hex, unsigned char out[AUTH_DIGEST_LEN])
{
  size_t len = 0;

  return strlen(hex) == 2 * AUTH_DIGEST_LEN &&
         OPENSSL_hexstr2buf_ex(out, AUTH_DIGEST_LEN, &len, hex, '\0') == 1 &&
         len == AUTH_DIGEST_LEN;
}

static bool is_str(const struct ynode *n)
{
  return n && n->type == YNODE_SCALAR && n->scalar == YS_STR;
}

static void append(struct auth_tokens *t, const struct auth_token *tok)
{
  t->v = td_realloc(t->v, (t->n + 1) * sizeof(*t->v));
  t->v[t->n++] = *tok;
}

static enum auth_role role_parse(const char *s)
{
  for (int r = AUTH_ROLE_READ; r <= AUTH_ROLE_WRITE; r++)
    if (strcmp(s, auth_role_name((enum auth_role)r)) == 0)
      return (enum auth_role)r;
  return AUTH_ROLE_NONE;
}

/* The keys of one entry, each checked; false when any is wrong. */
static bool entry_fields(const char *path, const struct ynode *e,
                         struct auth_token *tok, struct diag_list *d)
{
  static const char *const keys[] = {"name", "role", "sha256", "email", NULL};
  const struct ynode *name = ymap_get(e, "name"), *role = ymap_get(e, "role");
  const struct ynode *sum = ymap_get(e, "sha256"), *mail = ymap_get(e, "email");
  size_t before = d->n;

  for (uint32_t i = 0; i < e->u.coll.n; i++) {
    const struct ynode *k = ymap_key(e, i);
    size_t j = 0;

    while (keys[j] && strcmp(keys[j], k->u.scalar.s) != 0)
      j++;
    if (!keys[j])
      diag_add(d, path, k->line, k->col,
               "unknown key '%.64s' (expected: name, role, sha256, email)",
               k->u.scalar.s);
  }
  if (!is_str(name) || !name_ok(name->u.scalar.s))
    diag_add(d, path, name ? name->line : e->line, name ? name->col : e->col,
             "'name' must be 1 to %d letters, digits, spaces or .-_@",
             AUTH_NAME_MAX);
  if (!is_str(role) || role_parse(role->u.scalar.s) == AUTH_ROLE_NONE)
    diag_add(d, path, role ? role->line : e->line, role ? role->col : e->col,
             "'role' must be read, operate or write");
  if (!is_str(sum) || !digest_parse(sum->u.scalar.s, tok->digest))
    diag_add(d, path, sum ? sum->line : e->line, sum ? sum->col : e->col,
             "'sha256' must be the token's SHA-256 in 64 hex digits "
             "(sha256sum), never the token");
  if (mail && (!is_str(mail) || !email_ok(mail->u.scalar.s)))
    diag_add(d, path, mail->line, mail->col,
             "'email' must be an address like ops@example.com");
  if (d->n > before)
    return false;
  tok->name = td_strdup(name->u.scalar.s);
  tok->email = mail ? td_strdup(mail->u.scalar.s) : NULL;
  tok->role = role_parse(role->u.scalar.s);
  return true;
}

static void entry(struct auth_tokens *t, const char *path,
                  const struct ynode *e, struct diag_list *d)
{
  struct auth_token tok = {0};

  if (e->type != YNODE_MAP) {
    diag_add(d, path, e->line, e->col,
             "each token is a mapping {name, role, sha256}, not %s",
             ynode_kind_name(e));
    return;
  }
  if (!entry_fields(path, e, &tok, d))
    return;
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->v[i].name, tok.name) == 0 ||
        CRYPTO_memcmp(t->v[i].digest, tok.digest, AUTH_DIGEST_LEN) == 0) {
      diag_add(d, path, e->line, e->col, "%s of token '%s' is given twice",
               strcmp(t->v[i].name, tok.name) == 0 ? "the name" : "the digest",
               tok.name);
      free(tok.name);
      free(tok.email);
      return;
    }
  }
  append(t, &tok);
}

int auth_tokens_parse(struct auth_tokens *t, const char *path, const char *text,
                      size_t len, struct diag_list *d)
{
  struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct arena a = ARENA_INIT;
  struct ynode *root;
  size_t before = d->n;

  lim.max_bytes = TOKENS_FILE_MAX;
  if (yaml_parse(&a, &lim, path, text, len, &root, d) < 0)
    goto out;
  if (root->type == YNODE_SCALAR && root->scalar == YS_NULL)
    goto out; /* no token: an empty file is a valid one */
  if (root->type != YNODE_SEQ) {
    diag_add(d, path, root->line, root->col,
             "a tokens file is a list of {name, role, sha256}, not %s",
             ynode_kind_name(root));
    goto out;
  }
  if (root->u.coll.n > AUTH_TOKENS_MAX) {
    diag_add(d, path, root->line, root->col, "more than %d tokens",
             AUTH_TOKENS_MAX);
    goto out;
  }
  for (uint32_t i = 0; i < root->u.coll.n; i++)
    entry(t, path, root->u.coll.v[i], d);
out:
  arena_release(&a);
  return d->n > before ? -1 : 0;
}

int auth_tokens_load(struct auth_tokens *t, const char *path,
                     struct diag_list *d)
{
  char *text = NULL;
  size_t len = 0;
  int rc = fs_read_capped(path, TOKENS_FILE_MAX + 1, &text, &len);

  if (rc < 0) {
    diag_add(d, path, 0, 0, "cannot read the tokens file: %s",
             rc == TD_ENOTFOUND ? "no such file" : td_error_last());
    return -1;
  }
  rc = auth_tokens_parse(t, path, text, len, d);
  free(text);
  return rc;
}

void auth_tokens_add_secret(struct auth_tokens *t, const char *name,
                            enum auth_role role, const char *secret)
{
  struct auth_token tok = {.name = td_strdup(name), .role = role};

  SHA256((const unsigned char *)secret, strlen(secret), tok.digest);
  append(t, &tok);
}

const struct auth_token *auth_tokens_match(const struct auth_tokens *t,
                                           const char *header)
{
  unsigned char digest[AUTH_DIGEST_LEN];
  const struct auth_token *found = NULL;

  header = bearer(header);
  if (!header || !header[0])
    return NULL;
  SHA256((const unsigned char *)header, strlen(header), digest);
  /* Every entry, whatever matched before: the time says nothing. */
  for (size_t i = 0; i < t->n; i++)
    if (CRYPTO_memcmp(digest, t->v[i].digest, AUTH_DIGEST_LEN) == 0)
      found = &t->v[i];
  return found;
}

const struct auth_token *auth_tokens_find(const struct auth_tokens *t,
                                          const char *name)
{
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].name, name) == 0)
      return &t->v[i];
  return NULL;
}

bool auth_tokens_any(const struct auth_tokens *t, enum auth_role role)
{
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].role >= role)
      return true;
  return false;
}

void auth_tokens_release(struct auth_tokens *t)
{
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].name);
    free(t->v[i].email);
  }
  free(t->v);
  t->v = NULL;
  t->n = 0;
}
