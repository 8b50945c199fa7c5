/* The host's layer store (agent/layers.c): one pass per layer into an unpacked entry,
 * the rootfs hard-linked from the entries with whiteouts and opaque dirs applied, damaged
 * or half-written entries found, a full disk, the old blob cache migrated. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
/* paths are built from a few fixed patterns held in variables */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "buf.h"
#include "cleanup.h"
#include "config-apply.h"
#include "digest.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "layers.h"
#include "macro.h"

struct lay {
	char digest[80];
	uint64_t size;
	char file[4096];
};

static int store_setup(void **state)
{
	int r = tmpdir_setup(state);
	_cleanup_free_ char *root = NULL;

	if (r < 0)
		return r;
	root = tmp_path(state, "agent");
	mkdir(root, 0755);
	return setenv("CIRUN_AGENT_ROOT", root, 1);
}

static char *at(void **state, const char *fmt, const char *a, const char *b)
{
	char rel[4096];
	snprintf(rel, sizeof(rel), fmt, a, b);
	return tmp_path(state, rel);
}

static void make(void **state, const char *name, const char *filter, const struct tentry *t,
		 size_t n, struct lay *l)
{
	char hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *file = tmp_path(state, name);
	snprintf(l->file, sizeof(l->file), "%s", file);
	assert_int_equal(write_layer(l->file, filter, t, n), 0);
	assert_int_equal(sha256_file(l->file, hex, &l->size), 0);
	snprintf(l->digest, sizeof(l->digest), "sha256:%s", hex);
}

/* Sends file as the agent receives it: in small pieces, under digest. */
static int upload_as(const struct lay *l, const char *digest, uint64_t upto, struct errbuf *err)
{
	struct layer_upload *u;
	_cleanup_buf_ struct buf b = BUF_INIT(64 << 20);
	int r;

	assert_int_equal(buf_read_file(&b, l->file), 0);
	r = layer_upload_begin(digest, l->size, &u, err);
	if (r < 0)
		return r;
	for (size_t off = 0; off < b.len && off < upto; off += 1000) {
		size_t n = b.len - off < 1000 ? b.len - off : 1000;
		r = layer_upload_data(u, b.data + off, n, err);
		if (r < 0) {
			layer_upload_abort(u);
			return r;
		}
	}
	if (upto < b.len) {
		layer_upload_abort(u);
		return -EPIPE;
	}
	return layer_upload_end(u, err);
}

static void upload(const struct lay *l)
{
	struct errbuf err = ERRBUF_INIT;
	if (upload_as(l, l->digest, UINT64_MAX, &err) < 0)
		fail_msg("upload failed: %s", errbuf_msg(&err));
}

static bool present(void **state, const char *fmt, const char *a, const char *b)
{
	_cleanup_free_ char *p = at(state, fmt, a, b);
	struct stat st;
	return lstat(p, &st) == 0;
}

static ino_t ino(void **state, const char *fmt, const char *a, const char *b)
{
	_cleanup_free_ char *p = at(state, fmt, a, b);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	return st.st_ino;
}

static void content_is(void **state, const char *rel, const char *want)
{
	_cleanup_free_ char *p = at(state, "agent/data/c1/rootfs/%s%s", rel, "");
	_cleanup_buf_ struct buf b = BUF_INIT(1 << 20);
	if (buf_read_file(&b, p) < 0)
		fail_msg("cannot read %s", rel);
	assert_string_equal(b.data, want);
}

static int assemble(struct lay *const *ls, size_t n, struct layer_fault_info *f,
		    struct layer_stats *st, struct errbuf *err)
{
	char *d[8];
	for (size_t i = 0; i < n; i++)
		d[i] = ls[i]->digest;
	return rootfs_assemble("c1", d, n, f, st, err);
}

static void assemble_ok(struct lay *const *ls, size_t n, struct layer_stats *st)
{
	struct errbuf err = ERRBUF_INIT;
	if (assemble(ls, n, NULL, st, &err) < 0)
		fail_msg("assembly failed: %s", errbuf_msg(&err));
}

static const struct tentry base[] = {
	{ 'd', "etc" },	      { 'f', "etc/a", "a1" },	   { 'f', "etc/gone", "g" },
	{ 'f', "etc/old", "o" }, { 'd', "opt" },	   { 'f', "opt/x", "x" },
	{ 'd', "opt/sub" },   { 'f', "opt/sub/y", "y" }, { 'd', "var" },
	{ 'f', "var/keep", "k" }, { 'd', "var/dir" },	   { 'f', "var/dir/z", "z" },
	{ 'd', "data" },      { 'f', "data/f", "f" },	   { 'l', "etc/link", "/etc/a" },
};
/* both forms of deletion and of opaque directories, a type change, a file replaced */
static const struct tentry upper[] = {
	{ 'd', "etc" },
	{ 'f', "etc/.wh.gone" },
	{ 'c', "etc/old" },
	{ 'f', "etc/a", "a2" },
	{ 'd', "opt", NULL, 0700, "trusted.overlay.opaque", "y" },
	{ 'f', "opt/new", "n" },
	{ 'd', "var" },
	{ 'f', "var/.wh..wh..opq" },
	{ 'f', "var/fresh", "fr" },
	{ 'f', ".wh.data" },
	{ 'f', "data", "now a file" },
};

/* The layer arrives into layers/unpacked/<hex>/tree in one pass: its deletions and opaque
 * markers kept as OCI marker files, no compressed copy, nothing .partial left. */
static void test_one_pass_store(void **state)
{
	struct lay l;
	char buf[8];

	make(state, "upper.tar.zst", "zstd", upper, ELEMENTSOF(upper), &l);
	assert_false(layer_cache_has(l.digest, l.size));
	upload(&l);
	const char *h = l.digest + 7;
	assert_true(present(state, "agent/layers/unpacked/%s/tree/etc/a%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/etc/.wh.gone%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/etc/.wh.old%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/opt/.wh..wh..opq%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/var/.wh..wh..opq%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/.wh.data%s", h, ""));
	assert_true(present(state, "agent/layers/unpacked/%s/manifest%s", h, ""));
	_cleanup_free_ char *opt = at(state, "agent/layers/unpacked/%s/tree/opt%s", h, "");
	assert_true(lgetxattr(opt, "trusted.overlay.opaque", buf, sizeof(buf)) < 0);
	assert_false(present(state, "agent/layers/%s%s", h, ""));
	assert_false(present(state, "agent/layers/unpacked/%s.partial%s", h, ""));
	assert_true(layer_cache_has(l.digest, l.size));
}

static void test_assembly_hard_links(void **state)
{
	struct lay l1, l2;
	struct lay *both[] = { &l1, &l2 };
	struct layer_stats st;
	struct stat s;

	make(state, "base.tar.gz", "gzip", base, ELEMENTSOF(base), &l1);
	make(state, "upper.tar.zst", "zstd", upper, ELEMENTSOF(upper), &l2);
	upload(&l1);
	upload(&l2);
	assemble_ok(both, 2, &st);
	const char *r = "agent/data/c1/rootfs/%s%s";
	content_is(state, "etc/a", "a2");
	assert_false(present(state, r, "etc/gone", ""));
	assert_false(present(state, r, "etc/old", ""));
	assert_false(present(state, r, "etc/.wh.gone", ""));
	assert_true(present(state, r, "etc/link", ""));
	/* opaque by xattr: the lower content went, this layer's came */
	assert_false(present(state, r, "opt/x", ""));
	assert_false(present(state, r, "opt/sub", ""));
	assert_false(present(state, r, "opt/.wh..wh..opq", ""));
	content_is(state, "opt/new", "n");
	/* opaque by marker */
	assert_false(present(state, r, "var/keep", ""));
	assert_false(present(state, r, "var/dir", ""));
	content_is(state, "var/fresh", "fr");
	/* deleted and made again by the same layer, as another type */
	content_is(state, "data", "now a file");
	assert_int_equal(st.whiteouts, 5);
	/* no data copied: the rootfs's files are the store's */
	assert_int_equal(ino(state, r, "etc/a", ""),
			 ino(state, "agent/layers/unpacked/%s/tree/etc/a%s", l2.digest + 7, ""));
	assert_int_equal(ino(state, r, "etc/link", ""),
			 ino(state, "agent/layers/unpacked/%s/tree/etc/link%s", l1.digest + 7, ""));
	/* a directory is made, with its layer's mode */
	_cleanup_free_ char *opt = at(state, r, "opt", "");
	assert_int_equal(stat(opt, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0700);
	/* the store is untouched by assembly: it verifies again */
	assemble_ok(both, 2, NULL);
}

static void damage_then_assemble(void **state, struct lay *l, const char *how)
{
	struct lay *one[] = { l };
	struct layer_fault_info f = { 0 };
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *p = at(state, "agent/layers/unpacked/%s/tree/etc/a%s", l->digest + 7, "");

	upload(l);
	assemble_ok(one, 1, NULL);
	if (strcmp(how, "append") == 0) {
		int fd = open(p, O_WRONLY | O_APPEND);
		assert_true(fd >= 0 && write(fd, "!", 1) == 1);
		close(fd);
	} else if (strcmp(how, "chmod") == 0) {
		assert_int_equal(chmod(p, 0777), 0);
	} else if (strcmp(how, "remove") == 0) {
		assert_int_equal(unlink(p), 0);
	} else {
		_cleanup_free_ char *extra = at(state, "agent/layers/unpacked/%s/tree/etc/new%s",
						 l->digest + 7, "");
		assert_int_equal(write_file_atomic(extra, "x", 1, 0644), 0);
	}
	assert_int_equal(assemble(one, 1, &f, NULL, &err), -EBADMSG);
	assert_int_equal(f.fault, LAYER_FAULT_CORRUPT);
	assert_string_equal(f.digest, l->digest);
	free(f.digest);
	if (!strstr(errbuf_msg(&err), "damaged"))
		fail_msg("%s: %s", how, errbuf_msg(&err));
	/* dropped, so the sender sends it again; the rootfs assembled before is kept */
	assert_false(layer_cache_has(l->digest, l->size));
	assert_false(present(state, "agent/layers/unpacked/%s%s", l->digest + 7, ""));
	assert_true(present(state, "agent/data/c1/rootfs/etc/gone%s%s", "", ""));
	upload(l);
	assemble_ok(one, 1, NULL);
}

static void test_tampered_entry(void **state)
{
	static const char *const hows[] = { "append", "chmod", "remove", "add" };
	struct lay l;

	make(state, "base.tar", "none", base, ELEMENTSOF(base), &l);
	for (size_t i = 0; i < ELEMENTSOF(hows); i++)
		damage_then_assemble(state, &l, hows[i]);
}

/* A transfer cut off, a crash before the rename, a manifest cut short: not held. */
static void test_half_written(void **state)
{
	struct errbuf err = ERRBUF_INIT;
	struct lay l;

	make(state, "base.tar", "none", base, ELEMENTSOF(base), &l);
	assert_int_equal(upload_as(&l, l.digest, l.size / 2, &err), -EPIPE);
	assert_false(present(state, "agent/layers/unpacked/%s.partial%s", l.digest + 7, ""));
	assert_false(layer_cache_has(l.digest, l.size));

	/* what a killed agent leaves: a .partial entry, complete or not */
	upload(&l);
	_cleanup_free_ char *final = at(state, "agent/layers/unpacked/%s%s", l.digest + 7, "");
	_cleanup_free_ char *partial = at(state, "agent/layers/unpacked/%s.partial%s", l.digest + 7, "");
	assert_int_equal(rename(final, partial), 0);
	assert_false(layer_cache_has(l.digest, l.size));
	assert_false(present(state, "agent/layers/unpacked/%s.partial%s", l.digest + 7, ""));
	/* one of a layer never asked for again goes once a rootfs was assembled */
	struct lay *one[] = { &l };
	_cleanup_free_ char *stale = tmp_path(state, "agent/layers/unpacked/"
					      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.partial");
	assert_int_equal(mkdir(stale, 0700), 0);
	upload(&l);
	assemble_ok(one, 1, NULL);
	assert_true(access(stale, F_OK) < 0);

	/* a manifest cut short (a crash before the data reached the disk) */
	_cleanup_free_ char *m = at(state, "agent/layers/unpacked/%s/manifest%s", l.digest + 7, "");
	struct stat st;
	assert_int_equal(stat(m, &st), 0);
	assert_int_equal(truncate(m, st.st_size - 3), 0);
	assert_false(layer_cache_has(l.digest, l.size));
	assert_false(present(state, "agent/layers/unpacked/%s%s", l.digest + 7, ""));
}

static void test_corrupt_bytes_refused(void **state)
{
	struct errbuf err = ERRBUF_INIT;
	struct lay a, b;

	make(state, "base.tar", "none", base, ELEMENTSOF(base), &a);
	make(state, "upper.tar", "none", upper, ELEMENTSOF(upper), &b);
	assert_int_equal(upload_as(&b, a.digest, UINT64_MAX, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "arrived corrupt"));
	assert_false(layer_cache_has(a.digest, a.size));
	assert_false(present(state, "agent/layers/unpacked/%s.partial%s", a.digest + 7, ""));
}

/* What the agent refused before it still refuses, now as the layer arrives; the reason is
 * kept for the assembly to report as the image's fault, nothing lands outside. */
static void test_hostile_refused(void **state)
{
	static const struct tentry dotdot[] = { { 'f', "../escape", "x" } };
	static const struct tentry device[] = { { 'b', "etc/sda", NULL, 0, NULL, NULL, 0, 8, 0 } };
	static const struct tentry through_link[] = { { 'l', "d", "/tmp" }, { 'f', "d/x", "x" } };
	static const struct tentry wh_dir[] = { { 'f', ".wh.etc/x", "x" } };
	static char longname[5000];
	static struct tentry too_long[] = { { 'f', longname, "x" } };
	const struct tentry *layers[] = { dotdot, device, through_link, wh_dir, too_long };
	const size_t counts[] = { 1, 1, 2, 1, 1 };
	const char *reasons[] = { "leaves the root", "device nodes are not allowed",
				  "its path goes through 'd', a symlink",
				  "a whiteout name ('.wh.etc') used as a directory",
				  /* the reason is cut by the message cap: the entry is named */
				  "layer entry 'nnnnnnnn" };

	memset(longname, 'n', sizeof(longname) - 1);
	for (size_t i = 0; i < ELEMENTSOF(layers); i++) {
		char name[32];
		struct lay l;
		struct lay *one[] = { &l };
		struct layer_fault_info f = { 0 };
		struct errbuf err = ERRBUF_INIT;

		snprintf(name, sizeof(name), "bad%zu.tar", i);
		make(state, name, "none", layers[i], counts[i], &l);
		upload(&l);
		assert_true(layer_cache_has(l.digest, l.size));
		assert_int_equal(assemble(one, 1, &f, NULL, &err), -EBADMSG);
		assert_int_equal(f.fault, LAYER_FAULT_INVALID);
		free(f.digest);
		if (!strstr(errbuf_msg(&err), reasons[i]))
			fail_msg("layer %zu: '%s' lacks '%s'", i, errbuf_msg(&err), reasons[i]);
		assert_false(present(state, "agent/layers/unpacked/%s%s", l.digest + 7, ""));
		assert_false(present(state, "agent/layers/unpacked/%s.partial%s", l.digest + 7, ""));
	}
	assert_false(present(state, "escape%s%s", "", ""));
	assert_false(present(state, "agent/layers/escape%s%s", "", ""));
}

/* A host set up by the previous version has layers/<hex> blobs: used, not sent again. */
static void test_old_cache_migrated(void **state)
{
	struct lay l;
	struct lay *one[] = { &l };

	make(state, "base.tar.gz", "gzip", base, ELEMENTSOF(base), &l);
	_cleanup_free_ char *dir = tmp_path(state, "agent/layers");
	_cleanup_free_ char *blob = at(state, "agent/layers/%s%s", l.digest + 7, "");
	_cleanup_buf_ struct buf b = BUF_INIT(1 << 20);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(buf_read_file(&b, l.file), 0);
	assert_int_equal(write_file_atomic(blob, b.data, b.len, 0600), 0);

	assert_false(layer_cache_has(l.digest, l.size + 1));
	assert_false(present(state, "agent/layers/%s%s", l.digest + 7, ""));
	assert_int_equal(write_file_atomic(blob, b.data, b.len, 0600), 0);
	assert_true(layer_cache_has(l.digest, l.size));
	assert_false(present(state, "agent/layers/%s%s", l.digest + 7, ""));
	assemble_ok(one, 1, NULL);
	content_is(state, "etc/a", "a1");
	/* a blob whose bytes went bad is not kept, nor unpacked */
	_cleanup_free_ char *entry = at(state, "agent/layers/unpacked/%s%s", l.digest + 7, "");
	assert_int_equal(rm_rf_at(AT_FDCWD, entry), 0);
	b.data[b.len / 2] ^= 1;
	assert_int_equal(write_file_atomic(blob, b.data, b.len, 0600), 0);
	assert_false(layer_cache_has(l.digest, l.size));
	assert_false(present(state, "agent/layers/%s%s", l.digest + 7, ""));
	assert_false(present(state, "agent/layers/unpacked/%s%s", l.digest + 7, ""));
}

/* What cirun rewrites in the rootfs (rendered templates, statics, Config documents)
 * replaces the file: the store's copy, linked there, stays as it was. */
static void test_rewrites_never_reach_the_store(void **state)
{
	struct lay l;
	struct lay *one[] = { &l };
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *etc = tmp_path(state, "agent/data/c1/rootfs/etc");
	_cleanup_close_ int rootfd = -1, etcfd = -1;

	make(state, "base.tar", "none", base, ELEMENTSOF(base), &l);
	upload(&l);
	assemble_ok(one, 1, NULL);
	ino_t stored = ino(state, "agent/layers/unpacked/%s/tree/etc/a%s", l.digest + 7, "");
	/* setup's rendering */
	etcfd = open(etc, O_RDONLY | O_DIRECTORY);
	assert_true(etcfd >= 0);
	assert_int_equal(write_file_atomic_at(etcfd, "a", "rendered", 8, 0600), 0);
	content_is(state, "etc/a", "rendered");
	/* a Config document */
	_cleanup_free_ char *rootfs = tmp_path(state, "agent/data/c1/rootfs");
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY);
	char name[] = "c", path[] = "etc/gone", data[] = "configured", file[] = "t";
	struct config_doc doc = { .name = name, .path = path, .data = data,
				  .strategy = CONFIG_OVERRIDE, .file = file };
	if (config_apply(rootfd, &doc, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	content_is(state, "etc/gone", "configured");
	assert_int_not_equal(ino(state, "agent/data/c1/rootfs/etc/a%s%s", "", ""), stored);
	_cleanup_free_ char *p = at(state, "agent/layers/unpacked/%s/tree/etc/a%s", l.digest + 7, "");
	_cleanup_buf_ struct buf b = BUF_INIT(1 << 10);
	assert_int_equal(buf_read_file(&b, p), 0);
	assert_string_equal(b.data, "a1");
	/* and the store still verifies: nothing is sent again */
	assemble_ok(one, 1, NULL);
}

/* A disk that fills while a layer arrives fails that layer with the reason; nothing of it
 * stays and the rootfs assembled before is the host's. A 1 MB tmpfs (own mount ns). */
static void test_disk_full(void **state)
{
	static char big[4 << 20];
	const struct tentry small[] = { { 'd', "bin" }, { 'f', "bin/kubelet", "v1", 0755 } };
	const struct tentry large[] = { { 'd', "bin" }, { 'f', "bin/kubelet", big, 0755 } };
	_cleanup_free_ char *root = tmp_path(state, "agent");
	struct lay s, l;
	char msg[ERRBUF_MSG_MAX + 64];
	int fds[2], status;

	memset(big, 'x', sizeof(big) - 1);
	make(state, "small.tar", "none", small, ELEMENTSOF(small), &s);
	make(state, "large.tar.zst", "zstd", large, ELEMENTSOF(large), &l);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct errbuf err = ERRBUF_INIT;
		struct lay *one[] = { &s };
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", root, "tmpfs", 0, "size=1m") < 0) {
			dprintf(fds[1], "skip");
			_exit(0);
		}
		upload(&s);
		assemble_ok(one, 1, NULL);
		int r = upload_as(&l, l.digest, UINT64_MAX, &err);
		_cleanup_buf_ struct buf b = BUF_INIT(1 << 10);
		_cleanup_free_ char *kubelet = tmp_path(state, "agent/data/c1/rootfs/bin/kubelet");
		bool kept = buf_read_file(&b, kubelet) >= 0 && strcmp(b.data, "v1") == 0;
		bool partial = present(state, "agent/layers/unpacked/%s.partial%s", l.digest + 7, "");
		dprintf(fds[1], "%d %d %d %s", r, kept, partial, errbuf_msg(&err));
		_exit(0);
	}
	close(fds[1]);
	memset(msg, 0, sizeof(msg));
	assert_true(read(fds[0], msg, sizeof(msg) - 1) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (strcmp(msg, "skip") == 0)
		skip();
	int r = 0, kept = 0, partial = 1;
	assert_int_equal(sscanf(msg, "%d %d %d", &r, &kept, &partial), 3);
	if (r != -ENOSPC || !strstr(msg, "No space left on device") || !strstr(msg, "disk is full"))
		fail_msg("a full disk was not the error: %s", msg);
	assert_true(kept);
	assert_false(partial);
}

/* Files stream: a file of a layer is on disk while later bytes of the layer have not
 * arrived yet (the unpacking thread works as the data comes, not at LAYER_END). */
static void test_files_stream_before_the_end(void **state)
{
	static char big[3 << 20];
	struct errbuf err = ERRBUF_INIT;
	struct layer_upload *u;
	struct lay l;

	memset(big, 'b', sizeof(big) - 1);
	const struct tentry t[] = { { 'f', "first", "hello" }, { 'f', "big", big } };
	make(state, "stream.tar", "none", t, ELEMENTSOF(t), &l);
	_cleanup_buf_ struct buf b = BUF_INIT(64 << 20);
	assert_int_equal(buf_read_file(&b, l.file), 0);
	assert_int_equal(layer_upload_begin(l.digest, l.size, &u, &err), 0);
	size_t half = 1 << 20;
	assert_int_equal(layer_upload_data(u, b.data, half, &err), 0);
	_cleanup_free_ char *first = at(state, "agent/layers/unpacked/%s.partial/tree/first%s",
					l.digest + 7, "");
	struct stat st = { 0 };
	for (int i = 0; i < 5000 && (lstat(first, &st) < 0 || st.st_size != 5); i++)
		usleep(1000);
	assert_int_equal(st.st_size, 5); /* 2 MiB of the layer still to come */
	assert_int_equal(layer_upload_data(u, b.data + half, b.len - half, &err), 0);
	if (layer_upload_end(u, &err) < 0)
		fail_msg("upload failed: %s", errbuf_msg(&err));
	assert_true(present(state, "agent/layers/unpacked/%s/tree/big%s", l.digest + 7, ""));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, store_setup, tmpdir_teardown)
	const struct CMUnitTest tests[] = {
		T(test_one_pass_store),	      T(test_assembly_hard_links),
		T(test_tampered_entry),	      T(test_half_written),
		T(test_corrupt_bytes_refused), T(test_hostile_refused),
		T(test_old_cache_migrated),    T(test_rewrites_never_reach_the_store),
		T(test_disk_full),	       T(test_files_stream_before_the_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
