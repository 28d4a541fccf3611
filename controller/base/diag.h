/*
 * diag.h - diagnostics about user input: "path:line:col: error: message".
 *
 * Validation collects every problem it finds into a diag_list instead of
 * stopping at the first, then the caller sorts and prints them.  The list
 * owns copies of paths and messages, so the input they describe may be
 * freed first.
 *
 *   struct diag_list d = DIAG_LIST_INIT;
 *   diag_add(&d, "tenants/a.yaml", 3, 5, "unknown field '%s'", key);
 *   diag_sort(&d);
 *   diag_print_text(&d, stderr);
 *   diag_list_release(&d);
 */
#ifndef TD_DIAG_H
#define TD_DIAG_H

#include "base/compat.h"

#include <stdio.h>

#include "base/arena.h"

/* A place in an input file. */
struct src_pos {
  uint32_t line, col; /* 1-based; 0 when the value was not written */
};

struct diag {
  const char *path; /* relative to the repository root */
  uint32_t line;    /* 1-based; 0 when the problem has no position */
  uint32_t col;     /* 1-based, in characters */
  const char *msg;
};

struct diag_list {
  struct diag *v;
  size_t n, alloc;
  struct arena mem; /* paths and messages */
};

/* clang-format off */
#define DIAG_LIST_INIT {NULL, 0, 0, ARENA_INIT}
/* clang-format on */

void diag_add(struct diag_list *d, const char *path, uint32_t line,
              uint32_t col, const char *fmt, ...) TD_PRINTF(5, 6);

/* Number of diagnostics whose path is `path`. */
size_t diag_count_path(const struct diag_list *d, const char *path);

/* Whether any diagnostic names `path`; the list must be sorted (binary
 * search, for checking every document of a large repository). */
bool diag_sorted_has_path(const struct diag_list *d, const char *path);

/* Orders by path, line, column, then message; drops exact duplicates. */
void diag_sort(struct diag_list *d);

void diag_print_text(const struct diag_list *d, FILE *out);

/* {"valid": bool, "errors": [{"file","line","column","message"}...]} */
void diag_print_json(const struct diag_list *d, FILE *out);

void diag_list_release(struct diag_list *d);

#endif
