#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"

static void test_mkdir_p(void **state)
{
	_cleanup_free_ char *deep = tmp_path(state, "a/b//c/d");
	_cleanup_free_ char *file = tmp_path(state, "file");
	_cleanup_free_ char *under = tmp_path(state, "file/x");
	struct stat st;

	assert_int_equal(mkdir_p(deep, 0755), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdir_p(deep, 0755), 0); /* existing is fine */
	fclose(fopen(file, "w"));
	assert_int_equal(mkdir_p(file, 0755), -ENOTDIR);
	assert_int_equal(mkdir_p(under, 0755), -ENOTDIR);
	assert_int_equal(mkdir_p("", 0755), -EINVAL);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_file_atomic(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "conf");
	_cleanup_free_ char *bad = tmp_path(state, "missing/conf");
	struct buf b = BUF_INIT(1024);
	struct stat st;

	assert_int_equal(write_file_atomic(path, "one", 3, 0600), 0);
	assert_int_equal(buf_read_file(&b, path), 0);
	assert_string_equal(b.data, "one");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	buf_reset(&b);
	assert_int_equal(write_file_atomic(path, "second", 6, 0644), 0);
	assert_int_equal(buf_read_file(&b, path), 0);
	assert_string_equal(b.data, "second");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* no temporary file is left beside it */
	assert_int_equal(count_entries(*state), 1);
	assert_int_equal(write_file_atomic(bad, "x", 1, 0644), -ENOENT);
	buf_release(&b);
}

static void check_join(const char *base, const char *rel, int want_r, const char *want)
{
	char *out = NULL;
	int r = path_join_safe(base, rel, &out);

	assert_int_equal(r, want_r);
	if (want)
		assert_string_equal(out, want);
	else
		assert_null(out);
	free(out);
}

static void test_path_join_safe(void **state)
{
	(void)state;
	check_join("/root", "etc/hosts", 0, "/root/etc/hosts");
	check_join("/root/", "./etc//hosts/", 0, "/root/etc/hosts");
	check_join("/root", "a/../b", 0, "/root/b");
	check_join("/root", "", 0, "/root");
	check_join("/", "etc", 0, "/etc");
	check_join("/root", "..", -EPERM, NULL);
	check_join("/root", "a/../../etc/passwd", -EPERM, NULL);
	check_join("/root", "a/b/../../..", -EPERM, NULL);
	check_join("/root", "/etc/passwd", -EINVAL, NULL);
	check_join("", "x", -EINVAL, NULL);
	check_join("/root", "..a/.b/...", 0, "/root/..a/.b/...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdir_p, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_write_file_atomic, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_path_join_safe),
	};
	return cmocka_run_group_tests_name("fs-util", tests, NULL, NULL);
}
