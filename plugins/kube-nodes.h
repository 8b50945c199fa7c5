/* What kubectl on master0 answers, decoded for the plugins that act through it (LABEL,
 * TAINT, CLUSTERCHECK, label selectors): `kubectl get nodes -o json` (with or without
 * `-l`) and `kubectl get pods -n kube-system -o json`. JSON, kubectl's machine format, read
 * by ydoc (libyaml), not its human table, whose columns and widths are not a contract.
 *
 * The answer is hostile like anything from a host: every field used is checked (node
 * names as Kubernetes requires them, addresses by inet_pton), the size is capped, and an
 * answer that is not the shape kubectl prints is an error naming what is wrong. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "plugin.h"

/* The cap on an answer read from kubectl (a node's JSON is a few KiB). */
#define KUBE_ANSWER_MAX (16u << 20)

struct kube_taint {
	char *key;
	char *value; /* "" when none */
	enum plugin_taint_effect effect;
};

struct kube_node {
	char *name; /* a DNS-1123 subdomain */
	char *ip;   /* its first InternalIP, NULL when it has none */
	char **ips; /* every InternalIP (dual-stack: one per family), n_ips of them */
	size_t n_ips;
	bool ready; /* condition Ready is True */
	struct kube_taint *taints;
	size_t n_taints;
};

struct kube_nodes {
	struct kube_node *v;
	size_t n;
};

/* Decodes `kubectl get nodes -o json` (a List of Node). An empty text is no node (kubectl
 * prints nothing on stdout when a selector matches none with some printers). */
int kube_nodes_parse(const char *text, size_t len, struct kube_nodes *ret, struct errbuf *err);
void kube_nodes_release(struct kube_nodes *nodes);

/* Whether one of node's InternalIPs is the address ip, compared as addresses (any
 * InternalIP, in any spelling: "fd00::1" is "fd00:0::0001"). */
bool kube_node_has_ip(const struct kube_node *node, const char *ip);

/* The node one of whose InternalIPs is ip (kube_node_has_ip): its index; -ENOENT when
 * none, -EEXIST when several (the host cannot be told apart: err names them). */
int kube_nodes_find_ip(const struct kube_nodes *nodes, const char *ip, struct errbuf *err);

/* Whether the node has the taint a removal names (effect PLUGIN_TAINT_ANY_EFFECT: any
 * effect of that key), so removing one that is not there is no failure, as in sealer. */
bool kube_node_has_taint(const struct kube_node *node, const char *key,
			 enum plugin_taint_effect effect);

/* Decodes `kubectl get pods -o json`: the number of pods in *ret_n, and in *ret_bad (to
 * free; NULL when all are well) the ones neither Running nor Succeeded, "NAME (PHASE)"
 * joined by ", ", at most a few named. */
int kube_pods_parse(const char *text, size_t len, size_t *ret_n, char **ret_bad,
		    struct errbuf *err);

/* kubectl's words for a LABEL or TAINT action on node `node`, as `kubectl` takes them:
 * {"label", "node", NODE, "KEY=VALUE", "--overwrite"} or {"taint", "node", NODE, ARG,
 * "--overwrite"} (plugin_label_arg / plugin_taint_arg). NULL-terminated, to free with
 * strv_free-like kube_argv_free; *ret_n counts them. -EINVAL for another type, or a node
 * name that is not a DNS-1123 subdomain (it would be read as a flag or a resource). */
int kube_action_argv(enum plugin_type type, const struct plugin_action *a, const char *node,
		     char ***ret, size_t *ret_n, struct errbuf *err);
void kube_argv_free(char **argv);
