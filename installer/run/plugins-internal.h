/* What plugins.c (loading, the rows on the hosts, the plan) and plugins-kubectl.c (the rows
 * on master0: label selectors, LABEL, TAINT, CLUSTERCHECK) share. Private to the two. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "plugin.h"
#include "run-internal.h"

/* What master0 answered and did for plugin i (r->plugins.v[i]) at the point being run;
 * reset by each "PHASE kubectl" row before it acts, read by the row on the hosts after. */
struct plugin_selected {
	bool resolved;	 /* its label selector was answered: the nodes' addresses in ips */
	char **ips;
	size_t n;
	bool done;	 /* its LABEL/TAINT/CLUSTERCHECK actions went through master0's kubectl */
	char **host_err; /* r->n entries: why its action on that host's node failed, or NULL */
	int point;	 /* the point the fields above are for (enum plugin_phase), -1: none */
};

/* Whether hosts[i] is one the point acts on: every host, but at PreJoin only the hosts
 * that join (not master0, which kubeadm init made). */
bool run_plugin_phase_host(const struct run *r, enum plugin_phase ph, size_t i);

/* LABEL, TAINT and CLUSTERCHECK act through kubectl on master0, not on their hosts. */
bool run_plugin_through_kubectl(const struct plugin *p);

/* The plan of p at ph over the point's hosts (a label selector picks the hosts master0
 * listed for it, unresolved an error), and in *ret the action on hosts[me], if any. */
int run_plugin_plan_for(const struct run *r, const struct plugin *p, enum plugin_phase ph,
			size_t me, struct plugin_plan *plan, const struct plugin_action **ret,
			struct errbuf *err);

/* An agent_output_fn (data: the host_state): each line logged with the host's prefix and
 * kept in h->tail (the last lines, for a failure's message). */
void run_plugin_output(void *data, int stream, const char *buf, size_t n);

/* Forgets what master0 answered for the plugins at ph (before it answers again). */
void run_plugin_point_reset(struct run *r, enum plugin_phase ph);
