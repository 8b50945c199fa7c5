/* The hosts phase's check before any host is touched (installer/run/hosts.c): the
 * addresses it writes into /etc/hosts must be IP addresses, not the host names -m
 * accepts. */
#include "helpers.h"

#include <errno.h>

#include "run/run-internal.h"

static void test_addresses(void **state)
{
	struct cluster_host hosts[2] = { { .ip = (char *)"10.0.0.1" }, { .ip = (char *)"10.0.0.2" } };
	struct cluster c = { .hosts = hosts, .nhosts = 2 };
	struct run r = { .c = &c };
	struct errbuf err = ERRBUF_INIT;

	(void)state;
	assert_int_equal(run_hosts_check(&r, &err), 0);
	c.registry_host = (char *)"10.0.0.2";
	assert_int_equal(run_hosts_check(&r, &err), 0);
	hosts[0].ip = (char *)"fd00::1";
	assert_int_equal(run_hosts_check(&r, &err), 0);

	hosts[0].ip = (char *)"master-a.example";
	assert_int_equal(run_hosts_check(&r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "master0 'master-a.example' is a host name"));
	assert_non_null(strstr(err.msg, "-m"));

	hosts[0].ip = (char *)"10.0.0.1";
	c.registry_host = (char *)"node-b";
	assert_int_equal(run_hosts_check(&r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "spec.registry.host 'node-b'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
