/* Reading an image's rootfs without ever leaving it. Everything in a rootfs comes from an
 * image, so a symlink there may name any file of the host (`statics -> /etc`,
 * `etc/x.service -> /etc/shadow`). Every path is resolved beneath a root fd one component
 * at a time with O_NOFOLLOW:
 *   - by default no symlink is followed: one on the way is -ELOOP;
 *   - with ROOTFS_FOLLOW_INSIDE a symlink is followed when its target stays beneath the
 *     root, checked hop by hop as the kernel would resolve it; an absolute target or one
 *     that climbs above the root is -EXDEV (a followed absolute target would be the
 *     host's file, not the image's);
 *   - only regular files are opened for reading (never a fifo, device, socket).
 * Every error names the path relative to the root and says why, in err. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"

enum {
	ROOTFS_FOLLOW_INSIDE = 1 << 0,
};

/* Opens the regular file rel beneath rootfd read-only (O_CLOEXEC). */
int rootfs_open_file(int rootfd, const char *rel, unsigned flags, int *ret_fd, struct errbuf *err);

/* The same, read whole into b (its cap applies); ret_st (optional) gets its stat. */
int rootfs_read_file(int rootfd, const char *rel, unsigned flags, struct buf *b, struct stat *ret_st,
		     struct errbuf *err);

/* Opens the directory rel beneath rootfd ("" or "." is the root itself); no symlink is
 * followed. */
int rootfs_open_dir(int rootfd, const char *rel, int *ret_fd, struct errbuf *err);

/* -EXDEV naming rel and its target when following the symlink rel would leave the root;
 * 0 when it stays beneath it or leads nowhere (dangling, a loop). */
int rootfs_check_link(int rootfd, const char *rel, struct errbuf *err);

/* "a symlink", "a fifo", "a directory", … for messages */
const char *rootfs_type_name(mode_t m);

struct rootfs_entry {
	const char *rel;  /* path relative to the root, for messages */
	const char *name; /* the entry's name in dirfd */
	int dirfd;	  /* its directory, opened beneath the root */
	struct stat st;	  /* lstat: a symlink is S_ISLNK */
};
typedef int (*rootfs_walk_fn)(const struct rootfs_entry *e, void *data, struct errbuf *err);

/* Calls fn for each entry of the directory rel in name order, and with recursive for the
 * entries below its subdirectories (after the subdirectory itself). Never descends
 * through a symlink; a symlink whose target leaves the root is refused before fn sees it.
 * A missing rel is fine (0, nothing walked); rel being a symlink is refused. Stops at the
 * first fn < 0 and returns it. */
int rootfs_walk(int rootfd, const char *rel, bool recursive, rootfs_walk_fn fn, void *data,
		struct errbuf *err);
