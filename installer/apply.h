/* `cirun apply -f` on a cluster whose definition is saved, `cirun join` and `cirun delete
 * -m/-n` (they edit the saved definition, then apply it): a reconcile against the SAVED
 * definition (installer/cluster-state.h), never against a kubeconfig.
 *
 * The plan (cluster_apply_plan_print) is printed first; --dry-run stops there. The hosts
 * the new definition drops are added to the still-to-clean record (clusters/NAME/to-clean)
 * before anything else; then, unless the apply only removes hosts, every host of the new
 * definition goes through the run (cluster_run: it saves the new definition before any
 * host is touched; what is done already is skipped), new masters joining one at a time.
 * Only when that succeeded are the hosts of the record removed: reached first (master0 and
 * each of them: one that cannot be is named and nothing is removed, unless --force: then it
 * is skipped and stays in the record); PreClean on them; each drained by kubectl on
 * master0 (`kubectl drain NODE --ignore-daemonsets --delete-emptydir-data --force`, the
 * node found by its InternalIP in `kubectl get nodes -o json`); cleaned as `delete --all`
 * cleans a host (kubeadm reset -f, which stops its kubelet, scripts/clean.sh, the agent's
 * CLEAN), nodes first, masters one at a time; its Node deleted (`kubectl delete node NODE
 * --ignore-not-found`); PostClean. Each host cleaned leaves the record; a host that failed
 * stays there, for the next apply or `delete --all`.
 *
 * Returns the exit code: 0 done (with --force: every reachable host), 1 a host failed or
 * could not be reached, 2 the apply was refused before any host (a role change, master0
 * left out, the registry moved). What went wrong has been logged. */
#pragma once

#include <stdbool.h>

#include "cluster.h"
#include "image-store.h"
#include "run.h"

int cluster_apply(struct image_store *st, const struct cluster *saved, struct cluster *want,
		  bool allow_master0, const struct run_opts *o);
