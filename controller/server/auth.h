/*
 * auth.h - checking what clients of the HTTP API present.
 *
 * Secrets are compared in time that does not depend on where they
 * differ, nor on their lengths, so a client cannot find a token byte by
 * byte.
 */
#ifndef TD_AUTH_H
#define TD_AUTH_H

#include "base/compat.h"

/* Whether the two byte strings are equal (both are hashed first). */
bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Whether an Authorization header value is "Bearer <token>". */
bool auth_bearer_ok(const char *header, const char *token);

#endif
