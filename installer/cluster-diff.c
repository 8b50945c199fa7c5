#include "cluster-diff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "ip-list.h"
#include "macro.h"
#include "ydoc.h"

#define DOC_EMIT_MAX (16u << 20)

/* One host however its address is spelt (fd00::1 and fd00:0::1, a name as it is). */
static bool same_address(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return memcmp(x, y, 16) == 0;
	return strcmp(a, b) == 0;
}

static const struct cluster_host *find_host(const struct cluster *c, const char *ip)
{
	for (size_t i = 0; i < c->nhosts; i++)
		if (same_address(c->hosts[i].ip, ip))
			return &c->hosts[i];
	return NULL;
}

static void push(const struct cluster_host ***v, size_t *n, const struct cluster_host *h)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = h;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static const char *kv_get(const struct kv *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	return NULL;
}

/* as sets: the order of env items does not matter to what is rendered */
static bool kv_same(const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i].value, kv_get(b, nb, a[i].key)))
			return false;
	return true;
}

static bool configs_same(const struct cluster *a, const struct cluster *b)
{
	if (a->nconfigs != b->nconfigs)
		return false;
	for (size_t i = 0; i < a->nconfigs; i++) {
		const struct config_doc *x = &a->configs[i], *y = &b->configs[i];
		if (!str_eq(x->name, y->name) || !str_eq(x->path, y->path) ||
		    !str_eq(x->data, y->data) || x->strategy != y->strategy)
			return false;
	}
	return true;
}

static bool plugins_same(const struct cluster *a, const struct cluster *b)
{
	if (a->nplugins != b->nplugins)
		return false;
	for (size_t i = 0; i < a->nplugins; i++) {
		const struct cluster_plugin *x = &a->plugins[i], *y = &b->plugins[i];
		if (!str_eq(x->name, y->name) || !str_eq(x->type, y->type) ||
		    !str_eq(x->action, y->action) || !str_eq(x->on, y->on) ||
		    !str_eq(x->data, y->data))
			return false;
	}
	return true;
}

/* the documents as YAML: what they say, not how they were spelt or where */
static bool kubeadm_same(const struct cluster *a, const struct cluster *b)
{
	if (a->nkubeadm != b->nkubeadm)
		return false;
	for (size_t i = 0; i < a->nkubeadm; i++) {
		const struct cluster_kubeadm_doc *x = &a->kubeadm[i], *y = &b->kubeadm[i];
		_cleanup_buf_ struct buf ex = BUF_INIT(DOC_EMIT_MAX);
		_cleanup_buf_ struct buf ey = BUF_INIT(DOC_EMIT_MAX);
		if (!str_eq(x->kind, y->kind) || !str_eq(x->api_version, y->api_version))
			return false;
		/* a document too large to compare counts as changed: the safe side */
		if (ynode_emit(x->tree, &ex) < 0 || ynode_emit(y->tree, &ey) < 0 ||
		    ex.len != ey.len || memcmp(ex.data, ey.data, ex.len) != 0)
			return false;
	}
	return true;
}

/* The saved master0 first again, the other masters in the new definition's order. */
static void keep_master0(struct cluster *want, const char *master0)
{
	for (size_t i = 1; i < want->nhosts && want->hosts[i].role == ROLE_MASTER; i++) {
		if (!same_address(want->hosts[i].ip, master0))
			continue;
		struct cluster_host t = want->hosts[i];
		memmove(want->hosts + 1, want->hosts, i * sizeof(*want->hosts));
		want->hosts[0] = t;
		return;
	}
}

static int check_hosts(const struct cluster *saved, const struct cluster *want,
		       bool allow_master0, struct errbuf *err)
{
	const char *master0 = saved->hosts[0].ip;
	size_t masters_left = 0;

	for (size_t i = 0; i < want->nhosts; i++) {
		const struct cluster_host *s = find_host(saved, want->hosts[i].ip);
		if (s && s->role != want->hosts[i].role)
			return errbuf_set(err, -EINVAL, "host %s is a %s of cluster %s and a %s in the "
					  "new definition: a host's role cannot change in place; delete "
					  "it ('cirun delete -%c %s'), then join it with its new role",
					  s->ip, role_name(s->role), saved->name,
					  role_name(want->hosts[i].role),
					  s->role == ROLE_MASTER ? 'm' : 'n', s->ip);
		masters_left += s && s->role == ROLE_MASTER;
	}
	/* the new masters join through a kept one: none kept is a new cluster, not a change */
	if (masters_left == 0)
		return errbuf_set(err, -EINVAL, "the new definition keeps none of the masters of "
				  "cluster %s: it would be another cluster; give it another "
				  "--cluster-name, or keep one of them (master0 is %s)", saved->name,
				  master0);
	if (!find_host(want, master0) && !allow_master0)
		return errbuf_set(err, -EINVAL, "the new definition leaves out %s, master0 of cluster "
				  "%s (the master the cluster was initialised on): add "
				  "--allow-master0-removal if that is meant (the next master takes its "
				  "place)", master0, saved->name);
	/* where the registry runs now and would run: no host given is master0 */
	const char *was = saved->registry_host ? saved->registry_host : master0;
	const char *would = want->registry_host ? want->registry_host
			    : find_host(want, master0) ? master0 : NULL;
	if (!would || !same_address(was, would))
		return errbuf_set(err, -EINVAL, "the registry of cluster %s runs on %s, and the new "
				  "definition %s: the registry cannot move to another host of a "
				  "running cluster (its images stay on %s)", saved->name, was,
				  would ? "puts it on another host" : "leaves that host out", was);
	return 0;
}

int cluster_diff(const struct cluster *saved, struct cluster *want, bool allow_master0,
		 struct cluster_diff *d, struct errbuf *err)
{
	*d = (struct cluster_diff){ 0 };
	if (saved->nhosts == 0 || want->nhosts == 0)
		return errbuf_set(err, -EINVAL, "a cluster definition without hosts");
	int rc = check_hosts(saved, want, allow_master0, err);
	if (rc < 0)
		return rc;
	keep_master0(want, saved->hosts[0].ip);
	for (size_t i = 0; i < want->nhosts; i++) {
		const struct cluster_host *h = &want->hosts[i], *s = find_host(saved, h->ip);
		if (!s)
			push(&d->added, &d->nadded, h);
		else if (!kv_same(s->env, s->nenv, h->env, h->nenv))
			push(&d->env_changed, &d->nenv_changed, h);
	}
	for (size_t i = 0; i < saved->nhosts; i++)
		if (!find_host(want, saved->hosts[i].ip))
			push(&d->removed, &d->nremoved, &saved->hosts[i]);
	d->image_changed = !str_eq(saved->image, want->image);
	d->configs_changed = !configs_same(saved, want);
	d->plugins_changed = !plugins_same(saved, want);
	d->kubeadm_changed = !kubeadm_same(saved, want);
	d->cmd_args_changed = !kv_same(saved->cmd_args, saved->ncmd_args, want->cmd_args,
				       want->ncmd_args);
	d->master0_changed = !same_address(saved->hosts[0].ip, want->hosts[0].ip);
	d->new_master0 = want->hosts[0].ip;
	return 0;
}

bool cluster_diff_empty(const struct cluster_diff *d)
{
	return !d->nadded && !d->nremoved && !d->nenv_changed && !d->image_changed &&
	       !d->configs_changed && !d->plugins_changed && !d->kubeadm_changed &&
	       !d->cmd_args_changed && !d->master0_changed;
}

void cluster_diff_print(const struct cluster_diff *d, FILE *f)
{
	if (cluster_diff_empty(d)) {
		fprintf(f, "  nothing to change: the hosts and inputs are those of the last run\n");
		return;
	}
	for (size_t i = 0; i < d->nadded; i++)
		fprintf(f, "  + %-6s %-15s prepared and joined\n", role_name(d->added[i]->role),
			d->added[i]->ip);
	for (size_t i = 0; i < d->nremoved; i++)
		fprintf(f, "  - %-6s %-15s drained, deleted from the cluster, reset and cleaned\n",
			role_name(d->removed[i]->role), d->removed[i]->ip);
	for (size_t i = 0; i < d->nenv_changed; i++)
		fprintf(f, "  ~ env    %-15s what renders it runs again there\n",
			d->env_changed[i]->ip);
	if (d->image_changed)
		fprintf(f, "  ~ image  every host's rootfs is assembled from the new image, and the "
			   "steps after it run again\n");
	if (d->configs_changed)
		fprintf(f, "  ~ Config documents: written again on every host\n");
	if (d->kubeadm_changed)
		fprintf(f, "  ~ kubeadm documents: used by joins from now on (an initialised "
			   "control plane is not reconfigured)\n");
	if (d->plugins_changed)
		fprintf(f, "  ~ Plugin documents: the changed plugins run at their phases\n");
	if (d->cmd_args_changed)
		fprintf(f, "  ~ cmd_args: the image's CMDs are replayed with them\n");
	if (d->master0_changed)
		fprintf(f, "  ~ master0 is now %s: every host's apiserver.cluster.local points there\n",
			d->new_master0);
}

void cluster_diff_release(struct cluster_diff *d)
{
	free(d->added);
	free(d->removed);
	free(d->env_changed);
	*d = (struct cluster_diff){ 0 };
}

static void copy_ssh(struct ssh_settings *to, const struct ssh_settings *from)
{
	to->user = from->user ? xstrdup(from->user) : NULL;
	to->password = from->password ? xstrdup(from->password) : NULL;
	to->pk_file = from->pk_file ? xstrdup(from->pk_file) : NULL;
	to->pk_passphrase = from->pk_passphrase ? xstrdup(from->pk_passphrase) : NULL;
	to->port = from->port;
}

int cluster_join_hosts(struct cluster *c, const char *spec, enum host_role role,
		       const struct ssh_settings *ssh, const struct kv *env, size_t nenv,
		       struct errbuf *err)
{
	size_t first = c->nhosts;
	int rc = cluster_add_hosts(c, spec, role, role == ROLE_MASTER ? "-m" : "-n", err);

	if (rc < 0)
		return errbuf_prefix(err, "cluster %s", c->name);
	for (size_t i = first; i < c->nhosts; i++) {
		struct cluster_host *h = &c->hosts[i];
		if (ssh)
			copy_ssh(&h->ssh, ssh);
		for (size_t k = 0; k < nenv; k++) {
			h->env = xreallocarray(h->env, h->nenv + 1, sizeof(*h->env));
			h->env[h->nenv++] = (struct kv){ xstrdup(env[k].key), xstrdup(env[k].value) };
		}
	}
	return 0;
}

static void remove_at(struct cluster *c, size_t i)
{
	/* cluster_release frees a host's fields and the hosts array: give it a copy of one */
	struct cluster one = { .hosts = xmalloc(sizeof(*one.hosts)), .nhosts = 1 };

	one.hosts[0] = c->hosts[i];
	memmove(c->hosts + i, c->hosts + i + 1, (c->nhosts - i - 1) * sizeof(*c->hosts));
	c->nhosts--;
	cluster_release(&one);
}

int cluster_remove_hosts(struct cluster *c, const char *spec, enum host_role role,
			 bool allow_master0, struct errbuf *err)
{
	char **ips = NULL;
	size_t n = 0;
	int rc = parse_ip_list(spec, &ips, &n, err);

	if (rc < 0)
		return errbuf_prefix(err, "%s", role == ROLE_MASTER ? "-m" : "-n");
	for (size_t k = 0; rc >= 0 && k < n; k++) {
		size_t i;
		for (i = 0; i < c->nhosts && !same_address(c->hosts[i].ip, ips[k]); i++)
			;
		size_t masters = 0;
		for (size_t j = 0; j < c->nhosts; j++)
			masters += c->hosts[j].role == ROLE_MASTER;
		if (i == c->nhosts || c->hosts[i].role != role)
			rc = errbuf_set(err, -EINVAL, "%s is not a %s of cluster %s ('cirun status %s' "
					"lists its hosts)", ips[k], role_name(role), c->name, c->name);
		else if (role == ROLE_MASTER && masters == 1)
			rc = errbuf_set(err, -EINVAL, "%s is the last master of cluster %s: use "
					"'cirun delete --all' to remove the whole cluster", ips[k],
					c->name);
		else if (i == 0 && !allow_master0)
			rc = errbuf_set(err, -EINVAL, "%s is master0 of cluster %s (the master it was "
					"initialised on): add --allow-master0-removal if that is meant "
					"(the next master takes its place)", ips[k], c->name);
		else
			remove_at(c, i);
	}
	for (size_t k = 0; k < n; k++)
		free(ips[k]);
	free(ips);
	return rc;
}

static bool removed_by(const struct cluster_diff *d, const char *ip)
{
	for (size_t i = 0; i < d->nremoved; i++)
		if (same_address(d->removed[i]->ip, ip))
			return true;
	return false;
}

size_t cluster_to_clean_update(struct cluster *rec, const struct cluster *want,
			       const struct cluster_diff *d)
{
	for (size_t i = rec->nhosts; i-- > 0;)
		if (find_host(want, rec->hosts[i].ip))
			remove_at(rec, i);
	for (size_t i = 0; i < d->nremoved; i++) {
		const struct cluster_host *h = d->removed[i];
		if (find_host(rec, h->ip))
			continue;
		struct cluster_host *t;
		rec->hosts = xreallocarray(rec->hosts, rec->nhosts + 1, sizeof(*rec->hosts));
		t = &rec->hosts[rec->nhosts++];
		*t = (struct cluster_host){ .ip = xstrdup(h->ip), .role = h->role };
		copy_ssh(&t->ssh, &h->ssh);
		t->env = xcalloc(h->nenv ? h->nenv : 1, sizeof(*t->env));
		for (size_t k = 0; k < h->nenv; k++)
			t->env[t->nenv++] = (struct kv){ xstrdup(h->env[k].key),
							 xstrdup(h->env[k].value) };
	}
	return rec->nhosts;
}

int cluster_to_clean_done(struct cluster *rec, const char *ip)
{
	for (size_t i = 0; i < rec->nhosts; i++)
		if (same_address(rec->hosts[i].ip, ip)) {
			remove_at(rec, i);
			return 0;
		}
	return -ENOENT;
}

const struct cluster_host *cluster_to_clean_find(const struct cluster *rec, const char *ip)
{
	return find_host(rec, ip);
}

bool cluster_apply_installs(const struct cluster_diff *d)
{
	struct cluster_diff rest = *d;

	rest.nremoved = 0;
	return !d->nremoved || d->master0_changed || !cluster_diff_empty(&rest);
}

void cluster_apply_plan_print(const struct cluster_diff *d, const struct cluster *rec, FILE *f)
{
	size_t left = 0;

	if (!cluster_diff_empty(d) || rec->nhosts == 0)
		cluster_diff_print(d, f);
	for (size_t i = 0; i < rec->nhosts; i++) {
		if (removed_by(d, rec->hosts[i].ip))
			continue;
		left++;
		fprintf(f, "  - %-6s %-15s still to clean from an earlier apply: drained, deleted "
			"from the cluster, reset and cleaned\n", role_name(rec->hosts[i].role),
			rec->hosts[i].ip);
	}
	if (cluster_diff_empty(d) && !left)
		return;
	if (cluster_apply_installs(d))
		fprintf(f, "  order: every host of the new definition through the run (what is done "
			"already is skipped), new masters joined one at a time%s\n",
			rec->nhosts ? "; then the removed hosts, nodes first, masters one at a time" : "");
	else
		fprintf(f, "  order: only removals: the kept hosts are not run again; the removed "
			"hosts drained on master0, nodes first, masters one at a time\n");
}
