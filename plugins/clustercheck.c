/* CLUSTERCHECK: waits on master0 until the cluster is healthy (every kube-system pod
 * running), as sealer's plugin does, before the image's workloads go in. It needs the
 * cluster, so it exists only in the phases where the cluster is up, and takes no data. */
#include "plugin-type.h"

const struct plugin_type_info plugin_type_clustercheck = {
	.name = "CLUSTERCHECK",
	.phases = PLUGIN_PHASES_CLUSTER_UP,
	.takes_data = false,
};
