/* The run verb: `cirun run IMAGE -m IPS …`, also callable without the verb
 * (`cirun -m ip -p pw IMAGE`, as sealer users type it). */
#pragma once

int cmd_run(int argc, char **argv);

/* `cirun apply -f Clusterfile`: the same run from a Clusterfile's Cluster document
 * (hosts with roles, ssh and env per host over the global ones). */
int cmd_apply(int argc, char **argv);
