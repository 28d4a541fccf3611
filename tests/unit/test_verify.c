/*
 * Signatures (git/verify.h) and what trust adds elsewhere: splitting a
 * tag's signature, real ssh-keygen checks over keys made here (good,
 * tampered, unknown key, hostile signatures, missing keys file), who may
 * sign, the config keys with their positions, the two optional status
 * conditions, the states they give, and a resource id's environment.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "engine/status.h"
#include "git/statusview.h"
#include "git/verify.h"
#include "model/naming.h"
#include "server/config.h"
#include "suites.h"

/* ---- tag objects ---- */

static const char tag_head[] =
    "object 0123456789abcdef0123456789abcdef01234567\n"
    "type commit\n"
    "tag approved/x\n"
    "tagger T <t@example.com> 1700000000 +0000\n"
    "\n"
    "approved\n";

START_TEST(tag_split_finds_the_signature_block)
{
  const char *kinds[] = {"-----BEGIN SSH SIGNATURE-----\nAAAA\n"
                         "-----END SSH SIGNATURE-----\n",
                         "-----BEGIN PGP SIGNATURE-----\n\nwsBc\n"
                         "-----END PGP SIGNATURE-----\n"};

  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
    char *raw = td_asprintf("%s%s", tag_head, kinds[i]);
    size_t payload = 0, siglen = 0;
    const char *sig = NULL;

    ck_assert_int_eq(
        verify_tag_split(raw, strlen(raw), &payload, &sig, &siglen), 0);
    ck_assert_uint_eq(payload, strlen(tag_head));
    ck_assert_ptr_eq(sig, raw + strlen(tag_head));
    ck_assert_uint_eq(siglen, strlen(kinds[i]));
    free(raw);
  }
}
END_TEST

START_TEST(tag_split_edge_cases)
{
  size_t payload = 7, siglen = 7;
  const char *sig = NULL;
  static const char mid[] = "tag x\n\nsee -----BEGIN SSH SIGNATURE-----\n";
  static const char first[] = "-----BEGIN SSH SIGNATURE-----";
  static const char cut[] = "tag x\n\n-----BEGIN SSH SIGN";

  /* Unsigned, empty, a marker inside a line, a marker cut short. */
  ck_assert_int_eq(
      verify_tag_split(tag_head, strlen(tag_head), &payload, &sig, &siglen),
      TD_ENOTFOUND);
  ck_assert_int_eq(verify_tag_split("", 0, &payload, &sig, &siglen),
                   TD_ENOTFOUND);
  ck_assert_int_eq(verify_tag_split(mid, strlen(mid), &payload, &sig, &siglen),
                   TD_ENOTFOUND);
  ck_assert_int_eq(verify_tag_split(cut, strlen(cut), &payload, &sig, &siglen),
                   TD_ENOTFOUND);
  /* A block at the very start: an empty payload, not a crash. */
  ck_assert_int_eq(
      verify_tag_split(first, strlen(first), &payload, &sig, &siglen), 0);
  ck_assert_uint_eq(payload, 0);
  ck_assert_uint_eq(siglen, strlen(first));
  /* Not NUL-terminated: only `len` bytes are read. */
  ck_assert_int_eq(verify_tag_split(first, 10, &payload, &sig, &siglen),
                   TD_ENOTFOUND);
}
END_TEST

/* ---- ssh-keygen for real ---- */

struct world {
  char *dir, *allowed, *data;
};

static void sh(const char *fmt, ...) TD_PRINTF(1, 2);

static void sh(const char *fmt, ...)
{
  va_list ap;
  char *cmd;

  va_start(ap, fmt);
  ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
  va_end(ap);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = td_calloc(1, 1 << 16);

  ck_assert_ptr_nonnull(f);
  *len = fread(buf, 1, (1 << 16) - 1, f);
  fclose(f);
  return buf;
}

/* alice is trusted (allowed_signers), mallory is not; data.sig is
 * alice's signature of data, evil.sig mallory's. */
static void world_init(struct world *w)
{
  w->dir = test_tmpdir();
  w->allowed = td_asprintf("%s/allowed_signers", w->dir);
  w->data = td_asprintf("%s/data", w->dir);
  sh("cd %s && ssh-keygen -q -t ed25519 -N '' -f alice && "
     "ssh-keygen -q -t ed25519 -N '' -f mallory && "
     "printf 'tree 0\\n\\nsigned\\n' > data && cp data evil && "
     "ssh-keygen -q -Y sign -n git -f alice data 2>/dev/null && "
     "ssh-keygen -q -Y sign -n git -f mallory evil 2>/dev/null && "
     "echo '# committers' > allowed_signers && "
     "echo \"alice@example.com $(cut -d' ' -f1,2 alice.pub)\" "
     ">> allowed_signers",
     w->dir);
}

static void world_release(struct world *w)
{
  test_rm_rf(w->dir);
  free(w->dir);
  free(w->allowed);
  free(w->data);
}

static void check(const struct world *w, const char *data_file,
                  const char *sig_file, struct verify_result *r)
{
  char *dpath = td_asprintf("%s/%s", w->dir, data_file);
  char *spath = td_asprintf("%s/%s", w->dir, sig_file);
  struct verify_keys k = {VERIFY_SSH, w->allowed};
  size_t dlen, slen;
  char *data = slurp(dpath, &dlen), *sig = slurp(spath, &slen);

  verify_buffer(&k, data, dlen, sig, slen, r);
  free(data);
  free(sig);
  free(dpath);
  free(spath);
}

START_TEST(ssh_good_bad_unknown)
{
  struct world w;
  struct verify_result r;
  FILE *f;

  world_init(&w);
  check(&w, "data", "data.sig", &r);
  ck_assert_int_eq(r.verdict, VERIFY_GOOD);
  ck_assert_str_eq(r.signer, "alice@example.com");
  ck_assert(strncmp(r.fingerprint, "SHA256:", 7) == 0);

  /* The data changed under the signature. */
  f = fopen(w.data, "a");
  fputs("more\n", f);
  fclose(f);
  check(&w, "data", "data.sig", &r);
  ck_assert_int_eq(r.verdict, VERIFY_BAD);
  ck_assert_msg(strstr(r.reason, "alice@example.com"), "%s", r.reason);

  /* Mallory's valid signature: unknown, with her fingerprint. */
  check(&w, "evil", "evil.sig", &r);
  ck_assert_int_eq(r.verdict, VERIFY_UNKNOWN_KEY);
  ck_assert(strncmp(r.fingerprint, "SHA256:", 7) == 0);
  ck_assert_msg(strstr(r.reason, "a key not in"), "%s", r.reason);
  world_release(&w);
}
END_TEST

START_TEST(ssh_hostile_signatures)
{
  struct world w;
  struct verify_result r;
  struct verify_keys k;
  static const char garbage[] = "-----BEGIN SSH SIGNATURE-----\n"
                                "!!!! not base64 at all -- --help\n"
                                "-----END SSH SIGNATURE-----\n";
  static const char truncated[] = "-----BEGIN SSH SIGNATURE-----\n"
                                  "U1NIU0lHAAAAAQ==\n"
                                  "-----END SSH SIGNATURE-----\n";
  char *big;

  world_init(&w);
  k = (struct verify_keys){VERIFY_SSH, w.allowed};
  verify_buffer(&k, "x", 1, garbage, strlen(garbage), &r);
  ck_assert_int_eq(r.verdict, VERIFY_BAD);
  ck_assert(r.reason[0]);
  verify_buffer(&k, "x", 1, truncated, strlen(truncated), &r);
  ck_assert_int_eq(r.verdict, VERIFY_BAD);
  /* Not a signature at all, and one too large to hand over. */
  verify_buffer(&k, "x", 1, "hello", 5, &r);
  ck_assert_int_eq(r.verdict, VERIFY_BAD);
  ck_assert_str_eq(r.reason, "not an SSH or OpenPGP signature");
  big = td_calloc(1, VERIFY_MAX_SIGNATURE + 64);
  memcpy(big, "-----BEGIN SSH SIGNATURE-----\n", 30);
  memset(big + 30, 'A', VERIFY_MAX_SIGNATURE);
  verify_buffer(&k, "x", 1, big, strlen(big), &r);
  ck_assert_int_eq(r.verdict, VERIFY_BAD);
  ck_assert_msg(strstr(r.reason, "too large"), "%s", r.reason);
  free(big);
  /* An OpenPGP block against ssh keys: another format, held. */
  verify_buffer(&k, "x", 1, "-----BEGIN PGP SIGNATURE-----\n", 30, &r);
  ck_assert_int_eq(r.verdict, VERIFY_UNKNOWN_KEY);
  ck_assert_msg(strstr(r.reason, "the keys are ssh"), "%s", r.reason);
  /* The reason is one line, whatever the tools said. */
  ck_assert_ptr_null(strchr(r.reason, '\n'));
  world_release(&w);
}
END_TEST

START_TEST(ssh_sign_then_verify)
{
  struct world w;
  struct verify_result r;
  struct verify_keys k;
  char *key, *sig = NULL;
  static const char data[] = "tree 0\n\nstatus\n";

  world_init(&w);
  k = (struct verify_keys){VERIFY_SSH, w.allowed};
  key = td_asprintf("%s/alice", w.dir);
  ck_assert_int_eq(verify_sign(key, data, strlen(data), &sig), 0);
  verify_buffer(&k, data, strlen(data), sig, strlen(sig), &r);
  ck_assert_int_eq(r.verdict, VERIFY_GOOD);
  free(sig);
  free(key);
  key = td_asprintf("%s/nobody", w.dir);
  ck_assert_int_eq(verify_sign(key, data, strlen(data), &sig), TD_ERROR);
  ck_assert_ptr_null(sig);
  ck_assert_msg(strstr(td_error_last(), key), "%s", td_error_last());
  free(key);
  world_release(&w);
}
END_TEST

START_TEST(ssh_keys_file_missing_is_named)
{
  struct verify_keys k = {VERIFY_SSH, "/nonexistent/allowed_signers"};
  struct verify_result r;
  static const char sig[] = "-----BEGIN SSH SIGNATURE-----\nAAAA\n"
                            "-----END SSH SIGNATURE-----\n";
  char buf[128];

  verify_buffer(&k, "x", 1, sig, strlen(sig), &r);
  ck_assert_int_eq(r.verdict, VERIFY_ERROR);
  ck_assert_msg(strstr(r.reason, "keys file /nonexistent/allowed_signers"),
                "%s", r.reason);
  ck_assert_int_eq(verify_signers(&k, buf, sizeof(buf)), TD_ERROR);
  ck_assert_msg(strstr(td_error_last(), "/nonexistent/allowed_signers"), "%s",
                td_error_last());
}
END_TEST

START_TEST(ssh_signers_are_the_principals)
{
  char *dir = test_tmpdir();
  char *path = td_asprintf("%s/allowed", dir);
  struct verify_keys k = {VERIFY_SSH, path};
  char buf[256];
  FILE *f = fopen(path, "w");

  fputs("# approvers\n"
        "\n"
        "carol@example.com ssh-ed25519 AAAA carol\n"
        "  dave@example.com,erin@example.com namespaces=\"git\" "
        "ssh-ed25519 AAAA\n"
        "\"frank smith\" ssh-ed25519 AAAA\n",
        f);
  fclose(f);
  ck_assert_int_eq(verify_signers(&k, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "carol@example.com, dave@example.com,erin@example.com, "
                        "frank smith");
  /* Bounded by the buffer, never past it. */
  ck_assert_int_eq(verify_signers(&k, buf, 12), 0);
  ck_assert_uint_lt(strlen(buf), 12);
  test_rm_rf(dir);
  free(dir);
  free(path);
}
END_TEST

START_TEST(describe_says_who)
{
  struct verify_result r = {.verdict = VERIFY_GOOD};
  char buf[256];

  snprintf(r.reason, sizeof(r.reason), "signed by a (SHA256:x)");
  verify_describe(&r, buf, sizeof(buf));
  ck_assert_str_eq(buf, "signed by a (SHA256:x)");
  snprintf(r.tag, sizeof(r.tag), "approved/v1");
  verify_describe(&r, buf, sizeof(buf));
  ck_assert_str_eq(buf, "approved by tag approved/v1, signed by a (SHA256:x)");
  r.verdict = VERIFY_UNSIGNED;
  verify_describe(&r, buf, sizeof(buf));
  ck_assert_str_eq(buf, "not signed");
}
END_TEST

/* ---- config ---- */

static char *config_problems(const char *text, struct config **out)
{
  struct diag_list d = DIAG_LIST_INIT;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  *out = NULL;
  config_parse("tenantd.yaml", text, strlen(text), out, &d);
  diag_sort(&d);
  diag_print_text(&d, f);
  fclose(f);
  diag_list_release(&d);
  return buf;
}

START_TEST(config_trust_keys)
{
  struct config *c;
  char *p = config_problems(
      "source: {url: file:///r.git,\n"
      "         verify: {format: ssh, keys: /etc/tenantd/committers}}\n"
      "approval: {environments: [production, prod-eu], format: openpgp,\n"
      "           keys: /etc/tenantd/approvers.asc}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n",
      &c);

  ck_assert_str_eq(p, "");
  ck_assert(c->source.verify.set);
  ck_assert_int_eq(c->source.verify.format, VERIFY_SSH);
  ck_assert_str_eq(c->source.verify.keys, "/etc/tenantd/committers");
  ck_assert(c->approval.keys.set);
  ck_assert_int_eq(c->approval.keys.format, VERIFY_OPENPGP);
  ck_assert_uint_eq(c->approval.nenvironments, 2);
  ck_assert_str_eq(c->approval.environments[1], "prod-eu");
  config_free(c);
  free(p);
}
END_TEST

START_TEST(config_trust_problems_have_positions)
{
  struct config *c;
  char *p = config_problems(
      "source: {url: file:///r.git, verify: {format: x509, keys: k,\n"
      "         extra: 1}}\n"
      "approval: {environments: [Production], format: ssh}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n",
      &c);

  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(p, "tenantd.yaml:1:47: error: 'format' must be ssh or "
                          "openpgp"),
                "%s", p);
  ck_assert_msg(strstr(p, "tenantd.yaml:2:10: error: unknown key 'extra' in "
                          "source.verify"),
                "%s", p);
  ck_assert_msg(strstr(p, "tenantd.yaml:3:11: error: 'approval' needs format "
                          "(ssh or openpgp) and keys"),
                "%s", p);
  ck_assert_msg(strstr(p, "tenantd.yaml:3:27: error: an approval environment "
                          "must be an environment name"),
                "%s", p);
  free(p);
}
END_TEST

/* ---- statuses ---- */

START_TEST(status_trust_conditions_only_once_set)
{
  struct tenant_status *st = tenant_status_new("acme"), *back = NULL;
  char *text;

  tenant_status_set(st, STATUS_READY, true, "Applied", "ok", "T");
  text = tenant_status_format(st);
  ck_assert_ptr_null(strstr(text, "SourceUntrusted"));
  ck_assert_ptr_null(strstr(text, "AwaitingApproval"));
  free(text);
  tenant_status_set(st, STATUS_SOURCE_UNTRUSTED, false, "Verified", NULL, "T");
  tenant_status_set(st, STATUS_AWAITING_APPROVAL, true, "AwaitingApproval",
                    "1 change to production waits", "T");
  text = tenant_status_format(st);
  ck_assert_msg(strstr(text, "  - type: SourceUntrusted\n    status: "
                             "\"False\"\n    reason: Verified\n"),
                "%s", text);
  ck_assert_int_eq(tenant_status_parse(text, strlen(text), &back), 0);
  ck_assert(back->cond[STATUS_AWAITING_APPROVAL].status);
  ck_assert_str_eq(back->cond[STATUS_SOURCE_UNTRUSTED].reason, "Verified");
  free(text);
  tenant_status_free(back);
  tenant_status_free(st);
}
END_TEST

START_TEST(statusview_trust_states)
{
  struct tenant_status *st = tenant_status_new("acme");
  json_t *row;

  tenant_status_set(st, STATUS_READY, false, "SourceUntrusted",
                    "source untrusted: commit abc: not signed", "T");
  tenant_status_set(st, STATUS_SOURCE_UNTRUSTED, true, "Untrusted",
                    "source untrusted: commit abc: not signed", "T");
  ck_assert_int_eq(statusview_state(st), TENANT_SOURCE_UNTRUSTED);
  row = statusview_row("acme", st, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(row, "message")),
                   "source untrusted: commit abc: not signed");
  json_decref(row);
  tenant_status_set(st, STATUS_SOURCE_UNTRUSTED, false, "Verified", NULL, "T");
  tenant_status_set(st, STATUS_READY, false, "AwaitingApproval", "waits", "T");
  tenant_status_set(st, STATUS_AWAITING_APPROVAL, true, "AwaitingApproval",
                    "1 change to production waits", "T");
  ck_assert_int_eq(statusview_state(st), TENANT_AWAITING_APPROVAL);
  /* A failure wins over waiting. */
  tenant_status_set(st, STATUS_READY, false, "ApplyFailed", "boom", "T");
  ck_assert_int_eq(statusview_state(st), TENANT_FAILED);
  tenant_status_free(st);
}
END_TEST

START_TEST(id_environment)
{
  char env[64];

  ck_assert_uint_eq(
      naming_id_environment("network/acme.production", env, sizeof(env)), 10);
  ck_assert_str_eq(env, "production");
  naming_id_environment("service/web.staging.acme", env, sizeof(env));
  ck_assert_str_eq(env, "staging");
  naming_id_environment("dns_record/api.prod.acme.alias.x.example", env,
                        sizeof(env));
  ck_assert_str_eq(env, "prod");
  ck_assert_uint_eq(naming_id_environment("database/acme", env, sizeof(env)),
                    0);
  ck_assert_str_eq(env, "");
  ck_assert_uint_eq(naming_id_environment("nothing", env, sizeof(env)), 0);
  ck_assert_uint_eq(naming_id_environment("x/a..b", env, sizeof(env)), 0);
  ck_assert_uint_eq(naming_id_environment("x/a.production", env, 4), 0);
}
END_TEST

Suite *make_suite_verify(void)
{
  Suite *s = suite_create("verify");
  TCase *tc = tcase_create("verify");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tag_split_finds_the_signature_block);
  tcase_add_test(tc, tag_split_edge_cases);
  tcase_add_test(tc, ssh_good_bad_unknown);
  tcase_add_test(tc, ssh_hostile_signatures);
  tcase_add_test(tc, ssh_sign_then_verify);
  tcase_add_test(tc, ssh_keys_file_missing_is_named);
  tcase_add_test(tc, ssh_signers_are_the_principals);
  tcase_add_test(tc, describe_says_who);
  tcase_add_test(tc, config_trust_keys);
  tcase_add_test(tc, config_trust_problems_have_positions);
  tcase_add_test(tc, status_trust_conditions_only_once_set);
  tcase_add_test(tc, statusview_trust_states);
  tcase_add_test(tc, id_environment);
  suite_add_tcase(s, tc);
  return s;
}
