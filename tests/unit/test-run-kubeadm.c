/* The kubeadm phases' view of an image (installer/run/kubeadm.c, run_kubeadm_load), before
 * any host is touched: bin/kubeadm and etc/kubeadm.yml as the layers leave them (a later
 * whiteout removes them), the version from etc/kubeadm.yml's ClusterConfiguration, a
 * missing version or a hostile etc/kubeadm.yml refused, an image with bin/kubeadm but no
 * etc/kubeadm.yml not taken as a base image, the Clusterfile's kubeadm documents checked. */
/* the tar entries below name only the fields they need */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "helpers.h"

#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "run/run-internal.h"
#include "ydoc.h"

struct fixture {
	char *dir;
	struct image_store *st;
	struct cluster c;
	struct cluster_host hosts[3];
	struct run_opts o;
	struct run r;
	char *digests[4];
	char names[4][80];
	struct errbuf err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/cirun-unit-XXXXXX";
	_cleanup_free_ char *home = NULL;
	static const char *const ips[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };

	if (!f || !mkdtemp(tmpl))
		return -1;
	f->dir = strdup(tmpl);
	home = xasprintf("%s/home", f->dir);
	if (image_store_open(home, &f->st, &f->err) < 0)
		return -1;
	f->c.image = (char *)"k8s:v1";
	f->r.c = &f->c;
	f->r.o = &f->o;
	f->r.st = f->st;
	f->r.n = 3;
	f->r.hosts = calloc(3, sizeof(*f->r.hosts));
	for (size_t i = 0; i < 3; i++) {
		f->hosts[i] = (struct cluster_host){ .ip = (char *)ips[i],
						     .role = i < 2 ? ROLE_MASTER : ROLE_NODE };
		f->r.hosts[i].spec = &f->hosts[i];
	}
	f->r.digests = f->digests;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	run_layers_scan_release(&f->r);
	run_kubeadm_release(&f->r);
	free(f->r.hosts);
	image_store_close(f->st);
	tmpdir_teardown((void **)&f->dir);
	free(f);
	return 0;
}

static void put_layer(struct fixture *f, size_t k, const struct tentry *t, size_t n)
{
	char hex[SHA256_HEX_SIZE];

	/* named by its digest, as the store does: the run's layer index relies on it */
	snprintf(f->names[k], sizeof(f->names[k]), "sha256:%064zx", k + 1);
	_cleanup_free_ char *tmp = image_store_blob_path(f->st, f->names[k]);
	_cleanup_free_ char *d = xstrdup(tmp);
	*strrchr(d, '/') = '\0';
	assert_int_equal(mkdir_p(d, 0700), 0);
	assert_int_equal(write_layer(tmp, "gzip", t, n), 0);
	assert_int_equal(sha256_file(tmp, hex, NULL), 0);
	snprintf(f->names[k], sizeof(f->names[k]), "sha256:%s", hex);
	f->digests[k] = f->names[k];
	_cleanup_free_ char *p = image_store_blob_path(f->st, f->names[k]);
	assert_int_equal(rename(tmp, p), 0);
	f->r.nlayers = k + 1;
}

#define YML "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.28.7\n"

static const struct tentry base[] = {
	{ 'd', "bin" }, { 'f', "bin/kubeadm", "#!/bin/sh\n", 0755 }, { 'd', "etc" },
	{ 'f', "etc/kubeadm.yml", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
				  "---\n" YML },
};

static void test_base_image(void **state)
{
	struct fixture *f = *state;

	put_layer(f, 0, base, ELEMENTSOF(base));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(f->r.has_kubeadm);
	assert_string_equal(f->r.k8s_version, "v1.28.7");
	assert_int_equal(f->r.n_masters, 2);
	assert_string_equal(f->r.master_ips[1], "10.0.0.2");
	assert_false(run_no_kubeadm(&f->r));
	assert_false(run_no_master_joins(&f->r));
	assert_false(run_no_node_joins(&f->r));
	assert_false(run_no_joins(&f->r));
}

static void test_no_kubeadm(void **state)
{
	struct fixture *f = *state;
	static const struct tentry app[] = { { 'd', "etc" }, { 'f', "etc/app.yaml", "a: 1\n" } };

	put_layer(f, 0, app, ELEMENTSOF(app));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(run_no_kubeadm(&f->r) && run_no_joins(&f->r));
	assert_true(run_no_master_joins(&f->r) && run_no_node_joins(&f->r));
}

/* a later layer's whiteout of bin/kubeadm, of bin/, or an opaque bin/ removes it */
static void test_whiteouts(void **state)
{
	struct fixture *f = *state;
	static const struct tentry wh[] = { { 'f', "bin/.wh.kubeadm", "" } };
	static const struct tentry opq[] = { { 'f', "./bin/.wh..wh..opq", "" },
					     { 'f', "bin/kubectl", "x" } };
	static const struct tentry back[] = { { 'f', "bin/kubeadm", "y" } };
	static const struct tentry etc_gone[] = { { 'f', "etc/.wh.kubeadm.yml", "" } };

	put_layer(f, 0, base, ELEMENTSOF(base));
	put_layer(f, 1, wh, ELEMENTSOF(wh));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(run_no_kubeadm(&f->r));
	put_layer(f, 1, back, ELEMENTSOF(back));
	put_layer(f, 2, opq, ELEMENTSOF(opq));
	f->r.kubeadm_yml_len = 0;
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(run_no_kubeadm(&f->r));
	/* kubeadm back, etc/kubeadm.yml removed: not a base image (a warning), skipped */
	put_layer(f, 2, etc_gone, ELEMENTSOF(etc_gone));
	put_layer(f, 3, back, ELEMENTSOF(back));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(run_no_kubeadm(&f->r));
	assert_null(f->r.kubeadm_yml);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	static const struct tentry nover[] = {
		{ 'f', "bin/kubeadm", "x" },
		{ 'f', "etc/kubeadm.yml", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n" },
	};
	static const struct tentry link[] = { { 'f', "bin/kubeadm", "x" },
					      { 'l', "etc/kubeadm.yml", "/etc/shadow" } };
	static const struct tentry bad_yaml[] = { { 'f', "bin/kubeadm", "x" },
						  { 'f', "etc/kubeadm.yml", "a: [\n" } };
	static const struct tentry old[] = {
		{ 'f', "bin/kubeadm", "x" },
		{ 'f', "etc/kubeadm.yml", "kind: ClusterConfiguration\nkubernetesVersion: v1.14.0\n" },
	};

	put_layer(f, 0, nover, ELEMENTSOF(nover));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&f->err), "k8s:v1:etc/kubeadm.yml: no ClusterConfiguration "
				       "with a kubernetesVersion"));
	run_kubeadm_release(&f->r);
	run_layers_scan_release(&f->r);
	f->r = (struct run){ .c = f->r.c, .o = f->r.o, .st = f->r.st, .n = 3, .hosts = f->r.hosts,
			     .digests = f->r.digests };

	put_layer(f, 0, link, ELEMENTSOF(link));
	errbuf_clear(&f->err);
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&f->err), "not a regular file"));

	put_layer(f, 0, bad_yaml, ELEMENTSOF(bad_yaml));
	errbuf_clear(&f->err);
	assert_true(run_kubeadm_load(&f->r, &f->err) < 0);
	assert_non_null(strstr(errbuf_msg(&f->err), "k8s:v1:etc/kubeadm.yml:"));
	run_kubeadm_release(&f->r);
	run_layers_scan_release(&f->r);
	f->r = (struct run){ .c = f->r.c, .o = f->r.o, .st = f->r.st, .n = 3, .hosts = f->r.hosts,
			     .digests = f->r.digests };

	/* a version kubeadm_config_validate refuses */
	put_layer(f, 0, old, ELEMENTSOF(old));
	errbuf_clear(&f->err);
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&f->err), "kubeadm config of image k8s:v1"));
}

static void test_oversized_yml(void **state)
{
	struct fixture *f = *state;
	size_t n = (1u << 20) + 1;
	char *big = malloc(n + 1);
	memset(big, '#', n);
	big[n] = '\0';
	const struct tentry t[] = { { 'f', "bin/kubeadm", "x" }, { 'f', "etc/kubeadm.yml", big } };

	put_layer(f, 0, t, ELEMENTSOF(t));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -E2BIG);
	free(big);
}

/* a Clusterfile kubeadm document kubeadm would refuse stops the run before any host */
static void test_clusterfile_doc_checked(void **state)
{
	struct fixture *f = *state;
	static const char doc[] = "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"
				  "useHyperKubeImage: true\n";
	struct ydoc *d = NULL;
	struct cluster_kubeadm_doc k = { .kind = (char *)"ClusterConfiguration",
					 .api_version = (char *)"kubeadm.k8s.io/v1beta2",
					 .file = (char *)"Clusterfile", .line = 3 };

	assert_int_equal(ydoc_parse("Clusterfile", doc, strlen(doc), NULL, &d, &f->err), 0);
	k.tree = ydoc_root(d, 0);
	f->c.kubeadm = &k;
	f->c.nkubeadm = 1;
	put_layer(f, 0, base, ELEMENTSOF(base));
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&f->err), "useHyperKubeImage"));
	f->c.kubeadm = NULL;
	f->c.nkubeadm = 0;
	ydoc_free(d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_base_image),	T(test_no_kubeadm), T(test_whiteouts),
		T(test_refusals),	T(test_oversized_yml), T(test_clusterfile_doc_checked),
	};
	return cmocka_run_group_tests_name("run-kubeadm", tests, NULL, NULL);
}
