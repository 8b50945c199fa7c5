/* Phases "label masters", on master0 after the joins, and "wait Ready", on master0 after
 * the CMDs; both read `kubectl get nodes -o json` every 2 s, matching each host to its
 * node by its InternalIP (`-o json`), within --ready-timeout (default 5 min).
 *
 * label masters: once every live master's node is registered (kubeadm init and a
 * control-plane join return when theirs is), each gets the legacy label
 * node-role.kubernetes.io/master= (kubeadm >= 1.24 sets only …/control-plane; the
 * selectors of images made for older versions, like the seed's, look for it), before
 * the plugin points whose selectors may.
 *
 * wait Ready: until every live host's node is Ready. On timeout, the `after` hook fails
 * each host whose node was not Ready with the last lines of its kubelet's journal,
 * fetched from that host, and the run stops there. */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "agent-client.h"
#include "kube-nodes.h"
#include "log.h"

#define POLL_MS 2000
#define JOURNAL_LINES 15
#define JOURNAL_IN_ERROR 600 /* bytes of the journal's end in the host's error */

static unsigned ready_timeout(const struct run *r)
{
	return r->o->ready_timeout_s ? r->o->ready_timeout_s : 300;
}

/* The node whose InternalIP is ip, NULL when none (or, as kube_nodes_find_ip refuses it,
 * when several claim it: the host cannot be told apart, so it is not taken as Ready). */
static const struct kube_node *node_of(const struct kube_nodes *nodes, const char *ip)
{
	struct errbuf ignored = ERRBUF_INIT;
	int i = kube_nodes_find_ip(nodes, ip, &ignored);
	return i >= 0 ? &nodes->v[i] : NULL;
}

/* What a look waits for: every live host's node Ready, or every live master's node
 * registered (Ready or not). */
enum look_for { LOOK_READY, LOOK_MASTERS_LISTED };

static bool waits_on(const struct run *r, size_t i, enum look_for what)
{
	return !r->hosts[i].failed && (what == LOOK_READY || r->hosts[i].spec->role == ROLE_MASTER);
}

/* One look: 1 done, 0 not yet (r->not_ready, node_names set), < 0 kubectl did not answer
 * as kubectl does (h->err says why). */
static int look(struct run *r, struct host_state *h, enum look_for what)
{
	_cleanup_buf_ struct buf out = BUF_INIT(KUBE_ANSWER_MAX);
	struct kube_nodes nodes = { 0 };
	struct agent_exit ex;
	bool all = true;
	int rc = run_host_exec(h, "exec kubectl get nodes -o json", 30, &out, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		rc = errbuf_set(&h->err, -EIO, "kubectl get nodes %s; its last lines:\n%s",
				ex.timed_out ? "did not answer in time" : "failed", h->tail.data);
	if (rc >= 0)
		rc = kube_nodes_parse(out.data, out.len, &nodes, &h->err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < r->n; i++) {
		const struct kube_node *k = node_of(&nodes, r->hosts[i].spec->ip);
		r->not_ready[i] = waits_on(r, i, what) && (!k || !k->ready);
		all &= what == LOOK_READY ? !r->not_ready[i] : !waits_on(r, i, what) || k;
		free(r->node_names[i]);
		r->node_names[i] = k ? xstrdup(k->name) : NULL;
	}
	kube_nodes_release(&nodes);
	return all;
}

static int label_masters(struct run *r, struct host_state *h)
{
	for (size_t i = 0; i < r->n; i++) {
		_cleanup_free_ char *cmd = NULL;
		struct agent_exit ex;
		int rc;

		if (r->hosts[i].spec->role != ROLE_MASTER || !r->node_names[i])
			continue;
		/* node names passed kube_nodes_parse's DNS-1123 check: no quote can be in one */
		cmd = xasprintf("exec kubectl label --overwrite node '%s' " PLUGIN_LEGACY_MASTER_LABEL,
				r->node_names[i]);
		rc = run_host_exec(h, cmd, 60, NULL, &ex);
		if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
			rc = errbuf_set(&h->err, -EIO, "labelling node %s " PLUGIN_LEGACY_MASTER_LABEL
					" failed; its last lines:\n%s", r->node_names[i], h->tail.data);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Looks until done (1), or until the deadline: 0 with r->not_ready set, or < 0 when
 * kubectl never gave a node list. */
static int look_until(struct run *r, struct host_state *h, enum look_for what)
{
	int64_t deadline = run_now_ms() + (int64_t)ready_timeout(r) * 1000;

	for (;;) {
		errbuf_clear(&h->err);
		int rc = look(r, h, what);
		if (rc > 0)
			return 1;
		if (run_now_ms() >= deadline)
			return rc < 0 ? errbuf_prefix(&h->err, "no node list within %us",
						      ready_timeout(r)) : 0;
		sleep_ms(POLL_MS);
	}
}

int phase_label_masters(struct run *r, struct host_state *h)
{
	int rc = look_until(r, h, LOOK_MASTERS_LISTED);

	if (rc == 0) {
		_cleanup_buf_ struct buf missing = BUF_INIT(64u << 10);
		for (size_t i = 0; i < r->n; i++)
			if (waits_on(r, i, LOOK_MASTERS_LISTED) && !r->node_names[i])
				buf_printf(&missing, "%s%s", missing.len ? ", " : "", r->hosts[i].spec->ip);
		return errbuf_set(&h->err, -ETIMEDOUT, "the node of master %s is not registered "
				  "%us after its kubeadm init or join; `kubectl get nodes -o wide` on "
				  "master0 shows what the cluster has", missing.data, ready_timeout(r));
	}
	return rc < 0 ? rc : label_masters(r, h);
}

int phase_wait_ready(struct run *r, struct host_state *h)
{
	log_host(LOG_INFO, h->spec->ip, "kubeadm: waiting up to %us for every node to be Ready",
		 ready_timeout(r));
	int rc = look_until(r, h, LOOK_READY);
	if (rc > 0)
		log_host(LOG_NOTICE, h->spec->ip, "kubeadm: every node is Ready");
	/* 0: the after hook fails the hosts that are not Ready */
	return rc < 0 ? rc : 0;
}

void run_kubelet_journal(struct host_state *h, struct buf *out)
{
	_cleanup_free_ char *cmd = xasprintf("exec journalctl -u kubelet --no-pager -o cat -n %d",
					     JOURNAL_LINES);
	struct agent_exit ex;
	char *save = NULL;

	if (run_host_exec(h, cmd, 30, out, &ex) < 0 || ex.exit_code != 0) {
		buf_reset(out);
		buf_printf(out, "(its journal could not be read: %s)", errbuf_msg(&h->err));
		return;
	}
	_cleanup_free_ char *copy = xstrdup(out->data);
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		log_host(LOG_ERR, h->spec->ip, "kubelet: %s", l);
}

int run_kubeadm_failed(struct host_state *h, const char *what, const struct agent_exit *ex)
{
	/* kept first: reading the journal runs a command, whose output replaces h->tail */
	_cleanup_buf_ struct buf tail = BUF_INIT(64u << 10);
	_cleanup_buf_ struct buf journal = BUF_INIT(1u << 20);

	buf_printf(&tail, "%s", h->tail.data);
	run_kubelet_journal(h, &journal);
	/* what it wrote stays and fails its next preflight: say how to start afresh */
	return errbuf_set(&h->err, ex->timed_out ? -ETIMEDOUT : -EIO, "%s %s (its kubelet's "
			  "journal is logged above); run 'kubeadm reset -f' on the host before "
			  "running cirun again; its last lines:\n%s", what,
			  ex->timed_out ? "did not finish in time" : "failed", tail.data);
}

int run_ready_after(struct run *r)
{
	_cleanup_buf_ struct buf names = BUF_INIT(64u << 10);
	size_t failed = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		_cleanup_buf_ struct buf j = BUF_INIT(1u << 20);
		const char *name = r->node_names[i] ? r->node_names[i] : "(not registered)";
		const char *tail;

		if (!r->not_ready[i] || h->failed)
			continue;
		run_kubelet_journal(h, &j);
		tail = j.data + (j.len > JOURNAL_IN_ERROR ? j.len - JOURNAL_IN_ERROR : 0);
		host_fail(h, "wait Ready", -ETIMEDOUT, "node %s (%s) was not Ready within %us; the last "
			  "lines of its kubelet's journal:\n%s%s", name, h->spec->ip, ready_timeout(r),
			  tail > j.data ? "…" : "", tail);
		buf_printf(&names, "%s%s (%s)", failed++ ? ", " : "", name, h->spec->ip);
	}
	if (!failed)
		return 0;
	log_error("not Ready within %us: %s", ready_timeout(r), names.data);
	return -ETIMEDOUT;
}
