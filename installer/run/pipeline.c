/* The run's phases in order (the table), and the loop that takes every host through them. */
#include "run-internal.h"

#include <string.h>

#include "log.h"
#include "pool.h"
#include "report.h"

/* The run, in order. A phase is a file of installer/run/ named after it, holding
 * `int phase_NAME(struct run *r, struct host_state *h)` (declared in run-internal.h), and
 * one row here:
 *
 *   name    what the header, the summary's first error and the plan call it
 *   run     its work on one host
 *   on      which hosts: NULL for every host, or &phase_on_master0, _masters,
 *           _other_masters, _nodes, or a struct phase_hosts of its own
 *   after   once over all hosts when they are done (the preflight table)
 *   after_name  the hook's name in the plan ("facts and preflight")
 *   skip    true when it has nothing to do in this run (no plugin at that point)
 *   flags   PHASE_ALL_OR_NOTHING: the run stops here unless every host got through
 *           (only before the first phase that changes a host); PHASE_ONE_AT_A_TIME
 *
 * A new phase is a file and a row in its place;
 * tests/unit/test-run-pipeline.c checks the order below. */
const struct phase run_pipeline[] = {
	/* all or nothing until preflight passed: a host that cannot be reached or checked
	 * stops the run before anything is changed anywhere */
	{ .name = "connect", .run = phase_connect, .flags = PHASE_ALL_OR_NOTHING },
	{ .name = "agent", .run = phase_agent },
	{ .name = "facts", .run = phase_facts, .after = run_preflight, .after_name = "preflight",
	  .flags = PHASE_ALL_OR_NOTHING },
	/* each host's step journal: where it resumes (journal.c) */
	{ .name = "journal", .run = phase_journal, .after = run_journal_after,
	  .flags = PHASE_ALL_OR_NOTHING },
	/* plugins before the rootfs is on the hosts */
	{ .name = "Originally", .run = phase_plugins_originally, .skip = run_no_plugins_originally },
	{ .name = "distribute", .run = phase_distribute },
	/* Configs go onto the rootfs distribute has just assembled, before setup renders */
	{ .name = "config", .run = phase_config, .skip = run_no_configs },
	{ .name = "setup", .run = phase_setup },
	/* sea.hub and apiserver.cluster.local resolve, and containerd pulls through the
	 * cluster's registry, before kubeadm pulls anything */
	{ .name = "hosts", .run = phase_hosts },
	{ .name = "init", .run = phase_init },
	/* the registry host only: its registry started, images/ imported, before the CMDs */
	{ .name = "registry", .run = phase_registry, .on = &phase_on_registry,
	  .skip = run_no_registry, .flags = PHASE_NEEDED_BY_ALL },
	/* every host: containerd's mirrors for the registries the import found in images/
	 * (known only now), before anything pulls them */
	{ .name = "mirrors", .run = phase_mirrors, .skip = run_no_registry },
	/* plugins.c: the plugin points, kubeadm's rows (kubeadm.c; skipped for an image without
	 * bin/kubeadm) between them. A "PHASE kubectl" row (on master0) comes just before its
	 * point where a plugin there needs the cluster: label selectors, LABEL, TAINT,
	 * CLUSTERCHECK. kubeadm: init on master0, the join data it hands out, the other
	 * masters one at a time, the nodes; then the masters' legacy label, once their nodes
	 * are registered, so that the selectors of PostJoin and later find them */
	{ .name = "PreInit", .run = phase_plugins_pre_init, .skip = run_no_plugins_pre_init },
	{ .name = "kubeadm init", .run = phase_kubeadm_init, .on = &phase_on_master0,
	  .skip = run_no_kubeadm },
	{ .name = "join data", .run = phase_join_data, .on = &phase_on_master0,
	  .skip = run_no_joins },
	{ .name = "PreJoin", .run = phase_plugins_pre_join, .on = &phase_on_joining,
	  .skip = run_no_plugins_pre_join },
	{ .name = "join masters", .run = phase_join, .on = &phase_on_other_masters,
	  .skip = run_no_master_joins, .flags = PHASE_ONE_AT_A_TIME },
	{ .name = "join nodes", .run = phase_join, .on = &phase_on_nodes, .skip = run_no_node_joins },
	{ .name = "label masters", .run = phase_label_masters, .on = &phase_on_master0,
	  .skip = run_no_kubeadm },
	{ .name = "PostJoin kubectl", .run = phase_plugins_post_join_kubectl,
	  .on = &phase_on_master0, .skip = run_no_plugins_post_join_kubectl },
	{ .name = "PostJoin", .run = phase_plugins_post_join, .skip = run_no_plugins_post_join },
	{ .name = "PreGuest kubectl", .run = phase_plugins_pre_guest_kubectl,
	  .on = &phase_on_master0, .skip = run_no_plugins_pre_guest_kubectl },
	{ .name = "PreGuest", .run = phase_plugins_pre_guest, .skip = run_no_plugins_pre_guest },
	/* the cluster is up (every host joined) when the CMDs run */
	{ .name = "cmd", .run = phase_cmd, .on = &phase_on_master0, .skip = run_no_cmds },
	/* every node Ready, after the CMDs: a node is Ready only once a CNI is configured,
	 * and an image's CMD is where sealer-format images install theirs (kubectl apply -f
	 * calico.yaml); before them, such a run could only time out. A node that is not Ready
	 * fails with its kubelet's journal, and the run stops before PostInstall */
	{ .name = "wait Ready", .run = phase_wait_ready, .on = &phase_on_master0,
	  .after = run_ready_after, .skip = run_no_kubeadm },
	/* the run's last point (after the CMDs, as sealer's Guest then PostInstall); what
	 * its plugins need from the cluster is done by master0's kubectl first */
	{ .name = "PostInstall kubectl", .run = phase_plugins_selectors, .on = &phase_on_master0,
	  .skip = run_no_plugin_selectors },
	{ .name = "PostInstall", .run = phase_plugins_post_install,
	  .skip = run_no_plugins_post_install },
};
const size_t run_pipeline_len = ELEMENTSOF(run_pipeline);

static bool pick_master0(const struct run *r, size_t i)
{
	(void)r;
	return i == 0;
}

static bool pick_masters(const struct run *r, size_t i)
{
	return r->hosts[i].spec->role == ROLE_MASTER;
}

static bool pick_other_masters(const struct run *r, size_t i)
{
	return i > 0 && pick_masters(r, i);
}

static bool pick_nodes(const struct run *r, size_t i)
{
	return r->hosts[i].spec->role == ROLE_NODE;
}

const struct phase_hosts phase_on_master0 = { "on master0", pick_master0 };
const struct phase_hosts phase_on_masters = { "on the masters", pick_masters };
const struct phase_hosts phase_on_other_masters = { "on the other masters", pick_other_masters };
const struct phase_hosts phase_on_nodes = { "on the nodes", pick_nodes };

struct phase_job {
	struct run *r;
	const struct phase *p;
};

static bool takes_part(const struct run *r, const struct phase *p, size_t i)
{
	return !r->hosts[i].failed && (!p->on || p->on->pick(r, i));
}

static void phase_one(void *data, size_t i)
{
	struct phase_job *job = data;
	struct host_state *h = &job->r->hosts[i];

	if (!takes_part(job->r, job->p, i))
		return;
	/* journal.c: done in an earlier run, as recorded */
	if (run_journal_skips(job->r, h, job->p)) {
		h->phases_done++;
		return;
	}
	int64_t t0 = run_now_ms();
	/* a step is recorded only once it succeeded */
	if (job->p->run(job->r, h) < 0 || run_journal_record(job->r, h, job->p) < 0) {
		if (!h->failed)
			host_fail(h, job->p->name, h->err.code, NULL);
	} else {
		h->phases_done++;
	}
	report_host_phase(h->spec->ip, job->p->name, !h->failed, run_now_ms() - t0);
}

/* No thread could start: each live host fails (a host never silently skips a phase). */
static void phase_no_thread(void *data, size_t i, int rc)
{
	struct phase_job *job = data;
	struct host_state *h = &job->r->hosts[i];

	if (takes_part(job->r, job->p, i))
		host_fail(h, job->p->name, rc, "cannot start a thread for it: %s; lower --parallel or "
			  "raise the process limit", strerror(-rc));
}

static size_t live_hosts(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += !r->hosts[i].failed;
	return n;
}

/* The phase on the hosts taking part; false when none does. */
static bool run_phase(struct run *r, const struct phase *p)
{
	struct phase_job job = { .r = r, .p = p };
	unsigned workers = r->o->parallel ? r->o->parallel : 32;
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += takes_part(r, p, i);
	if (n == 0)
		return false;
	report_phase(p->name, n);
	if (p->flags & PHASE_ONE_AT_A_TIME)
		workers = 1; /* one thread takes the hosts in the order of hosts[] */
	pool_run(r->n, workers, phase_one, phase_no_thread, &job);
	return true;
}

/* An all-or-nothing phase (gate) stops the run when a host did not get through it, and
 * when its `after` hook fails; a later phase's hook stops it when it fails; a phase the
 * others need stops it when a host failed in it (live_before: the live hosts before it). */
static bool must_stop(struct run *r, const struct phase *p, bool ran, size_t live_before)
{
	bool gate = p->flags & PHASE_ALL_OR_NOTHING;

	if (gate && live_hosts(r) != r->n)
		return true;
	if ((p->flags & PHASE_NEEDED_BY_ALL) && live_hosts(r) != live_before)
		return true;
	if (ran && p->after && p->after(r) < 0)
		return true;
	return gate && live_hosts(r) != r->n;
}

bool pipeline_run(struct run *r, const struct phase *phases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct phase *p = &phases[k];

		if (p->skip && p->skip(r))
			continue;
		size_t live_before = live_hosts(r);
		if (must_stop(r, p, run_phase(r, p), live_before)) {
			if (p->flags & PHASE_ALL_OR_NOTHING)
				log_error("stopped before changing any host");
			else
				log_error("stopped after %s", p->name);
			return false;
		}
	}
	return true;
}

static bool selective(const struct phase *p)
{
	return p->on || (p->flags & PHASE_ONE_AT_A_TIME);
}

void pipeline_describe(const struct run *r, const struct phase *phases, size_t n,
		       struct buf *out)
{
	bool everywhere = true;
	const char *sep = " ";

	for (size_t k = 0; k < n; k++)
		if (!(phases[k].skip && phases[k].skip(r)) && selective(&phases[k]))
			everywhere = false;
	buf_printf(out, "phases%s:", everywhere ? " on every host" : "");
	for (size_t k = 0; k < n; k++) {
		const struct phase *p = &phases[k];
		bool one = p->flags & PHASE_ONE_AT_A_TIME;

		if (p->skip && p->skip(r))
			continue;
		buf_printf(out, "%s%s", sep, p->name);
		sep = ", ";
		if (p->after_name)
			buf_printf(out, " and %s", p->after_name);
		if (selective(p))
			buf_printf(out, " (%s%s%s)", p->on ? p->on->name : "", p->on && one ? ", " : "",
				   one ? "one at a time" : "");
	}
}
