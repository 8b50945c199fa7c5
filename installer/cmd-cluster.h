/* The verbs on saved clusters ($CIRUN_HOME/clusters, installer/cluster-state.h). */
#pragma once

/* `cirun clusters [--output json]`: name, image, masters, nodes of each saved cluster. */
int cmd_clusters(int argc, char **argv);

/* `cirun delete --all [--force] [--cluster-name NAME]` (installer/delete.h). */
int cmd_delete(int argc, char **argv);

/* `cirun status [NAME] [--output json]` (installer/status.h). */
int cmd_status(int argc, char **argv);
