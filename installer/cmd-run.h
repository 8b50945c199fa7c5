/* The run verb: `cirun run IMAGE -m IPS …`, also callable without the verb
 * (`cirun -m ip -p pw IMAGE`, as sealer users type it). */
#pragma once

int cmd_run(int argc, char **argv);
