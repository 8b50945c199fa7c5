/* What an apply changes (installer/cluster-diff.c): hosts added and removed in one apply,
 * refusals (role change in place, master0 left out, registry moved), master0 kept first,
 * input changes named, and the join/delete edits of a saved definition. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>

#include "cluster-diff.h"
#include "clusterfile.h"
#include "macro.h"

#define HEAD "apiVersion: sealer.cloud/v2\nkind: Cluster\nmetadata: {name: c1}\nspec:\n" \
	     "  image: app:v1\n  ssh: {passwd: pw}\n"

static const char base[] = HEAD
	"  env: [A=1]\n"
	"  hosts:\n"
	"    - {ips: [10.0.0.1, 10.0.0.2], roles: [master]}\n"
	"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";

static void load(const char *text, struct cluster *c)
{
	struct errbuf err = ERRBUF_INIT;
	if (clusterfile_parse("cf.yaml", text, strlen(text), c, &err) < 0 ||
	    cluster_finish(c, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
}

static int diff(const char *saved_text, const char *want_text, bool allow_master0,
		struct cluster *saved, struct cluster *want, struct cluster_diff *d,
		struct errbuf *err)
{
	load(saved_text, saved);
	load(want_text, want);
	return cluster_diff(saved, want, allow_master0, d, err);
}

static void test_nothing_changed(void **state)
{
	(void)state;
	struct cluster s = { 0 }, w = { 0 };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	/* the same hosts, the masters listed in another order, env items the same */
	static const char same[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.4, 10.0.0.3], roles: [node]}\n"
		"    - {ips: [10.0.0.2, 10.0.0.1], roles: [master]}\n";
	assert_int_equal(diff(base, same, false, &s, &w, &d, &err), 0);
	assert_true(cluster_diff_empty(&d));
	assert_string_equal(w.hosts[0].ip, "10.0.0.1"); /* master0 stays master0 */
	char out[256] = { 0 };
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	cluster_diff_print(&d, f);
	fclose(f);
	assert_non_null(strstr(out, "nothing to change"));
	cluster_diff_release(&d);
	cluster_release(&s);
	cluster_release(&w);
}

static void test_scale_up_and_down_at_once(void **state)
{
	(void)state;
	struct cluster s = { 0 }, w = { 0 };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	static const char want[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2, 10.0.0.5], roles: [master]}\n"
		"    - {ips: [10.0.0.4, 10.0.0.6], roles: [node]}\n";
	assert_int_equal(diff(base, want, false, &s, &w, &d, &err), 0);
	assert_int_equal(d.nadded, 2);
	assert_string_equal(d.added[0]->ip, "10.0.0.5");
	assert_int_equal(d.added[0]->role, ROLE_MASTER);
	assert_string_equal(d.added[1]->ip, "10.0.0.6");
	assert_int_equal(d.nremoved, 1);
	assert_string_equal(d.removed[0]->ip, "10.0.0.3");
	assert_int_equal(d.removed[0]->role, ROLE_NODE);
	assert_int_equal(d.nenv_changed, 0);
	assert_false(d.image_changed || d.configs_changed || d.plugins_changed);
	char out[1024] = { 0 };
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	cluster_diff_print(&d, f);
	fclose(f);
	assert_non_null(strstr(out, "+ master 10.0.0.5"));
	assert_non_null(strstr(out, "+ node   10.0.0.6"));
	assert_non_null(strstr(out, "- node   10.0.0.3"));
	cluster_diff_release(&d);
	cluster_release(&s);
	cluster_release(&w);
}

static void test_refusals(void **state)
{
	(void)state;
	static const char role_change[] = HEAD
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2, 10.0.0.3], roles: [master]}\n"
		"    - {ips: [10.0.0.4], roles: [node]}\n";
	static const char no_master0[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	static const char registry[] = HEAD
		"  env: [A=1]\n"
		"  registry: {host: 10.0.0.2}\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	static const char all_masters[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.5], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	const struct {
		const char *want;
		bool allow;
		const char *says;
	} cases[] = {
		{ role_change, false, "10.0.0.3 is a node of cluster c1 and a master" },
		{ no_master0, false, "--allow-master0-removal" },
		{ registry, false, "registry cannot move" },
		/* the registry runs on master0 when no host is given: it would leave with it */
		{ no_master0, true, "leaves that host out" },
		{ all_masters, true, "keeps none of the masters" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct cluster s = { 0 }, w = { 0 };
		struct cluster_diff d;
		struct errbuf err = ERRBUF_INIT;
		assert_int_equal(diff(base, cases[i].want, cases[i].allow, &s, &w, &d, &err), -EINVAL);
		if (!strstr(errbuf_msg(&err), cases[i].says))
			fail_msg("case %zu: %s", i, errbuf_msg(&err));
		cluster_release(&s);
		cluster_release(&w);
	}
	/* master0 left out, allowed, the registry elsewhere: it is removed, the other master
	 * goes first */
	static const char reg2[] = HEAD
		"  env: [A=1]\n"
		"  registry: {host: 10.0.0.2}\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	static const char reg2_no_master0[] = HEAD
		"  env: [A=1]\n"
		"  registry: {host: 10.0.0.2}\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	struct cluster s = { 0 }, w = { 0 };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	assert_int_equal(diff(reg2, reg2_no_master0, true, &s, &w, &d, &err), 0);
	assert_int_equal(d.nremoved, 1);
	assert_string_equal(d.removed[0]->ip, "10.0.0.1");
	assert_string_equal(w.hosts[0].ip, "10.0.0.2");
	/* a removal, but of master0: the run goes over the hosts first (apiserver.cluster.local
	 * moves to the new master0 everywhere), and the plan says so */
	assert_true(d.master0_changed);
	assert_true(cluster_apply_installs(&d));
	char out[1024] = { 0 };
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	cluster_diff_print(&d, f);
	fclose(f);
	assert_non_null(strstr(out, "master0 is now 10.0.0.2"));
	cluster_diff_release(&d);
	cluster_release(&s);
	cluster_release(&w);
}

/* one host, two spellings of its IPv6 address: neither removed nor added */
static void test_address_spellings(void **state)
{
	(void)state;
	static const char v6[] = HEAD
		"  hosts:\n"
		"    - {ips: ['fd00::1'], roles: [master]}\n"
		"    - {ips: ['fd00::2'], roles: [node]}\n";
	static const char v6b[] = HEAD
		"  hosts:\n"
		"    - {ips: ['fd00:0::1'], roles: [master]}\n"
		"    - {ips: ['fd00:0:0::2'], roles: [node]}\n";
	struct cluster s = { 0 }, w = { 0 };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	if (diff(v6, v6b, false, &s, &w, &d, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_true(cluster_diff_empty(&d));
	cluster_diff_release(&d);
	cluster_release(&s);
	cluster_release(&w);
}

static void test_inputs_changed(void **state)
{
	(void)state;
	static const char want[] = HEAD
		"  env: [A=1]\n"
		"  cmd_args: [X=2]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3], roles: [node]}\n"
		"    - {ips: [10.0.0.4], roles: [node], env: [B=2]}\n"
		"---\n"
		"apiVersion: sealer.aliyun.com/v1alpha1\n"
		"kind: Config\n"
		"metadata: {name: c}\n"
		"spec: {path: etc/x.yaml, data: 'a: 1'}\n"
		"---\n"
		"apiVersion: kubeadm.k8s.io/v1beta3\n"
		"kind: ClusterConfiguration\n"
		"networking: {podSubnet: 10.99.0.0/16}\n";
	struct cluster s = { 0 }, w = { 0 };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	assert_int_equal(diff(base, want, false, &s, &w, &d, &err), 0);
	assert_int_equal(d.nenv_changed, 1);
	assert_string_equal(d.env_changed[0]->ip, "10.0.0.4");
	assert_true(d.configs_changed && d.kubeadm_changed && d.cmd_args_changed);
	assert_false(d.plugins_changed || d.image_changed || d.nadded || d.nremoved);
	cluster_diff_release(&d);
	cluster_release(&s);
	cluster_release(&w);

	/* the global env changes every host's; the image is named as changed */
	static const char env_all[] = "apiVersion: sealer.cloud/v2\nkind: Cluster\n"
		"metadata: {name: c1}\nspec:\n  image: app:v2\n  ssh: {passwd: pw}\n"
		"  env: [A=2]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1, 10.0.0.2], roles: [master]}\n"
		"    - {ips: [10.0.0.3, 10.0.0.4], roles: [node]}\n";
	struct cluster s2 = { 0 }, w2 = { 0 };
	assert_int_equal(diff(base, env_all, false, &s2, &w2, &d, &err), 0);
	assert_int_equal(d.nenv_changed, 4);
	assert_true(d.image_changed);
	cluster_diff_release(&d);
	cluster_release(&s2);
	cluster_release(&w2);
}

static void test_join_and_remove(void **state)
{
	(void)state;
	struct cluster c = { 0 };
	struct errbuf err = ERRBUF_INIT;
	struct ssh_settings ssh = { .user = (char *)"ops", .password = (char *)"other", .port = 2222 };
	struct kv env[] = { { (char *)"ZONE", (char *)"b" } };

	load(base, &c);
	assert_int_equal(cluster_join_hosts(&c, "10.0.0.7", ROLE_NODE, &ssh, env, 1, &err), 0);
	assert_int_equal(cluster_join_hosts(&c, "10.0.0.8", ROLE_MASTER, NULL, NULL, 0, &err), 0);
	assert_int_equal(cluster_finish(&c, &err), 0);
	assert_int_equal(c.nhosts, 6);
	assert_string_equal(c.hosts[0].ip, "10.0.0.1");
	assert_string_equal(c.hosts[2].ip, "10.0.0.8"); /* masters first, master0 unchanged */
	const struct cluster_host *n7 = &c.hosts[5];
	assert_string_equal(n7->ip, "10.0.0.7");
	assert_string_equal(n7->ssh.user, "ops");
	assert_string_equal(n7->ssh.password, "other");
	assert_int_equal(n7->ssh.port, 2222);
	assert_string_equal(c.hosts[2].ssh.password, "pw"); /* the cluster's */
	assert_int_equal(cluster_join_hosts(&c, "10.0.0.3", ROLE_NODE, NULL, NULL, 0, &err),
			 -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "listed twice"));

	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.2", ROLE_NODE, false, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "10.0.0.2 is not a node of cluster c1"));
	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.1", ROLE_MASTER, false, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "master0"));
	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.3,10.0.0.7", ROLE_NODE, false, &err), 0);
	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.2", ROLE_MASTER, false, &err), 0);
	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.1", ROLE_MASTER, true, &err), 0);
	assert_int_equal(c.nhosts, 2);
	assert_string_equal(c.hosts[0].ip, "10.0.0.8");
	assert_int_equal(cluster_remove_hosts(&c, "10.0.0.8", ROLE_MASTER, true, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "delete --all"));
	cluster_release(&c);
}


static char *plan_of(const struct cluster_diff *d, const struct cluster *rec)
{
	static char out[4096];
	memset(out, 0, sizeof(out));
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	cluster_apply_plan_print(d, rec, f);
	fclose(f);
	return out;
}

/* The record of hosts still to clean across applies: a removed host enters it once, one
 * the new definition has again leaves it (it is joined, not cleaned), a cleaned one is
 * dropped; each copy keeps its role, ssh settings and env. */
static void test_to_clean_record(void **state)
{
	(void)state;
	struct cluster s = { 0 }, w = { 0 }, rec = { .name = (char *)"c1" };
	struct cluster_diff d;
	struct errbuf err = ERRBUF_INIT;
	static const char down[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1], roles: [master]}\n"
		"    - {ips: [10.0.0.4], roles: [node]}\n";
	assert_int_equal(diff(base, down, false, &s, &w, &d, &err), 0);
	assert_int_equal(cluster_to_clean_update(&rec, &w, &d), 2);
	assert_string_equal(rec.hosts[0].ip, "10.0.0.2");
	assert_int_equal(rec.hosts[0].role, ROLE_MASTER);
	assert_string_equal(rec.hosts[1].ip, "10.0.0.3");
	assert_int_equal(rec.hosts[1].role, ROLE_NODE);
	assert_string_equal(rec.hosts[1].ssh.password, "pw");
	assert_int_equal(rec.hosts[1].ssh.port, 22);
	assert_int_equal(rec.hosts[1].nenv, 1);
	assert_string_equal(rec.hosts[1].env[0].value, "1");
	/* the same removal again (a re-run) adds nothing */
	assert_int_equal(cluster_to_clean_update(&rec, &w, &d), 2);
	/* the plan: removals alone, the kept hosts not run again */
	const char *plan = plan_of(&d, &rec);
	assert_non_null(strstr(plan, "- master 10.0.0.2"));
	assert_non_null(strstr(plan, "- node   10.0.0.3"));
	assert_non_null(strstr(plan, "only removals"));
	assert_false(cluster_apply_installs(&d));
	cluster_diff_release(&d);
	cluster_release(&s);
	/* the next apply takes 10.0.0.3 back and changes nothing else: it leaves the record,
	 * 10.0.0.2 stays in it, named as left by an earlier apply; the run comes first */
	static const char back[] = HEAD
		"  env: [A=1]\n"
		"  hosts:\n"
		"    - {ips: [10.0.0.1], roles: [master]}\n"
		"    - {ips: [10.0.0.4, 10.0.0.3], roles: [node]}\n";
	struct cluster w2 = { 0 };
	load(back, &w2);
	assert_int_equal(cluster_diff(&w, &w2, false, &d, &err), 0);
	assert_int_equal(cluster_to_clean_update(&rec, &w2, &d), 1);
	assert_string_equal(rec.hosts[0].ip, "10.0.0.2");
	assert_true(cluster_apply_installs(&d));
	plan = plan_of(&d, &rec);
	assert_non_null(strstr(plan, "+ node   10.0.0.3"));
	assert_non_null(strstr(plan, "- master 10.0.0.2        still to clean from an earlier apply"));
	const char *run = strstr(plan, "order: every host of the new definition through the run");
	assert_non_null(run);
	assert_non_null(strstr(run, "then the removed hosts"));
	cluster_diff_release(&d);
	/* cleaned: dropped; a host not in it is -ENOENT */
	assert_int_equal(cluster_to_clean_done(&rec, "10.0.0.2"), 0);
	assert_int_equal(rec.nhosts, 0);
	assert_int_equal(cluster_to_clean_done(&rec, "10.0.0.2"), -ENOENT);
	/* nothing at all: nothing to change, no order line */
	assert_int_equal(cluster_diff(&w2, &w2, false, &d, &err), 0);
	assert_true(cluster_apply_installs(&d)); /* the run still verifies */
	plan = plan_of(&d, &rec);
	assert_non_null(strstr(plan, "nothing to change"));
	assert_null(strstr(plan, "order:"));
	cluster_diff_release(&d);
	rec.name = NULL;
	cluster_release(&rec);
	cluster_release(&w);
	cluster_release(&w2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_changed),
		cmocka_unit_test(test_scale_up_and_down_at_once),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_inputs_changed),
		cmocka_unit_test(test_address_spellings),
		cmocka_unit_test(test_join_and_remove),
		cmocka_unit_test(test_to_clean_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
