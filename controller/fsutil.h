/*
 * fsutil.h - files that survive a crash whole.
 *
 * fs_write_atomic() writes a temp file ".<name>.XXXXXX" beside the target,
 * syncs it, renames it over the target and syncs the directory, so a crash
 * at any moment leaves either the old file or the new one, never a torn
 * one.  A killed writer can leave its temp file behind; owners of a
 * directory sweep those at startup (their names start with '.').
 *
 * Functions return 0 or a negative errno, so callers can classify the
 * failure (a permission error is not a full disk).
 */
#ifndef TD_FSUTIL_H
#define TD_FSUTIL_H

#include "compat.h"

#include <sys/types.h>

/* Creates `dir` and missing parents with `mode`; 0 when it exists. */
int fs_mkdir_p(const char *dir, mode_t mode);

/* Replaces <dir>/<name> with `len` bytes of `data`, file mode `mode`. */
int fs_write_atomic(const char *dir, const char *name, const char *data,
                    size_t len, mode_t mode);

/*
 * Reads at most `cap` bytes of `path` into a malloc'd buffer: 0 when read
 * (a file longer than `cap` is cut at `cap`; the caller checks *len),
 * 1 when it does not exist, -1 with td_error_last() otherwise.
 */
int fs_read_capped(const char *path, size_t cap, char **out, size_t *len);

/* malloc'd printf; never NULL. */
char *fs_printf(const char *fmt, ...) TD_PRINTF(1, 2);

#endif
