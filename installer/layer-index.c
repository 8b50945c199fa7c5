/* Record format (text header, then length-prefixed bytes, so any path survives):
 *
 *   cirun-layer-index 1 sha256:HEX COUNT\n
 *   COUNT × ( TYPE-OCTAL PATHLEN DATALEN|- \n PATH DATA \n )
 */
#include "layer-index.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "macro.h"
#include "strset.h"

#define INDEX_MAGIC "cirun-layer-index 1 "
#define INDEX_FILE_MAX (16u << 20) /* more than this is not cached: the layer is read again */
#define INDEX_COUNT_MAX (1u << 20)
#define INDEX_PATH_MAX (1u << 16)

struct layer_index {
	struct layer_index_entry *e;
	size_t n;
};

size_t layer_index_count(const struct layer_index *x)
{
	return x->n;
}

const struct layer_index_entry *layer_index_at(const struct layer_index *x, size_t i)
{
	return &x->e[i];
}

void layer_index_free(struct layer_index *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		free(x->e[i].path);
		free(x->e[i].data);
	}
	free(x->e);
	free(x);
}

void layer_index_freep(struct layer_index **x)
{
	layer_index_free(*x);
}

static struct layer_index_entry *add_entry(struct layer_index *x, mode_t type, const char *path,
					   size_t path_len)
{
	struct layer_index_entry *e;

	x->e = xreallocarray(x->e, x->n + 1, sizeof(*x->e));
	e = &x->e[x->n++];
	*e = (struct layer_index_entry){ .type = type, .path = xstrndup(path, path_len) };
	return e;
}

static bool spec_name_valid(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

/* ---- the record ---- */

/* Reads "NUMBER<sep>" at *p (decimal, or octal for the type), advancing past sep. */
static int parse_num(const char **p, const char *end, int base, char sep, uint64_t max,
		     uint64_t *ret)
{
	uint64_t v = 0;
	const char *q = *p;

	if (q >= end || *q < '0' || *q > (base == 8 ? '7' : '9'))
		return -EBADMSG;
	while (q < end && *q >= '0' && *q <= (base == 8 ? '7' : '9')) {
		v = v * (uint64_t)base + (uint64_t)(*q - '0');
		if (v > max)
			return -EBADMSG;
		q++;
	}
	if (q >= end || *q != sep)
		return -EBADMSG;
	*p = q + 1;
	*ret = v;
	return 0;
}

static bool type_valid(uint64_t t)
{
	return t == AE_IFREG || t == AE_IFDIR || t == AE_IFLNK || t == AE_IFCHR ||
	       t == AE_IFBLK || t == AE_IFIFO || t == AE_IFSOCK;
}

static int parse_entry(struct layer_index *x, const char **p, const char *end, size_t data_max)
{
	uint64_t type, path_len, data_len = 0;
	bool has_data = false;

	if (parse_num(p, end, 8, ' ', 0777777, &type) < 0 || !type_valid(type) ||
	    parse_num(p, end, 10, ' ', INDEX_PATH_MAX, &path_len) < 0 || path_len == 0)
		return -EBADMSG;
	if (*p + 2 <= end && (*p)[0] == '-' && (*p)[1] == '\n')
		*p += 2;
	else if (parse_num(p, end, 10, '\n', data_max + 1, &data_len) >= 0)
		has_data = true;
	else
		return -EBADMSG;
	if ((uint64_t)(end - *p) < path_len + data_len + 1 || (*p)[path_len + data_len] != '\n' ||
	    memchr(*p, '\0', path_len))
		return -EBADMSG;
	struct layer_index_entry *e = add_entry(x, (mode_t)type, *p, path_len);
	if (has_data) {
		e->data = xmalloc(data_len + 1);
		memcpy(e->data, *p + path_len, data_len);
		e->data[data_len] = '\0';
		e->len = data_len;
	}
	*p += path_len + data_len + 1;
	return 0;
}

int layer_index_parse(const char *buf, size_t len, const char *digest, size_t data_max,
		      struct layer_index **ret)
{
	_cleanup_(layer_index_freep) struct layer_index *x = xcalloc(1, sizeof(*x));
	const char *p = buf, *end = buf + len;
	size_t dlen = strlen(digest);
	uint64_t count;

	if (len < strlen(INDEX_MAGIC) || memcmp(p, INDEX_MAGIC, strlen(INDEX_MAGIC)) != 0)
		return -EBADMSG;
	p += strlen(INDEX_MAGIC);
	if ((size_t)(end - p) <= dlen || memcmp(p, digest, dlen) != 0 || p[dlen] != ' ')
		return -EBADMSG;
	p += dlen + 1;
	if (parse_num(&p, end, 10, '\n', INDEX_COUNT_MAX, &count) < 0)
		return -EBADMSG;
	for (uint64_t i = 0; i < count; i++)
		if (parse_entry(x, &p, end, data_max) < 0)
			return -EBADMSG;
	if (p != end)
		return -EBADMSG;
	*ret = TAKE_PTR(x);
	return 0;
}

static int format_record(const struct layer_index *x, const char *digest, struct buf *b)
{
	int rc = buf_printf(b, INDEX_MAGIC "%s %zu\n", digest, x->n);

	for (size_t i = 0; rc >= 0 && i < x->n; i++) {
		const struct layer_index_entry *e = &x->e[i];
		size_t path_len = strlen(e->path);

		if (path_len > INDEX_PATH_MAX)
			return -E2BIG;
		rc = e->data ? buf_printf(b, "%o %zu %zu\n", (unsigned)e->type, path_len, e->len)
			     : buf_printf(b, "%o %zu -\n", (unsigned)e->type, path_len);
		if (rc >= 0)
			rc = buf_append(b, e->path, path_len);
		if (rc >= 0 && e->data)
			rc = buf_append(b, e->data, e->len);
		if (rc >= 0)
			rc = buf_putc(b, '\n');
	}
	return rc;
}

static int record_load(const char *path, const char *digest, size_t data_max,
		       struct layer_index **ret)
{
	/* O_NONBLOCK and the type check: a FIFO put in the cache must not hang the run */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	_cleanup_buf_ struct buf b = BUF_INIT(INDEX_FILE_MAX);
	struct stat st;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || buf_read_fd(&b, fd) < 0)
		return -EBADMSG;
	return layer_index_parse(b.data, b.len, digest, data_max, ret);
}

static int record_save(const char *dir, const char *path, const struct layer_index *x,
		       const char *digest)
{
	_cleanup_buf_ struct buf b = BUF_INIT(INDEX_FILE_MAX);
	int rc = format_record(x, digest, &b);

	if (rc >= 0)
		rc = mkdir_p(dir, 0755);
	if (rc >= 0)
		rc = write_file_atomic(path, b.data, b.len, 0644);
	return rc;
}

/* ---- reading a layer ---- */

static int read_data(struct archive *a, size_t data_max, struct layer_index_entry *e)
{
	_cleanup_free_ char *data = xmalloc(data_max + 2);
	size_t got = 0;
	la_ssize_t n = 0;

	while (got < data_max + 1 && (n = archive_read_data(a, data + got, data_max + 1 - got)) > 0)
		got += (size_t)n;
	if (got < data_max + 1 && n < 0)
		return -EIO;
	data[got] = '\0';
	e->data = TAKE_PTR(data);
	e->len = got;
	return 0;
}

static int index_blob(const struct layer_index_spec *spec, const char *blob_path,
		      struct layer_index *x, struct errbuf *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int rc = 0, ar;

	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, blob_path, 1 << 16) != ARCHIVE_OK) {
		rc = errbuf_set(err, -EIO, "cannot read layer %s: %s", blob_path,
				archive_error_string(a));
		goto out;
	}
	while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(ae);
		mode_t type = archive_entry_filetype(ae);
		bool want_data = false;

		if (!path || !*path || !spec->wants(path, type, &want_data))
			continue;
		struct layer_index_entry *e = add_entry(x, type, path, strlen(path));
		if (want_data && type == AE_IFREG && read_data(a, spec->data_max, e) < 0) {
			rc = errbuf_set(err, -EIO, "cannot read %s from layer %s: %s", path,
					blob_path, archive_error_string(a));
			goto out;
		}
	}
	if (ar != ARCHIVE_EOF)
		rc = errbuf_set(err, -EIO, "cannot read layer %s: %s", blob_path,
				archive_error_string(a));
out:
	archive_read_free(a);
	return rc;
}

int layer_index_get(const char *home, const struct layer_index_spec *spec,
		    const char *blob_path, const char *digest, struct layer_index **ret,
		    bool *ret_built, struct errbuf *err)
{
	_cleanup_(layer_index_freep) struct layer_index *x = NULL;
	_cleanup_free_ char *dir = NULL, *record = NULL;
	int rc;

	if (!spec_name_valid(spec->name) || !digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "invalid layer index request (%s, %s)", spec->name,
				  digest);
	dir = xasprintf("%s/index/%s", home, spec->name);
	record = xasprintf("%s/%s", dir, digest + strlen("sha256:"));
	*ret_built = false;
	if (record_load(record, digest, spec->data_max, &x) >= 0) {
		*ret = TAKE_PTR(x);
		return 0;
	}
	x = xcalloc(1, sizeof(*x));
	rc = index_blob(spec, blob_path, x, err);
	if (rc < 0)
		return rc;
	/* best effort: without the record the next run reads the layer again */
	(void)record_save(dir, record, x, digest);
	*ret_built = true;
	*ret = TAKE_PTR(x);
	return 0;
}

/* A record being written (write_file_atomic_at's temporary name) by a process that died
 * before the rename: one an hour old is no other run's work in progress. */
#define TMP_STALE_S 3600

static bool stale_tmp(const char *name, const struct stat *st)
{
	return strncmp(name, ".cirun-tmp-", strlen(".cirun-tmp-")) == 0 && S_ISREG(st->st_mode) &&
	       st->st_mtime < time(NULL) - TMP_STALE_S;
}

static void gc_records(int dfd, const struct strset *keep, uint64_t *bytes)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		bool hidden = de->d_name[0] == '.';
		if ((hidden || !strset_contains(keep, de->d_name)) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && (!hidden || stale_tmp(de->d_name, &st)) &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

void layer_index_gc(const char *home, const struct strset *keep, uint64_t *bytes)
{
	_cleanup_free_ char *top = xasprintf("%s/index", home);
	DIR *d = opendir(top);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!spec_name_valid(de->d_name))
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			gc_records(fd, keep, bytes);
	}
	closedir(d);
}
