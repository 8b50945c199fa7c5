#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "interrupt.h"
#include "macro.h"

static void touch(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static bool exists(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	struct stat st;
	return lstat(p, &st) == 0;
}

static void mk(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

/* The handler's own removal: deep, wide, never through a symlink. */
static void test_remove_tree(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *tree = xasprintf("%s/tree", root);
	_cleanup_free_ char *link = xasprintf("%s/tree/out", root);
	_cleanup_free_ char *outside = xasprintf("%s/outside", root);

	mk(root, "tree");
	mk(root, "tree/a");
	mk(root, "tree/a/b");
	mk(root, "outside");
	touch(root, "outside/keep");
	for (int i = 0; i < 300; i++) {
		char name[64];
		snprintf(name, sizeof(name), "tree/a/b/file-with-a-long-name-%03d", i);
		touch(root, name);
	}
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(interrupt_remove_tree(tree, 1), 0);
	assert_true(exists(root, "tree"));
	assert_false(exists(root, "tree/a"));
	assert_true(exists(root, "outside/keep"));
	assert_int_equal(interrupt_remove_tree(tree, 0), 0);
	assert_false(exists(root, "tree"));
	assert_int_equal(interrupt_remove_tree(tree, 0), 0); /* gone already */
}

/* A child tracks its temporaries and is sent sig: they are gone, and it died of sig. */
static void interrupted(const char *root, int sig)
{
	_cleanup_free_ char *file = xasprintf("%s/out.tar.partial-1", root);
	_cleanup_free_ char *dir = xasprintf("%s/scratch", root);
	_cleanup_free_ char *blobs = xasprintf("%s/tmp", root);
	int status;
	pid_t pid;

	mk(root, "scratch");
	mk(root, "scratch/deep");
	touch(root, "scratch/deep/f");
	mk(root, "tmp");
	touch(root, "tmp/blob-1-aaaa");
	touch(root, "tmp/blob-1-bbbb");
	touch(root, "tmp/blob-2-cccc");
	touch(root, "out.tar.partial-1");
	touch(root, "untracked");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t sleeper = fork();
		if (sleeper == 0) {
			pause();
			_exit(0);
		}
		if (interrupt_track(INTERRUPT_FILE, file, NULL, 0) < 0 ||
		    interrupt_track(INTERRUPT_DIR, dir, NULL, 0) < 0 ||
		    interrupt_track(INTERRUPT_PREFIX, blobs, "blob-1-", 0) < 0 ||
		    interrupt_track(INTERRUPT_CHILD, NULL, NULL, sleeper) < 0)
			_exit(3);
		int gone = interrupt_track(INTERRUPT_FILE, "/nonexistent/untracked", NULL, 0);
		interrupt_untrack(gone);
		kill(getpid(), sig);
		_exit(4); /* not reached: the handler re-raises */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
		fail_msg("child status %#x, wanted death by signal %d", status, sig);
	assert_false(exists(root, "out.tar.partial-1"));
	assert_false(exists(root, "scratch"));
	assert_false(exists(root, "tmp/blob-1-aaaa"));
	assert_false(exists(root, "tmp/blob-1-bbbb"));
	assert_true(exists(root, "tmp/blob-2-cccc")); /* another process's */
	assert_true(exists(root, "untracked"));
}

static void test_sigint(void **state)
{
	interrupted(*state, SIGINT);
}

static void test_sigterm(void **state)
{
	interrupted(*state, SIGTERM);
}

/* An ignored signal stays ignored (nohup): nothing is removed, the process lives on. */
static void test_ignored_stays_ignored(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *file = xasprintf("%s/kept", root);
	int status;
	pid_t pid;

	touch(root, "kept");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGHUP, SIG_IGN);
		interrupt_track(INTERRUPT_FILE, file, NULL, 0);
		kill(getpid(), SIGHUP);
		_exit(7);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	assert_true(exists(root, "kept"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_remove_tree),
		T(test_sigint),
		T(test_sigterm),
		T(test_ignored_stays_ignored),
	};
	return cmocka_run_group_tests_name("interrupt", tests, NULL, NULL);
}
