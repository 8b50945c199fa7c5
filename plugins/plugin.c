#include "plugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "ip-list.h"
#include "k8s-name.h"
#include "macro.h"
#include "plugin-type.h"

static const char *const phase_names[_PLUGIN_PHASE_MAX] = {
	[PLUGIN_ORIGINALLY] = "Originally",	[PLUGIN_PRE_INIT] = "PreInit",
	[PLUGIN_PRE_JOIN] = "PreJoin",		[PLUGIN_POST_JOIN] = "PostJoin",
	[PLUGIN_PRE_GUEST] = "PreGuest",	[PLUGIN_POST_INSTALL] = "PostInstall",
	[PLUGIN_PRE_CLEAN] = "PreClean",	[PLUGIN_POST_CLEAN] = "PostClean",
};

/* The one table of types. */
static const struct plugin_type_info *const types[_PLUGIN_TYPE_MAX] = {
	[PLUGIN_SHELL] = &plugin_type_shell,	 [PLUGIN_LABEL] = &plugin_type_label,
	[PLUGIN_TAINT] = &plugin_type_taint,	 [PLUGIN_HOSTNAME] = &plugin_type_hostname,
	[PLUGIN_CLUSTERCHECK] = &plugin_type_clustercheck,
};

static const char *const effect_names[] = {
	[PLUGIN_TAINT_ANY_EFFECT] = "",
	[PLUGIN_TAINT_NO_SCHEDULE] = "NoSchedule",
	[PLUGIN_TAINT_PREFER_NO_SCHEDULE] = "PreferNoSchedule",
	[PLUGIN_TAINT_NO_EXECUTE] = "NoExecute",
};

static const char *const api_versions[] = {
	"sealer.aliyun.com/v1alpha1", /* sealer's docs and the seed */
	"sealer.cloud/v2",	      /* the Clusterfile's Cluster apiVersion */
	"sealer.io/v1",		      /* sealer >= 0.9 */
};

#define PLUGIN_NAME_MAX 253

int plugin_phase_from_name(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(phase_names); i++)
		if (strcmp(phase_names[i], name) == 0)
			return (int)i;
	return -EINVAL;
}

const char *plugin_phase_name(enum plugin_phase phase)
{
	return (unsigned)phase < ELEMENTSOF(phase_names) ? phase_names[phase] : "?";
}

int plugin_type_from_name(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strcmp(types[i]->name, name) == 0 ||
		    (types[i]->alias && strcmp(types[i]->alias, name) == 0))
			return (int)i;
	return -EINVAL;
}

const char *plugin_type_name(enum plugin_type type)
{
	return (unsigned)type < ELEMENTSOF(types) ? types[type]->name : "?";
}

unsigned plugin_type_phases(enum plugin_type type)
{
	return (unsigned)type < ELEMENTSOF(types) ? types[type]->phases : 0;
}

const char *plugin_taint_effect_name(enum plugin_taint_effect e)
{
	return (unsigned)e < ELEMENTSOF(effect_names) ? effect_names[e] : "?";
}

/* "PreInit, PostInstall" for a phase set. */
static void phases_str(unsigned phases, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < _PLUGIN_PHASE_MAX && len < n; i++)
		if (phases & PLUGIN_PHASE_BIT(i))
			len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "",
						phase_names[i]);
}

struct ctx {
	const char *file;
	const char *name; /* the plugin's, once known */
	struct errbuf *err;
};

static int bad(struct ctx *x, const struct ynode *n, const char *field, const char *fmt, ...)
	_printf_(4, 5);
static int bad(struct ctx *x, const struct ynode *n, const char *field, const char *fmt, ...)
{
	char detail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	errbuf_set(x->err, -EINVAL, "%s:%u:%u: %s%s%s%s: %s", x->file, ynode_line(n),
		   ynode_column(n), x->name ? "plugin '" : "", x->name ? x->name : "",
		   x->name ? "': " : "", field, detail);
	if (x->err) {
		x->err->line = ynode_line(n);
		x->err->column = ynode_column(n);
	}
	return -EINVAL;
}

/* A string field; NULL (and 0) when absent or null. */
static int get_str(struct ctx *x, const struct ynode *map, const char *key, const char *field,
		   const struct ynode **node, const char **ret)
{
	const struct ynode *n = ynode_map_get(map, key);

	*ret = NULL;
	if (node)
		*node = n;
	if (!n || ynode_is_null(n))
		return 0;
	if (!ynode_str(n))
		return bad(x, n, field, "must be a string");
	*ret = ynode_str(n);
	return 0;
}

static int check_keys(struct ctx *x, const struct ynode *map, const char *where,
		      const char *const *known, size_t n_known, const char *hint)
{
	for (size_t i = 0; i < ynode_len(map); i++) {
		const char *k = ynode_map_key_at(map, i);
		size_t j;
		for (j = 0; j < n_known && strcmp(known[j], k) != 0; j++)
			;
		if (j == n_known)
			return bad(x, ynode_map_key_node_at(map, i), where,
				   "unknown field '%.64s' (a Plugin has %s)", k, hint);
	}
	return 0;
}

static const char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static int parse_phases(struct ctx *x, const struct ynode *n, const char *action, unsigned *ret)
{
	unsigned phases = 0;
	char known[160];

	phases_str(PLUGIN_PHASES_ALL, known, sizeof(known));
	for (const char *s = action;;) {
		const char *bar = strchr(s, '|');
		_cleanup_free_ char *item = xstrndup(s, bar ? (size_t)(bar - s) : strlen(s));
		const char *name = trim(item);
		int ph = plugin_phase_from_name(name);

		/* "PreInit||PostInstall" or a dangling '|' hides a mistake */
		if (!*name)
			return bad(x, n, "spec.action", "'%.64s' has an empty phase (phases: %s; "
				   "several are joined with '|')", action, known);
		if (ph < 0 && strcmp(name, "PreInstall") == 0)
			return bad(x, n, "spec.action", "PreInstall never ran in sealer and is not a "
				   "phase here: use PreInit (before kubeadm init) or PreGuest (before "
				   "the image's CMDs)");
		if (ph < 0)
			return bad(x, n, "spec.action", "unknown phase '%.64s' (phases: %s; several "
				   "are joined with '|')", name, known);
		phases |= PLUGIN_PHASE_BIT(ph);
		if (!bar)
			break;
		s = bar + 1;
	}
	*ret = phases;
	return 0;
}

static bool has_port(const char *item)
{
	const char *colon = strchr(item, ':');
	return colon && colon == strrchr(item, ':');
}

/* `on`: roles, an address list, or one KEY=VALUE label. */
static int parse_on(struct ctx *x, const struct ynode *n, const char *text, unsigned phases,
		    struct plugin_selector *on)
{
	_cleanup_free_ char *work = xstrdup(text);
	const char *s = trim(work);
	const char *eq = strchr(s, '=');
	char buf[160];

	if (!*s)
		on->kind = PLUGIN_ON_ALL;
	else if (strcmp(s, "master") == 0)
		on->kind = PLUGIN_ON_MASTER;
	else if (strcmp(s, "node") == 0)
		on->kind = PLUGIN_ON_NODE;
	else if (strcmp(s, "master0") == 0)
		on->kind = PLUGIN_ON_MASTER0;
	else if (eq) {
		_cleanup_free_ char *key = xstrndup(s, (size_t)(eq - s));
		const char *why;
		if (strchr(eq + 1, '=') || strchr(s, ','))
			return bad(x, n, "spec.on", "'%.128s': a label selector here is one KEY=VALUE "
				   "(KEY= for an empty value)", s);
		if ((why = k8s_qualified_name_invalid(key)))
			return bad(x, n, "spec.on", "label key '%.128s': %s", key, why);
		if ((why = k8s_label_value_invalid(eq + 1)))
			return bad(x, n, "spec.on", "label value '%.64s': %s", eq + 1, why);
		if (phases & ~PLUGIN_PHASES_CLUSTER_UP) {
			char bad_ph[160], ok_ph[160];
			phases_str(phases & ~PLUGIN_PHASES_CLUSTER_UP, bad_ph, sizeof(bad_ph));
			phases_str(PLUGIN_PHASES_CLUSTER_UP, ok_ph, sizeof(ok_ph));
			return bad(x, n, "spec.on", "the label selector '%.128s' needs the cluster, "
				   "which is not up at %s: use it only with %s, or select "
				   "hosts by master, node, master0 or addresses", s, bad_ph, ok_ph);
		}
		on->kind = PLUGIN_ON_LABEL;
		on->label_key = TAKE_PTR(key);
		on->label_value = xstrdup(eq + 1);
	} else {
		struct errbuf e = ERRBUF_INIT;
		if (parse_ip_list(s, &on->ips, &on->n_ips, &e) < 0)
			return bad(x, n, "spec.on", "%s (give master, node, master0, addresses "
				   "a,b or a-b, or a label KEY=VALUE)", errbuf_msg(&e));
		on->kind = PLUGIN_ON_IPS;
		for (size_t i = 0; i < on->n_ips; i++)
			if (has_port(on->ips[i])) {
				snprintf(buf, sizeof(buf), "%s", on->ips[i]);
				return bad(x, n, "spec.on", "'%s': name hosts by address only (the SSH "
					   "port belongs to the host's settings)", buf);
			}
	}
	return 0;
}

static int type_phases_check(struct ctx *x, const struct ynode *n, const struct plugin *p)
{
	const struct plugin_type_info *t = types[p->type];
	char bad_ph[160], ok_ph[160];

	if (!(p->phases & ~t->phases))
		return 0;
	phases_str(p->phases & ~t->phases, bad_ph, sizeof(bad_ph));
	phases_str(t->phases, ok_ph, sizeof(ok_ph));
	return bad(x, n, "spec.action", "a %s plugin cannot act at %s (%s): its phases are %s",
		   t->name, bad_ph,
		   p->type == PLUGIN_HOSTNAME ? "the host has joined under its old name by then"
					      : "the cluster is not up then",
		   ok_ph);
}

static int parse_name(struct ctx *x, const struct ynode *doc, struct plugin *p)
{
	const struct ynode *meta = ynode_map_get(doc, "metadata"), *n;
	const char *name;
	int r;

	if (!meta || ynode_kind(meta) != YNODE_MAP)
		return bad(x, meta ? meta : doc, "metadata", "a Plugin needs metadata.name");
	r = get_str(x, meta, "name", "metadata.name", &n, &name);
	if (r < 0)
		return r;
	if (!name || !*name)
		return bad(x, n ? n : meta, "metadata.name", "a Plugin needs a name (it is how "
			   "the run's log names it)");
	if (strlen(name) > PLUGIN_NAME_MAX)
		return bad(x, n, "metadata.name", "longer than %d characters", PLUGIN_NAME_MAX);
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("-_.", *c)))
			return bad(x, n, "metadata.name", "'%.64s': use letters, digits, '-', '_' "
				   "and '.'", name);
	p->name = xstrdup(name);
	x->name = p->name;
	return 0;
}

static int parse_type(struct ctx *x, const struct ynode *spec, struct plugin *p)
{
	const struct ynode *n;
	const char *type;
	int r = get_str(x, spec, "type", "spec.type", &n, &type);

	if (r < 0)
		return r;
	if (!type || !*type)
		return bad(x, n ? n : spec, "spec.type", "missing (one of SHELL, LABEL, TAINT, "
			   "HOSTNAME, CLUSTERCHECK)");
	r = plugin_type_from_name(type);
	if (r < 0)
		return bad(x, n, "spec.type", "unknown type '%.64s' (types: SHELL, LABEL, TAINT, "
			   "HOSTNAME, CLUSTERCHECK; Go .so plugins are not supported)", type);
	p->type = (enum plugin_type)r;
	return 0;
}

static int parse_data(struct ctx *x, const struct ynode *spec, struct plugin *p)
{
	const struct plugin_type_info *t = types[p->type];
	const struct ynode *n;
	const char *data;
	int r = get_str(x, spec, "data", "spec.data", &n, &data);

	if (r < 0)
		return r;
	if (data && strlen(data) > PLUGIN_DATA_MAX)
		return bad(x, n, "spec.data", "longer than %u bytes", PLUGIN_DATA_MAX);
	if (!t->takes_data && data && data[strspn(data, " \t\r\n")])
		return bad(x, n, "spec.data", "a %s plugin takes no data", t->name);
	if (t->takes_data && (!data || !data[strspn(data, " \t\r\n")]))
		return bad(x, n ? n : spec, "spec.data", "a %s plugin needs data (%s)", t->name,
			   p->type == PLUGIN_SHELL ? "the script to run" : "one line per host");
	p->data = xstrdup(data ? data : "");
	if (n && data) {
		p->data_exact = ynode_is_literal(n);
		p->data_line = ynode_line(n) + (p->data_exact ? 1 : 0);
	}
	return t->parse_data ? t->parse_data(p, x->err) : 0;
}

static int parse_spec(struct ctx *x, const struct ynode *doc, struct plugin *p)
{
	static const char *const keys[] = { "type", "action", "on", "data" };
	const struct ynode *spec = ynode_map_get(doc, "spec"), *n;
	const char *action, *on;
	int r;

	if (!spec || ynode_kind(spec) != YNODE_MAP)
		return bad(x, spec ? spec : doc, "spec", "a Plugin needs a spec with type and "
			   "action");
	r = check_keys(x, spec, "spec", keys, ELEMENTSOF(keys),
		       "spec.type, spec.action, spec.on, spec.data");
	if (r >= 0)
		r = parse_type(x, spec, p);
	if (r >= 0)
		r = get_str(x, spec, "action", "spec.action", &n, &action);
	if (r < 0)
		return r;
	if (!action || !*action)
		return bad(x, n ? n : spec, "spec.action", "missing: the phase(s) to run at, "
			   "joined with '|' (e.g. PreInit|PostInstall)");
	r = parse_phases(x, n, action, &p->phases);
	if (r >= 0)
		r = type_phases_check(x, n, p);
	if (r >= 0)
		r = get_str(x, spec, "on", "spec.on", &n, &on);
	if (r >= 0)
		r = parse_on(x, n ? n : spec, on ? on : "", p->phases, &p->on);
	if (r >= 0)
		r = parse_data(x, spec, p);
	return r;
}

int plugin_parse(const struct ynode *doc, const char *file, struct plugin *ret, struct errbuf *err)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec" };
	struct ctx x = { .file = file, .err = err };
	struct plugin p = { .file = xstrdup(file), .line = ynode_line(doc) };
	const struct ynode *n;
	const char *s;
	int r;

	if (ynode_kind(doc) != YNODE_MAP) {
		r = bad(&x, doc, "document", "a Plugin is a map (apiVersion, kind, metadata, spec)");
		goto out;
	}
	r = check_keys(&x, doc, "document", keys, ELEMENTSOF(keys),
		       "apiVersion, kind, metadata, spec");
	if (r >= 0)
		r = get_str(&x, doc, "kind", "kind", &n, &s);
	if (r >= 0 && (!s || strcmp(s, "Plugin") != 0))
		r = bad(&x, n ? n : doc, "kind", "'%.64s' is not Plugin", s ? s : "");
	if (r >= 0)
		r = get_str(&x, doc, "apiVersion", "apiVersion", &n, &s);
	if (r >= 0) {
		size_t i;
		for (i = 0; s && i < ELEMENTSOF(api_versions) && strcmp(s, api_versions[i]); i++)
			;
		if (!s || i == ELEMENTSOF(api_versions))
			r = bad(&x, n ? n : doc, "apiVersion", "'%.64s' is not a Plugin apiVersion "
				"(sealer.aliyun.com/v1alpha1, sealer.cloud/v2 or sealer.io/v1)",
				s ? s : "");
	}
	if (r >= 0)
		r = parse_name(&x, doc, &p);
	if (r >= 0)
		r = parse_spec(&x, doc, &p);
out:
	if (r < 0) {
		plugin_release(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void plugin_release(struct plugin *p)
{
	if ((unsigned)p->type < ELEMENTSOF(types) && types[p->type]->release)
		types[p->type]->release(p);
	ip_list_free(p->on.ips, p->on.n_ips);
	free(p->on.label_key);
	free(p->on.label_value);
	free(p->name);
	free(p->data);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

/* ---- data lines, shared by the types ---- */

int plugin_data_error(const struct plugin *p, unsigned idx, struct errbuf *err, const char *fmt,
		      ...)
{
	char detail[768], where[48] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (p->data_exact)
		snprintf(where, sizeof(where), " (line %u)", p->data_line + idx - 1);
	else if (p->data_line)
		snprintf(where, sizeof(where), " (spec.data is at line %u)", p->data_line);
	errbuf_set(err, -EINVAL, "%s:%u: plugin '%s' (%s): spec.data line %u%s: %s", p->file,
		   p->line, p->name, plugin_type_name(p->type), idx, where, detail);
	if (err)
		err->line = p->data_exact ? p->data_line + idx - 1 : p->data_line;
	return -EINVAL;
}

int plugin_data_lines(struct plugin *p, plugin_line_fn fn, struct errbuf *err)
{
	_cleanup_free_ char *work = xstrdup(p->data);
	char *line = work;
	unsigned idx = 0;

	while (line) {
		char *nl = strchr(line, '\n'), *fields[PLUGIN_DATA_FIELDS_MAX], *save = NULL;
		size_t nf = 0;
		if (nl)
			*nl = '\0';
		idx++;
		for (char *s = line;; s = NULL) {
			char *f = strtok_r(s, " \t\r", &save);
			if (!f)
				break;
			if (nf < PLUGIN_DATA_FIELDS_MAX)
				fields[nf] = f;
			nf++;
		}
		if (nf > 0 && fields[0][0] != '#') {
			int r = fn(p, idx, fields, nf, err);
			if (r < 0)
				return r;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

int plugin_data_ips(const struct plugin *p, unsigned idx, const char *field, char ***ret,
		    size_t *ret_n, struct errbuf *err)
{
	struct errbuf e = ERRBUF_INIT;
	char **v = NULL;
	size_t n = 0;

	if (parse_ip_list(field, &v, &n, &e) < 0)
		return plugin_data_error(p, idx, err, "%s (the line starts with the host: an "
					 "address, a,b or a-b)", errbuf_msg(&e));
	for (size_t i = 0; i < n; i++)
		if (has_port(v[i])) {
			int r = plugin_data_error(p, idx, err, "'%.64s': name hosts by address only",
						  v[i]);
			ip_list_free(v, n);
			return r;
		}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- hosts ---- */

static int host_index(const struct plugin_host *hosts, size_t n, const char *ip)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(hosts[i].ip, ip) == 0)
			return (int)i;
	return -1;
}

static int not_a_host(const struct plugin *p, const char *field, const char *ip, unsigned idx,
		      struct errbuf *err)
{
	if (idx)
		return plugin_data_error(p, idx, err, "%.64s is not a host of this cluster", ip);
	return errbuf_set(err, -ENOENT, "%s:%u: plugin '%s' (%s): %s: %.64s is not a host of "
			  "this cluster", p->file, p->line, p->name, plugin_type_name(p->type),
			  field, ip);
}

static const char *label_of(const struct plugin_host *h, const char *key)
{
	for (size_t i = 0; i < h->n_labels; i++)
		if (strcmp(h->labels[i].key, key) == 0)
			return h->labels[i].value ? h->labels[i].value : "";
	return NULL;
}

int plugin_select_hosts(const struct plugin *p, const struct plugin_host *hosts, size_t n,
			bool *selected, struct errbuf *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct plugin_host *h = &hosts[i];
		const char *v;
		switch (p->on.kind) {
		case PLUGIN_ON_ALL:
			selected[i] = true;
			break;
		case PLUGIN_ON_MASTER:
			selected[i] = h->master;
			break;
		case PLUGIN_ON_NODE:
			selected[i] = !h->master;
			break;
		case PLUGIN_ON_MASTER0:
			selected[i] = h->master0;
			break;
		case PLUGIN_ON_IPS:
			selected[i] = false;
			for (size_t k = 0; k < p->on.n_ips && !selected[i]; k++)
				selected[i] = strcmp(p->on.ips[k], h->ip) == 0;
			break;
		case PLUGIN_ON_LABEL:
			if (!h->labels_known)
				return errbuf_set(err, -ENODATA, "%s:%u: plugin '%s': spec.on '%s=%s' "
						  "needs the labels of node %s, which are not known "
						  "yet", p->file, p->line, p->name, p->on.label_key,
						  p->on.label_value, h->ip);
			v = label_of(h, p->on.label_key);
			selected[i] = v && strcmp(v, p->on.label_value) == 0;
			break;
		}
	}
	for (size_t k = 0; p->on.kind == PLUGIN_ON_IPS && k < p->on.n_ips; k++)
		if (host_index(hosts, n, p->on.ips[k]) < 0)
			return not_a_host(p, "spec.on", p->on.ips[k], 0, err);
	return 0;
}

int plugin_check_hosts(const struct plugin *p, const struct plugin_host *hosts, size_t n,
		       struct errbuf *err)
{
	for (size_t k = 0; p->on.kind == PLUGIN_ON_IPS && k < p->on.n_ips; k++)
		if (host_index(hosts, n, p->on.ips[k]) < 0)
			return not_a_host(p, "spec.on", p->on.ips[k], 0, err);
	for (size_t k = 0; k < p->n_labels; k++)
		if (host_index(hosts, n, p->labels[k].ip) < 0)
			return not_a_host(p, NULL, p->labels[k].ip, p->labels[k].line, err);
	for (size_t k = 0; k < p->n_taints; k++)
		if (host_index(hosts, n, p->taints[k].ip) < 0)
			return not_a_host(p, NULL, p->taints[k].ip, p->taints[k].line, err);
	for (size_t k = 0; k < p->n_hostnames; k++)
		if (host_index(hosts, n, p->hostnames[k].ip) < 0)
			return not_a_host(p, NULL, p->hostnames[k].ip, p->hostnames[k].line, err);
	return 0;
}

static void plan_add(struct plugin_plan *plan, const struct plugin_action *a)
{
	plan->actions = xreallocarray(plan->actions, plan->n_actions + 1, sizeof(*plan->actions));
	plan->actions[plan->n_actions++] = *a;
}

static int master0_index(const struct plugin_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hosts[i].master0)
			return (int)i;
	return -1;
}

int plugin_plan(const struct plugin *p, const struct plugin_host *hosts, size_t n,
		const bool *selected, struct plugin_plan *ret, struct errbuf *err)
{
	_cleanup_free_ bool *touched = xcalloc(n ? n : 1, sizeof(bool));
	struct plugin_plan plan = { 0 };
	int r = plugin_check_hosts(p, hosts, n, err);

	if (r < 0)
		return r;
	switch (p->type) {
	case PLUGIN_SHELL:
		for (size_t i = 0; i < n; i++)
			if (selected[i])
				plan_add(&plan, &(struct plugin_action){ .host = i, .script = p->data });
		break;
	case PLUGIN_CLUSTERCHECK:
		r = master0_index(hosts, n);
		if (r < 0)
			return errbuf_set(err, -EINVAL, "plugin '%s' (CLUSTERCHECK): no master0 among "
					  "the hosts", p->name);
		plan_add(&plan, &(struct plugin_action){ .host = (size_t)r });
		break;
	case PLUGIN_LABEL:
		for (size_t k = 0; k < p->n_labels; k++) {
			const struct plugin_label *l = &p->labels[k];
			size_t i = (size_t)host_index(hosts, n, l->ip);
			if (selected[i])
				plan_add(&plan, &(struct plugin_action){ .host = i, .key = l->key,
						.value = l->value, .line = l->line });
		}
		break;
	case PLUGIN_TAINT:
		for (size_t k = 0; k < p->n_taints; k++) {
			const struct plugin_taint *t = &p->taints[k];
			size_t i = (size_t)host_index(hosts, n, t->ip);
			if (selected[i])
				plan_add(&plan, &(struct plugin_action){ .host = i, .key = t->key,
						.value = t->value, .effect = t->effect,
						.remove = t->remove, .line = t->line });
		}
		break;
	case PLUGIN_HOSTNAME:
		for (size_t k = 0; k < p->n_hostnames; k++) {
			const struct plugin_hostname *h = &p->hostnames[k];
			size_t i = (size_t)host_index(hosts, n, h->ip);
			if (selected[i])
				plan_add(&plan, &(struct plugin_action){ .host = i,
						.hostname = h->hostname, .line = h->line });
		}
		break;
	default:
		return errbuf_set(err, -EINVAL, "plugin '%s': unknown type", p->name);
	}
	for (size_t k = 0; k < plan.n_actions; k++)
		if (!touched[plan.actions[k].host]) {
			touched[plan.actions[k].host] = true;
			plan.n_hosts++;
		}
	*ret = plan;
	return 0;
}

void plugin_plan_release(struct plugin_plan *plan)
{
	free(plan->actions);
	memset(plan, 0, sizeof(*plan));
}

char *plugin_label_arg(const char *key, const char *value)
{
	return xasprintf("%s=%s", key, value ? value : "");
}

char *plugin_taint_arg(const struct plugin_action *a)
{
	const char *effect = plugin_taint_effect_name(a->effect);

	if (a->remove)
		return *effect ? xasprintf("%s:%s-", a->key, effect) : xasprintf("%s-", a->key);
	if (a->value && *a->value)
		return xasprintf("%s=%s:%s", a->key, a->value, effect);
	return xasprintf("%s:%s", a->key, effect);
}

/* ---- lists ---- */

int plugin_list_add_stream(struct plugin_list *list, const struct ydoc *docs, const char *file,
			   bool only_plugins, struct errbuf *err)
{
	for (size_t i = 0; i < ydoc_count(docs); i++) {
		const struct ynode *doc = ydoc_root(docs, i), *kind;
		struct plugin p;
		int r;

		if (!doc || ynode_is_null(doc))
			continue;
		kind = ynode_kind(doc) == YNODE_MAP ? ynode_map_get(doc, "kind") : NULL;
		if (!ynode_str(kind) || strcmp(ynode_str(kind), "Plugin") != 0) {
			if (!only_plugins)
				continue;
			return errbuf_set(err, -EINVAL, "%s:%u: kind '%.64s': only Plugin documents "
					  "belong in an image's plugins directory", file,
					  ynode_line(doc), ynode_str(kind) ? ynode_str(kind) : "");
		}
		if (list->n >= PLUGIN_ENTRIES_MAX)
			return errbuf_set(err, -E2BIG, "%s: more than %u plugins", file,
					  PLUGIN_ENTRIES_MAX);
		r = plugin_parse(doc, file, &p, err);
		if (r < 0)
			return r;
		list->v = xreallocarray(list->v, list->n + 1, sizeof(*list->v));
		list->v[list->n++] = p;
	}
	return 0;
}

void plugin_list_release(struct plugin_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		plugin_release(&list->v[i]);
	free(list->v);
	memset(list, 0, sizeof(*list));
}
