#include "clusterfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "kubeadm-config.h"
#include "log.h"
#include "macro.h"
#include "ydoc.h"

#define CLUSTERFILE_MAX (4u << 20)

struct ctx {
	const char *name;
	struct errbuf *err;
};

static int bad(struct ctx *x, const struct ynode *n, const char *field, const char *fmt, ...)
	_printf_(4, 5);
static int bad(struct ctx *x, const struct ynode *n, const char *field, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	errbuf_set(x->err, -EINVAL, "%s:%u:%u: %s: %s", x->name, ynode_line(n), ynode_column(n),
		   field, detail);
	if (x->err) {
		x->err->line = ynode_line(n);
		x->err->column = ynode_column(n);
	}
	return -EINVAL;
}

static int get_str(struct ctx *x, const struct ynode *map, const char *key, const char *field,
		   char **ret)
{
	const struct ynode *n = ynode_map_get(map, key);

	if (!n || ynode_is_null(n))
		return 0;
	if (!ynode_str(n))
		return bad(x, n, field, "must be a string");
	free(*ret);
	*ret = xstrdup(ynode_str(n));
	return 0;
}

/* `env: [k=v, …]`: a repeated key collects its values as a list ("a;b"); with !join
 * (cmd_args) the last value wins. */
static int get_kv_list(struct ctx *x, const struct ynode *map, const char *key, const char *field,
		       bool join, struct kv **env, size_t *nenv)
{
	const struct ynode *list = ynode_map_get(map, key);

	if (!list || ynode_is_null(list))
		return 0;
	if (ynode_kind(list) != YNODE_SEQ)
		return bad(x, list, field, "must be a list of KEY=VALUE");
	for (size_t i = 0; i < ynode_len(list); i++) {
		const struct ynode *item = ynode_seq_at(list, i);
		struct errbuf e = ERRBUF_INIT;
		struct kv kv;
		size_t k;

		if (!ynode_str(item))
			return bad(x, item, field, "each item must be a KEY=VALUE string");
		if (parse_env_item(ynode_str(item), &kv, &e) < 0)
			return bad(x, item, field, "%s", errbuf_msg(&e));
		for (k = 0; k < *nenv && strcmp((*env)[k].key, kv.key) != 0; k++)
			;
		if (k < *nenv) {
			char *joined = join ? xasprintf("%s;%s", (*env)[k].value, kv.value)
					    : xstrdup(kv.value);
			free((*env)[k].value);
			(*env)[k].value = joined;
			free(kv.key);
			free(kv.value);
		} else {
			*env = xreallocarray(*env, *nenv + 1, sizeof(**env));
			(*env)[(*nenv)++] = kv;
		}
	}
	return 0;
}

static int get_env(struct ctx *x, const struct ynode *map, const char *field, struct kv **env,
		   size_t *nenv)
{
	return get_kv_list(x, map, "env", field, true, env, nenv);
}

static int get_ssh(struct ctx *x, const struct ynode *map, const char *field, struct ssh_settings *s)
{
	const struct ynode *ssh = ynode_map_get(map, "ssh"), *port;
	char f[64];
	int r = 0;

	if (!ssh || ynode_is_null(ssh))
		return 0;
	if (ynode_kind(ssh) != YNODE_MAP)
		return bad(x, ssh, field, "must be a map (user, passwd, pk, pkPasswd, port)");
	snprintf(f, sizeof(f), "%s.user", field);
	r = get_str(x, ssh, "user", f, &s->user);
	snprintf(f, sizeof(f), "%s.passwd", field);
	if (r >= 0)
		r = get_str(x, ssh, "passwd", f, &s->password);
	if (r >= 0 && s->password && !*s->password)
		return bad(x, ynode_map_get(ssh, "passwd"), f, "is empty: give the password, or "
			   "leave passwd out and use pk or CIRUN_SSH_PASSWORD");
	snprintf(f, sizeof(f), "%s.pk", field);
	if (r >= 0)
		r = get_str(x, ssh, "pk", f, &s->pk_file);
	snprintf(f, sizeof(f), "%s.pkPasswd", field);
	if (r >= 0)
		r = get_str(x, ssh, "pkPasswd", f, &s->pk_passphrase);
	if (r < 0)
		return r;
	port = ynode_map_get(ssh, "port");
	if (port && !ynode_is_null(port)) {
		/* sealer writes the port as a string; a number is fine too */
		const char *p = ynode_str(port);
		char *end;
		long v = p ? strtol(p, &end, 10) : 0;
		snprintf(f, sizeof(f), "%s.port", field);
		if (!p || *end || v < 1 || v > 65535)
			return bad(x, port, f, "must be a port number 1-65535");
		s->port = (unsigned)v;
	}
	return 0;
}

static int read_hosts(struct ctx *x, struct cluster *c, const struct ynode *spec)
{
	const struct ynode *hosts = ynode_map_get(spec, "hosts");

	if (!hosts || ynode_is_null(hosts))
		return 0; /* required unless a template or the flags give them: checked later */
	if (ynode_kind(hosts) != YNODE_SEQ || ynode_len(hosts) == 0)
		return bad(x, hosts, "spec.hosts",
			   "a list of host groups (ips, roles) is required");
	for (size_t g = 0; g < ynode_len(hosts); g++) {
		const struct ynode *grp = ynode_seq_at(hosts, g), *ips, *roles;
		char field[64];
		bool master = false, node = false;
		size_t first = c->nhosts;
		int r;

		snprintf(field, sizeof(field), "spec.hosts[%zu]", g);
		if (ynode_kind(grp) != YNODE_MAP)
			return bad(x, grp, field, "must be a map with ips and roles");
		ips = ynode_map_get(grp, "ips");
		roles = ynode_map_get(grp, "roles");
		if (!ips || ynode_kind(ips) != YNODE_SEQ || ynode_len(ips) == 0)
			return bad(x, ips ? ips : grp, field, "ips: a list of addresses is required");
		if (!roles || ynode_kind(roles) != YNODE_SEQ)
			return bad(x, roles ? roles : grp, field, "roles: a list (master, node) is required");
		for (size_t i = 0; i < ynode_len(roles); i++) {
			const char *role = ynode_str(ynode_seq_at(roles, i));
			/* other roles (db, …) are labels for plugins, kept by sealer, ignored here */
			master |= role && (strcmp(role, "master") == 0 || strcmp(role, "master0") == 0);
			node |= role && strcmp(role, "node") == 0;
		}
		if (!master && !node)
			return bad(x, roles, field, "roles: needs master or node");
		for (size_t i = 0; i < ynode_len(ips); i++) {
			const struct ynode *ip = ynode_seq_at(ips, i);
			struct errbuf e = ERRBUF_INIT;
			if (!ynode_str(ip))
				return bad(x, ip, field, "ips: each address must be a string");
			/* a host both master and node is a master: it is not joined again */
			if (cluster_add_hosts(c, ynode_str(ip), master ? ROLE_MASTER : ROLE_NODE, "ips", &e) < 0)
				return bad(x, ip, field, "%s", errbuf_msg(&e));
		}
		for (size_t h = first; h < c->nhosts; h++) {
			char f[80];
			snprintf(f, sizeof(f), "%s.ssh", field);
			r = get_ssh(x, grp, f, &c->hosts[h].ssh);
			snprintf(f, sizeof(f), "%s.env", field);
			if (r >= 0)
				r = get_env(x, grp, f, &c->hosts[h].env, &c->hosts[h].nenv);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Keys a map may hold; any other is refused (a misspelt `acton` would otherwise be a
 * plugin that never runs). */
static int only_keys(struct ctx *x, const struct ynode *map, const char *field,
		     const char *const *keys, size_t nkeys)
{
	for (size_t i = 0; i < ynode_len(map); i++) {
		const char *k = ynode_map_key_at(map, i);
		size_t j;
		for (j = 0; j < nkeys && strcmp(k, keys[j]) != 0; j++)
			;
		if (j == nkeys) {
			char known[160] = "";
			for (j = 0; j < nkeys; j++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
					 j ? ", " : "", keys[j]);
			return bad(x, ynode_map_key_node_at(map, i), field, "unknown field '%s' (it "
				   "has %s)", k, known);
		}
	}
	return 0;
}

/* `registry: {host: IP}`: sealer keeps the registry host in the image's etc/registry.yml
 * only; this lets a Clusterfile choose it. */
static int read_registry(struct ctx *x, const struct ynode *spec, struct cluster *c)
{
	static const char *const keys[] = { "host" };
	const struct ynode *reg = ynode_map_get(spec, "registry"), *host;
	struct errbuf e = ERRBUF_INIT;
	char **ips = NULL;
	size_t n = 0;

	if (!reg || ynode_is_null(reg))
		return 0;
	if (ynode_kind(reg) != YNODE_MAP)
		return bad(x, reg, "spec.registry", "must be a map: {host: IP}");
	int r = only_keys(x, reg, "spec.registry", keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	host = ynode_map_get(reg, "host");
	if (!host || !ynode_str(host) || !*ynode_str(host))
		return bad(x, host ? host : reg, "spec.registry.host", "must be the address of the "
			   "cluster host that runs the registry");
	if (parse_ip_list(ynode_str(host), &ips, &n, &e) < 0)
		return bad(x, host, "spec.registry.host", "%s", errbuf_msg(&e));
	for (size_t i = 0; i < n; i++)
		free(ips[i]);
	free(ips);
	if (n != 1 || strchr(ynode_str(host), ':'))
		return bad(x, host, "spec.registry.host", "one address, without a port");
	free(c->registry_host);
	c->registry_host = xstrdup(ynode_str(host));
	return 0;
}

/* Reads what the v2 Cluster document gives; what it must give is checked once the
 * template (if any) has been applied under it (check_required). */
static int read_cluster(struct ctx *x, const struct ynode *doc, struct cluster *c)
{
	const struct ynode *spec = ynode_map_get(doc, "spec");
	const struct ynode *name = ynode_get(doc, "metadata.name");
	int r;

	if (name && !ynode_is_null(name)) {
		if (!ynode_str(name) || !*ynode_str(name))
			return bad(x, name, "metadata.name", "must be the cluster name");
		c->name = xstrdup(ynode_str(name));
	}
	if (!spec || ynode_is_null(spec))
		return 0;
	if (ynode_kind(spec) != YNODE_MAP)
		return bad(x, spec, "spec", "must be a map");
	r = get_str(x, spec, "image", "spec.image", &c->image);
	if (r >= 0)
		r = get_env(x, spec, "spec.env", &c->env, &c->nenv);
	if (r >= 0)
		r = get_kv_list(x, spec, "cmd_args", "spec.cmd_args", false, &c->cmd_args,
				&c->ncmd_args);
	if (r >= 0)
		r = get_ssh(x, spec, "spec.ssh", &c->ssh);
	if (r >= 0)
		r = read_registry(x, spec, c);
	if (r >= 0)
		r = read_hosts(x, c, spec);
	return r;
}

static int read_ip_list_v1(struct ctx *x, const struct ynode *spec, const char *group,
			   enum host_role role, struct cluster *c)
{
	const struct ynode *g = ynode_map_get(spec, group), *list;
	char field[40];

	snprintf(field, sizeof(field), "spec.%s.ipList", group);
	if (!g || ynode_is_null(g))
		return 0;
	list = ynode_kind(g) == YNODE_MAP ? ynode_map_get(g, "ipList") : NULL;
	if (ynode_kind(g) != YNODE_MAP || (list && !ynode_is_null(list) && ynode_kind(list) != YNODE_SEQ))
		return bad(x, list ? list : g, field, "must be a list of addresses");
	for (size_t i = 0; list && i < ynode_len(list); i++) {
		const struct ynode *ip = ynode_seq_at(list, i);
		struct errbuf e = ERRBUF_INIT;
		if (!ynode_str(ip))
			return bad(x, ip, field, "each address must be a string");
		if (cluster_add_hosts(c, ynode_str(ip), role, "ipList", &e) < 0)
			return bad(x, ip, field, "%s", errbuf_msg(&e));
	}
	return 0;
}

/* zlink.aliyun.com/v1alpha1, as sealer converts it: masters.ipList and nodes.ipList become
 * hosts; ssh, env, image and the name are kept; the cloud fields are dropped. */
static int read_cluster_v1(struct ctx *x, const struct ynode *doc, struct cluster *c)
{
	static const char *const dropped[] = { "provider", "network", "certSANS" };
	const struct ynode *spec = ynode_map_get(doc, "spec");
	const struct ynode *name = ynode_get(doc, "metadata.name");
	char gone[64] = "";
	int r;

	if (name && ynode_str(name) && *ynode_str(name))
		c->name = xstrdup(ynode_str(name));
	if (spec && !ynode_is_null(spec) && ynode_kind(spec) != YNODE_MAP)
		return bad(x, spec, "spec", "must be a map");
	if (!spec || ynode_is_null(spec))
		spec = NULL;
	r = spec ? get_str(x, spec, "image", "spec.image", &c->image) : 0;
	if (r >= 0 && spec)
		r = get_env(x, spec, "spec.env", &c->env, &c->nenv);
	if (r >= 0 && spec)
		r = get_ssh(x, spec, "spec.ssh", &c->ssh);
	if (r >= 0 && spec)
		r = read_ip_list_v1(x, spec, "masters", ROLE_MASTER, c);
	if (r >= 0 && spec)
		r = read_ip_list_v1(x, spec, "nodes", ROLE_NODE, c);
	if (r < 0)
		return r;
	for (size_t i = 0; spec && i < ELEMENTSOF(dropped); i++)
		if (ynode_map_get(spec, dropped[i]))
			snprintf(gone + strlen(gone), sizeof(gone) - strlen(gone), "%s%s",
				 *gone ? ", " : "", dropped[i]);
	log_notice("%s:%u: the v1 Cluster (zlink.aliyun.com/v1alpha1) is read as sealer.cloud/v2: "
		   "spec.masters.ipList and spec.nodes.ipList become spec.hosts%s%s%s", x->name,
		   ynode_line(doc), *gone ? "; dropped (v2 has no such field): " : "", gone, "");
	return 0;
}

static int check_required(struct ctx *x, const struct ynode *doc, const struct cluster *c)
{
	const struct ynode *spec = ynode_map_get(doc, "spec");
	const struct ynode *at = spec && ynode_kind(spec) == YNODE_MAP ? spec : doc;

	if (!c->name)
		return bad(x, ynode_get(doc, "metadata.name") ? ynode_get(doc, "metadata.name") : doc,
			   "metadata.name", "the cluster name is required");
	if (!c->image)
		return bad(x, at, "spec.image", "the cluster image is required");
	if (c->nhosts == 0)
		return bad(x, ynode_map_get(at, "hosts") ? ynode_map_get(at, "hosts") : at,
			   "spec.hosts", "a list of host groups (ips, roles) is required");
	return 0;
}

/* ---- Plugin, Config and kubeadm documents ---- */

static const char *const crd_versions[] = { "sealer.aliyun.com/v1alpha1", "sealer.cloud/v2" };

static int check_api(struct ctx *x, const struct ynode *doc, const char *kind,
		     const char *const *versions, size_t n)
{
	const struct ynode *api = ynode_map_get(doc, "apiVersion");
	char list[160] = "";

	for (size_t i = 0; api && ynode_str(api) && i < n; i++)
		if (strcmp(ynode_str(api), versions[i]) == 0)
			return 0;
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? " or " : "",
			 versions[i]);
	if (!api || !ynode_str(api) || !*ynode_str(api))
		return bad(x, api ? api : doc, "apiVersion", "missing: %s takes %s", kind, list);
	return bad(x, api, "apiVersion", "'%s' is not one %s takes: use %s", ynode_str(api), kind,
		   list);
}

/* metadata.name and spec (a map) of a Plugin or Config */
static int crd_head(struct ctx *x, const struct ynode *doc, const char *kind, const char **name,
		    const struct ynode **spec)
{
	const struct ynode *n = ynode_get(doc, "metadata.name");
	int r = check_api(x, doc, kind, crd_versions, ELEMENTSOF(crd_versions));

	if (r < 0)
		return r;
	if (!n || !ynode_str(n) || !*ynode_str(n))
		return bad(x, n ? n : doc, "metadata.name", "a %s needs a name", kind);
	*name = ynode_str(n);
	*spec = ynode_map_get(doc, "spec");
	if (!*spec || ynode_kind(*spec) != YNODE_MAP)
		return bad(x, *spec ? *spec : doc, "spec", "%s '%s': spec must be a map", kind, *name);
	return 0;
}

/* A string field of spec; required ones must be present and not empty. */
static int spec_str(struct ctx *x, const struct ynode *spec, const char *kind, const char *name,
		    const char *key, bool required, char **ret)
{
	const struct ynode *v = ynode_map_get(spec, key);
	char field[32];

	snprintf(field, sizeof(field), "spec.%s", key);
	if (!v || ynode_is_null(v)) {
		if (required)
			return bad(x, v ? v : spec, field, "%s '%s' needs spec.%s", kind, name, key);
		return 0;
	}
	if (!ynode_str(v) || (required && !*ynode_str(v)))
		return bad(x, v, field, "%s '%s': must be a %sstring", kind, name,
			   required ? "non-empty " : "");
	*ret = xstrdup(ynode_str(v));
	return 0;
}

static size_t find_by_name(const char *name, size_t n, const void *base, size_t size, size_t off)
{
	for (size_t i = 0; i < n; i++) {
		const char *const *p = (const char *const *)((const char *)base + i * size + off);
		if (strcmp(*p, name) == 0)
			return i;
	}
	return n;
}

static int read_plugin(struct ctx *x, const struct ynode *doc, struct cluster *c)
{
	static const char *const keys[] = { "type", "action", "on", "data" };
	struct cluster_plugin p = { 0 };
	const struct ynode *spec;
	const char *name;
	int r = crd_head(x, doc, "Plugin", &name, &spec);

	if (r >= 0)
		r = only_keys(x, spec, "spec", keys, ELEMENTSOF(keys));
	if (r >= 0)
		r = spec_str(x, spec, "Plugin", name, "type", true, &p.type);
	if (r >= 0)
		r = spec_str(x, spec, "Plugin", name, "action", true, &p.action);
	if (r >= 0)
		r = spec_str(x, spec, "Plugin", name, "on", false, &p.on);
	if (r >= 0)
		r = spec_str(x, spec, "Plugin", name, "data", false, &p.data);
	size_t i = r >= 0 ? find_by_name(name, c->nplugins, c->plugins, sizeof(*c->plugins),
					 offsetof(struct cluster_plugin, name)) : 0;
	if (r >= 0 && i < c->nplugins && strcmp(c->plugins[i].file, x->name) == 0)
		r = bad(x, doc, "metadata.name", "a second Plugin named '%s' (the first is at line %u)",
			name, c->plugins[i].line);
	if (r < 0) {
		cluster_plugin_release(&p);
		return r;
	}
	p.name = xstrdup(name);
	p.file = xstrdup(x->name);
	p.line = ynode_line(doc);
	if (i < c->nplugins) { /* the user's replaces the template's of the same name */
		cluster_plugin_release(&c->plugins[i]);
		c->plugins[i] = p;
		return 0;
	}
	c->plugins = xreallocarray(c->plugins, c->nplugins + 1, sizeof(*c->plugins));
	c->plugins[c->nplugins++] = p;
	return 0;
}

/* spec.data as text: a string as it is; a map or list (sealer allows only a string) is
 * written out as YAML, so a merge's data can be written as YAML in place. */
static int config_data(struct ctx *x, const struct ynode *spec, const char *name, char **ret)
{
	const struct ynode *d = ynode_map_get(spec, "data");
	_cleanup_buf_ struct buf b = BUF_INIT(CONFIG_FILE_MAX);

	if (!d || ynode_is_null(d))
		return bad(x, d ? d : spec, "spec.data", "Config '%s' needs spec.data (the file's "
			   "content, or what is merged into it)", name);
	if (ynode_str(d)) {
		*ret = xstrdup(ynode_str(d));
		return 0;
	}
	if (ynode_emit(d, &b) < 0)
		return bad(x, d, "spec.data", "Config '%s': cannot be written as YAML (too large?)",
			   name);
	*ret = buf_detach(&b, NULL);
	return 0;
}

static int read_config(struct ctx *x, const struct ynode *doc, struct cluster *c)
{
	static const char *const keys[] = { "path", "data", "strategy", "process" };
	struct config_doc cfg = { 0 };
	const struct ynode *spec, *v;
	_cleanup_free_ char *strategy = NULL;
	struct errbuf e = ERRBUF_INIT;
	const char *name;
	int r = crd_head(x, doc, "Config", &name, &spec);

	if (r >= 0)
		r = only_keys(x, spec, "spec", keys, ELEMENTSOF(keys));
	if (r >= 0 && (v = ynode_map_get(spec, "process")))
		r = bad(x, v, "spec.process", "Config '%s': process (sealer's value|toJson|toBase64|"
			"toSecret) is not supported: write the data as the file needs it", name);
	if (r >= 0)
		r = spec_str(x, spec, "Config", name, "path", true, &cfg.path);
	if (r >= 0 && config_path_check(cfg.path, &e) < 0)
		r = bad(x, ynode_map_get(spec, "path"), "spec.path", "Config '%s': %s", name,
			errbuf_msg(&e));
	if (r >= 0)
		r = config_data(x, spec, name, &cfg.data);
	if (r >= 0)
		r = spec_str(x, spec, "Config", name, "strategy", false, &strategy);
	if (r >= 0 && strategy && config_strategy_parse(strategy, &cfg.strategy) < 0)
		r = bad(x, ynode_map_get(spec, "strategy"), "spec.strategy", "Config '%s': unknown "
			"strategy '%s' (merge, override, insert or append; override when absent)",
			name, strategy);
	size_t i = r >= 0 ? find_by_name(name, c->nconfigs, c->configs, sizeof(*c->configs),
					 offsetof(struct config_doc, name)) : 0;
	if (r >= 0 && i < c->nconfigs && strcmp(c->configs[i].file, x->name) == 0)
		r = bad(x, doc, "metadata.name", "a second Config named '%s' (the first is at line %u)",
			name, c->configs[i].line);
	if (r < 0) {
		config_doc_release(&cfg);
		return r;
	}
	cfg.name = xstrdup(name);
	cfg.file = xstrdup(x->name);
	cfg.line = ynode_line(doc);
	if (i < c->nconfigs) {
		config_doc_release(&c->configs[i]);
		c->configs[i] = cfg;
		return 0;
	}
	c->configs = xreallocarray(c->configs, c->nconfigs + 1, sizeof(*c->configs));
	c->configs[c->nconfigs++] = cfg;
	return 0;
}

static const struct {
	const char *kind;
	const char *versions[2];
} kubeadm_kinds[] = {
	{ "InitConfiguration", { "kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3" } },
	{ "ClusterConfiguration", { "kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3" } },
	{ "JoinConfiguration", { "kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3" } },
	{ "KubeletConfiguration", { "kubelet.config.k8s.io/v1beta1" } },
	{ "KubeProxyConfiguration", { "kubeproxy.config.k8s.io/v1alpha1" } },
};

static int read_kubeadm(struct ctx *x, const struct ynode *doc, size_t k, struct cluster *c)
{
	const char *kind = kubeadm_kinds[k].kind;
	size_t nv = kubeadm_kinds[k].versions[1] ? 2 : 1, i;
	int r = check_api(x, doc, kind, kubeadm_kinds[k].versions, nv);
	const char *api = ynode_str(ynode_map_get(doc, "apiVersion"));

	if (r < 0)
		return r;
	for (i = 0; i < c->nkubeadm && strcmp(c->kubeadm[i].kind, kind) != 0; i++)
		;
	if (i < c->nkubeadm && strcmp(c->kubeadm[i].file, x->name) == 0)
		return bad(x, doc, "kind", "a second %s (the first is at line %u)", kind,
			   c->kubeadm[i].line);
	if (i < c->nkubeadm && strcmp(c->kubeadm[i].api_version, api) == 0) {
		/* the template's document of that kind, with the user's fields over it */
		r = ynode_merge(c->kubeadm[i].tree, doc, YMERGE_LIST_REPLACE);
		if (r < 0)
			return bad(x, doc, "kind", "%s: cannot merge it over the image's", kind);
	} else if (i < c->nkubeadm) {
		ynode_free(c->kubeadm[i].tree);
		c->kubeadm[i].tree = ynode_dup(doc);
	} else {
		c->kubeadm = xreallocarray(c->kubeadm, c->nkubeadm + 1, sizeof(*c->kubeadm));
		c->kubeadm[c->nkubeadm++] = (struct cluster_kubeadm_doc){
			.kind = xstrdup(kind), .tree = ynode_dup(doc) };
	}
	free(c->kubeadm[i].api_version);
	c->kubeadm[i].api_version = xstrdup(api);
	free(c->kubeadm[i].file);
	c->kubeadm[i].file = xstrdup(x->name);
	c->kubeadm[i].line = ynode_line(doc);
	return 0;
}

/* ---- the file ---- */

/* The kinds a sealer Clusterfile may hold. */
static const char *const known_kinds[] = { "Cluster", "Plugin", "Config", "InitConfiguration",
					   "ClusterConfiguration", "JoinConfiguration",
					   "KubeletConfiguration", "KubeProxyConfiguration" };

static bool kind_known(const char *kind)
{
	for (size_t i = 0; i < ELEMENTSOF(known_kinds); i++)
		if (strcmp(kind, known_kinds[i]) == 0)
			return true;
	return false;
}

static const char *known_kinds_text(char *text, size_t size)
{
	text[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(known_kinds); i++)
		snprintf(text + strlen(text), size - strlen(text), "%s%s", i ? ", " : "",
			 known_kinds[i]);
	return text;
}

static bool is_v1(const struct ynode *doc)
{
	const char *api = ynode_str(ynode_map_get(doc, "apiVersion"));
	return api && strcmp(api, "zlink.aliyun.com/v1alpha1") == 0;
}

/* The kinds are checked and the Cluster document found before anything is read. */
static int scan_kinds(struct ctx *x, const struct ydoc *d, const struct ynode **ret_cluster)
{
	static const char *const cluster_versions[] = { "sealer.cloud/v2", "cluster.sealer.cool/v2",
							"zlink.aliyun.com/v1alpha1" };
	const struct ynode *cluster = NULL;

	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *doc = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_map_get(doc, "kind"));
		if (!kind)
			continue;
		if (!kind_known(kind)) {
			char known[256];
			return bad(x, ynode_map_get(doc, "kind"), "kind", "unknown kind '%s'; the known "
				   "kinds are %s", kind, known_kinds_text(known, sizeof(known)));
		}
		if (strcmp(kind, "Cluster") != 0)
			continue;
		if (cluster)
			return bad(x, doc, "kind", "a second Cluster document (the first is at line %u)",
				   ynode_line(cluster));
		/* sealer decodes any apiVersion as v2; an absent one is read so, a wrong one
		 * (a typo, a newer format) is refused rather than guessed at */
		if (ynode_map_get(doc, "apiVersion")) {
			int r = check_api(x, doc, "Cluster", cluster_versions, ELEMENTSOF(cluster_versions));
			if (r < 0)
				return r;
		}
		cluster = doc;
	}
	*ret_cluster = cluster;
	return 0;
}

static int read_others(struct ctx *x, const struct ydoc *d, struct cluster *c)
{
	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *doc = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_map_get(doc, "kind"));
		int r = 0;
		if (!kind || strcmp(kind, "Cluster") == 0)
			continue;
		/* until the run path's phases take them (issue 8's later points); Configs are
		 * applied (installer/run/config.c), plugins run (installer/run/plugins.c), the
		 * kubeadm kinds go into the kubeadm config (installer/run/kubeadm.c) */
		if (strcmp(kind, "Config") != 0 && strcmp(kind, "Plugin") != 0 &&
		    !kubeadm_is_config_kind(kind))
			log_notice("%s:%u: kind %s is read and checked, not applied yet", x->name,
				   ynode_line(doc), kind);
		if (strcmp(kind, "Plugin") == 0)
			r = read_plugin(x, doc, c);
		else if (strcmp(kind, "Config") == 0)
			r = read_config(x, doc, c);
		for (size_t k = 0; k < ELEMENTSOF(kubeadm_kinds); k++)
			if (strcmp(kind, kubeadm_kinds[k].kind) == 0)
				r = read_kubeadm(x, doc, k, c);
		if (r < 0)
			return r;
	}
	return 0;
}

static void take_str(char **dst, char **src)
{
	if (*src) {
		free(*dst);
		*dst = *src;
		*src = NULL;
	}
}

static void take_kv(struct kv **dst, size_t *ndst, struct kv *src, size_t nsrc)
{
	for (size_t i = 0; i < nsrc; i++) {
		size_t k;
		for (k = 0; k < *ndst && strcmp((*dst)[k].key, src[i].key) != 0; k++)
			;
		if (k < *ndst) {
			free((*dst)[k].value);
			(*dst)[k].value = xstrdup(src[i].value);
		} else {
			*dst = xreallocarray(*dst, *ndst + 1, sizeof(**dst));
			(*dst)[(*ndst)++] = (struct kv){ xstrdup(src[i].key), xstrdup(src[i].value) };
		}
	}
}

/* The user's Cluster fields over the template's: scalars and ssh fields one by one, env
 * and cmd_args key by key, the host list as a whole. */
static void overlay_cluster(struct cluster *c, struct cluster *u)
{
	take_str(&c->name, &u->name);
	take_str(&c->image, &u->image);
	take_str(&c->registry_host, &u->registry_host);
	take_str(&c->ssh.user, &u->ssh.user);
	take_str(&c->ssh.password, &u->ssh.password);
	take_str(&c->ssh.pk_file, &u->ssh.pk_file);
	take_str(&c->ssh.pk_passphrase, &u->ssh.pk_passphrase);
	if (u->ssh.port)
		c->ssh.port = u->ssh.port;
	take_kv(&c->env, &c->nenv, u->env, u->nenv);
	take_kv(&c->cmd_args, &c->ncmd_args, u->cmd_args, u->ncmd_args);
	if (u->nhosts) {
		struct cluster_host *h = c->hosts;
		size_t n = c->nhosts;
		c->hosts = u->hosts;
		c->nhosts = u->nhosts;
		u->hosts = h;
		u->nhosts = n;
	}
}

/* The template's documents into c (the image's default Clusterfile: its Cluster may
 * lack hosts, which the flags or the user's Clusterfile give). */
static int parse_template(const char *name, const char *text, size_t len, struct cluster *c,
			  struct errbuf *err)
{
	struct ctx x = { .name = name, .err = err };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const struct ynode *cluster = NULL;
	int r = ydoc_parse(name, text, len, NULL, &d, err);

	if (r >= 0)
		r = scan_kinds(&x, d, &cluster);
	if (r >= 0 && cluster)
		r = is_v1(cluster) ? read_cluster_v1(&x, cluster, c) : read_cluster(&x, cluster, c);
	if (r >= 0)
		r = read_others(&x, d, c);
	return r;
}

/* The user's file over c: its Cluster document read alone, then laid over c's; the other
 * documents straight into c, where they replace the template's of the same name (kind,
 * for kubeadm documents). */
static int parse_user(const char *name, const char *text, size_t len, struct cluster *c,
		      struct errbuf *err)
{
	struct ctx x = { .name = name, .err = err };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct cluster u = { 0 };
	const struct ynode *cluster = NULL;
	int r = ydoc_parse(name, text, len, NULL, &d, err);

	if (r >= 0)
		r = scan_kinds(&x, d, &cluster);
	if (r >= 0 && !cluster)
		r = errbuf_set(err, -EINVAL, "%s: no 'kind: Cluster' document", name);
	if (r >= 0)
		r = is_v1(cluster) ? read_cluster_v1(&x, cluster, &u) : read_cluster(&x, cluster, &u);
	if (r >= 0) {
		overlay_cluster(c, &u);
		r = read_others(&x, d, c);
	}
	if (r >= 0)
		r = check_required(&x, cluster, c);
	cluster_release(&u);
	return r;
}

int clusterfile_parse_over(const char *tmpl_name, const char *tmpl, size_t tmpl_len,
			   const char *name, const char *text, size_t len, struct cluster *ret,
			   struct errbuf *err)
{
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (tmpl)
		r = parse_template(tmpl_name, tmpl, tmpl_len, ret, err);
	if (r >= 0 && text)
		r = parse_user(name, text, len, ret, err);
	if (r < 0)
		cluster_release(ret);
	return r;
}

int clusterfile_parse(const char *name, const char *text, size_t len, struct cluster *ret,
		      struct errbuf *err)
{
	return clusterfile_parse_over(NULL, NULL, 0, name, text, len, ret, err);
}

int clusterfile_load_over(const char *tmpl_name, const char *tmpl, size_t tmpl_len,
			  const char *path, struct cluster *ret, struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(CLUSTERFILE_MAX);
	int r = buf_read_file(&b, path);

	if (r < 0) {
		memset(ret, 0, sizeof(*ret));
		return errbuf_set(err, r, "cannot read the Clusterfile '%s': %s", path, strerror(-r));
	}
	r = clusterfile_parse_over(tmpl_name, tmpl, tmpl_len, path, b.data, b.len, ret, err);
	/* it may hold SSH passwords: wiped (a file over 64 KiB grew by realloc, which may have
	 * left freed copies; core dumps and ptrace are off while cirun holds them) */
	if (b.data)
		explicit_bzero(b.data, b.len);
	return r;
}

int clusterfile_load(const char *path, struct cluster *ret, struct errbuf *err)
{
	return clusterfile_load_over(NULL, NULL, 0, path, ret, err);
}
