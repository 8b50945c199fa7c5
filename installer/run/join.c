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
#include <string.h>

#include "cleanup.h"
#include "agent-client.h"
#include "log.h"

#define KUBELET_CONF "/etc/kubernetes/kubelet.conf"
#define CA_CRT "/etc/kubernetes/pki/ca.crt"
#define CA_CRT_MAX (64u << 10)

/* A host that holds kubelet.conf joined a cluster, but maybe not this one: master0 was
 * reset and initialised afresh since (a new CA), or the host was another cluster's. Its
 * kubelet would never register with master0, and the run would only time out waiting for
 * it to be Ready: its CA (the ca.crt kubeadm join wrote) is compared with master0's CA
 * hash from the join data instead. Without a readable ca.crt it is taken as joined. */
static int joined_here(struct run *r, struct host_state *h)
{
	_cleanup_buf_ struct buf pem = BUF_INIT(CA_CRT_MAX);
	char hash[KUBEADM_CA_HASH_LEN + 1];
	struct errbuf ignored = ERRBUF_INIT;
	struct agent_exit ex;
	int rc = run_host_exec(h, "exec cat " CA_CRT, 30, &pem, &ex);

	if (rc < 0 || ex.exit_code != 0 || ex.timed_out ||
	    kubeadm_ca_hash_of_pem(pem.data, pem.len, hash, &ignored) < 0) {
		errbuf_clear(&h->err);
		log_host(LOG_WARNING, h->spec->ip, "kubeadm: cannot read the CA of the cluster it "
			 "joined (" CA_CRT "): taken as joined to this one");
		return 0;
	}
	if (strcmp(hash, r->join.ca_hash) == 0)
		return 0;
	return errbuf_set(&h->err, -EEXIST, "the host has joined another cluster (" KUBELET_CONF
			  " exists, but its CA %s is not master0's %s: master0 was reset since, or "
			  "the host was another cluster's): run 'kubeadm reset -f' on it, then run "
			  "cirun again", hash, r->join.ca_hash);
}

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
	/* a join fails mostly by its kubelet */
	return run_kubeadm_failed(h, "kubeadm join", &ex);
}

int phase_join(struct run *r, struct host_state *h)
{
	bool master = h->spec->role == ROLE_MASTER;
	int rc;

	if (!r->have_join)
		return errbuf_set(&h->err, -ENODATA, "no join data: master0 did not get through "
				  "kubeadm init and its join data (see its error)");
	rc = run_host_test(h, KUBELET_CONF);
	if (rc > 0 && (rc = joined_here(r, h)) >= 0)
		log_host(LOG_NOTICE, h->spec->ip, "kubeadm: already joined (" KUBELET_CONF " exists): "
			 "kubeadm join skipped; 'kubeadm reset -f' on the host starts it afresh");
	else if (rc == 0)
		rc = kubeadm_join(r, h, master);
	if (rc >= 0 && master)
		rc = run_kube_config(h);
	return rc;
}
