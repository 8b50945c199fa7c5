/* The copy-and-compare fallback for RUN where overlay cannot be mounted: snapshot the
 * tree before and after the command and write what changed as overlay would have left it
 * in an upper dir:
 *   - new or changed entries in full (a change is a new inode or a new ctime, which any
 *     write, chmod, chown or rename sets), with the directories above them;
 *   - a deleted entry as a 0/0 character device (only the top-most deleted path);
 *   - a directory that replaced something that was there before (deleted, then made
 *     again) marked trusted.overlay.opaque=y, with everything in it.
 * Brand-new directories are not opaque, as overlayfs does not mark them either. */
#pragma once

#include "error.h"
#include "layer-writer.h"

struct run_snapshot;

int run_snapshot_take(const char *root, struct run_snapshot **ret, struct errbuf *err);
void run_snapshot_free(struct run_snapshot *s);

int run_diff_write(const char *root, const struct run_snapshot *before,
		   const struct run_snapshot *after, struct layer_writer *w, struct errbuf *err);

/* Orders paths as a depth-first walk with sorted siblings does ("a", "a/x", "a-b"). */
int run_diff_path_cmp(const char *a, const char *b);
