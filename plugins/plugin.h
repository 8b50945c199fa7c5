/* Plugins: sealer's `kind: Plugin` documents, from the Clusterfile and from an image's
 * plugins/ directory, parsed and validated in full before any host is touched, then turned
 * per phase into the actions that phase runs. Nothing here runs anything: the run's
 * phases execute the actions (see plugins/README.md for how).
 *
 *   apiVersion: sealer.aliyun.com/v1alpha1   (or sealer.cloud/v2, sealer.io/v1)
 *   kind: Plugin
 *   metadata: {name: NAME}
 *   spec:
 *     type: SHELL | LABEL | TAINT | HOSTNAME | CLUSTERCHECK
 *     action: PreInit|PostInstall       (one or more phases joined by '|')
 *     on: master | node | master0 | 10.0.0.1,10.0.0.5-10.0.0.9 | key=value | (empty: all)
 *     data: |
 *       ...                             (the script, or lines the type defines)
 *
 * Every error names the file, the line and the field (or the line inside spec.data). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "kv.h"
#include "ydoc.h"

/* kubeadm >= 1.24 labels masters only node-role.kubernetes.io/control-plane. The run gives
 * every master this legacy label too, once it has joined, so that the `on:` selectors of
 * images made for older Kubernetes (the seed's taint plugin among them) keep matching. */
#define PLUGIN_LEGACY_MASTER_LABEL_KEY "node-role.kubernetes.io/master"
#define PLUGIN_LEGACY_MASTER_LABEL PLUGIN_LEGACY_MASTER_LABEL_KEY "="

enum plugin_type {
	PLUGIN_SHELL,
	PLUGIN_LABEL,
	PLUGIN_TAINT,
	PLUGIN_HOSTNAME,
	PLUGIN_CLUSTERCHECK,
	_PLUGIN_TYPE_MAX,
};

/* In the order a create runs them (PreClean and PostClean belong to delete). */
enum plugin_phase {
	PLUGIN_ORIGINALLY,   /* before the rootfs is on the hosts; shell not in the rootfs */
	PLUGIN_PRE_INIT,     /* rootfs in place, before kubeadm init */
	PLUGIN_PRE_JOIN,     /* before hosts join (scale-up: the new hosts) */
	PLUGIN_POST_JOIN,    /* after they joined */
	PLUGIN_PRE_GUEST,    /* cluster up, before the image's CMDs */
	PLUGIN_POST_INSTALL, /* after the CMDs */
	PLUGIN_PRE_CLEAN,    /* delete: before kubeadm reset */
	PLUGIN_POST_CLEAN,   /* delete: after it */
	_PLUGIN_PHASE_MAX,
};

#define PLUGIN_PHASE_BIT(p) (1u << (p))
#define PLUGIN_PHASES_ALL ((1u << _PLUGIN_PHASE_MAX) - 1)
/* Phases where the cluster exists and every host the phase acts on is a node of it: label
 * selectors, LABEL, TAINT and CLUSTERCHECK work only there. PreJoin is not one of them:
 * the hosts it acts on have not joined yet, so no label could select them. */
#define PLUGIN_PHASES_CLUSTER_UP                                                               \
	(PLUGIN_PHASE_BIT(PLUGIN_POST_JOIN) | PLUGIN_PHASE_BIT(PLUGIN_PRE_GUEST) |             \
	 PLUGIN_PHASE_BIT(PLUGIN_POST_INSTALL) | PLUGIN_PHASE_BIT(PLUGIN_PRE_CLEAN))

enum plugin_on_kind {
	PLUGIN_ON_ALL,	   /* no `on`: every host */
	PLUGIN_ON_MASTER,  /* role master */
	PLUGIN_ON_NODE,	   /* role node */
	PLUGIN_ON_MASTER0, /* the first master */
	PLUGIN_ON_IPS,	   /* a list and/or ranges, expanded */
	PLUGIN_ON_LABEL,   /* KEY=VALUE: the nodes carrying that label */
};

struct plugin_selector {
	enum plugin_on_kind kind;
	char **ips; /* PLUGIN_ON_IPS */
	size_t n_ips;
	char *label_key; /* PLUGIN_ON_LABEL; the value may be "" */
	char *label_value;
};

enum plugin_taint_effect {
	PLUGIN_TAINT_ANY_EFFECT, /* a removal without an effect: every effect of that key */
	PLUGIN_TAINT_NO_SCHEDULE,
	PLUGIN_TAINT_PREFER_NO_SCHEDULE,
	PLUGIN_TAINT_NO_EXECUTE,
};

/* spec.data, decoded by the type. ip is one host (ranges and lists are expanded); line is
 * the data line's 1-based number inside spec.data, for messages. */
struct plugin_label {
	char *ip;
	char *key;
	char *value; /* may be "" */
	unsigned line;
};

struct plugin_taint {
	char *ip;
	char *key;
	char *value; /* "" when none; not used by a removal */
	enum plugin_taint_effect effect;
	bool remove; /* the `-` suffix */
	unsigned line;
};

struct plugin_hostname {
	char *ip;
	char *hostname;
	unsigned line;
};

struct plugin {
	char *name;
	enum plugin_type type;
	unsigned phases; /* PLUGIN_PHASE_BIT()s */
	struct plugin_selector on;
	char *data;	     /* spec.data, "" when absent; the script of a SHELL plugin */
	char *file;	     /* where the document came from */
	unsigned line;	     /* its first line */
	unsigned data_line;  /* the line of spec.data's first text line (0: no data) */
	bool data_exact;     /* a `|` block: data line i is file line data_line + i - 1 */
	struct plugin_label *labels; /* LABEL */
	size_t n_labels;
	struct plugin_taint *taints; /* TAINT */
	size_t n_taints;
	struct plugin_hostname *hostnames; /* HOSTNAME */
	size_t n_hostnames;
};

/* Parses and validates one `kind: Plugin` document: apiVersion, name, type, phases, `on`
 * (a label selector only in PLUGIN_PHASES_CLUSTER_UP) and the type's data, each strictly.
 * file names the source in messages. -EINVAL with "FILE:LINE:COL: FIELD: why" in err. */
int plugin_parse(const struct ynode *doc, const char *file, struct plugin *ret, struct errbuf *err);
void plugin_release(struct plugin *p);

/* Exact names, as sealer spells them; -EINVAL when unknown. */
int plugin_phase_from_name(const char *name);
const char *plugin_phase_name(enum plugin_phase phase);
int plugin_type_from_name(const char *name);
const char *plugin_type_name(enum plugin_type type);
/* The phases a type can act in (PLUGIN_PHASE_BIT()s). */
unsigned plugin_type_phases(enum plugin_type type);
/* "NoSchedule", …; "" for PLUGIN_TAINT_ANY_EFFECT. */
const char *plugin_taint_effect_name(enum plugin_taint_effect e);

/* The cluster's hosts as the selection sees them. */
struct plugin_host {
	const char *ip;
	bool master;  /* role master, else node */
	bool master0; /* exactly one host has it */
	/* The node's labels (KEY, VALUE), once the cluster is up and they were read
	 * (`kubectl get nodes --show-labels`); labels_known false before. */
	bool labels_known;
	const struct kv *labels;
	size_t n_labels;
};

/* Sets selected[i] for each host the plugin's `on` picks. The caller intersects the
 * result with the hosts its phase acts on (all of them in a create, the new ones in a
 * scale-up). An address in `on` that is not a host, or a label selector while some
 * host's labels are unknown, is an error. */
int plugin_select_hosts(const struct plugin *p, const struct plugin_host *hosts, size_t n,
			bool *selected, struct errbuf *err);

/* Every address the plugin names (in `on` and in its data) must be one of the hosts; for
 * the validation before any host is touched. */
int plugin_check_hosts(const struct plugin *p, const struct plugin_host *hosts, size_t n,
		       struct errbuf *err);

/* What a phase does for one plugin. host indexes the hosts given to plugin_plan: the host
 * to run on (SHELL, HOSTNAME), the node to change through kubectl on master0 (LABEL,
 * TAINT), or master0 (CLUSTERCHECK). Strings point into the plugin. */
struct plugin_action {
	size_t host;
	const char *script;   /* SHELL */
	const char *key;      /* LABEL, TAINT */
	const char *value;    /* LABEL, TAINT */
	enum plugin_taint_effect effect; /* TAINT */
	bool remove;	      /* TAINT */
	const char *hostname; /* HOSTNAME */
	unsigned line;	      /* the spec.data line it came from, 0 for SHELL/CLUSTERCHECK */
};

/* CLUSTERCHECK waits as sealer's does, every kube-system pod running (and here every node
 * Ready), for at most sealer's timeout; checked every 10 s rather than sealer's 30, a
 * cluster being seconds from healthy as often as minutes. */
#define PLUGIN_CLUSTERCHECK_TIMEOUT_S (15 * 60)
#define PLUGIN_CLUSTERCHECK_INTERVAL_S 10

struct plugin_plan {
	struct plugin_action *actions; /* in data order; SHELL: host order */
	size_t n_actions;
	size_t n_hosts; /* distinct hosts acted on: the N of "plugin X (T) at P on N hosts" */
};

/* The actions of p on the selected hosts (selected as plugin_select_hosts left it, cut
 * to the phase's hosts). Data lines for hosts not selected are left out. */
int plugin_plan(const struct plugin *p, const struct plugin_host *hosts, size_t n,
		const bool *selected, struct plugin_plan *ret, struct errbuf *err);
void plugin_plan_release(struct plugin_plan *plan);

/* The argument `kubectl label node NAME --overwrite` takes: "KEY=VALUE". */
char *plugin_label_arg(const char *key, const char *value);
/* The argument `kubectl taint node NAME --overwrite` takes: "KEY=VALUE:Effect",
 * "KEY:Effect", or for a removal "KEY:Effect-" / "KEY-". */
char *plugin_taint_arg(const struct plugin_action *a);

/* An ordered list of plugins: the Clusterfile's first, then the image's. */
struct plugin_list {
	struct plugin *v;
	size_t n;
};

/* Parses every `kind: Plugin` document of a YAML stream into list (in order); other
 * kinds are skipped unless only_plugins, when they are an error (an image's plugins/). */
int plugin_list_add_stream(struct plugin_list *list, const struct ydoc *docs, const char *file,
			   bool only_plugins, struct errbuf *err);
void plugin_list_release(struct plugin_list *list);
