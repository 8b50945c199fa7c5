/* Phase "registry": on the registry host (spec.registry.host, else master0), the image's
 * scripts/init-registry.sh starts the registry from images/registry.tar, then the agent
 * imports every other archive of images/ into its storage, one after another. The
 * storage is data/CLUSTER/registry, beside the rootfs rather than sealer's rootfs/registry:
 * every run assembles the rootfs afresh and swaps it in, which would leave the running
 * registry serving the removed directory. Which archives there are is read from the layers' headers before any host is
 * touched, so the dry-run plan lists them and an image without images/ skips the phase. */
#include "run-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "log.h"
#include "proto-msg.h"
#include "report.h"
#include "ssh.h"

#define REGISTRY_PORT "5000"
#define REGISTRY_DOMAIN "sea.hub"
#define REGISTRY_TAR "registry.tar"

static void drop_archive(struct run *r, const char *name)
{
	for (size_t i = 0; i < r->narchives; i++) {
		if (strcmp(r->archives[i], name) == 0) {
			free(r->archives[i]);
			memmove(r->archives + i, r->archives + i + 1,
				(r->narchives - i - 1) * sizeof(*r->archives));
			r->narchives--;
			return;
		}
	}
}

static void drop_all(struct run *r)
{
	while (r->narchives)
		free(r->archives[--r->narchives]);
}

/* One layer entry as the overlay of the layers sees it: images/NAME added, a whiteout
 * of NAME, of images/ or an opaque images/ removing what the layers below had. */
bool run_registry_wants(const char *path)
{
	path += strncmp(path, "./", 2) == 0 ? 2 : 0;
	return strcmp(path, ".wh.images") == 0 ||
	       (strncmp(path, "images", 6) == 0 && (path[6] == '/' || path[6] == '\0'));
}

void run_registry_entry(struct run *r, const char *path, mode_t type)
{
	const char *name;

	path += strncmp(path, "./", 2) == 0 ? 2 : 0;
	if (strcmp(path, ".wh.images") == 0) {
		drop_all(r);
		r->has_images = false;
		return;
	}
	if (strncmp(path, "images", 6) != 0 || (path[6] != '/' && path[6] != '\0'))
		return;
	r->has_images = true;
	name = path[6] ? path + 7 : "";
	if (strcmp(name, ".wh..wh..opq") == 0) {
		drop_all(r);
		return;
	}
	if (strncmp(name, ".wh.", 4) == 0) {
		drop_archive(r, name + 4);
		return;
	}
	/* only plain files right under images/; the agent refuses any other name too */
	if (type != AE_IFREG || !msg_archive_name_valid(name))
		return;
	drop_archive(r, name);
	r->archives = xreallocarray(r->archives, r->narchives + 1, sizeof(*r->archives));
	r->archives[r->narchives++] = xstrdup(name);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static bool is_registry_host(const struct run *r, size_t i)
{
	return i == r->registry_host;
}

int run_registry_load(struct run *r, struct errbuf *err)
{
	/* the walk kubeadm.c reads too (layer-scan.c; from the index, so plugins.c having
	 * walked them already costs nothing) */
	if (run_layers_scan(r, err) < 0)
		return errbuf_prefix(err, "listing the images/ of image %s", r->c->image);
	for (size_t i = 0; i < r->narchives; i++) {
		if (strcmp(r->archives[i], REGISTRY_TAR) == 0) {
			r->has_registry_tar = true;
			drop_archive(r, REGISTRY_TAR);
			break;
		}
	}
	qsort(r->archives, r->narchives, sizeof(*r->archives), cmp_str);
	r->registry_host = 0;
	for (size_t i = 0; r->c->registry_host && i < r->n; i++)
		if (strcmp(r->hosts[i].spec->ip, r->c->registry_host) == 0)
			r->registry_host = i;
	return 0;
}

void run_registry_release(struct run *r)
{
	drop_all(r);
	free(r->archives);
	r->archives = NULL;
	run_mirror_release(r);
}

bool run_no_registry(const struct run *r)
{
	return !r->has_images;
}

static bool pick_registry(const struct run *r, size_t i)
{
	return is_registry_host(r, i);
}

const struct phase_hosts phase_on_registry = { "on the registry host", pick_registry };

static int start_registry(struct host_state *h, const char *rootfs)
{
	_cleanup_free_ char *cmd = NULL;
	struct agent_exit ex = { 0 };
	unsigned timeout = 300;
	int rc;

	cmd = xasprintf("cd scripts && exec bash init-registry.sh " REGISTRY_PORT " %s/../registry "
			REGISTRY_DOMAIN, rootfs);
	ssh_conn_set_timeout(h->conn, timeout + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, cmd, rootfs, h->spec->env, h->spec->nenv, timeout,
			       run_host_output, h, &ex, &h->err);
	if (h->line.len)
		run_host_output(h, 1, "\n", 1);
	if (rc < 0)
		return rc;
	if (ex.timed_out || ex.exit_code != 0)
		return errbuf_set(&h->err, ex.timed_out ? -ETIMEDOUT : -EIO, "scripts/init-registry.sh "
				  "(in %s/scripts) %s; its last lines:\n%s", rootfs,
				  ex.timed_out ? "did not finish in time" : "failed", h->tail.data);
	return 0;
}

static void free_sources(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* One archive imported; the registries its images were named under join the mirrors
 * (r->mirror_sources: this phase runs on the registry host alone). */
static int import_one(struct run *r, struct host_state *h, const char *archive)
{
	_cleanup_free_ char *detail = NULL;
	_cleanup_buf_ struct buf from = BUF_INIT(1 << 16);
	char **sources = NULL;
	size_t n = 0;
	int rc = agent_client_registry_import(h->ac, r->c->name, archive, &detail, &sources, &n,
					      &h->err);

	for (size_t k = 0; rc >= 0 && k < n; k++) {
		buf_printf(&from, "%s%s", k ? ", " : "", sources[k]);
		rc = run_mirror_add(r, sources[k], &h->err);
	}
	free_sources(sources, n);
	if (rc < 0)
		return rc;
	log_host(LOG_INFO, h->spec->ip, "registry: images/%s: %s%s%s", archive, detail,
		 from.len ? "; from " : "", from.data);
	return 0;
}

int phase_registry(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *rootfs = xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);
	int rc;

	if (r->has_registry_tar) {
		rc = start_registry(h, rootfs);
		if (rc < 0)
			return rc;
	} else {
		log_host(LOG_WARNING, h->spec->ip, "registry: the image has images/ but no "
			 "images/" REGISTRY_TAR ": its archives go into " REMOTE_ROOT "/data/%s/registry, "
			 "and no registry serves them", r->c->name);
	}
	ssh_conn_set_timeout(h->conn, 1800);
	for (size_t i = 0; i < r->narchives; i++) {
		rc = import_one(r, h, r->archives[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void run_registry_plan(const struct run *r, size_t host)
{
	_cleanup_buf_ struct buf names = BUF_INIT(1 << 16);

	if (!r->has_images || !is_registry_host(r, host))
		return;
	for (size_t i = 0; i < r->narchives; i++)
		buf_printf(&names, "%s%s", i ? " " : "", r->archives[i]);
	report_text("  registry host: %s on port " REGISTRY_PORT " (" REGISTRY_DOMAIN "), data in "
		    REMOTE_ROOT "/data/%s/registry; imports %s", r->has_registry_tar ? "scripts/init-registry.sh "
		    "starts the registry" : "no images/" REGISTRY_TAR " (nothing serves the data)",
		    r->c->name, names.len ? names.data : "no archive");
}
