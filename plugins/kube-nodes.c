/* kubectl's JSON answers decoded (see kube-nodes.h). */
#include "kube-nodes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "k8s-name.h"
#include "ydoc.h"

#define KUBE_ITEMS_MAX 100000u
#define KUBE_TAINTS_MAX 1000u
#define KUBE_BAD_NAMED 5
#define KUBE_ADDRESSES_MAX 64u

static const struct ydoc_limits answer_limits = {
	.max_bytes = KUBE_ANSWER_MAX,
	.max_depth = 64,
	.max_nodes = 4u << 20,
};

/* The items of a List answer; NULL with err set when the text is not one. */
static int list_items(const char *what, const char *text, size_t len, struct ydoc **doc,
		      const struct ynode **ret, struct errbuf *err)
{
	const struct ynode *root, *items;
	int r;

	*ret = NULL;
	if (len == 0)
		return 0;
	r = ydoc_parse(what, text, len, &answer_limits, doc, err);
	if (r < 0)
		return r;
	if (ydoc_count(*doc) != 1 || ynode_kind(root = ydoc_root(*doc, 0)) != YNODE_MAP)
		return errbuf_set(err, -EBADMSG, "%s: not one JSON object", what);
	items = ynode_map_get(root, "items");
	if (!items || ynode_is_null(items))
		return 0;
	if (ynode_kind(items) != YNODE_SEQ)
		return errbuf_set(err, -EBADMSG, "%s: items is not a list", what);
	if (ynode_len(items) > KUBE_ITEMS_MAX)
		return errbuf_set(err, -E2BIG, "%s: more than %u items", what, KUBE_ITEMS_MAX);
	*ret = items;
	return 0;
}

/* A string field at path, or NULL (absent, or not a scalar). */
static const char *str_at(const struct ynode *n, const char *path)
{
	const struct ynode *v = ynode_get(n, path);
	return v && ynode_kind(v) == YNODE_SCALAR ? ynode_str(v) : NULL;
}

static bool is_address(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int effect_of(const char *s)
{
	for (int e = PLUGIN_TAINT_NO_SCHEDULE; e <= PLUGIN_TAINT_NO_EXECUTE; e++)
		if (strcmp(plugin_taint_effect_name((enum plugin_taint_effect)e), s) == 0)
			return e;
	return -EINVAL;
}

static int node_taints(const struct ynode *item, struct kube_node *k, struct errbuf *err)
{
	const struct ynode *taints = ynode_get(item, "spec.taints");

	if (!taints || ynode_is_null(taints))
		return 0;
	if (ynode_kind(taints) != YNODE_SEQ || ynode_len(taints) > KUBE_TAINTS_MAX)
		return errbuf_set(err, -EBADMSG, "node %s: spec.taints is not a list of at most %u",
				  k->name, KUBE_TAINTS_MAX);
	k->taints = xcalloc(ynode_len(taints) + 1, sizeof(*k->taints));
	for (size_t i = 0; i < ynode_len(taints); i++) {
		const struct ynode *t = ynode_seq_at(taints, i);
		const char *key = str_at(t, "key"), *value = str_at(t, "value");
		const char *effect = str_at(t, "effect");
		int e = effect ? effect_of(effect) : -EINVAL;

		if (!key || k8s_qualified_name_invalid(key) || e < 0 ||
		    (value && k8s_label_value_invalid(value)))
			return errbuf_set(err, -EBADMSG, "node %s: taint %zu is not KEY[=VALUE]:Effect "
					  "as Kubernetes allows", k->name, i + 1);
		k->taints[k->n_taints++] = (struct kube_taint){ .key = xstrdup(key),
			.value = xstrdup(value ? value : ""), .effect = (enum plugin_taint_effect)e };
	}
	return 0;
}

/* One Node of the list: its name checked, its InternalIP (one at most), Ready. */
static int node_of(const struct ynode *item, size_t i, struct kube_node *k, struct errbuf *err)
{
	const char *name = str_at(item, "metadata.name"), *why;
	const struct ynode *addrs = ynode_get(item, "status.addresses");
	const struct ynode *conds = ynode_get(item, "status.conditions");

	if (!name)
		return errbuf_set(err, -EBADMSG, "item %zu has no metadata.name", i + 1);
	if ((why = k8s_dns_subdomain_invalid(name, 253)))
		return errbuf_set(err, -EBADMSG, "item %zu: node name '%.64s': %s", i + 1, name, why);
	k->name = xstrdup(name);
	if (addrs && ynode_kind(addrs) == YNODE_SEQ && ynode_len(addrs) > KUBE_ADDRESSES_MAX)
		return errbuf_set(err, -EBADMSG, "node %s: more than %u status.addresses", name,
				  KUBE_ADDRESSES_MAX);
	for (size_t a = 0; addrs && ynode_kind(addrs) == YNODE_SEQ && a < ynode_len(addrs); a++) {
		const char *type = str_at(ynode_seq_at(addrs, a), "type");
		const char *ip = str_at(ynode_seq_at(addrs, a), "address");

		if (!type || strcmp(type, "InternalIP") != 0)
			continue;
		if (!ip || !is_address(ip))
			return errbuf_set(err, -EBADMSG, "node %s: InternalIP '%.64s' is not an "
					  "address", name, ip ? ip : "");
		/* dual-stack nodes list one per family, in the kubelet's order: the host's
		 * address may be the second */
		k->ips = xreallocarray(k->ips, k->n_ips + 1, sizeof(*k->ips));
		k->ips[k->n_ips++] = xstrdup(ip);
		if (!k->ip)
			k->ip = xstrdup(ip);
	}
	for (size_t c = 0; conds && ynode_kind(conds) == YNODE_SEQ && c < ynode_len(conds); c++) {
		const char *type = str_at(ynode_seq_at(conds, c), "type");
		const char *status = str_at(ynode_seq_at(conds, c), "status");
		if (type && status && strcmp(type, "Ready") == 0)
			k->ready = strcmp(status, "True") == 0;
	}
	return node_taints(item, k, err);
}

int kube_nodes_parse(const char *text, size_t len, struct kube_nodes *ret, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *doc = NULL;
	struct kube_nodes nodes = { 0 };
	const struct ynode *items;
	int r = list_items("kubectl get nodes -o json", text, len, &doc, &items, err);

	*ret = (struct kube_nodes){ 0 };
	if (r < 0 || !items)
		return r;
	nodes.v = xcalloc(ynode_len(items) + 1, sizeof(*nodes.v));
	for (size_t i = 0; i < ynode_len(items) && r >= 0; i++) {
		r = node_of(ynode_seq_at(items, i), i, &nodes.v[i], err);
		nodes.n = i + 1;
	}
	if (r < 0) {
		kube_nodes_release(&nodes);
		return errbuf_prefix(err, "kubectl get nodes -o json");
	}
	*ret = nodes;
	return 0;
}

void kube_nodes_release(struct kube_nodes *nodes)
{
	for (size_t i = 0; i < nodes->n; i++) {
		struct kube_node *k = &nodes->v[i];
		for (size_t t = 0; t < k->n_taints; t++) {
			free(k->taints[t].key);
			free(k->taints[t].value);
		}
		free(k->taints);
		free(k->name);
		free(k->ip);
		for (size_t a = 0; a < k->n_ips; a++)
			free(k->ips[a]);
		free(k->ips);
	}
	free(nodes->v);
	*nodes = (struct kube_nodes){ 0 };
}

/* ip as an address: its family and bytes; 0 when it is none */
static int address_of(const char *ip, unsigned char a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, ip, a) == 1)
		return AF_INET;
	return inet_pton(AF_INET6, ip, a) == 1 ? AF_INET6 : 0;
}

bool kube_node_has_ip(const struct kube_node *node, const char *ip)
{
	unsigned char want[16], have[16];
	int fam = address_of(ip, want);

	for (size_t a = 0; fam && a < node->n_ips; a++)
		if (address_of(node->ips[a], have) == fam && memcmp(want, have, 16) == 0)
			return true;
	return false;
}

int kube_nodes_find_ip(const struct kube_nodes *nodes, const char *ip, struct errbuf *err)
{
	int found = -ENOENT;

	for (size_t i = 0; i < nodes->n; i++) {
		if (!kube_node_has_ip(&nodes->v[i], ip))
			continue;
		if (found >= 0)
			return errbuf_set(err, -EEXIST, "nodes %s and %s both have InternalIP %s: "
					  "cannot tell which one is host %s", nodes->v[found].name,
					  nodes->v[i].name, ip, ip);
		found = (int)i;
	}
	if (found < 0)
		errbuf_set(err, -ENOENT, "no node has InternalIP %s (kubectl get nodes on master0 "
			   "lists %zu node%s): has host %s joined the cluster, with that address?",
			   ip, nodes->n, nodes->n == 1 ? "" : "s", ip);
	return found;
}

bool kube_node_has_taint(const struct kube_node *node, const char *key,
			 enum plugin_taint_effect effect)
{
	for (size_t t = 0; t < node->n_taints; t++)
		if (strcmp(node->taints[t].key, key) == 0 &&
		    (effect == PLUGIN_TAINT_ANY_EFFECT || node->taints[t].effect == effect))
			return true;
	return false;
}

int kube_pods_parse(const char *text, size_t len, size_t *ret_n, char **ret_bad,
		    struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *doc = NULL;
	_cleanup_buf_ struct buf bad = BUF_INIT(1024);
	const struct ynode *items;
	size_t nbad = 0;
	int r = list_items("kubectl get pods -o json", text, len, &doc, &items, err);

	*ret_n = 0;
	*ret_bad = NULL;
	if (r < 0)
		return r;
	for (size_t i = 0; items && i < ynode_len(items); i++) {
		const char *name = str_at(ynode_seq_at(items, i), "metadata.name");
		const char *phase = str_at(ynode_seq_at(items, i), "status.phase");

		if (!name || k8s_dns_subdomain_invalid(name, 253))
			return errbuf_set(err, -EBADMSG, "kubectl get pods -o json: item %zu has no "
					  "valid metadata.name", i + 1);
		if (phase && (strcmp(phase, "Running") == 0 || strcmp(phase, "Succeeded") == 0))
			continue;
		if (nbad++ < KUBE_BAD_NAMED)
			buf_printf(&bad, "%s%s (%.32s)", bad.len ? ", " : "", name,
				   phase && !strpbrk(phase, "\n\r\t") ? phase : "no phase");
	}
	if (nbad > KUBE_BAD_NAMED)
		buf_printf(&bad, " and %zu more", nbad - KUBE_BAD_NAMED);
	*ret_n = items ? ynode_len(items) : 0;
	if (nbad)
		*ret_bad = xstrdup(bad.data);
	return 0;
}

int kube_action_argv(enum plugin_type type, const struct plugin_action *a, const char *node,
		     char ***ret, size_t *ret_n, struct errbuf *err)
{
	const char *why = k8s_dns_subdomain_invalid(node, 253);
	char **argv;

	*ret = NULL;
	*ret_n = 0;
	if (why)
		return errbuf_set(err, -EINVAL, "node name '%.64s': %s", node, why);
	if (type != PLUGIN_LABEL && type != PLUGIN_TAINT)
		return errbuf_set(err, -EINVAL, "a %s plugin does not label or taint",
				  plugin_type_name(type));
	argv = xcalloc(6, sizeof(*argv));
	argv[0] = xstrdup(type == PLUGIN_LABEL ? "label" : "taint");
	argv[1] = xstrdup("node");
	argv[2] = xstrdup(node);
	argv[3] = type == PLUGIN_LABEL ? plugin_label_arg(a->key, a->value) : plugin_taint_arg(a);
	argv[4] = xstrdup("--overwrite");
	*ret = argv;
	*ret_n = 5;
	return 0;
}

void kube_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
