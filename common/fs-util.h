/* Filesystem helpers that must be right everywhere: directories created whole, files
 * replaced atomically, and paths joined under a root without escaping it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates path and its missing parents; existing directories are fine, an existing
 * non-directory on the way is -ENOTDIR. */
int mkdir_p(const char *path, mode_t mode);

/* Writes a temporary file beside path, fsyncs it, renames it over path and fsyncs the
 * directory: readers see the old content or the new, never a mix, even after a crash. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Creates a new empty file (mode 0600, O_EXCL, O_NOFOLLOW) with a fresh fixed-length
 * name in dirfd, for writing beside a file and renaming over it; returns its fd. */
#define TMPNAME_SIZE 32
int tmpfile_at(int dirfd, char ret_name[TMPNAME_SIZE]);

/* The same as write_file_atomic for name in the directory dirfd (a name, not a path): for writing beneath a
 * directory opened without following symlinks. An existing symlink at name is replaced,
 * never followed. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Joins rel under base lexically: "." and empty components are dropped, ".." goes up but
 * never above base (-EPERM), an absolute rel is -EINVAL. *ret is malloc'd. Symlinks are not
 * resolved: callers that touch the result on disk must also refuse to follow them
 * (openat with O_NOFOLLOW, libarchive's secure flags). */
int path_join_safe(const char *base, const char *rel, char **ret);

/* Opens the directory rel beneath rootfd, one component at a time with O_NOFOLLOW, so a
 * symlink anywhere on the way is refused (-ELOOP or -ENOTDIR) instead of followed out of
 * the tree. "" and "." open rootfd's own directory. With create, missing directories are
 * made (mode 0755). */
int dir_open_beneath(int rootfd, const char *rel, bool create, int *ret_fd);

/* Removes name in dirfd and, for a directory, everything below it, never following a
 * symlink. A missing name is fine (returns 0). */
int rm_rf_at(int dirfd, const char *name);
