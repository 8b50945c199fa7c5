/* What an apply changes in an existing cluster: the saved definition (what the last run
 * was given, $CIRUN_HOME/clusters/NAME/Clusterfile) against the new one, host by host and
 * input by input, never against a kubeconfig (sealer's reconcile diffed against whatever
 * ~/.kube/config reached, and turned a delete into a scale-up when the two disagreed).
 * Both definitions have been through cluster_finish. Also the edits `join` and `delete`
 * make to a saved definition before it is reconciled. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cluster.h"
#include "error.h"

struct cluster_diff {
	/* hosts of the new definition that the saved one lacks, and the reverse */
	const struct cluster_host **added;
	size_t nadded;
	const struct cluster_host **removed;
	size_t nremoved;
	/* kept hosts (of the new definition) whose env (global and own, merged) changed */
	const struct cluster_host **env_changed;
	size_t nenv_changed;
	bool image_changed;
	bool configs_changed;  /* kind: Config documents */
	bool plugins_changed;  /* kind: Plugin documents */
	bool kubeadm_changed;  /* kubeadm, kubelet and kube-proxy documents */
	bool cmd_args_changed; /* spec.cmd_args */
	bool master0_changed;  /* the saved master0 is removed: another master takes its place */
	const char *new_master0;
};

/* Compares; refuses (-EINVAL, err saying why and what to do) what an apply cannot do to a
 * running cluster: a kept host whose role changed, none of the masters kept, the
 * registry's host (spec.registry.host, else master0) changed or left out, or master0 left
 * out unless allow_master0. Hosts are matched by address (IPv6 spellings of one address
 * are one host). When master0 stays, *want is
 * reordered so that it is master0 again (the masters' order in a Clusterfile is not a
 * request to re-initialise). d points into saved and want: keep them while d is used. */
int cluster_diff(const struct cluster *saved, struct cluster *want, bool allow_master0,
		 struct cluster_diff *d, struct errbuf *err);
bool cluster_diff_empty(const struct cluster_diff *d);
/* The plan, one line per change ("nothing to change" when empty), each line indented. */
void cluster_diff_print(const struct cluster_diff *d, FILE *f);
void cluster_diff_release(struct cluster_diff *d);

/* `cirun join`: adds hosts of a role (an IP list, as -m/-n take) to a saved definition;
 * with ssh fields set, the new hosts get them as their own (a host's own settings over the
 * cluster's), and env items K=V as their own env. A host already in the cluster is
 * refused. Call cluster_finish after. */
int cluster_join_hosts(struct cluster *c, const char *spec, enum host_role role,
		       const struct ssh_settings *ssh, const struct kv *env, size_t nenv,
		       struct errbuf *err);

/* `cirun delete -m/-n`: removes the listed hosts, each of which must be in c with that
 * role; master0 only with allow_master0 (then the next master becomes master0), and never
 * the last master (that is `delete --all`). */
int cluster_remove_hosts(struct cluster *c, const char *spec, enum host_role role,
			 bool allow_master0, struct errbuf *err);

/* The hosts still to clean: those an apply (or `delete -m/-n`) took out of the definition
 * and has not yet drained, reset and cleaned (installer/cluster-state.h keeps them in
 * clusters/NAME/to-clean, so that the saved definition can be the new one from the start
 * and a failed or --force'd removal is finished by the next apply or `delete --all`).
 * rec is a cluster whose hosts are those (name and image set; not cluster_finish'ed: it
 * may hold nodes alone). cluster_to_clean_update makes it what this apply must clean: the
 * hosts of rec that want has again are dropped (they are joined, not cleaned), the hosts
 * d removes are added (copies, each once). Returns how many it holds. */
size_t cluster_to_clean_update(struct cluster *rec, const struct cluster *want,
			       const struct cluster_diff *d);
/* Drops host ip from rec (it was cleaned); 0 when it was there, -ENOENT when not. */
int cluster_to_clean_done(struct cluster *rec, const char *ip);
/* The host of rec at address ip (however it is spelt), NULL when none. */
const struct cluster_host *cluster_to_clean_find(const struct cluster *rec, const char *ip);

/* Whether an apply of d must take the new definition's hosts through the install pipeline
 * before it removes anything: always, but when d only removes hosts other than master0
 * (then the kept hosts are left as they are: there is nothing to join before the
 * removals; a new master0 needs the run: every host's apiserver.cluster.local moves). */
bool cluster_apply_installs(const struct cluster_diff *d);

/* The whole plan of an apply: the diff (cluster_diff_print), the hosts of rec an earlier
 * apply left to clean, then the order the apply takes ("nothing to change" only when
 * there is nothing at all). */
void cluster_apply_plan_print(const struct cluster_diff *d, const struct cluster *rec, FILE *f);
