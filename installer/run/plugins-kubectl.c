/* The rows "PostJoin kubectl", "PreGuest kubectl" and "PostInstall kubectl", on master0,
 * just before the row of their point: what the point's plugins need from the cluster,
 * through master0's kubectl (its admin kubeconfig), in plugin order:
 *
 *   - a label selector (`on: KEY=VALUE`): `kubectl get nodes -l KEY=VALUE -o json`, the
 *     nodes' InternalIPs kept for the row on the hosts;
 *   - LABEL, TAINT: the node of each host from `kubectl get nodes -o json` (its InternalIP
 *     is the host's address), then `kubectl label node NODE KEY=VALUE --overwrite` or
 *     `kubectl taint node NODE TAINT --overwrite`; the removal of a taint the node does not
 *     have is no failure (sealer's plugin removed what matched). A failure is kept for
 *     the host whose node it is, which fails with it in the next row; master0 goes on
 *     with the other nodes;
 *   - CLUSTERCHECK: `kubectl get nodes` and `kubectl get pods -n kube-system` (JSON) every
 *     PLUGIN_CLUSTERCHECK_INTERVAL_S until every node is Ready, every host of the run is a
 *     node, and every kube-system pod is Running (or Succeeded), for at most --timeout or
 *     PLUGIN_CLUSTERCHECK_TIMEOUT_S; a cluster without pods (no CNI yet) has none to wait
 *     for.
 *
 * kubectl's words reach it through the environment, never through a shell's parser; node
 * names from its answers are checked as Kubernetes names before they are used. What fails
 * on master0 itself (no kubectl, an answer that cannot be read, the CLUSTERCHECK's
 * timeout) fails master0 here; the plugins that needed it then fail on their hosts. */
#include "plugins-internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "cleanup.h"
#include "kube-nodes.h"
#include "log.h"
#include "ssh.h"

#define KUBECTL_TIMEOUT_S 120
#define KUBECTL_WORDS_MAX 8
/* how long a host's node may take to appear after its join (the kubelet registers it) */
#define NODE_APPEAR_WAIT_S 60

struct kubectl_out {
	struct host_state *h;
	struct buf out;
	bool over; /* more than KUBE_ANSWER_MAX */
	bool keep; /* stdout is the answer, else it is logged */
};

static void on_kubectl_output(void *data, int stream, const char *buf, size_t n)
{
	struct kubectl_out *ko = data;

	if (stream == 1 && ko->keep) {
		if (buf_append(&ko->out, buf, n) < 0)
			ko->over = true;
		return;
	}
	run_plugin_output(ko->h, stream, buf, n);
}

/* `kubectl WORDS…` on master0 (h). With answer non-NULL, stdout goes there (capped),
 * else into the log. Returns < 0 when the agent could not run it; *ex says how it ended
 * (exit 127: no kubectl). h->tail holds its last lines. */
static int kubectl(struct host_state *h, const char *const *words, size_t n, struct buf *answer,
		   struct agent_exit *ex)
{
	_cleanup_buf_ struct buf script = BUF_INIT(1024);
	_cleanup_free_ struct kv *env = xcalloc(h->spec->nenv + KUBECTL_WORDS_MAX, sizeof(*env));
	struct kubectl_out ko = { .h = h, .keep = answer != NULL };
	size_t nenv = h->spec->nenv;
	int rc;

	assert(n <= KUBECTL_WORDS_MAX);
	buf_printf(&script, "command -v kubectl >/dev/null 2>&1 || "
		   "{ echo 'no kubectl on the PATH' >&2; exit 127; }\nexec kubectl");
	for (size_t i = 0; i < h->spec->nenv; i++)
		env[i] = h->spec->env[i];
	for (size_t i = 0; i < n; i++) {
		env[nenv++] = (struct kv){ xasprintf("CIRUN_KUBECTL_%zu", i), (char *)words[i] };
		buf_printf(&script, " \"$CIRUN_KUBECTL_%zu\"", i);
	}
	buf_printf(&script, "\n");
	buf_init(&ko.out, KUBE_ANSWER_MAX);
	buf_reset(&h->tail);
	*ex = (struct agent_exit){ 0 };
	ssh_conn_set_timeout(h->conn, KUBECTL_TIMEOUT_S + 60);
	rc = agent_client_exec(h->ac, script.data, "/", env, nenv, KUBECTL_TIMEOUT_S,
			       on_kubectl_output, &ko, ex, &h->err);
	if (h->line.len)
		run_plugin_output(h, 2, "\n", 1);
	for (size_t i = h->spec->nenv; i < nenv; i++)
		free(env[i].key);
	if (rc >= 0 && ko.over)
		rc = errbuf_set(&h->err, -E2BIG, "kubectl's answer is over %u bytes", KUBE_ANSWER_MAX);
	if (rc >= 0 && answer)
		buf_append(answer, ko.out.data, ko.out.len);
	buf_release(&ko.out);
	return rc;
}

/* How kubectl ended, for "kubectl … on master0 %s": failed, is not there, timed out */
static const char *how(const struct agent_exit *ex)
{
	if (ex->timed_out)
		return "did not answer within " STRINGIFY(KUBECTL_TIMEOUT_S) "s";
	if (ex->exit_code == 127)
		return "is not there (no kubectl on master0's PATH: is the cluster set up?)";
	return ex->signal ? "was killed" : "failed";
}

/* `kubectl get nodes [-l SELECTOR] -o json`, decoded. */
static int get_nodes(struct host_state *h, const char *selector, struct kube_nodes *ret,
		     struct errbuf *why)
{
	_cleanup_buf_ struct buf answer = BUF_INIT(KUBE_ANSWER_MAX);
	const char *words[] = { "get", "nodes", "-o", "json", "-l", selector };
	struct agent_exit ex;
	int rc;

	*ret = (struct kube_nodes){ 0 };
	rc = kubectl(h, words, selector ? 6 : 4, &answer, &ex);
	if (rc < 0)
		return rc;
	if (ex.exit_code != 0 || ex.timed_out)
		return errbuf_set(why, -EIO, "kubectl get nodes%s%s on master0 %s; its last "
				  "lines:\n%s", selector ? " -l " : "", selector ? selector : "",
				  how(&ex), h->tail.data);
	return kube_nodes_parse(answer.data, answer.len, ret, why);
}

static int resolve_selector(struct run *r, struct host_state *h, const struct plugin *p,
			    enum plugin_phase ph, struct plugin_selected *sel)
{
	_cleanup_free_ char *selector = xasprintf("%s=%s", p->on.label_key, p->on.label_value);
	struct kube_nodes nodes;
	int rc;

	log_info("plugin %s: the nodes labelled %s, from kubectl on master0", p->name, selector);
	rc = get_nodes(h, selector, &nodes, &h->err);
	if (rc < 0)
		return errbuf_prefix(&h->err, "plugin '%s' (%s:%u): cannot resolve the label "
				     "selector '%s' at %s", p->name, p->file, p->line, selector,
				     plugin_phase_name(ph));
	/* the nodes that are hosts of this run; others are not the run's to act on */
	for (size_t k = 0; k < nodes.n; k++)
		for (size_t i = 0; i < r->n; i++)
			if (kube_node_has_ip(&nodes.v[k], r->plugin_hosts[i].ip)) {
				/* the host's address as plugins.c compares it */
				sel->ips = xreallocarray(sel->ips, sel->n + 1, sizeof(*sel->ips));
				sel->ips[sel->n++] = xstrdup(r->plugin_hosts[i].ip);
				break;
			}
	sel->resolved = true;
	kube_nodes_release(&nodes);
	return 0;
}

/* "FILE:LINE" of the data line an action came from (its line in the file for a `|`
 * block, else the document's line and the data line's number). */
static char *where(const struct plugin *p, const struct plugin_action *a)
{
	if (p->data_exact && p->data_line)
		return xasprintf("%s:%u", p->file, p->data_line + a->line - 1);
	return xasprintf("%s:%u, spec.data line %u", p->file, p->line, a->line);
}

/* Nodes, waiting a little for those of hosts that have just joined to register. */
static int nodes_of_hosts(struct run *r, struct host_state *h, const struct plugin_plan *plan,
			  struct kube_nodes *ret)
{
	for (unsigned waited = 0;; waited += 2) {
		struct errbuf err = ERRBUF_INIT;
		bool missing = false;
		int rc = get_nodes(h, NULL, ret, &h->err);

		if (rc < 0)
			return rc;
		for (size_t k = 0; k < plan->n_actions && !missing; k++)
			missing = !r->hosts[plan->actions[k].host].failed &&
				  kube_nodes_find_ip(ret, r->hosts[plan->actions[k].host].spec->ip,
						     &err) == -ENOENT;
		if (!missing || waited >= NODE_APPEAR_WAIT_S)
			return 0;
		if (waited == 0)
			log_host(LOG_INFO, h->spec->ip, "waiting up to %us for the node of each host to "
				 "register: %s", NODE_APPEAR_WAIT_S, err.msg);
		kube_nodes_release(ret);
		sleep(2);
	}
}

/* One LABEL or TAINT action; its failure is the host's, in *ret_why. */
static int apply_action(struct host_state *h, const struct plugin *p, enum plugin_phase ph,
			const struct plugin_action *a, const struct kube_nodes *nodes,
			const char *ip, char **ret_why)
{
	_cleanup_free_ char *at = where(p, a);
	struct errbuf err = ERRBUF_INIT;
	char **argv = NULL;
	size_t argc = 0;
	struct agent_exit ex;
	int k = kube_nodes_find_ip(nodes, ip, &err), rc = 0;

	if (k >= 0 && kube_action_argv(p->type, a, nodes->v[k].name, &argv, &argc, &err) < 0)
		k = -EINVAL;
	if (k < 0) {
		*ret_why = xasprintf("plugin '%s' (%s, %s) at %s: %s", p->name,
				     plugin_type_name(p->type), at, plugin_phase_name(ph), err.msg);
		return 0;
	}
	if (p->type == PLUGIN_TAINT && a->remove &&
	    !kube_node_has_taint(&nodes->v[k], a->key, a->effect)) {
		log_host(LOG_INFO, ip, "plugin %s: node %s has no taint %s to remove", p->name,
			 nodes->v[k].name, argv[3]);
		goto out;
	}
	log_host(LOG_INFO, ip, "plugin %s: kubectl %s node %s %s --overwrite", p->name, argv[0],
		 argv[2], argv[3]);
	rc = kubectl(h, (const char *const *)argv, argc, NULL, &ex);
	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		*ret_why = xasprintf("plugin '%s' (%s, %s) at %s: kubectl %s node %s %s --overwrite "
				     "on master0 %s; its last lines:\n%s", p->name,
				     plugin_type_name(p->type), at, plugin_phase_name(ph), argv[0],
				     argv[2], argv[3], how(&ex), h->tail.data);
out:
	kube_argv_free(argv);
	return rc;
}

static int label_or_taint(struct run *r, struct host_state *h, const struct plugin *p,
			  enum plugin_phase ph, const struct plugin_plan *plan)
{
	struct plugin_selected *ps = &r->plugin_selected[p - r->plugins.v];
	struct kube_nodes nodes = { 0 };
	int rc = plan->n_actions ? nodes_of_hosts(r, h, plan, &nodes) : 0;

	if (rc < 0)
		return errbuf_prefix(&h->err, "plugin '%s' (%s, %s:%u) at %s", p->name,
				     plugin_type_name(p->type), p->file, p->line,
				     plugin_phase_name(ph));
	for (size_t k = 0; k < plan->n_actions && rc >= 0; k++) {
		size_t host = plan->actions[k].host;
		bool earlier = false;

		/* a host stops at its first failure: a failed host, or one an earlier
		 * plugin (or line) of this point failed, is not acted on */
		for (size_t j = 0; j <= (size_t)(p - r->plugins.v) && !earlier; j++)
			earlier = r->plugin_selected[j].host_err[host] &&
				  (r->plugins.v[j].phases & PLUGIN_PHASE_BIT(ph));
		if (earlier || r->hosts[host].failed)
			continue;
		rc = apply_action(h, p, ph, &plan->actions[k], &nodes, r->hosts[host].spec->ip,
				  &ps->host_err[host]);
	}
	kube_nodes_release(&nodes);
	return rc;
}

/* Why the cluster is not healthy yet (NULL: it is), from one look. */
static int health(struct run *r, struct host_state *h, char **ret_why, size_t *ret_nodes,
		  size_t *ret_pods)
{
	_cleanup_buf_ struct buf answer = BUF_INIT(KUBE_ANSWER_MAX);
	_cleanup_buf_ struct buf why = BUF_INIT(4096);
	const char *words[] = { "get", "pods", "-n", "kube-system", "-o", "json" };
	struct kube_nodes nodes = { 0 };
	struct errbuf err = ERRBUF_INIT;
	struct agent_exit ex;
	_cleanup_free_ char *bad = NULL;
	int rc = get_nodes(h, NULL, &nodes, &err);

	*ret_why = NULL;
	if (rc < 0 && !err.code)
		return rc; /* the agent could not run kubectl: no use waiting */
	if (rc < 0)
		buf_printf(&why, "%s", err.msg);
	else if (nodes.n == 0)
		buf_printf(&why, "no node yet");
	for (size_t k = 0; rc >= 0 && k < nodes.n; k++)
		if (!nodes.v[k].ready)
			buf_printf(&why, "%snode %s is not Ready", why.len ? "; " : "", nodes.v[k].name);
	for (size_t i = 0; rc >= 0 && nodes.n && i < r->n; i++) {
		errbuf_clear(&err);
		if (!r->hosts[i].failed && kube_nodes_find_ip(&nodes, r->hosts[i].spec->ip, &err) < 0)
			buf_printf(&why, "%s%s", why.len ? "; " : "", err.msg);
	}
	*ret_nodes = nodes.n;
	kube_nodes_release(&nodes);
	if (why.len) {
		*ret_why = xstrdup(why.data);
		return 0;
	}
	rc = kubectl(h, words, ELEMENTSOF(words), &answer, &ex);
	if (rc < 0)
		return rc;
	errbuf_clear(&err);
	if (ex.exit_code != 0 || ex.timed_out)
		*ret_why = xasprintf("kubectl get pods -n kube-system on master0 %s; its last "
				     "lines:\n%s", how(&ex), h->tail.data);
	else if (kube_pods_parse(answer.data, answer.len, ret_pods, &bad, &err) < 0)
		*ret_why = xstrdup(err.msg);
	else if (bad)
		*ret_why = xasprintf("kube-system pods not running: %s", bad);
	return 0;
}

static int cluster_check(struct run *r, struct host_state *h, const struct plugin *p,
			 enum plugin_phase ph)
{
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : PLUGIN_CLUSTERCHECK_TIMEOUT_S;
	int64_t deadline = run_now_ms() + (int64_t)timeout * 1000;

	log_info("plugin %s (CLUSTERCHECK) at %s on 1 host", p->name, plugin_phase_name(ph));
	for (;;) {
		_cleanup_free_ char *why = NULL;
		size_t nodes = 0, pods = 0;
		int64_t left;
		int rc = health(r, h, &why, &nodes, &pods);

		if (rc < 0)
			return errbuf_prefix(&h->err, "plugin '%s' (CLUSTERCHECK, %s:%u) at %s",
					     p->name, p->file, p->line, plugin_phase_name(ph));
		if (!why) {
			log_host(LOG_INFO, h->spec->ip, "plugin %s: the cluster is healthy: %zu "
				 "node%s Ready, %zu kube-system pod%s running", p->name, nodes,
				 nodes == 1 ? "" : "s", pods, pods == 1 ? "" : "s");
			return 0;
		}
		left = deadline - run_now_ms();
		if (left <= 0)
			return errbuf_set(&h->err, -ETIMEDOUT, "plugin '%s' (CLUSTERCHECK, %s:%u) at "
					  "%s: the cluster was not healthy within %us: %s", p->name,
					  p->file, p->line, plugin_phase_name(ph), timeout, why);
		log_host(LOG_INFO, h->spec->ip, "plugin %s: waiting for the cluster: %s", p->name,
			 why);
		sleep((unsigned)MIN((int64_t)PLUGIN_CLUSTERCHECK_INTERVAL_S, (left + 999) / 1000));
	}
}

/* The point's plugins that need master0's kubectl, in order; the first failure of
 * master0 itself stops it (the rest then fail on their hosts, never passed over). */
static int kubectl_point(struct run *r, struct host_state *h, enum plugin_phase ph)
{
	run_plugin_point_reset(r, ph);
	for (size_t i = 0; i < r->plugins.n; i++) {
		const struct plugin *p = &r->plugins.v[i];
		struct plugin_selected *ps = &r->plugin_selected[i];
		struct plugin_plan plan = { 0 };
		const struct plugin_action *a;
		int rc = 0;

		if (!(p->phases & PLUGIN_PHASE_BIT(ph)))
			continue;
		if (p->on.kind == PLUGIN_ON_LABEL)
			rc = resolve_selector(r, h, p, ph, ps);
		if (rc >= 0 && run_plugin_through_kubectl(p))
			rc = run_plugin_plan_for(r, p, ph, 0, &plan, &a, &h->err);
		if (rc >= 0 && (p->type == PLUGIN_LABEL || p->type == PLUGIN_TAINT)) {
			log_info("plugin %s (%s) at %s on %zu host%s", p->name,
				 plugin_type_name(p->type), plugin_phase_name(ph), plan.n_hosts,
				 plan.n_hosts == 1 ? "" : "s");
			rc = label_or_taint(r, h, p, ph, &plan);
		} else if (rc >= 0 && p->type == PLUGIN_CLUSTERCHECK) {
			rc = cluster_check(r, h, p, ph);
		}
		plugin_plan_release(&plan);
		if (rc < 0)
			return rc;
		ps->done = run_plugin_through_kubectl(p);
	}
	return 0;
}

static bool no_kubectl_at(const struct run *r, enum plugin_phase ph)
{
	for (size_t i = 0; i < r->plugins.n; i++) {
		const struct plugin *p = &r->plugins.v[i];
		if ((p->phases & PLUGIN_PHASE_BIT(ph)) &&
		    (p->on.kind == PLUGIN_ON_LABEL || run_plugin_through_kubectl(p)))
			return false;
	}
	return true;
}

int phase_plugins_post_join_kubectl(struct run *r, struct host_state *h)
{
	return kubectl_point(r, h, PLUGIN_POST_JOIN);
}

int phase_plugins_pre_guest_kubectl(struct run *r, struct host_state *h)
{
	return kubectl_point(r, h, PLUGIN_PRE_GUEST);
}

int phase_plugins_selectors(struct run *r, struct host_state *h)
{
	return kubectl_point(r, h, PLUGIN_POST_INSTALL);
}

bool run_no_plugins_post_join_kubectl(const struct run *r)
{
	return no_kubectl_at(r, PLUGIN_POST_JOIN);
}

bool run_no_plugins_pre_guest_kubectl(const struct run *r)
{
	return no_kubectl_at(r, PLUGIN_PRE_GUEST);
}

bool run_no_plugin_selectors(const struct run *r)
{
	return no_kubectl_at(r, PLUGIN_POST_INSTALL);
}
