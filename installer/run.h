/* `cirun run`: the create pipeline (design.md §2), phase by phase over all hosts:
 *
 *   connect     one SSH session per host, kept for the whole run
 *   agent       upload cirun-agent when its digest differs, start it, HELLO
 *   facts       every host's facts, then the preflight table; stop on a failed check
 *   distribute  send only the layers a host lacks, verified on arrival; assemble the
 *               rootfs in a staging dir and swap it in
 *   config      the Clusterfile's Config documents applied to that rootfs (when any)
 *   setup       templates, bin/, CRI archives, units (the agent's SETUP)
 *   init        scripts/init.sh with the env exported, output streamed, a timeout
 *
 * A host that fails stops there; the others go on with the phase; the run ends with a
 * per-host table and exit 1 if any host failed. Each phase is a file of installer/run/;
 * their order is the table in installer/run/pipeline.c. */
#pragma once

#include <stdbool.h>

#include "cluster.h"
#include "error.h"
#include "image-store.h"

struct run_opts {
	unsigned parallel;	   /* hosts at once; 0: 32 */
	unsigned timeout_s;	   /* per remote step (init.sh); 0: 1800 */
	unsigned connect_timeout_s;
	bool dry_run;
	bool json;		   /* --output json: events as JSON lines on stdout */
	bool insecure_ignore_host_key;
	bool force;		   /* replace files cirun did not install, keeping a backup;
				    * break a stale host lock */
	const char *skip_preflight; /* comma list of check names */
	const char *agent_path;	    /* NULL: next to cirun, or CIRUN_AGENT */
	unsigned ready_timeout_s;   /* every node Ready after the joins; 0: 300 */
	const char *command;	    /* "run", "apply", "delete", "status": in each host's lock record; NULL: "run" */
};

/* Checks a --skip-preflight list (comma-separated check names) before anything runs:
 * an unknown name is -EINVAL, the message listing the known ones. */
int run_skip_list_check(const char *list, struct errbuf *err);

/* --dry-run prints the plan from the image and the flags and never connects.
 * Returns 0 when every host finished, 1 when some failed, <0 (with err) when the run
 * could not start. */
int cluster_run(struct image_store *st, struct cluster *c, const struct run_opts *o,
		struct errbuf *err);
