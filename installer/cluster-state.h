/* The saved cluster definition: $CIRUN_HOME/clusters/<name>/Clusterfile, what `run` and
 * `apply` were last asked to install (the desired definition, written once it is
 * validated and before any host is touched; what happened on the hosts is in their
 * journals). It is a Clusterfile (installer/clusterfile.h reads it back, `cirun apply -f`
 * takes it): one Cluster document with one host group per host (its role, its SSH
 * settings and env resolved as cluster_finish() left them), then the Plugin, Config and
 * kubeadm documents, the image's template already merged in.
 *
 * It holds SSH passwords: the directory is 0700, the file 0600, written beside and
 * renamed over (never half-written), and its text is wiped from memory after use. A name
 * that is not a valid cluster name, a symlink or anything but a regular file where the
 * directory or the file should be is refused, never followed. */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "cluster.h"
#include "error.h"

#define CLUSTER_STATE_FILE "Clusterfile"
#define CLUSTER_TO_CLEAN_FILE "to-clean"

/* $CIRUN_HOME, else /var/lib/cirun; CIRUN_HOME set but empty is -EINVAL. */
int cluster_state_home(const char **ret, struct errbuf *err);

/* The Clusterfile text of c (after cluster_finish), appended to out. */
int cluster_state_render(const struct cluster *c, struct buf *out, struct errbuf *err);

/* Writes c as home/clusters/<c->name>/Clusterfile. */
int cluster_state_save(const char *home, const struct cluster *c, struct errbuf *err);

/* Reads the saved definition of name back (cluster_finish applied). A file whose Cluster
 * names another cluster than its directory is refused. -ENOENT: none saved. */
int cluster_state_load(const char *home, const char *name, struct cluster *ret,
		       struct errbuf *err);

/* The names of the saved clusters, sorted (those whose directory holds a Clusterfile). */
int cluster_state_list(const char *home, char ***ret, size_t *ret_n, struct errbuf *err);
void cluster_state_list_free(char **names, size_t n);

/* The cluster a command acts on: name when given (it must be saved), else the only
 * saved cluster; none or several is an error listing them (-ENOENT, -EINVAL). */
int cluster_state_pick(const char *home, const char *name, char **ret, struct errbuf *err);

/* Removes home/clusters/<name> and everything in it (admin.conf, journals). */
int cluster_state_remove(const char *home, const char *name, struct errbuf *err);

/* The hosts still to clean (installer/cluster-diff.h: cluster_to_clean_update), as
 * home/clusters/<name>/to-clean: the same syntax, one Cluster document holding only those
 * hosts, each with its role, SSH settings and env resolved; 0600 like the definition (it
 * holds their passwords). Saving a record without hosts removes the file. */
int cluster_state_save_to_clean(const char *home, const struct cluster *rec, struct errbuf *err);
/* Reads it back (not cluster_finish'ed: it may hold nodes alone; each host must carry
 * complete SSH settings). None saved: a record without hosts, named name, and 0. */
int cluster_state_load_to_clean(const char *home, const char *name, struct cluster *ret,
				struct errbuf *err);
