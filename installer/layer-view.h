/* Filtered views of image layers: a layer without the entries under some top-level
 * directories (images/ and registry/ for the hosts that do not run the registry), made once
 * on the control machine and kept, content-addressed, under $CIRUN_HOME/views:
 *
 *   views/FILTER/HEX        what the view of layer sha256:HEX is (see layer_view_kind)
 *   views/blobs/sha256/HEX   the view blobs, named by their own digest
 *   views/tmp/               blobs being written
 *
 * A view is an ordinary layer: a tar stream compressed as the original was, with the
 * original's entries in the original's order less the dropped ones, so the same original
 * gives the same bytes (and digest) on every run. Dropping a whole subtree in every layer
 * keeps the overlay right: a whiteout or opaque marker of a dropped path only ever
 * affected dropped paths, and the others apply as they did.
 *
 * A layer whose kept entry is a hard link to a dropped one cannot be split (the link
 * would point at nothing): it is sent whole (LAYER_VIEW_SAME), with a warning. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct layer_view_filter {
	const char *name;	  /* the cache's key with the original digest: [a-z0-9-]+ */
	const char *const *tops;  /* top-level names left out, with all below them */
	size_t ntops;
};

enum layer_view_kind {
	LAYER_VIEW_SAME,	/* nothing to leave out: the original is the view */
	LAYER_VIEW_FILTERED,	/* a blob of its own */
	LAYER_VIEW_EMPTY,	/* everything was left out: the layer is not sent at all */
};

#define LAYER_VIEW_DIGEST_SIZE (sizeof("sha256:") - 1 + SHA256_HEX_SIZE)

struct layer_view {
	enum layer_view_kind kind;
	char digest[LAYER_VIEW_DIGEST_SIZE]; /* FILTERED: the view's "sha256:…" */
	uint64_t size;			     /* FILTERED: the view blob's size */
	uint64_t dropped;		     /* entries left out */
	/* FILTERED: the blob's inode and mtime when it was last hashed whole; a blob that
	 * still has them is not hashed again (the host checks every byte it receives) */
	bool sealed;
	uint64_t seal_ino;
	int64_t seal_mtime_ns;
	bool built;	/* made by this call (the cache had none, or a damaged one) */
	bool repaired;	/* the cache's entry was damaged (its reason in note) */
	char note[256];
};

/* Whether path (as a layer names it: "a/b", "./a/b", an OCI ".wh.a") is left out by f:
 * a top name itself, anything below it, and its whiteout. */
bool layer_view_drops(const struct layer_view_filter *f, const char *path);

/* The view of layer digest (its blob at blob_path) under f: from the cache when it is
 * there and whole (a view blob is re-hashed against its name and size unless it still has
 * the inode and mtime it had when last hashed), else made from the original in one read
 * and cached. */
int layer_view_get(const char *home, const struct layer_view_filter *f, const char *blob_path,
		   const char *digest, struct layer_view *ret, struct errbuf *err);

/* After a host refused the view blob named digest as corrupt: hashes it, and removes it
 * when it does not match its name (the next run makes it again; a blob damaged in place
 * with its mtime put back passes the cheap check of layer_view_get). True when it was
 * damaged. */
bool layer_view_blob_damaged(const char *home, const char *digest);

/* Where the view blob named digest ("sha256:…") is kept; malloc'd. */
char *layer_view_blob_path(const char *home, const char *digest);

/* Garbage collection (image_store_gc, under its exclusive lock): the records of layers
 * keep (hex digests) does not name are removed, then the view blobs no record names; with
 * everything, views/tmp too. Failures are skipped: the next collection tries again. The
 * bytes freed are added to *bytes. */
struct strset;
void layer_view_gc(const char *home, const struct strset *keep, bool everything,
		   uint64_t *bytes);
