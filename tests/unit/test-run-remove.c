/* The removal's table (installer/run/apply.c): PreClean, drain, the cleans, delete node,
 * PostClean, in that order; none of them on hosts[0] (master0, where kubectl runs, is not
 * removed); the cleans split by role, the masters and everything that uses master0's
 * session (drain, delete node) one host at a time; the node's deletion after its host's
 * reset (a kubelet still running registers its node again). */
#include "helpers.h"

#include "run/run-internal.h"

static void test_order_and_hosts(void **state)
{
	static const char *const names[] = { "PreClean", "drain", "clean nodes", "clean masters",
					     "delete node", "PostClean" };
	struct cluster_host specs[3] = {
		{ .ip = (char *)"10.0.0.1", .role = ROLE_MASTER },
		{ .ip = (char *)"10.0.0.2", .role = ROLE_MASTER },
		{ .ip = (char *)"10.0.0.3", .role = ROLE_NODE },
	};
	struct host_state hosts[3] = { { .spec = &specs[0] }, { .spec = &specs[1] },
				       { .spec = &specs[2] } };
	struct run r = { .hosts = hosts, .n = 3 };
	(void)state;

	assert_int_equal(run_remove_pipeline_len, ELEMENTSOF(names));
	for (size_t k = 0; k < run_remove_pipeline_len; k++) {
		const struct phase *p = &run_remove_pipeline[k];
		bool nodes = strcmp(p->name, "clean nodes") == 0;
		bool masters = strcmp(p->name, "clean masters") == 0;

		assert_string_equal(p->name, names[k]);
		assert_non_null(p->run);
		assert_non_null(p->on);
		assert_false(p->on->pick(&r, 0));
		assert_true(p->on->pick(&r, 1) == !nodes);
		assert_true(p->on->pick(&r, 2) == !masters);
		if (nodes || masters)
			assert_true(p->run == phase_clean);
		bool one = strcmp(p->name, "drain") == 0 || masters ||
			   strcmp(p->name, "delete node") == 0;
		assert_true(!!(p->flags & PHASE_ONE_AT_A_TIME) == one);
		/* nothing here may stop the others: a host that fails stays to clean */
		assert_false(p->flags & (PHASE_ALL_OR_NOTHING | PHASE_NEEDED_BY_ALL));
	}
	assert_true(run_remove_pipeline[0].skip == run_no_plugins_pre_clean);
	assert_true(run_remove_pipeline[5].skip == run_no_plugins_post_clean);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_hosts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
