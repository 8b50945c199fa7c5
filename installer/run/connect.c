/* Phase "connect": one SSH session per host, kept for the whole run. */
#include "run-internal.h"

#include "log.h"
#include "ssh.h"

int phase_connect(struct run *r, struct host_state *h)
{
	struct ssh_opts o = {
		.host = h->spec->ip,
		.port = h->spec->ssh.port,
		.user = h->spec->ssh.user,
		.password = h->spec->ssh.password,
		.pk_file = h->spec->ssh.pk_file,
		.pk_passphrase = h->spec->ssh.pk_passphrase,
		.known_hosts = r->known_hosts,
		.insecure_ignore_host_key = r->o->insecure_ignore_host_key,
		.connect_timeout_s = r->o->connect_timeout_s,
	};
	int rc;

	h->t_start_ms = run_now_ms();
	rc = ssh_conn_open(&o, &h->conn, &h->err);
	if (rc < 0)
		return rc;
	rc = ssh_conn_probe_root(h->conn, &h->err);
	if (rc < 0)
		return rc;
	log_host(LOG_INFO, h->spec->ip, "connected as %s (host key %s)", h->spec->ssh.user,
		 ssh_conn_fingerprint(h->conn));
	return 0;
}
