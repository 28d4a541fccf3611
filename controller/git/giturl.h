/*
 * giturl.h - a remote's URL taken apart, and secrets kept out of text.
 *
 * A Git URL may carry credentials ("https://user:token@host/x.git").
 * tenantd never hands them to libgit2 inside the URL: the source gives
 * libgit2 the URL without its user information and answers the
 * credential callback itself, for the configured scheme, host and port
 * only.  Every message that leaves the Git modules goes through
 * redact_text() first, libgit2's own included.
 *
 *   struct giturl u;
 *   giturl_parse(&u, "https://me:p@ss@host/x.git");
 *   u.bare   -> "https://host/x.git"           (what libgit2 is given)
 *   u.shown  -> "https://me:***@host/x.git"    (what messages show)
 *   u.password -> "p@ss"
 *   giturl_release(&u);
 *
 * The user information ends at the LAST '@' before the first '/' after
 * "://", so a raw '@' in a password stays in the password; a '/' in a
 * password must be written %2F.  Paths, file:// and scp-like
 * "user@host:path" URLs carry no password and are kept as given.
 * Nothing here allocates more than a few copies of the URL.
 */
#ifndef TD_GITURL_H
#define TD_GITURL_H

#include "base/compat.h"

struct giturl {
  char *scheme;   /* lower case ("https", "ssh", "ssh" for scp-like
                   user@host:path too); NULL: a path */
  char *user;     /* percent-decoded; NULL when the URL has none */
  char *password; /* percent-decoded; NULL when the URL has none */
  /* The same two as written in the URL (still percent-encoded), which is
   * how a message quoting the URL would show them. */
  char *user_raw, *password_raw;
  char *host;      /* without [] around an IPv6 address; NULL for paths */
  int port;        /* as written, else the scheme's default; 0 unknown */
  char *bare;      /* the URL without its user information (ssh keeps the
                 user name: it is not a secret there) */
  char *shown;     /* for messages: the password, or a token given as the
                  user of an http(s) URL, replaced by *** */
  bool token_user; /* the user of an http(s) URL without a password */
};

#define GITURL_SECRETS_MAX 4

/* Takes `url` apart.  Never fails: what it does not understand is kept
 * whole in bare and shown, with no credentials taken out. */
void giturl_parse(struct giturl *u, const char *url);
void giturl_release(struct giturl *u);

/* Whether the host is a loopback address or name (127.0.0.0/8, ::1,
 * localhost): plain http to it does not cross a network. */
bool giturl_is_loopback(const struct giturl *u);

/* The URL's secrets (encoded and decoded password, or a token user) into
 * out[], borrowed; returns how many (at most GITURL_SECRETS_MAX). */
size_t giturl_secrets(const struct giturl *u, const char **out);

/*
 * Copies `msg` into `out` (`cap` > 0 bytes, always NUL-terminated, cut
 * at cap - 1) with every occurrence of a non-empty secret replaced by
 * "***" (by "[redacted]" when a secret is part of "***", as a password
 * "***" or "*" is), in one left-to-right pass: a replacement is never
 * scanned again, so such a secret cannot loop.  Should the result still
 * hold a secret (pieces of the message meeting a replacement), the
 * whole message is withheld.  The output is at most ten bytes per input
 * byte, or a fixed sentence.  Returns the output's length.
 */
size_t redact_text(char *out, size_t cap, const char *msg,
                   const char *const *secrets, size_t n);

#endif
