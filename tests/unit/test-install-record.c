/* agent/install-record.c: the record setup and the hosts phase share. */
#include "helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "install-record.h"
#include "macro.h"

static int root_setup(void **state)
{
	if (tmpdir_setup(state) < 0)
		return -1;
	setenv("CIRUN_AGENT_ROOT", *state, 1);
	_cleanup_free_ char *a = tmp_path(state, "data/demo");
	_cleanup_free_ char *b = tmp_path(state, "data/other");
	return mkdir_p(a, 0755) < 0 || mkdir_p(b, 0755) < 0 ? -1 : 0;
}

static char *slurp(const char *path)
{
	struct buf b = BUF_INIT(INSTALL_RECORD_MAX + 1);
	if (buf_read_file(&b, path) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static void put(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* A re-run lists each path once; lines that are not absolute control-free paths are
 * dropped, not trusted. */
static void test_reload_dedup(void **state)
{
	_cleanup_free_ char *file = tmp_path(state, "data/demo/installed");
	_cleanup_free_ char *text = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct install_record *rc;

	put(file, "/a\nrelative\n/b\x01x\n/a\n/c\n");
	rc = install_record_open("demo", 0);
	assert_string_equal(install_record_file(rc), file);
	install_record_add(rc, "/c");
	install_record_add(rc, "/d");
	assert_int_equal(install_record_write(rc, 0, &err), 0);
	install_record_free(rc);
	text = slurp(file);
	assert_string_equal(text, "/a\n/c\n/d\n");
}

/* What no run installed is refused, naming the record and --force; this cluster's and
 * another cluster's files are cirun's. */
static void test_claim(void **state)
{
	_cleanup_free_ char *mine = tmp_path(state, "mine"), *theirs = tmp_path(state, "theirs");
	_cleanup_free_ char *foreign = tmp_path(state, "foreign"), *free_ = tmp_path(state, "free");
	_cleanup_free_ char *other = tmp_path(state, "data/other/installed");
	_cleanup_free_ char *own = tmp_path(state, "data/demo/installed");
	_cleanup_free_ char *line = xasprintf("%s\n", theirs), *line2 = xasprintf("%s\n", mine);
	_cleanup_(install_record_freep) struct install_record *rc = NULL;
	struct errbuf err = ERRBUF_INIT;

	put(mine, "x");
	put(theirs, "x");
	put(foreign, "x");
	put(other, line);
	put(own, line2);
	rc = install_record_open("demo", 0);
	assert_int_equal(install_record_claim(rc, free_, &err), 0);
	assert_int_equal(install_record_claim(rc, mine, &err), 0);
	assert_int_equal(install_record_claim(rc, theirs, &err), 0);
	assert_int_equal(install_record_claim(rc, foreign, &err), -EEXIST);
	assert_non_null(strstr(err.msg, own));
	assert_non_null(strstr(err.msg, "--force"));
	assert_int_equal(access(foreign, F_OK), 0);
}

/* With force the file in the way is moved beside and the backup recorded; a second
 * backup is never overwritten. */
static void test_claim_force(void **state)
{
	_cleanup_free_ char *foreign = tmp_path(state, "foreign");
	_cleanup_free_ char *backup = tmp_path(state, "foreign" INSTALL_RECORD_BACKUP_SUFFIX);
	_cleanup_free_ char *own = tmp_path(state, "data/demo/installed");
	_cleanup_free_ char *text = NULL, *want = xasprintf("%s\n", backup);
	struct errbuf err = ERRBUF_INIT;
	struct install_record *rc;

	put(foreign, "x");
	rc = install_record_open("demo", INSTALL_RECORD_FORCE);
	assert_int_equal(install_record_claim(rc, foreign, &err), 0);
	assert_int_equal(access(foreign, F_OK), -1);
	assert_int_equal(access(backup, F_OK), 0);
	put(foreign, "y");
	install_record_add(rc, "/recorded");
	/* foreign is now not in the record, and its backup exists */
	assert_int_equal(install_record_claim(rc, foreign, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "backup"));
	assert_int_equal(install_record_write(rc, 0, &err), 0);
	install_record_free(rc);
	text = slurp(own);
	assert_non_null(text);
	assert_non_null(strstr(text, want));
}

/* Only the directories it creates are recorded; a file where a directory must be fails. */
static void test_ensure_dir(void **state)
{
	_cleanup_free_ char *base = tmp_path(state, "etc");
	_cleanup_free_ char *deep = tmp_path(state, "etc/a/b");
	_cleanup_free_ char *file = tmp_path(state, "etc/f");
	_cleanup_free_ char *own = tmp_path(state, "data/demo/installed");
	_cleanup_free_ char *text = NULL, *want = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct install_record *rc;

	assert_int_equal(mkdir(base, 0755), 0);
	put(file, "x");
	rc = install_record_open("demo", 0);
	assert_int_equal(install_record_ensure_dir(rc, deep, &err), 0);
	assert_int_equal(install_record_ensure_dir(rc, deep, &err), 0);
	assert_int_equal(install_record_ensure_dir(rc, file, &err), -ENOTDIR);
	assert_int_equal(install_record_write(rc, 0, &err), 0);
	install_record_free(rc);
	text = slurp(own);
	want = xasprintf("%s/etc/a\n%s/etc/a/b\n", (char *)*state, (char *)*state);
	assert_string_equal(text, want);
}

/* A failed run still writes what it installed, and its own failure is what is returned;
 * a record past its cap fails the run rather than dropping a path. */
static void test_write_after_failure_and_full(void **state)
{
	_cleanup_free_ char *own = tmp_path(state, "data/demo/installed");
	_cleanup_free_ char *text = NULL, *big = xmalloc(INSTALL_RECORD_MAX);
	struct errbuf err = ERRBUF_INIT;
	struct install_record *rc = install_record_open("demo", 0);

	install_record_add(rc, "/x");
	errbuf_set(&err, -EIO, "the run's own failure");
	assert_int_equal(install_record_write(rc, -EIO, &err), -EIO);
	assert_string_equal(err.msg, "the run's own failure");
	install_record_free(rc);
	text = slurp(own);
	assert_string_equal(text, "/x\n");

	/* one line short of the cap: the next path does not fit */
	memset(big, 'a', INSTALL_RECORD_MAX - 1);
	big[0] = '/';
	big[INSTALL_RECORD_MAX - 2] = '\n';
	big[INSTALL_RECORD_MAX - 1] = '\0';
	put(own, big);
	rc = install_record_open("demo", 0);
	install_record_add(rc, "/does-not-fit");
	assert_int_equal(install_record_write(rc, 0, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "16 MiB"));
	install_record_free(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_dedup, root_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_claim, root_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_claim_force, root_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_ensure_dir, root_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_write_after_failure_and_full, root_setup,
						tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
