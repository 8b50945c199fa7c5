/* Applying image layers to a directory (flattening). A layer is a tar stream, plain or
 * compressed (gzip, zstd, xz, bzip2, lz4). Layers apply in order; deletions travel in
 * either of two forms, both honoured:
 *   - overlay (what an overlay upper dir holds, cirun's own build output): a character
 *     device 0/0 named like the deleted entry; a directory with the xattr
 *     trusted.overlay.opaque=y hides everything lower layers had below it;
 *   - OCI: an empty file ".wh.NAME" deletes NAME; ".wh..wh..opq" makes its directory
 *     opaque.
 * Whiteouts and opaque markers affect only what earlier layers put there, never entries of
 * the same layer, and never appear in the result.
 *
 * Extraction goes through libarchive's secure mode (no "..", no absolute paths, no writes
 * through symlinks) and keeps modes, owners (when root), times, xattrs (file capabilities
 * included) and ACLs. Device nodes other than whiteouts are refused: a cluster image has
 * no business creating them on a host.
 *
 * Errors: -EBADMSG means the layer's content is refused (malformed stream, an entry that
 * leaves the root, a device, an entry below a file or through a symlink, a hard link to
 * what no layer holds…), the reason naming the entry by its path in the layer; no OS
 * failure is ever reported as -EBADMSG. Anything else is the host's (ENOSPC, EFBIG, EIO…),
 * including a write, mode, owner, time or xattr that could not be restored: the apply
 * fails rather than leave a short or stripped file. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct layer_stats {
	uint64_t entries;	/* entries written */
	uint64_t whiteouts;	/* deletions and opaque markers applied */
	uint64_t bytes_in;	/* bytes of the (compressed) layer stream read */
	uint64_t bytes_out;	/* file content bytes written */
};

/* Reads the layer from fd to its end and applies it under root. hash (optional) is fed
 * every byte read from fd, so a caller can check the stream's digest; on any failure the
 * tree under root is left part-changed and must be discarded (callers work in a staging
 * dir). stats is optional. */
int layer_apply_fd(const char *root, int fd, struct sha256 *hash, struct layer_stats *stats,
		   struct errbuf *err);
int layer_apply_file(const char *root, const char *path, struct layer_stats *stats,
		     struct errbuf *err);

/* Applies only the entries want() accepts (by their path in the layer, "a/b"; whiteouts
 * by the path they delete), e.g. to read a few directories of a large image. */
typedef bool (*layer_filter_fn)(const char *path, void *data);
int layer_apply_file_filtered(const char *root, const char *path, layer_filter_fn want,
			      void *want_data, struct errbuf *err);

/* Unpacks one layer into an empty directory in the form overlayfs takes as a lower dir:
 * deletions stay as 0/0 character devices, opaque directories keep
 * trusted.overlay.opaque=y, and OCI whiteouts are converted to those. Needs root
 * (mknod, trusted.* xattrs). The builder stacks such dirs to run RUN instructions. */
int layer_unpack_overlay_file(const char *root, const char *path, struct layer_stats *stats,
			      struct errbuf *err);

/* Unpacks one layer into an empty directory as the host's layer store keeps it: nothing
 * is applied, every deletion and opaque marker stays as an empty regular file in OCI form
 * (".wh.NAME", ".wh..wh..opq"; an overlay 0/0 device or opaque xattr is converted to
 * that), which the store's assembly applies to the layers below. No root needed. Refused
 * besides what layer_apply_fd refuses: a ".wh." name as a directory on an entry's path,
 * and a hard link to a file of another layer (the store holds each layer alone). hash is
 * fed every byte read, as in layer_apply_fd. */
int layer_unpack_store_fd(const char *root, int fd, struct sha256 *hash,
			  struct layer_stats *stats, struct errbuf *err);

/* overlayfs keeps bookkeeping in trusted.overlay.* xattrs (origin, impure, redirect…):
 * not content, so dropped from an entry; the opaque marker is dropped too unless
 * keep_opaque. Returns whether the entry was marked opaque. */
struct archive_entry;
bool layer_entry_strip_overlay_xattrs(struct archive_entry *e, bool keep_opaque);

/* A libarchive reader for tar streams, plain or compressed (gzip, zstd, xz, bzip2, lz4):
 * layers, CRI archives, image archives. */
struct archive *tar_reader_new(void);

/* The OCI whiteout prefix and opaque marker. */
#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_OPAQUE ".wh..wh..opq"
#define LAYER_OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"
