/* LABEL: spec.data lines "HOSTS KEY=VALUE[,KEY=VALUE…]", HOSTS an address, a list a,b or a
 * range a-b. Each (host, key, value) becomes `kubectl label node … --overwrite KEY=VALUE`
 * on master0, so only where the cluster is up. */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ip-list.h"
#include "k8s-name.h"
#include "plugin-type.h"

static int label_pair(struct plugin *p, unsigned idx, char *pair, char **ips, size_t n_ips,
		      struct errbuf *err)
{
	char *eq = strchr(pair, '=');
	const char *why;

	if (!eq || strchr(eq + 1, '='))
		return plugin_data_error(p, idx, err, "'%.128s' is not KEY=VALUE (KEY= for an "
					 "empty value; a LABEL plugin only sets labels)", pair);
	*eq = '\0';
	if ((why = k8s_qualified_name_invalid(pair)))
		return plugin_data_error(p, idx, err, "label key '%.128s': %s", pair, why);
	if ((why = k8s_label_value_invalid(eq + 1)))
		return plugin_data_error(p, idx, err, "label value '%.64s': %s", eq + 1, why);
	if (p->n_labels + n_ips > PLUGIN_ENTRIES_MAX)
		return plugin_data_error(p, idx, err, "more than %u labels in one plugin",
					 PLUGIN_ENTRIES_MAX);
	p->labels = xreallocarray(p->labels, p->n_labels + n_ips, sizeof(*p->labels));
	for (size_t i = 0; i < n_ips; i++)
		p->labels[p->n_labels++] = (struct plugin_label){
			.ip = xstrdup(ips[i]), .key = xstrdup(pair), .value = xstrdup(eq + 1),
			.line = idx,
		};
	return 0;
}

static int label_line(struct plugin *p, unsigned idx, char **fields, size_t nfields,
		      struct errbuf *err)
{
	char **ips = NULL, *save = NULL;
	size_t n_ips = 0;
	int r;

	if (nfields != 2)
		return plugin_data_error(p, idx, err, "expected 'HOSTS KEY=VALUE[,KEY=VALUE…]' "
					 "(two fields), got %zu", nfields);
	size_t len = strlen(fields[1]);
	if (fields[1][0] == ',' || fields[1][len - 1] == ',' || strstr(fields[1], ",,"))
		return plugin_data_error(p, idx, err, "'%.128s' has an empty label between commas",
					 fields[1]);
	r = plugin_data_ips(p, idx, fields[0], &ips, &n_ips, err);
	for (char *s = fields[1]; r >= 0; s = NULL) {
		char *pair = strtok_r(s, ",", &save);
		if (!pair)
			break;
		r = label_pair(p, idx, pair, ips, n_ips, err);
	}
	ip_list_free(ips, n_ips);
	return r;
}

static int label_parse_data(struct plugin *p, struct errbuf *err)
{
	return plugin_data_lines(p, label_line, err);
}

static void label_release(struct plugin *p)
{
	for (size_t i = 0; i < p->n_labels; i++) {
		free(p->labels[i].ip);
		free(p->labels[i].key);
		free(p->labels[i].value);
	}
	free(p->labels);
}

const struct plugin_type_info plugin_type_label = {
	.name = "LABEL",
	.phases = PLUGIN_PHASES_CLUSTER_UP,
	.takes_data = true,
	.parse_data = label_parse_data,
	.release = label_release,
};
