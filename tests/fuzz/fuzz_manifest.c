/*
 * libFuzzer target: arbitrary bytes as a tenant file (and, from the same
 * input, as platform.yaml), through the YAML tree, the decoder and every
 * repository-wide check; and the input's first line as a tenant file's
 * name.  Whatever the bytes, every diagnostic must be valid UTF-8 with no
 * control character: the target aborts on one that is not.  Run with
 * `make fuzz` (clang, ASan+UBSan); the fixture corpus in tests/fixtures
 * seeds it.
 */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/strutil.h"
#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t len = strlen(s);

  for (size_t i = 0; i < len;) {
    size_t n = str_utf8_seq(p + i, len - i);

    if (n == 0 || p[i] < 0x20 || p[i] == 0x7F ||
        (p[i] == 0xC2 && p[i + 1] <= 0x9F)) {
      fprintf(stderr, "unclean diagnostic text at byte %zu: %s\n", i, s);
      abort();
    }
    i += n;
  }
}

static void load_and_check(const struct manifest_files *files)
{
  struct manifest_repo *repo;

  manifest_repo_load(&repo, files, NULL);
  for (size_t i = 0; i < repo->diags.n; i++) {
    check_text(repo->diags.v[i].path);
    check_text(repo->diags.v[i].msg);
  }
  manifest_repo_free(repo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char platform[] =
      "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: f}\n"
      "spec: {domains: {public: f.io, private: f.internal}, "
      "ingress: {public: lb.f.io}}\n";
  struct manifest_files files = MANIFEST_FILES_INIT;
  const char *text = (const char *)data;
  const char *nl = memchr(text, '\n', size < 64 ? size : 64);
  char path[96];

  /* Once as a tenant next to a valid platform... */
  manifest_files_add(&files, "platform.yaml", platform, sizeof(platform) - 1);
  manifest_files_add(&files, "tenants/fuzz.yaml", text, size);
  load_and_check(&files);
  /* ...under a name made of the first line's bytes (NUL ends it)... */
  snprintf(path, sizeof(path), "tenants/%.*s.yaml",
           (int)(nl ? nl - text : (size < 64 ? (long)size : 64)), text);
  manifest_files_remove(&files, "tenants/fuzz.yaml");
  manifest_files_add(&files, path, text, size);
  load_and_check(&files);
  manifest_files_remove(&files, path);
  /* ...and once as the platform and the tier catalog. */
  manifest_files_add(&files, "platform.yaml", text, size);
  manifest_files_add(&files, "tiers.yaml", text, size);
  load_and_check(&files);
  manifest_files_release(&files);
  return 0;
}
