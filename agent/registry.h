/* Imports image archives into a registry's storage directory, in the layout distribution's
 * filesystem driver serves (docker-registry, registry:2), so images reach the registry as
 * files with no docker daemon and no push:
 *
 *   ROOT/docker/registry/v2/blobs/sha256/<hex[0:2]>/<hex>/data
 *   ROOT/docker/registry/v2/repositories/<repo>/_layers/sha256/<hex>/link
 *   ROOT/docker/registry/v2/repositories/<repo>/_manifests/revisions/sha256/<hex>/link
 *   ROOT/docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/index/sha256/<hex>/link
 *   ROOT/docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/current/link
 *
 * each link holding "sha256:<hex>" (no newline: distribution parses the whole file).
 *
 * Archives, plain or compressed tar:
 *  - OCI image layout (index.json + blobs/sha256/…; docker >= 25 `docker save` writes one
 *    beside its manifest.json, and then the OCI side is used, so manifests keep the digests
 *    they had upstream). Manifests, configs and layers are stored as they are, untouched;
 *    a multi-platform index is kept whole with every manifest it lists, which must all be
 *    in the archive (containerd picks its platform when it pulls). Names come from the
 *    io.containerd.image.name annotation, else org.opencontainers.image.ref.name when that
 *    is a full reference (a bare tag names no repository and is refused).
 *  - docker-archive (`docker save`: manifest.json with Config, RepoTags, Layers). The
 *    layers are served as they are, uncompressed, in a Docker schema2 manifest written here
 *    with mediaType application/vnd.docker.image.rootfs.diff.tar: containerd pulls and
 *    unpacks such layers, and nothing is recompressed. Each layer's digest must be the
 *    config's rootfs.diff_ids entry.
 *
 * Names are mapped with imgref's rule (common/image-ref.h): the registry host is dropped,
 * registry.k8s.io/pause:3.9 is served as pause:3.9. An image kubeadm asks for under another
 * name as well (registry.k8s.io/coredns/coredns:v1.10.1, which kubeadm with an
 * imageRepository pulls as REPO/coredns:v1.10.1) is served under both; the report lists
 * both.
 *
 * Everything in an archive is hostile: every blob is hashed while it is streamed and must
 * have the digest it is named or referenced by; entry names with "..", absolute or with
 * control characters, devices and FIFOs, duplicate names, JSON past 4 MiB and missing blobs
 * are refused with the entry or field named. A symlink or hard link in the archive is only
 * a second name for a file of the archive (skopeo's docker-archive has them), resolved
 * without touching the disk; one that points outside is refused when something refers to
 * it. The whole archive is staged in docker/registry/v2/.cirun-import-PID-RANDOM and
 * checked before anything is
 * published. What an archive unpacks to is capped (REGISTRY_UNPACKED_MAX, and the free space
 * of the store's file system less REGISTRY_FREE_RESERVE), counted while it streams, so a
 * compressed archive that expands without bound fails with that reason instead of filling
 * the disk. Blobs are written to temporary names and renamed into place; a blob already in
 * the store is kept, not rewritten (dedup by digest), only once it is hashed again and still
 * has its digest: one with other content (altered in the store, or torn by some other
 * writer) is replaced by the archive's, never served; the links come
 * last, a tag's current/link the very last, so a registry never sees a tag whose content is
 * not all there. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "image-ref.h"

#define REGISTRY_JSON_MAX (4u << 20)
#define REGISTRY_ENTRIES_MAX 8192 /* a docker save of 100 layers has ~400 */
/* A Kubernetes base image's images/ holds a few GiB; 64 GiB unpacked is an archive that
 * is wrong, or hostile. */
#define REGISTRY_UNPACKED_MAX (UINT64_C(64) << 30)
/* left free on the store's file system: the host runs on it */
#define REGISTRY_FREE_RESERVE (UINT64_C(512) << 20)

struct registry_image {
	char *name;   /* as served: "kube-apiserver:v1.28.7" */
	char *source; /* as the archive named it, normalised: "registry.k8s.io/kube-apiserver:v1.28.7" */
	char manifest_digest[IMGREF_DIGEST_SIZE];
};

struct registry_import_report {
	struct registry_image *images;
	size_t n_images;
	size_t blobs_written;  /* new blobs */
	size_t blobs_existing; /* already in the store, kept */
	uint64_t bytes_written;
	size_t blobs_replaced; /* in the store with other content than their digest: rewritten
				* (counted in blobs_written too) */
};

/* storage_root is the registry's rootdirectory (created if missing). rep is filled on
 * success and must be released with registry_import_report_release either way. */
int registry_import(const char *storage_root, const char *archive_path,
		    struct registry_import_report *rep, struct errbuf *err);
void registry_import_report_release(struct registry_import_report *rep);

/* Points the tag of name ("repo:tag", as served) at digest ("sha256:<hex>") in the store,
 * walking beneath storage_root without following any symlink; the tag must exist. */
int registry_tag_set(const char *storage_root, const char *name, const char *digest,
		     struct errbuf *err);

/* Tests: the cap on what one archive unpacks to and the free space left (defaults
 * REGISTRY_UNPACKED_MAX, REGISTRY_FREE_RESERVE). */
void registry_set_limits(uint64_t unpacked_max, uint64_t free_reserve);

/* The decoders, public for tests and the fuzz target. name is used in messages. */
struct registry_desc {
	char media_type[128];
	char digest[IMGREF_DIGEST_SIZE];
	uint64_t size;
	char *name; /* index.json only: the image name from its annotations, or NULL */
	unsigned line;
};

struct registry_desc_list {
	struct registry_desc *v;
	size_t n;
};

struct registry_docker_image {
	char *config;
	char **tags;
	size_t n_tags;
	char **layers;
	size_t n_layers;
	unsigned line;
};

struct registry_docker_manifest {
	struct registry_docker_image *images;
	size_t n;
};

/* docker-archive manifest.json. */
int registry_parse_docker_manifest(const char *name, const void *json, size_t len,
				   struct registry_docker_manifest *ret, struct errbuf *err);
void registry_docker_manifest_release(struct registry_docker_manifest *m);

/* An OCI index (index.json, or an image index / manifest list blob): its manifests. */
int registry_parse_index(const char *name, const void *json, size_t len,
			 struct registry_desc_list *ret, struct errbuf *err);
/* An image manifest (OCI or Docker schema2): its config and layers. */
int registry_parse_manifest(const char *name, const void *json, size_t len,
			    struct registry_desc *config, struct registry_desc_list *layers,
			    struct errbuf *err);
void registry_desc_list_release(struct registry_desc_list *l);
