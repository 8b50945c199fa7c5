#include "helpers.h"

#include <errno.h>

#include "cluster.h"
#include "clusterfile.h"
#include "macro.h"

static const char good[] =
	"apiVersion: sealer.cloud/v2\n"
	"kind: Cluster\n"
	"metadata:\n"
	"  name: my-cluster\n"
	"spec:\n"
	"  image: kubernetes:v1.19.8\n"
	"  env:\n"
	"    - Role=worker\n"
	"    - Ip=a\n"
	"    - Ip=b\n"
	"  ssh:\n"
	"    passwd: \"000000\"\n"
	"    port: \"2222\"\n"
	"  hosts:\n"
	"    - ips: [10.0.0.5]\n"
	"      roles: [node, db]\n"
	"      env: [Role=database]\n"
	"    - ips: [10.0.0.2, 10.0.0.3]\n"
	"      roles: [master, node]\n"
	"      ssh: {user: deploy, port: 22}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"spec: {type: SHELL}\n";

static const char *env_of(const struct cluster_host *h, const char *key)
{
	for (size_t i = 0; i < h->nenv; i++)
		if (strcmp(h->env[i].key, key) == 0)
			return h->env[i].value;
	return NULL;
}

static void test_good(void **state)
{
	(void)state;
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;

	if (clusterfile_parse("Clusterfile", good, strlen(good), &c, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_int_equal(cluster_finish(&c, &err), 0);
	assert_string_equal(c.name, "my-cluster");
	assert_string_equal(c.image, "kubernetes:v1.19.8");
	assert_int_equal(c.nhosts, 3);
	/* master0 is the first master, even though a node group came first */
	assert_string_equal(c.hosts[0].ip, "10.0.0.2");
	assert_int_equal(c.hosts[0].role, ROLE_MASTER);
	assert_int_equal(c.hosts[1].role, ROLE_MASTER); /* master and node: a master */
	assert_string_equal(c.hosts[2].ip, "10.0.0.5");
	assert_int_equal(c.hosts[2].role, ROLE_NODE);
	/* ssh: host fields over global ones, field by field */
	assert_string_equal(c.hosts[0].ssh.user, "deploy");
	assert_int_equal(c.hosts[0].ssh.port, 22);
	assert_string_equal(c.hosts[0].ssh.password, "000000");
	assert_string_equal(c.hosts[2].ssh.user, "root");
	assert_int_equal(c.hosts[2].ssh.port, 2222);
	/* env: host keys win, global fill in; a repeated key becomes a list */
	assert_string_equal(env_of(&c.hosts[2], "Role"), "database");
	assert_string_equal(env_of(&c.hosts[0], "Role"), "worker");
	assert_string_equal(env_of(&c.hosts[2], "Ip"), "a;b");
	cluster_release(&c);
}

static void expect_error(const char *text, unsigned line, const char *fragment)
{
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;
	char prefix[64];

	assert_true(clusterfile_parse("cf.yaml", text, strlen(text), &c, &err) < 0);
	snprintf(prefix, sizeof(prefix), "cf.yaml:%u:", line);
	if (strncmp(errbuf_msg(&err), prefix, strlen(prefix)) || !strstr(errbuf_msg(&err), fragment))
		fail_msg("'%s' does not start with '%s' or lacks '%s'", errbuf_msg(&err), prefix, fragment);
}

#define HEAD "kind: Cluster\nmetadata: {name: c}\nspec:\n  image: i:1\n"

static void test_errors(void **state)
{
	(void)state;
	expect_error("kind: Cluster\nspec: {image: x}\n", 1, "metadata.name");
	expect_error(HEAD "  env: [etcd-dir=/data]\n  hosts: [{ips: [1.1.1.1], roles: [master]}]\n", 5,
		     "spec.env: env key 'etcd-dir' is not a shell identifier");
	expect_error(HEAD "  hosts:\n    - ips: [1.1.1.1]\n      roles: [db]\n", 7, "spec.hosts[0]: roles: needs master or node");
	expect_error(HEAD "  hosts:\n    - ips: [300.1.1.1]\n      roles: [master]\n", 6, "is not an IP address");
	expect_error(HEAD "  hosts:\n    - ips: [1.1.1.1]\n      roles: [master]\n    - ips: [1.1.1.1]\n      roles: [node]\n",
		     8, "listed twice");
	expect_error(HEAD "  ssh: {port: \"99999\"}\n  hosts: [{ips: [1.1.1.1], roles: [master]}]\n", 5, "spec.ssh.port");
	expect_error(HEAD "  hosts:\n    - ips: [1.1.1.1]\n      roles: [master]\n      env: Role=x\n", 8, "spec.hosts[0].env");
	expect_error("kind: Cluster\nmetadata: {name: c}\nspec: {image: i}\n---\nkind: Cluster\n", 5, "a second Cluster");
	expect_error("apiVersion: zlink.aliyun.com/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n", 1, "not supported");
	expect_error(HEAD, 4, "spec.hosts");
	/* a misspelt kind is named, with the kinds there are */
	expect_error("kind: Clustr\nmetadata: {name: c}\n", 1,
		     "kind: unknown kind 'Clustr'; the known kinds are Cluster, Plugin, Config");
	expect_error(HEAD "  hosts: [{ips: [1.1.1.1], roles: [master]}]\n---\napiVersion: v1\nkind: Plugn\n",
		     8, "unknown kind 'Plugn'");
	expect_error("kind: Cluster\nmetadata: {name: c}\n---\nkind: ConfigMap\n", 4, "KubeProxyConfiguration");
	/* an empty password is no credential, globally or for a host */
	expect_error(HEAD "  ssh: {passwd: \"\"}\n  hosts: [{ips: [1.1.1.1], roles: [master]}]\n", 5,
		     "spec.ssh.passwd: is empty");
	expect_error(HEAD "  hosts:\n    - ips: [1.1.1.1]\n      roles: [master]\n      ssh: {passwd: ''}\n", 8,
		     "spec.hosts[0].ssh.passwd: is empty");
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;
	assert_int_equal(clusterfile_parse("cf.yaml", "kind: Plugin\n", 13, &c, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "no 'kind: Cluster'"));
	assert_true(clusterfile_parse("cf.yaml", "a: [", 4, &c, &err) < 0);
}

/* Whatever the source, cluster_finish() lets no empty password through to a connection. */
static void test_empty_password_finish(void **state)
{
	struct cluster c = { 0 };
	struct errbuf err = ERRBUF_INIT;

	(void)state;
	c.image = xstrdup("i:1");
	c.ssh.password = xstrdup("");
	assert_int_equal(cluster_add_hosts(&c, "1.1.1.1", ROLE_MASTER, "-m", &err), 0);
	assert_int_equal(cluster_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "the SSH password for 1.1.1.1 is empty"));
	cluster_release(&c);
}

static void test_ip_lists(void **state)
{
	(void)state;
	char **v = NULL;
	size_t n = 0;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(parse_ip_list("10.0.0.1,10.0.0.8-10.0.0.10, 10.0.1.1-3,h1:2222", &v, &n, &err), 0);
	assert_int_equal(n, 8);
	assert_string_equal(v[1], "10.0.0.8");
	assert_string_equal(v[3], "10.0.0.10");
	assert_string_equal(v[4], "10.0.1.1");
	assert_string_equal(v[6], "10.0.1.3");
	assert_string_equal(v[7], "h1:2222");
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	assert_int_equal(parse_ip_list("10.0.0.9-10.0.0.1", &v, &n, &err), -EINVAL);
	assert_int_equal(parse_ip_list("10.0.0.1:99999", &v, &n, &err), -EINVAL);
	assert_int_equal(parse_ip_list("10.0.0.256", &v, &n, &err), -EINVAL);
	assert_int_equal(parse_ip_list("", &v, &n, &err), -EINVAL);
	assert_int_equal(parse_ip_list("10.0.0.0-10.0.255.255", &v, &n, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ip_lists),
		cmocka_unit_test(test_empty_password_finish),
	};
	return cmocka_run_group_tests_name("clusterfile", tests, NULL, NULL);
}
