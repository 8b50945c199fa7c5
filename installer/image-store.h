/* The local image store: an OCI image layout under $CIRUN_HOME/images (default
 * /var/lib/cirun/images), so skopeo and umoci can read it as it is.
 *
 *   images/oci-layout, images/index.json   names → manifests (ref.name annotations)
 *   images/blobs/sha256/<hex>               content-addressed blobs
 *   images/tmp/                              blobs being written
 *
 * Blobs are written to tmp/, hashed while written, and renamed into place: a blob under
 * blobs/ is always whole and matches its name. index.json is replaced atomically under an
 * exclusive lock. Builds and loads hold a shared "gc" lock while they add blobs that are
 * not referenced yet; rmi's garbage collection takes it exclusively, so it never deletes
 * the blobs of a build in progress. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "image-meta.h"

struct image_store;
struct blob_writer;

/* home: NULL means $CIRUN_HOME, else /var/lib/cirun (CIRUN_HOME set but empty is
 * -EINVAL). Creates the layout when missing. */
int image_store_open(const char *home, struct image_store **ret, struct errbuf *err);
/* The same for verbs that only read (images, inspect, save, export): creates nothing and
 * takes no lock; a store that does not exist is -ENOENT. */
int image_store_open_ro(const char *home, struct image_store **ret, struct errbuf *err);
struct image_store *image_store_close(struct image_store *st);
const char *image_store_home(const struct image_store *st);
const char *image_store_dir(const struct image_store *st);

/* Takes the shared gc lock for the store's lifetime (builds, loads). */
int image_store_hold(struct image_store *st, struct errbuf *err);

char *image_store_blob_path(const struct image_store *st, const char *digest);
bool image_store_has_blob(const struct image_store *st, const char *digest);

int blob_writer_new(struct image_store *st, struct blob_writer **ret, struct errbuf *err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t n);
/* Finishes the blob. With expected (sha256:…), a mismatch is refused and nothing is
 * kept. ret_digest (malloc'd "sha256:…") and ret_size are optional. Frees w. */
int blob_writer_commit(struct blob_writer *w, const char *expected, char **ret_digest,
		       uint64_t *ret_size, struct errbuf *err);
/* The two halves of commit, for loads that must check every blob before adding any:
 * verify finishes the digest (and compares it with expected), publish moves the blob into
 * the store and frees w. */
int blob_writer_verify(struct blob_writer *w, const char *expected, struct errbuf *err);
int blob_writer_publish(struct blob_writer *w, char **ret_digest, uint64_t *ret_size,
			struct errbuf *err);
const char *blob_writer_digest(const struct blob_writer *w);
uint64_t blob_writer_size(const struct blob_writer *w);
const char *blob_writer_path(const struct blob_writer *w);
/* Throws the blob away. Frees w; NULL is fine. */
void blob_writer_abort(struct blob_writer *w);
int image_store_put_blob(struct image_store *st, const void *data, size_t len,
			 char **ret_digest, struct errbuf *err);
int image_store_read_blob(const struct image_store *st, const char *digest, size_t cap,
			  struct buf *out, struct errbuf *err);

/* "name[:tag]" → "name:tag" (":latest" added), validated. */
int image_ref_normalize(const char *name, char **ret, struct errbuf *err);

struct image {
	char *name;		/* as resolved: "name:tag", or NULL when found by id */
	char *manifest_digest;	/* sha256:… */
	uint64_t manifest_size;
	char *id;		/* config digest hex (the image id) */
	struct manifest manifest;
	struct image_meta meta;	/* layers carry media types and sizes from the manifest */
};

/* The one check of an image's parts against each other, for reading from the store and
 * for load: the cirun metadata's layers with content are the manifest's layers, in order
 * (the config's diff_ids are checked against them when it is parsed). Copies media types
 * and sizes from the manifest into meta. The caller names the image in err. */
int image_verify_parts(const struct manifest *m, struct image_meta *meta, struct errbuf *err);

/* Finds an image by name (":latest" implied) or by id prefix (4+ hex digits). */
int image_store_get(struct image_store *st, const char *name_or_id, struct image *ret,
		    struct errbuf *err);
void image_release(struct image *img);

/* Writes config and manifest blobs for meta and points name at them. ret_id optional. */
int image_store_commit(struct image_store *st, const char *name, const struct image_meta *meta,
		       char **ret_id, struct errbuf *err);

/* Points name at a manifest, replacing what it named. */
int image_store_set_ref(struct image_store *st, const char *name, const char *manifest_digest,
			uint64_t manifest_size, struct errbuf *err);
/* Removes name; -ENOENT when there is no such name. */
int image_store_remove_ref(struct image_store *st, const char *name, struct errbuf *err);

struct image_ref {
	char *name;
	char *manifest_digest;
	uint64_t manifest_size;
};
int image_store_list(struct image_store *st, struct image_ref **ret, size_t *ret_n,
		     struct errbuf *err);
/* An OCI index.json naming those manifests (the store's own, or an archive's), and back:
 * names are normalised; unnamed entries are skipped, or an error with require_names. */
int image_index_encode(const struct image_ref *refs, size_t n, struct buf *out);
int image_index_decode(const char *name, const char *json, size_t len, bool require_names,
		       struct image_ref **ret, size_t *ret_n, struct errbuf *err);
void image_refs_free(struct image_ref *refs, size_t n);

struct gc_stats {
	uint64_t blobs_removed;
	uint64_t bytes_removed; /* of those blobs */
	uint64_t other_bytes;	/* leftovers, unpacked layer copies, stale build cache entries */
};
/* Removes blobs that no named image references (and the builder's unpacked copies of
 * them), and the leftovers of processes that are gone. */
int image_store_gc(struct image_store *st, struct gc_stats *stats, struct errbuf *err);
/* gc, and also every unpacked layer copy, every build cache entry whose layer is gone and
 * every temporary: under the exclusive lock no build or load can own one. */
int image_store_prune(struct image_store *st, struct gc_stats *stats, struct errbuf *err);

/* Temporaries are named with their owner's PID: BLOB_TMP_PREFIX (images/tmp/),
 * BUILD_TMP_PREFIX (build/tmp/, "<prefix><pid>-<random>") and UNPACK_TMP_PREFIX
 * (build/layers/, "<prefix><hex>-<pid>"). The sweep removes those whose owner is gone (or,
 * with everything, all of them; the caller holds the exclusive gc lock). Runs when a
 * writer takes the store (image_store_hold) and in gc; failures are ignored, the next
 * sweep tries again. */
#define BLOB_TMP_PREFIX "blob-"
#define BUILD_TMP_PREFIX "build-"
#define UNPACK_TMP_PREFIX ".tmp-"
void image_store_sweep(struct image_store *st, bool everything, struct gc_stats *stats);

/* All blob digests (sha256:…) an image needs: manifest, config, layers. */
size_t image_blobs(const struct image *img, const char **out, size_t max);
