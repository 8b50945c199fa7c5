#include "image-store.h"

#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "interrupt.h"
#include "json-writer.h"
#include "layer-index.h"
#include "layer-view.h"
#include "log.h"
#include "macro.h"
#include "strset.h"
#include "ydoc.h"

#define INDEX_MAX_BYTES (16u << 20)
#define MANIFEST_MAX_BYTES (4u << 20)
#define CONFIG_MAX_BYTES (16u << 20)

struct image_store {
	char *home;
	char *dir;	/* home/images */
	int gc_lock_fd; /* held shared while this process adds blobs */
	bool read_only; /* opened by a verb that only reads: never creates or locks */
	int tmp_slot;	/* interrupt slot for this process's blobs in tmp/ */
};

struct blob_writer {
	struct image_store *st;
	char *tmp_path;
	int fd;
	struct sha256 *hash;
	uint64_t size;
	char *digest; /* set once verified */
	int error;
};

static char *path_in(const struct image_store *st, const char *rel)
{
	char *p;
	p = xasprintf("%s/%s", st->dir, rel);
	return p;
}

static int ensure_layout(struct image_store *st, struct errbuf *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const char empty_index[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[]}";
	_cleanup_free_ char *blobs = path_in(st, "blobs/sha256");
	_cleanup_free_ char *tmp = path_in(st, "tmp");
	_cleanup_free_ char *layout_path = path_in(st, "oci-layout");
	_cleanup_free_ char *index_path = path_in(st, "index.json");
	int r;

	r = mkdir_p(blobs, 0755);
	if (r >= 0)
		r = mkdir_p(tmp, 0700);
	if (r < 0)
		return errbuf_set(err, r, "cannot create the image store under '%s': %s", st->dir,
				  strerror(-r));
	if (access(layout_path, F_OK) < 0) {
		r = write_file_atomic(layout_path, layout, strlen(layout), 0644);
		if (r < 0)
			return errbuf_set(err, r, "cannot write '%s': %s", layout_path, strerror(-r));
	}
	if (access(index_path, F_OK) < 0) {
		r = write_file_atomic(index_path, empty_index, strlen(empty_index), 0644);
		if (r < 0)
			return errbuf_set(err, r, "cannot write '%s': %s", index_path, strerror(-r));
	}
	return 0;
}

/* An empty CIRUN_HOME is a mistake (a variable meant to point elsewhere), never a quiet
 * fall back to the system's store. */
static int resolve_home(const char *home, const char **ret, struct errbuf *err)
{
	if (!home) {
		home = getenv("CIRUN_HOME");
		if (home && !*home)
			return errbuf_set(err, -EINVAL, "CIRUN_HOME is set but empty: unset it to use "
					  "/var/lib/cirun, or set it to a directory");
	}
	*ret = home && *home ? home : "/var/lib/cirun";
	return 0;
}

static struct image_store *store_new(const char *home)
{
	struct image_store *st = xcalloc(1, sizeof(*st));

	st->home = xstrdup(home);
	st->dir = xasprintf("%s/images", home);
	st->gc_lock_fd = -1;
	st->tmp_slot = -1;
	return st;
}

int image_store_open_ro(const char *home, struct image_store **ret, struct errbuf *err)
{
	_cleanup_free_ char *index = NULL;
	struct image_store *st;
	int r = resolve_home(home, &home, err);

	if (r < 0)
		return r;
	st = store_new(home);
	st->read_only = true;
	index = path_in(st, "index.json");
	if (access(index, F_OK) < 0) {
		r = negative_errno();
		if (r == -ENOENT)
			errbuf_set(err, r, "there is no image store in %s yet (cirun build or cirun "
				   "load make one)", st->dir);
		else
			errbuf_set(err, r, "cannot open the image store in %s: %s", st->dir,
				   strerror(-r));
		image_store_close(st);
		return r;
	}
	*ret = st;
	return 0;
}

int image_store_open(const char *home, struct image_store **ret, struct errbuf *err)
{
	struct image_store *st;
	int r = resolve_home(home, &home, err);

	if (r < 0)
		return r;
	st = store_new(home);
	r = ensure_layout(st, err);
	if (r < 0) {
		image_store_close(st);
		return r;
	}
	*ret = st;
	return 0;
}

struct image_store *image_store_close(struct image_store *st)
{
	if (!st)
		return NULL;
	if (st->gc_lock_fd >= 0)
		close(st->gc_lock_fd);
	interrupt_untrack(st->tmp_slot);
	free(st->home);
	free(st->dir);
	free(st);
	return NULL;
}

const char *image_store_home(const struct image_store *st)
{
	return st->home;
}

const char *image_store_dir(const struct image_store *st)
{
	return st->dir;
}

static int lock_file(const struct image_store *st, const char *name, int how, const char *why,
		     int *ret_fd, struct errbuf *err)
{
	_cleanup_free_ char *p = path_in(st, name);
	int fd;

	if (st->read_only)
		return errbuf_set(err, -EROFS, "the image store was opened read-only");
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open lock '%s': %m", p);
	if (flock(fd, how | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			int r = negative_errno();
			close(fd);
			return errbuf_set(err, r, "cannot lock '%s': %s", p, strerror(-r));
		}
		log_notice("waiting for %s (another cirun is using the image store)", why);
		if (flock(fd, how) < 0) {
			int r = negative_errno();
			close(fd);
			return errbuf_set(err, r, "cannot lock '%s': %s", p, strerror(-r));
		}
	}
	*ret_fd = fd;
	return 0;
}

int image_store_hold(struct image_store *st, struct errbuf *err)
{
	int r;

	if (st->gc_lock_fd >= 0)
		return 0;
	r = lock_file(st, ".gc.lock", LOCK_SH, "a garbage collection to finish",
		      &st->gc_lock_fd, err);
	if (r >= 0)
		image_store_sweep(st, false, NULL);
	return r;
}

char *image_store_blob_path(const struct image_store *st, const char *digest)
{
	char *p;
	const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
	p = xasprintf("%s/blobs/sha256/%s", st->dir, hex);
	return p;
}

bool image_store_has_blob(const struct image_store *st, const char *digest)
{
	_cleanup_free_ char *p = NULL;

	if (!digest_ref_valid(digest))
		return false;
	p = image_store_blob_path(st, digest);
	return access(p, F_OK) == 0;
}

int blob_writer_new(struct image_store *st, struct blob_writer **ret, struct errbuf *err)
{
	struct blob_writer *w;
	int r;

	if (st->read_only)
		return errbuf_set(err, -EROFS, "the image store was opened read-only");
	w = xcalloc(1, sizeof(*w));
	w->st = st;
	/* the PID in the name tells a later sweep whether the writer is gone */
	w->tmp_path = xasprintf("%s/tmp/" BLOB_TMP_PREFIX "%d-XXXXXX", st->dir, (int)getpid());
	if (st->tmp_slot < 0) {
		_cleanup_free_ char *dir = path_in(st, "tmp");
		_cleanup_free_ char *prefix = xasprintf(BLOB_TMP_PREFIX "%d-", (int)getpid());
		st->tmp_slot = interrupt_track(INTERRUPT_PREFIX, dir, prefix, 0);
	}
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		r = errbuf_set(err, negative_errno(), "cannot create a blob under '%s/tmp': %m",
			       st->dir);
		free(w->tmp_path);
		free(w);
		return r;
	}
	r = sha256_new(&w->hash);
	if (r < 0) {
		blob_writer_abort(w);
		return errbuf_set(err, r, "cannot start a digest");
	}
	*ret = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t n)
{
	const char *p = data;

	if (w->error)
		return w->error;
	sha256_update(w->hash, data, n);
	w->size += n;
	while (n > 0) {
		ssize_t k = write(w->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return w->error = negative_errno();
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->digest);
	sha256_free(w->hash);
	free(w);
}

int blob_writer_verify(struct blob_writer *w, const char *expected, struct errbuf *err)
{
	char hex[SHA256_HEX_SIZE];
	int r;

	if (w->digest)
		return 0;
	if (w->error)
		return errbuf_set(err, w->error, "writing a blob failed: %s", strerror(-w->error));
	r = sha256_final(w->hash, hex);
	if (r >= 0 && fsync(w->fd) < 0)
		r = negative_errno();
	if (r < 0)
		return errbuf_set(err, r, "finishing a blob failed: %s", strerror(-r));
	w->digest = xasprintf("sha256:%s", hex);
	if (expected && strcmp(expected, w->digest) != 0) {
		r = errbuf_set(err, -EBADMSG, "content does not match its digest: expected %s, "
			       "got %s", expected, w->digest);
		free(w->digest);
		w->digest = NULL;
		w->error = r;
		return r;
	}
	return 0;
}

const char *blob_writer_digest(const struct blob_writer *w)
{
	return w->digest;
}

uint64_t blob_writer_size(const struct blob_writer *w)
{
	return w->size;
}

const char *blob_writer_path(const struct blob_writer *w)
{
	return w->tmp_path;
}

int blob_writer_publish(struct blob_writer *w, char **ret_digest, uint64_t *ret_size,
			struct errbuf *err)
{
	_cleanup_free_ char *final = NULL;
	int r;

	if (!w->digest) {
		r = errbuf_set(err, -EINVAL, "a blob was published before it was verified");
		blob_writer_abort(w);
		return r;
	}
	final = image_store_blob_path(w->st, w->digest);
	r = RET_NERRNO(fchmod(w->fd, 0644));
	if (close(w->fd) < 0 && r >= 0)
		r = negative_errno();
	w->fd = -1;
	if (r < 0) {
		errbuf_set(err, r, "cannot store blob %s: %s", w->digest, strerror(-r));
		blob_writer_abort(w);
		return r;
	}
	/* An existing blob of the same digest has the same content: keep either. */
	if (rename(w->tmp_path, final) < 0) {
		r = negative_errno();
		errbuf_set(err, r, "cannot store blob %s: %s", w->digest, strerror(-r));
		blob_writer_abort(w);
		return r;
	}
	if (ret_digest)
		*ret_digest = TAKE_PTR(w->digest);
	if (ret_size)
		*ret_size = w->size;
	free(w->tmp_path);
	w->tmp_path = NULL;
	blob_writer_abort(w);
	return 0;
}

int blob_writer_commit(struct blob_writer *w, const char *expected, char **ret_digest,
		       uint64_t *ret_size, struct errbuf *err)
{
	int r = blob_writer_verify(w, expected, err);

	if (r < 0) {
		blob_writer_abort(w);
		return r;
	}
	return blob_writer_publish(w, ret_digest, ret_size, err);
}

int image_store_put_blob(struct image_store *st, const void *data, size_t len,
			 char **ret_digest, struct errbuf *err)
{
	struct blob_writer *w;
	int r = blob_writer_new(st, &w, err);

	if (r < 0)
		return r;
	r = blob_writer_write(w, data, len);
	if (r < 0) {
		blob_writer_abort(w);
		return errbuf_set(err, r, "writing a blob failed: %s", strerror(-r));
	}
	return blob_writer_commit(w, NULL, ret_digest, NULL, err);
}

int image_store_read_blob(const struct image_store *st, const char *digest, size_t cap,
			  struct buf *out, struct errbuf *err)
{
	_cleanup_free_ char *p = NULL;
	char hex[SHA256_HEX_SIZE];
	int r;

	if (!digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "'%s' is not a sha256 digest", digest);
	p = image_store_blob_path(st, digest);
	out->cap = cap;
	r = buf_read_file(out, p);
	if (r == -ENOENT)
		return errbuf_set(err, r, "blob %s is missing from the store '%s'", digest, st->dir);
	if (r < 0)
		return errbuf_set(err, r, "cannot read blob %s: %s", digest, strerror(-r));
	/* Small blobs (manifests, configs) are checked on every read: they decide what the
	 * rest of the image is. */
	sha256_buf(out->data, out->len, hex);
	if (strcmp(hex, digest + 7) != 0)
		return errbuf_set(err, -EBADMSG, "blob %s in '%s' is corrupt (its content hashes to "
				  "sha256:%s); remove the image and load it again", digest, st->dir, hex);
	return 0;
}

/* ---- names ---- */

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

static bool valid_repo(const char *r, size_t n)
{
	if (n == 0 || n > 255 || !isalnum((unsigned char)r[0]) || !isalnum((unsigned char)r[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r[i];
		if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-' || c == '/' ||
		      c == ':'))
			return false;
		if (i > 0 && c == '/' && (r[i - 1] == '/' || r[i - 1] == '.'))
			return false;
		if (i > 0 && c == '.' && r[i - 1] == '.')
			return false;
	}
	/* a ':' is only allowed in a registry host:port, before the first '/' */
	const char *colon = memchr(r, ':', n), *slash = memchr(r, '/', n);
	return !colon || (slash && colon < slash);
}

int image_ref_normalize(const char *name, char **ret, struct errbuf *err)
{
	const char *slash, *colon;
	size_t repo_len;

	if (!name || !*name)
		return errbuf_set(err, -EINVAL, "an image name is empty");
	if (strchr(name, '@'))
		return errbuf_set(err, -EINVAL, "image '%s': references by digest are not "
				  "supported; use name:tag", name);
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && slash && colon < slash)
		colon = NULL;
	repo_len = colon ? (size_t)(colon - name) : strlen(name);
	if (!valid_repo(name, repo_len))
		return errbuf_set(err, -EINVAL,
				  "image name '%s' is invalid: use lower-case letters, digits, '.', "
				  "'_', '-' and '/', then an optional ':tag'", name);
	if (colon && !valid_tag(colon + 1))
		return errbuf_set(err, -EINVAL,
				  "image tag in '%s' is invalid: up to 128 of letters, digits, '_', "
				  "'.', '-', not starting with '.' or '-'", name);
	if (colon)
		*ret = xstrdup(name);
	else if (asprintf(ret, "%s:latest", name) < 0)
		abort();
	return 0;
}

/* ---- index ---- */

void image_refs_free(struct image_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(refs[i].name);
		free(refs[i].manifest_digest);
	}
	free(refs);
}

int image_index_decode(const char *name, const char *json, size_t len, bool require_names,
		       struct image_ref **ret, size_t *ret_n, struct errbuf *err)
{
	const struct ydoc_limits lim = { .max_bytes = INDEX_MAX_BYTES };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct image_ref *refs = NULL;
	size_t n = 0;
	struct ynode *list;
	int r = ydoc_parse(name, json, len, &lim, &d, err);

	if (r < 0)
		return r;
	list = ynode_get(ydoc_root(d, 0), "manifests");
	if (!list || ynode_kind(list) != YNODE_SEQ)
		return errbuf_set(err, -EBADMSG, "%s: no manifests list", name);
	for (size_t i = 0; r >= 0 && i < ynode_len(list); i++) {
		struct ynode *m = ynode_seq_at(list, i);
		const char *ref = ynode_str(ynode_get(m, "annotations.org\\.opencontainers\\.image\\.ref\\.name"));
		const char *digest = ynode_str(ynode_map_get(m, "digest"));
		_cleanup_free_ char *norm = NULL;
		int64_t size = -1;

		ynode_get_int(ynode_map_get(m, "size"), &size);
		if (!digest_ref_valid(digest) || size < 0)
			r = errbuf_set(err, -EBADMSG, "%s:%u: a manifest entry needs a sha256 digest "
				       "and a size", name, ynode_line(m));
		else if (!ref && require_names)
			r = errbuf_set(err, -EBADMSG, "%s:%u: image without a name (the annotation %s)",
				       name, ynode_line(m), ANNOTATION_REF_NAME);
		else if (ref && image_ref_normalize(ref, &norm, err) < 0)
			r = errbuf_prefix(err, "%s:%u", name, ynode_line(m));
		if (r < 0 || !norm)
			continue; /* unnamed manifests are not images we list */
		refs = xreallocarray(refs, n + 1, sizeof(*refs));
		refs[n++] = (struct image_ref){ TAKE_PTR(norm), xstrdup(digest), (uint64_t)size };
	}
	if (r < 0) {
		image_refs_free(refs, n);
		return r;
	}
	*ret = refs;
	*ret_n = n;
	return 0;
}

static int read_index(const struct image_store *st, struct image_ref **ret, size_t *ret_n,
		      struct errbuf *err)
{
	_cleanup_free_ char *p = path_in(st, "index.json");
	_cleanup_buf_ struct buf content = BUF_INIT(INDEX_MAX_BYTES);
	int r = buf_read_file(&content, p);

	if (r < 0)
		return errbuf_set(err, r, "cannot read '%s': %s", p, strerror(-r));
	return image_index_decode(p, content.data, content.len, false, ret, ret_n, err);
}

int image_index_encode(const struct image_ref *refs, size_t n, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_object_begin(&w);
	jsonw_key(&w, "schemaVersion");
	jsonw_int(&w, 2);
	jsonw_key(&w, "mediaType");
	jsonw_string(&w, MEDIA_OCI_INDEX);
	jsonw_key(&w, "manifests");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < n; i++)
		oci_descriptor_write(&w, MEDIA_OCI_MANIFEST, refs[i].manifest_digest,
				     refs[i].manifest_size, refs[i].name);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	return jsonw_finish(&w);
}

static int write_index(const struct image_store *st, const struct image_ref *refs, size_t n,
		       struct errbuf *err)
{
	_cleanup_free_ char *p = path_in(st, "index.json");
	_cleanup_buf_ struct buf out = BUF_INIT(INDEX_MAX_BYTES);
	int r = image_index_encode(refs, n, &out);

	if (r < 0)
		return errbuf_set(err, r, "the image index is too large");
	r = write_file_atomic(p, out.data, out.len, 0644);
	if (r < 0)
		return errbuf_set(err, r, "cannot write '%s': %s", p, strerror(-r));
	return 0;
}

int image_store_list(struct image_store *st, struct image_ref **ret, size_t *ret_n,
		     struct errbuf *err)
{
	return read_index(st, ret, ret_n, err);
}

/* Read-modify-write of the index under its lock: names name digest, or (digest NULL) no
 * longer names anything. */
static int update_index(struct image_store *st, const char *raw_name, const char *digest,
			uint64_t size, struct errbuf *err)
{
	struct image_ref *refs = NULL;
	_cleanup_free_ char *name = NULL;
	size_t n = 0, found = SIZE_MAX;
	int lock_fd = -1, r;

	r = image_ref_normalize(raw_name, &name, err);
	if (r < 0)
		return r;
	if (digest && !digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "'%s' is not a sha256 digest", digest);
	r = lock_file(st, ".index.lock", LOCK_EX, "the image index", &lock_fd, err);
	if (r < 0)
		return r;
	r = read_index(st, &refs, &n, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (strcmp(refs[i].name, name) == 0)
			found = i;
	if (!digest) {
		if (found == SIZE_MAX) {
			r = errbuf_set(err, -ENOENT, "no image named '%s'", name);
			goto out;
		}
		free(refs[found].name);
		free(refs[found].manifest_digest);
		memmove(refs + found, refs + found + 1, (n - found - 1) * sizeof(*refs));
		n--;
	} else if (found != SIZE_MAX) {
		free(refs[found].manifest_digest);
		refs[found].manifest_digest = xstrdup(digest);
		refs[found].manifest_size = size;
	} else {
		refs = xreallocarray(refs, n + 1, sizeof(*refs));
		refs[n++] = (struct image_ref){ xstrdup(name), xstrdup(digest), size };
	}
	r = write_index(st, refs, n, err);
out:
	image_refs_free(refs, n);
	close(lock_fd);
	return r;
}

int image_store_set_ref(struct image_store *st, const char *name, const char *manifest_digest,
			uint64_t manifest_size, struct errbuf *err)
{
	return update_index(st, name, manifest_digest, manifest_size, err);
}

int image_store_remove_ref(struct image_store *st, const char *name, struct errbuf *err)
{
	return update_index(st, name, NULL, 0, err);
}

/* ---- images ---- */

void image_release(struct image *img)
{
	free(img->name);
	free(img->manifest_digest);
	free(img->id);
	manifest_release(&img->manifest);
	image_meta_release(&img->meta);
	memset(img, 0, sizeof(*img));
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(s, "sha256:", 7) == 0) {
		s += 7;
		n -= 7;
	}
	if (n < 4 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

static int load_image(struct image_store *st, const char *manifest_digest, struct image *img,
		      struct errbuf *err)
{
	_cleanup_buf_ struct buf mbuf = BUF_INIT(0), cbuf = BUF_INIT(0);
	int r;

	img->manifest_digest = xstrdup(manifest_digest);
	r = image_store_read_blob(st, manifest_digest, MANIFEST_MAX_BYTES, &mbuf, err);
	if (r >= 0)
		r = manifest_parse(mbuf.data, mbuf.len, &img->manifest, err);
	if (r >= 0)
		r = image_store_read_blob(st, img->manifest.config.digest, CONFIG_MAX_BYTES, &cbuf, err);
	if (r >= 0)
		r = image_meta_from_config(cbuf.data, cbuf.len, &img->meta, err);
	if (r < 0)
		return r;
	img->manifest_size = mbuf.len;
	img->id = xstrdup(img->manifest.config.digest + 7);
	r = image_verify_parts(&img->manifest, &img->meta, err);
	if (r < 0)
		return errbuf_prefix(err, "image %.12s", img->id);
	return 0;
}

int image_verify_parts(const struct manifest *m, struct image_meta *meta, struct errbuf *err)
{
	size_t content = 0, claimed = 0;

	for (size_t i = 0; i < meta->nlayers; i++)
		claimed += meta->layers[i].digest != NULL;
	for (size_t i = 0; i < meta->nlayers; i++) {
		struct image_layer *l = &meta->layers[i];
		if (!l->digest)
			continue;
		if (content >= m->nlayers)
			return errbuf_set(err, -EBADMSG, "the cirun metadata claims layer %s (%s %.40s) "
					  "that the manifest lacks (manifest: %zu layers, metadata: "
					  "%zu)", l->digest, layer_type_name(l->type), l->value,
					  m->nlayers, claimed);
		if (strcmp(m->layers[content].digest, l->digest) != 0)
			return errbuf_set(err, -EBADMSG, "layer %zu is %s in the manifest but %s in "
					  "the cirun metadata", content + 1,
					  m->layers[content].digest, l->digest);
		free(l->media_type);
		l->media_type = xstrdup(m->layers[content].media_type);
		l->size = m->layers[content].size;
		content++;
	}
	if (content != m->nlayers)
		return errbuf_set(err, -EBADMSG, "the manifest lists %zu layers, the cirun metadata "
				  "%zu", m->nlayers, claimed);
	return 0;
}

static int find_by_id(struct image_store *st, const struct image_ref *refs, size_t n,
		      const char *prefix, struct image *img, struct errbuf *err)
{
	const char *want = strncmp(prefix, "sha256:", 7) == 0 ? prefix + 7 : prefix;
	_cleanup_free_ char *match = NULL;

	for (size_t i = 0; i < n; i++) {
		struct image tmp = { 0 };
		struct errbuf ignored = ERRBUF_INIT;
		if (load_image(st, refs[i].manifest_digest, &tmp, &ignored) >= 0 &&
		    strncmp(tmp.id, want, strlen(want)) == 0) {
			if (match && strcmp(match, refs[i].manifest_digest) != 0) {
				image_release(&tmp);
				return errbuf_set(err, -EINVAL, "image id '%s' is ambiguous: give "
						  "more digits", prefix);
			}
			free(match);
			match = xstrdup(refs[i].manifest_digest);
		}
		image_release(&tmp);
	}
	if (!match)
		return -ENOENT;
	return load_image(st, match, img, err);
}

int image_store_get(struct image_store *st, const char *name_or_id, struct image *ret,
		    struct errbuf *err)
{
	_cleanup_free_ char *name = NULL;
	struct image_ref *refs = NULL;
	size_t n = 0;
	struct errbuf name_err = ERRBUF_INIT;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = read_index(st, &refs, &n, err);
	if (r < 0)
		return r;
	if (image_ref_normalize(name_or_id, &name, &name_err) >= 0) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(refs[i].name, name) == 0) {
				r = load_image(st, refs[i].manifest_digest, ret, err);
				if (r >= 0)
					ret->name = xstrdup(name);
				goto out;
			}
		}
	}
	r = -ENOENT;
	if (is_hex_prefix(name_or_id))
		r = find_by_id(st, refs, n, name_or_id, ret, err);
	if (r == -ENOENT)
		errbuf_set(err, r, "no image '%s' in the store %s ('cirun images' lists them)",
			   name_or_id, st->dir);
out:
	if (r < 0)
		image_release(ret);
	image_refs_free(refs, n);
	return r;
}

int image_store_commit(struct image_store *st, const char *name, const struct image_meta *meta,
		       char **ret_id, struct errbuf *err)
{
	_cleanup_buf_ struct buf config = BUF_INIT(CONFIG_MAX_BYTES);
	_cleanup_buf_ struct buf manifest = BUF_INIT(MANIFEST_MAX_BYTES);
	_cleanup_free_ char *config_digest = NULL, *manifest_digest = NULL;
	int r;

	r = image_meta_to_config(meta, &config);
	if (r < 0)
		return errbuf_set(err, r, "cannot encode the image config: %s", strerror(-r));
	r = image_store_put_blob(st, config.data, config.len, &config_digest, err);
	if (r < 0)
		return r;
	r = image_meta_to_manifest(meta, config_digest, config.len, &manifest);
	if (r < 0)
		return errbuf_set(err, r, "cannot encode the image manifest: %s", strerror(-r));
	r = image_store_put_blob(st, manifest.data, manifest.len, &manifest_digest, err);
	if (r < 0)
		return r;
	r = image_store_set_ref(st, name, manifest_digest, manifest.len, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = xstrdup(config_digest + 7);
	return 0;
}

size_t image_blobs(const struct image *img, const char **out, size_t max)
{
	size_t n = 0;

	if (n < max)
		out[n++] = img->manifest_digest;
	if (n < max)
		out[n++] = img->manifest.config.digest;
	for (size_t i = 0; i < img->manifest.nlayers && n < max; i++)
		out[n++] = img->manifest.layers[i].digest;
	return n;
}

/* ---- garbage collection ---- */

static int mark_image(struct image_store *st, const char *manifest_digest, struct strset *keep,
		      struct errbuf *err)
{
	struct image img = { 0 };
	const char *blobs[4096];
	int r = load_image(st, manifest_digest, &img, err);

	if (r >= 0) {
		size_t n = image_blobs(&img, blobs, ELEMENTSOF(blobs));
		for (size_t i = 0; i < n; i++)
			strset_add(keep, blobs[i] + 7);
	}
	image_release(&img);
	return r;
}

/* Apparent bytes below (and of) name, without following symlinks or leaving the tree. */
static uint64_t tree_bytes(int at, const char *name, int depth)
{
	struct stat st;
	uint64_t n = 0;
	DIR *d;
	struct dirent *de;
	int fd;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || depth > 64 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n += tree_bytes(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	return n;
}

static void remove_counting(int at, const char *name, uint64_t *bytes)
{
	uint64_t n = tree_bytes(at, name, 0);

	if (rm_rf_at(at, name) >= 0)
		*bytes += n;
}

/* The builder's unpacked copies of layers ($CIRUN_HOME/build/layers/<hex>) go with their
 * blobs (all of them with everything: they are only a cache); half-unpacked ".tmp-" dirs
 * are leftovers, for the sweep. */
static void gc_unpacked_layers(struct image_store *st, const struct strset *keep, bool everything,
			       uint64_t *bytes)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;

	dir = xasprintf("%s/build/layers", st->home);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (sha256_hex_valid(de->d_name) && (everything || !strset_contains(keep, de->d_name)))
			remove_counting(dirfd(d), de->d_name, bytes);
	closedir(d);
}

/* Build cache entries ($CIRUN_HOME/build/cache/<key>: "digest diff_id size") whose layer
 * is no longer in the store can never be used again. */
static void prune_cache(struct image_store *st, uint64_t *bytes)
{
	_cleanup_free_ char *dir = xasprintf("%s/build/cache", st->home);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_buf_ struct buf line = BUF_INIT(4096);
		char digest[80];
		if (de->d_name[0] == '.' && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (buf_read_file(&line, p) >= 0 && sscanf(line.data, "%79s", digest) == 1 &&
		    image_store_has_blob(st, digest))
			continue;
		remove_counting(dirfd(d), de->d_name, bytes);
	}
	closedir(d);
}

static int gc_locked(struct image_store *st, bool everything, struct gc_stats *s,
		     struct errbuf *err)
{
	_cleanup_(strset_freep) struct strset *keep = strset_new();
	_cleanup_free_ char *blob_dir = path_in(st, "blobs/sha256");
	struct image_ref *refs = NULL;
	size_t n = 0;
	int r;
	DIR *d;
	struct dirent *de;

	r = read_index(st, &refs, &n, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = mark_image(st, refs[i].manifest_digest, keep, err);
		/* An image whose blobs cannot be read keeps everything: never delete on doubt. */
		if (r < 0)
			errbuf_prefix(err, "not collecting garbage, image '%s' is unreadable",
				      refs[i].name);
	}
	image_refs_free(refs, n);
	if (r < 0)
		return r;
	d = opendir(blob_dir);
	if (!d)
		return errbuf_set(err, negative_errno(), "cannot list '%s': %m", blob_dir);
	while ((de = readdir(d))) {
		struct stat stt;
		if (!sha256_hex_valid(de->d_name) || strset_contains(keep, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &stt, AT_SYMLINK_NOFOLLOW) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0) {
			s->blobs_removed++;
			s->bytes_removed += (uint64_t)stt.st_size;
		}
	}
	closedir(d);
	gc_unpacked_layers(st, keep, everything, &s->other_bytes);
	/* the views hosts other than the registry host were sent (installer/layer-view.h) */
	layer_view_gc(image_store_home(st), keep, everything, &s->other_bytes);
	/* what runs read of each layer before contacting hosts (installer/layer-index.h) */
	layer_index_gc(image_store_home(st), keep, &s->other_bytes);
	if (everything)
		prune_cache(st, &s->other_bytes);
	return 0;
}

static int collect(struct image_store *st, bool everything, struct gc_stats *stats,
		   struct errbuf *err)
{
	struct gc_stats s = { 0 };
	int lock_fd = -1, r;

	/* Exclusive: no build or load is adding blobs that nothing references yet. */
	r = lock_file(st, ".gc.lock", LOCK_EX, "builds and loads in progress", &lock_fd, err);
	if (r < 0)
		return r;
	image_store_sweep(st, everything, &s);
	r = gc_locked(st, everything, &s, err);
	if (stats)
		*stats = s;
	close(lock_fd);
	return r;
}

int image_store_gc(struct image_store *st, struct gc_stats *stats, struct errbuf *err)
{
	return collect(st, false, stats, err);
}

int image_store_prune(struct image_store *st, struct gc_stats *stats, struct errbuf *err)
{
	return collect(st, true, stats, err);
}

/* ---- leftovers of interrupted or crashed processes ---- */

struct leftover_dir {
	const char *dir;    /* under $CIRUN_HOME */
	const char *prefix; /* of the temporaries' names */
	bool pid_last;	    /* "<prefix><hex>-<pid>" rather than "<prefix><pid>-<random>" */
	bool mounts;	    /* may hold a RUN's overlay mounts */
};

static const struct leftover_dir leftover_dirs[] = {
	{ "images/tmp", BLOB_TMP_PREFIX, false, false },
	{ "build/tmp", BUILD_TMP_PREFIX, false, true },
	{ "build/layers", UNPACK_TMP_PREFIX, true, false },
};

/* The owner's PID in a temporary's name, 0 when the name carries none (older names). */
static pid_t owner_of(const char *name, const struct leftover_dir *ld)
{
	const char *p = name + strlen(ld->prefix);
	char *end;
	long pid;

	if (ld->pid_last) {
		p = strrchr(name, '-');
		if (!p)
			return 0;
		p++;
	}
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno || end == p || pid <= 0 || pid > INT32_MAX || (ld->pid_last ? *end != '\0' : *end != '-'))
		return 0;
	return (pid_t)pid;
}

static bool owner_gone(pid_t pid)
{
	return pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
}

/* A crashed build may leave its RUN overlays mounted: detach them before removing. */
static void unmount_scratch(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "run-", 4) == 0) {
			char merged[PATH_MAX];
			snprintf(merged, sizeof(merged), "/proc/self/fd/%d/%s/merged", dirfd(d),
				 de->d_name);
			umount2(merged, MNT_DETACH);
		}
	}
	closedir(d);
}

void image_store_sweep(struct image_store *st, bool everything, struct gc_stats *stats)
{
	for (size_t i = 0; i < ELEMENTSOF(leftover_dirs); i++) {
		const struct leftover_dir *ld = &leftover_dirs[i];
		_cleanup_free_ char *dir = xasprintf("%s/%s", st->home, ld->dir);
		uint64_t bytes = 0;
		DIR *d = opendir(dir);
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, ld->prefix, strlen(ld->prefix)) != 0 ||
			    !(everything || owner_gone(owner_of(de->d_name, ld))))
				continue;
			if (ld->mounts)
				unmount_scratch(dirfd(d), de->d_name);
			log_debug("removing '%s/%s', left by a process that is gone", dir, de->d_name);
			remove_counting(dirfd(d), de->d_name, &bytes);
		}
		closedir(d);
		if (stats)
			stats->other_bytes += bytes;
	}
}
