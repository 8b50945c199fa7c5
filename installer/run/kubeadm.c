/* What every kubeadm phase shares: the image's bin/kubeadm and etc/kubeadm.yml, read from
 * its layers' tar headers (and that one file's bytes) before any host is touched, with every
 * kubeadm input checked there (kubeadm_config_validate); the render of one host's config,
 * written by the agent (KUBEADM_CONFIG, 0600 beside the rootfs); commands on a host whose
 * output is captured instead of logged (join data, admin.conf). An image without
 * bin/kubeadm (an application image, every test image before issue 8) skips every kubeadm
 * phase, as sealer's app images did.
 *
 * The image's etc/kubeadm.yml is the contract with the base-image builder: a
 * ClusterConfiguration with kubernetesVersion vX.Y.Z; it is also the config's image layer.
 * An etc/kubeadm.yml without that version is refused before any host is touched; an image
 * with bin/kubeadm but no etc/kubeadm.yml is not taken as a base image (a warning says so):
 * the images that test the phases before kubeadm carry a kubeadm that only records its
 * arguments. */
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
#include "ydoc.h"

#define KUBEADM_YML "etc/kubeadm.yml"
#define KUBEADM_YML_MAX RUN_KUBEADM_YML_MAX
#define CAPTURE_MAX (1u << 20)

static bool is_kubeadm_whiteout(const char *path)
{
	return !strcmp(path, ".wh.bin") || !strcmp(path, "bin/.wh..wh..opq") ||
	       !strcmp(path, "bin/.wh.kubeadm");
}

static bool is_kubeadm_yml_whiteout(const char *path)
{
	return !strcmp(path, ".wh.etc") || !strcmp(path, "etc/.wh..wh..opq") ||
	       !strcmp(path, "etc/.wh.kubeadm.yml");
}

bool run_kubeadm_wants(const char *path, bool *want_data)
{
	path += strncmp(path, "./", 2) == 0 ? 2 : 0;
	*want_data = strcmp(path, KUBEADM_YML) == 0;
	return *want_data || !strcmp(path, "bin/kubeadm") || is_kubeadm_whiteout(path) ||
	       is_kubeadm_yml_whiteout(path);
}

/* One layer entry as the overlay sees it: bin/kubeadm and etc/kubeadm.yml added, or
 * removed by a whiteout of themselves or of their directory. */
int run_kubeadm_entry(struct run *r, const char *path, mode_t type, const char *data,
		      size_t len, const char *blob, struct errbuf *err)
{
	path += strncmp(path, "./", 2) == 0 ? 2 : 0;
	if (is_kubeadm_whiteout(path))
		r->has_kubeadm = false;
	if (!strcmp(path, "bin/kubeadm"))
		r->has_kubeadm = type == AE_IFREG || type == AE_IFLNK;
	if (is_kubeadm_yml_whiteout(path)) {
		free(r->kubeadm_yml);
		r->kubeadm_yml = NULL;
		r->kubeadm_yml_len = 0;
	}
	if (strcmp(path, KUBEADM_YML) != 0)
		return 0;
	if (type != AE_IFREG || !data)
		return errbuf_set(err, -EINVAL, "the image's " KUBEADM_YML " is not a regular file "
				  "(layer %s)", blob);
	if (len > KUBEADM_YML_MAX)
		return errbuf_set(err, -E2BIG, "the image's " KUBEADM_YML " is over %u bytes",
				  KUBEADM_YML_MAX);
	free(r->kubeadm_yml);
	r->kubeadm_yml = xstrndup(data, len);
	r->kubeadm_yml_len = len;
	return 0;
}

/* kubernetesVersion of the ClusterConfiguration in etc/kubeadm.yml */
static int read_version(struct run *r, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const char *name = r->kubeadm_yml_name;
	int rc;

	rc = ydoc_parse(name, r->kubeadm_yml, r->kubeadm_yml_len, NULL, &d, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *root = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_get(root, "kind"));
		const char *v = ynode_str(ynode_get(root, "kubernetesVersion"));
		if (!kind || strcmp(kind, "ClusterConfiguration") != 0)
			continue;
		if (!v || !*v)
			break;
		r->k8s_version = xstrdup(v);
		return 0;
	}
	return errbuf_set(err, -EINVAL, "%s: no ClusterConfiguration with a kubernetesVersion: the "
			  "run cannot tell which Kubernetes version the image holds", name);
}

static void warn_config(void *data, const char *msg)
{
	(void)data;
	log_warning("kubeadm config: %s", msg);
}

void run_kubeadm_in(const struct run *r, const struct host_state *h, struct kubeadm_config_in *in)
{
	*in = (struct kubeadm_config_in){
		.k8s_version = r->k8s_version,
		.masters = r->master_ips,
		.n_masters = r->n_masters,
		.host_ip = h ? h->spec->ip : NULL,
		.cgroup_driver = r->cgroup_driver,
		.image_yml = r->kubeadm_yml,
		.image_yml_len = r->kubeadm_yml_len,
		.image_yml_name = r->kubeadm_yml_name,
		.user_docs = r->kubeadm_docs,
		.n_user_docs = r->c->nkubeadm,
		.warn = warn_config,
	};
	if (r->have_join) {
		in->token = r->join.token;
		in->ca_cert_hash = r->join.ca_hash;
		in->certificate_key = r->cert_key[0] ? r->cert_key : NULL;
	}
}

int run_kubeadm_load(struct run *r, struct errbuf *err)
{
	struct kubeadm_config_in in;
	int rc;

	/* the layers were walked once for registry.c and this file (layer-scan.c) */
	rc = r->layers_scanned ? 0 : run_layers_scan(r, err);
	r->layers_scanned = false; /* used: a later load walks the layers again */
	if (rc >= 0 && r->kubeadm_scan_rc < 0) {
		*err = r->kubeadm_scan_err;
		rc = r->kubeadm_scan_rc;
	}
	if (rc < 0)
		return errbuf_prefix(err, "reading bin/kubeadm and " KUBEADM_YML " of image %s",
				     r->c->image);
	/* The test images of the phases before kubeadm carry a recording kubeadm and no
	 * version: they keep their phases. A base image that lost its etc/kubeadm.yml would
	 * then install no Kubernetes, so it is said loudly, before any host is touched. */
	if (r->has_kubeadm && !r->kubeadm_yml) {
		log_warning("image %s has bin/kubeadm but no " KUBEADM_YML ", where a Kubernetes base "
			    "image states its version (a ClusterConfiguration with kubernetesVersion: "
			    "vX.Y.Z): it is not taken as one, and the kubeadm phases are skipped; "
			    "rebuild it with make base-image if it is one", r->c->image);
		r->has_kubeadm = false;
	}
	if (!r->has_kubeadm) {
		if (r->c->nkubeadm)
			log_notice("image %s has no kubeadm: the Clusterfile's kubeadm documents are "
				   "not used", r->c->image);
		return 0;
	}
	r->kubeadm_yml_name = xasprintf("%s:" KUBEADM_YML, r->c->image);
	rc = read_version(r, err);
	if (rc < 0)
		return rc;
	r->master_ips = xcalloc(r->n, sizeof(*r->master_ips));
	for (size_t i = 0; i < r->n; i++)
		if (r->hosts[i].spec->role == ROLE_MASTER)
			r->master_ips[r->n_masters++] = r->hosts[i].spec->ip;
	r->kubeadm_docs = xcalloc(r->c->nkubeadm + 1, sizeof(*r->kubeadm_docs));
	for (size_t i = 0; i < r->c->nkubeadm; i++)
		r->kubeadm_docs[i] = (struct kubeadm_user_doc){ r->c->kubeadm[i].file,
								r->c->kubeadm[i].tree };
	r->not_ready = xcalloc(r->n, sizeof(*r->not_ready));
	r->node_names = xcalloc(r->n, sizeof(*r->node_names));
	run_kubeadm_in(r, NULL, &in);
	rc = kubeadm_config_validate(&in, err);
	if (rc < 0)
		return errbuf_prefix(err, "the kubeadm config of image %s (Kubernetes %s)", r->c->image,
				     r->k8s_version);
	return 0;
}

void run_kubeadm_release(struct run *r)
{
	free(r->k8s_version);
	free(r->kubeadm_yml);
	free(r->kubeadm_yml_name);
	free(r->master_ips);
	free(r->kubeadm_docs);
	free(r->not_ready);
	for (size_t i = 0; r->node_names && i < r->n; i++)
		free(r->node_names[i]);
	free(r->node_names);
	explicit_bzero(&r->join, sizeof(r->join));
	explicit_bzero(r->cert_key, sizeof(r->cert_key));
}

bool run_no_kubeadm(const struct run *r)
{
	return !r->has_kubeadm;
}

bool run_no_master_joins(const struct run *r)
{
	return !r->has_kubeadm || r->n_masters < 2;
}

bool run_no_node_joins(const struct run *r)
{
	return !r->has_kubeadm || r->n_masters == r->n;
}

bool run_no_joins(const struct run *r)
{
	return run_no_master_joins(r) && run_no_node_joins(r);
}

void run_kubeadm_plan(const struct run *r, size_t host)
{
	const struct cluster_host *s = r->hosts[host].spec;

	if (!r->has_kubeadm)
		return;
	if (host == 0)
		report_text("  kubeadm init (Kubernetes %s) with " REMOTE_ROOT "/data/%s/kubeadm-init.yaml "
			    "(%zu Clusterfile document%s over the image's " KUBEADM_YML "), then every "
			    "node Ready within %us", r->k8s_version, r->c->name, r->c->nkubeadm,
			    r->c->nkubeadm == 1 ? "" : "s",
			    r->o->ready_timeout_s ? r->o->ready_timeout_s : 300);
	else
		report_text("  kubeadm join as %s with " REMOTE_ROOT "/data/%s/kubeadm-join.yaml",
			    s->role == ROLE_MASTER ? "a control-plane node (one at a time)" : "a node",
			    r->c->name);
}

int run_kubeadm_write(struct run *r, struct host_state *h, enum kubeadm_role role,
		      const char *name, char **ret_path)
{
	_cleanup_buf_ struct buf cfg = BUF_INIT(MSG_MAX_KUBEADM_CONFIG);
	_cleanup_free_ char *path = NULL, *want = NULL;
	struct kubeadm_config_in in;
	int rc;

	run_kubeadm_in(r, h, &in);
	rc = kubeadm_config_render(role, &in, &cfg, &h->err);
	if (rc < 0)
		return errbuf_prefix(&h->err, "rendering the kubeadm config");
	ssh_conn_set_timeout(h->conn, 60);
	rc = agent_client_kubeadm_config(h->ac, r->c->name, name, cfg.data, &path, &h->err);
	explicit_bzero(cfg.data, cfg.len);
	if (rc < 0)
		return rc;
	/* the path goes into a command line: it must be the one asked for, whatever came back */
	want = xasprintf(REMOTE_ROOT "/data/%s/%s", r->c->name, name);
	if (!path || strcmp(path, want) != 0)
		return errbuf_set(&h->err, -EPROTO, "the agent wrote the kubeadm config to '%.200s', "
				  "not %s", path ? path : "", want);
	*ret_path = TAKE_PTR(want);
	return 0;
}

struct capture {
	struct host_state *h;
	struct buf *out;
	bool over;
};

static void on_capture(void *data, int stream, const char *buf, size_t n)
{
	struct capture *c = data;

	if (stream == 1 && c->out) {
		if (buf_append(c->out, buf, n) < 0)
			c->over = true;
		return;
	}
	run_host_output(c->h, stream, buf, n);
}

int run_host_exec(struct host_state *h, const char *script, unsigned timeout_s,
		  struct buf *out, struct agent_exit *ex)
{
	struct capture c = { h, out, false };
	int rc;

	*ex = (struct agent_exit){ 0 };
	ssh_conn_set_timeout(h->conn, timeout_s + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, script, "/", h->spec->env, h->spec->nenv, timeout_s,
			       on_capture, &c, ex, &h->err);
	if (h->line.len)
		run_host_output(h, 2, "\n", 1);
	if (rc >= 0 && c.over)
		rc = errbuf_set(&h->err, -E2BIG, "'%.60s…' printed more than %zu bytes", script,
				out->cap);
	return rc;
}

int run_host_test(struct host_state *h, const char *path)
{
	_cleanup_free_ char *script = xasprintf("test -e '%s'", path);
	struct agent_exit ex;
	int rc = run_host_exec(h, script, 30, NULL, &ex);

	if (rc < 0)
		return rc;
	if (ex.timed_out || ex.exit_code < 0 || ex.exit_code > 1)
		return errbuf_set(&h->err, -EIO, "cannot tell whether %s exists", path);
	return ex.exit_code == 0;
}
