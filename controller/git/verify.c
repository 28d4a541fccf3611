/*
 * verify.c - signatures checked by ssh-keygen or gpgv, run as children on
 * a private loop: the spawn, the temporary directory, each format, then
 * commits and approval tags.
 */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "git/source_git.h"
#include "git/verify.h"

const char *const verify_format_names[2] = {"ssh", "openpgp"};

const char *const verify_verdict_names[5] = {
    "good", "unsigned", "unknown key", "bad signature", "error",
};

static void say(struct verify_result *r, enum verify_verdict v, const char *fmt,
                ...) TD_PRINTF(3, 4);

static void say(struct verify_result *r, enum verify_verdict v, const char *fmt,
                ...)
{
  va_list ap;

  r->verdict = v;
  va_start(ap, fmt);
  vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
  va_end(ap);
  /* One line, printable: it goes into statuses and logs. */
  for (char *p = r->reason; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
}

/* ---- a child process on a private loop ---- */

struct capture {
  char *buf; /* NUL-terminated */
  size_t len, cap;
  bool overflow;
  char chunk[4096];
};

struct child {
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_timer_t timer;
  uv_write_t wr;
  struct capture *cout, *cerr;
  int64_t status;
  int signal;
  bool exited, out_eof, err_eof, timed_out;
};

static void capture_init(struct capture *c, size_t cap)
{
  memset(c, 0, sizeof(*c));
  c->cap = cap;
  c->buf = td_calloc(1, 1);
}

static void capture_release(struct capture *c)
{
  free(c->buf);
  c->buf = NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct capture *c = h->data;

  (void)suggested;
  *buf = uv_buf_init(c->chunk, sizeof(c->chunk));
}

static void close_all(struct child *c)
{
  uv_handle_t *hs[] = {(uv_handle_t *)&c->in, (uv_handle_t *)&c->out,
                       (uv_handle_t *)&c->err, (uv_handle_t *)&c->timer,
                       (uv_handle_t *)&c->proc};

  for (size_t i = 0; i < ARRAY_SIZE(hs); i++)
    if (!uv_is_closing(hs[i]))
      uv_close(hs[i], NULL);
}

static void maybe_done(struct child *c)
{
  if (c->exited && c->out_eof && c->err_eof)
    close_all(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct child *ch = s->loop->data;
  struct capture *c = s->data;

  if (n > 0) {
    /* Past the cap the output is read and dropped, so the child never
     * blocks on a full pipe. */
    if (c->len + (size_t)n > c->cap) {
      c->overflow = true;
      return;
    }
    c->buf = td_realloc(c->buf, c->len + (size_t)n + 1);
    memcpy(c->buf + c->len, buf->base, (size_t)n);
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return;
  }
  if (n < 0) {
    uv_read_stop(s);
    if (s == (uv_stream_t *)&ch->out)
      ch->out_eof = true;
    else
      ch->err_eof = true;
    maybe_done(ch);
  }
}

static void on_written(uv_write_t *w, int status)
{
  struct child *c = w->data;

  (void)status; /* a child that stops reading early says so by its exit */
  if (!uv_is_closing((uv_handle_t *)&c->in))
    uv_close((uv_handle_t *)&c->in, NULL);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
  struct child *c = p->loop->data;

  c->exited = true;
  c->status = status;
  c->signal = term_signal;
  maybe_done(c);
}

static void on_timeout(uv_timer_t *t)
{
  struct child *c = t->loop->data;

  if (!c->exited && !c->timed_out) {
    c->timed_out = true;
    uv_process_kill(&c->proc, SIGKILL);
    /* Its pipes may be held by what it left behind: a second and last
     * chance, then everything is closed. */
    uv_timer_start(&c->timer, on_timeout, 1000, 0);
    return;
  }
  close_all(c);
}

/*
 * Runs argv (argv[0] from PATH) with `in` on its stdin, capturing stdout
 * and stderr.  0 with *status its exit status (-1 when killed), or -1
 * with `why` when it could not run at all.
 */
static int run(char *const argv[], const char *in, size_t inlen,
               struct capture *out, struct capture *err, int64_t *status,
               char *why, size_t cap)
{
  uv_loop_t loop;
  struct child c;
  uv_process_options_t o = {0};
  uv_stdio_container_t stdio[3];
  uv_buf_t b = uv_buf_init((char *)in, (unsigned)inlen);
  int rc;

  memset(&c, 0, sizeof(c));
  uv_loop_init(&loop);
  loop.data = &c;
  c.cout = out;
  c.cerr = err;
  uv_pipe_init(&loop, &c.in, 0);
  uv_pipe_init(&loop, &c.out, 0);
  uv_pipe_init(&loop, &c.err, 0);
  uv_timer_init(&loop, &c.timer);
  c.out.data = out;
  c.err.data = err;
  c.wr.data = &c;
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&c.in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c.out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&c.err;
  o.file = argv[0];
  o.args = (char **)argv;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  rc = uv_spawn(&loop, &c.proc, &o);
  if (rc < 0) {
    snprintf(why, cap, "cannot run %s: %s", argv[0], uv_strerror(rc));
    close_all(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return -1;
  }
  if (inlen == 0 ||
      uv_write(&c.wr, (uv_stream_t *)&c.in, &b, 1, on_written) < 0)
    uv_close((uv_handle_t *)&c.in, NULL);
  if (uv_read_start((uv_stream_t *)&c.out, on_alloc, on_read) < 0)
    c.out_eof = true;
  if (uv_read_start((uv_stream_t *)&c.err, on_alloc, on_read) < 0)
    c.err_eof = true;
  uv_timer_start(&c.timer, on_timeout, VERIFY_TIMEOUT_MS, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* Whatever is still open (a timeout) closes now. */
  close_all(&c);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    abort(); /* every handle above was closed: a programmer's error */
  if (c.timed_out) {
    snprintf(why, cap, "%s took longer than %ds and was stopped", argv[0],
             VERIFY_TIMEOUT_MS / 1000);
    return -1;
  }
  *status = c.signal ? -1 : c.status;
  return 0;
}

/* The first line of a program's message, for a reason. */
static void first_line(const struct capture *c, char *buf, size_t cap)
{
  size_t n = strcspn(c->buf, "\n");

  while (n > 0 && (c->buf[n - 1] == '\r' || c->buf[n - 1] == ' '))
    n--;
  snprintf(buf, cap, "%.*s", (int)(n < 200 ? n : 200), c->buf);
}

/* ---- a private directory for the signature and keyring ---- */

static int write_file(const char *path, const char *data, size_t len, char *why,
                      size_t cap)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  size_t done = 0;

  while (fd >= 0 && done < len) {
    ssize_t n = write(fd, data + done, len - done);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += (size_t)n;
  }
  if (fd < 0 || done < len) {
    snprintf(why, cap, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

/* A directory of ours and what the programs left in it. */
static void remove_tree(const char *dir)
{
  nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

struct scratch {
  char dir[PATH_MAX];
  char sig[PATH_MAX + 16];
  char keyring[PATH_MAX + 16];
};

static int scratch_open(struct scratch *s, const char *sig, size_t siglen,
                        char *why, size_t cap)
{
  const char *tmp = getenv("TMPDIR");

  memset(s, 0, sizeof(*s));
  if (!tmp || tmp[0] != '/' || strlen(tmp) > PATH_MAX - 64)
    tmp = "/tmp";
  snprintf(s->dir, sizeof(s->dir), "%s/tenantd-verify-XXXXXX", tmp);
  if (!mkdtemp(s->dir)) {
    snprintf(why, cap, "cannot make a temporary directory in %s: %s", tmp,
             strerror(errno));
    s->dir[0] = '\0';
    return -1;
  }
  snprintf(s->sig, sizeof(s->sig), "%s/signature", s->dir);
  return write_file(s->sig, sig, siglen, why, cap);
  return 0;
}

static void scratch_close(struct scratch *s)
{
  /* gpg may leave its own files in its home: they go too. */
  if (s->dir[0])
    remove_tree(s->dir);
}

/* ---- the keys file ---- */

static int read_keys(const struct verify_keys *k, char **text, size_t *len,
                     char *why, size_t cap)
{
  int rc = fs_read_capped(k->keys, VERIFY_MAX_KEYS + 1, text, len);

  if (rc < 0) {
    snprintf(why, cap, "keys file %s: %s", k->keys,
             rc == TD_ENOTFOUND ? "no such file" : td_error_last());
    return -1;
  }
  if (*len > VERIFY_MAX_KEYS) {
    snprintf(why, cap, "keys file %s: larger than %d bytes", k->keys,
             VERIFY_MAX_KEYS);
    free(*text);
    *text = NULL;
    return -1;
  }
  /* Read as text by the parsers here: NUL-terminated. */
  *text = td_realloc(*text, *len + 1);
  (*text)[*len] = '\0';
  return 0;
}

/* ---- ssh ---- */

/* "... with ED25519 key SHA256:abc..." -> "SHA256:abc...". */
static void ssh_fingerprint(const char *out, char *buf, size_t cap)
{
  const char *p = strstr(out, " key SHA256:");
  size_t n;

  buf[0] = '\0';
  if (!p)
    return;
  p += 5;
  n = strspn(p, "SHA256:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789+/=");
  if (n < cap)
    snprintf(buf, cap, "%.*s", (int)n, p);
}

/* The first principal find-principals printed, if it is a sane one. */
static bool ssh_principal(const struct capture *c, char *buf, size_t cap)
{
  size_t n = strcspn(c->buf, "\n");

  if (n == 0 || n >= cap)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)c->buf[i] < 0x21 || c->buf[i] == 0x7f)
      return false;
  snprintf(buf, cap, "%.*s", (int)n, c->buf);
  return true;
}

static void ssh_check(const struct verify_keys *k, const struct scratch *s,
                      const char *data, size_t len, struct verify_result *r)
{
  struct capture out, err;
  char why[256], msg[256];
  char principal[256];
  int64_t status = -1;
  char *find[] = {"ssh-keygen",    "-Y", "find-principals", "-f",
                  (char *)k->keys, "-s", (char *)s->sig,    NULL};
  char *novalidate[] = {"ssh-keygen", "-Y", "check-novalidate", "-n",
                        "git",        "-s", (char *)s->sig,     NULL};

  capture_init(&out, VERIFY_MAX_OUTPUT);
  capture_init(&err, VERIFY_MAX_OUTPUT);
  if (run(find, NULL, 0, &out, &err, &status, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  if (status == 0 && ssh_principal(&out, principal, sizeof(principal))) {
    char *verify[] = {"ssh-keygen",    "-Y", "verify",       "-f",
                      (char *)k->keys, "-I", principal,      "-n",
                      "git",           "-s", (char *)s->sig, NULL};

    capture_release(&out);
    capture_release(&err);
    capture_init(&out, VERIFY_MAX_OUTPUT);
    capture_init(&err, VERIFY_MAX_OUTPUT);
    if (run(verify, data, len, &out, &err, &status, why, sizeof(why)) < 0) {
      say(r, VERIFY_ERROR, "cannot verify: %s", why);
      goto out;
    }
    snprintf(r->signer, sizeof(r->signer), "%s", principal);
    ssh_fingerprint(out.buf, r->fingerprint, sizeof(r->fingerprint));
    first_line(&err, msg, sizeof(msg));
    if (status == 0)
      say(r, VERIFY_GOOD, "signed by %s (%s)", principal, r->fingerprint);
    else
      say(r, VERIFY_BAD, "bad signature claiming %s: %s", principal,
          *msg ? msg : "ssh-keygen refused it");
    goto out;
  }
  /* No trusted key made it: whose is it, and is it even valid? */
  capture_release(&out);
  capture_release(&err);
  capture_init(&out, VERIFY_MAX_OUTPUT);
  capture_init(&err, VERIFY_MAX_OUTPUT);
  if (run(novalidate, data, len, &out, &err, &status, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  ssh_fingerprint(out.buf, r->fingerprint, sizeof(r->fingerprint));
  first_line(&err, msg, sizeof(msg));
  if (status == 0)
    say(r, VERIFY_UNKNOWN_KEY, "signed by %s, a key not in %s",
        r->fingerprint[0] ? r->fingerprint : "an unknown key", k->keys);
  else
    say(r, VERIFY_BAD, "bad signature: %s",
        *msg ? msg : "ssh-keygen cannot read it");
out:
  capture_release(&out);
  capture_release(&err);
}

/* ---- OpenPGP ---- */

/* The binary keyring gpgv reads, from the armored one. */
static int pgp_keyring(const struct verify_keys *k, struct scratch *s,
                       struct verify_result *r)
{
  struct capture out, err;
  char *text = NULL, why[512], msg[256];
  size_t len = 0;
  int64_t status = -1;
  char *dearmor[] = {
      "gpg", "--batch", "--no-options", "--homedir", s->dir, "--dearmor", NULL};
  int rc = -1;

  capture_init(&out, 2 * VERIFY_MAX_KEYS);
  capture_init(&err, VERIFY_MAX_OUTPUT);
  if (read_keys(k, &text, &len, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  if (run(dearmor, text, len, &out, &err, &status, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  first_line(&err, msg, sizeof(msg));
  if (status != 0 || out.len == 0 || out.overflow) {
    say(r, VERIFY_ERROR,
        "cannot verify: keys file %s is not an armored OpenPGP keyring%s%s",
        k->keys, *msg ? ": " : "", msg);
    goto out;
  }
  snprintf(s->keyring, sizeof(s->keyring), "%s/keyring.gpg", s->dir);
  if (write_file(s->keyring, out.buf, out.len, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  rc = 0;
out:
  free(text);
  capture_release(&out);
  capture_release(&err);
  return rc;
}

/* The status line "[GNUPG:] <word> ..." of gpgv's output: what follows
 * the word, to the end of its line, into buf (true); only whole lines
 * count, so a user id can never pass for a status. */
static bool pgp_status(const char *out, const char *word, char *buf, size_t cap)
{
  char key[64];
  size_t klen;

  snprintf(key, sizeof(key), "[GNUPG:] %s", word);
  klen = strlen(key);
  buf[0] = '\0';
  for (const char *line = out; *line;) {
    size_t n = strcspn(line, "\n");

    if (n >= klen && memcmp(line, key, klen) == 0 &&
        (line[klen] == ' ' || line[klen] == '\n' || line[klen] == '\0')) {
      const char *v = line + klen + (line[klen] == ' ');
      size_t vn = n - (size_t)(v - line);

      snprintf(buf, cap, "%.*s", (int)(vn < cap ? vn : cap - 1), v);
      return true;
    }
    line += n + (line[n] == '\n');
  }
  return false;
}

static bool pgp_has(const char *out, const char *word)
{
  char buf[8];

  return pgp_status(out, word, buf, sizeof(buf));
}

static void pgp_check(const struct verify_keys *k, struct scratch *s,
                      const char *data, size_t len, struct verify_result *r)
{
  struct capture out, err;
  char why[256], line[512];
  int64_t status = -1;
  char *gpgv[] = {"gpgv",      "--homedir",        s->dir, "--status-fd", "1",
                  "--keyring", (char *)s->keyring, s->sig, "-",           NULL};

  if (pgp_keyring(k, s, r) < 0)
    return;
  capture_init(&out, VERIFY_MAX_OUTPUT);
  capture_init(&err, VERIFY_MAX_OUTPUT);
  if (run(gpgv, data, len, &out, &err, &status, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
    goto out;
  }
  pgp_status(out.buf, "VALIDSIG", line, sizeof(line));
  snprintf(r->fingerprint, sizeof(r->fingerprint), "%.*s",
           (int)strcspn(line, " "), line);
  /* "GOODSIG <long key id> <user id>": the user id names the signer. */
  pgp_status(out.buf, "GOODSIG", line, sizeof(line));
  if (strchr(line, ' '))
    snprintf(r->signer, sizeof(r->signer), "%s", strchr(line, ' ') + 1);
  if (status == 0 && pgp_has(out.buf, "GOODSIG") && r->fingerprint[0]) {
    say(r, VERIFY_GOOD, "signed by %s (%s)", r->signer, r->fingerprint);
  } else if (pgp_has(out.buf, "NO_PUBKEY")) {
    pgp_status(out.buf, "NO_PUBKEY", line, sizeof(line));
    snprintf(r->fingerprint, sizeof(r->fingerprint), "%.40s", line);
    say(r, VERIFY_UNKNOWN_KEY, "signed by %s, a key not in %s", r->fingerprint,
        k->keys);
  } else if (pgp_has(out.buf, "EXPKEYSIG") || pgp_has(out.buf, "REVKEYSIG")) {
    say(r, VERIFY_BAD, "signed by an expired or revoked key");
  } else {
    first_line(&err, line, sizeof(line));
    say(r, VERIFY_BAD, "bad signature%s%s", *line ? ": " : "", line);
  }
out:
  capture_release(&out);
  capture_release(&err);
}

/* ---- a detached signature ---- */

static bool starts(const char *s, size_t len, const char *prefix)
{
  size_t n = strlen(prefix);

  return len >= n && memcmp(s, prefix, n) == 0;
}

#define SSH_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define PGP_BEGIN "-----BEGIN PGP SIGNATURE-----"

void verify_buffer(const struct verify_keys *k, const char *data, size_t len,
                   const char *sig, size_t siglen, struct verify_result *r)
{
  struct scratch s = {0};
  char why[512];
  bool ssh = starts(sig, siglen, SSH_BEGIN);
  bool pgp = starts(sig, siglen, PGP_BEGIN);
  struct stat st;

  memset(r, 0, sizeof(*r));
  if (siglen > VERIFY_MAX_SIGNATURE || len > VERIFY_MAX_PAYLOAD) {
    say(r, VERIFY_BAD, "signature or signed data too large to verify");
    return;
  }
  if (!ssh && !pgp) {
    say(r, VERIFY_BAD, "not an SSH or OpenPGP signature");
    return;
  }
  if (ssh != (k->format == VERIFY_SSH)) {
    say(r, VERIFY_UNKNOWN_KEY, "signed with an %s key; the keys are %s",
        ssh ? "SSH" : "OpenPGP", verify_format_names[k->format]);
    return;
  }
  /* The keys file is said by name when it is missing. */
  if (stat(k->keys, &st) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: keys file %s: %s", k->keys,
        strerror(errno));
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    say(r, VERIFY_ERROR, "cannot verify: keys file %s: not a regular file",
        k->keys);
    return;
  }
  if (scratch_open(&s, sig, siglen, why, sizeof(why)) < 0) {
    say(r, VERIFY_ERROR, "cannot verify: %s", why);
  } else if (ssh) {
    ssh_check(k, &s, data, len, r);
  } else {
    pgp_check(k, &s, data, len, r);
  }
  scratch_close(&s);
}

/* ---- commits and tags ---- */

void verify_commit(struct source *s, const char *commit,
                   const struct verify_keys *k, struct verify_result *r)
{
  git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
  git_oid oid;
  int rc;

  memset(r, 0, sizeof(*r));
  if (git_oid_fromstr(&oid, commit) < 0) {
    say(r, VERIFY_ERROR, "'%.64s' is not a commit id", commit);
    return;
  }
  rc = git_commit_extract_signature(&sig, &data, source_repo(s), &oid, NULL);
  if (rc == GIT_ENOTFOUND) {
    say(r, VERIFY_UNSIGNED, "not signed");
  } else if (rc < 0) {
    const git_error *e = git_error_last();

    say(r, VERIFY_ERROR, "cannot read commit %.12s: %s", commit,
        e && e->message ? e->message : "unknown error");
  } else {
    verify_buffer(k, data.ptr, data.size, sig.ptr, sig.size, r);
  }
  git_buf_dispose(&sig);
  git_buf_dispose(&data);
}

static const char *const sig_begins[] = {
    PGP_BEGIN,
    "-----BEGIN PGP MESSAGE-----",
    SSH_BEGIN,
    "-----BEGIN SIGNED MESSAGE-----",
};

int verify_tag_split(const char *raw, size_t len, size_t *payload_len,
                     const char **sig, size_t *siglen)
{
  size_t at = 0;

  while (at < len) {
    const char *nl = memchr(raw + at, '\n', len - at);
    size_t next = nl ? (size_t)(nl - raw) + 1 : len;

    for (size_t i = 0; i < ARRAY_SIZE(sig_begins); i++)
      if (starts(raw + at, len - at, sig_begins[i])) {
        *payload_len = at;
        *sig = raw + at;
        *siglen = len - at;
        return 0;
      }
    at = next;
  }
  return TD_ENOTFOUND;
}

/* One tag under refs/tags/approved/: an annotated tag on `target`,
 * signed by a key of k?  False when it does not point there. */
static bool check_tag(git_repository *repo, const git_oid *tag_oid,
                      const git_oid *target, const struct verify_keys *k,
                      struct verify_result *r)
{
  git_odb *odb = NULL;
  git_odb_object *obj = NULL;
  git_tag *tag = NULL;
  const char *sig;
  size_t payload, siglen;
  bool ours = false;

  if (git_tag_lookup(&tag, repo, tag_oid) < 0)
    goto out; /* a lightweight tag approves nothing */
  if (git_tag_target_type(tag) != GIT_OBJECT_COMMIT ||
      !git_oid_equal(git_tag_target_id(tag), target))
    goto out;
  ours = true;
  if (git_repository_odb(&odb, repo) < 0 ||
      git_odb_read(&obj, odb, tag_oid) < 0) {
    say(r, VERIFY_ERROR, "cannot read the tag");
    goto out;
  }
  if (git_odb_object_size(obj) > VERIFY_MAX_PAYLOAD + VERIFY_MAX_SIGNATURE) {
    say(r, VERIFY_BAD, "tag too large to verify");
    goto out;
  }
  if (verify_tag_split(git_odb_object_data(obj), git_odb_object_size(obj),
                       &payload, &sig, &siglen) < 0) {
    say(r, VERIFY_UNSIGNED, "not signed");
    goto out;
  }
  verify_buffer(k, git_odb_object_data(obj), payload, sig, siglen, r);
out:
  git_odb_object_free(obj);
  git_odb_free(odb);
  git_tag_free(tag);
  return ours;
}

#define APPROVED_PREFIX "refs/tags/approved/"

/* The approval tags on `target`: the first good one into r (true), or
 * what the others said appended to `failed`. */
static bool approved_by_tag(git_repository *repo, const git_oid *target,
                            const struct verify_keys *k,
                            struct verify_result *r, char *failed, size_t cap)
{
  git_reference_iterator *it = NULL;
  git_reference *ref;
  size_t seen = 0, used = strlen(failed);
  bool good = false;

  if (git_reference_iterator_glob_new(&it, repo, APPROVED_PREFIX "*") < 0)
    return false;
  while (!good && seen < VERIFY_MAX_TAGS && git_reference_next(&ref, it) == 0) {
    const git_oid *id = git_reference_target(ref);
    struct verify_result tr;

    memset(&tr, 0, sizeof(tr));
    seen++;
    if (id && check_tag(repo, id, target, k, &tr)) {
      const char *name = git_reference_name(ref) + strlen("refs/tags/");

      if (tr.verdict == VERIFY_GOOD) {
        *r = tr;
        snprintf(r->tag, sizeof(r->tag), "%.200s", name);
        good = true;
      } else if (used < cap) {
        used += (size_t)snprintf(failed + used, cap - used, "; tag %.100s: %s",
                                 name, tr.reason);
      }
    }
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  return good;
}

void verify_approval(struct source *s, const char *commit,
                     const struct verify_keys *k, struct verify_result *r)
{
  struct verify_result own;
  char failed[512] = "";
  git_oid oid;

  verify_commit(s, commit, k, &own);
  if (own.verdict == VERIFY_GOOD || git_oid_fromstr(&oid, commit) < 0) {
    *r = own;
    return;
  }
  if (approved_by_tag(source_repo(s), &oid, k, r, failed, sizeof(failed)))
    return;
  *r = own;
  if (failed[0]) {
    char reason[sizeof(r->reason)];

    snprintf(reason, sizeof(reason), "%s", own.reason);
    say(r, own.verdict, "commit %.200s%.280s", reason, failed);
  }
}

/* ---- who may sign ---- */

static void append(char *buf, size_t cap, size_t *used, const char *s, size_t n)
{
  if (*used >= cap)
    return;
  *used += (size_t)snprintf(buf + *used, cap - *used, "%s%.*s",
                            *used ? ", " : "", (int)n, s);
}

/* allowed_signers: the first field of each line (principals). */
static void ssh_signers(const char *text, char *buf, size_t cap)
{
  size_t used = 0;

  for (const char *line = text; *line;) {
    size_t n = strcspn(line, "\n");
    const char *p = line;
    size_t skip = strspn(p, " \t");

    p += skip;
    if (skip < n && *p != '#') {
      size_t w = strcspn(p, " \t\n");

      if (*p == '"') {
        const char *q = memchr(p + 1, '"', n - skip - 1);

        w = q ? (size_t)(q - p) - 1 : 0;
        p++;
      }
      if (w)
        append(buf, cap, &used, p, w);
    }
    line += n + (line[n] == '\n');
  }
}

/* An armored keyring: each key's user ids, from gpg --show-keys. */
static int pgp_signers(const struct verify_keys *k, const char *text,
                       size_t len, char *buf, size_t cap)
{
  char dir[PATH_MAX];
  const char *tmp = getenv("TMPDIR");
  struct capture out, err;
  char why[256];
  int64_t status = -1;
  size_t used = 0;
  int rc = 0;

  if (!tmp || tmp[0] != '/' || strlen(tmp) > PATH_MAX - 64)
    tmp = "/tmp";
  snprintf(dir, sizeof(dir), "%s/tenantd-keys-XXXXXX", tmp);
  if (!mkdtemp(dir))
    return td_error("cannot make a temporary directory in %s", tmp);
  {
    char *show[] = {"gpg", "--batch",       "--no-options", "--homedir",
                    dir,   "--with-colons", "--show-keys",  NULL};

    capture_init(&out, VERIFY_MAX_OUTPUT);
    capture_init(&err, VERIFY_MAX_OUTPUT);
    if (run(show, text, len, &out, &err, &status, why, sizeof(why)) < 0 ||
        status != 0)
      rc = td_error("keys file %s: not an armored OpenPGP keyring", k->keys);
  }
  for (const char *line = out.buf; rc == 0 && *line;) {
    size_t n = strcspn(line, "\n");

    if (strncmp(line, "uid:", 4) == 0) {
      const char *f = line;

      /* The user id is the tenth field. */
      for (int i = 0; i < 9 && f; i++) {
        f = memchr(f, ':', n - (size_t)(f - line));
        f = f ? f + 1 : NULL;
      }
      if (f)
        append(buf, cap, &used, f,
               strcspn(f, ":\n") < 120 ? strcspn(f, ":\n") : 120);
    }
    line += n + (line[n] == '\n');
  }
  capture_release(&out);
  capture_release(&err);
  remove_tree(dir);
  return rc;
}

int verify_signers(const struct verify_keys *k, char *buf, size_t cap)
{
  char *text = NULL, why[512];
  size_t len = 0;
  int rc = 0;

  buf[0] = '\0';
  if (read_keys(k, &text, &len, why, sizeof(why)) < 0)
    return td_error("%s", why);
  if (k->format == VERIFY_SSH)
    ssh_signers(text, buf, cap);
  else
    rc = pgp_signers(k, text, len, buf, cap);
  free(text);
  return rc;
}

int verify_sign(const char *key, const char *data, size_t len, char **sig)
{
  struct capture out, err;
  char why[256], msg[256];
  int64_t status = -1;
  char *argv[] = {"ssh-keygen", "-Y", "sign",      "-n",
                  "git",        "-f", (char *)key, NULL};
  int rc = 0;

  *sig = NULL;
  capture_init(&out, VERIFY_MAX_SIGNATURE);
  capture_init(&err, VERIFY_MAX_OUTPUT);
  if (run(argv, data, len, &out, &err, &status, why, sizeof(why)) < 0) {
    rc = td_error("status.signingKey %s: %s", key, why);
  } else if (status != 0 || out.overflow ||
             !starts(out.buf, out.len, SSH_BEGIN)) {
    first_line(&err, msg, sizeof(msg));
    rc = td_error("status.signingKey %s: cannot sign%s%s", key,
                  *msg ? ": " : "", msg);
  } else {
    *sig = out.buf;
    out.buf = NULL;
  }
  capture_release(&out);
  capture_release(&err);
  return rc;
}

void verify_describe(const struct verify_result *r, char *buf, size_t cap)
{
  switch (r->verdict) {
  case VERIFY_GOOD:
    if (r->tag[0])
      snprintf(buf, cap, "approved by tag %s, %s", r->tag, r->reason);
    else
      snprintf(buf, cap, "%s", r->reason);
    break;
  case VERIFY_UNSIGNED:
    snprintf(buf, cap, "not signed");
    break;
  default:
    snprintf(buf, cap, "%s", r->reason);
    break;
  }
}
