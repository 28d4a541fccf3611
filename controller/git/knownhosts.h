/*
 * knownhosts.h - an SSH server's host key checked against a known_hosts
 * file, the way OpenSSH reads it.
 *
 * libgit2 hands the source the server's raw host key (the SSH wire
 * blob: string key type, then the key's fields); this module looks for
 * the host in an OpenSSH known_hosts file:
 *
 *   host1,host2,[host]:2222 ssh-ed25519 AAAAC3... comment
 *   |1|<base64 salt>|<base64 HMAC-SHA1(salt, name)> ecdsa-sha2-nistp256 ...
 *   @revoked * ssh-rsa AAAA...
 *
 * Host patterns may use * and ? and be negated with !; the name looked
 * up is "host" on port 22 and "[host]:port" on any other, as ssh writes
 * it.  @cert-authority lines are skipped (libgit2 gives no certificate).
 *
 * knownhosts_check() returns 0 when a line names the host with this
 * key.  Otherwise the message (td_error_last()) says what is wrong, with
 * the key's SHA256 fingerprint and the exact line to add:
 *   TD_ENOTFOUND  no line names the host with a key of this type
 *   TD_ECONFLICT  the host is known with another key of this type (the
 *                 key changed, or someone is in the middle), or the key
 *                 is marked @revoked
 *   TD_ERROR      the file cannot be read, or the key is malformed
 */
#ifndef TD_KNOWNHOSTS_H
#define TD_KNOWNHOSTS_H

#include "base/compat.h"

/* A known_hosts file larger than this is refused. */
#define KNOWNHOSTS_MAX_BYTES (4u * 1024 * 1024)

int knownhosts_check(const char *path, const char *host, int port,
                     const unsigned char *key, size_t len);

/* "SHA256:" and the unpadded base64 of the key's SHA-256, as ssh prints
 * it; out holds at least KNOWNHOSTS_FP_LEN bytes. */
#define KNOWNHOSTS_FP_LEN 52
void knownhosts_fingerprint(const unsigned char *key, size_t len,
                            char out[KNOWNHOSTS_FP_LEN]);

/* The line to add for this host and key ("[host]:port type base64"),
 * malloc'd; NULL when the key blob is malformed. */
char *knownhosts_line(const char *host, int port, const unsigned char *key,
                      size_t len);

#endif
