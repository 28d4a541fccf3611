/*
 * manifest_internal.h - shared between the manifest module's files only:
 * manifest.c (files, loading, defaults), manifest_decode.c (YAML to model)
 * and manifest_rules.c (string rules and repository-wide checks).
 */
#ifndef TD_MANIFEST_INTERNAL_H
#define TD_MANIFEST_INTERNAL_H

#include "compat.h"

#include "manifest.h"

/* What one document is being decoded with. */
struct mf_ctx {
  const char *path;    /* for diagnostics */
  struct arena *arena; /* the document's */
  struct diag_list *diags;
  const char *what; /* the mapping being decoded: "app", "environment" */
};

/* String rules a field may carry; the JSON Schemas spell the same. */
enum mf_check {
  MF_CHECK_NONE,
  MF_CHECK_LABEL,    /* DNS label */
  MF_CHECK_DNSNAME,  /* dotted DNS name, <= 253 */
  MF_CHECK_HOST,     /* DNS name or IPv4 address */
  MF_CHECK_INSTANCE, /* provider instance name */
  MF_CHECK_ENDPOINT, /* host:port */
  MF_CHECK_URLPATH,  /* starts with '/' */
};

void mf_error(struct mf_ctx *cx, const struct ynode *at, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* Checks `n` (a string scalar) against `check`; reports and returns -1. */
int mf_check_string(struct mf_ctx *cx, enum mf_check check, const char *key,
                    const struct ynode *n);

bool mf_is_label(const char *s);
bool mf_is_dnsname(const char *s);
bool mf_is_ipv4(const char *s, uint32_t *addr);

/* "1h30m" -> 5400000; -1 when malformed. */
int mf_parse_duration(const char *s, int64_t *ms);

/* Parses and reports; -1 when `n` is not a canonical IPv4 CIDR. */
int mf_parse_cidr(struct mf_ctx *cx, const struct ynode *n,
                  struct td_cidr *out);

/* The closest of `cands` to `word` when close enough, or NULL. */
const char *mf_suggest(const char *word, const char *const *cands, size_t n);

/* The text of a scalar (truncated, control bytes escaped) for messages. */
void mf_value_text(char *out, size_t cap, const struct ynode *n);

struct td_platform *mf_decode_platform(struct mf_ctx *cx,
                                       const struct ynode *root);
struct td_catalog *mf_decode_catalog(struct mf_ctx *cx,
                                     const struct ynode *root);
struct td_tenant *mf_decode_tenant(struct mf_ctx *cx, const struct ynode *root);

/* Checks that span documents: names, tiers, dependencies, CIDRs, derived
 * names.  Adds to repo->diags. */
void mf_check_repo(struct manifest_repo *repo);

#endif
