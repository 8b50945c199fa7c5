/* What a run needs to know of a layer's entries before it contacts any host (which layer
 * holds images/ archives, bin/kubeadm, etc/kubeadm.yml and their whiteouts), kept per
 * layer digest so that only the first run over a layer decompresses it:
 *
 *   $CIRUN_HOME/index/NAME/HEX   the entries of layer sha256:HEX that NAME's predicate wants
 *
 * A layer's blob never changes under its digest (the image store checks it on import),
 * so a record stays right for as long as the layer exists; NAME must change whenever the
 * predicate does. A record that does not parse, is cut short or names another layer is
 * made again from the blob. Records are removed with their layers (image_store_gc). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct strset;

/* One entry of a layer, in layer order: its path as the tar names it ("a/b", "./a/b",
 * ".wh.x"), its type (AE_IFREG, …), and, for the entries whose data was wanted, up to
 * data_max + 1 bytes of it (so that a caller can tell "too large" from "fits"). */
struct layer_index_entry {
	mode_t type;
	char *path;
	char *data; /* NULL unless the data was wanted (then NUL-terminated) */
	size_t len;
};

struct layer_index_spec {
	const char *name; /* the cache's directory: [a-z0-9-]+, with a version in it */
	/* whether an entry is recorded, and whether its data is */
	bool (*wants)(const char *path, mode_t type, bool *want_data);
	size_t data_max;
};

struct layer_index;

/* The index of layer digest ("sha256:…", its blob at blob_path) under spec: from the cache
 * when it is there and whole, else read from the blob in one pass and cached (a failure
 * to write the cache only costs the next run a read). *ret_built tells which. */
int layer_index_get(const char *home, const struct layer_index_spec *spec,
		    const char *blob_path, const char *digest, struct layer_index **ret,
		    bool *ret_built, struct errbuf *err);
size_t layer_index_count(const struct layer_index *x);
const struct layer_index_entry *layer_index_at(const struct layer_index *x, size_t i);
void layer_index_free(struct layer_index *x);
void layer_index_freep(struct layer_index **x);

/* Parses a record (the cache file's bytes) of layer digest; -EBADMSG when it is not one.
 * For the fuzzer and the tests. */
int layer_index_parse(const char *buf, size_t len, const char *digest, size_t data_max,
		      struct layer_index **ret);

/* image_store_gc: records of layers keep (hex digests) does not name are removed, and
 * temporary files an interrupted write left (over an hour old); the bytes freed are added
 * to *bytes. */
void layer_index_gc(const char *home, const struct strset *keep, uint64_t *bytes);
