/* cirun-agent: runs on every cluster host, uploaded by cirun. */
#include <archive.h>
#include <signal.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "facts.h"
#include "log.h"
#include "serve.h"
#include "ydoc.h"

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <yaml.h>

/* The libraries are named with their versions because they are linked in statically:
 * what the host has installed says nothing about what the agent runs. */
static int verb_version(void)
{
	printf("cirun-agent %s\n", CIRUN_VERSION);
	printf("%s, libyaml %s, %s\n", archive_version_details(), yaml_get_version_string(),
	       OpenSSL_version(OPENSSL_VERSION));
	return 0;
}

static int verb_facts(void)
{
	_cleanup_(ynode_freep) struct ynode *facts = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(1 << 20);
	int r;

	r = facts_collect(&facts);
	if (r < 0)
		return log_error_errno(r, "collecting facts failed: %m");
	r = ynode_emit(facts, &out);
	if (r < 0)
		return log_error_errno(r, "writing facts failed: %m");
	fwrite(out.data, 1, out.len, stdout);
	return fflush(stdout) == 0 ? 0 : log_error_errno(EIO, "writing to stdout failed");
}

static int verb_serve(void)
{
	/* stdout carries frames only: nothing else may write to it. A write to a cirun that
	 * went away fails with EPIPE and ends the session cleanly (the host's lock released)
	 * instead of killing the agent (its children get SIGPIPE back, agent/exec.c) */
	signal(SIGPIPE, SIG_IGN);
	return agent_serve(STDIN_FILENO, STDOUT_FILENO);
}

/* What the agent does is recorded in the host's journal (journalctl -t cirun-agent),
 * where it outlives the SSH session that asked for it. */
static void journal_sink(int level, const char *host, const char *msg)
{
	(void)host;
	sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=cirun-agent",
			NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cirun-agent COMMAND\n"
		   "\n"
		   "Runs on a cluster host on behalf of cirun.\n"
		   "\n"
		   "commands:\n"
		   "  facts     print this host's facts as YAML (arch, OS, systemd, disk, caps)\n"
		   "  serve     answer cirun's requests on stdin/stdout (started by cirun)\n"
		   "  version   print the agent's version\n"
		   "\n"
		   "environment: LOG_LEVEL=error|warning|notice|info|debug\n");
}

int main(int argc, char **argv)
{
	const char *level = getenv("LOG_LEVEL");
	int r;

	/* Under systemd (a unit's stderr goes to the journal) levels travel as "<N>". */
	log_set_journal_prefix(getenv("JOURNAL_STREAM") != NULL);
	if (level && (r = log_level_from_string(level)) >= 0)
		log_set_max_level(r);

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
		return verb_version() < 0 ? 1 : 0;
	if (strcmp(argv[1], "facts") == 0)
		return verb_facts() < 0 ? 1 : 0;
	if (strcmp(argv[1], "serve") == 0) {
		if (sd_booted() > 0 || getenv("CIRUN_AGENT_JOURNAL"))
			log_set_sink(journal_sink);
		/* the session's stderr goes back to cirun too, for its log file */
		return verb_serve() < 0 ? 1 : 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	log_error("unknown command '%s'; run 'cirun-agent --help' for the list", argv[1]);
	return 2;
}
