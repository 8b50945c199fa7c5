/* `cirun run`'s driver: the run's state from start to release; the phases themselves are
 * the table in pipeline.c. */
#include "run-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-client.h"
#include "cluster-state.h"
#include "log.h"
#include "report.h"
#include "ssh.h"
#include "ydoc.h"

int64_t run_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...)
{
	va_list ap;

	h->failed = true;
	h->failed_phase = phase;
	if (fmt) {
		va_start(ap, fmt);
		errbuf_setv(&h->err, r < 0 ? r : -EIO, fmt, ap);
		va_end(ap);
	}
	log_host(LOG_ERR, h->spec->ip, "%s failed: %s", phase, errbuf_msg(&h->err));
	return r < 0 ? r : -EIO;
}

static void hosts_close(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		struct errbuf e = ERRBUF_INIT;
		if (h->ac && !h->failed && agent_client_bye(h->ac, &e) < 0)
			log_host(LOG_WARNING, h->spec->ip, "ending the agent's session: %s", errbuf_msg(&e));
		agent_client_free(h->ac);
		/* after a clean BYE the agent exits 0; anything else is worth a look */
		int st = h->agent_ch ? ssh_chan_close(h->agent_ch) : 0;
		if (st != 0 && !h->failed)
			log_host(LOG_WARNING, h->spec->ip, "the agent ended with %s %d (see 'journalctl "
				 "-t cirun-agent' on the host)", st < 0 ? "error" : "status", st);
		ssh_conn_close(h->conn);
		ynode_free(h->facts);
		buf_release(&h->tail);
		buf_release(&h->line);
	}
}

static int run_init(struct run *r, struct image_store *st, struct cluster *c,
		    const struct run_opts *o, struct errbuf *err)
{
	int rc;

	r->c = c;
	r->st = st;
	r->o = o;
	r->agent_path = run_find_agent(o);
	if (!r->agent_path)
		return errbuf_set(err, -ENOENT, "cannot find cirun-agent next to cirun; set "
				  "CIRUN_AGENT=/path/to/cirun-agent");
	rc = sha256_file(r->agent_path, r->agent_hex, NULL);
	if (rc < 0)
		return errbuf_set(err, rc, "cannot read the agent '%s': %s", r->agent_path, strerror(-rc));
	rc = image_store_get(st, c->image, &r->img, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < r->img.meta.nlayers; i++) {
		if (!r->img.meta.layers[i].digest)
			continue;
		r->digests = xreallocarray(r->digests, r->nlayers + 1, sizeof(*r->digests));
		r->sizes = xreallocarray(r->sizes, r->nlayers + 1, sizeof(*r->sizes));
		r->digests[r->nlayers] = r->img.meta.layers[i].digest;
		r->sizes[r->nlayers] = r->img.meta.layers[i].size;
		r->nlayers++;
	}
	r->known_hosts = xasprintf("%s/known_hosts", image_store_home(st));
	r->feeds = run_layer_feeds_new();
	r->n = c->nhosts;
	r->hosts = xcalloc(r->n, sizeof(*r->hosts));
	for (size_t i = 0; i < r->n; i++) {
		r->hosts[i].spec = &c->hosts[i];
		buf_init(&r->hosts[i].tail, 64 << 10);
		buf_init(&r->hosts[i].line, 64 << 10);
	}
	return ssh_global_init(8);
}

void run_release(struct run *r)
{
	run_journal_release(r);
	hosts_close(r);
	free(r->hosts);
	free(r->digests);
	free(r->sizes);
	free(r->agent_path);
	free(r->known_hosts);
	run_plugins_release(r);
	run_registry_release(r);
	run_roles_release(r);
	run_kubeadm_release(r);
	run_layers_scan_release(r);
	run_layer_feeds_release(r);
	image_release(&r->img);
}

static void register_secrets(const struct cluster *c)
{
	log_add_secret(c->ssh.password);
	log_add_secret(c->ssh.pk_passphrase);
	for (size_t i = 0; i < c->nhosts; i++) {
		log_add_secret(c->hosts[i].ssh.password);
		log_add_secret(c->hosts[i].ssh.pk_passphrase);
	}
}

static int finish(struct run *r, int code)
{
	if (code != 0 && report_log_path())
		log_error("the full log of this run: %s", report_log_path());
	run_release(r);
	report_close();
	log_clear_secrets(); /* wipes our copies; the run is over */
	return code;
}

/* The desired definition (installer/cluster-state.h), which delete, status and later runs
 * read: saved once every host was reached, locked and passed preflight, and before the
 * first change to any of them. Not before: a run whose password or address was mistyped,
 * or that preflight stopped, would replace the definition of a working cluster, or name
 * hosts that hold nothing of it. */
int run_save_definition(struct run *r)
{
	struct errbuf err = ERRBUF_INIT;

	if (!r->save_definition)
		return 0;
	if (cluster_state_save(image_store_home(r->st), r->c, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return -1;
	}
	log_info("cluster %s: definition saved as %s/clusters/%s/" CLUSTER_STATE_FILE, r->c->name,
		 image_store_home(r->st), r->c->name);
	return 0;
}

int cluster_run(struct image_store *st, struct cluster *c, const struct run_opts *o,
		struct errbuf *err)
{
	struct run r = { 0 };
	bool any_failed = false;
	int rc;

	register_secrets(c);
	rc = report_open(image_store_home(st), c->name, o->json, err);
	if (rc >= 0)
		rc = run_init(&r, st, c, o, err);
	if (rc < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 1);
	}
	/* a plugin that cannot run is a usage error, found before any host is touched */
	if (run_plugins_load(&r, err) < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 2);
	}
	if (run_registry_load(&r, err) < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 1);
	}
	if (run_hosts_check(&r, err) < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 2);
	}
	/* a kubeadm input that kubeadm would refuse is a usage error, before any host */
	if (run_kubeadm_load(&r, err) < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 2);
	}
	/* after the usage checks, once the registry host is picked; kubeadm and registry
	 * read the originals */
	if (run_roles_load(&r, err) < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 1);
	}
	if (o->dry_run)
		report_text("DRY RUN — nothing will be changed, and no host is contacted");
	report_run_start(c->image, r.img.id, r.nlayers, c->name, r.n, o->dry_run);
	if (o->dry_run) {
		run_plan(&r);
		return finish(&r, 0);
	}
	/* saved once every host is reached, locked and checked (run_save_definition) */
	r.save_definition = true;
	bool ready = pipeline_run(&r, run_pipeline, run_pipeline_len);
	for (size_t i = 0; i < r.n; i++) {
		r.hosts[i].t_end_ms = run_now_ms();
		any_failed |= r.hosts[i].failed;
	}
	run_summary(&r);
	return finish(&r, any_failed || !ready ? 1 : 0);
}
