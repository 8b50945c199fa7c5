#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "plugin-dir.h"
#include "plugin.h"
#include "ydoc.h"

/* The seed's example plugin (cloud-image-design §1), verbatim. */
static const char seed_plugin[] =
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata:\n"
	"  name: taint\n"
	"spec:\n"
	"  type: SHELL\n"
	"  action: PostInstall\n"
	"  on: node-role.kubernetes.io/master=\n"
	"  data: |\n"
	"     kubectl taint nodes --all node-role.kubernetes.io/master-\n";

/* Parses text as one document; returns plugin_parse's result, err filled. */
static int parse(const char *text, struct plugin *p, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	int r = ydoc_parse("Clusterfile", text, strlen(text), NULL, &d, err);

	if (r < 0)
		return r;
	assert_true(ydoc_count(d) >= 1);
	return plugin_parse(ydoc_root(d, 0), "Clusterfile", p, err);
}

/* A plugin document from its spec lines. */
static char *doc(const char *spec)
{
	char *s = NULL;
	assert_true(asprintf(&s, "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\n"
			     "metadata:\n  name: p1\nspec:\n%s", spec) > 0);
	return s;
}

static int parse_spec(const char *spec, struct plugin *p, struct errbuf *err)
{
	_cleanup_free_ char *text = doc(spec);
	return parse(text, p, err);
}

/* The error for spec, which must fail with -EINVAL; checks each needle is in it. */
static void expect_error(const char *spec, const char *needle1, const char *needle2)
{
	struct plugin p;
	struct errbuf err = ERRBUF_INIT;
	int r = parse_spec(spec, &p, &err);

	if (getenv("TEST_SHOW_ERRORS"))
		print_message("%s\n", err.msg);
	if (r != -EINVAL || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
		fail_msg("spec:\n%s\ngave %d '%s', wanted '%s' and '%s'", spec, r, err.msg, needle1,
			 needle2 ? needle2 : "");
}

static const struct kv master_labels[] = {
	{ (char *)"node-role.kubernetes.io/control-plane", (char *)"" },
	{ (char *)"node-role.kubernetes.io/master", (char *)"" },
	{ (char *)"kubernetes.io/os", (char *)"linux" },
};
static const struct kv node_labels[] = {
	{ (char *)"kubernetes.io/os", (char *)"linux" },
	{ (char *)"disk", (char *)"ssd" },
};

/* 2 masters, 2 nodes, labels known */
static const struct plugin_host hosts[] = {
	{ "10.0.0.1", true, true, true, master_labels, ELEMENTSOF(master_labels) },
	{ "10.0.0.2", true, false, true, master_labels, ELEMENTSOF(master_labels) },
	{ "10.0.0.3", false, false, true, node_labels, ELEMENTSOF(node_labels) },
	{ "10.0.0.4", false, false, true, node_labels, 1 },
};
#define NHOSTS ELEMENTSOF(hosts)

/* The selection as a string of 0/1, host order. */
static void expect_selected(const struct plugin *p, const char *want)
{
	bool sel[NHOSTS];
	char got[NHOSTS + 1];
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(plugin_select_hosts(p, hosts, NHOSTS, sel, &err), 0);
	for (size_t i = 0; i < NHOSTS; i++)
		got[i] = sel[i] ? '1' : '0';
	got[NHOSTS] = '\0';
	assert_string_equal(got, want);
}

static void test_seed_example(void **state)
{
	(void)state;
	struct plugin p;
	struct plugin_plan plan;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS];

	assert_int_equal(parse(seed_plugin, &p, &err), 0);
	assert_string_equal(p.name, "taint");
	assert_int_equal(p.type, PLUGIN_SHELL);
	assert_int_equal(p.phases, PLUGIN_PHASE_BIT(PLUGIN_POST_INSTALL));
	assert_int_equal(p.on.kind, PLUGIN_ON_LABEL);
	assert_string_equal(p.on.label_key, PLUGIN_LEGACY_MASTER_LABEL_KEY);
	assert_string_equal(p.on.label_value, "");
	assert_string_equal(p.data, "kubectl taint nodes --all node-role.kubernetes.io/master-\n");
	assert_int_equal(p.line, 1);
	assert_int_equal(p.data_line, 10);
	/* the legacy label the run gives masters is what it selects */
	expect_selected(&p, "1100");
	assert_int_equal(plugin_select_hosts(&p, hosts, NHOSTS, sel, &err), 0);
	assert_int_equal(plugin_plan(&p, hosts, NHOSTS, sel, &plan, &err), 0);
	assert_int_equal(plan.n_actions, 2);
	assert_int_equal(plan.n_hosts, 2);
	assert_int_equal(plan.actions[1].host, 1);
	assert_ptr_equal(plan.actions[0].script, p.data);
	plugin_plan_release(&plan);
	plugin_release(&p);
	assert_string_equal(PLUGIN_LEGACY_MASTER_LABEL, "node-role.kubernetes.io/master=");
}

static void test_phase_names(void **state)
{
	(void)state;
	static const char *const names[] = { "Originally", "PreInit",	  "PreJoin",  "PostJoin",
					     "PreGuest",   "PostInstall", "PreClean", "PostClean" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *spec = NULL;
		struct plugin p;
		struct errbuf err = ERRBUF_INIT;

		assert_int_equal(plugin_phase_from_name(names[i]), (int)i);
		assert_string_equal(plugin_phase_name((enum plugin_phase)i), names[i]);
		assert_true(asprintf(&spec, "  type: SHELL\n  action: %s\n  data: echo hi\n",
				     names[i]) > 0);
		assert_int_equal(parse_spec(spec, &p, &err), 0);
		assert_int_equal(p.phases, PLUGIN_PHASE_BIT(i));
		plugin_release(&p);
	}
	assert_int_equal(plugin_phase_from_name("preinit"), -EINVAL);
	assert_int_equal(plugin_phase_from_name(""), -EINVAL);
}

static void test_phase_lists(void **state)
{
	(void)state;
	struct plugin p;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(parse_spec("  type: SHELL\n  action: PreInit|PostInstall\n  data: x\n",
				    &p, &err), 0);
	assert_int_equal(p.phases, PLUGIN_PHASE_BIT(PLUGIN_PRE_INIT) |
					   PLUGIN_PHASE_BIT(PLUGIN_POST_INSTALL));
	plugin_release(&p);
	assert_int_equal(parse_spec("  type: SHELL\n  action: ' PreJoin | PostJoin|PreClean'\n"
				    "  data: x\n", &p, &err), 0);
	assert_int_equal(p.phases, PLUGIN_PHASE_BIT(PLUGIN_PRE_JOIN) |
					   PLUGIN_PHASE_BIT(PLUGIN_POST_JOIN) |
					   PLUGIN_PHASE_BIT(PLUGIN_PRE_CLEAN));
	plugin_release(&p);
	expect_error("  type: SHELL\n  action: PreInit||PostInstall\n  data: x\n", "empty phase",
		     NULL);
	expect_error("  type: SHELL\n  action: PreInit|\n  data: x\n", "empty phase", NULL);
	expect_error("  type: SHELL\n  data: x\n", "Clusterfile:6:", "spec.action: missing");
}

static void test_unknown_phase_and_type(void **state)
{
	(void)state;
	/* line 7 is the action line, column 11 its value */
	expect_error("  type: SHELL\n  action: PreInit|PostInstal\n  data: x\n",
		     "Clusterfile:7:11: plugin 'p1': spec.action: unknown phase 'PostInstal'",
		     "Originally, PreInit, PreJoin, PostJoin, PreGuest, PostInstall, PreClean, "
		     "PostClean");
	expect_error("  type: SHELL\n  action: PreInstall\n  data: x\n", "PreInstall never ran",
		     NULL);
	expect_error("  type: SHEL\n  action: PreInit\n  data: x\n",
		     "Clusterfile:6:9: plugin 'p1': spec.type: unknown type 'SHEL'",
		     "SHELL, LABEL, TAINT, HOSTNAME, CLUSTERCHECK");
	expect_error("  action: PreInit\n  data: x\n", "spec.type: missing", NULL);
	assert_int_equal(plugin_type_from_name("Taint"), PLUGIN_TAINT);
	assert_int_equal(plugin_type_from_name("TAINT"), PLUGIN_TAINT);
	assert_int_equal(plugin_type_from_name("shell"), -EINVAL);
}

static void test_document_fields(void **state)
{
	(void)state;
	struct plugin p;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(parse("apiVersion: sealer.cloud/v2\nkind: Plugin\nmetadata: {name: a}\n"
			       "spec: {type: SHELL, action: PreInit, data: x}\n", &p, &err), 0);
	plugin_release(&p);
	assert_int_equal(parse("apiVersion: v1\nkind: Plugin\nmetadata: {name: a}\n"
			       "spec: {type: SHELL, action: PreInit, data: x}\n", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "apiVersion: 'v1' is not a Plugin apiVersion"));
	assert_int_equal(parse("apiVersion: sealer.io/v1\nkind: Plugin\nmetadata: {}\n"
			       "spec: {type: SHELL, action: PreInit, data: x}\n", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "metadata.name"));
	assert_int_equal(parse("apiVersion: sealer.io/v1\nkind: Plugin\nmetadata: {name: 'a b'}\n"
			       "spec: {type: SHELL, action: PreInit, data: x}\n", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "metadata.name"));
	/* a misspelt key would make a plugin that never runs */
	expect_error("  type: SHELL\n  acton: PreInit\n  data: x\n", "unknown field 'acton'", NULL);
	expect_error("  type: SHELL\n  action: PreInit\n", "needs data", NULL);
	expect_error("  type: SHELL\n  action: PreInit\n  data: [a]\n", "spec.data: must be a string",
		     NULL);
	expect_error("  type: SHELL\n  action: PreInit\n  data: \"echo a\\r\\necho b\"\n",
		     "carriage return", NULL);
}

static void test_selectors(void **state)
{
	(void)state;
	static const struct {
		const char *on, *want;
		enum plugin_on_kind kind;
	} cases[] = {
		{ "", "1111", PLUGIN_ON_ALL },
		{ "master", "1100", PLUGIN_ON_MASTER },
		{ "node", "0011", PLUGIN_ON_NODE },
		{ "master0", "1000", PLUGIN_ON_MASTER0 },
		{ "10.0.0.2,10.0.0.4", "0101", PLUGIN_ON_IPS },
		{ "10.0.0.2-10.0.0.3", "0110", PLUGIN_ON_IPS },
		{ "10.0.0.3-4", "0011", PLUGIN_ON_IPS },
		{ "disk=ssd", "0010", PLUGIN_ON_LABEL },
		{ "node-role.kubernetes.io/control-plane=", "1100", PLUGIN_ON_LABEL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *spec = NULL;
		struct plugin p;
		struct errbuf err = ERRBUF_INIT;

		assert_true(asprintf(&spec, "  type: SHELL\n  action: PostInstall\n  on: '%s'\n"
				     "  data: x\n", cases[i].on) > 0);
		if (parse_spec(spec, &p, &err) < 0)
			fail_msg("on '%s': %s", cases[i].on, err.msg);
		assert_int_equal(p.on.kind, cases[i].kind);
		expect_selected(&p, cases[i].want);
		plugin_release(&p);
	}
	/* no `on` at all is every host too */
	{
		struct plugin p;
		struct errbuf err = ERRBUF_INIT;
		assert_int_equal(parse_spec("  type: SHELL\n  action: PreInit\n  data: x\n", &p, &err), 0);
		expect_selected(&p, "1111");
		plugin_release(&p);
	}
	expect_error("  type: SHELL\n  action: PreInit\n  on: 10.0.0.1:22\n  data: x\n",
		     "by address only", NULL);
	expect_error("  type: SHELL\n  action: PreInit\n  on: 10.0.0.0/24\n  data: x\n",
		     "'p1': spec.on: '10.0.0.0/24' is not an IP address", NULL);
	/* two ranges under the cap each, over it together: refused, not cut short */
	expect_error("  type: SHELL\n  action: PreInit\n  on: 10.0.0.0-10.0.39.14,10.1.0.0-10.1.39.14,"
		     "10.2.0.1\n  data: x\n", "names more than 10000 hosts", NULL);
	expect_error("  type: SHELL\n  action: PostInstall\n  on: a=b,c=d\n  data: x\n",
		     "one KEY=VALUE", NULL);
	expect_error("  type: SHELL\n  action: PostInstall\n  on: -bad=x\n  data: x\n",
		     "label key '-bad'", NULL);
}

static void test_select_errors(void **state)
{
	(void)state;
	struct plugin p;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS];
	struct plugin_host unknown[NHOSTS];

	assert_int_equal(parse_spec("  type: SHELL\n  action: PreInit\n  on: 10.0.0.1,10.0.0.9\n"
				    "  data: x\n", &p, &err), 0);
	assert_int_equal(plugin_select_hosts(&p, hosts, NHOSTS, sel, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "10.0.0.9 is not a host"));
	assert_int_equal(plugin_check_hosts(&p, hosts, NHOSTS, &err), -ENOENT);
	plugin_release(&p);

	memcpy(unknown, hosts, sizeof(hosts));
	unknown[2].labels_known = false;
	assert_int_equal(parse(seed_plugin, &p, &err), 0);
	assert_int_equal(plugin_select_hosts(&p, unknown, NHOSTS, sel, &err), -ENODATA);
	assert_non_null(strstr(err.msg, "10.0.0.3"));
	plugin_release(&p);
}

static void test_label_selector_phases(void **state)
{
	(void)state;
	static const char *const ok[] = { "PostJoin", "PreGuest", "PostInstall", "PreClean",
					  "PreGuest|PostInstall" };
	static const char *const refused[] = { "Originally", "PreInit", "PreJoin", "PostClean",
					       "PreInit|PostInstall" };

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		_cleanup_free_ char *spec = NULL;
		struct plugin p;
		struct errbuf err = ERRBUF_INIT;
		assert_true(asprintf(&spec, "  type: SHELL\n  action: %s\n  on: k=v\n  data: x\n",
				     ok[i]) > 0);
		if (parse_spec(spec, &p, &err) < 0)
			fail_msg("%s: %s", ok[i], err.msg);
		plugin_release(&p);
	}
	for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
		_cleanup_free_ char *spec = NULL;
		assert_true(asprintf(&spec, "  type: SHELL\n  action: %s\n  on: k=v\n  data: x\n",
				     refused[i]) > 0);
		expect_error(spec, "Clusterfile:8:", "label selector 'k=v' needs the cluster");
	}
	expect_error("  type: SHELL\n  action: PreInit\n  on: node-role.kubernetes.io/master=\n"
		     "  data: x\n", "is not up at PreInit", "PostJoin, PreGuest, "
		     "PostInstall, PreClean");
}

static void test_type_phases(void **state)
{
	(void)state;
	expect_error("  type: LABEL\n  action: PreInit\n  data: 10.0.0.1 a=b\n",
		     "a LABEL plugin cannot act at PreInit", NULL);
	expect_error("  type: TAINT\n  action: PreGuest|Originally\n  data: 10.0.0.1 a:NoSchedule\n",
		     "a TAINT plugin cannot act at Originally", NULL);
	expect_error("  type: HOSTNAME\n  action: PostInstall\n  data: 10.0.0.1 a\n",
		     "a HOSTNAME plugin cannot act at PostInstall", "joined under its old name");
	expect_error("  type: CLUSTERCHECK\n  action: PreInit\n", "cannot act at PreInit", NULL);
}

static void test_label_data(void **state)
{
	(void)state;
	struct plugin p;
	struct plugin_plan plan;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS];

	assert_int_equal(parse_spec("  type: LABEL\n  action: PreGuest\n  on: node\n  data: |\n"
				    "    # disks\n"
				    "    10.0.0.1 ssd=true\n"
				    "\n"
				    "    10.0.0.3-10.0.0.4  ssd=false,example.com/hdd=,zone=a\n",
				    &p, &err), 0);
	assert_int_equal(p.n_labels, 7);
	assert_string_equal(p.labels[0].ip, "10.0.0.1");
	assert_string_equal(p.labels[0].key, "ssd");
	assert_string_equal(p.labels[0].value, "true");
	assert_int_equal(p.labels[0].line, 2);
	assert_string_equal(p.labels[3].ip, "10.0.0.3");
	assert_string_equal(p.labels[3].key, "example.com/hdd");
	assert_string_equal(p.labels[3].value, "");
	assert_int_equal(p.labels[6].line, 4);
	/* on: node leaves the master's line out */
	assert_int_equal(plugin_select_hosts(&p, hosts, NHOSTS, sel, &err), 0);
	assert_int_equal(plugin_plan(&p, hosts, NHOSTS, sel, &plan, &err), 0);
	assert_int_equal(plan.n_actions, 6);
	assert_int_equal(plan.n_hosts, 2);
	assert_int_equal(plan.actions[0].host, 2);
	_cleanup_free_ char *arg = plugin_label_arg(plan.actions[1].key, plan.actions[1].value);
	assert_string_equal(arg, "ssd=false");
	plugin_plan_release(&plan);
	plugin_release(&p);

	/* data line 2 of a block starting on file line 9 is file line 10 */
	expect_error("  type: LABEL\n  action: PreGuest\n  data: |\n    10.0.0.1 a=b\n"
		     "    10.0.0.2 -a=b\n", "Clusterfile:1: plugin 'p1' (LABEL): spec.data line 2 "
		     "(line 10): label key '-a'", NULL);
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 a\n", "is not KEY=VALUE",
		     NULL);
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 a-\n", "is not KEY=VALUE",
		     NULL);
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 a=b c=d\n",
		     "two fields", NULL);
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 a=b,,c=d\n",
		     "empty label", NULL);
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 "
		     "a=0123456789012345678901234567890123456789012345678901234567890123\n",
		     "label value", "longer than 63");
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.300 a=b\n",
		     "spec.data line 1", "10.0.0.300");
	expect_error("  type: LABEL\n  action: PreGuest\n  data: 10.0.0.1 Example.com/a=b\n",
		     "prefix", NULL);
}

static void test_data_host_check(void **state)
{
	(void)state;
	struct plugin p;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(parse_spec("  type: TAINT\n  action: PreGuest\n  data: |\n"
				    "    10.0.0.1 a:NoSchedule\n    10.0.0.8 a:NoSchedule\n",
				    &p, &err), 0);
	assert_int_equal(plugin_check_hosts(&p, hosts, NHOSTS, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "spec.data line 2 (line 10): 10.0.0.8 is not a host"));
	plugin_release(&p);
}

static void test_taint_data(void **state)
{
	(void)state;
	struct plugin p;
	struct plugin_plan plan;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS];
	/* the lines of sealer's own taint example, on this test's hosts */
	static const struct {
		const char *key, *value, *arg;
		enum plugin_taint_effect effect;
		bool remove;
	} want[] = {
		{ "key1", "value1", "key1=value1:NoSchedule", PLUGIN_TAINT_NO_SCHEDULE, false },
		{ "key2", "value2", "key2:NoSchedule-", PLUGIN_TAINT_NO_SCHEDULE, true },
		{ "key3", "", "key3:NoSchedule", PLUGIN_TAINT_NO_SCHEDULE, false },
		{ "key3", "", "key3:NoSchedule", PLUGIN_TAINT_NO_SCHEDULE, false },
		{ "key4", "", "key4:PreferNoSchedule", PLUGIN_TAINT_PREFER_NO_SCHEDULE, false },
		{ "key4", "", "key4:PreferNoSchedule", PLUGIN_TAINT_PREFER_NO_SCHEDULE, false },
		{ "key5", "", "key5:NoExecute", PLUGIN_TAINT_NO_EXECUTE, false },
		{ "key6", "", "key6:NoSchedule-", PLUGIN_TAINT_NO_SCHEDULE, true },
		{ "key7", "", "key7-", PLUGIN_TAINT_ANY_EFFECT, true },
	};

	assert_int_equal(parse_spec("  type: Taint\n  action: PreGuest\n  data: |\n"
				    "    10.0.0.3 key1=value1:NoSchedule\n"
				    "    10.0.0.4 key2=value2:NoSchedule-\n"
				    "    10.0.0.3-10.0.0.4 key3:NoSchedule\n"
				    "    10.0.0.1,10.0.0.2 key4:PreferNoSchedule\n"
				    "    10.0.0.3 key5=:NoExecute\n"
				    "    #10.0.0.3 key0:NoSchedule\n"
				    "    10.0.0.3 key6:NoSchedule-\n"
				    "    10.0.0.4 key7-\n",
				    &p, &err), 0);
	assert_int_equal(p.type, PLUGIN_TAINT);
	assert_int_equal(p.n_taints, ELEMENTSOF(want));
	for (size_t i = 0; i < NHOSTS; i++)
		sel[i] = true;
	assert_int_equal(plugin_plan(&p, hosts, NHOSTS, sel, &plan, &err), 0);
	assert_int_equal(plan.n_actions, ELEMENTSOF(want));
	assert_int_equal(plan.n_hosts, 4);
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		_cleanup_free_ char *arg = plugin_taint_arg(&plan.actions[i]);
		assert_string_equal(plan.actions[i].key, want[i].key);
		assert_string_equal(plan.actions[i].value, want[i].value);
		assert_int_equal(plan.actions[i].effect, want[i].effect);
		assert_int_equal(plan.actions[i].remove, want[i].remove);
		assert_string_equal(arg, want[i].arg);
	}
	assert_int_equal(plan.actions[8].line, 8);
	plugin_plan_release(&plan);
	plugin_release(&p);

	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 a=b:NoSchedul\n",
		     "taint effect 'NoSchedul' is not one of NoSchedule, PreferNoSchedule, NoExecute",
		     NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 a=b\n", "has no effect",
		     NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 a:b:NoSchedule\n",
		     "more than one ':'", NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 a=b=c:NoSchedule\n",
		     "more than one '='", NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 =b:NoSchedule\n",
		     "taint key ''", NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1 a=b!:NoSchedule\n",
		     "taint value 'b!'", NULL);
	expect_error("  type: TAINT\n  action: PreGuest\n  data: 10.0.0.1\n", "two fields", NULL);
}

static void test_hostname_data(void **state)
{
	(void)state;
	struct plugin p;
	struct plugin_plan plan;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS] = { true, false, true, true };

	assert_int_equal(parse_spec("  type: HOSTNAME\n  action: PreInit|PreJoin\n  data: |\n"
				    "    10.0.0.1 master-0\n    10.0.0.2 master-1.example.com\n"
				    "    10.0.0.3 node-0\n",
				    &p, &err), 0);
	assert_int_equal(p.n_hostnames, 3);
	assert_string_equal(p.hostnames[1].hostname, "master-1.example.com");
	assert_int_equal(plugin_plan(&p, hosts, NHOSTS, sel, &plan, &err), 0);
	assert_int_equal(plan.n_actions, 2);
	assert_string_equal(plan.actions[1].hostname, "node-0");
	assert_int_equal(plan.actions[1].host, 2);
	plugin_plan_release(&plan);
	plugin_release(&p);

	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: 10.0.0.1 Master-0\n",
		     "host name 'Master-0'", "lower-case");
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: 10.0.0.1 a_b\n", "host name 'a_b'",
		     NULL);
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: 10.0.0.1 -a\n", "host name '-a'",
		     NULL);
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: 10.0.0.1 "
		     "a123456789.b123456789.c123456789.d123456789.e123456789.f123456789\n",
		     "too long", NULL);
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: 10.0.0.1-10.0.0.2 a\n",
		     "one host per line", NULL);
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: |\n    10.0.0.1 a\n"
		     "    10.0.0.1 b\n", "spec.data line 2 (line 10): 10.0.0.1 is named twice", NULL);
	expect_error("  type: HOSTNAME\n  action: PreInit\n  data: |\n    10.0.0.1 a\n"
		     "    10.0.0.2 a\n", "given to two hosts", NULL);
}

static void test_clustercheck(void **state)
{
	(void)state;
	struct plugin p;
	struct plugin_plan plan;
	struct errbuf err = ERRBUF_INIT;
	bool sel[NHOSTS] = { false, false, false, false };

	assert_int_equal(parse_spec("  type: CLUSTERCHECK\n  action: PreGuest\n", &p, &err), 0);
	assert_int_equal(plugin_plan(&p, hosts, NHOSTS, sel, &plan, &err), 0);
	assert_int_equal(plan.n_actions, 1);
	assert_int_equal(plan.n_hosts, 1);
	assert_int_equal(plan.actions[0].host, 0);
	plugin_plan_release(&plan);
	plugin_release(&p);
	expect_error("  type: CLUSTERCHECK\n  action: PreGuest\n  data: x\n", "takes no data", NULL);
}

static void test_list_from_clusterfile(void **state)
{
	(void)state;
	static const char text[] = "apiVersion: sealer.cloud/v2\nkind: Cluster\nmetadata: {name: c}\n"
				   "---\n"
				   "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\n"
				   "metadata: {name: one}\nspec: {type: SHELL, action: PreInit, data: x}\n"
				   "---\n"
				   "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\n"
				   "metadata: {name: two}\nspec: {type: SHELL, action: PreInit, data: y}\n";
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct plugin_list list = { 0 };
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(ydoc_parse("Clusterfile", text, strlen(text), NULL, &d, &err), 0);
	assert_int_equal(plugin_list_add_stream(&list, d, "Clusterfile", false, &err), 0);
	assert_int_equal(list.n, 2);
	assert_string_equal(list.v[1].name, "two");
	assert_int_equal(list.v[1].line, 10);
	assert_int_equal(plugin_list_add_stream(&list, d, "plugins/x.yaml", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "plugins/x.yaml:1: kind 'Cluster'"));
	plugin_list_release(&list);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	_cleanup_free_ char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void mkdir_in(const char *dir, const char *rel)
{
	_cleanup_free_ char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void test_load_image(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *link = NULL;
	struct plugin_list list = { 0 };
	struct errbuf err = ERRBUF_INIT;

	assert_true(rootfd >= 0);
	mkdir_in(dir, "plugins");
	mkdir_in(dir, "plugins/sub.yaml");
	mkdir_in(dir, "plugin");
	mkdir_in(dir, "etc");
	write_file(dir, "plugins/b.yml", "apiVersion: sealer.io/v1\nkind: Plugin\n"
		   "metadata: {name: b}\nspec: {type: SHELL, action: PreInit, data: x}\n");
	write_file(dir, "plugins/a.yaml", seed_plugin);
	write_file(dir, "plugins/README", "not yaml: {");
	write_file(dir, "plugin/c.yaml", "---\napiVersion: sealer.io/v1\nkind: Plugin\n"
		   "metadata: {name: c}\nspec: {type: SHELL, action: PreInit, data: x}\n");
	write_file(dir, "etc/inside.yaml", "apiVersion: sealer.io/v1\nkind: Plugin\n"
		   "metadata: {name: d}\nspec: {type: SHELL, action: PreInit, data: x}\n");
	assert_int_equal(symlink("../etc/inside.yaml", link = tmp_path(state, "plugins/d.yaml")), 0);
	assert_int_equal(plugin_load_image(rootfd, &list, &err), 0);
	assert_int_equal(list.n, 4);
	assert_string_equal(list.v[0].name, "taint");
	assert_string_equal(list.v[0].file, "plugins/a.yaml");
	assert_string_equal(list.v[1].name, "b");
	assert_string_equal(list.v[2].name, "d");
	assert_string_equal(list.v[3].name, "c");
	assert_int_equal(list.v[3].line, 2);
	plugin_list_release(&list);

	/* a symlink out of the image is refused, not read */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_true(plugin_load_image(rootfd, &list, &err) < 0);
	assert_non_null(strstr(err.msg, "plugins/d.yaml"));
	plugin_list_release(&list);
	assert_int_equal(unlink(link), 0);

	/* a bad plugin names its file in the image and its line */
	write_file(dir, "plugins/e.yaml", "apiVersion: sealer.io/v1\nkind: Plugin\n"
		   "metadata: {name: e}\nspec: {type: SHELL, action: PreInt, data: x}\n");
	assert_int_equal(plugin_load_image(rootfd, &list, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "plugins/e.yaml:4:"));
	assert_non_null(strstr(err.msg, "unknown phase 'PreInt'"));
	plugin_list_release(&list);
	write_file(dir, "plugins/e.yaml", "apiVersion: v1\nkind: Config\n");
	assert_int_equal(plugin_load_image(rootfd, &list, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "only Plugin documents"));
	plugin_list_release(&list);
}

static void test_load_image_dir_symlink(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *link = tmp_path(state, "plugins");
	struct plugin_list list = { 0 };
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(symlink("/etc", link), 0);
	assert_true(plugin_load_image(rootfd, &list, &err) < 0);
	assert_int_equal(list.n, 0);
	/* no plugins directory at all is fine */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(plugin_load_image(rootfd, &list, &err), 0);
	assert_int_equal(list.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_example),
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test(test_phase_lists),
		cmocka_unit_test(test_unknown_phase_and_type),
		cmocka_unit_test(test_document_fields),
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_select_errors),
		cmocka_unit_test(test_label_selector_phases),
		cmocka_unit_test(test_type_phases),
		cmocka_unit_test(test_label_data),
		cmocka_unit_test(test_data_host_check),
		cmocka_unit_test(test_taint_data),
		cmocka_unit_test(test_hostname_data),
		cmocka_unit_test(test_clustercheck),
		cmocka_unit_test(test_list_from_clusterfile),
		cmocka_unit_test_setup_teardown(test_load_image, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_load_image_dir_symlink, tmpdir_setup,
						tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
}
