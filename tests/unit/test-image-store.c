#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "image-meta.h"
#include "image-scan.h"
#include "image-store.h"
#include "macro.h"

static struct image_store *open_store(void **state)
{
	struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *home = tmp_path(state, "home");

	if (image_store_open(home, &st, &err) < 0)
		fail_msg("open: %s", errbuf_msg(&err));
	return st;
}

static void expect_name(const char *in, const char *want)
{
	char *out = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r = image_ref_normalize(in, &out, &err);

	if (want) {
		if (r < 0)
			fail_msg("'%s' refused: %s", in, errbuf_msg(&err));
		assert_string_equal(out, want);
		free(out);
	} else {
		if (r >= 0)
			fail_msg("'%s' accepted as '%s'", in, out);
		assert_non_null(strstr(errbuf_msg(&err), in));
	}
}

static void test_names(void **state)
{
	(void)state;
	expect_name("app", "app:latest");
	expect_name("app:v1", "app:v1");
	expect_name("registry.local:5000/team/app", "registry.local:5000/team/app:latest");
	expect_name("registry.local:5000/team/app:1.0_rc-2", "registry.local:5000/team/app:1.0_rc-2");
	expect_name("kubernetes:v1.19.8", "kubernetes:v1.19.8");
	expect_name("App:v1", NULL);
	expect_name("app:", NULL);
	expect_name("app:-x", NULL);
	expect_name("a//b", NULL);
	expect_name("app@sha256:abcd", NULL);
	expect_name(":v1", NULL);
	expect_name("host:port:tag", NULL);
	expect_name("../../etc", NULL);
	expect_name("", NULL);
}

static void test_blobs(void **state)
{
	struct image_store *st = open_store(state);
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *digest = NULL;
	struct buf b = BUF_INIT(1024);
	struct blob_writer *w;

	assert_int_equal(image_store_put_blob(st, "hello", 5, &digest, &err), 0);
	assert_string_equal(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	assert_true(image_store_has_blob(st, digest));
	assert_int_equal(image_store_read_blob(st, digest, 1024, &b, &err), 0);
	assert_string_equal(b.data, "hello");
	buf_release(&b);

	/* a blob that does not match the expected digest is refused and not kept */
	assert_int_equal(blob_writer_new(st, &w, &err), 0);
	blob_writer_write(w, "other", 5);
	assert_int_equal(blob_writer_commit(w, digest, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "does not match its digest"));
	_cleanup_free_ char *tmpdir = NULL;
	if (asprintf(&tmpdir, "%s/tmp", image_store_dir(st)) < 0)
		abort();
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d)))
		files += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 0);

	/* a blob changed on disk is noticed when read */
	_cleanup_free_ char *p = image_store_blob_path(st, digest);
	FILE *f = fopen(p, "w");
	fputs("hellO", f);
	fclose(f);
	assert_int_equal(image_store_read_blob(st, digest, 1024, &b, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "is corrupt"));
	buf_release(&b);
	assert_int_equal(image_store_read_blob(st, "sha256:00", 1024, &b, &err), -EINVAL);
	image_store_close(st);
}

static void fill_meta(struct image_meta *m, struct image_store *st)
{
	char *l1 = NULL, *l2 = NULL;
	struct errbuf err = ERRBUF_INIT;

	memset(m, 0, sizeof(*m));
	assert_int_equal(image_store_put_blob(st, "layer-one", 9, &l1, &err), 0);
	assert_int_equal(image_store_put_blob(st, "layer-two", 9, &l2, &err), 0);
	m->created = xstrdup("2026-11-28T00:00:00Z");
	m->arch = xstrdup("amd64");
	m->os = xstrdup("linux");
	image_meta_add_layer(m, LAYER_COPY, ". .", l1,
			     "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			     MEDIA_LAYER_ZSTD, 9);
	image_meta_add_layer(m, LAYER_CMD, "kubectl apply -f a,b.yaml", NULL, NULL, NULL, 0);
	image_meta_add_layer(m, LAYER_RUN, "echo ${Version}", l2,
			     "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			     MEDIA_LAYER_ZSTD, 9);
	image_meta_set_arg(m, "Version", "4.0.0");
	image_meta_set_arg(m, "Empty", "");
	image_meta_add_cmd(m, "kubectl apply -f a,b.yaml");
	image_meta_add_image(m, "busybox:1.36");
	image_meta_add_image(m, "busybox:1.36");
	m->clusterfile = xstrdup("apiVersion: sealer.cloud/v2\nkind: Cluster\n");
	free(l1);
	free(l2);
}

static void test_commit_get_list(void **state)
{
	struct image_store *st = open_store(state);
	struct errbuf err = ERRBUF_INIT;
	struct image_meta m;
	struct image img;
	_cleanup_free_ char *id = NULL;
	struct image_ref *refs;
	size_t n;

	fill_meta(&m, st);
	assert_int_equal(image_store_commit(st, "app:v1", &m, &id, &err), 0);
	assert_true(sha256_hex_valid(id));

	assert_int_equal(image_store_get(st, "app:v1", &img, &err), 0);
	assert_string_equal(img.id, id);
	assert_string_equal(img.name, "app:v1");
	assert_int_equal(img.meta.nlayers, 3);
	assert_int_equal(img.meta.layers[1].type, LAYER_CMD);
	assert_null(img.meta.layers[1].digest);
	assert_string_equal(img.meta.layers[2].value, "echo ${Version}");
	assert_string_equal(img.meta.layers[2].media_type, MEDIA_LAYER_ZSTD);
	assert_int_equal(img.meta.layers[2].size, 9);
	assert_string_equal(image_meta_get_arg(&img.meta, "Version"), "4.0.0");
	assert_string_equal(image_meta_get_arg(&img.meta, "Empty"), "");
	assert_int_equal(img.meta.ncmds, 1);
	assert_string_equal(img.meta.cmds[0], "kubectl apply -f a,b.yaml");
	assert_int_equal(img.meta.nimages, 1);
	assert_string_equal(img.meta.clusterfile, "apiVersion: sealer.cloud/v2\nkind: Cluster\n");
	assert_int_equal(img.manifest.nlayers, 2);
	image_release(&img);

	/* by id prefix, and ":latest" is implied for names */
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%.12s", id);
	assert_int_equal(image_store_get(st, prefix, &img, &err), 0);
	assert_null(img.name);
	image_release(&img);
	assert_int_equal(image_store_get(st, "app", &img, &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "no image 'app'"));

	assert_int_equal(image_store_get(st, "app:v1", &img, &err), 0);
	assert_int_equal(image_store_set_ref(st, "app", img.manifest_digest, img.manifest_size, &err), 0);
	image_release(&img);
	assert_int_equal(image_store_list(st, &refs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(refs[0].name, "app:v1");
	assert_string_equal(refs[1].name, "app:latest");
	image_refs_free(refs, n);

	assert_int_equal(image_store_remove_ref(st, "app:v1", &err), 0);
	assert_int_equal(image_store_remove_ref(st, "app:v1", &err), -ENOENT);
	assert_int_equal(image_store_get(st, "app:latest", &img, &err), 0);
	image_release(&img);
	image_meta_release(&m);
	image_store_close(st);
}

static void test_gc(void **state)
{
	struct image_store *st = open_store(state);
	struct errbuf err = ERRBUF_INIT;
	struct image_meta m;
	struct gc_stats gs;
	_cleanup_free_ char *orphan = NULL;

	fill_meta(&m, st);
	assert_int_equal(image_store_commit(st, "app:v1", &m, NULL, &err), 0);
	assert_int_equal(image_store_put_blob(st, "orphan", 6, &orphan, &err), 0);
	assert_int_equal(image_store_gc(st, &gs, &err), 0);
	assert_int_equal(gs.blobs_removed, 1);
	assert_false(image_store_has_blob(st, orphan));
	assert_true(image_store_has_blob(st, m.layers[0].digest));

	assert_int_equal(image_store_remove_ref(st, "app:v1", &err), 0);
	assert_int_equal(image_store_gc(st, &gs, &err), 0);
	assert_int_equal(gs.blobs_removed, 4); /* two layers, config, manifest */
	image_meta_release(&m);
	image_store_close(st);
}

static void test_config_errors(void **state)
{
	(void)state;
	struct image_meta m;
	struct manifest man;
	struct errbuf err = ERRBUF_INIT;
	const char *plain_oci = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[]}}";
	const char *bad_layer = "{\"rootfs\":{\"diff_ids\":[]},\"cirun\":{\"layers\":[{\"type\":\"ADD\",\"value\":\"x\"}]}}";
	const char *short_ids = "{\"rootfs\":{\"diff_ids\":[]},\"cirun\":{\"layers\":[{\"id\":\"sha256:"
				"1111111111111111111111111111111111111111111111111111111111111111\","
				"\"type\":\"COPY\",\"value\":\"x\"}]}}";

	assert_int_equal(image_meta_from_config(plain_oci, strlen(plain_oci), &m, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "not a cirun cluster image"));
	assert_int_equal(image_meta_from_config(bad_layer, strlen(bad_layer), &m, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "BASE, COPY, RUN, CMD"));
	assert_int_equal(image_meta_from_config(short_ids, strlen(short_ids), &m, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "diff_ids"));
	assert_int_equal(image_meta_from_config("[1,", 3, &m, &err), -EBADMSG);

	const char *no_config = "{\"schemaVersion\":2,\"layers\":[]}";
	const char *docker = "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\"}";
	assert_int_equal(manifest_parse(no_config, strlen(no_config), &man, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "descriptor"));
	assert_int_equal(manifest_parse(docker, strlen(docker), &man, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "not an OCI image manifest"));
}

/* The one verifier of an image's parts (store reads and load use it). */
static void test_verify_parts(void **state)
{
	struct image_store *st = open_store(state);
	struct errbuf err = ERRBUF_INIT;
	struct image_meta m;
	struct image img;

	fill_meta(&m, st);
	assert_int_equal(image_store_commit(st, "app:v1", &m, NULL, &err), 0);
	assert_int_equal(image_store_get(st, "app:v1", &img, &err), 0);
	assert_int_equal(image_verify_parts(&img.manifest, &img.meta, &err), 0);

	/* the manifest lacks a layer the metadata claims */
	img.manifest.nlayers--;
	assert_int_equal(image_verify_parts(&img.manifest, &img.meta, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "claims layer sha256:"));
	assert_non_null(strstr(errbuf_msg(&err), "(RUN echo ${Version})"));
	assert_non_null(strstr(errbuf_msg(&err), "manifest: 1 layers, metadata: 2"));
	img.manifest.nlayers++;

	/* the manifest has a layer the metadata does not list */
	free(img.meta.layers[2].digest);
	img.meta.layers[2].digest = NULL;
	assert_int_equal(image_verify_parts(&img.manifest, &img.meta, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "the manifest lists 2 layers, the cirun metadata 1"));

	/* same count, other digest */
	img.meta.layers[2].digest = xstrdup(img.manifest.layers[0].digest);
	assert_int_equal(image_verify_parts(&img.manifest, &img.meta, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "layer 2 is sha256:"));
	image_release(&img);
	image_meta_release(&m);
	image_store_close(st);
}

static void write_text(const char *dir, const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *parent = xstrdup(p);
	FILE *f;

	*strrchr(parent, '/') = '\0';
	assert_int_equal(mkdir_p(parent, 0755), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void fake_origin(void *data, const char *path, char **ret_name, char **ret_note)
{
	(void)data;
	if (strcmp(path, "manifests/zz.yaml") != 0)
		return;
	*ret_name = xstrdup("k8s/zz.yaml");
	*ret_note = xasprintf("copied to %s by Kubefile:5: COPY k8s manifests", path);
}

/* A YAML error names the file as it is in the image, not the scratch tree it was read from;
 * the builder's origin names the build-context file instead. */
static void test_scan_names_image_path(void **state)
{
	struct errbuf err = ERRBUF_INIT;
	struct image_meta m = { 0 };
	const char *root = *state;

	write_text(root, "manifests/ok.yaml", "spec:\n  image: nginx:1.25\n");
	write_text(root, "charts/web/values.yaml", "image:\n  repository: web\n  tag: '1'\n");
	assert_int_equal(image_scan_tree(root, &m, &err), 0);
	assert_int_equal(m.nimages, 2);

	write_text(root, "manifests/zz.yaml", "a: 1\nb: [x,\n  c: d\n");
	assert_int_equal(image_scan_tree(root, &m, &err), -EBADMSG);
	if (strncmp(errbuf_msg(&err), "manifests/zz.yaml:", 18) != 0 || err.line == 0)
		fail_msg("'%s' does not start with manifests/zz.yaml:LINE", errbuf_msg(&err));
	assert_null(strstr(errbuf_msg(&err), root));
	/* with an origin, the message names the build-context file and the instruction */
	assert_int_equal(image_scan_tree_from(root, &m, fake_origin, NULL, &err), -EBADMSG);
	if (strncmp(errbuf_msg(&err), "k8s/zz.yaml:4:1: ", 17) != 0 || err.line != 4)
		fail_msg("'%s' does not start with k8s/zz.yaml:4:1:", errbuf_msg(&err));
	if (!strstr(errbuf_msg(&err), " (copied to manifests/zz.yaml by Kubefile:5: COPY k8s manifests)"))
		fail_msg("'%s' does not name the COPY", errbuf_msg(&err));
	_cleanup_free_ char *zz = xasprintf("%s/manifests/zz.yaml", root);
	unlink(zz);

	write_text(root, "charts/bad/values.yaml", "image: [\n");
	assert_int_equal(image_scan_tree(root, &m, &err), -EBADMSG);
	if (strncmp(errbuf_msg(&err), "charts/bad/values.yaml:", 23) != 0)
		fail_msg("'%s' does not start with charts/bad/values.yaml:", errbuf_msg(&err));
	/* a file the origin does not know keeps its image path */
	assert_int_equal(image_scan_tree_from(root, &m, fake_origin, NULL, &err), -EBADMSG);
	if (strncmp(errbuf_msg(&err), "charts/bad/values.yaml:", 23) != 0)
		fail_msg("'%s' does not start with charts/bad/values.yaml:", errbuf_msg(&err));
	/* what the builder tracks: the files the scan reads, nothing else */
	assert_true(image_scan_reads("manifests/a.yaml") && image_scan_reads("manifests/b.yml"));
	assert_true(image_scan_reads("manifests/imageList"));
	assert_true(image_scan_reads("charts/web/values.yaml"));
	assert_false(image_scan_reads("manifests/sub/a.yaml") || image_scan_reads("manifests/a.json"));
	assert_false(image_scan_reads("charts/values.yaml") || image_scan_reads("charts//values.yaml"));
	assert_false(image_scan_reads("charts/web/templates/values.yaml") ||
		     image_scan_reads("etc/manifests/a.yaml"));
	image_meta_release(&m);
}

static pid_t dead_pid(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return pid;
}

/* Leftovers of a process that is gone are swept when a writer takes the store; a live
 * process's are not; prune also drops stale cache entries and unpacked copies. */
static void test_sweep_and_prune(void **state)
{
	struct image_store *st = open_store(state);
	struct errbuf err = ERRBUF_INIT;
	struct gc_stats gs;
	const char *home = image_store_home(st);
	char dead[64], live[64], hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *stale = NULL;

	snprintf(dead, sizeof(dead), "%d", (int)dead_pid());
	snprintf(live, sizeof(live), "%d", (int)getppid());
	memset(hex, 'a', 64);
	hex[64] = '\0';
	_cleanup_free_ char *b_dead = xasprintf("images/tmp/blob-%s-Ab12Cd", dead);
	_cleanup_free_ char *b_live = xasprintf("images/tmp/blob-%s-Ab12Cd", live);
	_cleanup_free_ char *b_old = xstrdup("images/tmp/blob-Ab12Cd");
	_cleanup_free_ char *scratch = xasprintf("build/tmp/build-%s-Zz9", dead);
	_cleanup_free_ char *scratch_file = xasprintf("%s/run-3/upper/big", scratch);
	_cleanup_free_ char *unpack = xasprintf("build/layers/.tmp-%s-%s/etc/x", hex, dead);
	_cleanup_free_ char *unpacked = xasprintf("build/layers/%s/etc/x", hex);
	_cleanup_free_ char *cache = xasprintf("build/cache/%s", hex);
	write_text(home, b_dead, "half a blob");
	write_text(home, b_live, "a blob being written");
	write_text(home, b_old, "no owner in the name");
	write_text(home, scratch_file, "0123456789");
	write_text(home, unpack, "x");
	write_text(home, unpacked, "x");
	stale = xasprintf("sha256:%s sha256:%s 5\n", hex, hex);
	write_text(home, cache, stale);

	assert_int_equal(image_store_hold(st, &err), 0);
	_cleanup_free_ char *p_dead = xasprintf("%s/%s", home, b_dead);
	_cleanup_free_ char *p_live = xasprintf("%s/%s", home, b_live);
	_cleanup_free_ char *p_old = xasprintf("%s/%s", home, b_old);
	_cleanup_free_ char *p_scratch = xasprintf("%s/%s", home, scratch);
	_cleanup_free_ char *p_unpack = xasprintf("%s/build/layers/.tmp-%s-%s", home, hex, dead);
	_cleanup_free_ char *p_unpacked = xasprintf("%s/build/layers/%s", home, hex);
	_cleanup_free_ char *p_cache = xasprintf("%s/%s", home, cache);
	assert_int_equal(access(p_dead, F_OK), -1);
	assert_int_equal(access(p_scratch, F_OK), -1);
	assert_int_equal(access(p_unpack, F_OK), -1);
	assert_int_equal(access(p_live, F_OK), 0);
	assert_int_equal(access(p_old, F_OK), 0);
	assert_int_equal(access(p_unpacked, F_OK), 0);
	assert_int_equal(access(p_cache, F_OK), 0);
	image_store_close(st);

	/* prune: under the exclusive lock every temporary goes, with stale cache entries */
	st = open_store(state);
	assert_int_equal(image_store_prune(st, &gs, &err), 0);
	assert_int_equal(access(p_live, F_OK), -1);
	assert_int_equal(access(p_old, F_OK), -1);
	assert_int_equal(access(p_unpacked, F_OK), -1);
	assert_int_equal(access(p_cache, F_OK), -1);
	assert_int_equal(gs.blobs_removed, 0);
	assert_int_equal(gs.other_bytes, strlen("a blob being written") + strlen("no owner in the name") +
					 1 + strlen(stale));
	image_store_close(st);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		T(test_blobs),
		T(test_commit_get_list),
		T(test_gc),
		cmocka_unit_test(test_config_errors),
		T(test_verify_parts),
		T(test_scan_names_image_path),
		T(test_sweep_and_prune),
	};
	return cmocka_run_group_tests_name("image-store", tests, NULL, NULL);
}
