/* The preflight table's hostname check (installer/run/facts.c, run_preflight): hostnames
 * are compared case-blind (kubeadm's node names are lower-cased: "Web1" and "web1" are one
 * node), and with a Kubernetes base image a hostname that is no node name once lower-cased
 * fails the host before anything is changed; --skip-preflight=hostname skips both. */
#include "helpers.h"

#include <errno.h>

#include "cleanup.h"
#include "run/run-internal.h"
#include "ydoc.h"

struct fixture {
	struct cluster_host spec[2];
	struct host_state hosts[2];
	struct ydoc *docs[2];
	struct run_opts o;
	struct run r;
};

static void facts(struct fixture *f, size_t i, const char *hostname, const char *mid)
{
	_cleanup_free_ char *y = xasprintf(
		"hostname: '%s'\nmachine_id: %s\narch: x86_64\nsystemd: {pid1: true, bus: true}\n"
		"var_lib_free_bytes: 1000000000\ncapabilities: [cap_sys_admin, cap_chown, "
		"cap_dac_override, cap_fowner, cap_mknod, cap_setfcap]\n", hostname, mid);
	struct errbuf err = ERRBUF_INIT;

	ydoc_free(f->docs[i]);
	assert_int_equal(ydoc_parse("facts", y, strlen(y), NULL, &f->docs[i], &err), 0);
	f->hosts[i] = (struct host_state){ .spec = &f->spec[i],
					   .facts = (struct ynode *)ydoc_root(f->docs[i], 0) };
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->spec[0].ip = (char *)"10.0.0.1";
	f->spec[1].ip = (char *)"10.0.0.2";
	f->r = (struct run){ .o = &f->o, .hosts = f->hosts, .n = 2 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ydoc_free(f->docs[0]);
	ydoc_free(f->docs[1]);
	free(f);
	return 0;
}

static void test_hostnames_differing_in_case_collide(void **state)
{
	struct fixture *f = *state;

	facts(f, 0, "web1", "aa");
	facts(f, 1, "Web1", "bb");
	assert_int_equal(run_preflight(&f->r), -EPERM);
	assert_false(f->hosts[0].failed);
	assert_true(f->hosts[1].failed);
	assert_non_null(strstr(errbuf_msg(&f->hosts[1].err), "hostname Web1 also on 10.0.0.1"));

	facts(f, 0, "web1", "aa");
	facts(f, 1, "Web1", "bb");
	f->o.skip_preflight = "hostname";
	assert_int_equal(run_preflight(&f->r), 0);
}

static void test_node_names_with_kubeadm(void **state)
{
	struct fixture *f = *state;

	/* upper case is fine: kubeadm lower-cases it */
	facts(f, 0, "Master-0", "aa");
	facts(f, 1, "web_01", "bb");
	assert_int_equal(run_preflight(&f->r), 0); /* no kubeadm: no node names */

	facts(f, 0, "Master-0", "aa");
	facts(f, 1, "web_01", "bb");
	f->r.has_kubeadm = true;
	assert_int_equal(run_preflight(&f->r), -EPERM);
	assert_false(f->hosts[0].failed);
	assert_true(f->hosts[1].failed);
	assert_non_null(strstr(errbuf_msg(&f->hosts[1].err),
			       "hostname web_01 is no Kubernetes node name once lower-cased"));

	facts(f, 0, "Master-0", "aa");
	facts(f, 1, "web_01", "bb");
	f->o.skip_preflight = "disk,hostname";
	assert_int_equal(run_preflight(&f->r), 0);

	/* a HOSTNAME plugin renames hosts before kubeadm: their names then are its */
	struct plugin p = { .type = PLUGIN_HOSTNAME };
	facts(f, 0, "Master-0", "aa");
	facts(f, 1, "web_01", "bb");
	f->o.skip_preflight = NULL;
	f->r.plugins = (struct plugin_list){ .v = &p, .n = 1 };
	assert_int_equal(run_preflight(&f->r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hostnames_differing_in_case_collide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_names_with_kubeadm, setup, teardown),
	};
	return cmocka_run_group_tests_name("run-preflight", tests, NULL, NULL);
}
