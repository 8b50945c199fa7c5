#include "helpers.h"

#include <errno.h>

#include "cluster.h"
#include "clusterfile.h"
#include "macro.h"
#include "ydoc.h"

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
	"metadata: {name: p1}\n"
	"spec: {type: SHELL, action: PostInstall}\n";

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
	expect_error("apiVersion: sealer.cloud/v1\nkind: Cluster\nmetadata: {name: c}\n", 1,
		     "apiVersion: 'sealer.cloud/v1' is not one Cluster takes: use sealer.cloud/v2 or ");
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


/* Every kind of document, read into the model with where it came from. */
static const char full[] =
	"apiVersion: sealer.cloud/v2\n"			/* 1 */
	"kind: Cluster\n"
	"metadata: {name: full}\n"
	"spec:\n"
	"  image: kubernetes:v1.28.7\n"			/* 5 */
	"  cmd_args: [Version=1, Mode=a, Mode=b]\n"
	"  registry: {host: 10.0.0.3}\n"
	"  ssh: {passwd: pw}\n"
	"  hosts:\n"
	"    - {ips: [10.0.0.4], roles: [node]}\n"	/* 10 */
	"    - {ips: [10.0.0.2, 10.0.0.3], roles: [master]}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: taint}\n"			/* 15 */
	"spec:\n"
	"  type: SHELL\n"
	"  action: PostInstall|PreGuest\n"
	"  on: node-role.kubernetes.io/master=\n"
	"  data: |\n"					/* 20 */
	"    kubectl taint nodes --all x-\n"
	"---\n"
	"apiVersion: sealer.cloud/v2\n"
	"kind: Config\n"
	"metadata: {name: calico}\n"			/* 25 */
	"spec:\n"
	"  path: etc/custom.yaml\n"
	"  strategy: merge\n"
	"  data: {spec: {mtu: 1440}}\n"
	"---\n"						/* 30 */
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Config\n"
	"metadata: {name: motd}\n"
	"spec: {path: /etc/motd, data: \"hi\\n\"}\n"
	"---\n"						/* 35 */
	"apiVersion: kubeadm.k8s.io/v1beta3\n"
	"kind: ClusterConfiguration\n"
	"networking: {podSubnet: 100.64.0.0/10}\n"
	"---\n"
	"apiVersion: kubelet.config.k8s.io/v1beta1\n"	/* 40 */
	"kind: KubeletConfiguration\n"
	"maxPods: 200\n";

static void test_all_kinds(void **state)
{
	(void)state;
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;

	if (clusterfile_parse("cf.yaml", full, strlen(full), &c, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_int_equal(c.ncmd_args, 2);
	assert_string_equal(c.cmd_args[1].key, "Mode");
	assert_string_equal(c.cmd_args[1].value, "b"); /* an override: the last wins */
	assert_string_equal(c.registry_host, "10.0.0.3");
	assert_int_equal(c.nplugins, 1);
	assert_string_equal(c.plugins[0].name, "taint");
	assert_string_equal(c.plugins[0].type, "SHELL");
	assert_string_equal(c.plugins[0].action, "PostInstall|PreGuest");
	assert_string_equal(c.plugins[0].on, "node-role.kubernetes.io/master=");
	assert_string_equal(c.plugins[0].data, "kubectl taint nodes --all x-\n");
	assert_string_equal(c.plugins[0].file, "cf.yaml");
	assert_int_equal(c.plugins[0].line, 13);
	assert_int_equal(c.nconfigs, 2);
	assert_string_equal(c.configs[0].name, "calico");
	assert_int_equal(c.configs[0].strategy, CONFIG_MERGE);
	assert_string_equal(c.configs[0].data, "spec:\n  mtu: 1440\n"); /* a map, as YAML */
	assert_int_equal(c.configs[0].line, 23);
	assert_int_equal(c.configs[1].strategy, CONFIG_OVERRIDE); /* sealer's default */
	assert_string_equal(c.configs[1].path, "/etc/motd");
	assert_string_equal(c.configs[1].data, "hi\n");
	assert_int_equal(c.nkubeadm, 2);
	assert_string_equal(c.kubeadm[0].kind, "ClusterConfiguration");
	assert_string_equal(c.kubeadm[0].api_version, "kubeadm.k8s.io/v1beta3");
	assert_int_equal(c.kubeadm[0].line, 36);
	assert_string_equal(ynode_str(ynode_get(c.kubeadm[0].tree, "networking.podSubnet")),
			    "100.64.0.0/10");
	assert_string_equal(ynode_str(ynode_get(c.kubeadm[1].tree, "maxPods")), "200");
	assert_int_equal(cluster_finish(&c, &err), 0);
	assert_string_equal(c.hosts[0].ip, "10.0.0.2"); /* master0: the first master */
	cluster_release(&c);

	/* the registry host must be one of the hosts */
	char *other = xstrdup(full);
	memcpy(strstr(other, "{host: 10.0.0.3}") + 14, "9", 1);
	assert_int_equal(clusterfile_parse("cf.yaml", other, strlen(other), &c, &err), 0);
	assert_int_equal(cluster_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "spec.registry.host 10.0.0.9 is not one of"));
	cluster_release(&c);
	free(other);
}

static void test_v1(void **state)
{
	static const char v1[] =
		"apiVersion: zlink.aliyun.com/v1alpha1\n"
		"kind: Cluster\n"
		"metadata: {name: old}\n"
		"spec:\n"
		"  image: registry.cn-qingdao.aliyuncs.com/sealer-io/kubernetes:v1.19.8\n"
		"  provider: BAREMETAL\n"
		"  ssh: {passwd: xx, user: root, port: \"22\"}\n"
		"  env: [A=1]\n"
		"  network: {podCIDR: 100.64.0.0/10}\n"
		"  certSANS: [aliyun-inc.com]\n"
		"  masters: {cpu: 4, count: 1, ipList: [10.0.0.2, 10.0.0.3]}\n"
		"  nodes:\n    ipList: [10.0.0.5-10.0.0.6]\n";
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;

	(void)state;
	if (clusterfile_parse("cf.yaml", v1, strlen(v1), &c, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_int_equal(cluster_finish(&c, &err), 0);
	assert_string_equal(c.name, "old");
	assert_string_equal(c.image, "registry.cn-qingdao.aliyuncs.com/sealer-io/kubernetes:v1.19.8");
	assert_int_equal(c.nhosts, 4);
	assert_string_equal(c.hosts[0].ip, "10.0.0.2");
	assert_int_equal(c.hosts[1].role, ROLE_MASTER);
	assert_string_equal(c.hosts[3].ip, "10.0.0.6");
	assert_int_equal(c.hosts[3].role, ROLE_NODE);
	assert_string_equal(c.hosts[3].ssh.password, "xx");
	assert_string_equal(env_of(&c.hosts[3], "A"), "1");
	cluster_release(&c);
	expect_error("apiVersion: zlink.aliyun.com/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
		     "spec:\n  image: i\n  masters: {ipList: 10.0.0.1}\n", 6, "spec.masters.ipList: must be a list");
	expect_error("apiVersion: zlink.aliyun.com/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
		     "spec:\n  image: i\n  masters: {ipList: [10.0.0.1]}\n  nodes: {ipList: [10.0.0.1]}\n",
		     7, "spec.nodes.ipList: ipList: host 10.0.0.1 is listed twice");
	expect_error("apiVersion: zlink.aliyun.com/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
		     "spec:\n  image: i\n", 5, "spec.hosts: a list of host groups");
}

static const char tmpl[] =
	"apiVersion: sealer.cloud/v2\n"
	"kind: Cluster\n"
	"metadata: {name: my-cluster}\n"
	"spec:\n"
	"  image: app:v1\n"
	"  ssh: {port: \"22\", user: root}\n"
	"  env: [A=image, B=image]\n"
	"  cmd_args: [X=image]\n"
	"  hosts: [{ips: [192.0.2.1], roles: [master]}]\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Config\n"
	"metadata: {name: shared}\n"
	"spec: {path: etc/a, data: image}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Config\n"
	"metadata: {name: image-only}\n"
	"spec: {path: etc/b, data: image}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: check}\n"
	"spec: {type: CLUSTERCHECK, action: PreGuest}\n"
	"---\n"
	"apiVersion: kubeadm.k8s.io/v1beta3\n"
	"kind: ClusterConfiguration\n"
	"networking: {podSubnet: 10.0.0.0/16, serviceSubnet: 10.96.0.0/22}\n";

static const char user[] =
	"kind: Cluster\n"
	"metadata: {name: prod}\n"
	"spec:\n"
	"  ssh: {passwd: pw}\n"
	"  env: [B=user, C=user]\n"
	"  hosts: [{ips: [10.0.0.2], roles: [master]}, {ips: [10.0.0.3], roles: [node]}]\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Config\n"
	"metadata: {name: shared}\n"
	"spec: {path: etc/a, data: user, strategy: append}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: mine}\n"
	"spec: {type: SHELL, action: PreInit, data: 'true'}\n"
	"---\n"
	"apiVersion: kubeadm.k8s.io/v1beta3\n"
	"kind: ClusterConfiguration\n"
	"networking: {podSubnet: 100.64.0.0/10}\n";

#define TMPL "app:v1 (annotation sea.aliyun.com/ClusterFile)"

static void test_template(void **state)
{
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;

	(void)state;
	if (clusterfile_parse_over(TMPL, tmpl, strlen(tmpl), "Clusterfile", user, strlen(user), &c,
				   &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_string_equal(c.name, "prod");	 /* the user's wins */
	assert_string_equal(c.image, "app:v1"); /* the template's fills in */
	assert_string_equal(c.ssh.user, "root");
	assert_string_equal(c.ssh.password, "pw");
	assert_int_equal(c.ssh.port, 22);
	assert_int_equal(c.nenv, 3); /* key by key, the user's value over the template's */
	assert_string_equal(c.env[0].value, "image");
	assert_string_equal(c.env[1].value, "user");
	assert_string_equal(c.env[2].key, "C");
	assert_string_equal(c.cmd_args[0].value, "image");
	assert_int_equal(c.nhosts, 2); /* the user's hosts replace the template's */
	assert_string_equal(c.hosts[0].ip, "10.0.0.2");
	/* Config: the same name replaces in place, others are concatenated */
	assert_int_equal(c.nconfigs, 2);
	assert_string_equal(c.configs[0].data, "user");
	assert_int_equal(c.configs[0].strategy, CONFIG_APPEND);
	assert_string_equal(c.configs[0].file, "Clusterfile");
	assert_string_equal(c.configs[1].name, "image-only");
	assert_string_equal(c.configs[1].file, TMPL);
	assert_int_equal(c.configs[1].line, 16);
	assert_int_equal(c.nplugins, 2);
	assert_string_equal(c.plugins[0].name, "check");
	assert_string_equal(c.plugins[1].name, "mine");
	/* kubeadm: the user's fields over the template's document of that kind */
	assert_int_equal(c.nkubeadm, 1);
	assert_string_equal(ynode_str(ynode_get(c.kubeadm[0].tree, "networking.podSubnet")), "100.64.0.0/10");
	assert_string_equal(ynode_str(ynode_get(c.kubeadm[0].tree, "networking.serviceSubnet")), "10.96.0.0/22");
	assert_string_equal(c.kubeadm[0].file, "Clusterfile");
	cluster_release(&c);

	/* the template alone (cirun run: flags give the rest); nothing required */
	static const char alone[] = "kind: Cluster\nmetadata: {name: m}\nspec: {image: a:1}\n";
	assert_int_equal(clusterfile_parse_over(TMPL, alone, strlen(alone), NULL, NULL, 0, &c, &err), 0);
	assert_int_equal(c.nhosts, 0);
	assert_string_equal(c.image, "a:1");
	cluster_release(&c);
	/* the user's file must still bring what neither gives, named in the user's file */
	static const char nohosts[] = "kind: Cluster\nmetadata: {name: x}\nspec: {image: b:1}\n";
	assert_int_equal(clusterfile_parse_over(TMPL, "kind: Cluster\nspec: {image: a:1}\n", 33, "cf.yaml",
						nohosts, strlen(nohosts), &c, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "cf.yaml:3:7: spec.hosts: a list of host groups"));
	/* an error in the template names the template */
	assert_int_equal(clusterfile_parse_over(TMPL, "kind: Cluster\nspec: {image: [a]}\n", 33, "cf.yaml",
						user, strlen(user), &c, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), TMPL ":2:15: spec.image: must be a string"));
}

#define CL HEAD "  hosts: [{ips: [1.1.1.1], roles: [master]}]\n---\n"
#define PL CL "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\n"
#define CF CL "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Config\n"

static void test_document_errors(void **state)
{
	(void)state;
	/* lines: HEAD is 1-4, hosts 5, --- 6, apiVersion 7, kind 8, then 9 on */
	expect_error(CL "apiVersion: v1\nkind: Plugin\n", 7,
		     "apiVersion: 'v1' is not one Plugin takes: use sealer.aliyun.com/v1alpha1 or sealer.cloud/v2");
	expect_error(PL "spec: {type: SHELL, action: PreInit}\n", 7, "metadata.name: a Plugin needs a name");
	expect_error(PL "metadata: {name: p}\nspec: {type: SHELL}\n", 10, "spec.action: Plugin 'p' needs spec.action");
	expect_error(PL "metadata: {name: p}\nspec: {type: SHELL, action: [PreInit]}\n", 10,
		     "spec.action: Plugin 'p': must be a non-empty string");
	expect_error(PL "metadata: {name: p}\nspec:\n  type: SHELL\n  acton: PreInit\n", 12,
		     "spec: unknown field 'acton' (it has type, action, on, data)");
	expect_error(PL "metadata: {name: p}\nspec: {type: SHELL, action: A}\n---\n"
		     "apiVersion: sealer.cloud/v2\nkind: Plugin\nmetadata: {name: p}\nspec: {type: SHELL, action: B}\n",
		     12, "metadata.name: a second Plugin named 'p' (the first is at line 7)");
	expect_error(CF "metadata: {name: c}\nspec: {data: x}\n", 10, "spec.path: Config 'c' needs spec.path");
	expect_error(CF "metadata: {name: c}\nspec: {path: ../etc/x, data: x}\n", 10,
		     "spec.path: Config 'c': '../etc/x': '..' is not allowed");
	expect_error(CF "metadata: {name: c}\nspec:\n  path: etc/x\n  data: x\n  strategy: replace\n", 13,
		     "spec.strategy: Config 'c': unknown strategy 'replace' (merge, override, insert or append");
	expect_error(CF "metadata: {name: c}\nspec: {path: etc/x}\n", 10, "spec.data: Config 'c' needs spec.data");
	expect_error(CF "metadata: {name: c}\nspec: {path: etc/x, data: x, process: toJson}\n", 10,
		     "spec.process: Config 'c': process");
	expect_error(CL "apiVersion: kubeadm.k8s.io/v1beta1\nkind: InitConfiguration\n", 7,
		     "apiVersion: 'kubeadm.k8s.io/v1beta1' is not one InitConfiguration takes: use "
		     "kubeadm.k8s.io/v1beta2 or kubeadm.k8s.io/v1beta3");
	expect_error(CL "kind: KubeProxyConfiguration\nmode: ipvs\n", 7,
		     "apiVersion: missing: KubeProxyConfiguration takes kubeproxy.config.k8s.io/v1alpha1");
	expect_error(CL "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\n"
		     "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", 10,
		     "kind: a second KubeletConfiguration (the first is at line 7)");
	expect_error(HEAD "  cmd_args: [a-b=1]\n  hosts: [{ips: [1.1.1.1], roles: [master]}]\n", 5,
		     "spec.cmd_args: env key 'a-b'");
	expect_error(HEAD "  registry: {host: 1.1.1.1, port: 5000}\n", 5, "spec.registry: unknown field 'port'");
	expect_error(HEAD "  registry: {host: 1.1.1.1-1.1.1.3}\n", 5, "spec.registry.host: one address");
	expect_error(HEAD "  registry: 1.1.1.1\n", 5, "spec.registry: must be a map: {host: IP}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ip_lists),
		cmocka_unit_test(test_empty_password_finish),
		cmocka_unit_test(test_all_kinds),
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_document_errors),
	};
	return cmocka_run_group_tests_name("clusterfile", tests, NULL, NULL);
}
