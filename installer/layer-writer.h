/* Writes an image layer into the store: a pax tar, zstd-compressed, entries sorted by
 * path, numeric owners, modes, mtimes and xattrs kept (file capabilities included), no
 * atime/ctime, so the same tree gives the same bytes and the same digest. The blob is
 * what later travels to hosts, so it is compressed once, here.
 *
 * Whiteouts are written as overlay keeps them: a character device 0/0 for a deleted
 * entry, trusted.overlay.opaque=y on a directory that hides what was below it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "image-store.h"

struct layer_writer;

struct layer_info {
	char *digest;	/* sha256:… of the compressed blob (the layer's id) */
	char *diff_id;	/* sha256:… of the tar */
	uint64_t size;	/* of the blob */
	uint64_t entries;
};

int layer_writer_new(struct image_store *st, struct layer_writer **ret, struct errbuf *err);

/* From now on every entry is owned 0:0, whoever owns the file on disk: a COPY must not
 * carry the build machine's users into the image. */
void layer_writer_set_root_owned(struct layer_writer *w);

/* A directory entry with fixed metadata (root-owned, mode, mtime 0): parents of a COPY
 * destination, which have no source on disk. */
int layer_writer_add_dir(struct layer_writer *w, const char *path, mode_t mode,
			 struct errbuf *err);

/* disk_path (a file, symlink or directory, recursively) as layer_path. With layer_path ""
 * only the directory's content is added (an overlay upper dir as a whole layer). */
int layer_writer_add_tree(struct layer_writer *w, const char *disk_path, const char *layer_path,
			  struct errbuf *err);

/* One entry, not recursing into a directory; opaque adds trusted.overlay.opaque=y. */
int layer_writer_add_entry(struct layer_writer *w, const char *disk_path, const char *layer_path,
			   bool opaque, struct errbuf *err);

/* An overlay whiteout (character device 0/0) at path. */
int layer_writer_add_whiteout(struct layer_writer *w, const char *path, struct errbuf *err);

/* Completes the blob and frees w (also on error). */
int layer_writer_finish(struct layer_writer *w, struct layer_info *ret, struct errbuf *err);
void layer_writer_abort(struct layer_writer *w);
void layer_info_release(struct layer_info *li);
