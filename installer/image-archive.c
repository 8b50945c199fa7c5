#include "image-archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "interrupt.h"
#include "json-writer.h"
#include "layer.h"
#include "macro.h"
#include "strset.h"
#include "ydoc.h"

#define CHUNK (1 << 20)
/* libarchive's own error codes on Linux (archive_private.h): not an OS reason */
#define LA_ERRNO_FILE_FORMAT EILSEQ
#define LA_ERRNO_PROGRAMMER EINVAL
#define SMALL_MAX (16u << 20) /* index.json, oci-layout */
#define MAX_BLOBS 100000

/* -errno when libarchive's error comes from the OS, else fallback. */
static int archive_code(struct archive *a, int fallback)
{
	int e = archive_errno(a);
	return e > 0 && e != LA_ERRNO_FILE_FORMAT && e != LA_ERRNO_PROGRAMMER ? -e : fallback;
}

/* libarchive's text, with the OS's reason when it has one ("Write error" alone does not
 * say that the disk is full). */
static const char *archive_reason(struct archive *a, char *buf, size_t n)
{
	const char *s = archive_error_string(a);
	int code = archive_code(a, 0);

	if (code < 0 && (!s || !strstr(s, strerror(-code))))
		snprintf(buf, n, "%s%s%s", s ? s : "", s ? ": " : "", strerror(-code));
	else
		snprintf(buf, n, "%s", s ? s : "unknown error");
	return buf;
}

#define REASON(a) archive_reason((a), (char[512]){ 0 }, 512)

/* ---- save ---- */

static int write_entry_header(struct archive *a, const char *path, mode_t type, uint64_t size,
			      struct errbuf *err)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = errbuf_set(err, archive_code(a, -EIO), "writing '%s' into the archive: %s", path,
			       REASON(a));
	archive_entry_free(e);
	return r;
}

static int write_small(struct archive *a, const char *path, const char *data, size_t len,
		       struct errbuf *err)
{
	int r = write_entry_header(a, path, AE_IFREG, len, err);

	if (r >= 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
		r = errbuf_set(err, archive_code(a, -EIO), "writing '%s' into the archive: %s", path,
			       REASON(a));
	return r;
}

struct save_blob {
	const char *digest;
	uint64_t size; /* as the descriptors say: the archive must hold exactly that */
};

static int write_blob(struct archive *a, struct image_store *st, const struct save_blob *b,
		      char *chunk, struct errbuf *err)
{
	_cleanup_free_ char *src = image_store_blob_path(st, b->digest);
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *name = NULL;
	uint64_t left = b->size;
	struct stat st_;
	int r;

	if (fd < 0 || fstat(fd, &st_) < 0)
		return errbuf_set(err, negative_errno(), "cannot open blob %s in the store: %m",
				  b->digest);
	if (S_ISREG(st_.st_mode) && (uint64_t)st_.st_size != b->size)
		return errbuf_set(err, -EBADMSG, "blob %s in the store has %" PRIu64 " bytes, its "
				  "descriptor says %" PRIu64 ": remove the image and load it again",
				  b->digest, (uint64_t)st_.st_size, b->size);
	name = xasprintf("blobs/sha256/%s", b->digest + 7);
	r = write_entry_header(a, name, AE_IFREG, b->size, err);
	while (r >= 0 && left > 0) {
		ssize_t n = read(fd, chunk, (size_t)MIN(left, (uint64_t)CHUNK));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(err, negative_errno(), "reading blob %s: %m", b->digest);
		if (n == 0)
			return errbuf_set(err, -EBADMSG, "blob %s in the store ended early",
					  b->digest);
		if (archive_write_data(a, chunk, (size_t)n) != n)
			r = errbuf_set(err, archive_code(a, -EIO), "writing blob %s into the archive: %s",
				       b->digest, REASON(a));
		left -= (uint64_t)n;
	}
	return r;
}

static uint64_t descriptor_size(const struct image *img, const char *digest)
{
	if (strcmp(digest, img->manifest_digest) == 0)
		return img->manifest_size;
	if (strcmp(digest, img->manifest.config.digest) == 0)
		return img->manifest.config.size;
	for (size_t i = 0; i < img->manifest.nlayers; i++)
		if (strcmp(digest, img->manifest.layers[i].digest) == 0)
			return img->manifest.layers[i].size;
	return 0;
}

static int index_json(struct image *imgs, size_t n, struct buf *out)
{
	struct image_ref *refs = xcalloc(n ? n : 1, sizeof(*refs));
	int r;

	for (size_t i = 0; i < n; i++)
		refs[i] = (struct image_ref){ imgs[i].name, imgs[i].manifest_digest,
					      imgs[i].manifest_size };
	r = image_index_encode(refs, n, out);
	free(refs); /* the strings belong to imgs */
	return r;
}

static int cmp_blob(const void *a, const void *b)
{
	return strcmp(((const struct save_blob *)a)->digest, ((const struct save_blob *)b)->digest);
}

int image_save(struct image_store *st, char *const *names, size_t n, const char *out_path,
	       struct errbuf *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct image *imgs = xcalloc(n ? n : 1, sizeof(*imgs));
	_cleanup_(strset_freep) struct strset *seen = strset_new();
	_cleanup_buf_ struct buf index = BUF_INIT(SMALL_MAX);
	_cleanup_free_ char *tmp = NULL, *chunk = xmalloc(CHUNK);
	struct save_blob *blobs = NULL;
	size_t nblobs = 0;
	struct archive *a = NULL;
	int r = 0, slot = -1;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = image_store_get(st, names[i], &imgs[i], err);
		if (r >= 0 && !imgs[i].name)
			r = errbuf_set(err, -EINVAL, "save needs image names, not ids ('%s')", names[i]);
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *list[4096];
		size_t k = image_blobs(&imgs[i], list, ELEMENTSOF(list));
		for (size_t j = 0; j < k; j++) {
			if (strset_add(seen, list[j]) == 1) {
				blobs = xreallocarray(blobs, nblobs + 1, sizeof(*blobs));
				blobs[nblobs++] = (struct save_blob){
					list[j], descriptor_size(&imgs[i], list[j])
				};
			}
		}
	}
	qsort(blobs, nblobs, sizeof(*blobs), cmp_blob);
	r = index_json(imgs, n, &index);
	if (r < 0) {
		errbuf_set(err, r, "cannot encode the archive's index");
		goto out;
	}

	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (strcmp(out_path, "-") == 0) {
		/* streamed: nothing to rename, and a failure leaves the reader a short tar */
		if (isatty(STDOUT_FILENO)) {
			r = errbuf_set(err, -EINVAL, "not writing an archive to a terminal: redirect "
				       "stdout, or give -o FILE");
			goto out;
		}
		/* no padding to a 10 KiB block: the same bytes as a file */
		archive_write_set_bytes_in_last_block(a, 1);
		if (archive_write_open_fd(a, STDOUT_FILENO) != ARCHIVE_OK) {
			r = archive_code(a, -EIO);
			errbuf_set(err, r, "cannot write to stdout: %s", strerror(-r));
			goto out;
		}
	} else {
		tmp = xasprintf("%s.partial-%d", out_path, (int)getpid());
		slot = interrupt_track(INTERRUPT_FILE, tmp, NULL, 0);
	}
	/* libarchive's text names the temporary file: say the user's path and the reason */
	if (tmp && archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		r = archive_code(a, -EIO);
		errbuf_set(err, r, "cannot create '%s': %s", out_path, strerror(-r));
		goto out;
	}
	r = write_small(a, "oci-layout", layout, strlen(layout), err);
	if (r >= 0)
		r = write_small(a, "index.json", index.data, index.len, err);
	if (r >= 0)
		r = write_entry_header(a, "blobs", AE_IFDIR, 0, err);
	if (r >= 0)
		r = write_entry_header(a, "blobs/sha256", AE_IFDIR, 0, err);
	for (size_t i = 0; r >= 0 && i < nblobs; i++)
		r = write_blob(a, st, &blobs[i], chunk, err);
	if (r >= 0 && archive_write_close(a) != ARCHIVE_OK) {
		r = archive_code(a, -EIO);
		errbuf_set(err, r, "cannot finish '%s': %s", tmp ? out_path : "stdout", strerror(-r));
	}
	if (r >= 0 && tmp && rename(tmp, out_path) < 0)
		r = errbuf_set(err, negative_errno(), "cannot move the archive to '%s': %m", out_path);
out:
	if (a)
		archive_write_free(a);
	if (r < 0 && tmp)
		unlink(tmp);
	interrupt_untrack(slot);
	for (size_t i = 0; i < n; i++)
		image_release(&imgs[i]);
	free(imgs);
	free(blobs);
	return r;
}

/* ---- load ---- */

struct staged {
	struct blob_writer **w;
	size_t n;
	struct strset *digests;
	struct strset *corrupt; /* entries whose content does not hash to their name */
	char *first_corrupt;
};

static void staged_abort(struct staged *s)
{
	for (size_t i = 0; i < s->n; i++)
		blob_writer_abort(s->w[i]);
	free(s->w);
	strset_free(s->digests);
	strset_free(s->corrupt);
	free(s->first_corrupt);
	memset(s, 0, sizeof(*s));
}

static struct blob_writer *staged_find(const struct staged *s, const char *digest)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(blob_writer_digest(s->w[i]), digest) == 0)
			return s->w[i];
	return NULL;
}

static int read_small(struct archive *a, const char *path, struct buf *out, struct errbuf *err)
{
	char chunk[65536];

	for (;;) {
		la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));
		if (n == 0)
			return 0;
		if (n < 0)
			return errbuf_set(err, archive_code(a, -EBADMSG), "reading '%s' from the "
					  "archive: %s", path, REASON(a));
		if (buf_append(out, chunk, (size_t)n) < 0)
			return errbuf_set(err, -E2BIG, "'%s' in the archive is too large", path);
	}
}

static int stage_blob(struct image_store *st, struct archive *a, const char *hex,
		      struct staged *s, char *chunk, struct errbuf *err)
{
	char expected[80];
	struct blob_writer *w;
	int r;

	if (!sha256_hex_valid(hex))
		return errbuf_set(err, -EBADMSG, "archive entry 'blobs/sha256/%s' is not named by "
				  "a sha256 digest", hex);
	snprintf(expected, sizeof(expected), "sha256:%s", hex);
	if (strset_contains(s->digests, expected))
		return 0; /* a repeated entry: the first one counts */
	if (s->n >= MAX_BLOBS)
		return errbuf_set(err, -E2BIG, "the archive has more than %d blobs", MAX_BLOBS);
	r = blob_writer_new(st, &w, err);
	if (r < 0)
		return r;
	for (;;) {
		la_ssize_t n = archive_read_data(a, chunk, CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			blob_writer_abort(w);
			return errbuf_set(err, -EBADMSG, "reading blob %s from the archive: %s "
					  "(truncated?)", expected, REASON(a));
		}
		r = blob_writer_write(w, chunk, (size_t)n);
		if (r < 0) {
			blob_writer_abort(w);
			return errbuf_set(err, r, "storing blob %s: %s", expected, strerror(-r));
		}
	}
	r = blob_writer_verify(w, expected, err);
	if (r < 0 && r != -EBADMSG) {
		blob_writer_abort(w);
		return errbuf_prefix(err, "storing blob %s", expected);
	}
	if (r < 0) {
		/* Said when an image needs it, so the error can name the image and the part. */
		blob_writer_abort(w);
		errbuf_clear(err);
		strset_add(s->digests, expected);
		strset_add(s->corrupt, expected);
		if (!s->first_corrupt)
			s->first_corrupt = xstrdup(expected);
		return 0;
	}
	s->w = xreallocarray(s->w, s->n + 1, sizeof(*s->w));
	s->w[s->n++] = w;
	strset_add(s->digests, expected);
	return 0;
}

static char *clean_name(const char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	char *s = xstrdup(p);
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static int read_archive(struct image_store *st, const char *path, struct staged *s,
			struct buf *index, struct buf *layout, struct errbuf *err)
{
	_cleanup_free_ char *chunk = xmalloc(CHUNK);
	struct archive *a = tar_reader_new();
	struct archive_entry *e;
	int r = 0;

	/* "-" is a stream: tar is read in order and every blob goes to the store's tmp/ as
	 * it arrives, so nothing needs to seek and the archive is never copied whole */
	if ((strcmp(path, "-") == 0 ? archive_read_open_fd(a, STDIN_FILENO, CHUNK)
				    : archive_read_open_filename(a, path, CHUNK)) != ARCHIVE_OK) {
		r = errbuf_set(err, archive_code(a, -EBADMSG), "cannot read '%s': %s", path,
			       REASON(a));
		archive_read_free(a);
		return r;
	}
	for (;;) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = errbuf_set(err, archive_code(a, -EBADMSG), "'%s' is not a readable "
				       "archive: %s", path, REASON(a));
			break;
		}
		_cleanup_free_ char *name = clean_name(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		if (archive_entry_filetype(e) != AE_IFREG) {
			r = errbuf_set(err, -EBADMSG, "archive entry '%s' is not a regular file", name);
			break;
		}
		if (strcmp(name, "index.json") == 0)
			r = read_small(a, name, index, err);
		else if (strcmp(name, "oci-layout") == 0)
			r = read_small(a, name, layout, err);
		else if (strncmp(name, "blobs/sha256/", 13) == 0)
			r = stage_blob(st, a, name + 13, s, chunk, err);
		/* anything else (a docker manifest.json, a README) is not ours to load */
		if (r < 0)
			break;
	}
	archive_read_free(a);
	return r;
}

/* Reads a blob that is either staged from the archive or already in the store. */
static int read_either(struct image_store *st, const struct staged *s, const char *digest,
		       size_t cap, struct buf *out, struct errbuf *err)
{
	struct blob_writer *w = staged_find(s, digest);

	if (!w) {
		if (!image_store_has_blob(st, digest))
			return errbuf_set(err, -EBADMSG, "the archive lacks blob %s", digest);
		return image_store_read_blob(st, digest, cap, out, err);
	}
	out->cap = cap;
	int r = buf_read_file(out, blob_writer_path(w));
	return r < 0 ? errbuf_set(err, r, "cannot read back blob %s", digest) : 0;
}

/* A part an image needs is there, whole, and of the size its descriptor says. */
static int check_blob(struct image_store *st, const struct staged *s, const char *what,
		      const char *digest, uint64_t size, struct errbuf *err)
{
	struct blob_writer *w = staged_find(s, digest);
	_cleanup_free_ char *p = NULL;
	struct stat stt;
	uint64_t have;

	if (strset_contains(s->corrupt, digest))
		return errbuf_set(err, -EBADMSG, "its %s %s is corrupt: the archive's content "
				  "for it does not match that digest", what, digest);
	if (w) {
		have = blob_writer_size(w);
	} else {
		p = image_store_blob_path(st, digest);
		if (stat(p, &stt) < 0)
			return errbuf_set(err, -EBADMSG, "its %s %s is missing from the archive",
					  what, digest);
		have = (uint64_t)stt.st_size;
	}
	if (have != size)
		return errbuf_set(err, -EBADMSG, "its %s %s has %" PRIu64 " bytes, its descriptor "
				  "says %" PRIu64, what, digest, have, size);
	return 0;
}

/* Every reference must resolve to a whole blob of the stated size, and the parts must
 * agree with each other as the store requires (image_verify_parts): only then is
 * anything added. */
static int check_image(struct image_store *st, const struct staged *s, const char *manifest_digest,
		       uint64_t manifest_size, struct errbuf *err)
{
	_cleanup_buf_ struct buf mbuf = BUF_INIT(0), cbuf = BUF_INIT(0);
	struct manifest m = { 0 };
	struct image_meta meta = { 0 };
	int r;

	r = check_blob(st, s, "manifest", manifest_digest, manifest_size, err);
	if (r >= 0)
		r = read_either(st, s, manifest_digest, 4u << 20, &mbuf, err);
	if (r >= 0)
		r = manifest_parse(mbuf.data, mbuf.len, &m, err);
	if (r < 0)
		return r;
	r = check_blob(st, s, "config", m.config.digest, m.config.size, err);
	for (size_t i = 0; r >= 0 && i < m.nlayers; i++) {
		char what[32];
		snprintf(what, sizeof(what), "layer %zu", i + 1);
		r = check_blob(st, s, what, m.layers[i].digest, m.layers[i].size, err);
	}
	if (r >= 0)
		r = read_either(st, s, m.config.digest, 16u << 20, &cbuf, err);
	if (r >= 0)
		r = image_meta_from_config(cbuf.data, cbuf.len, &meta, err);
	if (r >= 0)
		r = image_verify_parts(&m, &meta, err);
	manifest_release(&m);
	image_meta_release(&meta);
	return r;
}

/* A corrupt entry that no image needs still means the archive was damaged. */
static int check_unused_corrupt(const struct staged *s, struct errbuf *err)
{
	if (s->first_corrupt)
		return errbuf_set(err, -EBADMSG, "blob %s in the archive is corrupt: its content "
				  "does not match its digest", s->first_corrupt);
	return 0;
}

int image_load(struct image_store *st, const char *path, char ***ret_names, size_t *ret_n,
	       struct errbuf *err)
{
	struct staged s = { .digests = strset_new(), .corrupt = strset_new() };
	_cleanup_buf_ struct buf index = BUF_INIT(SMALL_MAX), layout = BUF_INIT(4096);
	struct image_ref *refs = NULL;
	size_t n = 0;
	int r;

	r = image_store_hold(st, err);
	if (r >= 0)
		r = read_archive(st, path, &s, &index, &layout, err);
	if (r >= 0 && (!layout.len || !strstr(layout.data, "imageLayoutVersion")))
		r = errbuf_set(err, -EBADMSG, "'%s' is not an OCI archive (no oci-layout file)", path);
	if (r >= 0 && !index.len)
		r = errbuf_set(err, -EBADMSG, "'%s' has no index.json", path);
	if (r >= 0)
		r = image_index_decode("index.json", index.data, index.len, true, &refs, &n, err);
	if (r >= 0 && n == 0)
		r = errbuf_set(err, -EBADMSG, "the archive's index.json lists no images");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = check_image(st, &s, refs[i].manifest_digest, refs[i].manifest_size, err);
		if (r < 0)
			errbuf_prefix(err, "image '%s' is inconsistent", refs[i].name);
	}
	if (r >= 0)
		r = check_unused_corrupt(&s, err);
	if (r < 0) {
		staged_abort(&s);
		goto out;
	}
	/* All checked: now add. Blobs first, names last, so a name never points at a
	 * missing blob. */
	for (size_t i = 0; i < s.n && r >= 0; i++)
		r = blob_writer_publish(TAKE_PTR(s.w[i]), NULL, NULL, err);
	staged_abort(&s);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = image_store_set_ref(st, refs[i].name, refs[i].manifest_digest,
					refs[i].manifest_size, err);
	if (r >= 0) {
		*ret_names = xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			(*ret_names)[i] = TAKE_PTR(refs[i].name);
		*ret_n = n;
	}
out:
	image_refs_free(refs, n);
	if (r < 0)
		errbuf_prefix(err, "nothing was loaded from '%s'", path);
	return r;
}

/* ---- export ---- */

int image_export(struct image_store *st, const char *name, const char *dir, struct errbuf *err)
{
	struct image img = { 0 };
	bool existed = access(dir, F_OK) == 0;
	int r, slot;
	DIR *d;

	/* an unknown name must not leave a new empty directory behind */
	r = image_store_get(st, name, &img, err);
	if (r < 0)
		return r;
	r = mkdir_p(dir, 0755);
	if (r < 0) {
		image_release(&img);
		return errbuf_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
	}
	d = opendir(dir);
	if (d) {
		struct dirent *de;
		bool empty = true;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		closedir(d);
		if (!empty) {
			image_release(&img);
			return errbuf_set(err, -ENOTEMPTY, "'%s' is not empty: export into a new or "
					  "empty directory", dir);
		}
	}
	/* A half-written rootfs is not an export: an interrupt or a failure removes it (the
	 * directory too when export created it). */
	_cleanup_free_ char *real = realpath(dir, NULL);
	slot = interrupt_track(existed ? INTERRUPT_CONTENTS : INTERRUPT_DIR, real ? real : dir,
			       NULL, 0);
	for (size_t i = 0; r >= 0 && i < img.meta.nlayers; i++) {
		const char *digest = img.meta.layers[i].digest;
		_cleanup_free_ char *blob = NULL;
		_cleanup_close_ int fd = -1;
		if (!digest)
			continue;
		/* named by digest and image, not by the store's blob path */
		blob = image_store_blob_path(st, digest);
		fd = open(blob, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			r = errbuf_set(err, negative_errno(), "cannot open layer %.19s of %s: %m",
				       digest, name);
		else if ((r = layer_apply_fd(dir, fd, NULL, NULL, err)) < 0)
			errbuf_prefix(err, "layer %.19s of %s", digest, name);
	}
	if (r < 0)
		interrupt_remove_tree(real ? real : dir, existed);
	interrupt_untrack(slot);
	image_release(&img);
	return r;
}
