#include "clusterfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
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

/* `env: [k=v, …]`: a repeated key collects its values as a list ("a;b"). */
static int get_env(struct ctx *x, const struct ynode *map, const char *field, struct kv **env,
		   size_t *nenv)
{
	const struct ynode *list = ynode_map_get(map, "env");

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
			char *joined = xasprintf("%s;%s", (*env)[k].value, kv.value);
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

	if (!hosts || ynode_kind(hosts) != YNODE_SEQ || ynode_len(hosts) == 0)
		return bad(x, hosts ? hosts : spec, "spec.hosts",
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

static int read_cluster(struct ctx *x, const struct ynode *doc, struct cluster *c)
{
	const struct ynode *spec = ynode_map_get(doc, "spec");
	const struct ynode *name = ynode_get(doc, "metadata.name");
	int r;

	if (!name || !ynode_str(name) || !*ynode_str(name))
		return bad(x, name ? name : doc, "metadata.name", "the cluster name is required");
	c->name = xstrdup(ynode_str(name));
	if (!spec || ynode_kind(spec) != YNODE_MAP)
		return bad(x, spec ? spec : doc, "spec", "must be a map");
	r = get_str(x, spec, "image", "spec.image", &c->image);
	if (r >= 0 && !c->image)
		r = bad(x, spec, "spec.image", "the cluster image is required");
	if (r >= 0)
		r = get_env(x, spec, "spec.env", &c->env, &c->nenv);
	if (r >= 0)
		r = get_ssh(x, spec, "spec.ssh", &c->ssh);
	if (r >= 0)
		r = read_hosts(x, c, spec);
	return r;
}

/* The kinds a sealer Clusterfile may hold; only Cluster is applied so far. */
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

int clusterfile_parse(const char *name, const char *text, size_t len, struct cluster *ret,
		      struct errbuf *err)
{
	struct ctx x = { .name = name, .err = err };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const struct ynode *cluster = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = ydoc_parse(name, text, len, NULL, &d, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *doc = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_map_get(doc, "kind"));
		const char *api = ynode_str(ynode_map_get(doc, "apiVersion"));
		if (!kind)
			continue;
		if (!kind_known(kind)) {
			char known[256];
			return bad(&x, ynode_map_get(doc, "kind"), "kind", "unknown kind '%s'; the known "
				   "kinds are %s", kind, known_kinds_text(known, sizeof(known)));
		}
		if (strcmp(kind, "Cluster") == 0) {
			if (cluster)
				return bad(&x, doc, "kind", "a second Cluster document (the first is at "
					   "line %u)", ynode_line(cluster));
			if (api && strncmp(api, "zlink.aliyun.com/", 17) == 0)
				return bad(&x, doc, "apiVersion", "the v1 Cluster format (%s) is not "
					   "supported; write it as sealer.cloud/v2", api);
			cluster = doc;
		} else {
			log_notice("%s:%u: kind %s is not applied yet (the run path's later part)", name,
				   ynode_line(doc), kind);
		}
	}
	if (!cluster)
		return errbuf_set(err, -EINVAL, "%s: no 'kind: Cluster' document", name);
	r = read_cluster(&x, cluster, ret);
	if (r < 0)
		cluster_release(ret);
	return r;
}

int clusterfile_load(const char *path, struct cluster *ret, struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(CLUSTERFILE_MAX);
	int r = buf_read_file(&b, path);

	if (r < 0)
		return errbuf_set(err, r, "cannot read the Clusterfile '%s': %s", path, strerror(-r));
	r = clusterfile_parse(path, b.data, b.len, ret, err);
	/* it may hold SSH passwords: wiped (a file over 64 KiB grew by realloc, which may have
	 * left freed copies; core dumps and ptrace are off while cirun holds them) */
	if (b.data)
		explicit_bzero(b.data, b.len);
	return r;
}
