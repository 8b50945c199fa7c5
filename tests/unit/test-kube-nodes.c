/* kubectl's answers decoded for the plugins (plugins/kube-nodes.c): nodes (names checked,
 * InternalIP, Ready, taints), hosts found by address (none, several), pods' health, and
 * the words of `kubectl label|taint node` (a hostile node name never becomes a flag). */
#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "cleanup.h"
#include "kube-nodes.h"

/* One node as `kubectl get nodes -o json` prints it (the fields the decoder reads, and
 * some it does not). */
#define NODE(name, ip, ready, taints)                                                         \
	"{\"apiVersion\": \"v1\", \"kind\": \"Node\",\n"                                       \
	" \"metadata\": {\"name\": \"" name "\", \"labels\": {\"kubernetes.io/os\": \"linux\"}},\n" \
	" \"spec\": {" taints "},\n"                                                          \
	" \"status\": {\"addresses\": [{\"address\": \"" ip "\", \"type\": \"InternalIP\"},\n"  \
	"   {\"address\": \"" name "\", \"type\": \"Hostname\"}],\n"                            \
	"  \"conditions\": [{\"type\": \"MemoryPressure\", \"status\": \"False\"},\n"           \
	"   {\"type\": \"Ready\", \"status\": \"" ready "\"}]}}"
#define LIST(...) "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [" __VA_ARGS__ "]}"

static int parse(const char *text, struct kube_nodes *n, struct errbuf *err)
{
	return kube_nodes_parse(text, strlen(text), n, err);
}

static void test_nodes(void **state)
{
	struct kube_nodes n;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_int_equal(parse(LIST(NODE("m0", "10.0.0.1", "True",
					 "\"taints\": [{\"key\": \"node-role.kubernetes.io/control-plane\", "
					 "\"effect\": \"NoSchedule\"}, {\"key\": \"a\", \"value\": \"b\", "
					 "\"effect\": \"NoExecute\"}]") ",\n"
				    NODE("n1.lab", "10.0.0.2", "Unknown", "")),
			       &n, &err), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.v[0].name, "m0");
	assert_string_equal(n.v[0].ip, "10.0.0.1");
	assert_true(n.v[0].ready);
	assert_false(n.v[1].ready);
	assert_int_equal(n.v[0].n_taints, 2);
	assert_string_equal(n.v[0].taints[1].value, "b");
	assert_true(kube_node_has_taint(&n.v[0], "node-role.kubernetes.io/control-plane",
					PLUGIN_TAINT_NO_SCHEDULE));
	assert_true(kube_node_has_taint(&n.v[0], "a", PLUGIN_TAINT_ANY_EFFECT));
	assert_false(kube_node_has_taint(&n.v[0], "a", PLUGIN_TAINT_NO_SCHEDULE));
	assert_false(kube_node_has_taint(&n.v[1], "a", PLUGIN_TAINT_ANY_EFFECT));
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.2", &err), 1);
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.3", &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "no node has InternalIP 10.0.0.3"));
	/* "10.0.0.1" is not a prefix match of "10.0.0.10" */
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.10", &err), -ENOENT);
	kube_nodes_release(&n);
}

/* Two nodes with one InternalIP: the host cannot be told apart, said so. */
static void test_duplicate_internal_ip(void **state)
{
	struct kube_nodes n;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_int_equal(parse(LIST(NODE("a", "10.0.0.1", "True", "") ","
				    NODE("b", "10.0.0.1", "True", "")), &n, &err), 0);
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.1", &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "nodes a and b both have InternalIP 10.0.0.1"));
	kube_nodes_release(&n);
}

/* A dual-stack node lists an InternalIP per family, the host's not always first; an
 * address is found in any spelling; a node listing hundreds of addresses is no answer. */
static void test_dual_stack_and_spellings(void **state)
{
	struct kube_nodes n;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_buf_ struct buf many = BUF_INIT(1u << 20);
	(void)state;

	assert_int_equal(parse(LIST(NODE("a", "fd00::0001", "True", "") ","
				    "{\"metadata\": {\"name\": \"b\"}, \"status\": {\"addresses\": ["
				    "{\"type\": \"InternalIP\", \"address\": \"fd00::2\"},"
				    "{\"type\": \"InternalIP\", \"address\": \"10.0.0.2\"}]}}"),
			       &n, &err), 0);
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.2", &err), 1);
	assert_int_equal(kube_nodes_find_ip(&n, "fd00::2", &err), 1);
	assert_int_equal(kube_nodes_find_ip(&n, "fd00:0::1", &err), 0);
	assert_true(kube_node_has_ip(&n.v[0], "FD00::1"));
	assert_false(kube_node_has_ip(&n.v[0], "10.0.0.1"));
	assert_false(kube_node_has_ip(&n.v[0], "not an address"));
	kube_nodes_release(&n);

	buf_printf(&many, "{\"items\": [{\"metadata\": {\"name\": \"c\"}, \"status\": {\"addresses\": [");
	for (int i = 0; i < 65; i++)
		buf_printf(&many, "%s{\"type\": \"InternalIP\", \"address\": \"10.1.0.%d\"}", i ? "," : "", i);
	buf_printf(&many, "]}}]}");
	assert_int_equal(kube_nodes_parse(many.data, many.len, &n, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "more than 64 status.addresses"));
}

/* Nothing, an empty list, a node without addresses: no node, no error. */
static void test_empty_answers(void **state)
{
	struct kube_nodes n;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_int_equal(parse("", &n, &err), 0);
	assert_int_equal(n.n, 0);
	assert_int_equal(parse("{\"apiVersion\": \"v1\", \"items\": [], \"kind\": \"List\", "
			       "\"metadata\": {\"resourceVersion\": \"\"}}", &n, &err), 0);
	assert_int_equal(n.n, 0);
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.1", &err), -ENOENT);
	kube_nodes_release(&n);
	assert_int_equal(parse(LIST("{\"metadata\": {\"name\": \"x\"}}"), &n, &err), 0);
	assert_int_equal(n.n, 1);
	assert_null(n.v[0].ip);
	assert_false(n.v[0].ready);
	assert_int_equal(kube_nodes_find_ip(&n, "10.0.0.1", &err), -ENOENT);
	kube_nodes_release(&n);
}

/* Names that would be a flag, a shell word or no Kubernetes name; addresses that are
 * not; answers that are not a List: refused, naming what. */
static void test_hostile_answers(void **state)
{
	static const char *const names[] = { "--all", "-l", "A", "a b", "$(reboot)", "a;b",
					     "x/../y", "", "a\\nb" };
	static const char *const ips[] = { "10.0.0.1; reboot", "999.0.0.1", "", "10.0.0.1 ",
					   "localhost" };
	struct kube_nodes n;
	struct errbuf err = ERRBUF_INIT;
	char text[4096];
	(void)state;

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(text, sizeof(text), LIST(NODE("%s", "10.0.0.1", "True", "")), names[i], names[i]);
		assert_int_equal(parse(text, &n, &err), -EBADMSG);
		assert_non_null(strstr(errbuf_msg(&err), "node name"));
		assert_int_equal(n.n, 0);
	}
	memset(text, 'a', 300);
	text[300] = '\0';
	{
		char long_doc[4096];
		snprintf(long_doc, sizeof(long_doc), LIST(NODE("%s", "10.0.0.1", "True", "")), text, "x");
		assert_int_equal(parse(long_doc, &n, &err), -EBADMSG);
	}
	for (size_t i = 0; i < ELEMENTSOF(ips); i++) {
		snprintf(text, sizeof(text), LIST(NODE("n", "%s", "True", "")), ips[i]);
		assert_int_equal(parse(text, &n, &err), -EBADMSG);
		assert_non_null(strstr(errbuf_msg(&err), "is not an address"));
	}
	assert_int_equal(parse(LIST(NODE("n", "10.0.0.1", "True",
					  "\"taints\": [{\"key\": \"k\", \"effect\": \"Sometimes\"}]")),
			       &n, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "node n: taint 1"));
	assert_true(parse("[1, 2]", &n, &err) < 0);
	assert_true(parse("{\"items\": {\"a\": 1}}", &n, &err) < 0);
	assert_true(parse("{\"items\": [", &n, &err) < 0);
	assert_true(parse(LIST("{\"metadata\": {}}"), &n, &err) < 0);
	assert_true(parse("{} {}", &n, &err) < 0);
	assert_int_equal(n.n, 0);
}

static void test_pods(void **state)
{
	struct errbuf err = ERRBUF_INIT;
	size_t n;
	char *bad;
	(void)state;

#define POD(name, phase) "{\"metadata\": {\"name\": \"" name "\"}, \"status\": {\"phase\": \"" phase "\"}}"
	assert_int_equal(kube_pods_parse("", 0, &n, &bad, &err), 0);
	assert_int_equal(n, 0);
	assert_null(bad);
	const char *ok = LIST(POD("etcd-m0", "Running") "," POD("job-x", "Succeeded"));
	assert_int_equal(kube_pods_parse(ok, strlen(ok), &n, &bad, &err), 0);
	assert_int_equal(n, 2);
	assert_null(bad);
	const char *some = LIST(POD("etcd-m0", "Running") "," POD("coredns-1", "Pending") ","
				"{\"metadata\": {\"name\": \"x\"}}");
	assert_int_equal(kube_pods_parse(some, strlen(some), &n, &bad, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(bad, "coredns-1 (Pending), x (no phase)");
	free(bad);
	const char *many = LIST(POD("a", "Failed") "," POD("b", "Failed") "," POD("c", "Failed") ","
				POD("d", "Failed") "," POD("e", "Failed") "," POD("f", "Failed") ","
				POD("g", "Unknown"));
	assert_int_equal(kube_pods_parse(many, strlen(many), &n, &bad, &err), 0);
	assert_non_null(strstr(bad, "e (Failed) and 2 more"));
	free(bad);
	const char *hostile = LIST(POD("$(x)", "Running"));
	assert_int_equal(kube_pods_parse(hostile, strlen(hostile), &n, &bad, &err), -EBADMSG);
	assert_null(bad);
#undef POD
}

static void test_action_argv(void **state)
{
	struct plugin_action label = { .key = "role", .value = "" };
	struct plugin_action add = { .key = "dedicated", .value = "infra",
				     .effect = PLUGIN_TAINT_NO_SCHEDULE };
	struct plugin_action rm = { .key = "node-role.kubernetes.io/control-plane",
				    .effect = PLUGIN_TAINT_ANY_EFFECT, .remove = true };
	struct errbuf err = ERRBUF_INIT;
	char **argv;
	size_t n;
	(void)state;

	assert_int_equal(kube_action_argv(PLUGIN_LABEL, &label, "n1.lab", &argv, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(argv[0], "label");
	assert_string_equal(argv[1], "node");
	assert_string_equal(argv[2], "n1.lab");
	assert_string_equal(argv[3], "role=");
	assert_string_equal(argv[4], "--overwrite");
	assert_null(argv[5]);
	kube_argv_free(argv);
	assert_int_equal(kube_action_argv(PLUGIN_TAINT, &add, "m0", &argv, &n, &err), 0);
	assert_string_equal(argv[0], "taint");
	assert_string_equal(argv[3], "dedicated=infra:NoSchedule");
	kube_argv_free(argv);
	assert_int_equal(kube_action_argv(PLUGIN_TAINT, &rm, "m0", &argv, &n, &err), 0);
	assert_string_equal(argv[3], "node-role.kubernetes.io/control-plane-");
	kube_argv_free(argv);
	/* a node name kubectl would read as a flag, or that is no name */
	assert_int_equal(kube_action_argv(PLUGIN_LABEL, &label, "--all", &argv, &n, &err), -EINVAL);
	assert_null(argv);
	assert_int_equal(kube_action_argv(PLUGIN_LABEL, &label, "a b", &argv, &n, &err), -EINVAL);
	assert_int_equal(kube_action_argv(PLUGIN_SHELL, &label, "m0", &argv, &n, &err), -EINVAL);
	assert_null(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes),
		cmocka_unit_test(test_duplicate_internal_ip),
		cmocka_unit_test(test_dual_stack_and_spellings),
		cmocka_unit_test(test_empty_answers),
		cmocka_unit_test(test_hostile_answers),
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_action_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
