#include "helpers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "image-store.h"
#include "layer-writer.h"
#include "run-diff.h"

static void put(const char *root, const char *rel, const char *content)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void mk(const char *root, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void sh(const char *root, const char *cmd)
{
	char line[8192];
	snprintf(line, sizeof(line), "cd '%s' && %s", root, cmd);
	assert_int_equal(system(line), 0);
}

/* "path type[ opaque]" per entry, in tar order (tar names directories with a "/") */
static void list_layer(const char *blob, struct buf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	archive_read_support_format_tar(a);
	archive_read_support_filter_zstd(a);
	assert_int_equal(archive_read_open_filename(a, blob, 65536), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name;
		const void *v;
		size_t sz;
		bool opaque = false;
		char type = '?';
		switch (archive_entry_filetype(e)) {
		case AE_IFDIR: type = 'd'; break;
		case AE_IFREG: type = 'f'; break;
		case AE_IFLNK: type = 'l'; break;
		case AE_IFCHR: type = archive_entry_rdev(e) == 0 ? 'w' : 'c'; break;
		}
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &name, &v, &sz) == ARCHIVE_OK)
			if (strcmp(name, "trusted.overlay.opaque") == 0)
				opaque = true;
		buf_printf(out, "%s %c%s\n", archive_entry_pathname(e), type, opaque ? " opaque" : "");
	}
	archive_read_free(a);
}

static void test_diff_like_overlay(void **state)
{
	_cleanup_free_ char *root = tmp_path(state, "root");
	_cleanup_free_ char *home = tmp_path(state, "home");
	struct image_store *st = NULL;
	struct run_snapshot *before = NULL, *after = NULL;
	struct layer_writer *w = NULL;
	struct layer_info li;
	struct errbuf err = ERRBUF_INIT;
	struct buf listing = BUF_INIT(1 << 16);

	assert_int_equal(mkdir(root, 0755), 0);
	mk(root, "etc");
	put(root, "etc/keep", "k");
	put(root, "etc/edit", "e");
	put(root, "etc/gone", "g");
	mk(root, "scripts");
	put(root, "scripts/old.sh", "o");
	mk(root, "scripts/sub");
	put(root, "scripts/sub/deep", "d");
	mk(root, "olddir");
	put(root, "olddir/x", "x");
	mk(root, "untouched");
	put(root, "untouched/u", "u");
	put(root, "a-b", "sorts between a and a/x");
	mk(root, "a");

	assert_int_equal(run_snapshot_take(root, &before, &err), 0);
	sleep(0); /* ctime granularity is ns on the filesystems used here */
	sh(root, "echo more >> etc/edit && rm etc/gone && rm -rf scripts && mkdir scripts && "
		 "echo n > scripts/new.sh && rm -rf olddir && mkdir -p newdir/inner && "
		 "echo y > newdir/inner/y && echo ax > a/x && chmod 700 untouched/u");
	assert_int_equal(run_snapshot_take(root, &after, &err), 0);

	assert_int_equal(image_store_open(home, &st, &err), 0);
	assert_int_equal(layer_writer_new(st, &w, &err), 0);
	assert_int_equal(run_diff_write(root, before, after, w, &err), 0);
	assert_int_equal(layer_writer_finish(w, &li, &err), 0);
	_cleanup_free_ char *blob = image_store_blob_path(st, li.digest);
	list_layer(blob, &listing);
	assert_string_equal(listing.data,
			    "a/ d\n"
			    "a/x f\n"
			    "etc/ d\n"
			    "etc/edit f\n"
			    "etc/gone w\n"
			    "newdir/ d\n"
			    "newdir/inner/ d\n"
			    "newdir/inner/y f\n"
			    "olddir w\n"
			    "scripts/ d opaque\n"
			    "scripts/new.sh f\n"
			    "untouched/ d\n"
			    "untouched/u f\n");
	buf_release(&listing);
	layer_info_release(&li);
	run_snapshot_free(before);
	run_snapshot_free(after);
	image_store_close(st);
}

static void test_path_order(void **state)
{
	(void)state;
	assert_true(run_diff_path_cmp("a", "a/x") < 0);
	assert_true(run_diff_path_cmp("a/x", "a-b") < 0);
	assert_true(run_diff_path_cmp("a-b", "a.c") < 0);
	assert_true(run_diff_path_cmp("a/z", "a!") < 0);
	assert_int_equal(run_diff_path_cmp("same/path", "same/path"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diff_like_overlay, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_path_order),
	};
	return cmocka_run_group_tests_name("run-diff", tests, NULL, NULL);
}
