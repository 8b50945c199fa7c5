#include "registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "json-writer.h"
#include "log.h"
#include "macro.h"
#include "ydoc.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

#define V2_DIR "docker/registry/v2"
#define ENTRY_NAME_MAX 4096
#define INDEX_DEPTH_MAX 4
#define SIZE_MAX_ACCEPTED (UINT64_C(1) << 50)

static uint64_t unpacked_max = REGISTRY_UNPACKED_MAX;
static uint64_t free_reserve = REGISTRY_FREE_RESERVE;

void registry_set_limits(uint64_t max, uint64_t reserve)
{
	unpacked_max = max;
	free_reserve = reserve;
}

static const struct ydoc_limits json_limits = {
	.max_bytes = REGISTRY_JSON_MAX,
	.max_depth = 32,
	.max_nodes = 200000,
};

/* ---- decoders ---- */

static bool is_manifest_type(const char *mt)
{
	return strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0;
}

static bool is_index_type(const char *mt)
{
	return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

static bool media_type_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct registry_desc *)0)->media_type))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static const char *str_field(const struct ynode *m, const char *key)
{
	const struct ynode *v = ynode_map_get(m, key);
	return v && ynode_kind(v) == YNODE_SCALAR && !ynode_is_null(v) ? ynode_str(v) : NULL;
}

static int parse_desc(const char *name, const char *what, const struct ynode *m,
		      struct registry_desc *d, struct errbuf *err)
{
	const char *mt, *dg;
	int64_t size;

	*d = (struct registry_desc){ .line = ynode_line(m) };
	if (ynode_kind(m) != YNODE_MAP)
		return errbuf_set(err, -EBADMSG, "%s:%u: %s is not an object", name, d->line, what);
	mt = str_field(m, "mediaType");
	dg = str_field(m, "digest");
	if (!mt || !media_type_valid(mt))
		return errbuf_set(err, -EBADMSG, "%s:%u: %s.mediaType is missing or invalid", name,
				  d->line, what);
	if (!dg || !digest_ref_valid(dg))
		return errbuf_set(err, -EBADMSG,
				  "%s:%u: %s.digest is not sha256: and 64 lower-case hex digits",
				  name, d->line, what);
	if (ynode_get_int(ynode_map_get(m, "size"), &size) < 0 || size < 0 ||
	    (uint64_t)size > SIZE_MAX_ACCEPTED)
		return errbuf_set(err, -EBADMSG, "%s:%u: %s.size is not a size in bytes", name,
				  d->line, what);
	strcpy(d->media_type, mt);
	strcpy(d->digest, dg);
	d->size = (uint64_t)size;
	return 0;
}

void registry_desc_list_release(struct registry_desc_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	*l = (struct registry_desc_list){ 0 };
}

static int parse_root(const char *name, const void *json, size_t len, struct ydoc **d,
		      struct errbuf *err)
{
	int r;

	if (len > REGISTRY_JSON_MAX)
		return errbuf_set(err, -E2BIG, "%s is larger than %u bytes", name, REGISTRY_JSON_MAX);
	r = ydoc_parse(name, json, len, &json_limits, d, err);
	if (r < 0)
		return r;
	if (ydoc_count(*d) != 1)
		return errbuf_set(err, -EBADMSG, "%s: not one JSON document", name);
	return 0;
}

static int check_schema2(const char *name, const struct ynode *root, struct errbuf *err)
{
	int64_t v;

	if (ynode_kind(root) != YNODE_MAP)
		return errbuf_set(err, -EBADMSG, "%s: not a JSON object", name);
	if (ynode_get_int(ynode_map_get(root, "schemaVersion"), &v) < 0 || v != 2)
		return errbuf_set(err, -EBADMSG, "%s:%u: schemaVersion is not 2", name,
				  ynode_line(root));
	return 0;
}

/* The name an index.json entry gives its image (see registry.h); NULL for none. */
static const char *desc_image_name(const struct ynode *m)
{
	const struct ynode *ann = ynode_map_get(m, "annotations");
	const char *n;

	if (!ann || ynode_kind(ann) != YNODE_MAP)
		return NULL;
	n = str_field(ann, "io.containerd.image.name");
	if (n)
		return n;
	n = str_field(ann, "org.opencontainers.image.ref.name");
	return n && strpbrk(n, "/:@") ? n : NULL;
}

static int parse_desc_seq(const char *name, const char *key, const struct ynode *seq,
			  bool names, struct registry_desc_list *ret, struct errbuf *err)
{
	struct registry_desc_list l = { 0 };
	char what[64];
	int r = 0;

	if (!seq || ynode_kind(seq) != YNODE_SEQ)
		return errbuf_set(err, -EBADMSG, "%s: no %s list", name, key);
	l.v = xcalloc(ynode_len(seq) + 1, sizeof(*l.v));
	for (size_t i = 0; r >= 0 && i < ynode_len(seq); i++) {
		const struct ynode *m = ynode_seq_at(seq, i);
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		r = parse_desc(name, what, m, &l.v[i], err);
		if (r >= 0)
			l.n++;
		if (r >= 0 && names && desc_image_name(m))
			l.v[i].name = xstrdup(desc_image_name(m));
	}
	if (r < 0) {
		registry_desc_list_release(&l);
		return r;
	}
	*ret = l;
	return 0;
}

int registry_parse_index(const char *name, const void *json, size_t len,
			 struct registry_desc_list *ret, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const struct ynode *root;
	int r = parse_root(name, json, len, &d, err);

	if (r < 0)
		return r;
	root = ydoc_root(d, 0);
	r = check_schema2(name, root, err);
	if (r < 0)
		return r;
	return parse_desc_seq(name, "manifests", ynode_map_get(root, "manifests"), true, ret, err);
}

int registry_parse_manifest(const char *name, const void *json, size_t len,
			    struct registry_desc *config, struct registry_desc_list *layers,
			    struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const struct ynode *root;
	int r = parse_root(name, json, len, &d, err);

	if (r < 0)
		return r;
	root = ydoc_root(d, 0);
	r = check_schema2(name, root, err);
	if (r < 0)
		return r;
	if (!ynode_map_get(root, "config"))
		return errbuf_set(err, -EBADMSG, "%s: no config", name);
	r = parse_desc(name, "config", ynode_map_get(root, "config"), config, err);
	if (r < 0)
		return r;
	return parse_desc_seq(name, "layers", ynode_map_get(root, "layers"), false, layers, err);
}

void registry_docker_manifest_release(struct registry_docker_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct registry_docker_image *im = &m->images[i];
		free(im->config);
		for (size_t j = 0; j < im->n_tags; j++)
			free(im->tags[j]);
		free(im->tags);
		for (size_t j = 0; j < im->n_layers; j++)
			free(im->layers[j]);
		free(im->layers);
	}
	free(m->images);
	*m = (struct registry_docker_manifest){ 0 };
}

static int str_list(const char *name, unsigned line, const char *key, const struct ynode *seq,
		    bool may_be_null, char ***ret, size_t *ret_n, struct errbuf *err)
{
	char **v;
	size_t n;

	*ret = NULL;
	*ret_n = 0;
	if (may_be_null && (!seq || (ynode_kind(seq) == YNODE_SCALAR && ynode_is_null(seq))))
		return 0;
	if (!seq || ynode_kind(seq) != YNODE_SEQ)
		return errbuf_set(err, -EBADMSG, "%s:%u: %s is not a list", name, line, key);
	n = ynode_len(seq);
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const struct ynode *s = ynode_seq_at(seq, i);
		if (ynode_kind(s) != YNODE_SCALAR || ynode_is_null(s) || !*ynode_str(s) ||
		    strlen(ynode_str(s)) > ENTRY_NAME_MAX) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return errbuf_set(err, -EBADMSG, "%s:%u: %s[%zu] is not a name", name,
					  ynode_line(s), key, i);
		}
		v[i] = xstrdup(ynode_str(s));
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int registry_parse_docker_manifest(const char *name, const void *json, size_t len,
				   struct registry_docker_manifest *ret, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct registry_docker_manifest m = { 0 };
	const struct ynode *root;
	int r = parse_root(name, json, len, &d, err);

	if (r < 0)
		return r;
	root = ydoc_root(d, 0);
	if (ynode_kind(root) != YNODE_SEQ || ynode_len(root) == 0)
		return errbuf_set(err, -EBADMSG, "%s: not a list of images", name);
	m.images = xcalloc(ynode_len(root), sizeof(*m.images));
	for (size_t i = 0; r >= 0 && i < ynode_len(root); i++) {
		const struct ynode *e = ynode_seq_at(root, i);
		struct registry_docker_image *im = &m.images[m.n++];
		const char *config = ynode_kind(e) == YNODE_MAP ? str_field(e, "Config") : NULL;

		im->line = ynode_line(e);
		if (!config || !*config || strlen(config) > ENTRY_NAME_MAX) {
			r = errbuf_set(err, -EBADMSG, "%s:%u: image %zu has no Config", name,
				       im->line, i);
			break;
		}
		im->config = xstrdup(config);
		r = str_list(name, im->line, "RepoTags", ynode_map_get(e, "RepoTags"), true,
			     &im->tags, &im->n_tags, err);
		if (r >= 0)
			r = str_list(name, im->line, "Layers", ynode_map_get(e, "Layers"), false,
				     &im->layers, &im->n_layers, err);
	}
	if (r < 0) {
		registry_docker_manifest_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- staging: every regular entry of the archive, hashed, in a private directory ---- */

struct staged {
	char *path; /* the entry's name, normalised */
	char hex[SHA256_HEX_SIZE];
	uint64_t size;
	char tmp[TMPNAME_SIZE];
};

struct blob {
	char hex[SHA256_HEX_SIZE];
	uint64_t size;
	struct staged *from; /* or data */
	char *data;
};

struct image {
	char *repo, *tag, *source;
	char hex[SHA256_HEX_SIZE]; /* the manifest (or index) the name points at */
	char pinned[IMGREF_DIGEST_SIZE]; /* the digest the name gave ("name@sha256:…"), or "" */
	char (*layers)[SHA256_HEX_SIZE];
	size_t n_layers;
	char (*revisions)[SHA256_HEX_SIZE];
	size_t n_revisions;
};

/* A link entry of the archive: never written anywhere, only a second name for a file of
 * the archive (skopeo's and older docker's `<id>/layer.tar -> ../<hex>.tar`). */
struct alias {
	char *path;
	char *target; /* the file it names, archive-relative; NULL when it points outside */
	const char *kind;
};

struct import {
	const char *root;
	const char *archive;
	int v2fd, stagefd;
	char stage_name[48];
	struct staged *e;
	size_t n;
	struct alias *aliases;
	size_t n_aliases;
	struct blob *blobs;
	size_t n_blobs;
	struct image *imgs;
	size_t n_imgs;
	uint64_t unpacked;   /* bytes staged so far */
	uint64_t limit;	     /* what they may come to */
	const char *limit_why;
};

/* "./a//b/c" → "a/b/c"; "..", absolute names and empty results are refused. */
static int entry_name_normalize(const char *in, char **ret)
{
	_cleanup_buf_ struct buf out = BUF_INIT(ENTRY_NAME_MAX);
	const char *p = in;

	if (!in || in[0] == '/')
		return -EINVAL;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if ((out.len && buf_putc(&out, '/') < 0) || buf_append(&out, p, n) < 0)
				return -ENAMETOOLONG;
		}
		p += n + (p[n] == '/');
	}
	if (out.len == 0)
		return -EINVAL;
	*ret = buf_detach(&out, NULL);
	return 0;
}

static struct staged *find_entry(struct import *imp, const char *path)
{
	_cleanup_free_ char *norm = NULL;

	if (entry_name_normalize(path, &norm) < 0)
		return NULL;
	for (size_t i = 0; i < imp->n; i++)
		if (strcmp(imp->e[i].path, norm) == 0)
			return &imp->e[i];
	return NULL;
}

static struct alias *find_alias(struct import *imp, const char *path)
{
	for (size_t i = 0; i < imp->n_aliases; i++)
		if (strcmp(imp->aliases[i].path, path) == 0)
			return &imp->aliases[i];
	return NULL;
}

/* "a/b/../c" → "a/c", lexically; -EPERM when ".." climbs above the archive's root. */
static int path_lexical(const char *in, char **ret)
{
	_cleanup_buf_ struct buf out = BUF_INIT(ENTRY_NAME_MAX);
	const char *p = in;

	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;
			if (out.len == 0)
				return -EPERM;
			slash = strrchr(out.data, '/');
			buf_truncate(&out, slash ? (size_t)(slash - out.data) : 0);
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if ((out.len && buf_putc(&out, '/') < 0) || buf_append(&out, p, n) < 0)
				return -ENAMETOOLONG;
		}
		p += n + (p[n] == '/');
	}
	if (out.len == 0)
		return -EINVAL;
	*ret = buf_detach(&out, NULL);
	return 0;
}

static char *link_target(const char *path, const char *target, bool symlink)
{
	_cleanup_free_ char *joined = NULL;
	const char *slash = strrchr(path, '/');
	char *ret = NULL;

	if (!target || !*target || target[0] == '/')
		return NULL;
	/* a symlink is relative to its directory, a tar hard link to the archive's root */
	if (symlink && slash)
		joined = xasprintf("%.*s/%s", (int)(slash - path), path, target);
	else
		joined = xstrdup(target);
	return path_lexical(joined, &ret) < 0 ? NULL : ret;
}

/* A file named by manifest.json: a file of the archive, or a link to one. */
static struct staged *resolve_entry(struct import *imp, const char *path, const char *where,
				    struct errbuf *err)
{
	_cleanup_free_ char *norm = NULL;
	struct staged *st = find_entry(imp, path);
	struct alias *al;

	if (st)
		return st;
	if (entry_name_normalize(path, &norm) < 0) {
		errbuf_set(err, -EPERM, "%s: %s: '%s' is absolute or has '..'", imp->archive,
			   where, path);
		return NULL;
	}
	al = find_alias(imp, norm);
	if (!al) {
		errbuf_set(err, -ENOENT, "%s: %s: '%s' is not in the archive", imp->archive, where,
			   path);
		return NULL;
	}
	if (!al->target) {
		errbuf_set(err, -EPERM, "%s: %s: '%s' is a %s pointing out of the archive",
			   imp->archive, where, path, al->kind);
		return NULL;
	}
	st = find_entry(imp, al->target);
	if (!st)
		errbuf_set(err, -ENOENT, "%s: %s: '%s' is a %s to '%s', which is not a file of the "
			   "archive", imp->archive, where, path, al->kind, al->target);
	return st;
}

static struct staged *find_blob(struct import *imp, const char *digest)
{
	char path[32 + SHA256_HEX_SIZE];

	snprintf(path, sizeof(path), "blobs/sha256/%s", digest + strlen("sha256:"));
	return find_entry(imp, path);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sha256 *, sha256_free)

static int over_limit(const struct import *imp, const struct staged *st, struct errbuf *err)
{
	if (imp->limit_why)
		return errbuf_set(err, -ENOSPC, "%s: unpacks to more than the %llu bytes free in '%s' "
				  "(%llu MiB kept free), at entry '%s': free space on the host",
				  imp->archive, (unsigned long long)imp->limit, imp->limit_why,
				  (unsigned long long)(free_reserve >> 20), st->path);
	return errbuf_set(err, -EFBIG, "%s: unpacks to more than %llu bytes, the most one image "
			  "archive may, at entry '%s': the archive is wrong, or split its images "
			  "into several archives", imp->archive, (unsigned long long)imp->limit,
			  st->path);
}

static int copy_entry(struct import *imp, struct archive *a, struct staged *st,
		      struct errbuf *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(sha256_freep) struct sha256 *h = NULL;
	_cleanup_free_ char *block = xmalloc(1 << 16);
	int r;

	fd = tmpfile_at(imp->stagefd, st->tmp);
	if (fd < 0)
		return errbuf_set(err, fd, "cannot create a staging file: %s", strerror(-fd));
	r = sha256_new(&h);
	if (r < 0)
		return errbuf_set(err, r, "cannot hash: %s", strerror(-r));
	for (;;) {
		la_ssize_t got = archive_read_data(a, block, 1 << 16);
		if (got == 0)
			break;
		if (got < 0)
			return errbuf_set(err, -EBADMSG, "%s: entry '%s' is truncated or unreadable: %s",
					  imp->archive, st->path, archive_error_string(a));
		if ((uint64_t)got > imp->limit - imp->unpacked)
			return over_limit(imp, st, err);
		imp->unpacked += (uint64_t)got;
		r = sha256_update(h, block, (size_t)got);
		if (r < 0)
			return errbuf_set(err, r, "cannot hash: %s", strerror(-r));
		for (la_ssize_t off = 0; off < got;) {
			ssize_t w = write(fd, block + off, (size_t)(got - off));
			if (w < 0)
				return errbuf_set(err, negative_errno(), "cannot write a staging file "
						  "for '%s': %m", st->path);
			off += w;
		}
		st->size += (uint64_t)got;
	}
	return sha256_final(h, st->hex);
}

static int stage_entry(struct import *imp, struct archive *a, struct archive_entry *ae,
		       struct errbuf *err)
{
	const char *raw = archive_entry_pathname(ae);
	_cleanup_free_ char *path = NULL;
	mode_t type = archive_entry_filetype(ae);
	struct staged *st;
	int r;

	for (const char *c = raw; c && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return errbuf_set(err, -EINVAL, "%s: entry %zu has a control character in "
					  "its name", imp->archive, imp->n + imp->n_aliases + 1);
	/* "./", as `tar -C dir .` writes it */
	if (raw && type == AE_IFDIR && raw[strspn(raw, "./")] == '\0' && !strstr(raw, ".."))
		return 0;
	if (!raw || entry_name_normalize(raw, &path) < 0)
		return errbuf_set(err, -EPERM, "%s: entry name '%s' is absolute, empty or has '..'",
				  imp->archive, raw ? raw : "");
	if (type == AE_IFDIR)
		return 0;
	if (find_entry(imp, path) || find_alias(imp, path))
		return errbuf_set(err, -EEXIST, "%s: entry '%s' appears twice", imp->archive, path);
	if (imp->n + imp->n_aliases >= REGISTRY_ENTRIES_MAX)
		return errbuf_set(err, -E2BIG, "%s: more than %d entries", imp->archive,
				  REGISTRY_ENTRIES_MAX);
	if (type == AE_IFLNK || archive_entry_hardlink(ae)) {
		bool sym = type == AE_IFLNK;
		char *target = link_target(path, sym ? archive_entry_symlink(ae) :
						   archive_entry_hardlink(ae), sym);
		if (strncmp(path, "blobs/", 6) == 0) {
			free(target);
			return errbuf_set(err, -EPERM, "%s: blob '%s' is a link, not a file",
					  imp->archive, path);
		}
		imp->aliases = xreallocarray(imp->aliases, imp->n_aliases + 1, sizeof(*imp->aliases));
		imp->aliases[imp->n_aliases++] = (struct alias){
			.target = target,
			.path = TAKE_PTR(path),
			.kind = sym ? "symlink" : "hard link",
		};
		return 0;
	}
	if (type != AE_IFREG)
		return errbuf_set(err, -EPERM, "%s: entry '%s' is a device, FIFO or socket; image "
				  "archives hold only files, directories and links", imp->archive,
				  path);
	imp->e = xreallocarray(imp->e, imp->n + 1, sizeof(*imp->e));
	st = &imp->e[imp->n++];
	*st = (struct staged){ .path = TAKE_PTR(path) };
	r = copy_entry(imp, a, st, err);
	if (r < 0)
		return r;
	/* an OCI blob is named by its digest: check it now, whatever refers to it */
	if (strncmp(st->path, "blobs/", 6) == 0) {
		const char *hex = st->path + strlen("blobs/sha256/");
		if (strncmp(st->path, "blobs/sha256/", 13) != 0 || !sha256_hex_valid(hex))
			return errbuf_set(err, -EBADMSG, "%s: blob '%s' is not named "
					  "blobs/sha256/<64 hex digits>", imp->archive, st->path);
		if (strcmp(hex, st->hex) != 0)
			return errbuf_set(err, -EBADMSG, "%s: blob '%s' has digest sha256:%s; the "
					  "archive is corrupt or was altered", imp->archive,
					  st->path, st->hex);
	}
	return 0;
}


static int stage_archive(struct import *imp, struct errbuf *err)
{
	_cleanup_(archive_read_freep) struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r;

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, imp->archive, 1 << 16) != ARCHIVE_OK)
		return errbuf_set(err, -EBADMSG, "cannot read image archive '%s': %s",
				  imp->archive, archive_error_string(a));
	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return errbuf_set(err, -EBADMSG, "%s: not a readable tar: %s", imp->archive,
					  archive_error_string(a));
		r = stage_entry(imp, a, ae, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_staged(struct import *imp, const struct staged *st, struct buf *out,
		       struct errbuf *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (st->size > REGISTRY_JSON_MAX)
		return errbuf_set(err, -E2BIG, "%s: '%s' is %llu bytes, more than the %u a JSON "
				  "document may have", imp->archive, st->path,
				  (unsigned long long)st->size, REGISTRY_JSON_MAX);
	fd = openat(imp->stagefd, st->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot reopen staged '%s': %m", st->path);
	r = buf_read_fd(out, fd);
	if (r < 0)
		return errbuf_set(err, r, "cannot read staged '%s': %s", st->path, strerror(-r));
	return 0;
}

/* ---- what to publish ---- */

static void add_blob(struct import *imp, const char *hex, uint64_t size, struct staged *from,
		     char *data)
{
	for (size_t i = 0; i < imp->n_blobs; i++)
		if (strcmp(imp->blobs[i].hex, hex) == 0) {
			free(data);
			return;
		}
	imp->blobs = xreallocarray(imp->blobs, imp->n_blobs + 1, sizeof(*imp->blobs));
	imp->blobs[imp->n_blobs] = (struct blob){ .size = size, .from = from, .data = data };
	strcpy(imp->blobs[imp->n_blobs].hex, hex);
	imp->n_blobs++;
}

static void hex_push(char (**v)[SHA256_HEX_SIZE], size_t *n, const char *hex)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], hex) == 0)
			return;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	strcpy((*v)[*n], hex);
	(*n)++;
}

/* Names the image: source is a reference from the archive. */
static int add_image(struct import *imp, const char *source, const char *where,
		     struct image **ret, struct errbuf *err)
{
	struct imgref ref;
	char full[IMGREF_INPUT_MAX], local[IMGREF_INPUT_MAX];
	struct image *im;
	int r = imgref_parse(source, &ref, err);

	if (r < 0)
		return errbuf_prefix(err, "%s: %s", imp->archive, where);
	if (imgref_format(&ref, full, sizeof(full)) < 0 ||
	    imgref_format_local(&ref, local, sizeof(local)) < 0)
		return errbuf_set(err, -ENAMETOOLONG, "%s: %s: name too long", imp->archive, where);
	for (size_t i = 0; i < imp->n_imgs; i++)
		if (strcmp(imp->imgs[i].repo, ref.path) == 0 && strcmp(imp->imgs[i].tag, ref.tag) == 0 &&
		    ref.tag[0])
			return errbuf_set(err, -EEXIST, "%s: %s: '%s' would be served as '%s', as "
					  "'%s' already is", imp->archive, where, full, local,
					  imp->imgs[i].source);
	imp->imgs = xreallocarray(imp->imgs, imp->n_imgs + 1, sizeof(*imp->imgs));
	im = &imp->imgs[imp->n_imgs++];
	*im = (struct image){ .repo = xstrdup(ref.path), .tag = xstrdup(ref.tag),
			      .source = xstrdup(full) };
	strcpy(im->pinned, ref.digest);
	*ret = im;
	return 0;
}

/* Points the name at its manifest; a name that carries a digest must be that manifest's. */
static int set_manifest(struct import *imp, struct image *im, const char *hex,
			const char *where, struct errbuf *err)
{
	if (im->pinned[0] && strcmp(im->pinned + strlen("sha256:"), hex) != 0)
		return errbuf_set(err, -EBADMSG, "%s: %s: '%s' names digest %s, but its manifest is "
				  "sha256:%s", imp->archive, where, im->source, im->pinned, hex);
	strcpy(im->hex, hex);
	return 0;
}

static struct staged *need_blob(struct import *imp, const struct registry_desc *d,
				const char *where, struct errbuf *err)
{
	struct staged *st = find_blob(imp, d->digest);

	if (!st) {
		errbuf_set(err, -ENOENT, "%s: %s: blob %s is not in the archive", imp->archive,
			   where, d->digest);
		return NULL;
	}
	if (st->size != d->size) {
		errbuf_set(err, -EBADMSG, "%s: %s: blob %s is %llu bytes, the descriptor says %llu",
			   imp->archive, where, d->digest, (unsigned long long)st->size,
			   (unsigned long long)d->size);
		return NULL;
	}
	return st;
}

/* ---- OCI image layout ---- */

static int oci_manifest(struct import *imp, struct image *im, const struct registry_desc *d,
			struct errbuf *err)
{
	_cleanup_buf_ struct buf json = BUF_INIT(REGISTRY_JSON_MAX);
	struct registry_desc config;
	struct registry_desc_list layers = { 0 };
	struct staged *st = need_blob(imp, d, "manifest", err);
	int r;

	if (!st)
		return err->code;
	r = read_staged(imp, st, &json, err);
	if (r < 0)
		return r;
	r = registry_parse_manifest(st->path, json.data, json.len, &config, &layers, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", imp->archive);
	add_blob(imp, st->hex, st->size, st, NULL);
	hex_push(&im->revisions, &im->n_revisions, st->hex);
	for (size_t i = 0; r >= 0 && i <= layers.n; i++) {
		const struct registry_desc *ld = i < layers.n ? &layers.v[i] : &config;
		struct staged *b = need_blob(imp, ld, st->path, err);
		if (!b) {
			r = err->code;
			break;
		}
		add_blob(imp, b->hex, b->size, b, NULL);
		hex_push(&im->layers, &im->n_layers, b->hex);
	}
	registry_desc_list_release(&layers);
	return r;
}

static int oci_desc(struct import *imp, struct image *im, const struct registry_desc *d,
		    unsigned depth, struct errbuf *err)
{
	_cleanup_buf_ struct buf json = BUF_INIT(REGISTRY_JSON_MAX);
	struct registry_desc_list children = { 0 };
	struct staged *st;
	int r;

	if (is_manifest_type(d->media_type))
		return oci_manifest(imp, im, d, err);
	if (!is_index_type(d->media_type))
		return errbuf_set(err, -EBADMSG, "%s: %s has media type '%s', neither a manifest "
				  "nor an index", imp->archive, d->digest, d->media_type);
	if (depth >= INDEX_DEPTH_MAX)
		return errbuf_set(err, -ELOOP, "%s: indexes nested more than %d deep",
				  imp->archive, INDEX_DEPTH_MAX);
	st = need_blob(imp, d, "index", err);
	if (!st)
		return err->code;
	r = read_staged(imp, st, &json, err);
	if (r < 0)
		return r;
	r = registry_parse_index(st->path, json.data, json.len, &children, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", imp->archive);
	add_blob(imp, st->hex, st->size, st, NULL);
	hex_push(&im->revisions, &im->n_revisions, st->hex);
	for (size_t i = 0; r >= 0 && i < children.n; i++)
		r = oci_desc(imp, im, &children.v[i], depth + 1, err);
	registry_desc_list_release(&children);
	return r;
}

static int import_oci(struct import *imp, struct staged *index, struct errbuf *err)
{
	_cleanup_buf_ struct buf json = BUF_INIT(REGISTRY_JSON_MAX);
	struct registry_desc_list l = { 0 };
	int r = read_staged(imp, index, &json, err);

	if (r < 0)
		return r;
	r = registry_parse_index("index.json", json.data, json.len, &l, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", imp->archive);
	if (l.n == 0)
		r = errbuf_set(err, -ENOENT, "%s: index.json lists no image", imp->archive);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		struct image *im;
		char where[64];

		snprintf(where, sizeof(where), "index.json:%u", l.v[i].line);
		if (!l.v[i].name) {
			r = errbuf_set(err, -EBADMSG, "%s: %s: manifests[%zu] has no image name (an "
				       "io.containerd.image.name annotation, or a full reference in "
				       "org.opencontainers.image.ref.name)", imp->archive, where, i);
			break;
		}
		r = add_image(imp, l.v[i].name, where, &im, err);
		if (r >= 0)
			r = oci_desc(imp, im, &l.v[i], 0, err);
		if (r >= 0)
			r = set_manifest(imp, im, l.v[i].digest + strlen("sha256:"), where, err);
	}
	registry_desc_list_release(&l);
	return r;
}

/* ---- docker-archive ---- */

/* A name that says its digest ("<hex>.json", "blobs/sha256/<hex>") must have it. */
static int check_named_digest(struct import *imp, const struct staged *st, struct errbuf *err)
{
	const char *base = strrchr(st->path, '/') ? strrchr(st->path, '/') + 1 : st->path;
	char hex[SHA256_HEX_SIZE];

	if (strlen(base) < 64)
		return 0;
	memcpy(hex, base, 64);
	hex[64] = '\0';
	if (!sha256_hex_valid(hex) || (base[64] && strcmp(base + 64, ".json") != 0))
		return 0;
	if (strcmp(hex, st->hex) != 0)
		return errbuf_set(err, -EBADMSG, "%s: '%s' has digest sha256:%s; the archive is "
				  "corrupt or was altered", imp->archive, st->path, st->hex);
	return 0;
}

static int docker_config(struct import *imp, const struct registry_docker_image *di,
			 struct staged **layers, struct staged *config, struct errbuf *err)
{
	_cleanup_buf_ struct buf json = BUF_INIT(REGISTRY_JSON_MAX);
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	const struct ynode *ids;
	int r = read_staged(imp, config, &json, err);

	if (r < 0)
		return r;
	r = parse_root(config->path, json.data, json.len, &d, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", imp->archive);
	ids = ynode_get(ydoc_root(d, 0), "rootfs.diff_ids");
	if (!ids || ynode_kind(ids) != YNODE_SEQ || ynode_len(ids) != di->n_layers)
		return errbuf_set(err, -EBADMSG, "%s: %s: rootfs.diff_ids does not list the %zu "
				  "layers of manifest.json", imp->archive, config->path,
				  di->n_layers);
	for (size_t i = 0; i < di->n_layers; i++) {
		const char *want = ynode_str(ynode_seq_at(ids, i));
		if (!want || !digest_ref_valid(want) ||
		    strcmp(want + strlen("sha256:"), layers[i]->hex) != 0)
			return errbuf_set(err, -EBADMSG, "%s: layer '%s' has digest sha256:%s but "
					  "%s rootfs.diff_ids[%zu] is '%s'", imp->archive,
					  layers[i]->path, layers[i]->hex, config->path, i,
					  want ? want : "");
	}
	return 0;
}

static int docker_manifest_json(struct staged *config, struct staged **layers, size_t n,
				struct buf *out)
{
	struct jsonw w;
	char digest[IMGREF_DIGEST_SIZE];

	jsonw_init(&w, out);
	jsonw_object_begin(&w);
	jsonw_key(&w, "schemaVersion");
	jsonw_int(&w, 2);
	jsonw_key(&w, "mediaType");
	jsonw_string(&w, MT_DOCKER_MANIFEST);
	jsonw_key(&w, "config");
	for (size_t i = 0; i <= n; i++) {
		struct staged *st = i == 0 ? config : layers[i - 1];
		if (i == 1) {
			jsonw_key(&w, "layers");
			jsonw_array_begin(&w);
		}
		jsonw_object_begin(&w);
		jsonw_key(&w, "mediaType");
		jsonw_string(&w, i == 0 ? MT_DOCKER_CONFIG : MT_DOCKER_LAYER);
		jsonw_key(&w, "size");
		jsonw_uint(&w, st->size);
		jsonw_key(&w, "digest");
		snprintf(digest, sizeof(digest), "sha256:%s", st->hex);
		jsonw_string(&w, digest);
		jsonw_object_end(&w);
	}
	if (n == 0) {
		jsonw_key(&w, "layers");
		jsonw_array_begin(&w);
	}
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	return jsonw_finish(&w);
}

static int docker_image(struct import *imp, const struct registry_docker_image *di,
			size_t index, struct errbuf *err)
{
	_cleanup_free_ struct staged **layers = xcalloc(di->n_layers + 1, sizeof(*layers));
	_cleanup_buf_ struct buf man = BUF_INIT(REGISTRY_JSON_MAX);
	char hex[SHA256_HEX_SIZE], where[64];
	struct staged *config;
	int r;

	char field[96];

	snprintf(where, sizeof(where), "manifest.json:%u", di->line);
	snprintf(field, sizeof(field), "%s: Config", where);
	config = resolve_entry(imp, di->config, field, err);
	if (!config)
		return err->code;
	if (di->n_tags == 0)
		return errbuf_set(err, -EBADMSG, "%s: %s: image %zu has no RepoTags, so no name to "
				  "be served under", imp->archive, where, index);
	for (size_t i = 0; i < di->n_layers; i++) {
		snprintf(field, sizeof(field), "%s: Layers[%zu]", where, i);
		layers[i] = resolve_entry(imp, di->layers[i], field, err);
		if (!layers[i])
			return err->code;
		r = check_named_digest(imp, layers[i], err);
		if (r < 0)
			return r;
	}
	r = check_named_digest(imp, config, err);
	if (r >= 0)
		r = docker_config(imp, di, layers, config, err);
	if (r < 0)
		return r;
	r = docker_manifest_json(config, layers, di->n_layers, &man);
	if (r >= 0)
		r = sha256_buf(man.data, man.len, hex);
	if (r < 0)
		return errbuf_set(err, r, "%s: %s: cannot encode the image's manifest: %s",
				  imp->archive, where, strerror(-r));
	for (size_t t = 0; t < di->n_tags; t++) {
		struct image *im;
		r = add_image(imp, di->tags[t], where, &im, err);
		if (r < 0)
			return r;
		r = set_manifest(imp, im, hex, where, err);
		if (r < 0)
			return r;
		hex_push(&im->revisions, &im->n_revisions, hex);
		hex_push(&im->layers, &im->n_layers, config->hex);
		for (size_t i = 0; i < di->n_layers; i++)
			hex_push(&im->layers, &im->n_layers, layers[i]->hex);
	}
	add_blob(imp, config->hex, config->size, config, NULL);
	for (size_t i = 0; i < di->n_layers; i++)
		add_blob(imp, layers[i]->hex, layers[i]->size, layers[i], NULL);
	size_t len = man.len;
	add_blob(imp, hex, len, NULL, buf_detach(&man, NULL));
	return 0;
}

static int import_docker(struct import *imp, struct staged *manifest, struct errbuf *err)
{
	_cleanup_buf_ struct buf json = BUF_INIT(REGISTRY_JSON_MAX);
	struct registry_docker_manifest m = { 0 };
	int r = read_staged(imp, manifest, &json, err);

	if (r < 0)
		return r;
	r = registry_parse_docker_manifest("manifest.json", json.data, json.len, &m, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", imp->archive);
	for (size_t i = 0; r >= 0 && i < m.n; i++)
		r = docker_image(imp, &m.images[i], i, err);
	registry_docker_manifest_release(&m);
	return r;
}

/* kubeadm asks for some images under a second name (imgref_kubeadm_alias): served under
 * both, sharing every blob. */
static int add_kubeadm_aliases(struct import *imp, struct errbuf *err)
{
	size_t n = imp->n_imgs;

	for (size_t i = 0; i < n; i++) {
		struct imgref ref;
		char alias[IMGREF_NAME_MAX + 1];
		struct image *im;
		int r = imgref_parse(imp->imgs[i].source, &ref, err);

		if (r < 0)
			return r;
		r = imgref_kubeadm_alias(&ref, alias, sizeof(alias));
		if (r <= 0)
			continue;
		for (size_t j = 0; j < imp->n_imgs; j++)
			if (strcmp(imp->imgs[j].repo, alias) == 0 &&
			    strcmp(imp->imgs[j].tag, imp->imgs[i].tag) == 0)
				return errbuf_set(err, -EEXIST, "%s: '%s' and '%s' would both be served "
						  "as '%s:%s'", imp->archive, imp->imgs[i].source,
						  imp->imgs[j].source, alias, imp->imgs[i].tag);
		imp->imgs = xreallocarray(imp->imgs, imp->n_imgs + 1, sizeof(*imp->imgs));
		im = &imp->imgs[imp->n_imgs++];
		*im = (struct image){ .repo = xstrdup(alias), .tag = xstrdup(imp->imgs[i].tag),
				      .source = xstrdup(imp->imgs[i].source) };
		strcpy(im->hex, imp->imgs[i].hex);
		for (size_t k = 0; k < imp->imgs[i].n_layers; k++)
			hex_push(&im->layers, &im->n_layers, imp->imgs[i].layers[k]);
		for (size_t k = 0; k < imp->imgs[i].n_revisions; k++)
			hex_push(&im->revisions, &im->n_revisions, imp->imgs[i].revisions[k]);
	}
	return 0;
}

/* ---- publishing ---- */

/* Synced only now: most staged entries (docker save's json, VERSION) are thrown away. */
static int publish_staged(struct import *imp, const struct staged *st, int dfd)
{
	_cleanup_close_ int fd = openat(imp->stagefd, st->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0 ||
	    renameat(imp->stagefd, st->tmp, dfd, "data") < 0 || fsync(dfd) < 0)
		return negative_errno();
	return 0;
}

/* 1 when dfd's "data" is a regular file with b's digest, 0 when it is missing or is not
 * (a size alone proves nothing: an altered blob of the same size would be served). */
static int stored_blob_ok(int dfd, const struct blob *b, bool *ret_exists)
{
	_cleanup_close_ int fd = openat(dfd, "data", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char hex[SHA256_HEX_SIZE];
	struct stat sb;
	uint64_t n;
	int r;

	*ret_exists = fd >= 0 || errno != ENOENT;
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : negative_errno();
	if (fstat(fd, &sb) < 0)
		return negative_errno();
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != b->size)
		return 0;
	r = sha256_fd(fd, hex, &n);
	if (r < 0)
		return r;
	return n == b->size && strcmp(hex, b->hex) == 0;
}

static int publish_blob(struct import *imp, struct blob *b, struct registry_import_report *rep,
			struct errbuf *err)
{
	char rel[64 + SHA256_HEX_SIZE];
	_cleanup_close_ int dfd = -1;
	bool exists;
	int r;

	snprintf(rel, sizeof(rel), "blobs/sha256/%.2s/%s", b->hex, b->hex);
	r = dir_open_beneath(imp->v2fd, rel, true, &dfd);
	if (r < 0)
		return errbuf_set(err, r, "cannot open %s/%s: %s", V2_DIR, rel, strerror(-r));
	r = stored_blob_ok(dfd, b, &exists);
	if (r < 0)
		return errbuf_set(err, r, "cannot check %s/%s/data: %s", V2_DIR, rel, strerror(-r));
	if (r > 0) {
		rep->blobs_existing++;
		return 0;
	}
	if (exists) {
		log_warning("%s/%s/%s/data does not have digest sha256:%s (altered in the store?): "
			    "replaced by the archive's", imp->root, V2_DIR, rel, b->hex);
		rep->blobs_replaced++;
	}
	if (b->data)
		r = write_file_atomic_at(dfd, "data", b->data, b->size, 0644);
	else
		r = publish_staged(imp, b->from, dfd);
	if (r < 0)
		return errbuf_set(err, r, "cannot write %s/%s/data: %s", V2_DIR, rel, strerror(-r));
	rep->blobs_written++;
	rep->bytes_written += b->size;
	return 0;
}

/* dir is beneath the repository: "_layers/sha256/<hex>", "_manifests/tags/<tag>/current" */
static int write_link(struct import *imp, const struct image *im, const char *dir,
		      const char *hex, struct errbuf *err)
{
	_cleanup_free_ char *rel = xasprintf("repositories/%s/%s", im->repo, dir);
	_cleanup_close_ int dfd = -1;
	char content[IMGREF_DIGEST_SIZE];
	int r = dir_open_beneath(imp->v2fd, rel, true, &dfd);

	if (r >= 0) {
		snprintf(content, sizeof(content), "sha256:%s", hex);
		r = write_file_atomic_at(dfd, "link", content, strlen(content), 0644);
	}
	if (r < 0)
		return errbuf_set(err, r, "cannot write %s/%s/link: %s", V2_DIR, rel, strerror(-r));
	return 0;
}

static int link_each(struct import *imp, const struct image *im, const char *dir,
		     char (*hexes)[SHA256_HEX_SIZE], size_t n, struct errbuf *err)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *d = xasprintf("%s/sha256/%s", dir, hexes[i]);
		int r = write_link(imp, im, d, hexes[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The tag's current/link is written last: it is what makes the tag visible. */
static int link_image(struct import *imp, const struct image *im, struct errbuf *err)
{
	_cleanup_free_ char *tag_index = NULL, *tag_current = NULL;
	int r = link_each(imp, im, "_layers", im->layers, im->n_layers, err);

	if (r >= 0)
		r = link_each(imp, im, "_manifests/revisions", im->revisions, im->n_revisions, err);
	if (r < 0 || !im->tag[0])
		return r;
	tag_index = xasprintf("_manifests/tags/%s/index/sha256/%s", im->tag, im->hex);
	tag_current = xasprintf("_manifests/tags/%s/current", im->tag);
	r = write_link(imp, im, tag_index, im->hex, err);
	if (r >= 0)
		r = write_link(imp, im, tag_current, im->hex, err);
	return r;
}

static int publish(struct import *imp, struct registry_import_report *rep, struct errbuf *err)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < imp->n_blobs; i++)
		r = publish_blob(imp, &imp->blobs[i], rep, err);
	for (size_t i = 0; r >= 0 && i < imp->n_imgs; i++)
		r = link_image(imp, &imp->imgs[i], err);
	if (r < 0)
		return r;
	rep->images = xcalloc(imp->n_imgs + 1, sizeof(*rep->images));
	for (size_t i = 0; i < imp->n_imgs; i++) {
		const struct image *im = &imp->imgs[i];
		struct registry_image *ri = &rep->images[rep->n_images++];
		if (asprintf(&ri->name, "%s%s%s%s%s", im->repo, im->tag[0] ? ":" : "", im->tag,
			     im->tag[0] ? "" : "@sha256:", im->tag[0] ? "" : im->hex) < 0)
			abort();
		ri->source = xstrdup(im->source);
		snprintf(ri->manifest_digest, sizeof(ri->manifest_digest), "sha256:%s", im->hex);
	}
	return 0;
}

/* ---- the whole ---- */

static void import_release(struct import *imp)
{
	if (imp->stagefd >= 0) {
		close(imp->stagefd);
		rm_rf_at(imp->v2fd, imp->stage_name);
	}
	if (imp->v2fd >= 0)
		close(imp->v2fd);
	for (size_t i = 0; i < imp->n; i++)
		free(imp->e[i].path);
	free(imp->e);
	for (size_t i = 0; i < imp->n_aliases; i++) {
		free(imp->aliases[i].path);
		free(imp->aliases[i].target);
	}
	free(imp->aliases);
	for (size_t i = 0; i < imp->n_blobs; i++)
		free(imp->blobs[i].data);
	free(imp->blobs);
	for (size_t i = 0; i < imp->n_imgs; i++) {
		free(imp->imgs[i].repo);
		free(imp->imgs[i].tag);
		free(imp->imgs[i].source);
		free(imp->imgs[i].layers);
		free(imp->imgs[i].revisions);
	}
	free(imp->imgs);
}

#define STAGE_PREFIX ".cirun-import-"

/* A staging directory of an import that was killed (its PID is gone) would keep its
 * copy of the archive forever: removed by the next import. */
static void remove_stale_staging(int v2fd)
{
	int fd = dup(v2fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + strlen(STAGE_PREFIX), &end, 10);
		if (errno || pid <= 0 || pid > INT32_MAX || *end != '-')
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			rm_rf_at(v2fd, de->d_name);
	}
	closedir(d);
}

/* What the archive may unpack to: the fixed cap, or the store's free space less a reserve
 * when that is less (staged files and published blobs are on that file system). */
static int import_limit(struct import *imp, const char *root, struct errbuf *err)
{
	struct statvfs sv;
	uint64_t avail;

	if (fstatvfs(imp->v2fd, &sv) < 0)
		return errbuf_set(err, negative_errno(), "cannot read the free space of '%s': %m",
				  root);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	imp->limit = unpacked_max;
	imp->limit_why = NULL;
	if (avail < free_reserve || avail - free_reserve < unpacked_max) {
		imp->limit = avail < free_reserve ? 0 : avail - free_reserve;
		imp->limit_why = root;
	}
	return 0;
}

static int open_storage(struct import *imp, const char *root, struct errbuf *err)
{
	_cleanup_close_ int rootfd = -1;
	uint64_t rnd;
	int r = mkdir_p(root, 0755);

	if (r < 0)
		return errbuf_set(err, r, "cannot create registry storage '%s': %s", root,
				  strerror(-r));
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open registry storage '%s': %m",
				  root);
	r = dir_open_beneath(rootfd, V2_DIR, true, &imp->v2fd);
	if (r < 0)
		return errbuf_set(err, r, "cannot open '%s/%s': %s", root, V2_DIR, strerror(-r));
	/* beside blobs/, so staged files are renamed, not copied; the registry never looks
	 * outside blobs/ and repositories/ */
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return errbuf_set(err, negative_errno(), "getrandom: %m");
	remove_stale_staging(imp->v2fd);
	snprintf(imp->stage_name, sizeof(imp->stage_name), STAGE_PREFIX "%d-%016llx",
		 (int)getpid(), (unsigned long long)rnd);
	r = import_limit(imp, root, err);
	if (r < 0)
		return r;
	if (mkdirat(imp->v2fd, imp->stage_name, 0700) < 0)
		return errbuf_set(err, negative_errno(), "cannot create '%s/%s/%s': %m", root,
				  V2_DIR, imp->stage_name);
	imp->stagefd = openat(imp->v2fd, imp->stage_name,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (imp->stagefd < 0) {
		r = negative_errno();
		rm_rf_at(imp->v2fd, imp->stage_name);
		return errbuf_set(err, r, "cannot open the staging directory: %s", strerror(-r));
	}
	return 0;
}

int registry_tag_set(const char *storage_root, const char *name, const char *digest,
		     struct errbuf *err)
{
	const char *colon = strrchr(name, ':');
	_cleanup_free_ char *repo = colon ? xstrndup(name, (size_t)(colon - name)) : NULL;
	_cleanup_free_ char *rel = NULL;
	_cleanup_close_ int rootfd = -1, dfd = -1;
	int r;

	if (!repo || !imgref_path_valid(repo) || !imgref_tag_valid(colon + 1) ||
	    !digest_ref_valid(digest))
		return errbuf_set(err, -EINVAL, "'%s' is not repo:tag, or '%s' not a digest", name,
				  digest);
	rootfd = open(storage_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open registry storage '%s': %m",
				  storage_root);
	rel = xasprintf(V2_DIR "/repositories/%s/_manifests/tags/%s/current", repo, colon + 1);
	r = dir_open_beneath(rootfd, rel, false, &dfd);
	if (r >= 0)
		r = write_file_atomic_at(dfd, "link", digest, strlen(digest), 0644);
	if (r < 0)
		return errbuf_set(err, r, "cannot write %s/%s/link: %s", storage_root, rel,
				  strerror(-r));
	return 0;
}

void registry_import_report_release(struct registry_import_report *rep)
{
	for (size_t i = 0; i < rep->n_images; i++) {
		free(rep->images[i].name);
		free(rep->images[i].source);
	}
	free(rep->images);
	*rep = (struct registry_import_report){ 0 };
}

int registry_import(const char *storage_root, const char *archive_path,
		    struct registry_import_report *rep, struct errbuf *err)
{
	struct import imp = { .root = storage_root, .archive = archive_path, .v2fd = -1,
			      .stagefd = -1 };
	struct staged *index, *manifest;
	int r;

	*rep = (struct registry_import_report){ 0 };
	r = open_storage(&imp, storage_root, err);
	if (r >= 0)
		r = stage_archive(&imp, err);
	if (r >= 0) {
		index = find_entry(&imp, "index.json");
		manifest = find_entry(&imp, "manifest.json");
		if (index)
			r = import_oci(&imp, index, err);
		else if (manifest)
			r = import_docker(&imp, manifest, err);
		else
			r = errbuf_set(err, -EBADMSG, "%s: neither index.json (OCI layout) nor "
				       "manifest.json (docker save) is in the archive", archive_path);
	}
	if (r >= 0)
		r = add_kubeadm_aliases(&imp, err);
	if (r >= 0)
		r = publish(&imp, rep, err);
	import_release(&imp);
	return r;
}
