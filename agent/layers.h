/* The host's layer store and rootfs assembly.
 *
 *   ROOT/layers/unpacked/<hex>/tree       a layer, unpacked as it arrived (one pass: the
 *                                         bytes are hashed and extracted as they come)
 *   ROOT/layers/unpacked/<hex>/manifest   every entry's type, mode, owner, size, mtime;
 *                                         sealed by a sha256 over the records
 *   ROOT/layers/unpacked/<hex>.partial/   an entry being written: renamed into place only
 *                                         once the digest matched and the unpack succeeded
 *   ROOT/data/<cluster>/rootfs            the assembled rootfs of a cluster
 *   ROOT/layers/<hex>                     a previous version's cached blob: moved into the
 *                                         store when next asked for, then removed
 *
 * ROOT is /var/lib/cirun (CIRUN_AGENT_ROOT moves it, for tests). Deletions and opaque
 * directories stay in an entry as OCI marker files (layer_unpack_store_fd). Assembly
 * checks each entry against its manifest, builds the rootfs in a staging dir from the
 * entries in order, directories made and every other entry a hard link into the store,
 * markers applied to the layers below, and swaps it in atomically, so a failure leaves the
 * previous rootfs. A rootfs file therefore shares its inode (data, mode, owner, mtime) with
 * the store: whoever changes one must replace it (temp + rename), never write to it or
 * chmod/chown it in place; an entry changed in place no longer matches its manifest and
 * is sent again. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "layer.h"
#include "name.h"
#include "proto.h"

const char *agent_root(void);

/* Whether the store holds digest, sealed (its manifest read and its seal checked; the
 * tree is checked at assembly). An unsealed or broken entry is removed; a blob of the
 * previous versions' cache of the right size is unpacked into the store (verified). */
bool layer_cache_has(const char *digest, uint64_t size);

struct layer_upload;
int layer_upload_begin(const char *digest, uint64_t size, struct layer_upload **ret,
		       struct errbuf *err);
int layer_upload_data(struct layer_upload *u, const void *data, size_t n, struct errbuf *err);
/* begin starts unpacking into the .partial entry as data arrives; end verifies size and
 * digest, seals the entry and renames it into place; frees u. A disk that filled is
 * -ENOSPC with its reason, corrupt bytes -EBADMSG; nothing is kept then. Right bytes with
 * a refused content succeed here and are reported by rootfs_assemble. */
int layer_upload_end(struct layer_upload *u, struct errbuf *err);
void layer_upload_abort(struct layer_upload *u);

/* A layer that failed assembly by its own fault: fault is LAYER_FAULT_CORRUPT (its entry
 * does not match its manifest: removed from the store, the sender may send it again) or
 * LAYER_FAULT_INVALID (its bytes matched but the content was refused at unpacking: kept
 * as ROOT/layers/unpacked/<hex>.invalid with the reason, the image is wrong);
 * err then holds the reason alone. digest is malloc'd. */
struct layer_fault_info {
	int fault; /* 0: none */
	char *digest;
};

/* Assembles the cluster's rootfs from the stored layers, in order; a failing layer fills
 * ret_fault (optional) as above. stats counts entries placed, markers applied and the
 * bytes of the files linked (not copied). */
int rootfs_assemble(const char *cluster, char *const *digests, size_t n,
		    struct layer_fault_info *ret_fault, struct layer_stats *stats, struct errbuf *err);
