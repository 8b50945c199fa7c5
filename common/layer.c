#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "log.h"
#include "macro.h"
#include "strset.h"

#define READ_CHUNK (1 << 20)
#define MAX_PATH_LEN 4096

struct reader {
	int fd;
	struct sha256 *hash;
	char *chunk;
	uint64_t total;
	int error;
};

static ssize_t reader_read(struct archive *a, void *data, const void **ret)
{
	struct reader *rd = data;

	(void)a;
	for (;;) {
		ssize_t n = read(rd->fd, rd->chunk, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rd->error = negative_errno();
			if (a)
				archive_set_error(a, errno, "reading the layer stream failed");
			return -1;
		}
		if (n > 0 && rd->hash)
			sha256_update(rd->hash, rd->chunk, (size_t)n);
		rd->total += (uint64_t)n;
		*ret = rd->chunk;
		return n;
	}
}

/* The tar end marker can be followed by padding that libarchive never reads; a digest
 * covers the whole stream, so read it out. */
static int reader_drain(struct reader *rd)
{
	const void *unused;
	ssize_t n;

	while ((n = reader_read(NULL, rd, &unused)) > 0)
		;
	return n < 0 ? rd->error : 0;
}

struct apply {
	layer_filter_fn want;	/* optional: entries it rejects are skipped */
	void *want_data;
	bool overlay_dir;	/* keep whiteouts as overlay lower-dir entries instead of applying */
	bool store_form;	/* keep whiteouts as OCI marker files instead of applying */
	const char *root;	/* as given */
	char *real_root;	/* resolved, so libarchive's symlink checks see no symlink in it */
	int rootfd;
	struct strset *touched;	/* paths this layer wrote, and their parents */
	struct reader *rd;
	struct errbuf *err;
	struct layer_stats st;
	unsigned root_xattrs_dropped; /* not root: file capabilities etc. that were not set */
};

/* Normalises a tar path to "a/b/c": no leading "./" or "/", no "." components. Refuses
 * "..", which would leave the root. Returns 0 and an empty string for the root itself. */
static int clean_path(const char *in, struct buf *out)
{
	_cleanup_free_ char *work = xstrdup(in);
	char *save = NULL, *tok;

	buf_reset(out);
	if (in[0] == '/')
		return -EPERM;
	for (tok = strtok_r(work, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0)
			return -EPERM;
		if (out->len && buf_putc(out, '/') < 0)
			return -ENAMETOOLONG;
		if (buf_puts(out, tok) < 0)
			return -ENAMETOOLONG;
	}
	return 0;
}

static void touch_with_parents(struct strset *set, const char *path)
{
	size_t n = strlen(path);

	strset_add(set, path);
	for (size_t i = n; i > 0; i--)
		if (path[i - 1] == '/')
			strset_addn(set, path, i - 1);
}

/* -EBADMSG means "the layer's content is not acceptable" and nothing else does: the agent
 * tells a layer it must reject from the host's own trouble by that code alone, so an OS
 * error never carries it (filesystems report a bad checksum as EBADMSG). */
static int host_code(int code)
{
	return code >= 0 || code == -EBADMSG ? -EIO : code;
}

/* The layer's content is refused; the reason names the entry by its path in the layer. */
_printf_(3, 4) static int refuse(struct apply *ap, const char *path, const char *fmt, ...)
{
	char why[512];
	va_list va;

	va_start(va, fmt);
	vsnprintf(why, sizeof(why), fmt, va);
	va_end(va);
	return errbuf_set(ap->err, -EBADMSG, "layer entry '%s': %s", path, why);
}

/* The host failed at what for path: its errno and reason, never classified as content. */
static int fail_host(struct apply *ap, int code, const char *path, const char *what)
{
	code = host_code(code);
	return errbuf_set(ap->err, code, "layer entry '%s': %s: %s", path, what, strerror(-code));
}

/* Opens the directory dir ("a/b") beneath the root one component at a time, creating
 * missing ones when create. The tree holds only what layers put there, so a component
 * that is a symlink or not a directory is the layers' doing: refused as content, naming
 * it; the kernel's ELOOP/ENOTDIR would not tell the two apart. Without create a missing
 * component is -ENOENT with nothing recorded in err. */
static int open_checked(struct apply *ap, const char *entry, const char *dir, bool create,
			int *ret_fd)
{
	_cleanup_free_ char *work = xstrdup(dir);
	_cleanup_close_ int fd = fcntl(ap->rootfd, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;
	struct stat st;

	if (fd < 0)
		return fail_host(ap, negative_errno(), entry, "cannot open the root");
	for (char *tok = strtok_r(work, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		int upto = (int)(tok - work + (ptrdiff_t)strlen(tok)), next;

		if (fstatat(fd, tok, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return fail_host(ap, negative_errno(), entry, "cannot look up its directory");
			if (!create)
				return -ENOENT;
			if (mkdirat(fd, tok, 0755) < 0 && errno != EEXIST)
				return fail_host(ap, negative_errno(), entry, "cannot create its directory");
		} else if (S_ISLNK(st.st_mode)) {
			return refuse(ap, entry, "its path goes through '%.*s', a symlink", upto, dir);
		} else if (!S_ISDIR(st.st_mode)) {
			return refuse(ap, entry, "its path goes through '%.*s', which is not a directory",
				      upto, dir);
		}
		next = openat(fd, tok, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return fail_host(ap, negative_errno(), entry, "cannot open its directory");
		close(fd);
		fd = next;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Splits "a/b/c" into the directory fd for "a/b" (checked as open_checked does) and the
 * name "c". */
static int open_parent(struct apply *ap, const char *path, int *ret_fd, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");

	*ret_name = slash ? slash + 1 : path;
	return open_checked(ap, path, dir, false, ret_fd);
}

/* Removes path as lower layers left it; -ENOENT on the way is fine (nothing to hide). */
static int remove_lower(struct apply *ap, const char *path)
{
	const char *name;
	int dfd, r;

	if (strset_contains(ap->touched, path))
		return 0;
	r = open_parent(ap, path, &dfd, &name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = rm_rf_at(dfd, name);
	close(dfd);
	if (r < 0)
		return fail_host(ap, r, path, "removing what lower layers had failed");
	return 0;
}

/* Empties directory path of everything lower layers put there, keeping this layer's
 * entries (and recursing into this layer's directories). */
static int clear_lower_children(struct apply *ap, const char *path)
{
	_cleanup_buf_ struct buf child = BUF_INIT(MAX_PATH_LEN);
	int dfd, r = 0;
	DIR *d;
	struct dirent *de;

	/* a symlink or file anywhere on the way: no lower directory there to clear */
	r = dir_open_beneath(ap->rootfd, path, false, &dfd);
	if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
		return 0;
	if (r < 0)
		return fail_host(ap, r, path, "cannot open it to make it opaque");
	d = fdopendir(dfd);
	if (!d) {
		r = negative_errno();
		close(dfd);
		return fail_host(ap, r, path, "cannot list it");
	}
	while (r >= 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		buf_reset(&child);
		if (*path)
			buf_printf(&child, "%s/", path);
		if (buf_puts(&child, de->d_name) < 0)
			r = refuse(ap, path, "a path below it is longer than %d bytes", MAX_PATH_LEN);
		else if (!strset_contains(ap->touched, child.data))
			r = rm_rf_at(dirfd(d), de->d_name);
		else if (de->d_type == DT_DIR)
			r = clear_lower_children(ap, child.data);
	}
	closedir(d);
	if (r < 0 && ap->err && !ap->err->code)
		return fail_host(ap, r, path, "clearing it failed");
	return r;
}

static bool is_overlay_whiteout(struct archive_entry *e)
{
	return archive_entry_filetype(e) == AE_IFCHR && archive_entry_rdevmajor(e) == 0 &&
	       archive_entry_rdevminor(e) == 0;
}

bool layer_entry_strip_overlay_xattrs(struct archive_entry *e, bool keep_opaque)
{
	struct keep {
		char *name;
		void *value;
		size_t size;
	} *keep = NULL;
	size_t nkeep = 0;
	bool opaque = false, dropped = false;
	const char *name;
	const void *value;
	size_t size;

	if (archive_entry_xattr_reset(e) == 0)
		return false;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		bool is_opaque = strcmp(name, LAYER_OVERLAY_OPAQUE_XATTR) == 0;
		if (is_opaque && size >= 1 && ((const char *)value)[0] == 'y')
			opaque = true;
		if (strncmp(name, "trusted.overlay.", 16) == 0 && !(keep_opaque && is_opaque)) {
			dropped = true;
			continue;
		}
		keep = xreallocarray(keep, nkeep + 1, sizeof(*keep));
		keep[nkeep].name = xstrdup(name);
		keep[nkeep].value = xmalloc(size ? size : 1);
		memcpy(keep[nkeep].value, value, size);
		keep[nkeep].size = size;
		nkeep++;
	}
	if (dropped) {
		archive_entry_xattr_clear(e);
		for (size_t i = 0; i < nkeep; i++)
			archive_entry_xattr_add_entry(e, keep[i].name, keep[i].value, keep[i].size);
	}
	for (size_t i = 0; i < nkeep; i++) {
		free(keep[i].name);
		free(keep[i].value);
	}
	free(keep);
	return opaque;
}

/* Makes room for the entry: whatever lower layers have at path goes, unless both are
 * directories (then they merge). */
static int prepare_target(struct apply *ap, const char *path, struct archive_entry *e)
{
	const char *name;
	struct stat st;
	int dfd, r;

	r = open_parent(ap, path, &dfd, &name);
	if (r == -ENOENT)
		return 0; /* parents get created by the extraction */
	if (r < 0)
		return r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(S_ISDIR(st.st_mode) && archive_entry_filetype(e) == AE_IFDIR))
		r = rm_rf_at(dfd, name);
	close(dfd);
	if (r < 0)
		return fail_host(ap, r, path, "replacing what lower layers had failed");
	return 0;
}

/* Overlay lower-dir form of an OCI whiteout: a 0/0 character device of the same name. */
static int make_overlay_whiteout(struct apply *ap, const char *dir, const char *name,
				 const char *path)
{
	int dfd, r = open_checked(ap, path, dir, true, &dfd);

	if (r < 0)
		return r;
	if (mknodat(dfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0 && errno != EEXIST)
		r = fail_host(ap, negative_errno(), path, "cannot create an overlay whiteout "
			      "(needs CAP_MKNOD)");
	close(dfd);
	return r;
}

static int mark_opaque(struct apply *ap, const char *dir)
{
	int dfd, r = open_checked(ap, dir, dir, true, &dfd);

	if (r < 0)
		return r;
	if (fsetxattr(dfd, LAYER_OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
		r = fail_host(ap, negative_errno(), dir, "cannot mark it opaque (needs "
			      "CAP_SYS_ADMIN for trusted.* xattrs)");
	close(dfd);
	return r;
}

/* Store form of a deletion or opaque marker: an empty file NAME (".wh.X", ".wh..wh..opq")
 * in dir, which assembly reads and applies to the layers below. */
static int make_store_marker(struct apply *ap, const char *dir, const char *name,
			     const char *path)
{
	int dfd, fd, r = open_checked(ap, path, dir, true, &dfd);

	if (r < 0)
		return r;
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		r = fail_host(ap, negative_errno(), path, "cannot record the whiteout");
	else
		close(fd);
	close(dfd);
	return r;
}

/* In store form a ".wh." name is a marker, so none may name a directory on the way. */
static int check_store_dirs(struct apply *ap, const char *path)
{
	const char *p = path, *slash;

	while ((slash = strchr(p, '/'))) {
		if (strncmp(p, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0)
			return refuse(ap, path, "a whiteout name ('%.*s') used as a directory",
				      (int)(slash - p), p);
		p = slash + 1;
	}
	return 0;
}

static int apply_oci_whiteout(struct apply *ap, const char *path, struct archive_entry *e)
{
	const char *base = strrchr(path, '/');
	size_t dirlen = base ? (size_t)(base - path) : 0;
	const char *name = base ? base + 1 : path;
	_cleanup_free_ char *dir = xstrndup(path, dirlen);

	if (archive_entry_filetype(e) != AE_IFREG)
		return refuse(ap, path, "a whiteout must be an empty regular file");
	ap->st.whiteouts++;
	if (strcmp(name, LAYER_WH_OPAQUE) == 0 && ap->store_form)
		return make_store_marker(ap, dir, name, path);
	if (strcmp(name, LAYER_WH_OPAQUE) == 0)
		return ap->overlay_dir ? mark_opaque(ap, dir) : clear_lower_children(ap, dir);
	const char *target = name + strlen(LAYER_WH_PREFIX);
	if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0 ||
	    strncmp(target, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0)
		return refuse(ap, path, "not a valid whiteout name");
	_cleanup_free_ char *victim = NULL;
	victim = xasprintf("%s%s%s", dir, dirlen ? "/" : "", target);
	if (ap->store_form)
		return make_store_marker(ap, dir, name, path);
	return ap->overlay_dir ? make_overlay_whiteout(ap, dir, target, victim)
			       : remove_lower(ap, victim);
}

/* libarchive's own messages name the file by its full path under the (staging) root:
 * shown with that prefix cut, so an entry is named by its path in the layer. */
static void without_root(struct apply *ap, const char *msg, struct buf *out)
{
	_cleanup_free_ char *prefix = xasprintf("%s/", ap->real_root);
	const char *hit;

	buf_reset(out);
	while (msg && (hit = strstr(msg, prefix))) {
		buf_append(out, msg, (size_t)(hit - msg));
		msg = hit + strlen(prefix);
	}
	buf_puts(out, msg ? msg : "unknown error");
}

/* The disk writer failed for the entry path while doing what. libarchive reports a
 * failed write(), chmod(), setxattr()… as a mere ARCHIVE_WARN (a full disk among them), so
 * anything below ARCHIVE_OK lands here; its errno says what the OS refused. */
static int fail_writer(struct apply *ap, struct archive *out, const char *path, const char *what)
{
	_cleanup_buf_ struct buf why = BUF_INIT(ERRBUF_MSG_MAX);
	int e = archive_errno(out);

	if (e == EPERM && geteuid() != 0)
		return errbuf_set(ap->err, host_code(-e), "%s '%s': %s (its owner, mode or file "
				  "capabilities can be kept only as root: run as root)", what, path,
				  strerror(e));
	if (e > 0)
		return errbuf_set(ap->err, host_code(-e), "%s '%s': %s", what, path, strerror(e));
	without_root(ap, archive_error_string(out), &why);
	return errbuf_set(ap->err, -EIO, "%s '%s': %s", what, path, why.data);
}

static int copy_data(struct apply *ap, struct archive *in, struct archive *out, const char *path)
{
	const void *block;
	size_t size;
	la_int64_t offset;

	for (;;) {
		int r = archive_read_data_block(in, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN && ap->rd->error)
			return fail_host(ap, ap->rd->error, path, "reading the layer stream failed");
		if (r < ARCHIVE_WARN)
			return refuse(ap, path, "%s", archive_error_string(in));
		if (archive_write_data_block(out, block, size, offset) != ARCHIVE_OK)
			return fail_writer(ap, out, path, "writing");
		ap->st.bytes_out += size;
	}
}

/* A hard link names a file the layers already put there, reached without a symlink:
 * libarchive's own check would fail with a bare errno that names the staging dir. */
static int check_link_target(struct apply *ap, const char *path, const char *target)
{
	const char *slash = strrchr(target, '/'), *name = slash ? slash + 1 : target;
	_cleanup_free_ char *dir = slash ? xstrndup(target, (size_t)(slash - target)) : xstrdup("");
	_cleanup_close_ int dfd = -1;
	struct stat st;
	int r = open_checked(ap, path, dir, false, &dfd);

	if (r == -ENOENT)
		return refuse(ap, path, "a hard link to '%s', which no layer holds before it", target);
	if (r < 0)
		return r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return fail_host(ap, negative_errno(), path, "cannot look up its hard link target");
		return refuse(ap, path, "a hard link to '%s', which no layer holds before it", target);
	}
	if (S_ISDIR(st.st_mode))
		return refuse(ap, path, "a hard link to '%s', a directory", target);
	return 0;
}

static int rebase(struct apply *ap, struct buf *full, const char *rel)
{
	buf_reset(full);
	return buf_printf(full, "%s/%s", ap->real_root, rel) < 0 ? -ENAMETOOLONG : 0;
}

/* Without root, security.* and trusted.* attributes (file capabilities among them) cannot
 * be set, just as the owner cannot: an export by a normal user keeps the rest and says
 * what it left out, rather than failing. As root (the agent) every one of them is set or
 * the apply fails. Returns whether any was dropped. */
static bool drop_root_only_xattrs(struct archive_entry *e)
{
	struct kept {
		char *name;
		void *value;
		size_t size;
	} *kept = NULL;
	size_t nkept = 0;
	bool dropped = false;
	const char *name;
	const void *value;
	size_t size;

	if (geteuid() == 0 || archive_entry_xattr_reset(e) == 0)
		return false;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (strncmp(name, "security.", 9) == 0 || strncmp(name, "trusted.", 8) == 0) {
			dropped = true;
			continue;
		}
		kept = xreallocarray(kept, nkept + 1, sizeof(*kept));
		kept[nkept].name = xstrdup(name);
		kept[nkept].value = xmalloc(size ? size : 1);
		memcpy(kept[nkept].value, value, size);
		kept[nkept++].size = size;
	}
	if (dropped) {
		archive_entry_xattr_clear(e);
		for (size_t i = 0; i < nkept; i++)
			archive_entry_xattr_add_entry(e, kept[i].name, kept[i].value, kept[i].size);
	}
	for (size_t i = 0; i < nkept; i++) {
		free(kept[i].name);
		free(kept[i].value);
	}
	free(kept);
	return dropped;
}

static int apply_entry(struct apply *ap, struct archive *in, struct archive *out,
		       struct archive_entry *e, struct buf *path, struct buf *full)
{
	const char *raw = archive_entry_pathname(e);
	const char *base;
	bool opaque = false;
	int r;

	if (!raw)
		return errbuf_set(ap->err, -EBADMSG, "layer entry without a name");
	r = clean_path(raw, path);
	if (r == -ENAMETOOLONG)
		return refuse(ap, raw, "longer than %d bytes", MAX_PATH_LEN);
	if (r < 0)
		return refuse(ap, raw, "leaves the root ('..' or an absolute path)");
	if (path->len == 0)
		return 0; /* the root directory itself: its owner and mode are the host's */
	base = strrchr(path->data, '/');
	base = base ? base + 1 : path->data;

	if (ap->want && !ap->want(path->data, ap->want_data))
		return 0;
	if (ap->store_form && (r = check_store_dirs(ap, path->data)) < 0)
		return r;
	if (strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0)
		return apply_oci_whiteout(ap, path->data, e);
	if (is_overlay_whiteout(e)) {
		ap->st.whiteouts++;
		if (ap->store_form) {
			_cleanup_free_ char *dir = base > path->data ?
				xstrndup(path->data, (size_t)(base - path->data - 1)) : xstrdup("");
			_cleanup_free_ char *marker = xasprintf(LAYER_WH_PREFIX "%s", base);
			return make_store_marker(ap, dir, marker, path->data);
		}
		if (!ap->overlay_dir)
			return remove_lower(ap, path->data);
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFCHR:
		case AE_IFBLK:
			return refuse(ap, path->data,
				      "device nodes are not allowed in a cluster image layer");
		default:
			break;
		}
	}
	/* In overlay-dir form the opaque marker stays on the directory for overlayfs. */
	if (!ap->overlay_dir && layer_entry_strip_overlay_xattrs(e, false) &&
	    archive_entry_filetype(e) == AE_IFDIR) {
		ap->st.whiteouts++;
		opaque = ap->store_form;
		r = ap->store_form ? 0 : clear_lower_children(ap, path->data);
		if (r < 0)
			return r;
	}
	r = prepare_target(ap, path->data, e);
	if (r < 0)
		return r;

	const char *link = archive_entry_hardlink(e);
	if (link) {
		_cleanup_buf_ struct buf target = BUF_INIT(MAX_PATH_LEN);
		if (clean_path(link, &target) < 0 || target.len == 0)
			return refuse(ap, path->data, "hard link target leaves the root");
		r = check_link_target(ap, path->data, target.data);
		if (r < 0)
			return r;
		if (rebase(ap, full, target.data) < 0)
			return refuse(ap, path->data, "path too long");
		archive_entry_set_hardlink(e, full->data);
	}
	if (rebase(ap, full, path->data) < 0)
		return refuse(ap, path->data, "path too long");
	archive_entry_set_pathname(e, full->data);
	if (drop_root_only_xattrs(e))
		ap->root_xattrs_dropped++;
	if (archive_write_header(out, e) != ARCHIVE_OK)
		return fail_writer(ap, out, path->data, "creating");
	if (archive_entry_size(e) > 0 && !link) {
		r = copy_data(ap, in, out, path->data);
		if (r < 0)
			return r;
	}
	/* owner, mode, times, xattrs (file capabilities) and ACLs: a file that lost any of
	 * them is not what the layer holds */
	if (archive_write_finish_entry(out) != ARCHIVE_OK)
		return fail_writer(ap, out, path->data, "finishing (metadata of)");
	if (opaque) {
		r = make_store_marker(ap, path->data, LAYER_WH_OPAQUE, path->data);
		if (r < 0)
			return r;
	}
	touch_with_parents(ap->touched, path->data);
	ap->st.entries++;
	return 0;
}

struct archive *tar_reader_new(void)
{
	struct archive *a = archive_read_new();

	/* Only the formats and filters layers use; nothing that runs external programs, and
	 * no format (xar) that would pull libxml2 into the static agent. */
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_lz4(a);
	return a;
}

static struct archive *open_reader(struct reader *rd)
{
	struct archive *a = tar_reader_new();

	if (archive_read_open(a, rd, NULL, reader_read, NULL) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static struct archive *open_writer(void)
{
	struct archive *w = archive_write_disk_new();
	/* Entry paths are checked by clean_path() and then rebased under the resolved root,
	 * so they are absolute on purpose: libarchive's NOABSOLUTEPATHS would refuse them.
	 * Its symlink and ".." checks stay on. */
	int flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		    ARCHIVE_EXTRACT_PERM |
		    ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL;

	if (geteuid() == 0)
		flags |= ARCHIVE_EXTRACT_OWNER;
	/* No user/group name lookup: layers carry numeric ids, and the host's passwd file
	 * must not change what they mean. */
	archive_write_disk_set_options(w, flags);
	return w;
}

enum { FORM_FLAT, FORM_OVERLAY, FORM_STORE };

static int apply_fd(const char *root, int fd, int form, layer_filter_fn want,
		    void *want_data, struct sha256 *hash, struct layer_stats *stats,
		    struct errbuf *err)
{
	struct reader rd = { .fd = fd, .hash = hash };
	struct apply ap = { .want = want, .want_data = want_data,
			    .overlay_dir = form == FORM_OVERLAY, .store_form = form == FORM_STORE,
			    .root = root, .rootfd = -1, .rd = &rd, .err = err };
	_cleanup_buf_ struct buf path = BUF_INIT(MAX_PATH_LEN);
	_cleanup_buf_ struct buf full = BUF_INIT(MAX_PATH_LEN * 2);
	struct archive *in = NULL, *out = NULL;
	struct archive_entry *e;
	int r = 0;

	ap.real_root = realpath(root, NULL);
	if (!ap.real_root)
		return errbuf_set(err, host_code(negative_errno()), "layer target '%s' does not exist: %m",
				  root);
	ap.rootfd = open(ap.real_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ap.rootfd < 0) {
		r = errbuf_set(err, host_code(negative_errno()), "cannot open '%s': %m", root);
		goto out;
	}
	ap.touched = strset_new();
	rd.chunk = xmalloc(READ_CHUNK);
	in = open_reader(&rd);
	if (!in) {
		r = errbuf_set(err, rd.error ? host_code(rd.error) : -EBADMSG, "not a layer (tar) stream");
		goto out;
	}
	out = open_writer();
	for (;;) {
		int h = archive_read_next_header(in, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = errbuf_set(err, rd.error ? host_code(rd.error) : -EBADMSG, "reading the layer: %s",
				       rd.error ? strerror(-rd.error) : archive_error_string(in));
			goto out;
		}
		r = apply_entry(&ap, in, out, e, &path, &full);
		if (r < 0)
			goto out;
	}
	/* Directory modes and times are set last, after their content was written. */
	if (archive_write_close(out) != ARCHIVE_OK) {
		_cleanup_buf_ struct buf why = BUF_INIT(ERRBUF_MSG_MAX);
		int no = archive_errno(out);
		without_root(&ap, no > 0 ? strerror(no) : archive_error_string(out), &why);
		r = errbuf_set(err, no > 0 ? host_code(-no) : -EIO, "finishing the layer (directory "
			       "modes and times): %s", why.data);
		goto out;
	}
	r = reader_drain(&rd);
	if (r < 0)
		errbuf_set(err, host_code(r), "reading the layer stream failed: %s", strerror(-r));
	else if (ap.root_xattrs_dropped)
		log_warning("%u file(s) written without their security.* or trusted.* attributes "
			    "(file capabilities): only root can set them; run as root to keep them",
			    ap.root_xattrs_dropped);
out:
	ap.st.bytes_in = rd.total;
	if (stats)
		*stats = ap.st;
	if (in)
		archive_read_free(in);
	if (out)
		archive_write_free(out);
	strset_free(ap.touched);
	free(rd.chunk);
	if (ap.rootfd >= 0)
		close(ap.rootfd);
	free(ap.real_root);
	return r;
}

int layer_apply_fd(const char *root, int fd, struct sha256 *hash, struct layer_stats *stats,
		   struct errbuf *err)
{
	return apply_fd(root, fd, FORM_FLAT, NULL, NULL, hash, stats, err);
}

int layer_unpack_store_fd(const char *root, int fd, struct sha256 *hash,
			  struct layer_stats *stats, struct errbuf *err)
{
	return apply_fd(root, fd, FORM_STORE, NULL, NULL, hash, stats, err);
}

static int apply_file(const char *root, const char *path, bool overlay_dir,
		      layer_filter_fn want, void *want_data, struct layer_stats *stats,
		      struct errbuf *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open layer '%s'", path);
	r = apply_fd(root, fd, overlay_dir ? FORM_OVERLAY : FORM_FLAT, want, want_data, NULL,
		     stats, err);
	if (r < 0)
		errbuf_prefix(err, "%s", path);
	return r;
}

int layer_apply_file(const char *root, const char *path, struct layer_stats *stats,
		     struct errbuf *err)
{
	return apply_file(root, path, false, NULL, NULL, stats, err);
}

int layer_apply_file_filtered(const char *root, const char *path, layer_filter_fn want,
			      void *want_data, struct errbuf *err)
{
	return apply_file(root, path, false, want, want_data, NULL, err);
}

int layer_unpack_overlay_file(const char *root, const char *path, struct layer_stats *stats,
			      struct errbuf *err)
{
	return apply_file(root, path, true, NULL, NULL, stats, err);
}
