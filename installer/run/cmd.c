/* Phase "cmd": the image's CMDs replayed on master0, in image order (the base image's
 * first: a child image's CMDs follow its parent's, none replaces another, as sealer
 * v0.7 replays every CMD layer; v0.8 also dropped a child's CMD identical to a parent's,
 * which cirun does not, a repeated CMD being the author's choice), each with the image's
 * ARGs expanded, cmd_args over them (installer/cmd-replay.h). One shell per CMD, in the
 * rootfs, with the host's env exported as init.sh gets it, output streamed, --timeout
 * each; the first that fails stops the rest. */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "cmd-replay.h"
#include "log.h"
#include "report.h"
#include "ssh.h"

bool run_no_cmds(const struct run *r)
{
	return r->img.meta.ncmds == 0;
}

static int expanded(const struct run *r, size_t i, char **ret)
{
	return cmd_expand(r->img.meta.cmds[i], r->img.meta.args, r->img.meta.nargs,
			  r->c->cmd_args, r->c->ncmd_args, ret);
}

static int run_one(struct run *r, struct host_state *h, size_t i, const char *cwd,
		   unsigned timeout)
{
	_cleanup_free_ char *cmd = NULL;
	struct agent_exit ex = { 0 };
	size_t n = r->img.meta.ncmds;
	int rc = expanded(r, i, &cmd);

	if (rc < 0)
		return errbuf_set(&h->err, rc, "CMD %zu/%zu '%.200s…' with its ARGs expanded is "
				  "longer than %u bytes; the later CMDs were not run", i + 1, n,
				  r->img.meta.cmds[i], CMD_EXPANDED_MAX);
	log_host(LOG_NOTICE, h->spec->ip, "CMD %zu/%zu: %s", i + 1, n, cmd);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, cmd, cwd, h->spec->env, h->spec->nenv, timeout,
			       run_host_output, h, &ex, &h->err);
	if (h->line.len)
		run_host_output(h, 1, "\n", 1);
	if (rc < 0)
		return errbuf_prefix(&h->err, "CMD %zu/%zu '%s'", i + 1, n, cmd);
	if (ex.timed_out)
		return errbuf_set(&h->err, -ETIMEDOUT, "CMD %zu/%zu '%s' did not finish within %us; "
				  "the later CMDs were not run; its last lines:\n%s", i + 1, n, cmd,
				  timeout, h->tail.data);
	if (ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "CMD %zu/%zu '%s' (in %s) exited with %d%s; the "
				  "later CMDs were not run; its last lines:\n%s", i + 1, n, cmd, cwd,
				  ex.exit_code, ex.signal ? " (killed)" : "", h->tail.data);
	return 0;
}

int phase_cmd(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *cwd = xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;

	ssh_conn_set_timeout(h->conn, timeout + 60);
	for (size_t i = 0; i < r->img.meta.ncmds; i++) {
		int rc = run_one(r, h, i, cwd, timeout);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void run_cmd_plan(struct run *r)
{
	if (run_no_cmds(r))
		return;
	report_text("[%s] CMD replay on master0, in image order, in " REMOTE_ROOT
		    "/data/%s/rootfs:", r->hosts[0].spec->ip, r->c->name);
	for (size_t i = 0; i < r->img.meta.ncmds; i++) {
		_cleanup_free_ char *cmd = NULL;
		if (expanded(r, i, &cmd) < 0)
			report_text("  CMD %zu/%zu: %.200s… (longer than %u bytes expanded: the run "
				    "will stop there)", i + 1, r->img.meta.ncmds, r->img.meta.cmds[i],
				    CMD_EXPANDED_MAX);
		else
			report_text("  CMD %zu/%zu: %s", i + 1, r->img.meta.ncmds, cmd);
	}
}
