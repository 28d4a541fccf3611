#include "base/compat.h"

#include <check.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "base/error.h"
#include "git/knownhosts.h"
#include "suites.h"

/*
 * Keys and known_hosts files made by ssh-keygen itself: the lines are
 * what ssh-keyscan prints ("host type base64"), and `ssh-keygen -H`
 * hashes a copy.
 */
struct kh {
  char *dir;
  char *plain, *hashed;
  unsigned char *ed, *ed2, *ec, *rsa;
  size_t ed_len, ed2_len, ec_len, rsa_len;
};

static void run(const char *cmd)
{
  ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* The first line of a command's output, newline cut. */
static char *output(const char *cmd)
{
  FILE *p = popen(cmd, "r");
  char line[4096] = "";

  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
  pclose(p);
  line[strcspn(line, "\n")] = '\0';
  return td_strdup(line);
}

/* The raw blob of <dir>/<name>.pub, decoded from its base64. */
static unsigned char *blob(struct kh *k, const char *name, size_t *len)
{
  char *cmd = td_asprintf("cut -d' ' -f2 '%s/%s.pub'", k->dir, name);
  char *b64 = output(cmd);
  size_t n = strlen(b64), pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
  unsigned char *out = td_malloc(n);
  int got = EVP_DecodeBlock(out, (unsigned char *)b64, (int)n);

  ck_assert_int_gt(got, 0);
  *len = (size_t)got - pad;
  free(b64);
  free(cmd);
  return out;
}

static void kh_init(struct kh *k)
{
  static const char *const keys[][2] = {
      {"ed", "ed25519"}, {"ed2", "ed25519"}, {"ec", "ecdsa"}, {"rsa", "rsa"}};
  char *cmd;

  memset(k, 0, sizeof(*k));
  k->dir = test_tmpdir();
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
    cmd = td_asprintf("ssh-keygen -q -t %s %s -N '' -C %s -f '%s/%s'",
                      keys[i][1], strcmp(keys[i][1], "rsa") ? "" : "-b 1024",
                      keys[i][0], k->dir, keys[i][0]);
    run(cmd);
    free(cmd);
  }
  k->plain = td_asprintf("%s/known_hosts", k->dir);
  k->hashed = td_asprintf("%s/hashed", k->dir);
  cmd = td_asprintf(
      "cd '%s' && k() { cut -d' ' -f1,2 $1.pub; } && {"
      " echo '# a comment, then a blank line';"
      " echo; echo \"127.0.0.1,Git.Example.com $(k ed) the comment\";"
      " echo \"[127.0.0.1]:2222 $(k ec)\";"
      " echo \"*.example.org,!bad.example.org $(k ed)\";"
      " echo \"rsa.example.com $(k rsa)\";"
      " echo \"@revoked * $(k rsa)\";"
      " echo \"@cert-authority * $(k ed2)\";"
      "} > known_hosts && cp known_hosts hashed &&"
      " ssh-keygen -q -H -f hashed >/dev/null 2>&1 && grep -q '^|1|' hashed &&"
      " echo garbage | tee -a known_hosts >> hashed",
      k->dir);
  run(cmd);
  free(cmd);
  k->ed = blob(k, "ed", &k->ed_len);
  k->ed2 = blob(k, "ed2", &k->ed2_len);
  k->ec = blob(k, "ec", &k->ec_len);
  k->rsa = blob(k, "rsa", &k->rsa_len);
}

static void kh_release(struct kh *k)
{
  test_rm_rf(k->dir);
  free(k->dir);
  free(k->plain);
  free(k->hashed);
  free(k->ed);
  free(k->ed2);
  free(k->ec);
  free(k->rsa);
}

START_TEST(knownhosts_matches_plain_and_hashed_entries)
{
  struct kh k;

  kh_init(&k);
  for (int h = 0; h < 2; h++) {
    const char *f = h ? k.hashed : k.plain;

    ck_assert_msg(knownhosts_check(f, "127.0.0.1", 22, k.ed, k.ed_len) == 0,
                  "%s", td_error_last());
    /* Host names are compared without case, as ssh does. */
    ck_assert_int_eq(knownhosts_check(f, "GIT.example.COM", 22, k.ed, k.ed_len),
                     0);
    ck_assert_int_eq(knownhosts_check(f, "127.0.0.1", 2222, k.ec, k.ec_len), 0);
    /* Port 22 is the plain name; another port is [host]:port only. */
    ck_assert_int_eq(knownhosts_check(f, "127.0.0.1", 22, k.ec, k.ec_len),
                     TD_ENOTFOUND);
    ck_assert_int_eq(knownhosts_check(f, "127.0.0.1", 2200, k.ed, k.ed_len),
                     TD_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(td_error_last(), "[127.0.0.1]:2200"));
    /* Wildcards and negation (never hashed by ssh-keygen). */
    ck_assert_int_eq(knownhosts_check(f, "git.example.org", 22, k.ed, k.ed_len),
                     0);
    ck_assert_int_eq(knownhosts_check(f, "bad.example.org", 22, k.ed, k.ed_len),
                     TD_ENOTFOUND);
  }
  kh_release(&k);
}
END_TEST

START_TEST(knownhosts_says_what_to_add)
{
  struct kh k;
  char fp[KNOWNHOSTS_FP_LEN], *cmd, *want, *line;

  kh_init(&k);
  /* The fingerprint is ssh-keygen's own. */
  knownhosts_fingerprint(k.ed2, k.ed2_len, fp);
  cmd = td_asprintf("ssh-keygen -E sha256 -lf '%s/ed2.pub' | cut -d' ' -f2",
                    k.dir);
  want = output(cmd);
  ck_assert_str_eq(fp, want);
  free(cmd);
  free(want);
  /* The line to add is the key file's, with the host in front. */
  line = knownhosts_line("10.9.9.9", 2200, k.ed2, k.ed2_len);
  cmd = td_asprintf("echo \"[10.9.9.9]:2200 $(cut -d' ' -f1,2 '%s/ed2.pub')\"",
                    k.dir);
  want = output(cmd);
  ck_assert_str_eq(line, want);
  free(cmd);
  ck_assert_int_eq(
      knownhosts_check(k.hashed, "10.9.9.9", 2200, k.ed2, k.ed2_len),
      TD_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(td_error_last(), fp));
  ck_assert_ptr_nonnull(strstr(td_error_last(), want));
  ck_assert_ptr_nonnull(strstr(td_error_last(), "unknown"));
  free(want);
  free(line);
  kh_release(&k);
}
END_TEST

START_TEST(knownhosts_refuses_a_changed_or_revoked_key)
{
  struct kh k;
  char fp[KNOWNHOSTS_FP_LEN];

  kh_init(&k);
  knownhosts_fingerprint(k.ed2, k.ed2_len, fp);
  for (int h = 0; h < 2; h++) {
    const char *f = h ? k.hashed : k.plain;

    /* Another key of a type the file holds for the host: changed. */
    ck_assert_int_eq(knownhosts_check(f, "127.0.0.1", 22, k.ed2, k.ed2_len),
                     TD_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(td_error_last(), "CHANGED"));
    ck_assert_ptr_nonnull(strstr(td_error_last(), fp));
    ck_assert_ptr_nonnull(strstr(td_error_last(), ":3 "));
    /* Listed for the host, and @revoked: refused all the same. */
    ck_assert_int_eq(
        knownhosts_check(f, "rsa.example.com", 22, k.rsa, k.rsa_len),
        TD_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(td_error_last(), "@revoked"));
    /* A @cert-authority line is no host key. */
    ck_assert_int_eq(knownhosts_check(f, "other.host", 22, k.ed2, k.ed2_len),
                     TD_ENOTFOUND);
  }
  kh_release(&k);
}
END_TEST

START_TEST(knownhosts_handles_bad_input)
{
  static const unsigned char junk[] = {0, 0, 0, 200, 's', 's', 'h'};
  struct kh k;
  char *path;
  FILE *f;

  kh_init(&k);
  /* No file: every host is unknown, and the message says where. */
  path = td_asprintf("%s/missing", k.dir);
  ck_assert_int_eq(knownhosts_check(path, "h", 22, k.ed, k.ed_len),
                   TD_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(td_error_last(), path));
  /* A malformed key blob from the server. */
  ck_assert_int_eq(knownhosts_check(k.plain, "h", 22, junk, sizeof(junk)),
                   TD_ERROR);
  ck_assert_ptr_null(knownhosts_line("h", 22, junk, sizeof(junk)));
  /* Broken lines are skipped, never matched. */
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "h ssh-ed25519\nh ssh-ed25519 !!!!\n|1|x|y ssh-ed25519 AAAA\n"
             "@revoked\n|1|\n");
  fclose(f);
  ck_assert_int_eq(knownhosts_check(path, "h", 22, k.ed, k.ed_len),
                   TD_ENOTFOUND);
  free(path);
  kh_release(&k);
}
END_TEST

Suite *make_suite_knownhosts(void)
{
  Suite *s = suite_create("knownhosts");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, knownhosts_matches_plain_and_hashed_entries);
  tcase_add_test(tc, knownhosts_says_what_to_add);
  tcase_add_test(tc, knownhosts_refuses_a_changed_or_revoked_key);
  tcase_add_test(tc, knownhosts_handles_bad_input);
  suite_add_tcase(s, tc);
  return s;
}
