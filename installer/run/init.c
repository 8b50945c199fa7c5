/* Phase "init": scripts/init.sh with the env exported, output streamed, a timeout. */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "log.h"
#include "ssh.h"

#define TAIL_LINES 20

void run_host_keep_tail(struct host_state *h, const char *line)
{
	size_t lines = 0;
	for (size_t i = 0; i < h->tail.len; i++)
		lines += h->tail.data[i] == '\n';
	if (lines >= TAIL_LINES) {
		char *nl = strchr(h->tail.data, '\n');
		size_t drop = (size_t)(nl - h->tail.data) + 1;
		memmove(h->tail.data, h->tail.data + drop, h->tail.len - drop + 1);
		h->tail.len -= drop;
	}
	buf_printf(&h->tail, "%s\n", line);
}

void run_host_output(void *data, int stream, const char *buf, size_t n)
{
	struct host_state *h = data;

	(void)stream;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (buf_putc(&h->line, buf[i]) == 0)
				continue;
		}
		log_host(LOG_NOTICE, h->spec->ip, "%s", h->line.data);
		run_host_keep_tail(h, h->line.data);
		buf_reset(&h->line);
	}
}

int phase_init(struct run *r, struct host_state *h)
{
	/* started in the rootfs, which always exists; init.sh itself runs in scripts/ */
	static const char script[] =
		"if [ -f scripts/init.sh ]; then cd scripts && exec bash init.sh; fi; "
		"echo 'the image has no scripts/init.sh: nothing to run'";
	_cleanup_free_ char *cwd = NULL;
	struct agent_exit ex = { 0 };
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;
	struct kv *env = xcalloc(h->spec->nenv + 1, sizeof(*env));
	int rc;

	cwd = xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);
	for (size_t i = 0; i < h->spec->nenv; i++)
		env[i] = h->spec->env[i];
	ssh_conn_set_timeout(h->conn, timeout + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, script, cwd, env, h->spec->nenv, timeout, run_host_output, h,
			       &ex, &h->err);
	free(env);
	if (h->line.len)
		run_host_output(h, 1, "\n", 1);
	if (rc < 0)
		return rc;
	if (ex.timed_out)
		return errbuf_set(&h->err, -ETIMEDOUT, "scripts/init.sh did not finish within %us; its "
				  "last lines:\n%s", timeout, h->tail.data);
	if (ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "scripts/init.sh (in %s/scripts) exited with %d%s; its "
				  "last lines:\n%s", cwd, ex.exit_code, ex.signal ? " (killed)" : "",
				  h->tail.data);
	return 0;
}
