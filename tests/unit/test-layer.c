/* Layer fixtures are tables where unset fields mean "none". */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/xattr.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "layer.h"
#include "layer-helpers.h"
#include "macro.h"

/* Each test gets a temp dir with root/ (the tree) and layer files beside it. */
static char *root_of(void **state)
{
	char *root = tmp_path(state, "root");
	mkdir(root, 0755);
	return root;
}

static void apply_ok(void **state, const char *root, const char *filter, const struct tentry *t, size_t n)
{
	static int seq;
	char name[32];
	struct errbuf err = ERRBUF_INIT;

	snprintf(name, sizeof(name), "layer-%d.tar", seq++);
	_cleanup_free_ char *file = tmp_path(state, name);
	assert_int_equal(write_layer(file, filter, t, n), 0);
	if (layer_apply_file(root, file, NULL, &err) < 0)
		fail_msg("applying failed: %s", errbuf_msg(&err));
}

static int apply_err(void **state, const char *root, const struct tentry *t, size_t n, struct errbuf *err)
{
	_cleanup_free_ char *file = tmp_path(state, "bad.tar");
	assert_int_equal(write_layer(file, "none", t, n), 0);
	return layer_apply_file(root, file, NULL, err);
}

static bool exists(const char *root, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static char *content(const char *root, const char *rel)
{
	char p[4096];
	struct buf b = BUF_INIT(1 << 20);
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (buf_read_file(&b, p) < 0)
		return NULL;
	return buf_detach(&b, NULL);
}

/* A listing of the tree, "path type" per line, sorted: two trees compare by text. */
static void list_tree(const char *dir, const char *rel, struct buf *out)
{
	struct dirent **names;
	char p[4096];
	int n;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	n = scandir(p, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (strcmp(nm, ".") && strcmp(nm, "..")) {
			char child[4096];
			struct stat st;
			snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", nm);
			snprintf(p, sizeof(p), "%s/%s", dir, child);
			lstat(p, &st);
			buf_printf(out, "%s %o\n", child, st.st_mode);
			if (S_ISDIR(st.st_mode))
				list_tree(dir, child, out);
		}
		free(names[i]);
	}
	free(names);
}

static const struct tentry base[] = {
	{ 'd', "etc" },
	{ 'f', "etc/keep.conf", "keep" },
	{ 'f', "etc/gone.conf", "gone" },
	{ 'd', "scripts" },
	{ 'f', "scripts/old.sh", "old" },
	{ 'd', "scripts/sub" },
	{ 'f', "scripts/sub/deep.sh", "deep" },
	{ 'd', "bin" },
	{ 'f', "bin/tool", "#!/bin/sh\n", 0755 },
};

static void test_file_deleted_both_styles(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	static const struct tentry overlay[] = { { 'c', "etc/gone.conf" } };
	static const struct tentry oci[] = { { 'f', "etc/.wh.gone.conf" } };

	apply_ok(state, root, "none", base, ELEMENTSOF(base));
	assert_true(exists(root, "etc/gone.conf"));
	apply_ok(state, root, "none", overlay, ELEMENTSOF(overlay));
	assert_false(exists(root, "etc/gone.conf"));
	assert_true(exists(root, "etc/keep.conf"));

	_cleanup_free_ char *root2 = tmp_path(state, "root2");
	mkdir(root2, 0755);
	apply_ok(state, root2, "none", base, ELEMENTSOF(base));
	apply_ok(state, root2, "none", oci, ELEMENTSOF(oci));
	assert_false(exists(root2, "etc/gone.conf"));
	assert_false(exists(root2, "etc/.wh.gone.conf"));

	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	list_tree(root, "", &a);
	list_tree(root2, "", &b);
	assert_string_equal(a.data, b.data);
	buf_release(&a);
	buf_release(&b);
}

static void test_dir_deleted_then_recreated(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *root2 = tmp_path(state, "root2");
	/* overlay: the re-created dir is opaque in the upper dir */
	static const struct tentry overlay[] = {
		{ 'd', "scripts", NULL, 0, "trusted.overlay.opaque", "y" },
		{ 'f', "scripts/new.sh", "new" },
	};
	/* OCI: the marker may come after this layer's own entries; they must survive it */
	static const struct tentry oci[] = {
		{ 'd', "scripts" },
		{ 'f', "scripts/new.sh", "new" },
		{ 'f', "scripts/.wh..wh..opq" },
	};

	apply_ok(state, root, "none", base, ELEMENTSOF(base));
	apply_ok(state, root, "none", overlay, ELEMENTSOF(overlay));
	assert_true(exists(root, "scripts/new.sh"));
	assert_false(exists(root, "scripts/old.sh"));
	assert_false(exists(root, "scripts/sub"));
	/* the marker is an instruction, not content */
	char p[4096], v[8];
	snprintf(p, sizeof(p), "%s/scripts", root);
	assert_true(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)) < 0);

	mkdir(root2, 0755);
	apply_ok(state, root2, "none", base, ELEMENTSOF(base));
	apply_ok(state, root2, "none", oci, ELEMENTSOF(oci));

	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	list_tree(root, "", &a);
	list_tree(root2, "", &b);
	assert_string_equal(a.data, b.data);
	assert_non_null(strstr(a.data, "scripts/new.sh"));
	buf_release(&a);
	buf_release(&b);
}

static void test_opaque_keeps_same_layer_subdirs(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	static const struct tentry oci[] = {
		{ 'f', "scripts/sub/mine.sh", "mine" },
		{ 'f', "scripts/.wh..wh..opq" },
	};

	apply_ok(state, root, "none", base, ELEMENTSOF(base));
	apply_ok(state, root, "none", oci, ELEMENTSOF(oci));
	assert_true(exists(root, "scripts/sub/mine.sh"));
	assert_false(exists(root, "scripts/sub/deep.sh"));
	assert_false(exists(root, "scripts/old.sh"));
}

static void test_type_changes(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	static const struct tentry change[] = {
		{ 'f', "scripts", "now a file" },   /* dir with content becomes a file */
		{ 'd', "etc/keep.conf" },           /* file becomes a dir */
		{ 'f', "etc/keep.conf/inner", "x" },
		{ 'l', "bin/tool", "../etc" },      /* file becomes a symlink */
	};

	apply_ok(state, root, "none", base, ELEMENTSOF(base));
	apply_ok(state, root, "none", change, ELEMENTSOF(change));
	_cleanup_free_ char *c = content(root, "scripts");
	assert_string_equal(c, "now a file");
	assert_true(exists(root, "etc/keep.conf/inner"));
	char p[4096], target[64] = "";
	snprintf(p, sizeof(p), "%s/bin/tool", root);
	assert_true(readlink(p, target, sizeof(target) - 1) > 0);
	assert_string_equal(target, "../etc");
}

static void test_metadata_kept(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	static const struct tentry t[] = {
		{ 'f', "bin/suid", "x", 04755, "user.cirun", "kept", 1234 },
		/* a v2 capability blob (20 bytes with NULs): cap_net_raw permitted+effective;
		 * only root may set it, and losing it fails the apply */
		{ 'f', "bin/ping", "p", 0755, "security.capability",
		  "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		  0, 0, 0, 20 },
		{ 'h', "bin/suid-link", "bin/suid" },
	};
	struct stat st, st2;
	char p[4096], v[64];

	apply_ok(state, root, "zstd", t, geteuid() == 0 ? 2 : 1);
	if (geteuid() == 0) {
		snprintf(p, sizeof(p), "%s/bin/ping", root);
		assert_int_equal(lgetxattr(p, "security.capability", v, sizeof(v)), 20);
		assert_memory_equal(v, t[1].xvalue, 20);
	}
	snprintf(p, sizeof(p), "%s/bin/suid", root);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 1234);
	}
	assert_int_equal(st.st_mtime, 1700000000);
	ssize_t n = lgetxattr(p, "user.cirun", v, sizeof(v));
	if (n >= 0) { /* user xattrs need filesystem support (tmpfs has them since 6.6) */
		assert_int_equal(n, 4);
		assert_memory_equal(v, "kept", 4);
	}
	(void)st2;
}

/* A normal user (cirun export without root) gets the files without the attributes only
 * root may set, and a warning, not a failed export. As root (the agent) they are kept or
 * the apply fails (test_metadata_kept). */
static void test_root_only_xattrs_without_root(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *file = tmp_path(state, "cap.tar");
	static const struct tentry t[] = {
		{ 'f', "bin/ping", "p", 0755, "security.capability",
		  "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		  0, 0, 0, 20 },
		{ 'f', "etc/after", "still here" },
	};
	char p[4096], v[64];
	int status;

	if (geteuid() != 0)
		skip(); /* needs a user to become */
	assert_int_equal(write_layer(file, "none", t, ELEMENTSOF(t)), 0);
	assert_int_equal(chown(root, 65534, 65534), 0);
	chmod(*state, 0755);
	chmod(file, 0644);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct errbuf err = ERRBUF_INIT;
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		_exit(layer_apply_file(root, file, NULL, &err) < 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(p, sizeof(p), "%s/bin/ping", root);
	assert_true(lgetxattr(p, "security.capability", v, sizeof(v)) < 0);
	assert_true(exists(root, "etc/after"));
}

static void test_hardlink(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	static const struct tentry t[] = {
		{ 'f', "a", "shared" },
		{ 'h', "b", "a" },
	};
	struct stat sa, sb;
	char p[4096];

	apply_ok(state, root, "gzip", t, ELEMENTSOF(t));
	snprintf(p, sizeof(p), "%s/a", root);
	assert_int_equal(stat(p, &sa), 0);
	snprintf(p, sizeof(p), "%s/b", root);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
}

static void expect_refused(void **state, const struct tentry *t, size_t n, int code, const char *frag)
{
	_cleanup_free_ char *root = root_of(state);
	struct errbuf err = ERRBUF_INIT;
	int r = apply_err(state, root, t, n, &err);

	if (r >= 0)
		fail_msg("layer with '%s' was accepted", t[n - 1].path);
	if (code)
		assert_int_equal(r, code);
	if (!strstr(errbuf_msg(&err), frag))
		fail_msg("'%s' lacks '%s'", errbuf_msg(&err), frag);
}

static void test_hostile_layers_refused(void **state)
{
	static const struct tentry dotdot[] = { { 'f', "a/../../escape", "x" } };
	static const struct tentry absolute[] = { { 'f', "/etc/cirun-escape", "x" } };
	static const struct tentry device[] = { { 'c', "dev/null", NULL, 0, NULL, NULL, 0, 1, 3 } };
	static const struct tentry block[] = { { 'b', "dev/sda", NULL, 0, NULL, NULL, 0, 8, 0 } };
	static const struct tentry badlink[] = { { 'f', "a", "x" }, { 'h', "b", "../../etc/passwd" } };
	static const struct tentry badwh[] = { { 'f', "etc/.wh..wh.x" } };
	static const struct tentry whdir[] = { { 'd', "etc/.wh.keep" } };

	expect_refused(state, dotdot, 1, -EBADMSG, "leaves the root");
	expect_refused(state, absolute, 1, -EBADMSG, "leaves the root");
	expect_refused(state, device, 1, -EBADMSG, "device nodes are not allowed");
	expect_refused(state, block, 1, -EBADMSG, "device nodes are not allowed");
	expect_refused(state, badlink, 2, -EBADMSG, "hard link target leaves the root");
	expect_refused(state, badwh, 1, -EBADMSG, "not a valid whiteout name");
	expect_refused(state, whdir, 1, -EBADMSG, "must be an empty regular file");
}

/* What the layers built decides these, not the kernel's errno (ENOTDIR, ELOOP, EIO came
 * back before, unclassified): each is the layer's fault (-EBADMSG), named by its path in
 * the layer, never by the directory it is applied to. */
static void test_content_checked_explicitly(void **state)
{
	_cleanup_free_ char *outside = tmp_path(state, "outside");
	static const struct tentry under_file[] = { { 'f', "a", "x" }, { 'f', "a/b", "y" } };
	static struct tentry through_link[] = { { 'l', "d", NULL }, { 'f', "d/x", "x" } };
	static struct tentry deep_link[] = { { 'd', "p" }, { 'l', "p/d", NULL }, { 'f', "p/d/q/x", "x" } };
	static struct tentry link_via_symlink[] = { { 'l', "e", NULL }, { 'h', "y", "e/secret" } };
	static const struct tentry link_missing[] = { { 'h', "z", "nothere" } };
	static const struct tentry link_to_dir[] = { { 'd', "dd" }, { 'h', "hl", "dd" } };
	static const struct {
		const struct tentry *t;
		size_t n;
		const char *want;
	} cases[] = {
		{ under_file, 2, "layer entry 'a/b': its path goes through 'a', which is not a directory" },
		{ through_link, 2, "layer entry 'd/x': its path goes through 'd', a symlink" },
		{ deep_link, 3, "layer entry 'p/d/q/x': its path goes through 'p/d', a symlink" },
		{ link_via_symlink, 2, "layer entry 'y': its path goes through 'e', a symlink" },
		{ link_missing, 1, "layer entry 'z': a hard link to 'nothere', which no layer holds" },
		{ link_to_dir, 2, "layer entry 'hl': a hard link to 'dd', a directory" },
	};
	_cleanup_free_ char *secret = tmp_path(state, "outside/secret");

	mkdir(outside, 0755);
	fclose(fopen(secret, "w"));
	through_link[0].data = deep_link[1].data = link_via_symlink[0].data = outside;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *root = root_of(state);
		struct errbuf err = ERRBUF_INIT;
		int r = apply_err(state, root, cases[i].t, cases[i].n, &err);

		if (r != -EBADMSG || !strstr(errbuf_msg(&err), cases[i].want) ||
		    strstr(errbuf_msg(&err), root))
			fail_msg("case %zu: %d '%s', wanted -EBADMSG '%s'", i, r, errbuf_msg(&err),
				 cases[i].want);
		assert_int_equal(rm_rf_at(AT_FDCWD, root), 0);
	}
	_cleanup_free_ char *planted = tmp_path(state, "outside/x");
	struct stat st;
	assert_true(stat(planted, &st) < 0);
}

enum disk { DISK_FSIZE, DISK_TMPFS };

/* Applies file under root in a child whose disk is "full": "skip" when the child cannot
 * make it so, else "CODE MESSAGE". */
static void apply_on_full_disk(const char *root, const char *file, enum disk how, char *msg,
			       size_t size)
{
	int fds[2], status;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit lim = { 1 << 20, 1 << 20 };
		struct errbuf err = ERRBUF_INIT;
		if (how == DISK_FSIZE &&
		    (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &lim) < 0))
			_exit(2);
		if (how == DISK_TMPFS &&
		    (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		     mount("tmpfs", root, "tmpfs", 0, "size=1m") < 0)) {
			dprintf(fds[1], "skip");
			_exit(0);
		}
		int r = layer_apply_file(root, file, NULL, &err);
		dprintf(fds[1], "%d %s", r, r < 0 ? errbuf_msg(&err) : "");
		_exit(0);
	}
	close(fds[1]);
	memset(msg, 0, size);
	assert_true(read(fds[0], msg, size - 1) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A write the disk refuses fails the apply with the OS's reason: libarchive calls a
 * failed write() a mere warning, and on a full tmpfs the file was then extended with a
 * hole and the apply succeeded. RLIMIT_FSIZE with SIGXFSZ ignored makes write() fail
 * with EFBIG without root; a 1 MB tmpfs (root, own mount namespace) is the real thing. */
static void test_write_failure(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *file = tmp_path(state, "big.tar.zst");
	static char big[4 << 20];
	const struct tentry t[] = { { 'd', "bin" }, { 'f', "bin/kubelet", big, 0755 } };
	char msg[ERRBUF_MSG_MAX + 16];
	int r = 0;

	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(write_layer(file, "zstd", t, ELEMENTSOF(t)), 0);
	apply_on_full_disk(root, file, DISK_FSIZE, msg, sizeof(msg));
	assert_int_equal(sscanf(msg, "%d", &r), 1);
	if (r != -EFBIG || !strstr(msg, "writing 'bin/kubelet': File too large"))
		fail_msg("a failed write was not an error: %s", msg);
	assert_null(strstr(msg, root));

	apply_on_full_disk(root, file, DISK_TMPFS, msg, sizeof(msg));
	if (strcmp(msg, "skip") == 0)
		return;
	assert_int_equal(sscanf(msg, "%d", &r), 1);
	if (r != -ENOSPC || !strstr(msg, "writing 'bin/kubelet': No space left on device"))
		fail_msg("a full disk was not an error: %s", msg);
}

static void test_no_writes_through_symlinks(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *outside = tmp_path(state, "outside");
	_cleanup_free_ char *victim = tmp_path(state, "outside/victim");
	struct errbuf err = ERRBUF_INIT;
	static struct tentry layer1[] = { { 'l', "link", NULL } };
	static const struct tentry through[] = { { 'f', "link/planted", "x" } };
	static const struct tentry whiteout[] = { { 'f', "link/.wh.victim" } };
	static const struct tentry overlay_wh[] = { { 'c', "link/victim" } };
	static const struct tentry opaque[] = { { 'f', "link/.wh..wh..opq" } };

	mkdir(outside, 0755);
	fclose(fopen(victim, "w"));
	layer1[0].data = outside;
	apply_ok(state, root, "none", layer1, 1);

	assert_true(apply_err(state, root, through, 1, &err) < 0);
	assert_true(apply_err(state, root, whiteout, 1, &err) < 0);
	assert_true(apply_err(state, root, overlay_wh, 1, &err) < 0);
	assert_true(apply_err(state, root, opaque, 1, &err) == 0); /* nothing beneath: no-op */
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	_cleanup_free_ char *planted = tmp_path(state, "outside/planted");
	assert_true(stat(planted, &st) < 0);
}

static void test_not_a_layer(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *file = tmp_path(state, "junk");
	struct errbuf err = ERRBUF_INIT;
	FILE *f = fopen(file, "w");

	fputs("this is not a tar archive, not even close; it goes on for a while.........\n", f);
	for (int i = 0; i < 20; i++)
		fputs("more junk more junk more junk more junk more junk more junk more junk\n", f);
	fclose(f);
	assert_true(layer_apply_file(root, file, NULL, &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "junk"));
	assert_true(layer_apply_file("/nonexistent-root", file, NULL, &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "/nonexistent-root"));
}

static void test_digest_of_stream(void **state)
{
	_cleanup_free_ char *root = root_of(state);
	_cleanup_free_ char *file = tmp_path(state, "l.tar.zst");
	struct errbuf err = ERRBUF_INIT;
	struct sha256 *h = NULL;
	struct layer_stats st;
	char want[SHA256_HEX_SIZE], got[SHA256_HEX_SIZE];
	uint64_t size;

	assert_int_equal(write_layer(file, "zstd", base, ELEMENTSOF(base)), 0);
	assert_int_equal(sha256_file(file, want, &size), 0);
	int fd = open(file, O_RDONLY);
	assert_int_equal(sha256_new(&h), 0);
	assert_int_equal(layer_apply_fd(root, fd, h, &st, &err), 0);
	close(fd);
	assert_int_equal(sha256_final(h, got), 0);
	sha256_free(h);
	assert_string_equal(got, want);
	assert_int_equal(st.bytes_in, size);
	assert_int_equal(st.entries, ELEMENTSOF(base));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_deleted_both_styles),
		T(test_dir_deleted_then_recreated),
		T(test_opaque_keeps_same_layer_subdirs),
		T(test_type_changes),
		T(test_metadata_kept),
		T(test_root_only_xattrs_without_root),
		T(test_hardlink),
		T(test_hostile_layers_refused),
		T(test_content_checked_explicitly),
		T(test_write_failure),
		T(test_no_writes_through_symlinks),
		T(test_not_a_layer),
		T(test_digest_of_stream),
	};
	return cmocka_run_group_tests_name("layer", tests, NULL, NULL);
}
