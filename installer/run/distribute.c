/* Phase "distribute": send only the layers a host lacks, verified on arrival; the agent
 * assembles the rootfs in a staging dir and swaps it in. */
#include "run-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "layer-feed.h"
#include "log.h"
#include "report.h"
#include "ssh.h"

/* bytes_sent counts the layers done, sent those of the layer in flight */
static void on_progress(void *data, uint64_t sent, uint64_t total)
{
	struct host_state *h = data;

	(void)total;
	report_progress(h->spec->ip, h->bytes_sent + sent);
}

static ssize_t read_feed(void *data, void *buf, size_t n, struct errbuf *err)
{
	return layer_feed_read(data, buf, n, err);
}

static void layer_feed_closep(struct layer_feed_reader **rd)
{
	layer_feed_close(*rd);
}

static int send_layer(struct run *r, struct host_state *h, const char *digest, uint64_t size)
{
	/* roles.c: a host that is not the registry host may get a view of the layer */
	_cleanup_free_ char *path = run_layer_path(r, digest);
	/* the hosts sending this layer at the same time share one read of it (layer-feed.h) */
	_cleanup_(layer_feed_closep) struct layer_feed_reader *rd = NULL;
	int rc = layer_feed_open(r->feeds, path, size, &rd, &h->err);

	if (rc < 0)
		return errbuf_set(&h->err, rc, "layer %s is missing from %s", digest, path);
	/* generous: the transfer of a large layer takes a while on a slow link */
	ssh_conn_set_timeout(h->conn, 600);
	rc = agent_client_send_layer_from(h->ac, digest, size, read_feed, rd, on_progress, h,
					  &h->err);
	if (rc >= 0) {
		h->bytes_sent += size;
		h->layers_sent++;
	} else {
		run_layer_send_failed(r, digest, &h->err);
	}
	return rc;
}

/* A ring of 16 frames (4 MiB) per layer in flight, 4 rings at most (the originals for the
 * registry host and the views for the others are two); a host 4 MiB behind the others
 * for 250 ms reads on its own rather than hold them all back (docs/performance.md). */
struct layer_feeds *run_layer_feeds_new(void)
{
	const struct layer_feeds_opts o = {
		.frame = PROTO_DATA_CHUNK,
		.frames = 16,
		.max_bytes = 4 * 16 * (size_t)PROTO_DATA_CHUNK,
		.lag_ms = 250,
	};
	return layer_feeds_new(&o);
}

void run_layer_feeds_release(struct run *r)
{
	struct layer_feeds_stats st;

	if (!r->feeds)
		return;
	layer_feeds_stats(r->feeds, &st);
	if (st.file_bytes)
		log_debug("layers: %" PRIu64 " bytes read from the files for %" PRIu64 " sent (%"
			  PRIu64 " of them read by a host alone); rings of %zu bytes at most",
			  st.file_bytes, st.file_bytes + st.shared_bytes,
			  st.alone_bytes, st.peak_ring_bytes);
	r->feeds = layer_feeds_free(r->feeds);
}

int phase_distribute(struct run *r, struct host_state *h)
{
	char *const *digests;
	const uint64_t *sizes;
	size_t nlayers;
	char skipped[256];

	run_host_layers(r, (size_t)(h - r->hosts), &digests, &sizes, &nlayers);
	if (run_roles_skipped(r, (size_t)(h - r->hosts), skipped, sizeof(skipped)))
		log_host(LOG_INFO, h->spec->ip, "%s", skipped);

	_cleanup_free_ bool *have = xcalloc(nlayers ? nlayers : 1, sizeof(*have));
	_cleanup_free_ char *detail = NULL;
	int rc = agent_client_layers(h->ac, digests, sizes, nlayers, have, &h->err);

	uint64_t need = 0;
	for (size_t i = 0; rc >= 0 && i < nlayers; i++)
		need += have[i] ? 0 : sizes[i];
	if (need)
		report_progress_start(h->spec->ip, "distribute", need);
	for (size_t i = 0; rc >= 0 && i < nlayers; i++)
		if (!have[i])
			rc = send_layer(r, h, digests[i], sizes[i]);
	if (need)
		report_progress_end(h->spec->ip, rc >= 0);
	if (rc < 0)
		return rc;
	ssh_conn_set_timeout(h->conn, r->o->timeout_s ? r->o->timeout_s : 1800);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct agent_layer_fault fault = { 0 };
		rc = agent_client_assemble(h->ac, r->c->name, r->c->image, digests, nlayers,
					   &detail, &fault, &h->err);
		_cleanup_free_ char *bad = fault.digest;
		/* an invalid layer is the image's fault: sending it again cannot help */
		if (rc >= 0 || fault.fault != LAYER_FAULT_CORRUPT || attempt == 1)
			break;
		/* the host's cached copy went bad: it was dropped there; send it again */
		log_host(LOG_WARNING, h->spec->ip, "%s; sending it again", errbuf_msg(&h->err));
		for (size_t i = 0; i < nlayers; i++)
			if (strcmp(digests[i], bad) == 0)
				rc = send_layer(r, h, digests[i], sizes[i]);
		if (rc < 0)
			return rc;
	}
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "rootfs ready (%u layer%s sent, %" PRIu64 " bytes; %s)",
			 h->layers_sent, h->layers_sent == 1 ? "" : "s", h->bytes_sent, detail ? detail : "");
	return rc;
}
