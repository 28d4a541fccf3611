/*
 * libFuzzer target: arbitrary bytes as a tenant file (and, from the same
 * input, as platform.yaml), through the YAML tree, the decoder and every
 * repository-wide check.  Run with `make fuzz` (clang, ASan+UBSan); the
 * fixture corpus in tests/fixtures seeds it.
 */
#include "base/compat.h"

#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char platform[] =
      "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: f}\n"
      "spec: {domains: {public: f.io, private: f.internal}, "
      "ingress: {public: lb.f.io}}\n";
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;

  /* Once as a tenant next to a valid platform... */
  manifest_files_add(&files, "platform.yaml", platform, sizeof(platform) - 1);
  manifest_files_add(&files, "tenants/fuzz.yaml", (const char *)data, size);
  manifest_repo_load(&repo, &files, NULL);
  manifest_repo_free(repo);
  /* ...and once as the platform and the tier catalog. */
  manifest_files_add(&files, "platform.yaml", (const char *)data, size);
  manifest_files_add(&files, "tiers.yaml", (const char *)data, size);
  manifest_repo_load(&repo, &files, NULL);
  manifest_repo_free(repo);
  manifest_files_release(&files);
  return 0;
}
