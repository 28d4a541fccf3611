/*
 * internal.h - shared between the manifest module's files only:
 * manifest.c (files, loading, defaults), decode.c (YAML to model) and
 * rules.c (field rules and repository-wide checks).  Nothing outside
 * controller/manifest/ includes it: what others need is in manifest.h,
 * model/naming.h or base/strutil.h.
 */
#ifndef TD_MANIFEST_INTERNAL_H
#define TD_MANIFEST_INTERNAL_H

#include "base/compat.h"

#include "manifest/manifest.h"

/* What one document is being decoded with. */
struct manifest__ctx {
  const char *path;    /* for diagnostics */
  struct arena *arena; /* the document's */
  struct diag_list *diags;
  const char *what; /* the mapping being decoded: "app", "environment" */
};

/* String rules a field may carry; the JSON Schemas spell the same. */
enum manifest__check {
  MF_CHECK_NONE,
  MF_CHECK_LABEL,    /* DNS label */
  MF_CHECK_DNSNAME,  /* dotted DNS name, <= 253 */
  MF_CHECK_HOST,     /* DNS name or IPv4 address */
  MF_CHECK_INSTANCE, /* provider instance name */
  MF_CHECK_ENDPOINT, /* host:port */
  MF_CHECK_URLPATH,  /* starts with '/' */
};

void manifest__error(struct manifest__ctx *cx, const struct ynode *at,
                     const char *fmt, ...) TD_PRINTF(3, 4);

/* Checks `n` (a string scalar) against `check`; reports and returns -1. */
int manifest__check_string(struct manifest__ctx *cx, enum manifest__check check,
                           const char *key, const struct ynode *n);

/* Parses and reports; -1 when `n` is not a canonical IPv4 CIDR. */
int manifest__parse_cidr(struct manifest__ctx *cx, const struct ynode *n,
                         struct mf_cidr *out);

/* The text of a scalar for messages: escaped and cut as
 * yaml_text_escape() does, at most `cap` bytes with the NUL. */
void manifest__value_text(char *out, size_t cap, const struct ynode *n);

struct mf_platform *manifest__decode_platform(struct manifest__ctx *cx,
                                              const struct ynode *root);
struct mf_catalog *manifest__decode_catalog(struct manifest__ctx *cx,
                                            const struct ynode *root);
struct mf_tenant *manifest__decode_tenant(struct manifest__ctx *cx,
                                          const struct ynode *root);

/* ---- work shared out over threads (manifest.c) ---- */

/* Threads for n independent items: `want`, or with 0 one per CPU (one
 * for a few items), at most four. */
unsigned manifest__pool_threads(unsigned want, size_t n);

/* Runs fn(job) on this thread and on nthreads - 1 others, which share
 * the job's items out themselves; a thread that cannot start leaves its
 * share to those that did. */
void manifest__on_threads(void (*fn)(void *), void *job, unsigned nthreads);

/*
 * Checks that span documents: names, tiers, dependencies, CIDRs, derived
 * names.  Adds to repo->diags.  What a tenant document claims (its name,
 * its derived and DNS names, its networks) and what its own rules find
 * are worked out once per document and kept with it; the claims of every
 * document are kept in repo->index, which a reload carries over, so a
 * reload that changed one document checks one document.  `base_changed`:
 * the platform or the catalog is not the one the index was built with,
 * and everything is checked again.  The documents not checked yet are
 * checked on `threads` threads (0: manifest__pool_threads()'s choice);
 * the index takes their claims in path order, so the findings do not
 * depend on the threads.
 */
void manifest__check_repo(struct manifest_repo *repo, bool base_changed,
                          unsigned threads);

/* ---- what documents claim, and the index over them (rules.c, index.c) */

enum manifest__claim_kind {
  CLAIM_TENANT,  /* a tenant's name */
  CLAIM_DERIVED, /* an environment's network, bucket and database name */
  CLAIM_PUBLIC,  /* an app's public record */
  CLAIM_PRIVATE, /* an app's private record */
  CLAIM_ALIAS,   /* an app's alias */
};

/* A name some document claims, with where it claims it.  Strings are the
 * document's (its model, or its rules' arena). */
struct manifest__claim {
  const char *name;
  /* Who claims it: equal owners may repeat a name.  An alias is its own
   * owner, by its index. */
  const char *tenant, *env, *app;
  const char *path;
  struct src_pos pos;
  uint32_t alias;
  uint32_t seq; /* order within the document: the first claim wins */
  /* Last, so a claim takes 64 bytes, not 72: a repository makes a
   * million. */
  enum manifest__claim_kind kind;
};

/* A network, as the overlap sweep sees it. */
struct manifest__net {
  uint32_t first, last;
  const char *text, *tenant, *env, *path;
  struct src_pos pos;
};

/* A tenant document's rules: what they found in it alone, and what it
 * claims across documents; owned by the document (manifest_doc.rules). */
struct manifest__rules {
  struct diag_list diags;
  struct manifest__claim *claims;
  size_t nclaims, claims_alloc;
  struct manifest__net *nets;
  size_t nnets, nets_alloc;
  struct arena mem; /* copies of claimed names */
};

void manifest__rules_free(struct manifest__rules *r);

/* The claims of every document, by name, and the networks in order, with
 * the names claimed twice or more kept at hand (index.c). */
struct manifest__index *manifest__index_new(void);
void manifest__index_free(struct manifest__index *ix);
/* Room for this many more claims of tenant names, derived names and DNS
 * names, so adding them grows nothing. */
void manifest__index_reserve(struct manifest__index *ix,
                             const size_t claims[3]);
/* A document's rules in or out; out before the document is freed. */
void manifest__index_add(struct manifest__index *ix,
                         const struct manifest__rules *r);
void manifest__index_drop(struct manifest__index *ix,
                          const struct manifest__rules *r);
/* The collisions, duplicates and overlaps there are, into `out`: work in
 * proportion to the problems, not to the documents. */
void manifest__index_report(struct manifest__index *ix, struct diag_list *out);

#endif
