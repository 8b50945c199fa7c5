/* `cirun delete --all`: a saved cluster (installer/cluster-state.h) taken off its hosts.
 *
 * Every host is reached first (connect, agent); one that cannot be is named and nothing
 * is changed anywhere, unless o->force: then the others are cleaned and it is reported
 * as skipped. Then the PreClean plugins; each host's clean (kubeadm reset -f, the
 * rootfs's scripts/clean.sh, the agent's CLEAN: agent/clean.h), the nodes first, then
 * the other masters one at a time, master0 last; the PostClean plugins. When every host
 * was cleaned, $CIRUN_HOME/clusters/<name> goes too; else it is kept and the hosts still
 * to clean are listed (with force: kept down to them; removed when only unreachable hosts
 * are left and no reachable one held anything of the cluster). A host without
 * ROOT/data/<name> is left alone. A failed step fails its host naming the step; the
 * others go on.
 *
 * Returns the exit code: 0 every host cleaned (with force: every reachable one), 1 a host
 * failed or was not reached, 2 the delete could not start for a usage reason. What went
 * wrong has been logged. */
#pragma once

#include "cluster.h"
#include "error.h"
#include "run.h"

int cluster_delete(const char *home, struct cluster *c, const struct run_opts *o,
		   struct errbuf *err);
