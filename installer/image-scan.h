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

/* Whether a layer path matters to the scan (for filtered flattening). */
bool image_scan_wants(const char *path, void *unused);
