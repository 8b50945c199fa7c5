/* Phase "agent": upload cirun-agent when its digest differs, start it, HELLO. */
#include "run-internal.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "cleanup.h"
#include "log.h"
#include "proto-msg.h"
#include "ssh.h"

/* The digest of the agent installed on the host: hex is "" when there is none (sha256sum
 * exits 1 for a missing file). Any other failure is an error: a host where it cannot be
 * checked cannot be trusted with an upload either. */
static int remote_agent_digest(struct host_state *h, char *hex)
{
	_cleanup_buf_ struct buf out = BUF_INIT(4096);
	int rc = ssh_run_root(h->conn, "sh -c 'test -e " REMOTE_AGENT " || exit 0; sha256sum "
			      REMOTE_AGENT "'", NULL, 0, &out, &h->err);

	hex[0] = '\0';
	if (rc < 0)
		return rc;
	if (rc != 0)
		return errbuf_set(&h->err, -EIO, "checking the agent %s failed (exit %d): %s",
				  REMOTE_AGENT, rc, out.data);
	if (out.len == 0)
		return 0;
	/* "HEX  PATH", maybe after a line sudo wrote to stderr */
	const char *end = strstr(out.data, "  " REMOTE_AGENT), *line = end;
	while (line && line > out.data && line[-1] != '\n')
		line--;
	if (end && end - line == 64)
		snprintf(hex, SHA256_HEX_SIZE, "%.64s", line);
	if (!sha256_hex_valid(hex))
		return errbuf_set(&h->err, -EIO, "checking the agent %s: sha256sum answered '%.80s'",
				  REMOTE_AGENT, out.data);
	return 0;
}

static int upload_agent(struct run *r, struct host_state *h)
{
	static const char install[] =
		"sh -c 'set -e; umask 022; mkdir -p " REMOTE_ROOT "/bin; "
		"t=$(mktemp " REMOTE_ROOT "/bin/.cirun-agent.XXXXXX); cat > \"$t\"; "
		"chmod 0755 \"$t\"; mv -f \"$t\" " REMOTE_AGENT "'";
	_cleanup_buf_ struct buf out = BUF_INIT(16384);
	_cleanup_close_ int fd = open(r->agent_path, O_RDONLY | O_CLOEXEC);
	char hex[SHA256_HEX_SIZE];
	int rc;

	if (fd < 0)
		return errbuf_set(&h->err, negative_errno(), "cannot read the agent '%s'", r->agent_path);
	rc = ssh_run_root_fd(h->conn, install, fd, &out, &h->err);
	if (rc < 0)
		return rc;
	if (rc != 0)
		return errbuf_set(&h->err, -EIO, "installing the agent into %s failed (exit %d): %s",
				  REMOTE_AGENT, rc, out.data);
	h->agent_uploaded = true;
	rc = remote_agent_digest(h, hex);
	if (rc >= 0 && strcmp(hex, r->agent_hex) != 0)
		rc = errbuf_set(&h->err, -EIO, "the agent arrived damaged (sha256 %s)",
				hex[0] ? hex : "none: it is not there");
	return rc;
}

/* The control machine as the host's lock record names it: gethostname() with anything but
 * [A-Za-z0-9._-] made '-', as the agent accepts it. */
static void lock_owner_name(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0 || !buf[0])
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (!msg_lock_host_valid((char[]){ *p, '\0' }))
			*p = '-';
}

/* The host's lock (ROOT/lock) for this run, before anything changes the host: a second
 * run is refused naming the holder; a stale lock is broken only with --force. */
static int lock_host(struct run *r, struct host_state *h)
{
	char owner[MSG_MAX_LOCK_HOST + 1];
	_cleanup_free_ char *detail = NULL;
	int rc;

	lock_owner_name(owner, sizeof(owner));
	rc = agent_client_lock(h->ac, r->c->name, r->o->command ? r->o->command : "run", owner,
			       (uint32_t)getpid(), r->o->force ? PROTO_LOCK_FORCE : 0, &detail,
			       &h->err);
	if (rc == -EBUSY || rc == -ESTALE)
		errbuf_prefix(&h->err, "host %s is not free", h->spec->ip);
	else if (rc < 0)
		errbuf_prefix(&h->err, "host %s cannot be locked", h->spec->ip);
	if (rc < 0)
		return rc;
	if (detail && *detail)
		log_host(LOG_WARNING, h->spec->ip, "%s", detail);
	return 0;
}

int phase_agent(struct run *r, struct host_state *h)
{
	char hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *version = NULL;
	int rc = remote_agent_digest(h, hex);

	if (rc >= 0 && strcmp(hex, r->agent_hex) != 0)
		rc = upload_agent(r, h);
	if (rc < 0)
		return rc;
	rc = ssh_exec_root(h->conn, REMOTE_AGENT " serve", true, &h->agent_ch, &h->err);
	if (rc < 0)
		return rc;
	rc = agent_client_new(ssh_chan_io(h->agent_ch), &h->ac);
	if (rc >= 0)
		rc = agent_client_hello(h->ac, &version, &h->err);
	if (rc >= 0)
		rc = lock_host(r, h);
	if (rc < 0)
		return rc;
	log_host(LOG_INFO, h->spec->ip, "agent %s %s", version, h->agent_uploaded ? "uploaded" : "up to date");
	return 0;
}

char *run_find_agent(const struct run_opts *o)
{
	char self[4096];
	ssize_t n;
	const char *env = getenv("CIRUN_AGENT");

	if (o->agent_path)
		return xstrdup(o->agent_path);
	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self), *p = NULL;
		/* beside cirun (the build tree), or where `make install` puts it */
		const char *cands[] = { "/cirun-agent", "/../lib/cirun/cirun-agent" };
		for (size_t i = 0; i < ELEMENTSOF(cands); i++) {
			p = xasprintf("%s%s", dir, cands[i]);
			if (access(p, R_OK) == 0)
				return p;
			free(p);
		}
	}
	return NULL;
}
