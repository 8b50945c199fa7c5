/* TAINT: spec.data lines "HOSTS TAINT", HOSTS an address, a list a,b or a range a-b, TAINT
 * as `kubectl taint` takes it: KEY=VALUE:Effect or KEY:Effect to add; KEY:Effect- or KEY- to
 * remove (KEY=VALUE:Effect- is accepted, as sealer did: the value plays no part in a
 * removal). Applied through kubectl on master0, so only where the cluster is up. */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ip-list.h"
#include "k8s-name.h"
#include "plugin-type.h"

static int effect_from_name(const char *s)
{
	for (int e = PLUGIN_TAINT_NO_SCHEDULE; e <= PLUGIN_TAINT_NO_EXECUTE; e++)
		if (strcmp(plugin_taint_effect_name((enum plugin_taint_effect)e), s) == 0)
			return e;
	return -EINVAL;
}

/* Splits "KEY[=VALUE][:EFFECT][-]" into t (key and value borrowed from spec). */
static int taint_spec(struct plugin *p, unsigned idx, char *spec, struct plugin_taint *t,
		      struct errbuf *err)
{
	size_t len = strlen(spec);
	char *colon, *eq;
	const char *why;

	t->remove = len > 0 && spec[len - 1] == '-';
	if (t->remove)
		spec[--len] = '\0';
	colon = strchr(spec, ':');
	if (colon && strchr(colon + 1, ':'))
		return plugin_data_error(p, idx, err, "'%.128s' has more than one ':' (KEY=VALUE:"
					 "Effect)", spec);
	if (colon) {
		*colon = '\0';
		int e = effect_from_name(colon + 1);
		if (e < 0)
			return plugin_data_error(p, idx, err, "taint effect '%.64s' is not one of "
						 "NoSchedule, PreferNoSchedule, NoExecute", colon + 1);
		t->effect = (enum plugin_taint_effect)e;
	} else if (!t->remove) {
		return plugin_data_error(p, idx, err, "'%.128s' has no effect: KEY=VALUE:Effect, "
					 "Effect one of NoSchedule, PreferNoSchedule, NoExecute "
					 "(KEY- removes a taint)", spec);
	}
	eq = strchr(spec, '=');
	if (eq && strchr(eq + 1, '='))
		return plugin_data_error(p, idx, err, "'%.128s' has more than one '='", spec);
	if (eq)
		*eq = '\0';
	if ((why = k8s_qualified_name_invalid(spec)))
		return plugin_data_error(p, idx, err, "taint key '%.128s': %s", spec, why);
	if (eq && (why = k8s_label_value_invalid(eq + 1)))
		return plugin_data_error(p, idx, err, "taint value '%.64s': %s", eq + 1, why);
	t->key = spec;
	t->value = eq ? eq + 1 : (char *)"";
	t->line = idx;
	return 0;
}

static int taint_line(struct plugin *p, unsigned idx, char **fields, size_t nfields,
		      struct errbuf *err)
{
	struct plugin_taint t = { 0 };
	char **ips = NULL;
	size_t n_ips = 0;
	int r;

	if (nfields != 2)
		return plugin_data_error(p, idx, err, "expected 'HOSTS KEY=VALUE:Effect' (two "
					 "fields), got %zu", nfields);
	r = taint_spec(p, idx, fields[1], &t, err);
	if (r >= 0)
		r = plugin_data_ips(p, idx, fields[0], &ips, &n_ips, err);
	if (r >= 0 && p->n_taints + n_ips > PLUGIN_ENTRIES_MAX)
		r = plugin_data_error(p, idx, err, "more than %u taints in one plugin",
				      PLUGIN_ENTRIES_MAX);
	if (r >= 0) {
		p->taints = xreallocarray(p->taints, p->n_taints + n_ips, sizeof(*p->taints));
		for (size_t i = 0; i < n_ips; i++) {
			struct plugin_taint *d = &p->taints[p->n_taints++];
			*d = t;
			d->ip = xstrdup(ips[i]);
			d->key = xstrdup(t.key);
			d->value = xstrdup(t.value);
		}
	}
	ip_list_free(ips, n_ips);
	return r;
}

static int taint_parse_data(struct plugin *p, struct errbuf *err)
{
	return plugin_data_lines(p, taint_line, err);
}

static void taint_release(struct plugin *p)
{
	for (size_t i = 0; i < p->n_taints; i++) {
		free(p->taints[i].ip);
		free(p->taints[i].key);
		free(p->taints[i].value);
	}
	free(p->taints);
}

const struct plugin_type_info plugin_type_taint = {
	.name = "TAINT",
	.alias = "Taint", /* the name sealer's code registered; its docs say TAINT */
	.phases = PLUGIN_PHASES_CLUSTER_UP,
	.takes_data = true,
	.parse_data = taint_parse_data,
	.release = taint_release,
};
