#include "layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "log.h"
#include "macro.h"
#include "name.h"


DEFINE_TRIVIAL_CLEANUP_FUNC(struct sha256 *, sha256_free)

/* A manifest lists every entry of a layer; 256 MiB is millions of files. */
#define MANIFEST_MAX (256u << 20)
#define MANIFEST_NAME "manifest"
#define TREE_NAME "tree"
#define PIPE_SIZE (1 << 20)
/* A store entry that does not match its manifest: the layer is sent again. */
#define STORE_DAMAGED (-EUCLEAN)

const char *agent_root(void)
{
	const char *r = getenv("CIRUN_AGENT_ROOT");
	return r && *r ? r : "/var/lib/cirun";
}

static char *store_dir(void)
{
	return xasprintf("%s/layers/unpacked", agent_root());
}

static char *entry_path(const char *digest, const char *suffix)
{
	return xasprintf("%s/layers/unpacked/%s%s", agent_root(), digest + 7, suffix);
}

/* The previous versions' cache: the compressed blob as it arrived. */
static char *old_blob_path(const char *digest)
{
	return xasprintf("%s/layers/%s", agent_root(), digest + 7);
}

/* ---- walking a tree in a fixed order ---- */

struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dfd, sorted: the manifest and its check walk the same order. */
static int list_sorted(int dfd, struct names *ret)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	struct dirent *de;
	DIR *d;

	ret->v = NULL;
	ret->n = 0;
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ret->v = xreallocarray(ret->v, ret->n + 1, sizeof(*ret->v));
		ret->v[ret->n++] = xstrdup(de->d_name);
	}
	int r = errno ? negative_errno() : 0;
	closedir(d);
	if (r < 0)
		names_free(ret);
	else if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), cmp_names);
	return r;
}

typedef int (*visit_fn)(const char *rel, const struct stat *st, void *data);

/* Calls fn for every entry below dfd, pre-order, names sorted; never follows a symlink. */
static int walk(int dfd, struct buf *rel, visit_fn fn, void *data)
{
	struct names ns;
	size_t len = rel->len;
	int r = list_sorted(dfd, &ns);

	for (size_t i = 0; r >= 0 && i < ns.n; i++) {
		struct stat st;
		buf_truncate(rel, len);
		if ((len && buf_putc(rel, '/') < 0) || buf_puts(rel, ns.v[i]) < 0) {
			r = -ENAMETOOLONG;
			break;
		}
		if (fstatat(dfd, ns.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = negative_errno();
			break;
		}
		r = fn(rel->data, &st, data);
		if (r >= 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, ns.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = negative_errno();
				break;
			}
			r = walk(sub, rel, fn, data);
			close(sub);
		}
	}
	buf_truncate(rel, len);
	names_free(&ns);
	return r;
}

/* ---- the sealed manifest ---- */

static char type_char(mode_t m)
{
	return S_ISDIR(m) ? 'd' : S_ISREG(m) ? 'f' : S_ISLNK(m) ? 'l' : S_ISFIFO(m) ? 'p' : '?';
}

/* One entry as the manifest has it: what a stat tells cheaply. A directory's size is the
 * filesystem's business, so left out. */
static int put_record(struct buf *b, const char *rel, const struct stat *st)
{
	int r = buf_printf(b, "%c %o %u %u %llu %lld.%09ld %s", type_char(st->st_mode),
			   (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
			   S_ISDIR(st->st_mode) ? 0ULL : (unsigned long long)st->st_size,
			   (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, rel);
	return r < 0 ? r : buf_putc(b, '\0');
}

struct manifest_writer {
	struct buf *out;
	size_t count;
};

static int record_entry(const char *rel, const struct stat *st, void *data)
{
	struct manifest_writer *w = data;

	w->count++;
	return put_record(w->out, rel, st) < 0 ? -E2BIG : 0;
}

/* Writes entry/manifest for entry/tree: every entry's record, then "seal COUNT SHA256"
 * over what precedes it, so a manifest cut short or edited is seen. */
static int manifest_write(int entryfd, struct errbuf *err)
{
	_cleanup_buf_ struct buf out = BUF_INIT(MANIFEST_MAX);
	_cleanup_buf_ struct buf rel = BUF_INIT(PATH_MAX);
	_cleanup_close_ int tree = openat(entryfd, TREE_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC);
	struct manifest_writer w = { .out = &out };
	char hex[SHA256_HEX_SIZE];
	int r;

	if (tree < 0)
		return errbuf_set(err, negative_errno(), "cannot open the unpacked layer: %m");
	r = walk(tree, &rel, record_entry, &w);
	if (r < 0)
		return errbuf_set(err, r, "listing the unpacked layer failed: %s", strerror(-r));
	r = sha256_buf(out.data, out.len, hex);
	if (r >= 0 && (buf_printf(&out, "seal %zu %s", w.count, hex) < 0 || buf_putc(&out, '\0') < 0))
		r = -E2BIG;
	if (r >= 0)
		r = write_file_atomic_at(entryfd, MANIFEST_NAME, out.data, out.len, 0600);
	if (r < 0)
		return errbuf_set(err, r, "writing the layer's manifest failed: %s", strerror(-r));
	return 0;
}

/* Reads entry/manifest and checks its seal; ret_body gets the records (without the seal),
 * ret_count their number. */
static int manifest_read(int entryfd, struct buf *b, size_t *ret_len, size_t *ret_count,
			 struct errbuf *err)
{
	_cleanup_close_ int fd = openat(entryfd, MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char hex[SHA256_HEX_SIZE], sealed[SHA256_HEX_SIZE];
	const char *seal;
	size_t count, body;
	int r;

	if (fd < 0)
		return errbuf_set(err, STORE_DAMAGED, "it has no manifest (%m)");
	r = buf_read_fd(b, fd);
	if (r < 0)
		return errbuf_set(err, STORE_DAMAGED, "its manifest cannot be read: %s", strerror(-r));
	if (b->len < 2 || b->data[b->len - 1] != '\0')
		return errbuf_set(err, STORE_DAMAGED, "its manifest is cut short");
	seal = memrchr(b->data, '\0', b->len - 1);
	seal = seal ? seal + 1 : b->data;
	body = (size_t)(seal - b->data);
	if (sscanf(seal, "seal %zu %64[0-9a-f]", &count, sealed) != 2 || strlen(sealed) != 64)
		return errbuf_set(err, STORE_DAMAGED, "its manifest has no seal");
	r = sha256_buf(b->data, body, hex);
	if (r < 0)
		return errbuf_set(err, r, "cannot hash the manifest");
	if (strcmp(hex, sealed) != 0)
		return errbuf_set(err, STORE_DAMAGED, "its manifest does not match its seal");
	*ret_len = body;
	*ret_count = count;
	return 0;
}

struct manifest_check {
	const char *body;
	size_t len, at, seen;
	struct buf rec;
	char *bad; /* the first entry that differs */
};

static int check_entry(const char *rel, const struct stat *st, void *data)
{
	struct manifest_check *c = data;

	buf_reset(&c->rec);
	if (put_record(&c->rec, rel, st) < 0)
		return -E2BIG;
	c->seen++;
	if (c->at + c->rec.len > c->len || memcmp(c->body + c->at, c->rec.data, c->rec.len) != 0) {
		c->bad = xstrdup(rel);
		return STORE_DAMAGED;
	}
	c->at += c->rec.len;
	return 0;
}

/* Whether entry/tree is what was unpacked: the same entries with the same type, mode,
 * owner, size and mtime. A cheap check (a stat per entry, no data read): it finds a
 * file added, removed, cut short or grown, re-chmodded, re-owned or written to in
 * place, not bytes changed in place by someone who then restores size and mtime. */
static int manifest_verify(int entryfd, struct errbuf *err)
{
	_cleanup_buf_ struct buf m = BUF_INIT(MANIFEST_MAX);
	_cleanup_buf_ struct buf rel = BUF_INIT(PATH_MAX);
	_cleanup_close_ int tree = openat(entryfd, TREE_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC);
	struct manifest_check c = { .rec = BUF_INIT(PATH_MAX + 128) };
	size_t count;
	int r = manifest_read(entryfd, &m, &c.len, &count, err);

	if (r < 0)
		return r;
	if (tree < 0)
		return errbuf_set(err, STORE_DAMAGED, "its tree cannot be opened (%m)");
	c.body = m.data;
	r = walk(tree, &rel, check_entry, &c);
	if (r == STORE_DAMAGED)
		errbuf_set(err, r, "'%s' is not as it was unpacked (type, mode, owner, size or mtime "
			   "changed, or it is new)", c.bad);
	else if (r < 0)
		errbuf_set(err, r, "checking it failed: %s", strerror(-r));
	else if (c.at != c.len || c.seen != count)
		r = errbuf_set(err, STORE_DAMAGED, "%zu of its %zu entries are left", c.seen, count);
	free(c.bad);
	buf_release(&c.rec);
	return r;
}

/* ---- unpacking, one pass ---- */

struct unpack {
	int fd;		/* the layer stream */
	char *tree;	/* where it is unpacked */
	int r;
	struct errbuf err;
	char hex[SHA256_HEX_SIZE]; /* the digest of every byte read from fd */
};

/* Feeds what is left of fd to h: a layer whose unpack stopped early is still judged by
 * the digest of all its bytes, and a writer into a pipe never blocks on a reader gone. */
static int hash_rest(int fd, struct sha256 *h)
{
	_cleanup_free_ char *chunk = xmalloc(1 << 20);

	for (;;) {
		ssize_t n = read(fd, chunk, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			return 0;
		int r = sha256_update(h, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
}

static void unpack_run(struct unpack *u)
{
	_cleanup_(sha256_freep) struct sha256 *h = NULL;
	int hr;

	u->r = sha256_new(&h);
	if (u->r < 0) {
		errbuf_set(&u->err, u->r, "cannot start a digest");
		return;
	}
	u->r = layer_unpack_store_fd(u->tree, u->fd, h, NULL, &u->err);
	hr = hash_rest(u->fd, h);
	if (hr >= 0)
		hr = sha256_final(h, u->hex);
	if (hr < 0 && u->r >= 0)
		u->r = errbuf_set(&u->err, hr, "reading the layer stream failed: %s", strerror(-hr));
	if (hr < 0)
		u->hex[0] = '\0';
}

static void *unpack_thread(void *data)
{
	unpack_run(data);
	return NULL;
}

/* Makes dir/<hex>.partial/tree, empty. */
static int partial_make(const char *digest, char **ret_partial, struct errbuf *err)
{
	_cleanup_free_ char *dir = store_dir();
	_cleanup_free_ char *partial = entry_path(digest, ".partial");
	_cleanup_free_ char *tree = xasprintf("%s/" TREE_NAME, partial);
	int r = mkdir_p(dir, 0700);

	if (r < 0)
		return errbuf_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
	/* left by an interrupted transfer: garbage */
	rm_rf_at(AT_FDCWD, partial);
	if (mkdir(partial, 0700) < 0 || mkdir(tree, 0755) < 0)
		return errbuf_set(err, negative_errno(), "cannot create '%s': %m", tree);
	*ret_partial = TAKE_PTR(partial);
	return 0;
}

/* A layer whose content is refused is kept as <hex>.invalid, holding the reason. */
static int invalid_record(const char *digest, const char *why, struct errbuf *err)
{
	_cleanup_free_ char *p = entry_path(digest, ".invalid");
	int r = write_file_atomic(p, why, strlen(why), 0600);

	if (r < 0)
		return errbuf_set(err, r, "storing layer %s: %s", digest, strerror(-r));
	return 0;
}

/* The reason an invalid layer was refused; -ENOENT when it is not one. */
static int invalid_reason(const char *digest, struct errbuf *err)
{
	_cleanup_free_ char *p = entry_path(digest, ".invalid");
	_cleanup_buf_ struct buf b = BUF_INIT(ERRBUF_MSG_MAX);
	int r = buf_read_file(&b, p);

	if (r == -ENOENT)
		return r;
	return errbuf_set(err, -EBADMSG, "%s", r < 0 ? "its content was refused" : b.data);
}

/* The end of an unpack: the digest must match, then the manifest seals the entry and it
 * is renamed into place. On failure the partial entry is removed. */
static int partial_seal(const char *digest, const char *partial, const struct unpack *u,
			struct errbuf *err)
{
	_cleanup_free_ char *final = entry_path(digest, "");
	_cleanup_close_ int fd = -1;
	int r;

	if (u->hex[0] && strcmp(u->hex, digest + 7) != 0) {
		r = errbuf_set(err, -EBADMSG, "layer %s arrived corrupt (its content is sha256:%s); "
			       "it was refused", digest, u->hex);
		goto out;
	}
	/* Right bytes, refused content: recorded (sending it again cannot help); assembly
	 * reports it as the image's fault, as it always did. */
	if (u->r == -EBADMSG && u->hex[0]) {
		r = invalid_record(digest, errbuf_msg(&u->err), err);
		goto out;
	}
	if (u->r < 0) {
		*err = u->err;
		r = errbuf_prefix(err, "layer %s", digest);
		if (r == -ENOSPC || r == -EDQUOT)
			errbuf_prefix(err, "the host's disk is full under %s, its rootfs is left as "
				      "it was", agent_root());
		goto out;
	}
	fd = open(partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? errbuf_set(err, negative_errno(), "cannot open '%s': %m", partial)
		   : manifest_write(fd, err);
	if (r < 0) {
		errbuf_prefix(err, "layer %s", digest);
		goto out;
	}
	/* an entry left unsealed or damaged by someone: replaced */
	rm_rf_at(AT_FDCWD, final);
	if (rename(partial, final) < 0)
		r = errbuf_set(err, negative_errno(), "storing layer %s: %m", digest);
	else
		return 0;
out:
	/* not placed (refused, failed or recorded invalid): nothing of it stays */
	rm_rf_at(AT_FDCWD, partial);
	return r;
}

/* Unpacks a whole file into the store (a blob of the previous versions' cache). */
static int unpack_file(const char *digest, const char *path, struct errbuf *err)
{
	_cleanup_free_ char *partial = NULL;
	struct unpack u = { .fd = -1 };
	int r = partial_make(digest, &partial, err);

	if (r < 0)
		return r;
	u.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (u.fd < 0) {
		r = errbuf_set(err, negative_errno(), "cannot open '%s': %m", path);
		rm_rf_at(AT_FDCWD, partial);
		return r;
	}
	u.tree = xasprintf("%s/" TREE_NAME, partial);
	unpack_run(&u);
	close(u.fd);
	r = partial_seal(digest, partial, &u, err);
	free(u.tree);
	return r;
}

/* ---- held layers ---- */

static int entry_verify(const char *digest, bool whole, struct errbuf *err)
{
	_cleanup_free_ char *p = entry_path(digest, "");
	_cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_buf_ struct buf m = BUF_INIT(MANIFEST_MAX);
	size_t len, count;

	if (fd < 0)
		return errbuf_set(err, -ENOENT, "layer %s is not in the host's layer store", digest);
	return whole ? manifest_verify(fd, err) : manifest_read(fd, &m, &len, &count, err);
}

/* A previous version's cached blob: unpacked into the store once, then dropped. */
static bool migrate_old_blob(const char *digest, uint64_t size)
{
	_cleanup_free_ char *old = old_blob_path(digest);
	struct errbuf err = ERRBUF_INIT;
	struct stat st;
	int r;

	if (lstat(old, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	r = (uint64_t)st.st_size == size ? unpack_file(digest, old, &err) : -EBADMSG;
	if (r < 0 && err.code)
		log_warning("the cached layer %s of a previous version was not kept: %s", digest,
			    errbuf_msg(&err));
	else if (r >= 0)
		log_info("moved the cached layer %s into the layer store", digest);
	unlink(old);
	return r >= 0;
}

bool layer_cache_has(const char *digest, uint64_t size)
{
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *partial = NULL, *final = NULL;

	if (!digest_ref_valid(digest))
		return false;
	if (entry_verify(digest, false, &err) >= 0 || invalid_reason(digest, &err) != -ENOENT)
		return true;
	/* half-written (never sealed) or a seal broken: not held, sent again */
	partial = entry_path(digest, ".partial");
	final = entry_path(digest, "");
	rm_rf_at(AT_FDCWD, partial);
	rm_rf_at(AT_FDCWD, final);
	return migrate_old_blob(digest, size);
}

/* ---- receiving: hashed and unpacked as the bytes arrive ---- */

struct layer_upload {
	char *digest;
	char *partial;
	uint64_t size, got;
	int wfd; /* feeds the unpacking thread */
	bool running;
	pthread_t thread;
	struct unpack u;
};

/* Stops the unpacking thread: it sees the end of the stream (short when aborted). */
static void upload_join(struct layer_upload *u)
{
	if (u->wfd >= 0)
		close(u->wfd);
	u->wfd = -1;
	if (u->running)
		pthread_join(u->thread, NULL);
	u->running = false;
	if (u->u.fd >= 0)
		close(u->u.fd);
	u->u.fd = -1;
}

void layer_upload_abort(struct layer_upload *u)
{
	if (!u)
		return;
	upload_join(u);
	if (u->partial)
		rm_rf_at(AT_FDCWD, u->partial);
	free(u->partial);
	free(u->u.tree);
	free(u->digest);
	free(u);
}

static int upload_start(struct layer_upload *u, struct errbuf *err)
{
	sigset_t all, old;
	int fds[2], r;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return errbuf_set(err, negative_errno(), "cannot make a pipe: %m");
	u->u.fd = fds[0];
	u->wfd = fds[1];
	/* fewer wake-ups; the default size is fine too */
	(void)fcntl(u->wfd, F_SETPIPE_SZ, PIPE_SIZE);
	/* signals stay with the thread that serves the connection */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&u->thread, NULL, unpack_thread, &u->u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return errbuf_set(err, r, "cannot start unpacking: %s", strerror(-r));
	u->running = true;
	return 0;
}

int layer_upload_begin(const char *digest, uint64_t size, struct layer_upload **ret,
		       struct errbuf *err)
{
	struct layer_upload *u;
	int r;

	if (!digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "'%s' is not a sha256 digest", digest);
	_cleanup_free_ char *invalid = entry_path(digest, ".invalid");
	unlink(invalid);
	u = xcalloc(1, sizeof(*u));
	u->digest = xstrdup(digest);
	u->size = size;
	u->wfd = -1;
	u->u.fd = -1;
	r = partial_make(digest, &u->partial, err);
	if (r >= 0) {
		u->u.tree = xasprintf("%s/" TREE_NAME, u->partial);
		r = upload_start(u, err);
	}
	if (r < 0) {
		layer_upload_abort(u);
		return r;
	}
	*ret = u;
	return 0;
}

int layer_upload_data(struct layer_upload *u, const void *data, size_t n, struct errbuf *err)
{
	const char *p = data;

	if (u->got + n > u->size)
		return errbuf_set(err, -EBADMSG, "layer %s: more data than its %llu bytes", u->digest,
				  (unsigned long long)u->size);
	u->got += n;
	while (n > 0) {
		ssize_t w = write(u->wfd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errbuf_set(err, negative_errno(), "layer %s: handing data to the "
					  "unpacking failed: %m", u->digest);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int layer_upload_end(struct layer_upload *u, struct errbuf *err)
{
	int r;

	upload_join(u);
	if (u->got != u->size)
		r = errbuf_set(err, -EBADMSG, "layer %s: %llu of %llu bytes arrived", u->digest,
			       (unsigned long long)u->got, (unsigned long long)u->size);
	else
		r = partial_seal(u->digest, u->partial, &u->u, err);
	if (r >= 0) {
		free(u->partial);
		u->partial = NULL;
	}
	layer_upload_abort(u);
	return r;
}

/* ---- assembly: hard links to the unpacked layers ---- */

struct assembly {
	struct layer_stats st;
	struct buf rel; /* the entry at hand, for messages */
	struct errbuf *err;
};

static int assembly_fail(struct assembly *as, int r, const char *name, const char *what)
{
	if (r == -EXDEV)
		return errbuf_set(as->err, r, "'%s%s%s': %s: the layer store and the rootfs must be on "
				  "one filesystem (%s)", as->rel.data, as->rel.len ? "/" : "", name, what,
				  agent_root());
	return errbuf_set(as->err, r, "'%s%s%s': %s: %s", as->rel.data, as->rel.len ? "/" : "", name,
			  what, strerror(-r));
}

static int clear_dir(int dfd)
{
	struct names ns;
	int r = list_sorted(dfd, &ns);

	for (size_t i = 0; r >= 0 && i < ns.n; i++)
		r = rm_rf_at(dfd, ns.v[i]);
	names_free(&ns);
	return r;
}

/* The markers of one directory of a layer, applied to what the layers below put in sd. */
static int apply_markers(struct assembly *as, int sd, const struct names *ns)
{
	const size_t plen = strlen(LAYER_WH_PREFIX);

	for (size_t i = 0; i < ns->n; i++) {
		const char *name = ns->v[i], *target = name + plen;
		int r;

		if (strncmp(name, LAYER_WH_PREFIX, plen) != 0)
			continue;
		as->st.whiteouts++;
		if (strcmp(name, LAYER_WH_OPAQUE) == 0) {
			r = clear_dir(sd);
			if (r < 0)
				return assembly_fail(as, r, "", "making it opaque failed");
			continue;
		}
		/* refused at unpacking; checked again as the name is about to be removed */
		if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0 ||
		    strncmp(target, LAYER_WH_PREFIX, plen) == 0)
			return errbuf_set(as->err, STORE_DAMAGED, "'%s' is not a valid whiteout", name);
		r = rm_rf_at(sd, target);
		if (r < 0)
			return assembly_fail(as, r, target, "removing it (a whiteout) failed");
	}
	return 0;
}

static int copy_xattrs(int from, int to)
{
	_cleanup_free_ char *list = NULL, *value = NULL;
	ssize_t n = flistxattr(from, NULL, 0);

	if (n <= 0)
		return n < 0 && errno != ENOTSUP ? negative_errno() : 0;
	list = xmalloc((size_t)n);
	n = flistxattr(from, list, (size_t)n);
	if (n < 0)
		return negative_errno();
	value = xmalloc(XATTR_SIZE_MAX);
	for (char *name = list; name < list + n; name += strlen(name) + 1) {
		ssize_t v = fgetxattr(from, name, value, XATTR_SIZE_MAX);
		if (v < 0 || fsetxattr(to, name, value, (size_t)v, 0) < 0)
			return negative_errno();
	}
	return 0;
}

/* A directory is made, not linked: its owner, mode, xattrs and times are copied once its
 * content is in. */
static int copy_dir_meta(int from, int to, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (geteuid() == 0 && fchown(to, st->st_uid, st->st_gid) < 0)
		return negative_errno();
	if (fchmod(to, st->st_mode & 07777) < 0)
		return negative_errno();
	int r = copy_xattrs(from, to);
	if (r < 0)
		return r;
	return RET_NERRNO(futimens(to, ts));
}

static int assemble_dir(struct assembly *as, int sd, int ld);

static int assemble_subdir(struct assembly *as, int sd, int ld, const char *name,
			   const struct stat *lst)
{
	_cleanup_close_ int lsub = -1, ssub = -1;
	size_t len = as->rel.len;
	struct stat sst;
	int r;

	if (fstatat(sd, name, &sst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sst.st_mode)) {
		r = rm_rf_at(sd, name);
		if (r < 0)
			return assembly_fail(as, r, name, "replacing what lower layers had failed");
	}
	if (mkdirat(sd, name, 0700) < 0 && errno != EEXIST)
		return assembly_fail(as, negative_errno(), name, "cannot create it");
	lsub = openat(ld, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ssub = openat(sd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lsub < 0 || ssub < 0)
		return assembly_fail(as, negative_errno(), name, "cannot open it");
	if ((len && buf_putc(&as->rel, '/') < 0) || buf_puts(&as->rel, name) < 0)
		return errbuf_set(as->err, -ENAMETOOLONG, "a path is too long");
	r = assemble_dir(as, ssub, lsub);
	buf_truncate(&as->rel, len);
	if (r < 0)
		return r;
	r = copy_dir_meta(lsub, ssub, lst);
	if (r < 0)
		return assembly_fail(as, r, name, "setting its owner, mode, xattrs or times failed");
	as->st.entries++;
	return 0;
}

/* Places one directory of a layer over sd: its markers first (they concern only the
 * layers below, whose entries are all sd holds so far), then its entries, each file a
 * hard link to the store. */
static int assemble_dir(struct assembly *as, int sd, int ld)
{
	struct names ns;
	int r = list_sorted(ld, &ns);

	if (r < 0)
		return assembly_fail(as, r, "", "cannot list it in the layer store");
	r = apply_markers(as, sd, &ns);
	for (size_t i = 0; r >= 0 && i < ns.n; i++) {
		const char *name = ns.v[i];
		struct stat lst;

		if (strncmp(name, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0)
			continue;
		if (fstatat(ld, name, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
			r = assembly_fail(as, negative_errno(), name, "cannot look it up in the layer store");
			break;
		}
		if (S_ISDIR(lst.st_mode)) {
			r = assemble_subdir(as, sd, ld, name, &lst);
			continue;
		}
		r = rm_rf_at(sd, name);
		if (r < 0) {
			r = assembly_fail(as, r, name, "replacing what lower layers had failed");
			break;
		}
		if (linkat(ld, name, sd, name, 0) < 0) {
			r = assembly_fail(as, negative_errno(), name, "cannot link it");
			break;
		}
		as->st.entries++;
		if (S_ISREG(lst.st_mode))
			as->st.bytes_out += (uint64_t)lst.st_size;
	}
	names_free(&ns);
	return r;
}

static int assemble_layer(const char *staging, const char *digest, struct layer_stats *total,
			  struct errbuf *err)
{
	_cleanup_free_ char *tree = entry_path(digest, "/" TREE_NAME);
	_cleanup_close_ int sd = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int ld = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct assembly as = { .rel = BUF_INIT(PATH_MAX), .err = err };
	int r;

	if (sd < 0 || ld < 0)
		return errbuf_set(err, negative_errno(), "layer %s: cannot open '%s': %m", digest,
				  sd < 0 ? staging : tree);
	r = assemble_dir(&as, sd, ld);
	buf_release(&as.rel);
	if (r < 0)
		return errbuf_prefix(err, "layer %s", digest);
	total->entries += as.st.entries;
	total->whiteouts += as.st.whiteouts;
	total->bytes_out += as.st.bytes_out;
	return 0;
}

/* Puts staging where rootfs is: an atomic exchange when there is an old one. */
static int swap_in(const char *staging, const char *rootfs, struct errbuf *err)
{
	if (rename(staging, rootfs) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return errbuf_set(err, negative_errno(), "cannot move the new rootfs to '%s': %m", rootfs);
	if (syscall(SYS_renameat2, AT_FDCWD, staging, AT_FDCWD, rootfs, RENAME_EXCHANGE) < 0)
		return errbuf_set(err, negative_errno(), "cannot swap in the new rootfs at '%s': %m",
				  rootfs);
	/* staging now holds the old tree */
	int r = rm_rf_at(AT_FDCWD, staging);
	if (r < 0)
		return errbuf_set(err, r, "removing the old rootfs '%s' failed", staging);
	return 0;
}

/* Every layer is checked against its manifest before any is used: a damaged one leaves
 * the store and is reported, so the sender sends it again. */
static int verify_all(char *const *digests, size_t n, struct layer_fault_info *ret_fault,
		      struct errbuf *err)
{
	for (size_t i = 0; i < n; i++) {
		int r = invalid_reason(digests[i], err);
		if (r != -ENOENT) {
			if (ret_fault) {
				ret_fault->fault = LAYER_FAULT_INVALID;
				ret_fault->digest = xstrdup(digests[i]);
			}
			return r;
		}
		errbuf_clear(err);
		r = entry_verify(digests[i], true, err);
		if (r == STORE_DAMAGED) {
			_cleanup_free_ char *p = entry_path(digests[i], "");
			rm_rf_at(AT_FDCWD, p);
			if (ret_fault) {
				ret_fault->fault = LAYER_FAULT_CORRUPT;
				ret_fault->digest = xstrdup(digests[i]);
			}
			errbuf_prefix(err, "its unpacked copy was damaged, removed it");
			/* the fault's code on the wire, as for any layer at fault */
			err->code = -EBADMSG;
			return err->code;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Entries left .partial by an agent that was killed mid-layer (sshd or logind may end it
 * with the connection): garbage once a rootfs was assembled, whatever digest they are
 * for. One cirun run per host at a time: another's live upload would be removed. */
static void sweep_partials(void)
{
	_cleanup_free_ char *dir = store_dir();
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct names ns;
	const char *dot;

	if (dfd < 0 || list_sorted(dfd, &ns) < 0)
		return;
	for (size_t i = 0; i < ns.n; i++)
		if ((dot = strchr(ns.v[i], '.')) && strcmp(dot, ".partial") == 0)
			rm_rf_at(dfd, ns.v[i]);
	names_free(&ns);
}

int rootfs_assemble(const char *cluster, char *const *digests, size_t n,
		    struct layer_fault_info *ret_fault, struct layer_stats *stats, struct errbuf *err)
{
	_cleanup_free_ char *dir = NULL, *staging = NULL, *rootfs = NULL;
	struct layer_stats total = { 0 };
	int r;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid ([a-z0-9._-])", cluster);
	r = verify_all(digests, n, ret_fault, err);
	if (r < 0)
		return r;
	dir = xasprintf("%s/data/%s", agent_root(), cluster);
	staging = xasprintf("%s/.rootfs-staging", dir);
	rootfs = xasprintf("%s/rootfs", dir);
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return errbuf_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
	/* a staging dir left by an interrupted run is garbage */
	rm_rf_at(AT_FDCWD, staging);
	if (mkdir(staging, 0755) < 0)
		return errbuf_set(err, negative_errno(), "cannot create '%s': %m", staging);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = assemble_layer(staging, digests[i], &total, err);
	if (r >= 0)
		r = swap_in(staging, rootfs, err);
	if (r < 0) {
		rm_rf_at(AT_FDCWD, staging);
		return r;
	}
	sweep_partials();
	if (stats)
		*stats = total;
	return 0;
}
