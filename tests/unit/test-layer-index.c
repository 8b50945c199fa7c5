/* The per-layer index runs read before contacting hosts (installer/layer-index.c): what it
 * records, that a second get reads no layer, that a damaged, foreign or hostile record is
 * made again from the blob, and the parser on records cut short or lying. */
#include "helpers.h"
/* the hostile records are formats with the digest put in */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#include "layer-helpers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "layer-index.h"
#include "strset.h"

#define DATA_MAX 16

static bool wants(const char *path, mode_t type, bool *want_data)
{
	(void)type;
	*want_data = strcmp(path, "etc/kubeadm.yml") == 0;
	return *want_data || strncmp(path, "images", 6) == 0 || strncmp(path, ".wh.", 4) == 0;
}

static const struct layer_index_spec spec = { "test-v1", wants, DATA_MAX };

static const struct tentry layer[] = {
	{ 'd', "etc", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "etc/kubeadm.yml", "kind: X\n", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "etc/other", "no", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'd', "images", NULL, 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', "images/a\nb.tar", "odd name", 0, NULL, NULL, 0, 0, 0, 0 },
	{ 'f', ".wh.bin", "", 0, NULL, NULL, 0, 0, 0, 0 },
};

static char *make_layer(void **state, const char *name, const struct tentry *t, size_t n,
			char digest[80])
{
	char *file = tmp_path(state, name), hex[SHA256_HEX_SIZE];
	assert_int_equal(write_layer(file, "zstd", t, n), 0);
	assert_int_equal(sha256_file(file, hex, NULL), 0);
	snprintf(digest, 80, "sha256:%s", hex);
	return file;
}

static struct layer_index *get(void **state, const char *file, const char *digest,
			       bool *built)
{
	struct errbuf err = ERRBUF_INIT;
	struct layer_index *x = NULL;
	if (layer_index_get(*state, &spec, file, digest, &x, built, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	return x;
}

static void check_entries(const struct layer_index *x)
{
	assert_int_equal(layer_index_count(x), 4);
	const struct layer_index_entry *e = layer_index_at(x, 0);
	assert_string_equal(e->path, "etc/kubeadm.yml");
	assert_int_equal(e->type, AE_IFREG);
	assert_int_equal(e->len, 8);
	assert_string_equal(e->data, "kind: X\n");
	assert_string_equal(layer_index_at(x, 1)->path, "images/");
	assert_int_equal(layer_index_at(x, 1)->type, AE_IFDIR);
	assert_null(layer_index_at(x, 1)->data);
	assert_string_equal(layer_index_at(x, 2)->path, "images/a\nb.tar");
	assert_string_equal(layer_index_at(x, 3)->path, ".wh.bin");
}

static char *record_path(void **state, const char *digest)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "index/test-v1/%s", digest + 7);
	return tmp_path(state, rel);
}

static void test_recorded_then_cached(void **state)
{
	char digest[80];
	_cleanup_free_ char *file = make_layer(state, "l.tar.zst", layer, ELEMENTSOF(layer), digest);
	bool built;
	struct layer_index *x = get(state, file, digest, &built);
	assert_true(built);
	check_entries(x);
	layer_index_free(x);

	/* the blob gone: a second get must come from the record alone */
	assert_int_equal(unlink(file), 0);
	x = get(state, file, digest, &built);
	assert_false(built);
	check_entries(x);
	layer_index_free(x);
}

static void test_large_data_kept_one_past_the_cap(void **state)
{
	const struct tentry big[] = {
		{ 'f', "etc/kubeadm.yml", "0123456789abcdefXYZ", 0, NULL, NULL, 0, 0, 0, 0 },
	};
	char digest[80];
	_cleanup_free_ char *file = make_layer(state, "b.tar.zst", big, 1, digest);
	bool built;
	for (int i = 0; i < 2; i++) {
		struct layer_index *x = get(state, file, digest, &built);
		assert_int_equal(layer_index_count(x), 1);
		assert_int_equal(layer_index_at(x, 0)->len, DATA_MAX + 1);
		layer_index_free(x);
		assert_int_equal(built, i == 0);
	}
}

static void write_raw(const char *path, const char *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

/* each damage: the next get reads the blob again and gives the right entries */
static void test_damaged_records_rebuilt(void **state)
{
	char digest[80], other[80];
	_cleanup_free_ char *file = make_layer(state, "l.tar.zst", layer, ELEMENTSOF(layer), digest);
	_cleanup_free_ char *file2 = make_layer(state, "m.tar.zst", layer, 2, other);
	_cleanup_free_ char *rec = record_path(state, digest);
	_cleanup_free_ char *rec2 = record_path(state, other);
	bool built;
	layer_index_free(get(state, file, digest, &built));
	layer_index_free(get(state, file2, other, &built));

	_cleanup_buf_ struct buf good = BUF_INIT(1 << 20);
	assert_int_equal(buf_read_file(&good, rec), 0);
	const size_t cuts[] = { 0, 5, good.len / 2, good.len - 1 };
	for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
		write_raw(rec, good.data, cuts[i]);
		struct layer_index *x = get(state, file, digest, &built);
		assert_true(built);
		check_entries(x);
		layer_index_free(x);
	}
	/* another layer's record under this name (a copy, or a renamed file) */
	_cleanup_buf_ struct buf foreign = BUF_INIT(1 << 20);
	assert_int_equal(buf_read_file(&foreign, rec2), 0);
	write_raw(rec, foreign.data, foreign.len);
	struct layer_index *x = get(state, file, digest, &built);
	assert_true(built);
	check_entries(x);
	layer_index_free(x);

	/* a FIFO must not hang the run; a symlink is not followed */
	assert_int_equal(unlink(rec), 0);
	assert_int_equal(mkfifo(rec, 0644), 0);
	x = get(state, file, digest, &built);
	assert_true(built);
	layer_index_free(x);
	assert_int_equal(unlink(rec), 0);
	assert_int_equal(symlink(rec2, rec), 0);
	x = get(state, file, digest, &built);
	assert_true(built);
	check_entries(x);
	layer_index_free(x);
}

static void test_parse_hostile(void **state)
{
	(void)state;
	const char *d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	char ok[256];
	snprintf(ok, sizeof(ok), "cirun-layer-index 1 %s 1\n100000 3 -\nabc\n", d);
	struct layer_index *x = NULL;
	assert_int_equal(layer_index_parse(ok, strlen(ok), d, DATA_MAX, &x), 0);
	assert_string_equal(layer_index_at(x, 0)->path, "abc");
	layer_index_free(x);

	const char *bad[] = {
		"cirun-layer-index 2 %s 1\n100000 3 -\nabc\n",	 /* another version */
		"cirun-layer-index 1 %s 2\n100000 3 -\nabc\n",	 /* fewer than counted */
		"cirun-layer-index 1 %s 1\n100000 3 -\nabc\nX",	 /* trailing bytes */
		"cirun-layer-index 1 %s 1\n100000 9 -\nabc\n",	 /* path past the end */
		"cirun-layer-index 1 %s 1\n100000 0 -\n\n",	 /* empty path */
		"cirun-layer-index 1 %s 1\n123 3 -\nabc\n",	 /* not a file type */
		"cirun-layer-index 1 %s 1\n100000 3 99\nabc\n",	 /* data over the cap */
		"cirun-layer-index 1 %s 1\n100000 3 2\nabcd\n",	 /* data short by one */
		"cirun-layer-index 1 %s 99999999999999999999\n", /* count overflow */
		"cirun-layer-index 1 %s 1\n100000 -3 -\nabc\n",	 /* negative length */
		"cirun-layer-index 1 %s 1\n100000 3 -abc\n",	 /* no newline after '-' */
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char rec[256];
		int n = snprintf(rec, sizeof(rec), bad[i], d);
		x = NULL;
		if (layer_index_parse(rec, (size_t)n, d, DATA_MAX, &x) != -EBADMSG)
			fail_msg("case %zu accepted", i);
	}
	/* a NUL in a path */
	int n = snprintf(ok, sizeof(ok), "cirun-layer-index 1 %s 1\n100000 3 -\naXc\n", d);
	ok[n - 3] = '\0';
	assert_int_equal(layer_index_parse(ok, (size_t)n, d, DATA_MAX, &x), -EBADMSG);
	/* a record of another digest */
	snprintf(ok, sizeof(ok), "cirun-layer-index 1 %s1 1\n100000 3 -\nabc\n", d);
	assert_int_equal(layer_index_parse(ok, strlen(ok), d, DATA_MAX, &x), -EBADMSG);
}

static void test_gc(void **state)
{
	char digest[80], other[80];
	_cleanup_free_ char *file = make_layer(state, "l.tar.zst", layer, ELEMENTSOF(layer), digest);
	_cleanup_free_ char *file2 = make_layer(state, "m.tar.zst", layer, 2, other);
	_cleanup_free_ char *rec = record_path(state, digest);
	_cleanup_free_ char *rec2 = record_path(state, other);
	bool built;
	layer_index_free(get(state, file, digest, &built));
	layer_index_free(get(state, file2, other, &built));
	_cleanup_(strset_freep) struct strset *keep = strset_new();
	strset_add(keep, digest + 7);
	/* what a write killed before its rename leaves, an hour old, and one in progress */
	_cleanup_free_ char *dir = xstrdup(rec);
	*strrchr(dir, '/') = '\0';
	_cleanup_free_ char *stale = xasprintf("%s/.cirun-tmp-0badf00d", dir);
	_cleanup_free_ char *fresh = xasprintf("%s/.cirun-tmp-00c0ffee", dir);
	assert_int_equal(write_file_atomic(stale, "half", 4, 0600), 0);
	assert_int_equal(write_file_atomic(fresh, "half", 4, 0600), 0);
	const struct timespec old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, stale, old, AT_SYMLINK_NOFOLLOW), 0);
	uint64_t bytes = 0;
	layer_index_gc(*state, keep, &bytes);
	assert_int_equal(access(rec, F_OK), 0);
	assert_int_not_equal(access(rec2, F_OK), 0);
	assert_int_not_equal(access(stale, F_OK), 0);
	assert_int_equal(access(fresh, F_OK), 0);
	assert_true(bytes > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recorded_then_cached, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_large_data_kept_one_past_the_cap, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_records_rebuilt, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test_setup_teardown(test_gc, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
