/* The run's plugin validation (installer/run/plugins.c, run_plugins_load): the
 * Clusterfile's plugins in the merge's order, the image's default Clusterfile (its
 * annotation, no file) among them, each error naming its source and line; every point of
 * a run and every type accepted, with the rows each needs; addresses that are not hosts
 * refused. */
/* the tar entries below name only the fields they need */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "helpers.h"

#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "clusterfile.h"
#include "log.h"
#include "run/plugins-internal.h"

#define TMPL_NAME "app:v1 (annotation sea.aliyun.com/ClusterFile)"

static const char tmpl[] =
	"kind: Cluster\n"
	"metadata: {name: c}\n"
	"spec: {image: app:v1}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: from-template}\n"
	"spec:\n"
	"  type: SHELL\n"
	"  action: PostInstall\n"
	"  on: master0\n"
	"  data: echo t\n";

static const char user_head[] =
	"kind: Cluster\n"
	"metadata: {name: c}\n"
	"spec:\n"
	"  image: app:v1\n"
	"  ssh: {passwd: pw}\n"
	"  hosts:\n"
	"  - {ips: [10.0.0.1], roles: [master]}\n"
	"  - {ips: [10.0.0.2], roles: [node]}\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: p}\n"
	"spec:\n"; /* the plugin's spec follows, from line 14 */

struct fixture {
	char *dir, *file;
	struct image_store *st;
	struct cluster c;
	struct run_opts o;
	struct run r;
	struct errbuf err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tmpl_dir[] = "/tmp/cirun-unit-XXXXXX";

	if (!f || !mkdtemp(tmpl_dir))
		return -1;
	f->dir = strdup(tmpl_dir);
	f->file = tmp_path((void **)&f->dir, "Clusterfile");
	f->err = (struct errbuf)ERRBUF_INIT;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	run_layers_scan_release(&f->r);
	run_plugins_release(&f->r);
	free(f->r.hosts);
	free(f->r.img.meta.clusterfile);
	cluster_release(&f->c);
	image_store_close(f->st);
	tmpdir_teardown((void **)&f->dir);
	free(f->file);
	free(f);
	return 0;
}

/* The user's Clusterfile with spec (the plugin's, from line 14) over the template
 * (with_tmpl), then run_plugins_load as the run does it. */
static int load(struct fixture *f, const char *spec, bool with_tmpl)
{
	FILE *fp = fopen(f->file, "w");
	_cleanup_free_ char *home = NULL;

	assert_non_null(fp);
	fprintf(fp, "%s%s", user_head, spec);
	fclose(fp);
	assert_int_equal(clusterfile_load_over(with_tmpl ? TMPL_NAME : NULL, with_tmpl ? tmpl : NULL,
					       with_tmpl ? strlen(tmpl) : 0, f->file, &f->c, &f->err), 0);
	assert_int_equal(cluster_finish(&f->c, &f->err), 0);
	assert_int_equal(asprintf(&home, "%s/home", f->dir) > 0, true);
	assert_int_equal(image_store_open(home, &f->st, &f->err), 0);
	f->r.c = &f->c;
	f->r.st = f->st;
	f->r.o = &f->o;
	f->r.n = f->c.nhosts;
	f->r.hosts = calloc(f->r.n, sizeof(*f->r.hosts));
	for (size_t i = 0; i < f->r.n; i++)
		f->r.hosts[i].spec = &f->c.hosts[i];
	if (with_tmpl)
		f->r.img.meta.clusterfile = strdup(tmpl);
	return run_plugins_load(&f->r, &f->err);
}

static void test_template_first_then_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "  type: SHELL\n  action: Originally|PostInstall\n  on: node\n"
			      "  data: echo u\n", true), 0);
	assert_int_equal(f->r.plugins.n, 2);
	assert_string_equal(f->r.plugins.v[0].name, "from-template");
	assert_string_equal(f->r.plugins.v[0].file, TMPL_NAME);
	assert_int_equal(f->r.plugins.v[0].line, 5);
	assert_string_equal(f->r.plugins.v[1].name, "p");
	assert_string_equal(f->r.plugins.v[1].file, f->file);
	assert_false(run_no_plugins_originally(&f->r));
	assert_false(run_no_plugins_post_install(&f->r));
	assert_true(run_no_plugin_selectors(&f->r));
}

static void test_misspelt_phase_names_file_line(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *want = NULL;

	assert_int_equal(load(f, "  type: SHELL\n  action: PostInstal\n  data: x\n", false), -EINVAL);
	assert_int_equal(asprintf(&want, "%s:15:", f->file) > 0, true);
	assert_non_null(strstr(errbuf_msg(&f->err), want));
	assert_non_null(strstr(errbuf_msg(&f->err), "unknown phase 'PostInstal'"));
}

static void test_selector_at_preinit_refused(void **state)
{
	struct fixture *f = *state;

	assert_true(load(f, "  type: SHELL\n  action: PreInit\n  on: a=b\n  data: x\n", false) < 0);
	assert_non_null(strstr(errbuf_msg(&f->err), "Clusterfile:16:"));
	assert_non_null(strstr(errbuf_msg(&f->err), "label selector"));
}

/* LABEL, TAINT and CLUSTERCHECK run now (through master0's kubectl): accepted, with the
 * row "PHASE kubectl" on master0, and the row on the hosts for LABEL and TAINT (a node's
 * failure is its host's); the old code refused them as not supported yet. */
static void test_kubectl_types_accepted(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "  type: TAINT\n  action: PostInstall|PostJoin\n"
			      "  data: 10.0.0.2 a=b:NoSchedule\n", false), 0);
	assert_false(run_no_plugin_selectors(&f->r));
	assert_false(run_no_plugins_post_install(&f->r));
	assert_false(run_no_plugins_post_join_kubectl(&f->r));
	assert_false(run_no_plugins_post_join(&f->r));
	assert_true(run_no_plugins_pre_guest_kubectl(&f->r));
	assert_true(run_no_plugins_pre_guest(&f->r));
}

/* CLUSTERCHECK is master0's alone: no row on the hosts for it. */
static void test_clustercheck_on_master0_only(void **state)
{
	struct fixture *f = *state;
	struct plugin_plan plan = { 0 };
	const struct plugin_action *a = NULL;

	assert_int_equal(load(f, "  type: CLUSTERCHECK\n  action: PreGuest\n", false), 0);
	assert_false(run_no_plugins_pre_guest_kubectl(&f->r));
	assert_true(run_no_plugins_pre_guest(&f->r));
	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_PRE_GUEST, 0, &plan,
					     &a, &f->err), 0);
	assert_int_equal(plan.n_hosts, 1);
	assert_non_null(a);
	plugin_plan_release(&plan);
}

/* The points PreInit, PreJoin, PostJoin and PreGuest are run points now (the old code
 * refused them as not supported yet); PreJoin acts on the hosts that join, not master0. */
static void test_every_run_phase_accepted(void **state)
{
	struct fixture *f = *state;
	struct plugin_plan plan = { 0 };
	const struct plugin_action *a = NULL;

	assert_int_equal(load(f, "  type: SHELL\n  action: PreInit|PreJoin|PostJoin|PreGuest\n"
			      "  data: x\n", false), 0);
	assert_false(run_no_plugins_pre_init(&f->r));
	assert_false(run_no_plugins_pre_join(&f->r));
	assert_false(run_no_plugins_post_join(&f->r));
	assert_false(run_no_plugins_pre_guest(&f->r));
	/* no selector, no kubectl type: no row on master0 */
	assert_true(run_no_plugins_post_join_kubectl(&f->r));
	assert_true(run_no_plugins_pre_guest_kubectl(&f->r));
	assert_true(run_no_plugin_selectors(&f->r));
	assert_true(run_no_plugins_originally(&f->r));
	assert_true(run_no_plugins_post_install(&f->r));

	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_PRE_JOIN, 0, &plan,
					     &a, &f->err), 0);
	assert_int_equal(plan.n_hosts, 1);
	assert_null(a); /* master0 does not join */
	assert_int_equal(plan.actions[0].host, 1);
	plugin_plan_release(&plan);
	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_PRE_INIT, 0, &plan,
					     &a, &f->err), 0);
	assert_int_equal(plan.n_hosts, 2);
	assert_non_null(a);
	plugin_plan_release(&plan);
	assert_true(phase_on_joining.pick(&f->r, 1));
	assert_false(phase_on_joining.pick(&f->r, 0));
}

/* A label selector at PostJoin is answered by master0 first; unanswered, it is an error
 * on the hosts, never an empty selection. */
static void test_selector_unresolved_fails(void **state)
{
	struct fixture *f = *state;
	struct plugin_plan plan = { 0 };
	const struct plugin_action *a = NULL;

	assert_int_equal(load(f, "  type: SHELL\n  action: PostJoin\n  on: a=b\n  data: x\n",
			      false), 0);
	assert_false(run_no_plugins_post_join_kubectl(&f->r));
	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_POST_JOIN, 1, &plan,
					     &a, &f->err), -EIO);
	assert_non_null(strstr(errbuf_msg(&f->err), "was not resolved at PostJoin"));
	plugin_plan_release(&plan);
}

/* A plugin at two points: master0's answer at PostJoin is not PostInstall's (master0 may
 * have failed in between, never reaching the row that answers again). */
static void test_answer_is_per_point(void **state)
{
	struct fixture *f = *state;
	struct plugin_plan plan = { 0 };
	const struct plugin_action *a = NULL;

	assert_int_equal(load(f, "  type: SHELL\n  action: PostJoin|PostInstall\n  on: a=b\n"
			      "  data: x\n", false), 0);
	run_plugin_point_reset(&f->r, PLUGIN_POST_JOIN);
	f->r.plugin_selected[0].resolved = true; /* no node carries a=b */
	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_POST_JOIN, 1, &plan,
					     &a, &f->err), 0);
	assert_int_equal(plan.n_hosts, 0);
	plugin_plan_release(&plan);
	assert_int_equal(run_plugin_plan_for(&f->r, &f->r.plugins.v[0], PLUGIN_POST_INSTALL, 1,
					     &plan, &a, &f->err), -EIO);
	assert_non_null(strstr(errbuf_msg(&f->err), "was not resolved at PostInstall"));
	plugin_plan_release(&plan);
}

static void test_selector_at_prejoin_refused(void **state)
{
	struct fixture *f = *state;

	assert_true(load(f, "  type: SHELL\n  action: PreJoin\n  on: a=b\n  data: x\n", false) < 0);
	assert_non_null(strstr(errbuf_msg(&f->err), "label selector"));
}

static void test_delete_phases_accepted(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "  type: SHELL\n  action: PreClean\n  data: x\n", false), 0);
	assert_true(run_no_plugins_originally(&f->r));
	assert_true(run_no_plugins_post_install(&f->r));
}

static void test_address_not_a_host(void **state)
{
	struct fixture *f = *state;

	assert_true(load(f, "  type: SHELL\n  action: PostInstall\n  on: 10.0.0.9\n  data: x\n",
			 false) < 0);
	assert_non_null(strstr(errbuf_msg(&f->err), "10.0.0.9"));
}


/* The image's own plugins/ are read only from the layers the index saw them in: with the
 * first layer's blob gone (it has none), a later run still finds the plugin of the second,
 * and a third layer's whiteout removes it. */
static void put_blob(const char *home, const struct tentry *t, size_t n, char *digest)
{
	_cleanup_free_ char *dir = xasprintf("%s/images/blobs/sha256", home);
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", dir);
	char hex[SHA256_HEX_SIZE];

	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(write_layer(tmp, "zstd", t, n), 0);
	assert_int_equal(sha256_file(tmp, hex, NULL), 0);
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, hex);
	assert_int_equal(rename(tmp, p), 0);
	sprintf(digest, "sha256:%s", hex);
}

static void test_image_plugins_from_their_layers_only(void **state)
{
	struct fixture *f = *state;
	/* a "plugin" deeper down is no plugin of the image: that layer is not unpacked */
	static const struct tentry base[] = { { 'f', "bin/tool", "elf", 0755 },
					      { 'f', "usr/lib/gst/libgst-plugin.so", "elf" } };
	static const struct tentry app[] = {
		{ 'd', "./plugins" },
		{ 'f', "./plugins/image.yaml", "apiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\n"
		  "metadata: {name: from-image}\nspec: {type: SHELL, action: PostInstall, data: x}\n" },
	};
	static const struct tentry gone[] = { { 'f', ".wh.plugins", "" } };
	char names[3][80];
	char *digests[3] = { names[0], names[1], names[2] };
	_cleanup_free_ char *home = xasprintf("%s/home", f->dir);

	put_blob(home, base, ELEMENTSOF(base), names[0]);
	put_blob(home, app, ELEMENTSOF(app), names[1]);
	put_blob(home, gone, ELEMENTSOF(gone), names[2]);
	f->r.digests = digests;
	f->r.nlayers = 2;
	assert_int_equal(load(f, "  type: SHELL\n  action: PostInstall\n  data: echo u\n", false), 0);
	assert_int_equal(f->r.plugins.n, 2);
	assert_string_equal(f->r.plugins.v[1].name, "from-image");

	_cleanup_free_ char *blob = image_store_blob_path(f->st, names[0]);
	assert_int_equal(unlink(blob), 0);
	run_plugins_release(&f->r);
	free(f->r.hosts);
	cluster_release(&f->c);
	image_store_close(f->st);
	run_layers_scan_release(&f->r);
	f->c = (struct cluster){ 0 };
	f->r = (struct run){ .digests = digests, .nlayers = 2 };
	assert_int_equal(load(f, "  type: SHELL\n  action: PostInstall\n  data: echo u\n", false), 0);
	assert_int_equal(f->r.plugins.n, 2);
	assert_string_equal(f->r.plugins.v[1].name, "from-image");

	run_plugins_release(&f->r);
	free(f->r.hosts);
	cluster_release(&f->c);
	image_store_close(f->st);
	run_layers_scan_release(&f->r);
	f->c = (struct cluster){ 0 };
	f->r = (struct run){ .digests = digests + 1, .nlayers = 2 };
	assert_int_equal(load(f, "  type: SHELL\n  action: PostInstall\n  data: echo u\n", false), 0);
	assert_int_equal(f->r.plugins.n, 1);
	assert_string_equal(f->r.plugins.v[0].name, "p");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_template_first_then_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misspelt_phase_names_file_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_at_preinit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubectl_types_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clustercheck_on_master0_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_run_phase_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_unresolved_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_is_per_point, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_at_prejoin_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_phases_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_not_a_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_plugins_from_their_layers_only, setup,
						teardown),
	};
	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
