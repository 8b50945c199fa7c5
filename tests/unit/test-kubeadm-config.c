/* The kubeadm config: layers merged by kind, forced fields, apiVersion by Kubernetes version,
 * conversion between v1beta2 and v1beta3, errors naming file:line and field. The image layer
 * of some tests is what real kubeadm v1.28 prints (tests/fixtures/kubeadm-config/). */
#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "kubeadm-config.h"
#include "ydoc.h"

#define TOKEN "abc123.0123456789abcdef"
#define HASH "sha256:668d6680f6ce8ad635cd41129d75596f78f789ec10e6cfcc588c155e82985aa4"
#define CERTKEY "f5ea1b7d6b1c7c4e53f0e5e3b5a3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5"

static const char *const masters[] = { "10.0.0.2", "10.0.0.3", "10.0.0.4" };

struct warnings {
	char text[4096];
	int n;
};

static void collect(void *userdata, const char *msg)
{
	struct warnings *w = userdata;
	size_t len = strlen(w->text);
	snprintf(w->text + len, sizeof(w->text) - len, "%s\n", msg);
	w->n++;
}

/* A Clusterfile (its Cluster document first, as a real one) parsed once; its kubeadm
 * documents become user docs with the Clusterfile's own line numbers. */
struct user {
	struct ydoc *d;
	struct kubeadm_user_doc docs[8];
	size_t n;
};

static void user_load(struct user *u, const char *text)
{
	struct errbuf err = ERRBUF_INIT;
	memset(u, 0, sizeof(*u));
	assert_int_equal(ydoc_parse("Clusterfile", text, strlen(text), NULL, &u->d, &err), 0);
	for (size_t i = 0; i < ydoc_count(u->d) && u->n < 8; i++) {
		const struct ynode *root = ydoc_root(u->d, i);
		if (kubeadm_is_config_kind(ynode_str(ynode_get(root, "kind"))))
			u->docs[u->n++] = (struct kubeadm_user_doc){ "Clusterfile", root };
	}
}

static char *read_fixture(const char *name, size_t *len)
{
	char path[256];
	struct buf b = BUF_INIT(1 << 20);
	snprintf(path, sizeof(path), "tests/fixtures/kubeadm-config/%s", name);
	assert_int_equal(buf_read_file(&b, path), 0);
	return buf_detach(&b, len);
}

static struct kubeadm_config_in base_in(const char *version, const char *host)
{
	return (struct kubeadm_config_in){
		.k8s_version = version,
		.masters = masters,
		.n_masters = 3,
		.host_ip = host,
		.token = TOKEN,
		.ca_cert_hash = HASH,
		.certificate_key = CERTKEY,
	};
}

/* Renders, checks the output parses, and returns it parsed. */
static struct ydoc *render_ok(enum kubeadm_role role, const struct kubeadm_config_in *in,
			      struct buf *text)
{
	struct errbuf err = ERRBUF_INIT;
	struct ydoc *d = NULL;
	int r = kubeadm_config_render(role, in, text, &err);
	if (r < 0)
		fail_msg("render: %s", errbuf_msg(&err));
	assert_int_equal(ydoc_parse("out", text->data, text->len, NULL, &d, &err), 0);
	return d;
}

static const struct ynode *doc_of(const struct ydoc *d, const char *kind)
{
	for (size_t i = 0; i < ydoc_count(d); i++)
		if (strcmp(ynode_str(ynode_get(ydoc_root(d, i), "kind")), kind) == 0)
			return ydoc_root(d, i);
	fail_msg("no %s in the output", kind);
	return NULL;
}

static const char *str_at(const struct ynode *doc, const char *path)
{
	const char *s = ynode_str(ynode_get(doc, path));
	return s ? s : "(absent)";
}

static const char clusterfile[] =
	"apiVersion: sealer.cloud/v2\n"			 /* 1 */
	"kind: Cluster\n"				 /* 2 */
	"metadata: {name: my-cluster}\n"		 /* 3 */
	"---\n"						 /* 4 */
	"apiVersion: kubeadm.k8s.io/v1beta3\n"		 /* 5 */
	"kind: ClusterConfiguration\n"			 /* 6 */
	"imageRepository: my.registry/k8s\n"		 /* 7 */
	"kubernetesVersion: 1.28.7\n"			 /* 8 */
	"networking:\n"					 /* 9 */
	"  podSubnet: 10.244.0.0/16\n"			 /* 10 */
	"apiServer:\n"					 /* 11 */
	"  certSANs: [lb.example.com, 10.0.0.2, LB.example.com]\n" /* 12 */
	"  extraArgs: {audit-log-maxage: \"30\"}\n"	 /* 13 */
	"---\n"
	"apiVersion: kubelet.config.k8s.io/v1beta1\n"
	"kind: KubeletConfiguration\n"
	"maxPods: 200\n"
	"---\n"
	"apiVersion: kubeadm.k8s.io/v1beta3\n"
	"kind: JoinConfiguration\n"
	"controlPlane: {localAPIEndpoint: {bindPort: 6444}}\n"
	"nodeRegistration:\n"
	"  name: same-for-all\n"
	"  kubeletExtraArgs: {v: \"2\"}\n";

static const char image_v1beta2[] =
	"apiVersion: kubeadm.k8s.io/v1beta2\n"
	"kind: ClusterConfiguration\n"
	"useHyperKubeImage: false\n"
	"dns:\n"
	"  type: CoreDNS\n"
	"networking:\n"
	"  podSubnet: 100.64.0.0/10\n"
	"  serviceSubnet: 10.96.0.0/22\n"
	"apiServer:\n"
	"  certSANs: [img.example, 127.0.0.1]\n"
	"---\n"
	"apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
	"kind: KubeProxyConfiguration\n"
	"mode: ipvs\n";

static void test_init_merge(void **state)
{
	(void)state;
	struct user u;
	struct buf text = BUF_INIT(1 << 20), again = BUF_INIT(1 << 20);
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.2");

	user_load(&u, clusterfile);
	in.user_docs = u.docs;
	in.n_user_docs = u.n;
	in.image_yml = image_v1beta2;
	in.image_yml_len = strlen(image_v1beta2);
	in.image_yml_name = "image:etc/kubeadm.yml";
	in.cgroup_driver = "cgroupfs";

	struct ydoc *d = render_ok(KUBEADM_INIT, &in, &text);
	assert_int_equal(ydoc_count(d), 4);
	const struct ynode *init = doc_of(d, "InitConfiguration");
	const struct ynode *cl = doc_of(d, "ClusterConfiguration");
	assert_string_equal(str_at(init, "apiVersion"), "kubeadm.k8s.io/v1beta3");
	assert_string_equal(str_at(init, "localAPIEndpoint.advertiseAddress"), "10.0.0.2");
	assert_string_equal(str_at(init, "localAPIEndpoint.bindPort"), "6443");
	assert_string_equal(str_at(init, "nodeRegistration.kubeletExtraArgs.node-ip"), "10.0.0.2");
	assert_true(ynode_is_plain(ynode_get(init, "localAPIEndpoint.bindPort"))); /* an int */
	assert_string_equal(str_at(init, "nodeRegistration.criSocket"),
			    "unix:///var/run/containerd/containerd.sock");
	assert_null(ynode_get(init, "bootstrapTokens")); /* kubeadm makes a fresh token */
	assert_string_equal(str_at(cl, "apiVersion"), "kubeadm.k8s.io/v1beta3");
	assert_string_equal(str_at(cl, "controlPlaneEndpoint"), "apiserver.cluster.local:6443");
	assert_string_equal(str_at(cl, "imageRepository"), "sea.hub:5000");
	assert_string_equal(str_at(cl, "kubernetesVersion"), "v1.28.7");
	/* Clusterfile over image over default, field by field */
	assert_string_equal(str_at(cl, "networking.podSubnet"), "10.244.0.0/16");
	assert_string_equal(str_at(cl, "networking.serviceSubnet"), "10.96.0.0/22");
	assert_string_equal(str_at(cl, "networking.dnsDomain"), "cluster.local");
	assert_string_equal(str_at(cl, "apiServer.extraArgs.audit-log-maxage"), "30");
	assert_string_equal(str_at(cl, "apiServer.timeoutForControlPlane"), "4m0s");
	/* converted from v1beta2: the fields v1beta3 lacks are gone */
	assert_null(ynode_get(cl, "useHyperKubeImage"));
	assert_null(ynode_get(cl, "dns.type"));
	assert_non_null(ynode_get(cl, "dns"));
	/* SANs: the forced ones, every master, then the Clusterfile's and the image's, once */
	const struct ynode *sans = ynode_get(cl, "apiServer.certSANs");
	static const char *const want[] = { "apiserver.cluster.local", "127.0.0.1", "10.0.0.2",
					    "10.0.0.3", "10.0.0.4", "lb.example.com",
					    "img.example" };
	assert_int_equal(ynode_len(sans), ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++)
		assert_string_equal(ynode_str(ynode_seq_at(sans, i)), want[i]);
	const struct ynode *kl = doc_of(d, "KubeletConfiguration");
	assert_string_equal(str_at(kl, "maxPods"), "200");
	assert_string_equal(str_at(kl, "cgroupDriver"), "cgroupfs");
	assert_string_equal(str_at(doc_of(d, "KubeProxyConfiguration"), "mode"), "ipvs");

	/* same inputs, same bytes */
	ydoc_free(render_ok(KUBEADM_INIT, &in, &again));
	assert_int_equal(text.len, again.len);
	assert_memory_equal(text.data, again.data, text.len);

	ydoc_free(d);
	ydoc_free(u.d);
	buf_release(&text);
	buf_release(&again);
}

static void test_validate_warnings(void **state)
{
	(void)state;
	struct user u;
	struct warnings w = { .n = 0 };
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.2");

	user_load(&u, clusterfile);
	in.user_docs = u.docs;
	in.n_user_docs = u.n;
	in.warn = collect;
	in.warn_userdata = &w;
	assert_int_equal(kubeadm_config_validate(&in, &err), 0);
	assert_non_null(strstr(w.text, "Clusterfile:7: ClusterConfiguration.imageRepository is set; "
					"cirun sets it to sea.hub:5000"));
	assert_non_null(strstr(w.text, "JoinConfiguration.nodeRegistration.name is set"));
	assert_non_null(strstr(w.text, "JoinConfiguration.controlPlane.localAPIEndpoint.bindPort is "
					"set; cirun sets it to 6443"));
	assert_int_equal(w.n, 3);
	assert_null(strstr(w.text, "kubernetesVersion"));

	/* renders stay quiet: the warnings are reported once */
	struct buf text = BUF_INIT(1 << 20);
	w.n = 0;
	ydoc_free(render_ok(KUBEADM_INIT, &in, &text));
	assert_int_equal(w.n, 0);
	buf_release(&text);
	ydoc_free(u.d);
}

/* Warnings about join secrets a user set name the field, never the value. */
static void test_secret_not_in_warnings(void **state)
{
	(void)state;
	struct user u;
	struct warnings w = { .n = 0 };
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.2");

	user_load(&u, "kind: JoinConfiguration\n"
		      "discovery:\n"
		      "  bootstrapToken: {token: zzzzzz.zzzzzzzzzzzzzzzz}\n"
		      "controlPlane: {certificateKey: yyyyyyyyyyyy}\n");
	in.user_docs = u.docs;
	in.n_user_docs = u.n;
	in.warn = collect;
	in.warn_userdata = &w;
	assert_int_equal(kubeadm_config_validate(&in, &err), 0);
	assert_int_equal(w.n, 2);
	assert_non_null(strstr(w.text, "Clusterfile:3: JoinConfiguration.discovery.bootstrapToken."
					"token is set; cirun sets it for each host"));
	assert_non_null(strstr(w.text, "Clusterfile:4: JoinConfiguration.controlPlane.certificateKey"));
	assert_null(strstr(w.text, "zzzzzz"));
	assert_null(strstr(w.text, "yyyy"));
	ydoc_free(u.d);
}

static void test_too_many_sans(void **state)
{
	(void)state;
	struct buf yml = BUF_INIT(1 << 20), text = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.2");

	assert_int_equal(buf_puts(&yml, "kind: ClusterConfiguration\napiServer:\n  certSANs:\n"), 0);
	for (int i = 0; i < 1001; i++)
		assert_int_equal(buf_printf(&yml, "  - n%d.example\n", i), 0);
	in.image_yml = yml.data;
	in.image_yml_len = yml.len;
	assert_int_equal(kubeadm_config_render(KUBEADM_INIT, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "etc/kubeadm.yml:4: ClusterConfiguration.apiServer.certSANs: "
					"has 1001 entries"));
	buf_release(&yml);
	buf_release(&text);
}

static void test_reference_defaults_as_image(void **state)
{
	(void)state;
	size_t len;
	char *yml = read_fixture("init-defaults.yaml", &len);
	struct buf text = BUF_INIT(1 << 20);
	struct warnings w = { .n = 0 };
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.2");

	in.image_yml = yml;
	in.image_yml_len = len;
	in.image_yml_name = "etc/kubeadm.yml";
	in.node_name = "Kx1";
	in.warn = collect;
	in.warn_userdata = &w;
	assert_int_equal(kubeadm_config_validate(&in, &err), 0);
	assert_non_null(strstr(w.text, "etc/kubeadm.yml:12: InitConfiguration.localAPIEndpoint."
					"advertiseAddress is set; cirun sets it to 10.0.0.2"));
	assert_non_null(strstr(w.text, "etc/kubeadm.yml:30: ClusterConfiguration.imageRepository"));
	assert_non_null(strstr(w.text, "etc/kubeadm.yml:32: ClusterConfiguration.kubernetesVersion"));
	assert_non_null(strstr(w.text, "etc/kubeadm.yml:17: InitConfiguration.nodeRegistration.name is "
					"set; cirun sets it to kx1"));

	struct ydoc *d = render_ok(KUBEADM_INIT, &in, &text);
	const struct ynode *init = doc_of(d, "InitConfiguration");
	assert_string_equal(str_at(init, "localAPIEndpoint.advertiseAddress"), "10.0.0.2");
	assert_string_equal(str_at(init, "nodeRegistration.name"), "kx1");
	/* what the image sets and cirun does not force is the image's */
	assert_string_equal(str_at(init, "bootstrapTokens[0].token"), "abcdef.0123456789abcdef");
	assert_string_equal(str_at(doc_of(d, "ClusterConfiguration"), "kubernetesVersion"),
			    "v1.28.7");
	assert_string_equal(str_at(doc_of(d, "KubeletConfiguration"), "clusterDNS[0]"),
			    "10.96.0.10");
	ydoc_free(d);
	free(yml);
	buf_release(&text);
}

static void test_join_master_and_node(void **state)
{
	(void)state;
	struct user u;
	size_t len;
	char *yml = read_fixture("join-defaults.yaml", &len);
	struct buf text = BUF_INIT(1 << 20);
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.3");

	user_load(&u, clusterfile);
	in.user_docs = u.docs;
	in.n_user_docs = u.n;
	in.image_yml = yml;
	in.image_yml_len = len;

	struct ydoc *d = render_ok(KUBEADM_JOIN_MASTER, &in, &text);
	assert_int_equal(ydoc_count(d), 1);
	const struct ynode *j = doc_of(d, "JoinConfiguration");
	assert_string_equal(str_at(j, "apiVersion"), "kubeadm.k8s.io/v1beta3");
	assert_string_equal(str_at(j, "discovery.bootstrapToken.apiServerEndpoint"),
			    "apiserver.cluster.local:6443");
	assert_string_equal(str_at(j, "discovery.bootstrapToken.token"), TOKEN);
	assert_string_equal(str_at(j, "discovery.bootstrapToken.caCertHashes[0]"), HASH);
	assert_int_equal(ynode_len(ynode_get(j, "discovery.bootstrapToken.caCertHashes")), 1);
	assert_string_equal(str_at(j, "discovery.tlsBootstrapToken"), TOKEN);
	assert_string_equal(str_at(j, "controlPlane.localAPIEndpoint.advertiseAddress"),
			    "10.0.0.3");
	assert_string_equal(str_at(j, "controlPlane.localAPIEndpoint.bindPort"), "6443");
	assert_string_equal(str_at(j, "controlPlane.certificateKey"), CERTKEY);
	/* one JoinConfiguration serves every host: no fixed name */
	assert_null(ynode_get(j, "nodeRegistration.name"));
	assert_string_equal(str_at(j, "nodeRegistration.kubeletExtraArgs.v"), "2");
	/* the kubelet's InternalIP is the host's address: the run finds its node by it */
	assert_string_equal(str_at(j, "nodeRegistration.kubeletExtraArgs.node-ip"), "10.0.0.3");
	ydoc_free(d);

	in.host_ip = "10.0.0.9";
	in.node_name = "node-9";
	buf_reset(&text);
	d = render_ok(KUBEADM_JOIN_NODE, &in, &text);
	j = doc_of(d, "JoinConfiguration");
	assert_null(ynode_get(j, "controlPlane"));
	assert_null(strstr(text.data, CERTKEY));
	assert_string_equal(str_at(j, "discovery.bootstrapToken.token"), TOKEN);
	assert_string_equal(str_at(j, "nodeRegistration.name"), "node-9");
	assert_string_equal(str_at(j, "nodeRegistration.kubeletExtraArgs.node-ip"), "10.0.0.9");
	ydoc_free(d);

	ydoc_free(u.d);
	free(yml);
	buf_release(&text);
}

static void test_v1beta2_for_1_22(void **state)
{
	(void)state;
	struct buf text = BUF_INIT(1 << 20);
	struct kubeadm_config_in in = base_in("v1.22.17", "10.0.0.2");
	in.image_yml = image_v1beta2;
	in.image_yml_len = strlen(image_v1beta2);

	struct ydoc *d = render_ok(KUBEADM_INIT, &in, &text);
	assert_string_equal(str_at(doc_of(d, "InitConfiguration"), "apiVersion"),
			    "kubeadm.k8s.io/v1beta2");
	const struct ynode *cl = doc_of(d, "ClusterConfiguration");
	assert_string_equal(str_at(cl, "apiVersion"), "kubeadm.k8s.io/v1beta2");
	/* same version: nothing converted away */
	assert_string_equal(str_at(cl, "dns.type"), "CoreDNS");
	assert_string_equal(str_at(cl, "kubernetesVersion"), "v1.22.17");
	assert_null(ynode_get(doc_of(d, "InitConfiguration"), "nodeRegistration.imagePullPolicy"));
	ydoc_free(d);

	in.host_ip = "10.0.0.4";
	buf_reset(&text);
	d = render_ok(KUBEADM_JOIN_MASTER, &in, &text);
	assert_string_equal(str_at(doc_of(d, "JoinConfiguration"), "apiVersion"),
			    "kubeadm.k8s.io/v1beta2");
	ydoc_free(d);
	buf_release(&text);
}

static void test_api_versions(void **state)
{
	(void)state;
	static const struct {
		const char *v, *api;
	} t[] = {
		{ "v1.15.0", "kubeadm.k8s.io/v1beta2" }, { "1.22.17", "kubeadm.k8s.io/v1beta2" },
		{ "v1.23.0", "kubeadm.k8s.io/v1beta3" }, { "v1.28.7", "kubeadm.k8s.io/v1beta3" },
		{ "v1.30.9-rc.1", "kubeadm.k8s.io/v1beta3" }, { "v1.9.0", NULL },
		{ "v1.100.0", NULL }, { "v1.31.0", NULL }, { "v1.14.10", NULL },
		{ "v2.0.0", NULL }, { "v1.28", NULL }, { "v1.28.7 ", NULL },
		{ "v1.28.7;rm", NULL }, { "", NULL }, { "v1.028.7", NULL }, { "v1.0.0", NULL },
		{ "v1.28.77777", NULL },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct errbuf err = ERRBUF_INIT;
		const char *api = NULL;
		int r = kubeadm_api_version(t[i].v, &api, &err);
		if (t[i].api) {
			assert_int_equal(r, 0);
			assert_string_equal(api, t[i].api);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_true(err.msg[0] != '\0');
		}
	}
}

/* Each bad Clusterfile is refused with this text in the message. */
static void expect_refused(const char *version, enum kubeadm_role role, const char *host,
			   const char *cf, const char *msg)
{
	struct user u;
	struct buf text = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in(version, host);

	user_load(&u, cf);
	assert_true(u.n > 0 || strstr(cf, "kind: Bogus"));
	in.user_docs = u.docs;
	in.n_user_docs = u.n;
	if (strstr(cf, "kind: Bogus")) { /* not a kubeadm kind: given as the image's file */
		in.image_yml = cf;
		in.image_yml_len = strlen(cf);
		in.image_yml_name = "Clusterfile";
	}
	assert_int_equal(kubeadm_config_render(role, &in, &text, &err), -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("expected '%s' in '%s'", msg, err.msg);
	assert_int_equal(text.len, 0);
	buf_release(&text);
	ydoc_free(u.d);
}

static void test_refused(void **state)
{
	(void)state;
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\n---\nkind: Bogus\napiVersion: x/v1\n",
		       "Clusterfile:3: kind: 'Bogus' is not a kubeadm document kind");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\napiVersion: kubeadm.k8s.io/v1beta1\n",
		       "Clusterfile:2: ClusterConfiguration.apiVersion: 'kubeadm.k8s.io/v1beta1' "
		       "is not kubeadm.k8s.io/v1beta2 or v1beta3");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: KubeletConfiguration\napiVersion: kubeadm.k8s.io/v1beta3\n",
		       "Clusterfile:2: KubeletConfiguration.apiVersion: 'kubeadm.k8s.io/v1beta3' "
		       "is not kubelet.config.k8s.io/v1beta1");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\napiVersion: [a]\n",
		       "ClusterConfiguration.apiVersion: must be a string");
	/* v1beta4's list form: replaced by the forced node-ip it would lose the user's args */
	expect_refused("v1.28.7", KUBEADM_JOIN_NODE, "10.0.0.9",
		       "kind: JoinConfiguration\nnodeRegistration:\n  kubeletExtraArgs: [{name: v, value: '2'}]\n",
		       "JoinConfiguration.nodeRegistration.kubeletExtraArgs: must be a map");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"
		       "useHyperKubeImage: true\n",
		       "Clusterfile:3: ClusterConfiguration.useHyperKubeImage: cannot be converted "
		       "to kubeadm.k8s.io/v1beta3");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"
		       "dns:\n  type: kube-dns\n",
		       "Clusterfile:4: ClusterConfiguration.dns.type: cannot be converted");
	expect_refused("v1.22.3", KUBEADM_INIT, "10.0.0.2",
		       "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
		       "skipPhases: [addon/coredns]\n",
		       "Clusterfile:3: InitConfiguration.skipPhases: exists in "
		       "kubeadm.k8s.io/v1beta3 but not in kubeadm.k8s.io/v1beta2, which Kubernetes "
		       "v1.22.3 reads");
	expect_refused("v1.22.3", KUBEADM_JOIN_NODE, "10.0.0.9",
		       "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\n"
		       "nodeRegistration:\n  imagePullPolicy: Always\n",
		       "Clusterfile:4: JoinConfiguration.nodeRegistration.imagePullPolicy: exists in");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\napiServer:\n  certSANs: a.example\n",
		       "Clusterfile:3: ClusterConfiguration.apiServer.certSANs: must be a list");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\napiServer:\n  certSANs: [ok, {a: b}]\n",
		       "ClusterConfiguration.apiServer.certSANs: item 1 is not");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\napiServer: yes\n",
		       "Clusterfile:2: ClusterConfiguration.apiServer: must be a map");
	expect_refused("v1.28.7", KUBEADM_JOIN_NODE, "10.0.0.9",
		       "kind: JoinConfiguration\ndiscovery:\n  bootstrapToken: [x]\n",
		       "Clusterfile:3: JoinConfiguration.discovery.bootstrapToken: must be a map");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.2",
		       "kind: ClusterConfiguration\n---\nkind: ClusterConfiguration\n",
		       "Clusterfile:3: a second ClusterConfiguration (the first is at Clusterfile:1)");
	expect_refused("v1.31.0", KUBEADM_INIT, "10.0.0.2", "kind: ClusterConfiguration\n",
		       "reads kubeadm.k8s.io/v1beta4");
	expect_refused("v1.28.7", KUBEADM_INIT, "10.0.0.3", "kind: ClusterConfiguration\n",
		       "kubeadm init runs on master0 10.0.0.2");
	expect_refused("v1.28.7", KUBEADM_JOIN_MASTER, "10.0.0.2", "kind: ClusterConfiguration\n",
		       "not one of the masters after master0");
	expect_refused("v1.28.7", KUBEADM_JOIN_NODE, "10.0.0.4", "kind: ClusterConfiguration\n",
		       "is a master; it cannot join as a node");
}

static void test_refused_inputs(void **state)
{
	(void)state;
	struct buf text = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;
	struct kubeadm_config_in in = base_in("v1.28.7", "10.0.0.3");

	in.token = "ABCDEF.0123456789abcdef";
	assert_int_equal(kubeadm_config_render(KUBEADM_JOIN_MASTER, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bootstrap token"));
	assert_null(strstr(err.msg, "ABCDEF")); /* a secret is never echoed */
	in.token = TOKEN;
	in.ca_cert_hash = "sha256:668d";
	assert_int_equal(kubeadm_config_render(KUBEADM_JOIN_MASTER, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "CA certificate hash"));
	in.ca_cert_hash = HASH;
	in.certificate_key = "nothex";
	assert_int_equal(kubeadm_config_render(KUBEADM_JOIN_MASTER, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "certificate key"));
	/* a node needs no certificate key */
	in.host_ip = "10.0.0.8";
	ydoc_free(render_ok(KUBEADM_JOIN_NODE, &in, &text));
	buf_reset(&text);

	in = base_in("v1.28.7", "10.0.0.2");
	in.node_name = "bad name";
	assert_int_equal(kubeadm_config_render(KUBEADM_INIT, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node name"));
	in.node_name = NULL;
	in.cgroup_driver = "cgroup";
	assert_int_equal(kubeadm_config_render(KUBEADM_INIT, &in, &text, &err), -EINVAL);
	in.cgroup_driver = NULL;
	const char *const bad_masters[] = { "10.0.0.2", "10.0.0.300" };
	in.masters = bad_masters;
	in.n_masters = 2;
	assert_int_equal(kubeadm_config_render(KUBEADM_INIT, &in, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "10.0.0.300"));
	in = base_in("v1.28.7", "10.0.0.2");
	in.image_yml = "kind: [\n";
	in.image_yml_len = strlen(in.image_yml);
	in.image_yml_name = "img:etc/kubeadm.yml";
	assert_true(kubeadm_config_render(KUBEADM_INIT, &in, &text, &err) < 0);
	assert_non_null(strstr(err.msg, "img:etc/kubeadm.yml:"));
	assert_int_equal(text.len, 0);
	buf_release(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_merge),
		cmocka_unit_test(test_validate_warnings),
		cmocka_unit_test(test_secret_not_in_warnings),
		cmocka_unit_test(test_too_many_sans),
		cmocka_unit_test(test_reference_defaults_as_image),
		cmocka_unit_test(test_join_master_and_node),
		cmocka_unit_test(test_v1beta2_for_1_22),
		cmocka_unit_test(test_api_versions),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_refused_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
