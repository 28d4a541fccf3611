/*
 * jsoncache.h - jansson's small blocks, kept per thread for reuse.
 *
 * A cold plan builds and frees hundreds of thousands of small JSON values
 * a window at a time (specs, references, fields).  glibc keeps only seven
 * freed blocks of a size per thread at hand, so most of those allocations
 * went through malloc's slower bins: a sixth of a plan's instructions.
 * jsoncache_install() gives jansson allocation functions that keep freed
 * blocks of up to JSONCACHE_MAX_BLOCK bytes in per-thread lists, up to
 * JSONCACHE_THREAD_BYTES a thread, and hand them out again.
 *
 * Every block is an ordinary malloc() block: a value jansson hands out
 * (json_dumps() text) may be freed with free(), and a block malloc'd
 * before the install may be freed through the cache.  A block's size
 * class is read back with malloc_usable_size(), so no header is added.
 *
 * Install once, before any jansson value is made and before any thread
 * starts (json_set_alloc_funcs() is global); main() does.  Under
 * AddressSanitizer the install does nothing, so every block stays
 * visible to it.  jsoncache_flush() frees the calling thread's cached
 * blocks (a thread's are freed when it exits).
 */
#ifndef TD_JSONCACHE_H
#define TD_JSONCACHE_H

#include "base/compat.h"

#define JSONCACHE_MAX_BLOCK 264
#define JSONCACHE_THREAD_BYTES (4 * 1024 * 1024)

void jsoncache_install(void);
void jsoncache_flush(void);

/* The functions installed, for tests. */
void *jsoncache_malloc(size_t n);
void jsoncache_free(void *p);

#endif
