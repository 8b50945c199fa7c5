/* A cluster image's metadata and its OCI encoding.
 *
 * An image is an OCI image manifest whose config blob is a regular OCI image config
 * (architecture, os, rootfs.diff_ids, history) plus a "cirun" object with what sealer
 * kept in its image metadata: every layer with its type (BASE, COPY, RUN, CMD) and value,
 * the ARGs, the CMDs, the referenced container images and the sea.aliyun.com/ClusterFile
 * annotation. Image id = the config blob's digest, as docker and sealer define it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "kubefile.h"

#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define ANNOTATION_CLUSTERFILE "sea.aliyun.com/ClusterFile"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

enum layer_type {
	LAYER_BASE,
	LAYER_COPY,
	LAYER_RUN,
	LAYER_CMD,
};

struct image_layer {
	enum layer_type type;
	char *value;	  /* the instruction's text: ". .", "echo ${Version}" */
	char *digest;	  /* "sha256:…" of the blob; NULL for CMD (no content) */
	char *diff_id;	  /* "sha256:…" of the uncompressed tar */
	char *media_type; /* of the blob */
	uint64_t size;	  /* of the blob */
};

struct image_meta {
	char *created;	/* RFC 3339, UTC */
	char *arch;	/* OCI names: amd64, arm64 */
	char *os;
	struct image_layer *layers;
	size_t nlayers;
	struct kv *args; /* ARG name → value (defaults, after --build-arg) */
	size_t nargs;
	char **cmds;	 /* CMDs of the parent image first, then this image's */
	size_t ncmds;
	struct kv *labels;
	size_t nlabels;
	char **images;	 /* container images the image references (manifests/, charts/) */
	size_t nimages;
	char *clusterfile; /* the default Clusterfile (YAML text) */
};

const char *layer_type_name(enum layer_type t);
int layer_type_from_name(const char *s);

void image_meta_release(struct image_meta *m);
void image_meta_add_layer(struct image_meta *m, enum layer_type type, const char *value,
			  const char *digest, const char *diff_id, const char *media_type,
			  uint64_t size);
void image_meta_set_arg(struct image_meta *m, const char *key, const char *value);
void image_meta_set_label(struct image_meta *m, const char *key, const char *value);
const char *image_meta_get_arg(const struct image_meta *m, const char *key);
void image_meta_add_cmd(struct image_meta *m, const char *cmd);
void image_meta_add_image(struct image_meta *m, const char *ref); /* skips duplicates */
/* Deep copy, for a child image that starts from its parent. */
void image_meta_copy(struct image_meta *dst, const struct image_meta *src);

/* Config blob JSON. The bytes are what the image id is computed over. */
int image_meta_to_config(const struct image_meta *m, struct buf *out);
int image_meta_from_config(const char *json, size_t len, struct image_meta *m,
			   struct errbuf *err);

/* Manifest JSON for a config blob (digest, size) and the meta's content layers. */
int image_meta_to_manifest(const struct image_meta *m, const char *config_digest,
			   uint64_t config_size, struct buf *out);

struct jsonw;
/* One OCI descriptor object; ref_name (optional) becomes its ref.name annotation. */
void oci_descriptor_write(struct jsonw *w, const char *media, const char *digest, uint64_t size,
			  const char *ref_name);

/* The parts of a manifest the store needs. */
struct manifest_blob {
	char *digest; /* sha256:… */
	char *media_type;
	uint64_t size;
};
struct manifest {
	struct manifest_blob config;
	struct manifest_blob *layers;
	size_t nlayers;
};
int manifest_parse(const char *json, size_t len, struct manifest *m, struct errbuf *err);
void manifest_release(struct manifest *m);

/* The OCI architecture name of this machine (amd64 for x86_64), or of a uname -m. */
const char *oci_arch_of_machine(void);
const char *oci_arch_from_uname(const char *machine);
