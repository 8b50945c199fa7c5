/* `cirun delete --all`: the saved cluster taken off its hosts (installer/delete.h), on
 * the run's machinery: the same connect and agent phases, a table of its own. */
#include "run-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "cluster-state.h"
#include "delete.h"
#include "log.h"
#include "report.h"
#include "ssh.h"

#define RESET_TIMEOUT_S 600

/* The hosts reached; with --force the unreachable ones are passed over, else the delete
 * stops before any host is changed. */
const struct phase run_reach[] = {
	{ .name = "connect", .run = phase_connect },
	{ .name = "agent", .run = phase_agent },
};
const size_t run_reach_len = ELEMENTSOF(run_reach);

/* One step of a host's clean through EXEC: output streamed, a failure naming the step. */
static int clean_exec(struct run *r, struct host_state *h, const char *step, const char *script)
{
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : RESET_TIMEOUT_S;
	struct agent_exit ex;
	int rc = run_host_exec(h, script, timeout, NULL, &ex);

	if (rc < 0)
		return errbuf_prefix(&h->err, "%s", step);
	if (ex.timed_out)
		return errbuf_set(&h->err, -ETIMEDOUT, "%s did not finish within %us; its last "
				  "lines:\n%s", step, timeout, h->tail.data);
	if (ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "%s exited with %d%s; its last lines:\n%s", step,
				  ex.exit_code, ex.signal ? " (killed)" : "", h->tail.data);
	return 0;
}

/* kubeadm reset -f (the rootfs's kubeadm only: one on PATH may be another cluster's),
 * the rootfs's scripts/clean.sh when it has one, then the agent's CLEAN. Nothing on a
 * host without ROOT/data/<name>; no reset where another cluster's kubelet lives. The
 * cluster name is a validated name ([a-z0-9._-]): safe inside the script's quotes. */
int phase_clean(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *other = NULL;
	int probe = run_clean_probe(r, h, &other);

	if (probe < 0)
		return probe;
	if (probe == CLEAN_ABSENT) {
		h->clean_absent = true;
		log_host(LOG_INFO, h->spec->ip, "nothing of cluster %s on %s: nothing to clean",
			 r->c->name, h->spec->ip);
		return 0;
	}
	if (probe == CLEAN_SHARED)
		log_host(LOG_WARNING, h->spec->ip, "kubeadm reset -f skipped (and /root/.kube/config "
			 "kept): the host's kubeadm or kubelet files are also in cluster %s's install "
			 "record; delete that cluster too to reset this host", other);
	/* kubeadm reset leaves $HOME/.kube/config (it says to remove it): the run put it there
	 * as a copy of admin.conf (kubeadm-init.c); removed only while it still is one */
	_cleanup_free_ char *reset = xasprintf(
		"A=/etc/kubernetes/admin.conf\n"
		"if [ -f \"$A\" ] && command -v cmp >/dev/null && cmp -s \"$A\" /root/.kube/config; then\n"
		"  rm -f /root/.kube/config && echo 'removed /root/.kube/config (a copy of "
		"admin.conf)'\nfi\n"
		"R='" REMOTE_ROOT "/data/%s/rootfs'\n"
		"if [ -x \"$R/bin/kubeadm\" ]; then exec \"$R/bin/kubeadm\" reset -f; fi\n"
		"echo 'no bin/kubeadm in the rootfs: kubeadm reset skipped'\n", r->c->name);
	_cleanup_free_ char *clean = xasprintf(
		"R='" REMOTE_ROOT "/data/%s/rootfs'\n"
		"if [ -f \"$R/scripts/clean.sh\" ]; then cd \"$R/scripts\" && exec bash clean.sh; fi\n"
		"echo 'no scripts/clean.sh in the rootfs: skipped'\n", r->c->name);
	_cleanup_free_ char *detail = NULL;
	int rc = probe == CLEAN_SHARED ? 0 : clean_exec(r, h, "kubeadm reset -f", reset);

	if (rc >= 0)
		rc = clean_exec(r, h, "scripts/clean.sh", clean);
	if (rc >= 0) {
		ssh_conn_set_timeout(h->conn, RESET_TIMEOUT_S);
		rc = agent_client_clean(h->ac, r->c->name, &detail, &h->err);
		if (rc < 0)
			return errbuf_prefix(&h->err, "clean (units, installed files, /etc/hosts, data)");
		log_host(LOG_INFO, h->spec->ip, "cleaned: %s", detail);
	}
	return rc;
}

/* Nodes first, then the other masters one at a time, master0 last, as sealer resets. */
static const struct phase delete_pipeline[] = {
	{ .name = "PreClean", .run = phase_plugins_pre_clean, .skip = run_no_plugins_pre_clean },
	{ .name = "clean nodes", .run = phase_clean, .on = &phase_on_nodes },
	{ .name = "clean masters", .run = phase_clean, .on = &phase_on_other_masters,
	  .flags = PHASE_ONE_AT_A_TIME },
	{ .name = "clean master0", .run = phase_clean, .on = &phase_on_master0 },
	{ .name = "PostClean", .run = phase_plugins_post_clean, .skip = run_no_plugins_post_clean },
};

int run_saved_init(struct run *r, struct image_store *st, struct cluster *c,
		   const struct run_opts *o, struct errbuf *err)
{
	struct errbuf e = ERRBUF_INIT;
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
	if (image_store_get(st, c->image, &r->img, &e) >= 0) {
		for (size_t i = 0; i < r->img.meta.nlayers; i++) {
			if (!r->img.meta.layers[i].digest)
				continue;
			r->digests = xreallocarray(r->digests, r->nlayers + 1, sizeof(*r->digests));
			r->digests[r->nlayers++] = r->img.meta.layers[i].digest;
		}
	}
	r->known_hosts = xasprintf("%s/known_hosts", image_store_home(st));
	r->n = c->nhosts;
	r->hosts = xcalloc(r->n, sizeof(*r->hosts));
	for (size_t i = 0; i < r->n; i++) {
		r->hosts[i].spec = &c->hosts[i];
		buf_init(&r->hosts[i].tail, 64 << 10);
		buf_init(&r->hosts[i].line, 64 << 10);
	}
	return ssh_global_init(8);
}

/* The hosts (failed ones: failed true) as a comma list into out. */
static const char *host_list(const struct run *r, bool failed, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < r->n; i++)
		if (r->hosts[i].failed == failed)
			snprintf(out + strlen(out), size - strlen(out), "%s%s", *out ? ", " : "",
				 r->hosts[i].spec->ip);
	return out;
}

static size_t failed_count(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->hosts[i].failed;
	return n;
}

/* Every host cleaned: the saved definition goes. Else it stays, naming the hosts left
 * (with --force: down to them, delete-guard.c). */
static int delete_end(struct run *r, const char *home, size_t unreachable)
{
	char left[4096];
	struct errbuf e = ERRBUF_INIT;

	if (failed_count(r) == 0) {
		if (cluster_state_remove(home, r->c->name, &e) < 0) {
			log_error("%s", errbuf_msg(&e));
			return 1;
		}
		report_text("cluster %s deleted from %zu host%s; its saved definition removed",
			    r->c->name, r->n, r->n == 1 ? "" : "s");
		return 0;
	}
	host_list(r, true, left, sizeof(left));
	for (size_t i = 0; i < r->n; i++)
		if (r->hosts[i].failed)
			log_error("%s: not cleaned (%s): %s", r->hosts[i].spec->ip,
				  r->hosts[i].failed_phase ? r->hosts[i].failed_phase : "?",
				  errbuf_msg(&r->hosts[i].err));
	if (r->o->force)
		return run_delete_forced_end(r, home, unreachable, left);
	report_text("cluster %s: still to clean on %s; the saved definition (%s/clusters/%s) is "
		    "kept: run 'cirun delete --all --cluster-name %s' again once %s", r->c->name,
		    left, home, r->c->name, r->c->name,
		    unreachable ? "they are reachable" : "the cause is removed");
	return 1;
}

int cluster_delete(const char *home, struct cluster *c, const struct run_opts *o,
		   struct errbuf *err)
{
	struct image_store *st = NULL;
	struct run r = { 0 };
	char list[4096], others[4096];
	size_t unreachable;
	int rc = image_store_open(home, &st, err), code;

	for (size_t i = 0; rc >= 0 && i < c->nhosts; i++) {
		log_add_secret(c->hosts[i].ssh.password);
		log_add_secret(c->hosts[i].ssh.pk_passphrase);
	}
	if (rc >= 0)
		rc = report_open(home, c->name, o->json, err);
	if (rc >= 0)
		rc = run_saved_init(&r, st, c, o, err);
	/* the image's plugins/ are read when it is still in the store; a delete does not need
	 * it otherwise (the saved definition holds the Clusterfile's plugins) */
	if (rc >= 0 && r.nlayers == 0)
		log_warning("image %s is not in the store: the PreClean and PostClean plugins of its "
			    "plugins/ are not run (the Clusterfile's are)", c->image);
	if (rc >= 0)
		rc = run_plugins_load(&r, err);
	if (rc < 0) {
		log_error("%s", errbuf_msg(err));
		code = rc == -EINVAL ? 2 : 1;
		goto out;
	}
	report_text("deleting cluster %s (%s) from %zu host%s: nodes, then masters, master0 last",
		    c->name, c->image, r.n, r.n == 1 ? "" : "s");
	pipeline_run(&r, run_reach, run_reach_len);
	unreachable = failed_count(&r);
	if (unreachable && !o->force) {
		errbuf_set(err, -EHOSTUNREACH, "cannot reach %s: nothing was deleted; run again once "
			   "%s reachable, or with --force to clean the others (the saved definition "
			   "is then kept for the hosts left)", host_list(&r, true, list, sizeof(list)),
			   unreachable == 1 ? "it is" : "they are");
		log_error("%s", errbuf_msg(err));
		code = 1;
		goto out;
	}
	if (unreachable)
		log_warning("--force: skipping %s (unreachable); cleaning %s",
			    host_list(&r, true, list, sizeof(list)),
			    host_list(&r, false, others, sizeof(others)));
	pipeline_run(&r, delete_pipeline, ELEMENTSOF(delete_pipeline));
	code = delete_end(&r, home, unreachable);
out:
	if (code != 0 && report_log_path())
		log_error("the full log of this delete: %s", report_log_path());
	run_release(&r);
	report_close();
	log_clear_secrets();
	image_store_close(st);
	return code;
}
