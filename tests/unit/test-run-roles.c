/* What goes where (installer/run/roles.c): the registry host gets the image's layers, the
 * other hosts each layer without images/ and registry/ — a view of its own when something
 * was left out, the original when nothing was, nothing for a layer that held only those;
 * the views' blobs read from the views cache, the others from the store; what a host is
 * not sent, said for it alone. */
/* the tar entries below name only the fields they need */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "helpers.h"

#include <stdio.h>

#include "cleanup.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "run/run-internal.h"

struct fixture {
	char *dir;
	struct image_store *st;
	struct cluster c;
	struct cluster_host hosts[3];
	struct run r;
	char *digests[3];
	uint64_t sizes[3];
	char names[3][80];
	struct errbuf err;
};

static const struct tentry etc_only[] = { { 'd', "etc" }, { 'f', "etc/a.conf", "a" } };
static const struct tentry images_only[] = { { 'd', "images" }, { 'f', "images/r.tar", "r" },
					     { 'f', ".wh.registry", "" } };
static const struct tentry mixed[] = { { 'd', "bin" }, { 'f', "bin/x", "x" },
				       { 'd', "registry" }, { 'f', "registry/blob", "blob" } };

static void put_layer(struct fixture *f, size_t k, const struct tentry *t, size_t n)
{
	struct stat st;

	snprintf(f->names[k], sizeof(f->names[k]), "sha256:%064zx", k + 1);
	f->digests[k] = f->names[k];
	_cleanup_free_ char *p = image_store_blob_path(f->st, f->names[k]);
	_cleanup_free_ char *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	assert_int_equal(mkdir_p(d, 0700), 0);
	assert_int_equal(write_layer(p, "zstd", t, n), 0);
	assert_int_equal(stat(p, &st), 0);
	f->sizes[k] = (uint64_t)st.st_size;
}

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
	f->r.c = &f->c;
	f->r.st = f->st;
	f->r.n = 3;
	f->r.hosts = calloc(3, sizeof(*f->r.hosts));
	for (size_t i = 0; i < 3; i++)
		f->r.hosts[i].spec = &f->hosts[i];
	put_layer(f, 0, etc_only, ELEMENTSOF(etc_only));
	put_layer(f, 1, images_only, ELEMENTSOF(images_only));
	put_layer(f, 2, mixed, ELEMENTSOF(mixed));
	f->r.digests = f->digests;
	f->r.sizes = f->sizes;
	f->r.nlayers = 3;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	run_roles_release(&f->r);
	free(f->r.hosts);
	image_store_close(f->st);
	tmpdir_teardown((void **)&f->dir);
	free(f);
	return 0;
}

static void load(struct fixture *f)
{
	if (run_roles_load(&f->r, &f->err) < 0)
		fail_msg("%s", errbuf_msg(&f->err));
}

static void test_what_goes_where(void **state)
{
	struct fixture *f = *state;
	char *const *d;
	const uint64_t *s;
	size_t n;
	char buf[256];

	f->r.registry_host = 1;
	load(f);
	run_host_layers(&f->r, 1, &d, &s, &n);
	assert_int_equal(n, 3);
	assert_ptr_equal(d, f->r.digests);
	assert_null(run_roles_skipped(&f->r, 1, buf, sizeof(buf)));
	for (size_t i = 0; i < 3; i += 2) {
		run_host_layers(&f->r, i, &d, &s, &n);
		assert_int_equal(n, 2);
		assert_string_equal(d[0], f->names[0]);
		assert_int_equal(s[0], f->sizes[0]);
		assert_string_not_equal(d[1], f->names[2]);
		assert_true(s[1] > 0);
		_cleanup_free_ char *orig = run_layer_path(&f->r, d[0]);
		_cleanup_free_ char *store = image_store_blob_path(f->st, d[0]);
		assert_string_equal(orig, store);
		_cleanup_free_ char *view = run_layer_path(&f->r, d[1]);
		assert_non_null(strstr(view, "/views/blobs/sha256/"));
		assert_int_equal(access(view, R_OK), 0);
		assert_non_null(run_roles_skipped(&f->r, i, buf, sizeof(buf)));
		assert_non_null(strstr(buf, "images/, registry/: not sent (not the registry host; "
					    "2 layers filtered, "));
	}
	/* the same views from the cache on the next run */
	char first[80];
	snprintf(first, sizeof(first), "%s", d[1]);
	run_roles_release(&f->r);
	load(f);
	run_host_layers(&f->r, 0, &d, &s, &n);
	assert_int_equal(n, 2);
	assert_string_equal(d[1], first);
}

/* One host is the registry host: it gets everything, no view is made. */
static void test_one_host(void **state)
{
	struct fixture *f = *state;
	char *const *d;
	const uint64_t *s;
	size_t n;
	char buf[256];

	f->r.n = 1;
	load(f);
	run_host_layers(&f->r, 0, &d, &s, &n);
	assert_int_equal(n, 3);
	assert_null(run_roles_skipped(&f->r, 0, buf, sizeof(buf)));
	_cleanup_free_ char *views = xasprintf("%s/home/views", f->dir);
	assert_int_not_equal(access(views, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_what_goes_where, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_host, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
