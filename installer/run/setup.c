/* Phase "setup": templates, bin/, CRI, units (the agent's SETUP). */
#include "run-internal.h"

#include <stdlib.h>

#include "agent-client.h"
#include "cleanup.h"
#include "log.h"
#include "proto.h"
#include "ssh.h"

int phase_setup(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *detail = NULL;
	int rc;

	ssh_conn_set_timeout(h->conn, 600);
	rc = agent_client_setup(h->ac, r->c->name, h->spec->env, h->spec->nenv,
				r->o->force ? PROTO_SETUP_FORCE : 0, &detail, &h->err);
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "%s", detail);
	return rc;
}
