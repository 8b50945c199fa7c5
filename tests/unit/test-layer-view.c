/* Filtered layer views (installer/layer-view.c): what is left out, digests of their own
 * that do not change from one build to the next, the cache, and the overlay still right
 * when the views are applied in place of the originals. */
#include "helpers.h"
#include "layer-helpers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "digest.h"
#include "layer-view.h"
#include "layer.h"
#include "macro.h"
#include "strset.h"

static const char *const tops[] = { "images", "registry" };
static const struct layer_view_filter filt = { "no-images-registry-v1", tops, 2 };

static const struct tentry mixed[] = {
	{ 'd', "etc", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "etc/a.conf", "a", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'd', "images", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "images/app.tar", "a big archive", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'd', "./registry", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "./registry/docker/blob", "blob", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "bin/kubeadm", "elf", 0755, NULL, NULL, 0, 0, 0, 0 },
};

static char *layer_file(void **state, const char *name, const char *filter,
			const struct tentry *t, size_t n, char digest[LAYER_VIEW_DIGEST_SIZE])
{
	char *file = tmp_path(state, name), hex[SHA256_HEX_SIZE];
	assert_int_equal(write_layer(file, filter, t, n), 0);
	assert_int_equal(sha256_file(file, hex, NULL), 0);
	snprintf(digest, LAYER_VIEW_DIGEST_SIZE, "sha256:%s", hex);
	return file;
}

static void get(void **state, const char *file, const char *digest, struct layer_view *v)
{
	struct errbuf err = ERRBUF_INIT;
	int rc = layer_view_get(*state, &filt, file, digest, v, &err);
	if (rc < 0)
		fail_msg("%s", errbuf_msg(&err));
}

static bool exists(void **state, const char *rel)
{
	char *p = tmp_path(state, rel);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static void test_drops(void **state)
{
	(void)state;
	const char *out[] = { "images", "images/", "./images/x.tar", "registry/a/b", "/registry",
			      ".wh.images", "./.wh.registry", "images/.wh..wh..opq", ".//images/x" };
	const char *in[] = { "imagesx", "etc/images", ".wh..wh..opq", "./", "etc/.wh.registry",
			     ".wh.imagesx", "bin/registry", "image" };
	for (size_t i = 0; i < ELEMENTSOF(out); i++)
		assert_true(layer_view_drops(&filt, out[i]));
	for (size_t i = 0; i < ELEMENTSOF(in); i++)
		assert_false(layer_view_drops(&filt, in[i]));
}

/* A view has a digest of its own, kept in the cache; made again from nothing it is the
 * same bytes (so the hosts' caches keep matching); applied, it is the original without
 * images/ and registry/. */
static void test_filtered_stable(void **state)
{
	char digest[LAYER_VIEW_DIGEST_SIZE], hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar.zst", "zstd", mixed,
					       ELEMENTSOF(mixed), digest);
	struct layer_view v, again, rebuilt;
	uint64_t size;

	get(state, file, digest, &v);
	assert_int_equal(v.kind, LAYER_VIEW_FILTERED);
	assert_true(v.built);
	assert_false(v.repaired);
	assert_int_equal(v.dropped, 4);
	assert_string_not_equal(v.digest, digest);
	_cleanup_free_ char *blob = layer_view_blob_path(*state, v.digest);
	assert_int_equal(sha256_file(blob, hex, &size), 0);
	assert_string_equal(hex, v.digest + 7);
	assert_int_equal(size, v.size);
	/* compressed as the original: a zstd frame */
	unsigned char magic[4];
	int fd = open(blob, O_RDONLY);
	assert_int_equal(read(fd, magic, 4), 4);
	close(fd);
	assert_memory_equal(magic, "\x28\xb5\x2f\xfd", 4);

	get(state, file, digest, &again);
	assert_false(again.built);
	assert_string_equal(again.digest, v.digest);

	_cleanup_free_ char *views = tmp_path(state, "views");
	assert_int_equal(nftw(views, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	get(state, file, digest, &rebuilt);
	assert_true(rebuilt.built);
	assert_string_equal(rebuilt.digest, v.digest);

	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *root = tmp_path(state, "root");
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(layer_apply_file(root, blob, NULL, &err), 0);
	assert_true(exists(state, "root/etc/a.conf"));
	assert_true(exists(state, "root/bin/kubeadm"));
	assert_false(exists(state, "root/images"));
	assert_false(exists(state, "root/registry"));
}

/* gzip puts the time into its header unless told not to: a view made a second later must
 * still be the same bytes. */
static void test_gzip_stable(void **state)
{
	char digest[LAYER_VIEW_DIGEST_SIZE], first[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar.gz", "gzip", mixed,
					       ELEMENTSOF(mixed), digest);
	_cleanup_free_ char *views = tmp_path(state, "views");
	struct layer_view v;

	get(state, file, digest, &v);
	assert_int_equal(v.kind, LAYER_VIEW_FILTERED);
	memcpy(first, v.digest, sizeof(first));
	_cleanup_free_ char *blob = layer_view_blob_path(*state, v.digest);
	unsigned char magic[2];
	int fd = open(blob, O_RDONLY);
	assert_int_equal(read(fd, magic, 2), 2);
	close(fd);
	assert_memory_equal(magic, "\x1f\x8b", 2);
	sleep(1);
	assert_int_equal(nftw(views, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	get(state, file, digest, &v);
	assert_string_equal(v.digest, first);
}

/* Nothing to leave out: the original is sent (same digest), no blob is made. */
static void test_nothing_to_filter(void **state)
{
	static const struct tentry t[] = {
		{ 'd', "etc", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'f', "etc/images.conf", "x", 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'f', "etc/.wh.registry", "", 0, NULL, NULL, 0, 0, 0, 0 },
	};
	char digest[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar", "none", t, ELEMENTSOF(t), digest);
	struct layer_view v;

	get(state, file, digest, &v);
	assert_int_equal(v.kind, LAYER_VIEW_SAME);
	assert_int_equal(v.dropped, 0);
	assert_false(exists(state, "views/blobs"));
	get(state, file, digest, &v);
	assert_int_equal(v.kind, LAYER_VIEW_SAME);
	assert_false(v.built);
}

/* Whiteouts of images/ and registry/ (OCI and overlay) are left out with them: a layer of
 * nothing else is empty, and not sent. A kept whiteout stays in the view and still deletes
 * what the layer below put there. */
static void test_whiteouts(void **state)
{
	static const struct tentry only[] = {
		{ 'f', ".wh.images", "", 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'c', "registry", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	};
	static const struct tentry upper[] = {
		{ 'f', ".wh.images", "", 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'f', "etc/.wh.a.conf", "", 0, NULL, NULL, 0, 0, 0, 0 },
	};
	char d1[LAYER_VIEW_DIGEST_SIZE], d2[LAYER_VIEW_DIGEST_SIZE], d3[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *f1 = layer_file(state, "only.tar", "none", only, ELEMENTSOF(only), d1);
	_cleanup_free_ char *f2 = layer_file(state, "lower.tar.zst", "zstd", mixed,
					     ELEMENTSOF(mixed), d2);
	_cleanup_free_ char *f3 = layer_file(state, "upper.tar", "none", upper, ELEMENTSOF(upper), d3);
	struct layer_view v, lower, up;
	struct errbuf err = ERRBUF_INIT;

	get(state, f1, d1, &v);
	assert_int_equal(v.kind, LAYER_VIEW_EMPTY);
	assert_int_equal(v.dropped, 2);
	get(state, f1, d1, &v);
	assert_int_equal(v.kind, LAYER_VIEW_EMPTY);

	get(state, f2, d2, &lower);
	get(state, f3, d3, &up);
	assert_int_equal(up.kind, LAYER_VIEW_FILTERED);
	assert_int_equal(up.dropped, 1);
	_cleanup_free_ char *root = tmp_path(state, "root");
	_cleanup_free_ char *b2 = layer_view_blob_path(*state, lower.digest);
	_cleanup_free_ char *b3 = layer_view_blob_path(*state, up.digest);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(layer_apply_file(root, b2, NULL, &err), 0);
	assert_int_equal(layer_apply_file(root, b3, NULL, &err), 0);
	assert_false(exists(state, "root/etc/a.conf"));
	assert_true(exists(state, "root/bin/kubeadm"));
	assert_false(exists(state, "root/images"));
	assert_false(exists(state, "root/.wh.images"));
}

/* A cached view whose blob was changed (same size) or lost, or whose record is garbage,
 * is found out and made again, with the same digest. */
static void test_damaged_cache(void **state)
{
	char digest[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar.zst", "zstd", mixed,
					       ELEMENTSOF(mixed), digest);
	struct layer_view v, w;

	get(state, file, digest, &v);
	_cleanup_free_ char *blob = layer_view_blob_path(*state, v.digest);
	int fd = open(blob, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 20), 1);
	close(fd);
	get(state, file, digest, &w);
	assert_true(w.repaired);
	assert_true(w.built);
	assert_string_equal(w.digest, v.digest);
	assert_non_null(strstr(w.note, "does not match"));
	char hex[SHA256_HEX_SIZE];
	assert_int_equal(sha256_file(blob, hex, NULL), 0);
	assert_string_equal(hex, v.digest + 7);

	assert_int_equal(unlink(blob), 0);
	get(state, file, digest, &w);
	assert_true(w.repaired);
	assert_string_equal(w.digest, v.digest);

	char *rec = NULL;
	assert_true(asprintf(&rec, "%s/views/%s/%s", (char *)*state, filt.name, digest + 7) > 0);
	fd = open(rec, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "filtered sha256:zz 1 1\n", 23), 23);
	close(fd);
	free(rec);
	get(state, file, digest, &w);
	assert_true(w.repaired);
	assert_string_equal(w.digest, v.digest);
	get(state, file, digest, &w);
	assert_false(w.built);

	/* a FIFO in place of the record, then of the blob: rebuilt, never waited on */
	assert_true(asprintf(&rec, "%s/views/%s/%s", (char *)*state, filt.name, digest + 7) > 0);
	assert_int_equal(unlink(rec), 0);
	assert_int_equal(mkfifo(rec, 0600), 0);
	free(rec);
	get(state, file, digest, &w);
	assert_true(w.repaired);
	assert_string_equal(w.digest, v.digest);
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(mkfifo(blob, 0600), 0);
	get(state, file, digest, &w);
	assert_true(w.repaired);
	assert_string_equal(w.digest, v.digest);
	assert_int_equal(sha256_file(blob, hex, NULL), 0);
	assert_string_equal(hex, v.digest + 7);
}

/* A view blob that kept its inode and mtime is not hashed again; one damaged in place with
 * its mtime put back passes that check (the host then refuses it), and
 * layer_view_blob_damaged finds and removes it so that the next get makes it anew. A
 * record of the old form (no seal) is hashed once and sealed. */
static void test_sealed_cheap_check(void **state)
{
	char digest[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar.zst", "zstd", mixed,
					       ELEMENTSOF(mixed), digest);
	struct layer_view v, w;
	struct stat st;

	get(state, file, digest, &v);
	assert_true(v.built && v.sealed);
	_cleanup_free_ char *blob = layer_view_blob_path(*state, v.digest);
	assert_false(layer_view_blob_damaged(*state, v.digest));
	assert_int_equal(access(blob, F_OK), 0);

	assert_int_equal(stat(blob, &st), 0);
	int fd = open(blob, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 20), 1);
	struct timespec times[2] = { st.st_atim, st.st_mtim };
	assert_int_equal(futimens(fd, times), 0);
	close(fd);
	get(state, file, digest, &w);
	assert_false(w.built); /* not hashed: the limit of the cheap check */
	assert_true(layer_view_blob_damaged(*state, v.digest));
	assert_int_not_equal(access(blob, F_OK), 0);
	get(state, file, digest, &w);
	assert_true(w.built && w.repaired);
	assert_string_equal(w.digest, v.digest);

	_cleanup_free_ char *rec = NULL;
	assert_true(asprintf(&rec, "%s/views/%s/%s", (char *)*state, filt.name, digest + 7) > 0);
	char old[256];
	int n = snprintf(old, sizeof(old), "filtered %s %" PRIu64 " %" PRIu64 "\n", v.digest,
			 v.size, v.dropped);
	fd = open(rec, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, old, (size_t)n), n);
	close(fd);
	get(state, file, digest, &w);
	assert_false(w.built);
	assert_true(w.sealed);
	char buf[256] = { 0 };
	fd = open(rec, O_RDONLY);
	assert_true(read(fd, buf, sizeof(buf) - 1) > n);
	close(fd);
}

/* A kept hard link to a left-out file would point at nothing on the host: the layer goes
 * whole. */
static void test_hardlink_into_dropped(void **state)
{
	static const struct tentry t[] = {
		{ 'f', "images/app.tar", "data", 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'h', "etc/app.tar", "images/app.tar", 0, NULL, NULL, 0, 0, 0, 0 },
	};
	char digest[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *file = layer_file(state, "l.tar", "none", t, ELEMENTSOF(t), digest);
	struct layer_view v;

	get(state, file, digest, &v);
	assert_int_equal(v.kind, LAYER_VIEW_SAME);
	assert_non_null(strstr(v.note, "hard link"));
	assert_false(exists(state, "views/blobs"));
}

/* gc keeps the views of the layers it is told to keep and removes the others: their
 * records, then the blobs no record names (a blob two layers share stays while one does). */
static void test_gc(void **state)
{
	static const struct tentry other[] = {
		{ 'f', "etc/b.conf", "b", 0, NULL, NULL, 0, 0, 0, 0 },
		{ 'f', "registry/x", "x", 0, NULL, NULL, 0, 0, 0, 0 },
	};
	char d1[LAYER_VIEW_DIGEST_SIZE], d2[LAYER_VIEW_DIGEST_SIZE];
	_cleanup_free_ char *f1 = layer_file(state, "a.tar.zst", "zstd", mixed, ELEMENTSOF(mixed), d1);
	_cleanup_free_ char *f2 = layer_file(state, "b.tar", "none", other, ELEMENTSOF(other), d2);
	struct layer_view v1, v2;
	struct strset *keep = strset_new();
	uint64_t bytes = 0;

	get(state, f1, d1, &v1);
	get(state, f2, d2, &v2);
	_cleanup_free_ char *b1 = layer_view_blob_path(*state, v1.digest);
	_cleanup_free_ char *b2 = layer_view_blob_path(*state, v2.digest);
	char *r1 = NULL, *r2 = NULL;
	assert_true(asprintf(&r1, "%s/views/%s/%s", (char *)*state, filt.name, d1 + 7) > 0);
	assert_true(asprintf(&r2, "%s/views/%s/%s", (char *)*state, filt.name, d2 + 7) > 0);
	_cleanup_free_ char *stray = tmp_path(state, "views/tmp/stray");
	FILE *fp = fopen(stray, "w");
	assert_non_null(fp);
	fclose(fp);

	strset_add(keep, d1 + 7);
	layer_view_gc(*state, keep, false, &bytes);
	assert_int_equal(access(r1, F_OK), 0);
	assert_int_equal(access(b1, F_OK), 0);
	assert_int_not_equal(access(r2, F_OK), 0);
	assert_int_not_equal(access(b2, F_OK), 0);
	assert_true(bytes >= v2.size);
	assert_int_equal(access(stray, F_OK), 0);

	strset_free(keep);
	keep = strset_new();
	layer_view_gc(*state, keep, true, &bytes);
	assert_int_not_equal(access(r1, F_OK), 0);
	assert_int_not_equal(access(b1, F_OK), 0);
	assert_int_not_equal(access(stray, F_OK), 0);
	strset_free(keep);
	free(r1);
	free(r2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drops),
		cmocka_unit_test_setup_teardown(test_filtered_stable, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_gzip_stable, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_nothing_to_filter, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_cache, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_sealed_cheap_check, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_into_dropped, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_gc, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
