/* The agent's side of KUBEADM_CONFIG (agent/kubeadm-file.h): the file lands 0600 in
 * ROOT/data/CLUSTER, replaced whole; a symlink on the way or at the name is never
 * followed; a name or cluster a decoder would refuse is refused here too. */
#include "helpers.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "error.h"
#include "fs-util.h"
#include "kubeadm-file.h"

static char *slurp(const char *path)
{
	static char b[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b) - 1);

	if (fd >= 0)
		close(fd);
	b[n < 0 ? 0 : n] = '\0';
	return b;
}

static void test_written_0600(void **state)
{
	_cleanup_free_ char *dir = tmp_path(state, "data/demo");
	_cleanup_free_ char *file = tmp_path(state, "data/demo/kubeadm-init.yaml");
	_cleanup_free_ char *path = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct stat st;

	assert_int_equal(mkdir_p(dir, 0755), 0);
	umask(022);
	assert_int_equal(kubeadm_file_write(*state, "demo", "kubeadm-init.yaml", "a: 1\n", 5, &path,
					    &err), 0);
	assert_string_equal(path, file);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(slurp(file), "a: 1\n");
	/* a second write replaces it whole, still 0600 even if someone widened it */
	chmod(file, 0644);
	assert_int_equal(kubeadm_file_write(*state, "demo", "kubeadm-init.yaml", "b: 2\n", 5, NULL,
					    &err), 0);
	assert_string_equal(slurp(file), "b: 2\n");
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_symlinks_not_followed(void **state)
{
	_cleanup_free_ char *data = tmp_path(state, "data");
	_cleanup_free_ char *out = tmp_path(state, "out");
	_cleanup_free_ char *link = tmp_path(state, "data/demo");
	_cleanup_free_ char *victim = tmp_path(state, "out/kubeadm-init.yaml");
	_cleanup_free_ char *real = tmp_path(state, "data/real");
	_cleanup_free_ char *flink = tmp_path(state, "data/real/kubeadm-join.yaml");
	struct errbuf err = ERRBUF_INIT;
	struct stat st;

	assert_int_equal(mkdir_p(data, 0755), 0);
	assert_int_equal(mkdir_p(out, 0755), 0);
	/* the cluster's directory is a symlink out of the tree: refused, nothing written */
	assert_int_equal(symlink(out, link), 0);
	assert_true(kubeadm_file_write(*state, "demo", "kubeadm-init.yaml", "x", 1, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "symlink"));
	assert_int_equal(lstat(victim, &st), -1);
	/* a symlink at the file's name is replaced, never written through */
	assert_int_equal(mkdir_p(real, 0755), 0);
	assert_int_equal(symlink(victim, flink), 0);
	assert_int_equal(kubeadm_file_write(*state, "real", "kubeadm-join.yaml", "y", 1, NULL, &err), 0);
	assert_int_equal(lstat(victim, &st), -1);
	assert_int_equal(lstat(flink, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* no cluster directory: not created (ASSEMBLE makes it) */
	errbuf_clear(&err);
	assert_true(kubeadm_file_write(*state, "other", "kubeadm-init.yaml", "x", 1, NULL, &err) < 0);
	/* names a decoder refuses */
	assert_int_equal(kubeadm_file_write(*state, "real", "../kubeadm-x.yaml", "x", 1, NULL, &err),
			 -EINVAL);
	assert_int_equal(kubeadm_file_write(*state, "../data/real", "kubeadm-x.yaml", "x", 1, NULL,
					    &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_0600, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_not_followed, tmpdir_setup,
						tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("agent-kubeadm", tests, NULL, NULL);
}
