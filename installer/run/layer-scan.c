/* The one look at the image's layers before any host is touched: each entry that
 * registry.c (images/) or kubeadm.c (bin/kubeadm, etc/kubeadm.yml) accounts for, in layer
 * order, and which layers hold plugins/ (plugins.c), from the per-layer index (installer/layer-index.h). Only the first run over a
 * layer decompresses it (a base image's images/ is most of its bytes: a tar listing of it
 * costs a second per half gigabyte); later runs read a small record per layer. */
#include "run-internal.h"

#include <stdlib.h>

#include "cleanup.h"
#include "layer-index.h"
#include "log.h"

static bool scan_wants(const char *path, mode_t type, bool *want_data)
{
	(void)type;
	if (run_kubeadm_wants(path, want_data))
		return true;
	return run_registry_wants(path) || run_plugins_may_want(path);
}

/* a new name whenever scan_wants or what it reads changes: old records are then unused */
static const struct layer_index_spec scan_spec = {
	.name = "run-scan-v1",
	.wants = scan_wants,
	.data_max = RUN_KUBEADM_YML_MAX,
};

static void account(struct run *r, size_t layer, const struct layer_index *x, const char *blob)
{
	for (size_t i = 0; i < layer_index_count(x); i++) {
		const struct layer_index_entry *e = layer_index_at(x, i);

		if (run_plugins_may_want(e->path))
			r->layer_may_have_plugins[layer] = true;
		run_registry_entry(r, e->path, e->type);
		if (r->kubeadm_scan_rc >= 0)
			r->kubeadm_scan_rc = run_kubeadm_entry(r, e->path, e->type, e->data, e->len,
							       blob, &r->kubeadm_scan_err);
	}
}

int run_layers_scan(struct run *r, struct errbuf *err)
{
	const char *home = image_store_home(r->st);
	size_t built = 0;

	r->kubeadm_scan_rc = 0;
	errbuf_clear(&r->kubeadm_scan_err);
	free(r->layer_may_have_plugins);
	r->layer_may_have_plugins = xcalloc(r->nlayers ? r->nlayers : 1, sizeof(bool));
	for (size_t i = 0; i < r->nlayers; i++) {
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		_cleanup_(layer_index_freep) struct layer_index *x = NULL;
		bool fresh;
		int rc = layer_index_get(home, &scan_spec, blob, r->digests[i], &x, &fresh, err);
		if (rc < 0)
			return rc;
		built += fresh;
		account(r, i, x, blob);
	}
	if (built)
		log_debug("read %zu of %zu layers to index them (later runs use the index)", built,
			  r->nlayers);
	r->layers_scanned = true;
	return 0;
}

void run_layers_scan_release(struct run *r)
{
	free(r->layer_may_have_plugins);
	r->layer_may_have_plugins = NULL;
}
