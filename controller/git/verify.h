/*
 * verify.h - signatures on manifest commits and approval tags, checked
 * against keys that live with the controller (never in the repository);
 * and the signature of tenantd's own status commits (verify_sign).
 *
 * Two formats, as git writes them:
 *   ssh      an OpenSSH allowed_signers file (`ssh-keygen -Y verify`
 *            reads it; the namespace is "git").  Checked by spawning
 *            ssh-keygen: find-principals names the signer, verify checks
 *            the signature, check-novalidate gives an unknown key's
 *            fingerprint for the message.
 *   openpgp  an armored public keyring.  It is turned into a binary one
 *            with `gpg --dearmor`, then `gpgv --keyring` checks the
 *            signature; every key in the keyring is trusted.
 *
 *   struct verify_keys k = {VERIFY_SSH, "/etc/tenantd/allowed_signers"};
 *   struct verify_result r;
 *   verify_commit(src, commit, &k, &r);     -- always a verdict in r
 *   if (r.verdict != VERIFY_GOOD) ... r.reason says why, r.fingerprint
 *                                         names the key when known
 *   verify_approval(src, commit, &k, &r);   -- the commit, or a signed
 *                                         annotated tag under
 *                                         refs/tags/approved/ on it
 *
 * The programs run as child processes (uv_spawn) on a private libuv loop
 * in the calling thread, so a check never blocks the daemon's loop (a
 * pass runs on a thread of its own) and works the same from the command
 * line.  Signed data reaches them on stdin, the signature through a file
 * in a private temporary directory; nothing taken from the repository is
 * ever a command-line argument.  Every buffer is capped, every child is
 * killed past VERIFY_TIMEOUT_MS, and a hostile signature or tag gives a
 * verdict with a reason, never an abort.
 *
 * Ownership: a verify_keys borrows its path; results are plain values.
 */
#ifndef TD_VERIFY_H
#define TD_VERIFY_H

#include "base/compat.h"

#include "git/source.h"

enum verify_format { VERIFY_SSH, VERIFY_OPENPGP };

/* "ssh", "openpgp" */
extern const char *const verify_format_names[2];

struct verify_keys {
  enum verify_format format;
  const char *keys; /* allowed_signers, or an armored keyring; borrowed */
};

enum verify_verdict {
  VERIFY_GOOD,        /* signed by a key of the file */
  VERIFY_UNSIGNED,    /* no signature at all */
  VERIFY_UNKNOWN_KEY, /* a valid signature by a key not in the file */
  VERIFY_BAD,         /* a signature that does not verify */
  VERIFY_ERROR,       /* could not check: keys file, program, limits */
};

/* "good", "unsigned", "unknown key", "bad signature", "error" */
extern const char *const verify_verdict_names[5];

struct verify_result {
  enum verify_verdict verdict;
  char signer[256];      /* principal or user id, "" when unknown */
  char fingerprint[128]; /* "SHA256:..." or an OpenPGP fingerprint */
  char reason[512];      /* one line, for statuses and logs */
  char tag[256];         /* verify_approval by a tag: its name */
};

/* Limits on what is handed to the programs and read back. */
#define VERIFY_MAX_SIGNATURE (64 * 1024)
#define VERIFY_MAX_PAYLOAD (4 * 1024 * 1024)
#define VERIFY_MAX_KEYS (1024 * 1024)
#define VERIFY_MAX_OUTPUT (64 * 1024)
#define VERIFY_MAX_TAGS 1000
#define VERIFY_TIMEOUT_MS 10000

/* The commit's own signature (its gpgsig header). */
void verify_commit(struct source *s, const char *commit,
                   const struct verify_keys *k, struct verify_result *out);

/*
 * Approved: the commit is signed by a key of `k`, or a signed annotated
 * tag under refs/tags/approved/ (as last fetched) points at it and is
 * signed by one.  The first that verifies wins; otherwise the commit's
 * own verdict (naming the tags that failed in the reason).
 */
void verify_approval(struct source *s, const char *commit,
                     const struct verify_keys *k, struct verify_result *out);

/* Checks detached `sig` over `data`. */
void verify_buffer(const struct verify_keys *k, const char *data, size_t len,
                   const char *sig, size_t siglen, struct verify_result *out);

/*
 * Splits a tag object's raw content into the signed payload and the
 * signature block appended to it (a line beginning "-----BEGIN PGP
 * SIGNATURE-----" or "-----BEGIN SSH SIGNATURE-----").  0 with
 * *payload_len and *sig (pointing into raw), TD_ENOTFOUND when unsigned.
 */
int verify_tag_split(const char *raw, size_t len, size_t *payload_len,
                     const char **sig, size_t *siglen);

/*
 * Who may sign, for plans: the principals of an allowed_signers file, or
 * the user ids of a keyring, comma-separated into buf ("" when unknown).
 * An unreadable file is TD_ERROR naming it.
 */
int verify_signers(const struct verify_keys *k, char *buf, size_t cap);

/*
 * Signs `data` with the ssh private key file `key` (`ssh-keygen -Y sign`,
 * namespace git), as git does for gpg.format ssh: 0 and *sig, the armored
 * signature (caller frees), or TD_ERROR naming the key.  The key must be
 * usable without a passphrase.
 */
int verify_sign(const char *key, const char *data, size_t len, char **sig);

/* "signed by alice@example.com (SHA256:...)" and the like, into buf. */
void verify_describe(const struct verify_result *r, char *buf, size_t cap);

#endif
