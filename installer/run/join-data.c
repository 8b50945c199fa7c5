/* Phase "join data", on master0 once init is done: a fresh bootstrap token and the CA hash
 * from `kubeadm token create --print-join-command`, and a fresh certificate key from
 * `kubeadm init phase upload-certs --upload-certs --config F` (its last line; F the init
 * config, rewritten: certificatesDir, an external etcd), as the joins need them.
 * Fresh on every run: init's own token may have expired, or init was skipped on a re-run.
 * Both outputs are captured, never logged; each field is checked for kubeadm's format and
 * the token and key are registered as secrets before anything can print them. The key is
 * only asked for when another master is to join. */
#include "run-internal.h"

#include <errno.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "log.h"

#define OUTPUT_MAX (64u << 10)

/* Both need master0's API server. The likely reason it does not answer here: an earlier
 * kubeadm init failed after writing admin.conf, and this run took master0 as initialised. */
#define NO_API_HINT "is master0's API server up? A kubeadm init that failed earlier leaves " \
	"/etc/kubernetes/admin.conf behind, and init is then skipped: run 'kubeadm reset -f' " \
	"on master0, then cirun again"

static int ask(struct host_state *h, const char *what, const char *cmd, struct buf *out)
{
	struct agent_exit ex;
	int rc = run_host_exec(h, cmd, 120, out, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		rc = errbuf_set(&h->err, -EIO, "%s %s (" NO_API_HINT "); its last lines:\n%s", what,
				ex.timed_out ? "did not finish in time" : "failed", h->tail.data);
	return rc;
}

static bool other_masters(const struct run *r)
{
	return r->n_masters > 1;
}

int phase_join_data(struct run *r, struct host_state *h)
{
	_cleanup_buf_ struct buf out = BUF_INIT(OUTPUT_MAX);
	int rc = ask(h, "kubeadm token create --print-join-command",
		     "exec kubeadm token create --print-join-command", &out);

	if (rc >= 0)
		rc = kubeadm_parse_join_command(out.data, out.len, &r->join, &h->err);
	explicit_bzero(out.data, out.len);
	if (rc < 0)
		return errbuf_prefix(&h->err, "the join command from master0");
	log_add_secret(r->join.token);
	if (other_masters(r)) {
		/* with the init config: without it kubeadm uploads what its defaults name
		 * (/etc/kubernetes/pki, no external etcd's certificates), not what init used */
		_cleanup_free_ char *path = NULL, *cmd = NULL;
		rc = run_kubeadm_write(r, h, KUBEADM_INIT, "kubeadm-init.yaml", &path);
		if (rc < 0)
			return errbuf_prefix(&h->err, "the certificate key from master0");
		cmd = xasprintf("exec kubeadm init phase upload-certs --upload-certs --config '%s'", path);
		buf_reset(&out);
		rc = ask(h, "kubeadm init phase upload-certs --upload-certs", cmd, &out);
		if (rc >= 0)
			rc = kubeadm_parse_upload_certs(out.data, out.len, r->cert_key, &h->err);
		explicit_bzero(out.data, out.len);
		if (rc < 0)
			return errbuf_prefix(&h->err, "the certificate key from master0");
		log_add_secret(r->cert_key);
	}
	r->have_join = true;
	log_host(LOG_INFO, h->spec->ip, "kubeadm: join data for %s (a new token%s, CA %s)",
		 r->join.endpoint, other_masters(r) ? " and certificate key" : "", r->join.ca_hash);
	return 0;
}
