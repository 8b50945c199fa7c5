/* The host's layer cache and rootfs assembly.
 *
 *   ROOT/layers/<hex>                    layers as they arrived (compressed blobs)
 *   ROOT/data/<cluster>/rootfs           the assembled rootfs of a cluster
 *
 * ROOT is /var/lib/cirun (CIRUN_AGENT_ROOT moves it, for tests). A layer enters the cache
 * only whole and verified; assembly re-verifies every layer while it reads it, builds in
 * a staging dir and swaps it in atomically, so a failure leaves the previous rootfs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "layer.h"
#include "name.h"
#include "proto.h"

const char *agent_root(void);

/* Whether the cache holds digest with the expected size (a cheap check: content is
 * verified when the layer is used). */
bool layer_cache_has(const char *digest, uint64_t size);

struct layer_upload;
int layer_upload_begin(const char *digest, uint64_t size, struct layer_upload **ret,
		       struct errbuf *err);
int layer_upload_data(struct layer_upload *u, const void *data, size_t n, struct errbuf *err);
/* Verifies size and digest and moves the layer into the cache; frees u. */
int layer_upload_end(struct layer_upload *u, struct errbuf *err);
void layer_upload_abort(struct layer_upload *u);

/* A layer that failed assembly by its own fault: fault is LAYER_FAULT_CORRUPT (its bytes
 * do not match digest: removed from the cache, the sender may send it again) or
 * LAYER_FAULT_INVALID (they match but the content is refused: kept, the image is wrong);
 * err then holds the reason alone. digest is malloc'd. */
struct layer_fault_info {
	int fault; /* 0: none */
	char *digest;
};

/* Assembles the cluster's rootfs from the cached layers, in order; a failing layer fills
 * ret_fault (optional) as above. */
int rootfs_assemble(const char *cluster, char *const *digests, size_t n,
		    struct layer_fault_info *ret_fault, struct layer_stats *stats, struct errbuf *err);
