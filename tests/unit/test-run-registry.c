/* The registry phase's view of an image (installer/run/registry.c, run_registry_load):
 * the archives of images/ as the layers leave them (a later layer's whiteout or opaque
 * images/ removes what earlier ones had, a whiteout of images/ removes it all), only plain
 * files right under images/, registry.tar apart; the registry host picked by IP. */
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

struct fixture {
	char *dir;
	struct image_store *st;
	struct cluster c;
	struct cluster_host hosts[2];
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

	if (!f || !mkdtemp(tmpl))
		return -1;
	f->dir = strdup(tmpl);
	home = xasprintf("%s/home", f->dir);
	if (image_store_open(home, &f->st, &f->err) < 0)
		return -1;
	f->c.image = (char *)"app:v1";
	f->hosts[0].ip = (char *)"10.0.0.1";
	f->hosts[1].ip = (char *)"10.0.0.2";
	f->r.c = &f->c;
	f->r.st = f->st;
	f->r.n = 2;
	f->r.hosts = calloc(2, sizeof(*f->r.hosts));
	for (size_t i = 0; i < 2; i++)
		f->r.hosts[i].spec = &f->hosts[i];
	f->r.digests = f->digests;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	run_layers_scan_release(&f->r);
	run_registry_release(&f->r);
	run_kubeadm_release(&f->r);
	free(f->r.hosts);
	image_store_close(f->st);
	tmpdir_teardown((void **)&f->dir);
	free(f);
	return 0;
}

/* Layer k of the image, stored where the run reads it. */
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

static const struct tentry base[] = {
	{ 'd', "images" },	       { 'f', "images/registry.tar", "r" }, { 'f', "images/b.tar", "b" },
	{ 'f', "images/a.tar", "a" }, { 'd', "images/sub" },		    { 'f', "images/sub/c.tar", "c" },
	{ 'l', "images/link.tar", "/etc/shadow" },			    { 'f', "etc/x.tar", "x" },
};

static void test_whiteouts_and_order(void **state)
{
	struct fixture *f = *state;
	static const struct tentry over[] = { { 'f', "images/.wh.a.tar", "" },
					      { 'f', "./images/d.tar", "d" } };

	put_layer(f, 0, base, ELEMENTSOF(base));
	put_layer(f, 1, over, ELEMENTSOF(over));
	f->c.registry_host = (char *)"10.0.0.2";
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_true(f->r.has_images && f->r.has_registry_tar);
	assert_int_equal(f->r.narchives, 2);
	assert_string_equal(f->r.archives[0], "b.tar");
	assert_string_equal(f->r.archives[1], "d.tar");
	assert_false(run_no_registry(&f->r));
	assert_false(phase_on_registry.pick(&f->r, 0));
	assert_true(phase_on_registry.pick(&f->r, 1));

	/* the next run reads the index the first one left, not the layers (removed here) */
	run_registry_release(&f->r);
	f->r.layers_scanned = f->r.has_images = f->r.has_registry_tar = false;
	for (size_t k = 0; k < 2; k++) {
		_cleanup_free_ char *blob = image_store_blob_path(f->st, f->names[k]);
		assert_int_equal(unlink(blob), 0);
	}
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_true(f->r.has_images && f->r.has_registry_tar);
	assert_int_equal(f->r.narchives, 2);
	assert_string_equal(f->r.archives[0], "b.tar");
	assert_string_equal(f->r.archives[1], "d.tar");
}

static void test_opaque_and_removed(void **state)
{
	struct fixture *f = *state;
	static const struct tentry opaque[] = { { 'f', "images/.wh..wh..opq", "" },
						{ 'f', "images/e.tar", "e" } };
	static const struct tentry gone[] = { { 'f', ".wh.images", "" } };

	put_layer(f, 0, base, ELEMENTSOF(base));
	put_layer(f, 1, opaque, ELEMENTSOF(opaque));
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_false(f->r.has_registry_tar);
	assert_int_equal(f->r.narchives, 1);
	assert_string_equal(f->r.archives[0], "e.tar");
	assert_true(phase_on_registry.pick(&f->r, 0)); /* no registry host given: master0 */
	run_registry_release(&f->r);
	f->r.has_images = f->r.has_registry_tar = false;

	put_layer(f, 2, gone, ELEMENTSOF(gone));
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_false(f->r.has_images);
	assert_int_equal(f->r.narchives, 0);
	assert_true(run_no_registry(&f->r));
}

/* One walk of the layers feeds the kubeadm phases too: once run_registry_load has read
 * them, run_kubeadm_load needs no layer (the blobs removed here), and a hostile
 * etc/kubeadm.yml seen in that walk is refused by run_kubeadm_load, not by the registry. */
static void test_one_walk_for_kubeadm(void **state)
{
	struct fixture *f = *state;
	static const struct tentry k8s[] = {
		{ 'f', "bin/kubeadm", "x" }, { 'f', "images/a.tar", "a" },
		{ 'f', "etc/kubeadm.yml", "kind: ClusterConfiguration\nkubernetesVersion: v1.28.7\n" },
	};
	static const struct tentry link[] = { { 'f', "bin/kubeadm", "x" },
					      { 'l', "etc/kubeadm.yml", "/etc/shadow" },
					      { 'f', "images/b.tar", "b" } };
	struct run_opts o = { 0 };
	_cleanup_free_ char *blob = NULL;

	f->r.o = &o;
	f->hosts[0].role = ROLE_MASTER;
	put_layer(f, 0, k8s, ELEMENTSOF(k8s));
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_int_equal(f->r.narchives, 1);
	blob = image_store_blob_path(f->st, f->names[0]);
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), 0);
	assert_true(f->r.has_kubeadm);
	assert_string_equal(f->r.k8s_version, "v1.28.7");
	run_kubeadm_release(&f->r);
	run_registry_release(&f->r);
	run_layers_scan_release(&f->r);
	f->r = (struct run){ .c = f->r.c, .o = &o, .st = f->r.st, .n = 2, .hosts = f->r.hosts,
			     .digests = f->r.digests };

	put_layer(f, 0, link, ELEMENTSOF(link));
	assert_int_equal(run_registry_load(&f->r, &f->err), 0);
	assert_int_equal(f->r.narchives, 1);
	assert_string_equal(f->r.archives[0], "b.tar");
	assert_int_equal(run_kubeadm_load(&f->r, &f->err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&f->err), "not a regular file"));
	assert_non_null(strstr(errbuf_msg(&f->err), "reading bin/kubeadm and etc/kubeadm.yml of image app:v1"));
}

static void test_unreadable_layer(void **state)
{
	struct fixture *f = *state;

	snprintf(f->names[0], sizeof(f->names[0]), "sha256:%064x", 9);
	f->digests[0] = f->names[0];
	f->r.nlayers = 1;
	assert_int_equal(run_registry_load(&f->r, &f->err), -EIO);
	assert_non_null(strstr(errbuf_msg(&f->err), "listing the images/ of image app:v1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whiteouts_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opaque_and_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_walk_for_kubeadm, setup, teardown),
	};
	return cmocka_run_group_tests_name("run-registry", tests, NULL, NULL);
}
