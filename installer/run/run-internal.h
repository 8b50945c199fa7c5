/* What the files of installer/run/ share: the run, each host's state, and the helpers every
 * phase uses. Not an API outside installer/run/ (and its unit test): cluster_run() in
 * run.h is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cluster.h"
#include "digest.h"
#include "error.h"
#include "image-store.h"
#include "macro.h"
#include "run.h"

#define REMOTE_ROOT "/var/lib/cirun"
#define REMOTE_AGENT REMOTE_ROOT "/bin/cirun-agent"

struct ssh_conn;
struct ssh_chan;
struct agent_client;
struct ynode;

struct host_state {
	struct cluster_host *spec;
	struct ssh_conn *conn;
	struct ssh_chan *agent_ch;
	struct agent_client *ac;
	struct ynode *facts;
	double skew_s;
	bool failed;
	const char *failed_phase;
	struct errbuf err;
	unsigned phases_done;
	uint64_t bytes_sent;
	unsigned layers_sent;
	bool agent_uploaded;
	int64_t t_start_ms, t_end_ms;
	struct buf tail;	/* recent output lines, for failure reports */
	struct buf line;	/* an output line being assembled */
};

struct run {
	struct cluster *c;
	struct image_store *st;
	struct image img;
	const struct run_opts *o;
	struct host_state *hosts;
	size_t n;
	char *agent_path;
	char agent_hex[SHA256_HEX_SIZE];
	char *known_hosts;
	char **digests;	/* content layers, in order */
	uint64_t *sizes;
	size_t nlayers;
};

int64_t run_now_ms(void);

/* Marks the host failed in `phase` and logs it once; with fmt NULL, h->err already says
 * why. Returns the error (-EIO when r is not one). */
int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...) _printf_(4, 5);

/* ---- the phases: each works on one host, returns >= 0 or -errno with h->err set ---- */

typedef int (*phase_fn)(struct run *r, struct host_state *h);

int phase_connect(struct run *r, struct host_state *h);	  /* connect.c */
int phase_agent(struct run *r, struct host_state *h);	  /* agent.c */
int phase_facts(struct run *r, struct host_state *h);	  /* facts.c */
int phase_distribute(struct run *r, struct host_state *h); /* distribute.c */
int phase_setup(struct run *r, struct host_state *h);	  /* setup.c */
int phase_init(struct run *r, struct host_state *h);	  /* init.c */

/* facts.c: every check on every host, one table, before anything is changed; a host that
 * fails one is marked failed in "preflight". -EPERM when any did. */
int run_preflight(struct run *r);

/* agent.c: the cirun-agent to upload, as a path to free; NULL when there is none. */
char *run_find_agent(const struct run_opts *o);

/* plan.c: --dry-run's plan, from the image and the flags alone. */
void run_plan(struct run *r);

/* summary.c: the per-host table that ends a run. */
void run_summary(struct run *r);
