#include "layer-view.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "layer.h"
#include "log.h"
#include "macro.h"
#include "strset.h"

#define COPY_CHUNK (256 << 10)
#define RECORD_MAX 256
#define ZSTD_LEVEL "3" /* what installer/layer-writer.c writes with */

bool layer_view_drops(const struct layer_view_filter *f, const char *path)
{
	while (path[0] == '/' || (path[0] == '.' && path[1] == '/'))
		path += path[0] == '/' ? 1 : 2;
	size_t len = strcspn(path, "/");
	/* a top-level OCI whiteout deletes the name after its prefix */
	if (path[len] == '\0' && strncmp(path, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0) {
		path += strlen(LAYER_WH_PREFIX);
		len -= strlen(LAYER_WH_PREFIX);
	}
	for (size_t i = 0; i < f->ntops; i++)
		if (strlen(f->tops[i]) == len && strncmp(path, f->tops[i], len) == 0)
			return true;
	return false;
}

static bool filter_name_valid(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

char *layer_view_blob_path(const char *home, const char *digest)
{
	return xasprintf("%s/views/blobs/sha256/%s", home, digest + strlen("sha256:"));
}

/* ---- the cache's record: "same", "empty DROPPED" or "filtered DIGEST SIZE DROPPED
 * [INO MTIME-NS]" ---- */

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void seal(struct layer_view *v, const struct stat *st)
{
	v->sealed = true;
	v->seal_ino = (uint64_t)st->st_ino;
	v->seal_mtime_ns = mtime_ns(st);
}

static int record_read(int dfd, const char *path, struct layer_view *v)
{
	char buf[RECORD_MAX + 1], kind[16], digest[LAYER_VIEW_DIGEST_SIZE + 1];
	/* O_NONBLOCK and the type check: a FIFO put in the cache must not hang the run */
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EBADMSG;
	n = read(fd, buf, RECORD_MAX);
	if (n <= 0 || n == RECORD_MAX)
		return -EBADMSG;
	buf[n] = '\0';
	if (sscanf(buf, "%15s", kind) != 1)
		return -EBADMSG;
	if (strcmp(buf, "same\n") == 0) {
		v->kind = LAYER_VIEW_SAME;
		return 0;
	}
	if (strcmp(kind, "empty") == 0 && sscanf(buf, "empty %" SCNu64 "\n", &v->dropped) == 1) {
		v->kind = LAYER_VIEW_EMPTY;
		return 0;
	}
	int fields = strcmp(kind, "filtered") == 0
		? sscanf(buf, "filtered %71s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 "\n", digest,
			 &v->size, &v->dropped, &v->seal_ino, &v->seal_mtime_ns) : 0;
	if ((fields == 3 || fields == 5) && digest_ref_valid(digest)) {
		v->kind = LAYER_VIEW_FILTERED;
		memcpy(v->digest, digest, sizeof(v->digest));
		v->sealed = fields == 5;
		return 0;
	}
	return -EBADMSG;
}

static int record_write(const char *path, const struct layer_view *v)
{
	char buf[RECORD_MAX];
	int n;

	if (v->kind == LAYER_VIEW_SAME)
		n = snprintf(buf, sizeof(buf), "same\n");
	else if (v->kind == LAYER_VIEW_EMPTY)
		n = snprintf(buf, sizeof(buf), "empty %" PRIu64 "\n", v->dropped);
	else if (v->sealed)
		n = snprintf(buf, sizeof(buf), "filtered %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64
			     "\n", v->digest, v->size, v->dropped, v->seal_ino, v->seal_mtime_ns);
	else
		n = snprintf(buf, sizeof(buf), "filtered %s %" PRIu64 " %" PRIu64 "\n", v->digest,
			     v->size, v->dropped);
	return write_file_atomic(path, buf, (size_t)n, 0644);
}

/* A cached view blob is whole when it hashes to its name with the recorded size; one that
 * kept the inode, size and mtime it had when last found whole is taken as it is. 1: it was
 * hashed (and v sealed anew: its record is worth rewriting). */
static int check_blob(const char *home, struct layer_view *v, char *why, size_t why_len)
{
	_cleanup_free_ char *path = layer_view_blob_path(home, v->digest);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	char hex[SHA256_HEX_SIZE];
	struct stat st;
	uint64_t size;

	if (fd < 0) {
		snprintf(why, why_len, "its blob %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_len, "its blob %s is not a regular file", path);
		return -EBADMSG;
	}
	if (v->sealed && (uint64_t)st.st_ino == v->seal_ino && mtime_ns(&st) == v->seal_mtime_ns &&
	    (uint64_t)st.st_size == v->size)
		return 0;
	int rc = sha256_fd(fd, hex, &size);
	if (rc < 0) {
		snprintf(why, why_len, "reading its blob %s: %s", path, strerror(-rc));
		return rc;
	}
	if (size != v->size || strcmp(hex, v->digest + strlen("sha256:")) != 0) {
		snprintf(why, why_len, "its blob %s does not match its digest or size", path);
		return -EBADMSG;
	}
	seal(v, &st);
	return 1;
}

bool layer_view_blob_damaged(const char *home, const char *digest)
{
	struct layer_view v = { .kind = LAYER_VIEW_FILTERED };
	char why[256];
	struct stat st;

	if (!digest_ref_valid(digest))
		return false;
	_cleanup_free_ char *path = layer_view_blob_path(home, digest);
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	memcpy(v.digest, digest, sizeof(v.digest));
	v.size = (uint64_t)st.st_size;
	if (check_blob(home, &v, why, sizeof(why)) != -EBADMSG)
		return false;
	unlink(path);
	return true;
}

/* ---- making a view ---- */

struct out {
	int fd;
	struct sha256 *hash;
	uint64_t size;
};

static la_ssize_t out_write(struct archive *a, void *data, const void *buf, size_t n)
{
	struct out *o = data;
	const char *p = buf;

	for (size_t done = 0; done < n;) {
		ssize_t k = write(o->fd, p + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			archive_set_error(a, errno, "writing the view: %s", strerror(errno));
			return -1;
		}
		done += (size_t)k;
	}
	sha256_update(o->hash, buf, n);
	o->size += n;
	return (la_ssize_t)n;
}

/* The writer compresses as the original is; options that would put the time or anything
 * but the content into the bytes are turned off. */
static struct archive *view_writer(int filter, struct out *o)
{
	struct archive *w = archive_write_new();

	archive_write_set_format_pax_restricted(w);
	archive_write_set_bytes_per_block(w, 64 * 1024);
	archive_write_set_bytes_in_last_block(w, 1);
	if (archive_write_add_filter(w, filter) != ARCHIVE_OK)
		goto fail;
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_write_set_filter_option(w, "gzip", "timestamp", NULL);
	if (filter == ARCHIVE_FILTER_ZSTD)
		archive_write_set_filter_option(w, "zstd", "compression-level", ZSTD_LEVEL);
	if (archive_write_open2(w, o, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
		goto fail;
	return w;
fail:
	archive_write_free(w);
	return NULL;
}

static int copy_data(struct archive *in, struct archive *w, char *chunk)
{
	for (;;) {
		la_ssize_t n = archive_read_data(in, chunk, COPY_CHUNK);
		if (n == 0)
			return 0;
		if (n < 0 || archive_write_data(w, chunk, (size_t)n) != n)
			return -1;
	}
}

struct build {
	struct archive *in, *w;
	int filter;
	bool split_link; /* a kept hard link to a dropped entry */
	uint64_t kept;
	char *chunk;
};

/* One pass over the original: kept entries are written as they are read. */
static int build_pass(struct build *b, const struct layer_view_filter *f, struct out *o,
		      struct layer_view *v, struct errbuf *err)
{
	struct archive_entry *e;
	int ar;

	while ((ar = archive_read_next_header(b->in, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
		if (!path)
			return errbuf_set(err, -EBADMSG, "an entry has no name");
		if (layer_view_drops(f, path)) {
			v->dropped++;
			continue;
		}
		if (link && layer_view_drops(f, link)) {
			b->split_link = true;
			return 0;
		}
		if (!b->w) {
			b->filter = archive_filter_code(b->in, 0);
			b->w = view_writer(b->filter, o);
			if (!b->w)
				return errbuf_set(err, -EIO, "cannot write a view compressed with %s",
						  archive_filter_name(b->in, 0));
		}
		/* holes are written out: a view's entries need no sparse map */
		archive_entry_sparse_clear(e);
		if (archive_write_header(b->w, e) != ARCHIVE_OK || copy_data(b->in, b->w, b->chunk) < 0)
			return errbuf_set(err, -EIO, "copying %s: %s", path,
					  archive_error_string(b->in) ? archive_error_string(b->in)
								      : archive_error_string(b->w));
		b->kept++;
	}
	if (ar != ARCHIVE_EOF)
		return errbuf_set(err, -EBADMSG, "%s", archive_error_string(b->in));
	if (b->w && archive_write_close(b->w) != ARCHIVE_OK)
		return errbuf_set(err, -EIO, "%s", archive_error_string(b->w));
	return 0;
}

static int publish(const char *home, int tmpdir, const char *tmpname, struct out *o,
		   struct layer_view *v, struct errbuf *err)
{
	char hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *dir = xasprintf("%s/views/blobs/sha256", home);
	_cleanup_close_ int dfd = -1;
	int rc;

	rc = sha256_final(o->hash, hex);
	if (rc >= 0 && fsync(o->fd) < 0)
		rc = negative_errno();
	if (rc >= 0)
		rc = mkdir_p(dir, 0755);
	if (rc >= 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		rc = negative_errno();
	if (rc >= 0 && renameat(tmpdir, tmpname, dfd, hex) < 0)
		rc = negative_errno();
	struct stat st;
	if (rc >= 0 && fstat(o->fd, &st) == 0)
		seal(v, &st); /* hashed as it was written */
	if (rc < 0)
		return errbuf_set(err, rc, "cannot keep the view in %s: %s", dir, strerror(-rc));
	v->kind = LAYER_VIEW_FILTERED;
	snprintf(v->digest, sizeof(v->digest), "sha256:%s", hex);
	v->size = o->size;
	return 0;
}

static int build_view(const char *home, const struct layer_view_filter *f, const char *blob_path,
		      struct layer_view *v, struct errbuf *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s/views/tmp", home);
	_cleanup_free_ char *chunk = xmalloc(COPY_CHUNK);
	_cleanup_close_ int tmpdir = -1;
	char tmpname[TMPNAME_SIZE];
	struct out o = { .fd = -1 };
	struct build b = { .chunk = chunk };
	int rc;

	v->dropped = 0;
	rc = mkdir_p(tmp, 0755);
	if (rc >= 0 && (tmpdir = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		rc = negative_errno();
	if (rc >= 0)
		rc = o.fd = tmpfile_at(tmpdir, tmpname);
	if (rc < 0)
		return errbuf_set(err, rc, "cannot write into %s: %s", tmp, strerror(-rc));
	rc = sha256_new(&o.hash);
	b.in = tar_reader_new();
	if (rc >= 0 && archive_read_open_filename(b.in, blob_path, 1 << 16) != ARCHIVE_OK)
		rc = errbuf_set(err, -EIO, "%s", archive_error_string(b.in));
	if (rc >= 0)
		rc = build_pass(&b, f, &o, v, err);
	if (rc >= 0 && b.split_link) {
		v->dropped = 0;
		snprintf(v->note, sizeof(v->note), "an entry outside %s is a hard link into it: "
			 "the layer is sent whole", f->tops[0]);
	}
	if (rc >= 0 && !b.split_link && v->dropped && b.kept)
		rc = publish(home, tmpdir, tmpname, &o, v, err);
	else if (rc >= 0)
		v->kind = v->dropped ? LAYER_VIEW_EMPTY : LAYER_VIEW_SAME;
	if (b.w)
		archive_write_free(b.w);
	archive_read_free(b.in);
	sha256_free(o.hash);
	close(o.fd);
	if (rc < 0 || v->kind != LAYER_VIEW_FILTERED)
		unlinkat(tmpdir, tmpname, 0);
	return rc;
}

int layer_view_get(const char *home, const struct layer_view_filter *f, const char *blob_path,
		   const char *digest, struct layer_view *ret, struct errbuf *err)
{
	_cleanup_free_ char *dir = NULL, *record = NULL;
	struct layer_view v = { 0 };
	int rc;

	if (!filter_name_valid(f->name) || f->ntops == 0 || !digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "invalid layer view request (%s, %s)", f->name, digest);
	dir = xasprintf("%s/views/%s", home, f->name);
	record = xasprintf("%s/%s", dir, digest + strlen("sha256:"));
	rc = record_read(AT_FDCWD, record, &v);
	if (rc >= 0 && v.kind != LAYER_VIEW_FILTERED) {
		*ret = v;
		return 0;
	}
	int checked = rc >= 0 ? check_blob(home, &v, v.note, sizeof(v.note)) : rc;
	if (checked >= 0) {
		if (checked == 1)
			(void)record_write(record, &v); /* best effort: else hashed again next run */
		*ret = v;
		return 0;
	}
	if (rc == -EBADMSG)
		snprintf(v.note, sizeof(v.note), "its record %s cannot be read", record);
	v.repaired = rc != -ENOENT;
	v.built = true;
	rc = build_view(home, f, blob_path, &v, err);
	if (rc < 0)
		return errbuf_prefix(err, "making the view without %s of layer %s", f->tops[0], digest);
	rc = mkdir_p(dir, 0755);
	if (rc >= 0)
		rc = record_write(record, &v);
	if (rc < 0)
		return errbuf_set(err, rc, "cannot write %s: %s", record, strerror(-rc));
	*ret = v;
	return 0;
}

/* ---- garbage collection ---- */

static void remove_at(int dfd, const char *name, uint64_t *bytes)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    unlinkat(dfd, name, 0) == 0)
		*bytes += (uint64_t)st.st_size;
}

/* One filter's records: those of layers gone removed, the views of the others noted. */
static void gc_records(int dfd, const struct strset *keep, struct strset *used, uint64_t *bytes)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct layer_view v = { 0 };
		if (!sha256_hex_valid(de->d_name))
			continue;
		if (!strset_contains(keep, de->d_name))
			remove_at(dirfd(d), de->d_name, bytes);
		else if (record_read(dirfd(d), de->d_name, &v) >= 0 && v.kind == LAYER_VIEW_FILTERED)
			strset_add(used, v.digest + strlen("sha256:"));
	}
	closedir(d);
}

static void gc_dir(const char *dir, const struct strset *used, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (!used || !strset_contains(used, de->d_name)))
			remove_at(dirfd(d), de->d_name, bytes);
	closedir(d);
}

void layer_view_gc(const char *home, const struct strset *keep, bool everything,
		   uint64_t *bytes)
{
	_cleanup_free_ char *views = xasprintf("%s/views", home);
	_cleanup_(strset_freep) struct strset *used = strset_new();
	DIR *d = opendir(views);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!filter_name_valid(de->d_name) || strcmp(de->d_name, "blobs") == 0 ||
		    strcmp(de->d_name, "tmp") == 0)
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			gc_records(fd, keep, used, bytes);
	}
	closedir(d);
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", views);
	gc_dir(blobs, used, bytes);
	if (everything) {
		_cleanup_free_ char *tmp = xasprintf("%s/tmp", views);
		gc_dir(tmp, NULL, bytes);
	}
}
