/* A reconcile of a saved cluster (installer/apply.h): the plan, the run over the new
 * definition, then the removals, a table of their own on the run's machinery. */
#include "run-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "apply.h"
#include "cleanup.h"
#include "cluster-diff.h"
#include "cluster-state.h"
#include "kube-nodes.h"
#include "log.h"
#include "report.h"

#define DRAIN_TIMEOUT_S 300
#define ADMIN_CONF "/etc/kubernetes/admin.conf"

/* hosts[0] is master0 of the new definition, where kubectl runs; every other host of the
 * removal's run is one being removed */
static bool pick_removed(const struct run *r, size_t i)
{
	(void)r;
	return i > 0;
}

static bool pick_removed_nodes(const struct run *r, size_t i)
{
	return i > 0 && r->hosts[i].spec->role == ROLE_NODE;
}

static bool pick_removed_masters(const struct run *r, size_t i)
{
	return i > 0 && r->hosts[i].spec->role == ROLE_MASTER;
}

static const struct phase_hosts on_removed = { "on the removed hosts", pick_removed };
static const struct phase_hosts on_removed_nodes = { "on the removed nodes", pick_removed_nodes };
static const struct phase_hosts on_removed_masters = { "on the removed masters",
						       pick_removed_masters };

/* A command on master0 for the removed host h. The phases that use it take one host at a
 * time, so master0's session has one user; what failed becomes h's error. */
static int on_master0(struct run *r, struct host_state *h, const char *what, const char *cmd,
		      unsigned timeout, struct buf *out)
{
	struct host_state *m0 = &r->hosts[0];
	struct agent_exit ex;
	int rc = run_host_exec(m0, cmd, timeout, out, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		rc = errbuf_set(&m0->err, -EIO, "%s %s on master0 %s; its last lines:\n%s", what,
				ex.timed_out ? "did not finish in time" : "failed", m0->spec->ip,
				m0->tail.data);
	if (rc < 0) {
		errbuf_set(&h->err, rc, "%s", errbuf_msg(&m0->err));
		errbuf_clear(&m0->err);
	}
	return rc;
}

/* h's node: its name into r->node_names (NULL when the cluster does not list it: never
 * joined, or deleted by an earlier try). */
static int find_node(struct run *r, struct host_state *h, size_t i)
{
	_cleanup_buf_ struct buf out = BUF_INIT(KUBE_ANSWER_MAX);
	struct kube_nodes nodes = { 0 };
	int rc = on_master0(r, h, "kubectl get nodes", "exec kubectl get nodes -o json", 60, &out);

	if (rc >= 0)
		rc = kube_nodes_parse(out.data, out.len, &nodes, &h->err);
	if (rc < 0)
		return errbuf_prefix(&h->err, "its node in master0's node list");
	rc = kube_nodes_find_ip(&nodes, h->spec->ip, &h->err);
	if (rc >= 0)
		r->node_names[i] = xstrdup(nodes.v[rc].name);
	else if (rc == -ENOENT)
		errbuf_clear(&h->err);
	kube_nodes_release(&nodes);
	return rc == -ENOENT ? 0 : rc;
}

/* Phase "drain". A master0 without admin.conf never ran kubeadm (an image without it, or
 * an install that stopped before): there is no node to drain or delete. */
static int phase_drain(struct run *r, struct host_state *h)
{
	size_t i = (size_t)(h - r->hosts);
	_cleanup_free_ char *cmd = NULL;
	int rc = run_host_test(&r->hosts[0], ADMIN_CONF);

	if (rc < 0) {
		errbuf_set(&h->err, rc, "master0: %s", errbuf_msg(&r->hosts[0].err));
		errbuf_clear(&r->hosts[0].err);
		return rc;
	}
	if (rc == 0) {
		log_host(LOG_INFO, h->spec->ip, "master0 has no " ADMIN_CONF " (kubeadm never ran "
			 "there): no node to drain or delete");
		return 0;
	}
	rc = find_node(r, h, i);
	if (rc < 0)
		return rc;
	if (!r->node_names[i]) {
		log_host(LOG_NOTICE, h->spec->ip, "no node of the cluster has this address (never "
			 "joined, or deleted already): nothing to drain or delete");
		return 0;
	}
	/* node names passed kube_nodes_parse's DNS-1123 check: no quote can be in one */
	cmd = xasprintf("exec kubectl drain '%s' --ignore-daemonsets --delete-emptydir-data "
			"--force --timeout=%us", r->node_names[i], DRAIN_TIMEOUT_S);
	log_host(LOG_NOTICE, h->spec->ip, "kubectl drain %s (on master0 %s)", r->node_names[i],
		 r->hosts[0].spec->ip);
	return on_master0(r, h, "kubectl drain", cmd, DRAIN_TIMEOUT_S + 30, NULL);
}

/* Phase "delete node", after the host's kubeadm reset stopped its kubelet (a kubelet still
 * running registers its node again), as kubeadm's own docs order it. */
static int phase_delete_node(struct run *r, struct host_state *h)
{
	size_t i = (size_t)(h - r->hosts);
	_cleanup_free_ char *cmd = NULL;

	if (!r->node_names[i])
		return 0;
	cmd = xasprintf("exec kubectl delete node '%s' --ignore-not-found", r->node_names[i]);
	log_host(LOG_NOTICE, h->spec->ip, "kubectl delete node %s (on master0 %s)",
		 r->node_names[i], r->hosts[0].spec->ip);
	return on_master0(r, h, "kubectl delete node", cmd, 60, NULL);
}

/* PreClean, drain, the cleans, delete node, PostClean: each on the hosts removed alone */
const struct phase run_remove_pipeline[] = {
	{ .name = "PreClean", .run = phase_plugins_pre_clean, .on = &on_removed,
	  .skip = run_no_plugins_pre_clean },
	{ .name = "drain", .run = phase_drain, .on = &on_removed, .flags = PHASE_ONE_AT_A_TIME },
	{ .name = "clean nodes", .run = phase_clean, .on = &on_removed_nodes },
	{ .name = "clean masters", .run = phase_clean, .on = &on_removed_masters,
	  .flags = PHASE_ONE_AT_A_TIME },
	{ .name = "delete node", .run = phase_delete_node, .on = &on_removed,
	  .flags = PHASE_ONE_AT_A_TIME },
	{ .name = "PostClean", .run = phase_plugins_post_clean, .on = &on_removed,
	  .skip = run_no_plugins_post_clean },
};
const size_t run_remove_pipeline_len = ELEMENTSOF(run_remove_pipeline);

/* The removed hosts (failed ones: failed true) as a comma list into out. */
static const char *removed_list(const struct run *r, bool failed, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 1; i < r->n; i++)
		if (r->hosts[i].failed == failed)
			buf_printf(out, "%s%s", out->len ? ", " : "", r->hosts[i].spec->ip);
	return out->data ? out->data : "";
}

static size_t removed_failed(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 1; i < r->n; i++)
		n += r->hosts[i].failed;
	return n;
}

/* The reachable removed hosts through the table; 0 when every one was removed (with
 * --force: every reachable one), 1 otherwise. *ran: whether the table ran at all (when it
 * did not, no host was removed, reachable or not). */
static int remove_reached(struct run *r, const struct run_opts *o, bool *ran)
{
	_cleanup_buf_ struct buf list = BUF_INIT(64u << 10);
	size_t unreachable = removed_failed(r);

	*ran = false;
	if (r->hosts[0].failed) {
		log_error("master0 %s cannot drain them (%s): no host was removed (they stay to "
			  "clean: run the same command again once master0 can be used)",
			  r->hosts[0].spec->ip, errbuf_msg(&r->hosts[0].err));
		return 1;
	}
	if (unreachable && !o->force) {
		log_error("cannot reach %s: no host was removed; run again once %s reachable, or "
			  "with --force to remove the others (the skipped ones stay to clean)",
			  removed_list(r, true, &list), unreachable == 1 ? "it is" : "they are");
		return 1;
	}
	if (unreachable)
		log_warning("--force: skipping %s (unreachable): not drained, not cleaned",
			    removed_list(r, true, &list));
	*ran = true;
	pipeline_run(r, run_remove_pipeline, run_remove_pipeline_len);
	for (size_t i = 1; i < r->n; i++)
		if (r->hosts[i].failed && r->hosts[i].failed_phase &&
		    strcmp(r->hosts[i].failed_phase, "connect") != 0 &&
		    strcmp(r->hosts[i].failed_phase, "agent") != 0)
			log_error("%s: not removed (%s): %s", r->hosts[i].spec->ip,
				  r->hosts[i].failed_phase, errbuf_msg(&r->hosts[i].err));
	return removed_failed(r) == 0 || (o->force && removed_failed(r) == unreachable) ? 0 : 1;
}

/* Removes the hosts of rec from the cluster want describes (want->hosts[0] drains them);
 * rec keeps the ones that were not removed, and is saved. */
static int remove_hosts(struct image_store *st, const struct cluster *want, struct cluster *rec,
			const struct run_opts *o)
{
	const char *home = image_store_home(st);
	struct errbuf err = ERRBUF_INIT;
	_cleanup_buf_ struct buf list = BUF_INIT(64u << 10);
	_cleanup_free_ char *label = xasprintf("%s.remove", want->name);
	struct cluster rm = *want; /* borrowed: name, image, env, plugins */
	struct run r = { 0 };
	char **done = NULL;
	size_t ndone = 0;
	int code = 1;

	rm.hosts = xcalloc(1 + rec->nhosts, sizeof(*rm.hosts));
	rm.nhosts = 1 + rec->nhosts;
	rm.hosts[0] = want->hosts[0];
	for (size_t i = 0; i < rec->nhosts; i++) {
		rm.hosts[1 + i] = rec->hosts[i];
		log_add_secret(rec->hosts[i].ssh.password);
		log_add_secret(rec->hosts[i].ssh.pk_passphrase);
	}
	log_add_secret(want->hosts[0].ssh.password);
	log_add_secret(want->hosts[0].ssh.pk_passphrase);
	if (report_open(home, label, o->json, &err) < 0 ||
	    run_saved_init(&r, st, &rm, o, &err) < 0 || run_plugins_load(&r, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		goto out;
	}
	r.node_names = xcalloc(r.n, sizeof(*r.node_names));
	report_text("removing %s from cluster %s: drained on master0 %s, reset and cleaned, "
		    "nodes first", removed_list(&r, false, &list), want->name, want->hosts[0].ip);
	pipeline_run(&r, run_reach, run_reach_len);
	bool ran;
	code = remove_reached(&r, o, &ran);
	/* only a host the removal went through is removed: one it never reached (refused
	 * for another host, or master0 unusable) stays to clean */
	for (size_t i = 1; ran && i < r.n; i++) {
		if (r.hosts[i].failed)
			continue;
		done = xreallocarray(done, ndone + 1, sizeof(*done));
		done[ndone++] = xstrdup(r.hosts[i].spec->ip);
	}
	if (ndone)
		report_text("removed from cluster %s: %s", want->name,
			    removed_list(&r, false, &list));
out:
	if (code != 0 && report_log_path())
		log_error("the full log of this removal: %s", report_log_path());
	run_release(&r);
	free(rm.hosts);
	report_close();
	for (size_t i = 0; i < ndone; i++) {
		/* its journal's copy on this machine goes with it (a host joined again later
		 * starts from its own, empty, journal anyway) */
		_cleanup_free_ char *copy = xasprintf("%s/clusters/%s/journal/%s", home, want->name,
						      done[i]);
		if (unlink(copy) < 0 && errno != ENOENT)
			log_warning("cannot remove %s: %m", copy);
		cluster_to_clean_done(rec, done[i]);
		free(done[i]);
	}
	free(done);
	if (cluster_state_save_to_clean(home, rec, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		code = 1;
	} else if (rec->nhosts) {
		buf_reset(&list);
		for (size_t i = 0; i < rec->nhosts; i++)
			buf_printf(&list, "%s%s", i ? ", " : "", rec->hosts[i].ip);
		log_error("cluster %s: still to clean on %s (kept in %s/clusters/%s/"
			  CLUSTER_TO_CLEAN_FILE "): once the cause is removed, run the same command "
			  "again, or 'cirun apply -f %s/clusters/%s/" CLUSTER_STATE_FILE "'",
			  want->name, list.data, home, want->name, home, want->name);
	}
	log_clear_secrets();
	return code;
}

/* The plan on stdout (stderr with --output json: stdout holds the events alone). */
static void print_plan(const struct cluster_diff *d, const struct cluster *want,
		       const struct cluster *rec, const struct run_opts *o)
{
	FILE *f = o->json ? stderr : stdout;

	fprintf(f, "cluster %s: changes against its saved definition:\n", want->name);
	cluster_apply_plan_print(d, rec, f);
	if (o->dry_run)
		fprintf(f, "DRY RUN — nothing changed, no host contacted, nothing saved\n");
	fflush(f);
}

int cluster_apply(struct image_store *st, const struct cluster *saved, struct cluster *want,
		  bool allow_master0, const struct run_opts *o)
{
	const char *home = image_store_home(st);
	struct errbuf err = ERRBUF_INIT;
	struct cluster_diff d;
	struct cluster rec = { 0 };
	bool installs;
	int code;

	if (cluster_diff(saved, want, allow_master0, &d, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return 2;
	}
	if (cluster_state_load_to_clean(home, want->name, &rec, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		cluster_diff_release(&d);
		return 1;
	}
	if (!rec.image)
		rec.image = xstrdup(want->image);
	cluster_to_clean_update(&rec, want, &d);
	print_plan(&d, want, &rec, o);
	installs = cluster_apply_installs(&d);
	cluster_diff_release(&d);
	if (o->dry_run) {
		cluster_release(&rec);
		return 0;
	}
	/* first: from here the new definition may be saved, and it no longer names them */
	if (cluster_state_save_to_clean(home, &rec, &err) < 0 ||
	    (!installs && cluster_state_save(home, want, &err) < 0)) {
		log_error("%s", errbuf_msg(&err));
		cluster_release(&rec);
		return 1;
	}
	code = installs ? cluster_run(st, want, o, &err) : 0;
	if (code < 0) {
		log_error("%s", errbuf_msg(&err));
		code = 1;
	}
	if (code != 0 && rec.nhosts)
		log_error("cluster %s: the run over the new definition failed, so no host was "
			  "removed (%zu still to clean): run the apply again once the cause is "
			  "removed", want->name, rec.nhosts);
	else if (rec.nhosts)
		code = remove_hosts(st, want, &rec, o);
	cluster_release(&rec);
	return code;
}
