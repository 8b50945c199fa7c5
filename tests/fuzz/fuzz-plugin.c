/* Plugin documents: any YAML stream yields plugins or an error naming the file; a plugin
 * that parses keeps the rules validation promises (its phases are its type's, a label
 * selector only where the cluster is up), and its plan on a fixed cluster only names
 * hosts of that cluster. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "plugin.h"
#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct kv labels[] = {
	{ (char *)"node-role.kubernetes.io/master", (char *)"" },
	{ (char *)"disk", (char *)"ssd" },
};

static const struct plugin_host hosts[] = {
	{ "10.0.0.1", true, true, true, labels, 2 },
	{ "10.0.0.2", true, false, true, labels, 1 },
	{ "10.0.0.3", false, false, true, labels + 1, 1 },
	{ "node-a", false, false, true, NULL, 0 },
};

static void check(const struct plugin *p)
{
	bool sel[ELEMENTSOF(hosts)];
	struct errbuf err = ERRBUF_INIT;
	struct plugin_plan plan;

	assert(p->name && *p->name && p->data && p->file);
	assert(p->phases && !(p->phases & ~plugin_type_phases(p->type)));
	if (p->on.kind == PLUGIN_ON_LABEL)
		assert(!(p->phases & ~PLUGIN_PHASES_CLUSTER_UP) && p->on.label_key);
	if (plugin_select_hosts(p, hosts, ELEMENTSOF(hosts), sel, &err) < 0) {
		assert(err.msg[0]);
		return;
	}
	if (plugin_plan(p, hosts, ELEMENTSOF(hosts), sel, &plan, &err) < 0) {
		assert(strncmp(err.msg, "fuzz", 4) == 0);
		return;
	}
	assert(plan.n_hosts <= plan.n_actions && plan.n_hosts <= ELEMENTSOF(hosts));
	for (size_t i = 0; i < plan.n_actions; i++) {
		const struct plugin_action *a = &plan.actions[i];
		assert(a->host < ELEMENTSOF(hosts));
		if (p->type == PLUGIN_TAINT) {
			char *arg = plugin_taint_arg(a);
			assert(arg && strchr(arg, ' ') == NULL);
			free(arg);
		}
		if (p->type == PLUGIN_LABEL) {
			char *arg = plugin_label_arg(a->key, a->value);
			assert(strchr(arg, '=') && !strchr(arg, ' '));
			free(arg);
		}
		if (p->type == PLUGIN_HOSTNAME)
			assert(a->hostname && strlen(a->hostname) <= 64);
	}
	plugin_plan_release(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ydoc *docs = NULL;
	struct plugin_list list = { 0 };
	struct errbuf err = ERRBUF_INIT;

	log_set_max_level(LOG_ERR);
	if (ydoc_parse("fuzz", data, size, NULL, &docs, &err) < 0)
		return 0;
	if (plugin_list_add_stream(&list, docs, "fuzz", false, &err) < 0)
		assert(strncmp(err.msg, "fuzz", 4) == 0);
	for (size_t i = 0; i < list.n; i++)
		check(&list.v[i]);
	plugin_list_release(&list);
	ydoc_free(docs);
	return 0;
}
