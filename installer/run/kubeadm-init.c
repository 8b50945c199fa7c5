/* Phase "kubeadm init", on master0: the cgroup driver its containerd uses (SystemdCgroup =
 * true in /etc/containerd/config.toml: systemd, else cgroupfs, as sealer decided), the
 * merged config written by the agent, `kubeadm init --config F --upload-certs` with its
 * output streamed (the token and certificate key it prints masked), /root/.kube/config, and
 * admin.conf saved on this machine as $CIRUN_HOME/clusters/NAME/admin.conf (0600). A master0
 * that already holds /etc/kubernetes/admin.conf was initialised before: init is skipped,
 * saying so, rather than failing kubeadm's preflight (also when the journal, journal.c, has no
 * valid record of it). */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "fs-util.h"
#include "log.h"
#include "ssh.h"

#define ADMIN_CONF "/etc/kubernetes/admin.conf"
#define ADMIN_CONF_MAX (1u << 20)

static int read_cgroup_driver(struct run *r, struct host_state *h)
{
	_cleanup_buf_ struct buf toml = BUF_INIT(1u << 20);
	struct agent_exit ex;
	int rc = run_host_exec(h, "cat /etc/containerd/config.toml 2>/dev/null || true", 60, &toml,
			       &ex);

	if (rc < 0)
		return errbuf_prefix(&h->err, "reading /etc/containerd/config.toml");
	r->cgroup_driver = containerd_cgroup_driver(toml.data, toml.len);
	log_host(LOG_INFO, h->spec->ip, "kubeadm: cgroup driver %s (as containerd uses it)",
		 r->cgroup_driver);
	return 0;
}

/* A word of kubeadm's output that is a bootstrap token or a certificate key (64 hex) */
static bool secret_word(const char *w, size_t n)
{
	char tmp[KUBEADM_CERT_KEY_LEN + 1];

	if (n != KUBEADM_TOKEN_LEN && n != KUBEADM_CERT_KEY_LEN)
		return false;
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	return kubeadm_token_valid(tmp) || kubeadm_cert_key_valid(tmp);
}

/* kubeadm init prints its own token and certificate key before the run can know them:
 * each whole line is masked word by word before it reaches the log */
struct masked {
	struct host_state *h;
	struct buf line;
};

static void masked_flush(struct masked *m, int stream)
{
	_cleanup_buf_ struct buf out = BUF_INIT(64u << 10);
	const char *p = m->line.data;

	while (*p) {
		size_t sp = strspn(p, " \t"), w;
		buf_append(&out, p, sp);
		p += sp;
		w = strcspn(p, " \t");
		if (w && secret_word(p, w))
			buf_printf(&out, "<hidden>");
		else
			buf_append(&out, p, w);
		p += w;
	}
	explicit_bzero(m->line.data, m->line.len);
	buf_reset(&m->line);
	buf_putc(&out, '\n');
	run_host_output(m->h, stream, out.data, out.len);
}

static void init_output(void *data, int stream, const char *buf, size_t n)
{
	struct masked *m = data;

	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && buf_putc(&m->line, buf[i]) == 0)
			continue;
		masked_flush(m, stream);
	}
}

static int kubeadm_init(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *path = NULL, *cmd = NULL;
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;
	struct agent_exit ex = { 0 };
	struct masked m = { h, BUF_INIT(64u << 10) };
	int rc = run_kubeadm_write(r, h, KUBEADM_INIT, "kubeadm-init.yaml", &path);

	if (rc < 0)
		return rc;
	/* path: the agent's answer, REMOTE_ROOT/data/NAME/kubeadm-init.yaml; quoted anyway */
	cmd = xasprintf("exec kubeadm init --config '%s' --upload-certs", path);
	log_host(LOG_NOTICE, h->spec->ip, "kubeadm init --config %s --upload-certs (Kubernetes %s)",
		 path, r->k8s_version);
	ssh_conn_set_timeout(h->conn, timeout + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, cmd, "/", h->spec->env, h->spec->nenv, timeout, init_output, &m,
			       &ex, &h->err);
	if (m.line.len)
		masked_flush(&m, 1);
	buf_release(&m.line);
	if (rc < 0)
		return rc;
	if (!ex.timed_out && ex.exit_code == 0)
		return 0;
	/* init fails mostly waiting for the kubelet */
	return run_kubeadm_failed(h, "kubeadm init", &ex);
}

int run_kube_config(struct host_state *h)
{
	struct agent_exit ex;
	int rc = run_host_exec(h, "mkdir -p /root/.kube && install -m 0600 " ADMIN_CONF
			       " /root/.kube/config", 60, NULL, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		rc = errbuf_set(&h->err, -EIO, "cannot copy " ADMIN_CONF " to /root/.kube/config: %s",
				h->tail.data);
	return rc;
}

/* admin.conf holds the cluster's admin credentials: never logged, 0600 from the start */
static int save_admin_conf(struct run *r, struct host_state *h)
{
	_cleanup_buf_ struct buf conf = BUF_INIT(ADMIN_CONF_MAX);
	_cleanup_free_ char *dir = xasprintf("%s/clusters/%s", image_store_home(r->st), r->c->name);
	_cleanup_free_ char *path = xasprintf("%s/admin.conf", dir);
	struct agent_exit ex;
	int rc = run_host_exec(h, "exec cat " ADMIN_CONF, 60, &conf, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out || conf.len == 0))
		rc = errbuf_set(&h->err, -EIO, "cannot read " ADMIN_CONF ": %s", h->tail.data);
	if (rc >= 0 && (rc = mkdir_p(dir, 0700)) < 0)
		errbuf_set(&h->err, rc, "cannot create %s: %s", dir, strerror(-rc));
	if (rc >= 0 && (rc = write_file_atomic(path, conf.data, conf.len, 0600)) < 0)
		errbuf_set(&h->err, rc, "cannot write %s: %s", path, strerror(-rc));
	explicit_bzero(conf.data, conf.len);
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "kubeadm: admin.conf saved as %s (0600)", path);
	return rc;
}

int phase_kubeadm_init(struct run *r, struct host_state *h)
{
	int rc = read_cgroup_driver(r, h);

	if (rc >= 0)
		rc = run_host_test(h, ADMIN_CONF);
	r->init_skipped = rc > 0;
	if (rc > 0)
		log_host(LOG_NOTICE, h->spec->ip, "kubeadm: already initialised (" ADMIN_CONF " exists): "
			 "kubeadm init skipped; 'kubeadm reset -f' on the host starts it afresh");
	else if (rc == 0)
		rc = kubeadm_init(r, h);
	if (rc >= 0)
		rc = run_kube_config(h);
	if (rc >= 0)
		rc = save_admin_conf(r, h);
	return rc;
}
