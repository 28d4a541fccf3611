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

/* Checks that span documents: names, tiers, dependencies, CIDRs, derived
 * names.  Adds to repo->diags. */
void manifest__check_repo(struct manifest_repo *repo);

#endif
