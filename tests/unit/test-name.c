#include "helpers.h"

#include "name.h"

static void test_shell_identifier(void **state)
{
	(void)state;
	assert_true(shell_identifier_valid("Version", 7));
	assert_true(shell_identifier_valid("_x1", 3));
	assert_true(shell_identifier_valid("ab=c", 2)); /* only n bytes count */
	assert_false(shell_identifier_valid("1abc", 4));
	assert_false(shell_identifier_valid("etcd-dir", 8));
	assert_false(shell_identifier_valid("a b", 3));
	assert_false(shell_identifier_valid("", 0));
	assert_false(shell_identifier_valid(NULL, 3));
}

static void test_cluster_name(void **state)
{
	(void)state;
	assert_true(cluster_name_valid("my-cluster"));
	assert_true(cluster_name_valid("prod.eu_1"));
	assert_false(cluster_name_valid("../x"));
	assert_false(cluster_name_valid(".hidden"));
	assert_false(cluster_name_valid("-flag"));
	assert_false(cluster_name_valid("Upper"));
	assert_false(cluster_name_valid("a/b"));
	assert_false(cluster_name_valid(""));
	assert_false(cluster_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	assert_false(cluster_name_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_identifier),
		cmocka_unit_test(test_cluster_name),
	};
	return cmocka_run_group_tests_name("name", tests, NULL, NULL);
}
