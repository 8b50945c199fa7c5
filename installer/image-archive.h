/* Moving images as files: `cirun save` writes an OCI archive (a tar of an OCI image
 * layout: oci-layout, index.json, blobs/sha256/…) that skopeo reads as oci-archive:FILE;
 * `cirun load` reads one back, verifying every blob's digest and every reference between
 * index, manifests, configs and layers before it adds anything to the store. Also
 * `cirun export`: an image's rootfs, flattened into a directory. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "image-store.h"

/* out_path "-" streams the archive to stdout (refused when it is a terminal). */
int image_save(struct image_store *st, char *const *names, size_t n, const char *out_path,
	       struct errbuf *err);

/* path "-" reads the archive from stdin, as a stream. On success *ret_names lists the
 * names loaded (free each and the array). */
int image_load(struct image_store *st, const char *path, char ***ret_names, size_t *ret_n,
	       struct errbuf *err);

/* dir must not exist or be empty. */
int image_export(struct image_store *st, const char *name, const char *dir, struct errbuf *err);
