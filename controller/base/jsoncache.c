#include "base/compat.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>

#include "base/jsoncache.h"

/*
 * Bin b holds blocks of at least bin_cap(b) usable bytes: 24, 40, 56, ...
 * up to JSONCACHE_MAX_BLOCK, the sizes glibc's malloc hands out.  A freed
 * block goes in the largest bin it fills and a request takes from the
 * smallest bin that holds it, so a block handed out is always big enough
 * whatever the malloc underneath rounds to.  Bin 0 is not used.
 */
#define NBINS ((JSONCACHE_MAX_BLOCK - 8) / 16 + 1)

struct free_block {
  struct free_block *next;
};

struct thread_cache {
  struct free_block *bins[NBINS];
  size_t bytes;    /* bin_cap() of every block held */
  bool registered; /* freed when the thread exits */
};

static __thread struct thread_cache cache;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static size_t bin_cap(size_t b)
{
  return 16 * b + 8;
}

static void flush(struct thread_cache *c)
{
  for (size_t b = 1; b < NBINS; b++)
    while (c->bins[b]) {
      struct free_block *x = c->bins[b];

      c->bins[b] = x->next;
      free(x);
    }
  c->bytes = 0;
}

static void on_thread_exit(void *arg)
{
  flush(arg);
}

static void make_key(void)
{
  if (pthread_key_create(&exit_key, on_thread_exit) != 0)
    abort();
}

void *jsoncache_malloc(size_t n)
{
  size_t b = n <= bin_cap(1) ? 1 : (n - 8 + 15) / 16;
  struct free_block *x;

  if (b >= NBINS || !cache.bins[b])
    return malloc(n);
  x = cache.bins[b];
  cache.bins[b] = x->next;
  cache.bytes -= bin_cap(b);
  return x;
}

void jsoncache_free(void *p)
{
  struct free_block *x = p;
  size_t usable, b;

  if (!p)
    return;
  usable = malloc_usable_size(p);
  b = usable < bin_cap(1) ? 0 : (usable - 8) / 16;
  if (b == 0 || b >= NBINS ||
      cache.bytes + bin_cap(b) > JSONCACHE_THREAD_BYTES) {
    free(p);
    return;
  }
  if (!cache.registered) {
    pthread_once(&key_once, make_key);
    pthread_setspecific(exit_key, &cache);
    cache.registered = true;
  }
  x->next = cache.bins[b];
  cache.bins[b] = x;
  cache.bytes += bin_cap(b);
}

void jsoncache_flush(void)
{
  flush(&cache);
}

void jsoncache_install(void)
{
#if !defined(__SANITIZE_ADDRESS__)
  json_set_alloc_funcs(jsoncache_malloc, jsoncache_free);
#endif
}
