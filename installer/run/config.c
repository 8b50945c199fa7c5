/* Phase "config": the Clusterfile's Config documents (the image's ClusterFile annotation's
 * first, then the user's) applied by the agent to the rootfs that distribute has just
 * assembled, before setup renders its templates, so a template sees them. Each run
 * assembles the rootfs afresh from its layers, so an append lands once however often the
 * run is repeated. */
#include "run-internal.h"

#include "agent-client.h"
#include "log.h"
#include "ssh.h"

bool run_no_configs(const struct run *r)
{
	return r->c->nconfigs == 0;
}

int phase_config(struct run *r, struct host_state *h)
{
	const struct cluster *c = r->c;

	ssh_conn_set_timeout(h->conn, 120);
	for (size_t i = 0; i < c->nconfigs; i++) {
		int rc = agent_client_config(h->ac, c->name, &c->configs[i], &h->err);
		if (rc < 0)
			return rc;
	}
	log_host(LOG_INFO, h->spec->ip, "%zu Config%s applied to the rootfs", c->nconfigs,
		 c->nconfigs == 1 ? "" : "s");
	return 0;
}
