/* What goes where: sealer copies registry/ to the registry host alone (and its images/
 * are only read there), so the other hosts get each layer without images/ and registry/,
 * as a view of its own (installer/layer-view.h). The views are made before any host is
 * touched, once, and cached; a layer that becomes empty is not sent at all (it would
 * apply nothing: no entry, no whiteout). */
#include "run-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "layer-view.h"
#include "log.h"

static const char *const role_tops[] = { "images", "registry" };
static const struct layer_view_filter role_filter = {
	.name = "no-images-registry-v1",
	.tops = role_tops,
	.ntops = ELEMENTSOF(role_tops),
};
#define ROLE_SKIPPED "images/, registry/"

static void add_node_layer(struct run *r, const char *digest, uint64_t size, bool view)
{
	size_t n = r->n_node_layers;

	r->node_digests = xreallocarray(r->node_digests, n + 1, sizeof(*r->node_digests));
	r->node_sizes = xreallocarray(r->node_sizes, n + 1, sizeof(*r->node_sizes));
	r->node_view = xreallocarray(r->node_view, n + 1, sizeof(*r->node_view));
	r->node_digests[n] = xstrdup(digest);
	r->node_sizes[n] = size;
	r->node_view[n] = view;
	r->n_node_layers++;
}

static void log_view(const char *digest, uint64_t size, const struct layer_view *v)
{
	if (v->repaired)
		log_warning("the cached view of layer %.19s was damaged (%s); made again", digest,
			    v->note);
	else if (v->kind == LAYER_VIEW_SAME && v->note[0])
		log_warning("layer %.19s: %s", digest, v->note);
	if (!v->built || v->kind == LAYER_VIEW_SAME)
		return;
	if (v->kind == LAYER_VIEW_EMPTY)
		log_info("layer %.19s holds only " ROLE_SKIPPED ": not sent to the other hosts",
			 digest);
	else
		log_info("layer %.19s without " ROLE_SKIPPED ": %.19s, %" PRIu64 " bytes instead of %"
			 PRIu64 " (%" PRIu64 " entries left out)", digest, v->digest, v->size, size,
			 v->dropped);
}

int run_roles_load(struct run *r, struct errbuf *err)
{
	const char *home = image_store_home(r->st);

	/* the registry host gets the originals: nothing to make when it is the only host */
	if (r->n < 2)
		return 0;
	for (size_t i = 0; i < r->nlayers; i++) {
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		struct layer_view v;
		int rc = layer_view_get(home, &role_filter, blob, r->digests[i], &v, err);
		if (rc < 0)
			return errbuf_prefix(err, "image %s", r->c->image);
		log_view(r->digests[i], r->sizes[i], &v);
		if (v.kind == LAYER_VIEW_SAME) {
			add_node_layer(r, r->digests[i], r->sizes[i], false);
			continue;
		}
		r->node_layers_filtered++;
		/* a view may come out larger than a strongly compressed original */
		uint64_t kept = v.kind == LAYER_VIEW_EMPTY ? 0 : v.size;
		if (r->sizes[i] > kept)
			r->node_bytes_saved += r->sizes[i] - kept;
		if (v.kind == LAYER_VIEW_FILTERED)
			add_node_layer(r, v.digest, v.size, true);
	}
	return 0;
}

void run_roles_release(struct run *r)
{
	for (size_t i = 0; i < r->n_node_layers; i++)
		free(r->node_digests[i]);
	free(r->node_digests);
	free(r->node_sizes);
	free(r->node_view);
	r->node_digests = NULL;
	r->node_sizes = NULL;
	r->node_view = NULL;
	r->n_node_layers = 0;
}

static bool gets_originals(const struct run *r, size_t i)
{
	return i == r->registry_host || r->n < 2;
}

void run_host_layers(const struct run *r, size_t i, char *const **digests,
		     const uint64_t **sizes, size_t *n)
{
	if (gets_originals(r, i)) {
		*digests = r->digests;
		*sizes = r->sizes;
		*n = r->nlayers;
		return;
	}
	*digests = r->node_digests;
	*sizes = r->node_sizes;
	*n = r->n_node_layers;
}

char *run_layer_path(const struct run *r, const char *digest)
{
	for (size_t k = 0; k < r->n_node_layers; k++)
		if (r->node_view[k] && strcmp(r->node_digests[k], digest) == 0)
			return layer_view_blob_path(image_store_home(r->st), digest);
	return image_store_blob_path(r->st, digest);
}

void run_layer_send_failed(const struct run *r, const char *digest, struct errbuf *err)
{
	for (size_t k = 0; k < r->n_node_layers; k++)
		if (r->node_view[k] && strcmp(r->node_digests[k], digest) == 0 &&
		    layer_view_blob_damaged(image_store_home(r->st), digest)) {
			errbuf_prefix(err, "the cached view %s was damaged on this machine and is "
				      "removed (run again to make it anew)", digest);
			return;
		}
}

const char *run_roles_skipped(const struct run *r, size_t i, char *buf, size_t len)
{
	if (gets_originals(r, i) || r->node_layers_filtered == 0)
		return NULL;
	snprintf(buf, len, ROLE_SKIPPED ": not sent (not the registry host; %zu layer%s "
		 "filtered, %" PRIu64 " bytes fewer)", r->node_layers_filtered,
		 r->node_layers_filtered == 1 ? "" : "s", r->node_bytes_saved);
	return buf;
}
