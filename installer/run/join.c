/* Phases "join masters" (the other masters, one at a time: each control-plane join grows
 * etcd by one member, which must settle before the next) and "join nodes" (in parallel):
 * the host's JoinConfiguration (with controlPlane and the certificate key for a master:
 * real kubeadm refuses --control-plane/--certificate-key next to --config, the config
 * carries them) written by the agent, then `kubeadm join --config F`, output streamed.
 * A host that already holds /etc/kubernetes/kubelet.conf has joined (or is master0 of
 * another cluster): the join is skipped, saying so, instead of failing kubeadm's
 * preflight (resuming a run is issue 10). */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>

#include "cleanup.h"
#include "agent-client.h"
#include "log.h"

#define KUBELET_CONF "/etc/kubernetes/kubelet.conf"

static int kubeadm_join(struct run *r, struct host_state *h, bool master)
{
	_cleanup_free_ char *path = NULL, *cmd = NULL;
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;
	struct agent_exit ex;
	int rc = run_kubeadm_write(r, h, master ? KUBEADM_JOIN_MASTER : KUBEADM_JOIN_NODE,
				   "kubeadm-join.yaml", &path);

	if (rc < 0)
		return rc;
	cmd = xasprintf("exec kubeadm join --config '%s'", path);
	log_host(LOG_NOTICE, h->spec->ip, "kubeadm join --config %s (as %s)", path,
		 master ? "a control-plane node" : "a node");
	rc = run_host_exec(h, cmd, timeout, NULL, &ex);
	if (rc < 0 || (!ex.timed_out && ex.exit_code == 0))
		return rc;
	/* a join fails mostly by its kubelet: its journal is logged (kubelet: …) */
	_cleanup_buf_ struct buf tail = BUF_INIT(64u << 10);
	_cleanup_buf_ struct buf journal = BUF_INIT(1u << 20);
	buf_printf(&tail, "%s", h->tail.data);
	run_kubelet_journal(h, &journal);
	return errbuf_set(&h->err, ex.timed_out ? -ETIMEDOUT : -EIO, "kubeadm join %s (its kubelet's "
			  "journal is logged above); its last lines:\n%s",
			  ex.timed_out ? "did not finish in time" : "failed", tail.data);
}

int phase_join(struct run *r, struct host_state *h)
{
	bool master = h->spec->role == ROLE_MASTER;
	int rc;

	if (!r->have_join)
		return errbuf_set(&h->err, -ENODATA, "no join data: master0 did not get through "
				  "kubeadm init and its join data (see its error)");
	rc = run_host_test(h, KUBELET_CONF);
	if (rc > 0)
		log_host(LOG_NOTICE, h->spec->ip, "kubeadm: already joined (" KUBELET_CONF " exists): "
			 "kubeadm join skipped; 'kubeadm reset -f' on the host starts it afresh");
	else if (rc == 0)
		rc = kubeadm_join(r, h, master);
	if (rc >= 0 && master)
		rc = run_kube_config(h);
	return rc;
}
