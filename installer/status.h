/* `cirun status [NAME]`: each host of a saved cluster (installer/cluster-state.h) as it is
 * now: its role, whether it can be reached (connect and agent), its journal position
 * (the last line of data/<name>/journal, "-" without one), the last image id the journal
 * recorded, and the states of containerd and kubelet (systemctl is-active). Everything a
 * host answers is shown with control characters replaced and cut at 200 bytes.
 *
 * Text: a header line, then one line per host (an unreachable host, or one reached whose
 * state could not be read, with why on the next line). With o->json the run's events are JSON lines as `run --output json` prints them,
 * and the last line is {"cluster", "image", "image_id", "hosts": [{"host", "role",
 * "reachable", "error", "cri", "kubelet", "image_id", "journal"}]} (null where unknown).
 * Returns the exit code: 0 every host reached and read, 1 otherwise. */
#pragma once

#include "cluster.h"
#include "error.h"
#include "run.h"

int cluster_status(const char *home, struct cluster *c, const struct run_opts *o,
		   struct errbuf *err);
