/*
 * auth.h - checking what clients of the HTTP API present.
 *
 * Secrets are compared in time that does not depend on where they
 * differ, nor on their lengths, so a client cannot find a token byte by
 * byte.
 *
 * Tokens carry roles.  Each role includes the ones below it:
 *   read     GETs: the tenants' status, metrics;
 *   operate  asking for passes (POST /api/v1/reconcile);
 *   write    changing tenants: commits to the manifest repository.
 * The controller knows a token only by the SHA-256 of it and a name; the
 * name is what logs and commits show, never the token.  Tokens come from
 * http.tokensFile, a YAML list
 *
 *   - {name: alice, role: write, sha256: 9f86d0...}   # email: optional
 *   - {name: grafana, role: read, sha256: 60303a...}
 *
 * and from the config's *Env keys (auth_tokens_add_secret()).  A request
 * presents one as "Authorization: Bearer <token>": auth_tokens_match()
 * hashes it and compares the digest with every entry, each in constant
 * time, so neither which entry matched nor where it differed shows in the
 * time taken.
 */
#ifndef TD_AUTH_H
#define TD_AUTH_H

#include "base/compat.h"

#include "base/diag.h"

#define AUTH_DIGEST_LEN 32 /* SHA-256 */
#define AUTH_NAME_MAX 64
#define AUTH_TOKENS_MAX 1000

/* Whether the two byte strings are equal (both are hashed first). */
bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Whether an Authorization header value is "Bearer <token>". */
bool auth_bearer_ok(const char *header, const char *token);

/* What a token may do, each role more than the one before. */
enum auth_role {
  AUTH_ROLE_NONE, /* no token needed */
  AUTH_ROLE_READ,
  AUTH_ROLE_OPERATE,
  AUTH_ROLE_WRITE,
};

/* "read", "operate", "write" ("none" for AUTH_ROLE_NONE). */
const char *auth_role_name(enum auth_role r);

struct auth_token {
  char *name;  /* shown in logs and as a commit's author */
  char *email; /* the author's address; "<name>@tenantd" when not given */
  enum auth_role role;
  unsigned char digest[AUTH_DIGEST_LEN];
};

struct auth_tokens {
  struct auth_token *v;
  size_t n;
};

/* clang-format off */
#define AUTH_TOKENS_INIT {NULL, 0}
/* clang-format on */

/*
 * Appends the tokens of a tokens file (its bytes; `path` names it in
 * messages).  0, or -1 with every problem in `d` at its line and column:
 * a name that is empty, too long or has characters other than letters,
 * digits, spaces and ".-_@"; a role other than read, operate, write; a
 * sha256 that is not 64 hex digits; a name or digest given twice.
 */
int auth_tokens_parse(struct auth_tokens *t, const char *path, const char *text,
                      size_t len, struct diag_list *d);

/* The same from a file (at most 1 MiB). */
int auth_tokens_load(struct auth_tokens *t, const char *path,
                     struct diag_list *d);

/* Appends a token known by its secret (the *Env keys); the secret is
 * hashed, not kept. */
void auth_tokens_add_secret(struct auth_tokens *t, const char *name,
                            enum auth_role role, const char *secret);

/* The entry an Authorization header ("Bearer <token>") presents, or NULL
 * (borrowed from t). */
const struct auth_token *auth_tokens_match(const struct auth_tokens *t,
                                           const char *header);

/* The entry named `name`, or NULL. */
const struct auth_token *auth_tokens_find(const struct auth_tokens *t,
                                          const char *name);

/* Whether some token has at least `role`. */
bool auth_tokens_any(const struct auth_tokens *t, enum auth_role role);

void auth_tokens_release(struct auth_tokens *t);

#endif
