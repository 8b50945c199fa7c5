/* The hosts phase's check before any host is touched (installer/run/hosts.c): the
 * addresses it writes into /etc/hosts must be IP addresses, not the host names -m
 * accepts. */
#include "helpers.h"

#include <errno.h>

#include "proto-msg.h"
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

/* The mirrors: the fixed list first, whatever images/ holds (a CMD may pull from those),
 * then the registries the import found, each once; the cluster's registry itself is
 * never an upstream; past MSG_MAX_MIRRORS in all the registry phase fails saying so. */
static void test_mirror_sources(void **state)
{
	struct run r = { 0 };
	struct errbuf err = ERRBUF_INIT;
	const char *up[MSG_MAX_MIRRORS];
	char name[32];
	size_t n;

	(void)state;
	n = run_mirror_upstreams(&r, up);
	assert_int_equal(n, 3);
	assert_string_equal(up[0], "registry.k8s.io");
	assert_string_equal(up[1], "docker.io");
	assert_string_equal(up[2], "quay.io");

	assert_int_equal(run_mirror_add(&r, "ghcr.io", &err), 1);
	assert_int_equal(run_mirror_add(&r, "registry.k8s.io", &err), 0);
	assert_int_equal(run_mirror_add(&r, "myreg.example:5000", &err), 1);
	assert_int_equal(run_mirror_add(&r, "ghcr.io", &err), 0);
	assert_int_equal(run_mirror_add(&r, "sea.hub:5000", &err), 0);
	n = run_mirror_upstreams(&r, up);
	assert_int_equal(n, 5);
	assert_string_equal(up[0], "registry.k8s.io");
	assert_string_equal(up[3], "ghcr.io");
	assert_string_equal(up[4], "myreg.example:5000");

	for (size_t i = n; i < MSG_MAX_MIRRORS; i++) {
		snprintf(name, sizeof(name), "r%zu.example", i);
		assert_int_equal(run_mirror_add(&r, name, &err), 1);
	}
	assert_int_equal(run_mirror_upstreams(&r, up), MSG_MAX_MIRRORS);
	assert_int_equal(run_mirror_add(&r, "one-more.example", &err), -E2BIG);
	assert_non_null(strstr(err.msg, "one-more.example"));
	assert_int_equal(run_mirror_add(&r, "ghcr.io", &err), 0); /* known: still fine */
	run_mirror_release(&r);
	assert_int_equal(r.n_mirror_sources, 0);
	assert_null(r.mirror_sources);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_mirror_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
