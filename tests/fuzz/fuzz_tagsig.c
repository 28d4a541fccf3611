/*
 * libFuzzer target: a tag object's raw content, as a remote may send it,
 * through verify_tag_split().  The invariants: it reads only the bytes it
 * is given (the input is copied to a buffer of exactly that size, so
 * ASan sees any read past it), and a split is exact: the payload and the
 * signature are the whole input, the signature begins a line and begins
 * with a signature marker.  Run with `make build/fuzz/fuzz_tagsig` and
 * ./build/fuzz/fuzz_tagsig.
 */
#include "base/compat.h"

#include "git/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *raw = td_malloc(size ? size : 1);
  size_t payload = 0, siglen = 0;
  const char *sig = NULL;

  memcpy(raw, data, size);
  if (verify_tag_split(raw, size, &payload, &sig, &siglen) == 0) {
    if (sig != raw + payload || payload + siglen != size)
      abort();
    if (payload > 0 && raw[payload - 1] != '\n')
      abort();
    if (siglen < 11 || memcmp(sig, "-----BEGIN ", 11) != 0)
      abort();
  }
  free(raw);
  return 0;
}
