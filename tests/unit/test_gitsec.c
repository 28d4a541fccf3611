#include "base/compat.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "base/error.h"
#include "git/gitstream.h"
#include "git/source_git.h"
#include "server/config.h"
#include "suites.h"

/* The Git source against hostile or broken circumstances: a mirror left
 * locked by a killed process, a server that never answers, passwords
 * that used to leak or hang. */

struct fx {
  char *dir, *remote, *cache;
};

static void run(const char *cmd)
{
  ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* A bare remote whose main holds one commit (another with `more`). */
static void commit(struct fx *f, const char *name)
{
  char *cmd = td_asprintf(
      "cd '%s' && git -c user.name=t -c user.email=t@e -c "
      "init.defaultBranch=main clone -q remote.git wc 2>/dev/null; cd wc && "
      "git checkout -q -B main && echo x > %s && git add -A && "
      "git -c user.name=t -c user.email=t@e commit -q -m %s && "
      "git push -q origin main",
      f->dir, name, name);

  run(cmd);
  free(cmd);
}

static void fx_init(struct fx *f)
{
  char *cmd;

  f->dir = test_tmpdir();
  f->remote = td_asprintf("%s/remote.git", f->dir);
  f->cache = td_asprintf("%s/cache", f->dir);
  cmd = td_asprintf("git init -q --bare -b main '%s'", f->remote);
  run(cmd);
  free(cmd);
  commit(f, "one");
}

static void fx_release(struct fx *f)
{
  test_rm_rf(f->dir);
  free(f->dir);
  free(f->remote);
  free(f->cache);
}

static struct source *fx_open(struct fx *f, const char *url)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  struct source *s;

  o.url = url;
  o.cache_dir = f->cache;
  o.timeout_ms = 700;
  ck_assert_msg(source_open(&s, &o) == 0, "%s", td_error_last());
  return s;
}

/* Creates <mirror>/<rel> (and its directory) as an empty file. */
static void plant(const char *mirror, const char *rel)
{
  char *path = td_asprintf("%s/%s", mirror, rel);
  char *cmd =
      td_asprintf("mkdir -p \"$(dirname '%s')\" && : > '%s'", path, path);

  run(cmd);
  free(cmd);
  free(path);
}

static bool exists(const char *mirror, const char *rel)
{
  char *path = td_asprintf("%s/%s", mirror, rel);
  struct stat st;
  bool yes = stat(path, &st) == 0;

  free(path);
  return yes;
}

START_TEST(source_removes_a_dead_writers_locks)
{
  static const char *const locks[] = {
      "refs/heads/tenantd/status.lock",
      "refs/remotes/origin/main.lock",
      "refs/notes/tenantd.lock",
      "refs/tenantd/origin-notes.lock",
      "packed-refs.lock",
      "config.lock",
      "index.lock",
      "HEAD.lock",
      "objects/pack/pack_git2_0123456789abidx.lock",
  };
  struct fx f;
  struct source *s;
  char *mirror, before[41], after[41];
  git_oid oid;
  git_reference *ref = NULL;

  fx_init(&f);
  s = fx_open(&f, f.remote);
  ck_assert_msg(source_fetch(s) == 0, "%s", td_error_last());
  ck_assert_int_eq(source_head(s, before), 0);
  mirror = td_strdup(git_repository_path(source_repo(s)));
  source_close(s);
  /* What a process killed in the middle of a pass leaves behind. */
  for (size_t i = 0; i < ARRAY_SIZE(locks); i++)
    plant(mirror, locks[i]);
  commit(&f, "two");
  s = fx_open(&f, f.remote);
  for (size_t i = 0; i < ARRAY_SIZE(locks); i++)
    ck_assert_msg(!exists(mirror, locks[i]), "%s is still there", locks[i]);
  /* Every ref those locks guarded can be written again. */
  ck_assert_msg(source_fetch(s) == 0, "%s", td_error_last());
  ck_assert_int_eq(source_head(s, after), 0);
  ck_assert_str_ne(before, after);
  ck_assert_int_eq(git_oid_fromstr(&oid, after), 0);
  ck_assert_int_eq(git_reference_create(&ref, source_repo(s),
                                        "refs/heads/tenantd/status", &oid, 1,
                                        "test"),
                   0);
  git_reference_free(ref);
  source_close(s);
  free(mirror);
  fx_release(&f);
}
END_TEST

/* A TCP port on 127.0.0.1 that accepts connections (the kernel does,
 * from the backlog) and never answers. */
static int silent_listener(int *port)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  ck_assert_int_ge(fd, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(listen(fd, 16), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

START_TEST(source_fetch_gives_up_on_a_silent_server)
{
  static const char *const schemes[] = {"http", "https", "ssh", "git"};
  struct fx f;
  int port, fd;

  fx_init(&f);
  fd = silent_listener(&port);
  for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
    char *url = td_asprintf("%s://127.0.0.1:%d/t.git", schemes[i], port);
    struct source *s = fx_open(&f, url);
    uint64_t t0 = gitstream_now_ms(), took;
    char want[128];

    /* libgit2 1.5.1 leaks two strings on every ssh connection (its
     * load_known_hosts() clears instead of disposing them): not ours. */
#if defined(__SANITIZE_ADDRESS__)
    __lsan_disable();
#endif
    ck_assert_int_eq(source_fetch(s), TD_ERROR);
#if defined(__SANITIZE_ADDRESS__)
    __lsan_enable();
#endif
    took = gitstream_now_ms() - t0;
    /* ssh's wait is cut by the watchdog, the others' by poll(). */
    ck_assert_msg(took >= 690 && took < 3000, "%s: %llu ms", url,
                  (unsigned long long)took);
    snprintf(want, sizeof(want), "fetch from %s timed out after 700ms", url);
    ck_assert_msg(strstr(td_error_last(), want), "%s", td_error_last());
    ck_assert_int_eq(source_head(s, want), TD_ENOTFOUND);
    source_close(s);
    free(url);
  }
  close(fd);
  fx_release(&f);
}
END_TEST

START_TEST(source_messages_hold_no_password)
{
  static const char *const cases[][3] = {
      /* URL, its password, what the URL shows instead */
      {"http://me:p@ss@127.0.0.1:9/t.git", "p@ss",
       "http://me:***@127.0.0.1:9/t.git"},
      {"http://me:***@127.0.0.1:9/t.git", "***",
       "http://me:[redacted]@127.0.0.1:9/t.git"},
      {"http://me:s%40cret@127.0.0.1:9/t.git", "s@cret",
       "http://me:***@127.0.0.1:9/t.git"},
  };
  struct fx f;

  fx_init(&f);
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct source *s = fx_open(&f, cases[i][0]);

    ck_assert_str_eq(source_url(s), cases[i][2]);
    /* Port 9 refuses: the message names the URL, never the password. */
    ck_assert_int_eq(source_fetch(s), TD_ERROR);
    ck_assert_msg(!strstr(td_error_last(), cases[i][1]), "%s", td_error_last());
    ck_assert_ptr_nonnull(strstr(td_error_last(), "127.0.0.1"));
    source_close(s);
  }
  fx_release(&f);
}
END_TEST

/* A push to a repository on this machine killed in the middle leaves
 * the remote's ref locked: the journal it left says the lock is its. */
START_TEST(source_push_clears_a_dead_pushs_remote_lock)
{
  static const char *const specs[] = {"refs/notes/tenantd:refs/notes/tenantd"};
  struct fx f;
  struct source *s;
  char head[41], *cmd;
  git_oid oid;
  git_reference *ref = NULL;

  fx_init(&f);
  s = fx_open(&f, f.remote);
  ck_assert_msg(source_fetch(s) == 0, "%s", td_error_last());
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_int_eq(git_oid_fromstr(&oid, head), 0);
  ck_assert_int_eq(git_reference_create(&ref, source_repo(s), SOURCE_NOTES_REF,
                                        &oid, 1, "test"),
                   0);
  git_reference_free(ref);
  /* Anyone else's lock (no journal names it) is respected. */
  plant(f.remote, "refs/notes/tenantd.lock");
  ck_assert_int_lt(source_push(s, specs, 1), 0);
  ck_assert(exists(f.remote, "refs/notes/tenantd.lock"));
  ck_assert(!exists(f.remote, "refs/notes/tenantd"));
  /* A dead push's: its journal names the ref. */
  cmd = td_asprintf("echo refs/notes/tenantd > '%s/tenantd-push'", f.remote);
  run(cmd);
  free(cmd);
  ck_assert_msg(source_push(s, specs, 1) == 0, "%s", td_error_last());
  ck_assert(!exists(f.remote, "refs/notes/tenantd.lock"));
  ck_assert(exists(f.remote, "refs/notes/tenantd"));
  source_close(s);
  fx_release(&f);
}
END_TEST

/* The source.* keys of the controller's config that guard the source. */
START_TEST(config_reads_the_source_security_keys)
{
  static const char good[] =
      "source: {url: ssh://git@h/t.git, timeout: 2s, allowInsecure: true,\n"
      "         knownHosts: /etc/tenantd/known_hosts}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n";
  static const char plain[] =
      "source: {url: ssh://git@h/t.git}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n";
  static const char bad[] =
      "source: {url: ssh://git@h/t.git, timeout: 10ms, allowInsecure: 1,\n"
      "         knownHosts: ''}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n";
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c = NULL;

  ck_assert_int_eq(config_parse("t.yaml", good, strlen(good), &c, &d), 0);
  ck_assert_uint_eq(c->source.timeout_ms, 2000);
  ck_assert(c->source.allow_insecure);
  ck_assert_str_eq(c->source.known_hosts, "/etc/tenantd/known_hosts");
  config_free(c);
  /* Unsaid: the source's defaults (60s, ~/.ssh/known_hosts, secure). */
  ck_assert_int_eq(config_parse("t.yaml", plain, strlen(plain), &c, &d), 0);
  ck_assert_uint_eq(c->source.timeout_ms, 0);
  ck_assert(!c->source.allow_insecure);
  ck_assert_ptr_null(c->source.known_hosts);
  config_free(c);
  ck_assert_int_eq(config_parse("t.yaml", bad, strlen(bad), &c, &d), -1);
  ck_assert_uint_eq(d.n, 3);
  diag_list_release(&d);
}
END_TEST

Suite *make_suite_gitsec(void)
{
  Suite *s = suite_create("gitsec");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, source_removes_a_dead_writers_locks);
  tcase_add_test(tc, source_push_clears_a_dead_pushs_remote_lock);
  tcase_add_test(tc, source_fetch_gives_up_on_a_silent_server);
  tcase_add_test(tc, source_messages_hold_no_password);
  tcase_add_test(tc, config_reads_the_source_security_keys);
  suite_add_tcase(s, tc);
  return s;
}
