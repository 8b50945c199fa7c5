/* Finds the container images a cluster image references, as sealer's builder did:
 * manifests/imageList (one per line), "image:" fields in the .yaml files of manifests/, and image
 * references in charts/<chart>/values.yaml (image: ref, or image: {registry, repository,
 * tag}). Pulling them is not done here (offline); they are recorded in the metadata. */
#pragma once

#include "error.h"
#include "image-meta.h"

/* Scans a flattened tree (at least its manifests/ and charts/) into m->images. A YAML
 * file that does not parse is an error naming file:line:column with the file's path in the
 * image (manifests/app.yaml), never root's: kubectl would fail on it later. */
int image_scan_tree(const char *root, struct image_meta *m, struct errbuf *err);

/* Where a file the scan reads came from, for its error messages (path is the file's path
 * in the image): *ret_name, if set, takes the image path's place in file:line:column (the
 * build-context file a COPY took it from), *ret_note, if set, follows the message in
 * parentheses (the image path and the instruction that put it there). Both malloc'd. */
typedef void (*image_scan_origin_fn)(void *data, const char *path, char **ret_name,
				     char **ret_note);
int image_scan_tree_from(const char *root, struct image_meta *m, image_scan_origin_fn origin,
			 void *data, struct errbuf *err);

/* Whether the scan reads the file at this layer path (manifests/imageList, manifests/NAME.yaml,
 * charts/NAME/values.yaml): the builder notes which layer wrote those. */
bool image_scan_reads(const char *path);

/* Whether a layer path matters to the scan (for filtered flattening). */
bool image_scan_wants(const char *path, void *unused);
