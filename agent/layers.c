#include "layers.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "macro.h"
#include "name.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct sha256 *, sha256_free)

struct layer_upload {
	char *digest;
	char *tmp;
	int fd;
	uint64_t size, got;
	struct sha256 *hash;
};

const char *agent_root(void)
{
	const char *r = getenv("CIRUN_AGENT_ROOT");
	return r && *r ? r : "/var/lib/cirun";
}

static char *layer_path(const char *digest)
{
	char *p;
	p = xasprintf("%s/layers/%s", agent_root(), digest + 7);
	return p;
}

bool layer_cache_has(const char *digest, uint64_t size)
{
	_cleanup_free_ char *p = NULL;
	struct stat st;

	if (!digest_ref_valid(digest))
		return false;
	p = layer_path(digest);
	return lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

void layer_upload_abort(struct layer_upload *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmp)
		unlink(u->tmp);
	free(u->tmp);
	free(u->digest);
	sha256_free(u->hash);
	free(u);
}

int layer_upload_begin(const char *digest, uint64_t size, struct layer_upload **ret,
		       struct errbuf *err)
{
	struct layer_upload *u;
	_cleanup_free_ char *dir = NULL;
	int r;

	if (!digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "'%s' is not a sha256 digest", digest);
	dir = xasprintf("%s/layers", agent_root());
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return errbuf_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
	u = xcalloc(1, sizeof(*u));
	u->digest = xstrdup(digest);
	u->size = size;
	u->tmp = xasprintf("%s/.tmp-XXXXXX", dir);
	u->fd = mkostemp(u->tmp, O_CLOEXEC);
	if (u->fd < 0) {
		r = errbuf_set(err, negative_errno(), "cannot create a file in '%s': %m", dir);
		free(u->tmp);
		u->tmp = NULL;
		layer_upload_abort(u);
		return r;
	}
	r = sha256_new(&u->hash);
	if (r < 0) {
		layer_upload_abort(u);
		return errbuf_set(err, r, "cannot start a digest");
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
	sha256_update(u->hash, data, n);
	u->got += n;
	while (n > 0) {
		ssize_t w = write(u->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errbuf_set(err, negative_errno(), "writing layer %s: %m (disk full?)",
					  u->digest);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int layer_upload_end(struct layer_upload *u, struct errbuf *err)
{
	char hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *final = layer_path(u->digest);
	int r;

	if (u->got != u->size) {
		r = errbuf_set(err, -EBADMSG, "layer %s: %llu of %llu bytes arrived", u->digest,
			       (unsigned long long)u->got, (unsigned long long)u->size);
		goto out;
	}
	r = sha256_final(u->hash, hex);
	if (r >= 0 && strcmp(hex, u->digest + 7) != 0)
		r = errbuf_set(err, -EBADMSG, "layer %s arrived corrupt (its content is sha256:%s); "
			       "it was refused", u->digest, hex);
	if (r >= 0 && fsync(u->fd) < 0)
		r = errbuf_set(err, negative_errno(), "writing layer %s: %m", u->digest);
	if (r >= 0 && rename(u->tmp, final) < 0)
		r = errbuf_set(err, negative_errno(), "storing layer %s: %m", u->digest);
	if (r >= 0) {
		free(u->tmp);
		u->tmp = NULL;
	}
out:
	layer_upload_abort(u);
	return r;
}

/* Feeds what is left of fd to h: a layer whose apply stopped early is still judged by
 * the digest of all its bytes. */
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

/* What a failed apply says about a layer whose bytes match its digest: a refusal of its
 * content (layer.c's -EBADMSG, which no OS error carries) makes it invalid; anything else
 * is the host's trouble (disk full, I/O). */
static bool content_refused(int r)
{
	return r == -EBADMSG;
}

static int apply_verified(const char *staging, const char *digest, struct layer_stats *total,
			  int *ret_fault, struct errbuf *err)
{
	_cleanup_free_ char *p = layer_path(digest);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_(sha256_freep) struct sha256 *h = NULL;
	struct layer_stats st;
	char hex[SHA256_HEX_SIZE];
	int r, hr;

	if (fd < 0)
		return errbuf_set(err, -ENOENT, "layer %s is not in the host's cache", digest);
	r = sha256_new(&h);
	if (r < 0)
		return errbuf_set(err, r, "cannot start a digest for layer %s", digest);
	r = layer_apply_fd(staging, fd, h, &st, err);
	hr = r < 0 ? hash_rest(fd, h) : 0;
	if (hr >= 0)
		hr = sha256_final(h, hex);
	if (hr < 0)
		return errbuf_set(err, hr, "reading layer %s from the host's cache: %s", digest,
				  strerror(-hr));
	/* A layer that does not hash right is not used: it leaves the cache so the sender
	 * sends it again. */
	if (strcmp(hex, digest + 7) != 0) {
		unlink(p);
		*ret_fault = LAYER_FAULT_CORRUPT;
		return errbuf_set(err, -EBADMSG, "its content is sha256:%s; removed it", hex);
	}
	/* Right bytes, wrong content: kept (sending it again cannot help); the reason goes
	 * back as it is, the digest travels beside it. */
	if (r < 0 && content_refused(r)) {
		*ret_fault = LAYER_FAULT_INVALID;
		return r;
	}
	if (r < 0)
		return errbuf_prefix(err, "layer %s", digest);
	total->entries += st.entries;
	total->whiteouts += st.whiteouts;
	total->bytes_in += st.bytes_in;
	total->bytes_out += st.bytes_out;
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

int rootfs_assemble(const char *cluster, char *const *digests, size_t n,
		    struct layer_fault_info *ret_fault, struct layer_stats *stats, struct errbuf *err)
{
	_cleanup_free_ char *dir = NULL, *staging = NULL, *rootfs = NULL;
	struct layer_stats total = { 0 };
	int r;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid ([a-z0-9._-])", cluster);
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
	for (size_t i = 0; i < n; i++) {
		int fault = 0;
		r = apply_verified(staging, digests[i], &total, &fault, err);
		if (r < 0) {
			if (fault && ret_fault) {
				ret_fault->fault = fault;
				ret_fault->digest = xstrdup(digests[i]);
			}
			rm_rf_at(AT_FDCWD, staging);
			return r;
		}
	}
	r = swap_in(staging, rootfs, err);
	if (r < 0) {
		rm_rf_at(AT_FDCWD, staging);
		return r;
	}
	if (stats)
		*stats = total;
	return 0;
}
