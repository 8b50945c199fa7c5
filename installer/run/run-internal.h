/* What the files of installer/run/ share: the run, each host's state, and the helpers every
 * phase uses. Not an API outside installer/run/ (and its unit test): cluster_run() in
 * run.h is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "cluster.h"
#include "digest.h"
#include "error.h"
#include "image-store.h"
#include "kubeadm-config.h"
#include "kubeadm-output.h"
#include "macro.h"
#include "plugin.h"
#include "run.h"

#define REMOTE_ROOT "/var/lib/cirun"
#define REMOTE_AGENT REMOTE_ROOT "/bin/cirun-agent"

struct ssh_conn;
struct ssh_chan;
struct agent_client;
struct ynode;
struct plugin_selected;
struct agent_exit;

struct host_state {
	struct cluster_host *spec;
	struct ssh_conn *conn;
	struct ssh_chan *agent_ch;
	struct agent_client *ac;
	struct ynode *facts;
	double skew_s;
	bool failed;
	const char *failed_phase;
	struct errbuf err;
	unsigned phases_done;
	uint64_t bytes_sent;
	unsigned layers_sent;
	bool agent_uploaded;
	int64_t t_start_ms, t_end_ms;
	struct buf tail;	/* recent output lines, for failure reports */
	struct buf line;	/* an output line being assembled */
	bool clean_absent;	/* delete: nothing of the cluster was on the host */
	/* journal.c: the host's step journal as phase "journal" read it (journal_on: read, and
	 * what runs is recorded), the index in run_pipeline[] of the first phase it runs (the
	 * recorded ones before it are skipped as done) and why it resumes there; how many
	 * phases were skipped */
	struct journal *journal;
	bool journal_on;
	size_t resume_at;
	const char *resume_why;
	unsigned steps_skipped;
};

struct run {
	struct cluster *c;
	struct image_store *st;
	struct image img;
	const struct run_opts *o;
	struct host_state *hosts;
	size_t n;
	char *agent_path;
	char agent_hex[SHA256_HEX_SIZE];
	char *known_hosts;
	char **digests;	/* content layers, in order */
	uint64_t *sizes;
	size_t nlayers;
	struct plugin_list plugins;	    /* plugins.c: the Clusterfile's, then the image's */
	struct plugin_host *plugin_hosts; /* hosts[] as the plugins' `on` sees them */
	struct plugin_selected *plugin_selected; /* per plugin: its label selector's answer */
	/* registry.c: the image's images/ (has_images), its archives but registry.tar in
	 * name order, whether registry.tar is there, and the index of the registry host */
	bool has_images, has_registry_tar;
	char **archives;
	size_t narchives;
	size_t registry_host;
	/* kubeadm.c: the image's bin/kubeadm (none: every kubeadm phase is skipped), its
	 * version and etc/kubeadm.yml, the masters' IPs; master0's cgroup driver (kubeadm
	 * init) and join data (join data), read by the joins after; which hosts' nodes were
	 * not Ready when the wait timed out (ready.c), for its after hook */
	bool has_kubeadm;
	char *k8s_version;
	char *kubeadm_yml;
	size_t kubeadm_yml_len;
	char *kubeadm_yml_name; /* "IMAGE:etc/kubeadm.yml", for messages */
	const char **master_ips;
	size_t n_masters;
	struct kubeadm_user_doc *kubeadm_docs;
	const char *cgroup_driver;
	bool init_skipped; /* master0 had admin.conf: kubeadm init changed nothing */
	bool have_join;
	struct kubeadm_join_cmd join;
	char cert_key[KUBEADM_CERT_KEY_LEN + 1];
	bool *not_ready;
	char **node_names; /* per host, its node's name as kubectl listed it (NULL: not listed) */
	/* hosts.c: the registry hosts the import of images/ found (phase registry, on the
	 * registry host alone; run_mirror_add), each once and none of the fixed list: the
	 * mirrors phase adds them to it */
	char **mirror_sources;
	size_t n_mirror_sources;
	/* roles.c: the layers every host but the registry host gets (images/ and registry/
	 * left out), each a view or, when it had nothing to leave out, the original; none
	 * when every host is the registry host. node_view[k]: node_digests[k] is a view blob
	 * (under $CIRUN_HOME/views), not the store's. */
	char **node_digests;
	uint64_t *node_sizes;
	bool *node_view;
	size_t n_node_layers;
	size_t node_layers_filtered; /* originals with something left out */
	uint64_t node_bytes_saved;   /* their bytes less their views' */
	/* layer-scan.c: the one walk over the layers' tar headers that registry.c and
	 * kubeadm.c both read from (a base image's layers hold hundreds of MB of images/:
	 * read once, not once per module). What kubeadm's part refused is kept for
	 * run_kubeadm_load to report in its turn, after the registry's and hosts' checks. */
	bool save_definition; /* run_save_definition: saved before the first change */
	bool layers_scanned;
	bool *layer_may_have_plugins; /* per layer: plugins.c unpacks only those */
	int kubeadm_scan_rc;
	struct errbuf kubeadm_scan_err;
	/* distribute.c: the hosts sending a layer at the same time share one read of it */
	struct layer_feeds *feeds;
	/* journal.c: some host runs its join in this run (else join data is not asked for) */
	bool joins_pending;
};

int64_t run_now_ms(void);

/* run.c: the sessions ended (BYE), everything r holds released; delete.c shares it. */
void run_release(struct run *r);

/* Marks the host failed in `phase` and logs it once; with fmt NULL, h->err already says
 * why. Returns the error (-EIO when r is not one). */
int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...) _printf_(4, 5);

/* ---- the pipeline (pipeline.c) ----
 *
 * A run is the rows of run_pipeline[], in order; each phase is one file of installer/run/
 * named after it. A phase's work on one host is a phase_fn: it works on h (and reads r),
 * returns >= 0, or -errno with h->err saying what failed and where. The pipeline then marks
 * the host failed in that phase; a failed host takes no further part, the others go on.
 * The hosts of a phase run in parallel (--parallel threads): a phase_fn writes only its
 * own host_state. What the next phases need from one host (master0's join command, say)
 * is written into struct run by a phase that runs on that host alone, or by an `after`
 * hook, which runs on the calling thread once the hosts are done. */

typedef int (*phase_fn)(struct run *r, struct host_state *h);

/* Which hosts a phase runs on: pick(r, i) says whether r->hosts[i] takes part. */
struct phase_hosts {
	const char *name; /* in the dry-run plan: "on master0" */
	bool (*pick)(const struct run *r, size_t i);
};

extern const struct phase_hosts phase_on_master0;	 /* hosts[0] */
extern const struct phase_hosts phase_on_masters;	 /* master0 included */
extern const struct phase_hosts phase_on_other_masters; /* every master but master0 */
extern const struct phase_hosts phase_on_nodes;

enum phase_flags {
	/* All or nothing until here: after this phase (and its `after` hook), the run stops
	 * unless every host is still live ("stopped before changing any host"). Only phases
	 * before the first that changes the cluster (distribute) may carry it. */
	PHASE_ALL_OR_NOTHING = 1u << 0,
	/* The hosts one at a time, in the order of hosts[] (masters joining), not in parallel. */
	PHASE_ONE_AT_A_TIME = 1u << 1,
	/* The others cannot do without it: when a host taking part fails here, the run stops
	 * after this phase ("stopped after NAME") instead of going on with the rest (the
	 * registry: every host would pull through a registry that is not there, and fail
	 * late, or quietly fall back to the public registries). */
	PHASE_NEEDED_BY_ALL = 1u << 2,
};

struct phase {
	const char *name;	      /* in the header, the summary's first error, the plan */
	phase_fn run;		      /* on each live host picked; counted in its phases_done */
	const struct phase_hosts *on; /* NULL: every host */
	/* Once over all hosts when `run` is done (the preflight table), if any host took part
	 * and, for an all-or-nothing phase, every host is still live. It marks the hosts it
	 * fails (host_fail); < 0 stops the run. NULL: none. */
	int (*after)(struct run *r);
	const char *after_name;	      /* the plan's "facts and preflight" */
	/* True: the phase is not part of this run (no plugin at this point, say): no header,
	 * not in the plan. Decided from the image, the cluster and the flags only, never from
	 * what hosts answered, so the dry-run plan lists what the run does. NULL: never. */
	bool (*skip)(const struct run *r);
	unsigned flags;		      /* enum phase_flags */
};

extern const struct phase run_pipeline[];
extern const size_t run_pipeline_len;

/* Runs the phases in order over r->hosts. A phase no live host takes part in is passed
 * over silently. Returns false when an all-or-nothing phase or an `after` hook stopped
 * the run (then later phases did not run), true otherwise (some hosts may have failed). */
bool pipeline_run(struct run *r, const struct phase *phases, size_t n);

/* The phases of this run in one line for the plan: "phases on every host: connect, agent,
 * facts and preflight, ..." or, when some run on a selection, "phases: ..., join (on
 * other masters, one at a time), ...". */
void pipeline_describe(const struct run *r, const struct phase *phases, size_t n,
		       struct buf *out);

/* ---- the phases, one file each ---- */

int phase_connect(struct run *r, struct host_state *h);	  /* connect.c */
int phase_agent(struct run *r, struct host_state *h);	  /* agent.c */
int phase_facts(struct run *r, struct host_state *h);	  /* facts.c */
int phase_distribute(struct run *r, struct host_state *h); /* distribute.c */
struct layer_feeds *run_layer_feeds_new(void); /* distribute.c */
void run_layer_feeds_release(struct run *r);
int phase_config(struct run *r, struct host_state *h);	  /* config.c */
int phase_hosts(struct run *r, struct host_state *h);	  /* hosts.c */
int phase_setup(struct run *r, struct host_state *h);	  /* setup.c */
int phase_init(struct run *r, struct host_state *h);	  /* init.c */
int phase_cmd(struct run *r, struct host_state *h);	  /* cmd.c */

/* hosts.c: the registries whose pulls go through the cluster's registry: the fixed list
 * (registry.k8s.io, docker.io, quay.io: a CMD may pull from them names that are not in
 * images/), then r->mirror_sources; into ret (MSG_MAX_MIRRORS room), the count returned. */
size_t run_mirror_upstreams(const struct run *r, const char **ret);
/* hosts.c: host (HOST[:PORT], from the agent's REGISTRY_IMPORTED) added to
 * r->mirror_sources: 1 added, 0 already a mirror (or the cluster's registry itself),
 * -E2BIG past MSG_MAX_MIRRORS in all (err says so). */
int run_mirror_add(struct run *r, const char *host, struct errbuf *err);
void run_mirror_release(struct run *r);
/* mirrors.c: phase "mirrors", every host, right after registry (skipped with it when the
 * image has no images/): HOSTS again, its upstreams now with the registries found in
 * images/; the plan's line. */
int phase_mirrors(struct run *r, struct host_state *h);
void run_mirrors_plan(const struct run *r);

/* config.c: the skip of phase config (the cluster has no Config document). */
bool run_no_configs(const struct run *r);

/* facts.c: every check on every host, one table, before anything is changed; a host that
 * fails one is marked failed in "preflight". -EPERM when any did. */
int run_preflight(struct run *r);

/* agent.c: the cirun-agent to upload, as a path to free; NULL when there is none. */
char *run_find_agent(const struct run_opts *o);

/* init.c: an agent_output_fn (data: the host_state) that logs each line with the host's
 * prefix and keeps the last lines in h->tail for the failure report. */
void run_host_output(void *data, int stream, const char *buf, size_t n);
/* init.c: line appended to h->tail, which keeps the last 20 lines for the failure report. */
void run_host_keep_tail(struct host_state *h, const char *line);

/* cmd.c: true when the image has no CMD (the phase is skipped); the CMDs, expanded, in
 * the dry-run plan. */
bool run_no_cmds(const struct run *r);
void run_cmd_plan(struct run *r);

/* plugins.c: the plugins at their phase points. run_plugins_load collects the Clusterfile's
 * and the image's, and refuses any that is invalid, before any host is touched (-EINVAL,
 * "FILE:LINE: ..." in err). */
int run_plugins_load(struct run *r, struct errbuf *err);
void run_plugins_release(struct run *r);
int phase_plugins_originally(struct run *r, struct host_state *h);
int phase_plugins_post_install(struct run *r, struct host_state *h);
/* on master0, before PostInstall: its label selectors, LABEL, TAINT and CLUSTERCHECK, by
 * kubectl (the row "PostInstall kubectl") */
int phase_plugins_selectors(struct run *r, struct host_state *h);
bool run_no_plugins_originally(const struct run *r);
bool run_no_plugins_post_install(const struct run *r);
bool run_no_plugin_selectors(const struct run *r);
/* The plan's "  plugins at PHASE: NAME (TYPE), ..." lines for hosts[host]. */
void run_plugins_plan(const struct run *r, size_t host);
/* The points PreInit (every host, before kubeadm init), PreJoin (the hosts that join),
 * PostJoin, PreGuest (every host): each a row on the hosts and, where a plugin needs the
 * cluster (a label selector, LABEL, TAINT, CLUSTERCHECK), a row "PHASE kubectl" on master0
 * just before it (plugins-kubectl.c; phase_plugins_selectors is PostInstall's). */
int phase_plugins_pre_init(struct run *r, struct host_state *h);
int phase_plugins_pre_join(struct run *r, struct host_state *h);
int phase_plugins_post_join(struct run *r, struct host_state *h);
int phase_plugins_pre_guest(struct run *r, struct host_state *h);
int phase_plugins_post_join_kubectl(struct run *r, struct host_state *h);
int phase_plugins_pre_guest_kubectl(struct run *r, struct host_state *h);
bool run_no_plugins_pre_init(const struct run *r);
bool run_no_plugins_pre_join(const struct run *r);
bool run_no_plugins_post_join(const struct run *r);
bool run_no_plugins_pre_guest(const struct run *r);
bool run_no_plugins_post_join_kubectl(const struct run *r);
bool run_no_plugins_pre_guest_kubectl(const struct run *r);
/* delete.c: the state of a run on a saved cluster (delete, status): the agent, known_hosts,
 * the hosts; the image's layers when it is still in the store (r->nlayers 0 otherwise). */
int run_saved_init(struct run *r, struct image_store *st, struct cluster *c,
		   const struct run_opts *o, struct errbuf *err);
/* delete.c: connect and agent, the phases that reach the hosts of a saved cluster */
extern const struct phase run_reach[];
extern const size_t run_reach_len;
/* delete.c: one host's clean (kubeadm reset -f, scripts/clean.sh, the agent's CLEAN) */
int phase_clean(struct run *r, struct host_state *h);
/* delete-guard.c: what of the cluster is on h before its clean: CLEAN_ABSENT (no
 * ROOT/data/<name>: nothing to do there), CLEAN_SHARED (another cluster's install record
 * lists kubeadm or kubelet files: *ret_other names it; no kubeadm reset), CLEAN_OURS. */
enum { CLEAN_OURS, CLEAN_ABSENT, CLEAN_SHARED };
int run_clean_probe(struct run *r, struct host_state *h, char **ret_other);
/* delete-guard.c: the end of a `delete --all --force` that left hosts (left: their
 * list): the saved definition rewritten down to them, or removed when only unreachable
 * hosts are left and no other held anything of the cluster. The exit code. */
int run_delete_forced_end(struct run *r, const char *home, size_t unreachable,
			  const char *left);
/* The points of a delete (delete.c), in / on every host their plugins select. */
int phase_plugins_pre_clean(struct run *r, struct host_state *h);
int phase_plugins_post_clean(struct run *r, struct host_state *h);
bool run_no_plugins_pre_clean(const struct run *r);
bool run_no_plugins_post_clean(const struct run *r);
/* apply.c: the removal of hosts from a cluster (installer/apply.h), over a run whose
 * hosts[0] is master0 (kubectl drains and deletes there) and every other host one to
 * remove */
extern const struct phase run_remove_pipeline[];
extern const size_t run_remove_pipeline_len;
/* every host but master0: the hosts PreJoin acts on */
extern const struct phase_hosts phase_on_joining;

/* registry.c: the image's images/ listed from its layers (headers only, nothing unpacked)
 * and the registry host picked, before any host is touched; the phase that starts the
 * registry there and imports every archive; its skip (no images/), its plan line. */
int run_registry_load(struct run *r, struct errbuf *err);
void run_registry_release(struct run *r);
bool run_no_registry(const struct run *r);
int phase_registry(struct run *r, struct host_state *h);
extern const struct phase_hosts phase_on_registry;
void run_registry_plan(const struct run *r, size_t host);

/* kubeadm.c: the image's bin/kubeadm and etc/kubeadm.yml read from its layers and every
 * kubeadm input validated (kubeadm_config_validate) before any host is touched; an image
 * with bin/kubeadm but no kubernetesVersion is refused. The skip of every kubeadm phase
 * (no bin/kubeadm), the plan's line. */
int run_kubeadm_load(struct run *r, struct errbuf *err);
void run_kubeadm_release(struct run *r);
bool run_no_kubeadm(const struct run *r);
bool run_no_joins(const struct run *r);	      /* no kubeadm, or master0 alone */
bool run_no_master_joins(const struct run *r); /* no kubeadm, or one master */
bool run_no_node_joins(const struct run *r);   /* no kubeadm, or no node */
void run_kubeadm_plan(const struct run *r, size_t host);
/* The render's inputs for host h (join fields from r when r->have_join). */
void run_kubeadm_in(const struct run *r, const struct host_state *h,
		    struct kubeadm_config_in *in);
/* Renders the config of role for h and has the agent write it as
 * data/CLUSTER/kubeadm-NAME.yaml (0600); *ret_path: its path on the host. */
int run_kubeadm_write(struct run *r, struct host_state *h, enum kubeadm_role role,
		      const char *name, char **ret_path);
/* Runs script on h (in /, the host's env), stdout into out (capped, never logged) when
 * out is set, else streamed like stderr (run_host_output, h->tail). */
int run_host_exec(struct host_state *h, const char *script, unsigned timeout_s,
		  struct buf *out, struct agent_exit *ex);
/* Whether path exists on h: 1 yes, 0 no, < 0 the check failed. */
int run_host_test(struct host_state *h, const char *path);

int phase_kubeadm_init(struct run *r, struct host_state *h);	/* kubeadm-init.c */
/* kubeadm-init.c: /root/.kube/config from /etc/kubernetes/admin.conf (masters) */
int run_kube_config(struct host_state *h);
int phase_join_data(struct run *r, struct host_state *h);	/* join-data.c */
int phase_join(struct run *r, struct host_state *h);		/* join.c */
int phase_label_masters(struct run *r, struct host_state *h); /* ready.c */
int phase_wait_ready(struct run *r, struct host_state *h);	/* ready.c */
/* ready.c: after the wait, each host whose node is not Ready fails with its kubelet's
 * journal; < 0 then (the run stops). */
int run_ready_after(struct run *r);
/* ready.c: the last lines of h's `journalctl -u kubelet` into out, each also logged with
 * the host's prefix ("kubelet: …"); what went wrong reading it, instead, when it failed. */
void run_kubelet_journal(struct host_state *h, struct buf *out);
/* ready.c: a kubeadm init or join (what: "kubeadm init") that failed or timed out (ex): its
 * kubelet's journal logged, h->err saying so, its last lines and to 'kubeadm reset -f'
 * the host before the next run; returns the error. */
struct agent_exit;
int run_kubeadm_failed(struct host_state *h, const char *what, const struct agent_exit *ex);

/* plan.c: --dry-run's plan, from the image and the flags alone. */
void run_plan(struct run *r);

/* summary.c: the per-host table that ends a run. */
void run_summary(struct run *r);

/* hosts.c: the addresses the hosts phase writes into /etc/hosts (the registry host's for
 * sea.hub, master0's for apiserver.cluster.local) must be IP addresses: checked before any
 * host is touched (-EINVAL, naming the host and what to give instead). */
int run_hosts_check(const struct run *r, struct errbuf *err);

/* roles.c: each host gets what its role needs, as sealer does: images/ and registry/ go to
 * the registry host alone. run_roles_load makes (or finds in the cache) the filtered view
 * of every layer, before any host is touched; kubeadm.c and registry.c read the originals. */
int run_roles_load(struct run *r, struct errbuf *err);
void run_roles_release(struct run *r);
/* The layers host i gets, in order. */
void run_host_layers(const struct run *r, size_t i, char *const **digests,
		     const uint64_t **sizes, size_t *n);
/* Where the blob of one of those layers is, to read and send it; malloc'd. */
char *run_layer_path(const struct run *r, const char *digest);
/* What host i is not sent ("images/, registry/: not sent (not the registry host; …)"),
 * or NULL when it gets everything; into buf. */
/* roles.c: after layer digest failed to reach a host: a view blob that a host refused
 * because it was damaged here is removed, and err says so */
void run_layer_send_failed(const struct run *r, const char *digest, struct errbuf *err);
const char *run_roles_skipped(const struct run *r, size_t i, char *buf, size_t len);
/* layer-scan.c: every layer's entries, once, in order, to registry.c's and kubeadm.c's
 * accounting (run_registry_entry, run_kubeadm_entry), from the per-layer index
 * (installer/layer-index.h: a layer is decompressed by the first run over it only); sets
 * r->layers_scanned. < 0 only when a layer cannot be read (err says which); kubeadm's own
 * refusal (a hostile etc/kubeadm.yml) goes into r->kubeadm_scan_rc/err and its accounting
 * stops there. */
int run_layers_scan(struct run *r, struct errbuf *err);
void run_layers_scan_release(struct run *r);
/* registry.c: whether an entry matters to it; one entry (its path as the tar names it) of
 * a layer, in layer order */
bool run_registry_wants(const char *path);
/* plugins.c: whether an entry may be one of the image's plugins (a superset) */
bool run_plugins_may_want(const char *path);
void run_registry_entry(struct run *r, const char *path, mode_t type);
/* kubeadm.c: whether an entry matters to it (and its data: etc/kubeadm.yml); one entry of
 * a layer, data (NULL: not read) being that file's first len bytes; < 0 with err set when
 * that file is refused */
bool run_kubeadm_wants(const char *path, bool *want_data);
int run_kubeadm_entry(struct run *r, const char *path, mode_t type, const char *data,
		      size_t len, const char *blob, struct errbuf *err);
/* kubeadm.c: the most bytes of etc/kubeadm.yml it takes */
#define RUN_KUBEADM_YML_MAX (1u << 20)

/* journal.c: the step journal of each host (common/journal.h) at the pipeline's level.
 * phase_journal (every host, before anything changes) reads it, mirrors it in
 * $CIRUN_HOME/clusters/NAME/journal/IP and decides where the host resumes; its after hook
 * settles what spans hosts (master0 initialised again: every join runs; a skipped
 * registry's findings and kubeadm init's cgroup driver restored). The pipeline asks
 * run_journal_skips before a phase runs on a host, and run_journal_record once it
 * succeeded there (< 0: the record failed, h->err says so). */
struct journal;
int phase_journal(struct run *r, struct host_state *h);
int run_journal_after(struct run *r);
/* run.c: saves the desired definition when the run asked for it (r->save_definition);
 * < 0 (logged) stops the run */
int run_save_definition(struct run *r);
bool run_journal_skips(struct run *r, struct host_state *h, const struct phase *p);
int run_journal_record(struct run *r, struct host_state *h, const struct phase *p);
/* The inputs phase would record on h now ("k=v k=v"), -ENOENT for a phase not recorded;
 * the index in run_pipeline[] where h resumes given journal j (run_pipeline_len: every
 * recorded phase done), *ret_why saying why there. */
int run_journal_inputs(const struct run *r, const struct host_state *h, const char *phase,
		       struct buf *out);
size_t run_journal_decide(const struct run *r, const struct host_state *h,
			  const struct journal *j, const char **ret_why);
/* The summary's "IP: resumed at STEP, N steps skipped as done" lines */
void run_journal_summary(const struct run *r);
void run_journal_release(struct run *r);
