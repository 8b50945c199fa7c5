#include "layer-writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "layer.h"
#include "macro.h"

#define ZSTD_LEVEL 3
#define COPY_CHUNK (1 << 20)

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct layer_writer {
	struct blob_writer *blob;
	struct archive *tar;
	struct archive *disk; /* reads metadata (xattrs, ACLs) of files on disk */
	struct sha256 *diff;
	ZSTD_CCtx *zstd;
	char *zbuf;
	size_t zbuf_size;
	int error;
	bool root_owned;
	uint64_t entries;
	struct hardlink *links;
	size_t nlinks;
	char *chunk;
};

static int compress_out(struct layer_writer *w, const void *data, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { data, n, 0 };

	for (;;) {
		ZSTD_outBuffer out = { w->zbuf, w->zbuf_size, 0 };
		size_t left = ZSTD_compressStream2(w->zstd, &out, &in, end);
		if (ZSTD_isError(left))
			return -EIO;
		if (out.pos > 0) {
			int r = blob_writer_write(w->blob, w->zbuf, out.pos);
			if (r < 0)
				return r;
		}
		if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

/* libarchive hands us the uncompressed tar: hash it (diff_id) and compress it. */
static la_ssize_t tar_write(struct archive *a, void *data, const void *buf, size_t n)
{
	struct layer_writer *w = data;
	int r;

	sha256_update(w->diff, buf, n);
	r = compress_out(w, buf, n, ZSTD_e_continue);
	if (r < 0) {
		w->error = r;
		archive_set_error(a, -r, "writing the layer blob failed: %s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)n;
}

void layer_writer_abort(struct layer_writer *w)
{
	if (!w)
		return;
	if (w->tar)
		archive_write_free(w->tar);
	if (w->disk)
		archive_read_free(w->disk);
	blob_writer_abort(w->blob);
	sha256_free(w->diff);
	ZSTD_freeCCtx(w->zstd);
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i].path);
	free(w->links);
	free(w->zbuf);
	free(w->chunk);
	free(w);
}

int layer_writer_new(struct image_store *st, struct layer_writer **ret, struct errbuf *err)
{
	struct layer_writer *w = xcalloc(1, sizeof(*w));
	int r;

	r = blob_writer_new(st, &w->blob, err);
	if (r < 0) {
		free(w);
		return r;
	}
	r = sha256_new(&w->diff);
	w->zstd = ZSTD_createCCtx();
	if (r < 0 || !w->zstd) {
		layer_writer_abort(w);
		return errbuf_set(err, -ENOMEM, "cannot set up layer compression");
	}
	ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_checksumFlag, 1);
	w->zbuf_size = ZSTD_CStreamOutSize();
	w->zbuf = xmalloc(w->zbuf_size);
	w->chunk = xmalloc(COPY_CHUNK);

	w->disk = archive_read_disk_new();
	/* Numeric ids only: a layer must not depend on this machine's passwd file. */
	archive_read_disk_set_behavior(w->disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);

	w->tar = archive_write_new();
	archive_write_set_format_pax_restricted(w->tar);
	archive_write_set_bytes_per_block(w->tar, 64 * 1024);
	archive_write_set_bytes_in_last_block(w->tar, 1);
	if (archive_write_open2(w->tar, w, NULL, tar_write, NULL, NULL) != ARCHIVE_OK) {
		r = errbuf_set(err, -EIO, "cannot start a layer: %s", archive_error_string(w->tar));
		layer_writer_abort(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* Makes an entry's bytes depend only on the tree: no atime/ctime/birthtime, no names. */
static void normalise(struct archive_entry *e)
{
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	archive_entry_set_uname(e, NULL);
	archive_entry_set_gname(e, NULL);
	archive_entry_copy_sourcepath(e, NULL);
}

static int write_header(struct layer_writer *w, struct archive_entry *e, const char *path,
			struct errbuf *err)
{
	if (archive_write_header(w->tar, e) < ARCHIVE_WARN)
		return errbuf_set(err, w->error ? w->error : -EIO, "layer entry '%s': %s", path,
				  archive_error_string(w->tar));
	w->entries++;
	return 0;
}

void layer_writer_set_root_owned(struct layer_writer *w)
{
	w->root_owned = true;
}

int layer_writer_add_dir(struct layer_writer *w, const char *path, mode_t mode,
			 struct errbuf *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, mode);
	archive_entry_set_mtime(e, 0, 0);
	r = write_header(w, e, path, err);
	archive_entry_free(e);
	return r;
}

int layer_writer_add_whiteout(struct layer_writer *w, const char *path, struct errbuf *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFCHR);
	archive_entry_set_perm(e, 0);
	archive_entry_set_rdev(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	r = write_header(w, e, path, err);
	archive_entry_free(e);
	return r;
}

static int copy_content(struct layer_writer *w, int fd, const char *path, struct errbuf *err)
{
	for (;;) {
		ssize_t n = read(fd, w->chunk, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(err, negative_errno(), "reading '%s' failed: %m", path);
		if (n == 0)
			return 0;
		if (archive_write_data(w->tar, w->chunk, (size_t)n) != n)
			return errbuf_set(err, w->error ? w->error : -EIO, "layer entry '%s': %s",
					  path, archive_error_string(w->tar));
	}
}

static const char *known_link(struct layer_writer *w, const struct stat *st)
{
	for (size_t i = 0; i < w->nlinks; i++)
		if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
			return w->links[i].path;
	return NULL;
}

static int add_one(struct layer_writer *w, const char *disk_path, const char *layer_path,
		   bool opaque, struct errbuf *err)
{
	struct archive_entry *e = archive_entry_new();
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r = 0;

	if (lstat(disk_path, &st) < 0) {
		r = errbuf_set(err, negative_errno(), "cannot read '%s': %m", disk_path);
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		fd = open(disk_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0) {
			r = errbuf_set(err, negative_errno(), "cannot open '%s': %m", disk_path);
			goto out;
		}
	}
	archive_entry_copy_sourcepath(e, disk_path);
	if (archive_read_disk_entry_from_file(w->disk, e, fd, &st) < ARCHIVE_WARN) {
		r = errbuf_set(err, -EIO, "cannot read the metadata of '%s': %s", disk_path,
			       archive_error_string(w->disk));
		goto out;
	}
	normalise(e);
	if (w->root_owned) {
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
	}
	layer_entry_strip_overlay_xattrs(e, true);
	if (opaque)
		archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
	archive_entry_set_pathname(e, layer_path);
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		const char *first = known_link(w, &st);
		if (first) {
			archive_entry_set_hardlink(e, first);
			archive_entry_set_size(e, 0);
			r = write_header(w, e, layer_path, err);
			goto out;
		}
		w->links = xreallocarray(w->links, w->nlinks + 1, sizeof(*w->links));
		w->links[w->nlinks++] = (struct hardlink){ st.st_dev, st.st_ino, xstrdup(layer_path) };
	}
	r = write_header(w, e, layer_path, err);
	if (r >= 0 && fd >= 0)
		r = copy_content(w, fd, disk_path, err);
out:
	archive_entry_free(e);
	return r;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_children(struct layer_writer *w, const char *disk_dir, const char *layer_dir,
			struct errbuf *err)
{
	struct dirent **names;
	int n = scandir(disk_dir, &names, NULL, by_name), r = 0;

	if (n < 0)
		return errbuf_set(err, negative_errno(), "cannot list '%s': %m", disk_dir);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r >= 0 && strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0) {
			_cleanup_free_ char *disk = NULL, *layer = NULL;
			disk = xasprintf("%s/%s", disk_dir, nm);
			layer = xasprintf("%s%s%s", layer_dir, *layer_dir ? "/" : "", nm);
			r = layer_writer_add_tree(w, disk, layer, err);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int layer_writer_add_tree(struct layer_writer *w, const char *disk_path, const char *layer_path,
			  struct errbuf *err)
{
	struct stat st;
	int r;

	if (lstat(disk_path, &st) < 0)
		return errbuf_set(err, negative_errno(), "cannot read '%s': %m", disk_path);
	if (*layer_path) {
		r = add_one(w, disk_path, layer_path, false, err);
		if (r < 0)
			return r;
	}
	if (S_ISDIR(st.st_mode))
		return add_children(w, disk_path, layer_path, err);
	return 0;
}

void layer_info_release(struct layer_info *li)
{
	free(li->digest);
	free(li->diff_id);
	memset(li, 0, sizeof(*li));
}

int layer_writer_finish(struct layer_writer *w, struct layer_info *ret, struct errbuf *err)
{
	char hex[SHA256_HEX_SIZE];
	int r;

	if (archive_write_close(w->tar) != ARCHIVE_OK) {
		r = errbuf_set(err, w->error ? w->error : -EIO, "finishing the layer: %s",
			       archive_error_string(w->tar));
		layer_writer_abort(w);
		return r;
	}
	r = compress_out(w, NULL, 0, ZSTD_e_end);
	if (r >= 0)
		r = sha256_final(w->diff, hex);
	if (r < 0) {
		layer_writer_abort(w);
		return errbuf_set(err, r, "finishing the layer blob failed: %s", strerror(-r));
	}
	memset(ret, 0, sizeof(*ret));
	ret->diff_id = xasprintf("sha256:%s", hex);
	ret->entries = w->entries;
	r = blob_writer_commit(TAKE_PTR(w->blob), NULL, &ret->digest, &ret->size, err);
	layer_writer_abort(w);
	if (r < 0)
		layer_info_release(ret);
	return r;
}

int layer_writer_add_entry(struct layer_writer *w, const char *disk_path, const char *layer_path,
			   bool opaque, struct errbuf *err)
{
	return add_one(w, disk_path, layer_path, opaque, err);
}
