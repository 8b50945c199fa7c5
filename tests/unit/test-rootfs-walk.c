/* The walker beneath a rootfs fd on a scratch tree: symlinks out (absolute, "..", through
 * other links, loops), "..", directory symlinks, fifos, devices and directories where a
 * file is read, over-long names and paths. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "macro.h"
#include "rootfs-walk.h"

struct tree {
	char *dir;
	int rootfd;
};

static int tree_setup(void **state)
{
	static const char *const dirs[] = { "root/etc/sub", "root/bin", "outside" };
	if (tmpdir_setup(state) < 0)
		return -1;
	const char *top = *state;
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", top, dirs[i]);
		if (mkdir_p(d, 0755) < 0)
			return -1;
	}
	static const char *const files[] = { "root/etc/a.conf", "root/etc/sub/b.conf", "root/bin/tool",
					     "outside/secret" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", top, files[i]);
		if (write_file_atomic(f, files[i], strlen(files[i]), 0644) < 0)
			return -1;
	}
	struct {
		const char *path, *target;
	} links[] = {
		{ "root/etc/abs", NULL },		/* filled below: the outside secret, absolute */
		{ "root/etc/up", "../../outside/secret" },
		{ "root/etc/in", "sub/b.conf" },
		{ "root/etc/parent", ".." },
		{ "root/etc/via", "parent/../outside/secret" },
		{ "root/etc/loop1", "loop2" },
		{ "root/etc/loop2", "loop1" },
		{ "root/etc/subdir", "sub" },
		{ "root/bin/alias", "tool" },
		{ "root/bin/updown", "../etc/../bin/tool" },
	};
	_cleanup_free_ char *abs = xasprintf("%s/outside/secret", top);
	links[0].target = abs;
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		_cleanup_free_ char *l = xasprintf("%s/%s", top, links[i].path);
		if (symlink(links[i].target, l) < 0)
			return -1;
	}
	_cleanup_free_ char *fifo = xasprintf("%s/root/etc/fifo", top);
	if (mkfifo(fifo, 0644) < 0)
		return -1;
	return 0;
}

static int root_of(void **state)
{
	_cleanup_free_ char *p = tmp_path(state, "root");
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void expect_open(int rootfd, const char *rel, unsigned flags, int code, const char *want)
{
	struct errbuf err = ERRBUF_INIT;
	int fd = -1;
	int r = rootfs_open_file(rootfd, rel, flags, &fd, &err);

	if (fd >= 0)
		close(fd);
	if (r != code || (want && !strstr(errbuf_msg(&err), want)))
		fail_msg("'%s' (flags %u): expected %d \"%s\", got %d: %s", rel, flags, code, want ? want : "",
			 r, errbuf_msg(&err));
}

static void test_open(void **state)
{
	_cleanup_close_ int root = root_of(state);
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	struct errbuf err = ERRBUF_INIT;

	expect_open(root, "etc/a.conf", 0, 0, NULL);
	expect_open(root, "./etc//sub/../a.conf", 0, 0, NULL);
	assert_int_equal(rootfs_read_file(root, "etc/sub/b.conf", 0, &b, NULL, &err), 0);
	assert_string_equal(b.data, "root/etc/sub/b.conf");

	/* no symlink is followed without the flag, inside or out */
	expect_open(root, "etc/in", 0, -ELOOP, "'etc/in' is a symlink (to 'sub/b.conf')");
	expect_open(root, "etc/subdir/b.conf", 0, -ELOOP, "'etc/subdir' is a symlink");
	expect_open(root, "etc/abs", 0, -ELOOP, "'etc/abs' is a symlink");
	/* with it, only those that stay inside */
	expect_open(root, "etc/in", ROOTFS_FOLLOW_INSIDE, 0, NULL);
	expect_open(root, "etc/subdir/b.conf", ROOTFS_FOLLOW_INSIDE, 0, NULL);
	expect_open(root, "bin/alias", ROOTFS_FOLLOW_INSIDE, 0, NULL);
	expect_open(root, "bin/updown", ROOTFS_FOLLOW_INSIDE, 0, NULL);
	expect_open(root, "etc/abs", ROOTFS_FOLLOW_INSIDE, -EXDEV, "'etc/abs' is a symlink to '/");
	expect_open(root, "etc/up", ROOTFS_FOLLOW_INSIDE, -EXDEV,
		    "'etc/up' is a symlink to '../../outside/secret', outside the rootfs");
	expect_open(root, "etc/via", ROOTFS_FOLLOW_INSIDE, -EXDEV, "outside the rootfs");
	expect_open(root, "etc/loop1", ROOTFS_FOLLOW_INSIDE, -ELOOP, "more than 40 symlinks");

	/* ".." never above the root, absolute paths never */
	expect_open(root, "../outside/secret", 0, -EXDEV, "climbs above the rootfs");
	expect_open(root, "etc/../../outside/secret", ROOTFS_FOLLOW_INSIDE, -EXDEV, "climbs above");
	expect_open(root, "/etc/a.conf", 0, -EXDEV, "is absolute");

	/* only regular files */
	expect_open(root, "etc/fifo", 0, -EINVAL, "'etc/fifo' is a fifo, not a regular file");
	expect_open(root, "etc/sub", 0, -EINVAL, "'etc/sub' is a directory");
	expect_open(root, "etc", 0, -EINVAL, "is a directory");
	expect_open(root, ".", 0, -EISDIR, "is a directory");
	expect_open(root, "etc/a.conf/x", 0, -ENOTDIR, "not a directory");
	expect_open(root, "etc/none", 0, -ENOENT, "'etc/none' does not exist");
	_cleanup_free_ char *dev = tmp_path(state, "root/etc/null");
	if (mknod(dev, S_IFCHR | 0644, makedev(1, 3)) == 0)
		expect_open(root, "etc/null", 0, -EINVAL, "'etc/null' is a device");

	/* over-long names and paths */
	char name[NAME_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	_cleanup_free_ char *lname = xasprintf("etc/%s", name);
	expect_open(root, lname, 0, -ENAMETOOLONG, "name longer than 255");
	_cleanup_free_ char *lpath = xmalloc(PATH_MAX + 10);
	for (size_t i = 0; i < PATH_MAX + 8; i += 2)
		memcpy(lpath + i, "./", 2);
	lpath[PATH_MAX + 8] = '\0';
	expect_open(root, lpath, 0, -ENAMETOOLONG, "longer than 4096");
}

struct seen {
	struct buf list;
};

static int collect(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	struct seen *s = data;
	(void)err;
	buf_printf(&s->list, "%s%s ", e->rel, S_ISLNK(e->st.st_mode) ? "@" : S_ISDIR(e->st.st_mode) ? "/" : "");
	return 0;
}

static void test_walk(void **state)
{
	_cleanup_close_ int root = root_of(state);
	struct seen s = { .list = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;

	/* a tree with a symlink out is refused, naming it, before anything sees it */
	assert_int_equal(rootfs_walk(root, "etc", true, collect, &s, &err), -EXDEV);
	assert_non_null(strstr(errbuf_msg(&err), "'etc/abs' is a symlink to '/"));
	assert_string_equal(s.list.data, "etc/a.conf ");
	buf_reset(&s.list);
	assert_int_equal(rootfs_walk(root, "bin", true, collect, &s, &err), 0);
	assert_string_equal(s.list.data, "bin/alias@ bin/tool bin/updown@ ");
	buf_reset(&s.list);
	_cleanup_free_ char *abs = tmp_path(state, "root/etc/abs");
	_cleanup_free_ char *up = tmp_path(state, "root/etc/up");
	_cleanup_free_ char *via = tmp_path(state, "root/etc/via");
	_cleanup_free_ char *fifo = tmp_path(state, "root/etc/fifo");
	unlink(abs);
	unlink(up);
	unlink(via);
	unlink(fifo);
	assert_int_equal(rootfs_walk(root, "etc", true, collect, &s, &err), 0);
	/* a directory symlink is listed, never descended */
	assert_string_equal(s.list.data, "etc/a.conf etc/in@ etc/loop1@ etc/loop2@ etc/parent@ etc/sub/ "
					 "etc/sub/b.conf etc/subdir@ ");
	/* a missing tree is nothing to walk; one that is a symlink is refused */
	assert_int_equal(rootfs_walk(root, "charts", true, collect, &s, &err), 0);
	_cleanup_free_ char *outside = tmp_path(state, "outside");
	_cleanup_free_ char *statics = tmp_path(state, "root/statics");
	assert_int_equal(symlink(outside, statics), 0);
	assert_int_equal(rootfs_walk(root, "statics", true, collect, &s, &err), -ELOOP);
	assert_non_null(strstr(errbuf_msg(&err), "'statics' is a symlink (to '/"));
	buf_release(&s.list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, tree_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_walk, tree_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("rootfs-walk", tests, NULL, NULL);
}
