/* The run verb: `cirun run IMAGE -m IPS …`, also callable without the verb
 * (`cirun -m ip -p pw IMAGE`, as sealer users type it). */
#pragma once

#include <stdbool.h>

struct cluster;
struct run_opts;

int cmd_run(int argc, char **argv);

/* `cirun apply -f Clusterfile`: the same run from a Clusterfile's Cluster document
 * (hosts with roles, ssh and env per host over the global ones). */
int cmd_apply(int argc, char **argv);

/* `cirun join -m/-n IPS [ssh flags]`: hosts added to a saved cluster, then reconciled. */
int cmd_join(int argc, char **argv);

/* apply, join and delete -m/-n on a saved cluster: the local checks of a run (key files,
 * the image in the store), then the reconcile (installer/apply.h); the exit code. */
int run_reconcile(const struct cluster *saved, struct cluster *want, bool allow_master0,
		  const struct run_opts *o);
