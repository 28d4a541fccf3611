/*
 * fsutil.h - files that survive a crash whole.
 *
 * fs_write_atomic() writes a temp file ".<name>.XXXXXX" beside the target,
 * syncs it, renames it over the target and syncs the directory, so a crash
 * at any moment leaves either the old file or the new one, never a torn
 * one.  A killed writer can leave its temp file behind; the one owner of a
 * directory removes those with fs_sweep_temp() before it writes there.
 *
 * Functions return 0 or a TD code with the message in td_error_last():
 * TD_EPERM when the file system refused access (a permission problem is
 * not a full disk: callers do not retry it), TD_ENOTFOUND where said,
 * TD_ERROR for the rest.  Messages name the path.  Safe on any thread.
 */
#ifndef TD_FSUTIL_H
#define TD_FSUTIL_H

#include "base/compat.h"

#include <sys/types.h>

/* Creates `dir` and missing parents with `mode`; 0 when it exists. */
int fs_mkdir_p(const char *dir, mode_t mode);

/* Replaces <dir>/<name> with `len` bytes of `data`, file mode `mode`. */
int fs_write_atomic(const char *dir, const char *name, const char *data,
                    size_t len, mode_t mode);

/*
 * The same for many files with two flushes in all, rather than two per
 * file: fs_write_temp() writes the temp file (not synced) and hands back
 * its path; once every temp file of a batch is written, one fs_sync()
 * makes them durable (or, for a few, fs_sync_files()); then each is
 * renamed over its target, and one more fs_sync() (or fs_sync_dir() of
 * a directory that was there before) makes the renames durable.  A
 * crash at any moment still leaves old or new files, never torn ones:
 * no temp file is renamed before its bytes are on disk.
 */
int fs_write_temp(const char *dir, const char *name, const char *data,
                  size_t len, mode_t mode, char **tmp);

/*
 * For a file that does not exist yet, fs_write_unnamed() writes its
 * bytes to a file with no name in `dir` (O_TMPFILE), not synced, and
 * leaves *fd open on it; once they are durable (fs_sync(), or
 * fs_sync_fds()), fs_link_unnamed() gives it its name.  Until then it is
 * in no directory: a crash or a close frees it and leaves nothing
 * behind, and making it takes no entry in `dir` to add and then rename
 * away: for 20,000 files in one directory, written and flushed 64 at a
 * time, a fifth less system time here.  Returns 1, with *fd -1 and nothing made, when this file system
 * or process cannot make one (no O_TMPFILE, no descriptor free): the
 * caller writes a temp file with fs_write_temp() instead.
 */
int fs_write_unnamed(const char *dir, const char *data, size_t len, mode_t mode,
                     int *fd);

/*
 * Names the file fs_write_unnamed() made `path`, which must not exist:
 * 0, or -1 with errno set as link(2) sets it (EEXIST: something took
 * the name meanwhile, and is left as it is).  The new entry is durable
 * once `path`'s directory is synced, but the file's link count is in
 * its inode, which on a file system without a journal only fs_sync()
 * writes: callers make a linked file durable with fs_sync().
 */
int fs_link_unnamed(int fd, const char *path);

/* Flushes the file system that holds `path` (syncfs): everything written
 * there before it began, by anyone, is durable once it returns. */
int fs_sync(const char *path);

/*
 * Makes the bytes of each of the `n` files durable (fdatasync), their
 * writebacks started together first so that they share the disk's time.
 * Unlike fs_sync() it does not write out everything else the file
 * system holds unwritten (a journalling file system's commit may still
 * wait for some of it); for a few files it is the cheaper of the two,
 * for dozens fs_sync() is.  Their names in their directories are not
 * made durable: fs_sync_dir() does that.
 */
int fs_sync_files(char *const *paths, size_t n);

/* The same for files open on `fds` (the unnamed files above). */
int fs_sync_fds(const int *fds, size_t n);

/* Up to this many files, fs_sync_files() is the cheaper: measured here,
 * 8 files one by one cost about what one fs_sync() does when nothing
 * else is unwritten (2.6 against 2.2 ms), and less when something is;
 * 64 one by one made a busy writer a quarter slower. */
#define FS_SYNC_FILES_FEW 8

/* Makes the entries of `dir` durable (fsync of the directory): the
 * renames and removals done in it, and the files made there. */
int fs_sync_dir(const char *dir);

/*
 * Reads at most `cap` bytes of `path` into a malloc'd buffer: 0 when read
 * (a file longer than `cap` is cut at `cap`; the caller checks *len),
 * TD_ENOTFOUND when it does not exist.
 */
int fs_read_capped(const char *path, size_t cap, char **out, size_t *len);

/* Whether `name` is a temp file fs_write_atomic() made for a target whose
 * name ends in `suffix`: ".<stem><suffix>.XXXXXX". */
bool fs_is_temp_name(const char *name, const char *suffix);

/* Removes the temp files of targets ending in `suffix` from `dir`, which
 * the caller owns (a dead writer's leftovers); a missing `dir` is fine.
 * Names whose last six bytes are `spare` (NULL: none) are files the owner
 * set aside on purpose and stay.  Returns how many were removed. */
size_t fs_sweep_temp(const char *dir, const char *suffix, const char *spare);

/* The TD code for an errno: TD_EPERM, TD_ENOTFOUND or TD_ERROR. */
int fs_errno_code(int e);

#endif
