#include "config-apply.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "macro.h"
#include "rootfs-walk.h"
#include "ydoc.h"

static const char *const strategy_names[] = {
	[CONFIG_OVERRIDE] = "override",
	[CONFIG_MERGE] = "merge",
	[CONFIG_INSERT] = "insert",
	[CONFIG_APPEND] = "append",
};

int config_strategy_parse(const char *s, enum config_strategy *ret)
{
	for (size_t i = 0; s && i < ELEMENTSOF(strategy_names); i++)
		if (strcmp(s, strategy_names[i]) == 0) {
			*ret = (enum config_strategy)i;
			return 0;
		}
	return -EINVAL;
}

const char *config_strategy_name(enum config_strategy s)
{
	return (size_t)s < ELEMENTSOF(strategy_names) ? strategy_names[s] : "?";
}

void config_doc_release(struct config_doc *c)
{
	free(c->name);
	free(c->path);
	free(c->data);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

/* "/etc//a/./b.yml" → "etc/a/b.yml"; NULL (with err) for ".." or an empty result. */
static char *normalize_path(const char *path, struct errbuf *err)
{
	_cleanup_free_ char *work = NULL;
	struct buf out = BUF_INIT(PATH_MAX);
	char *save = NULL;

	if (!path || !*path) {
		errbuf_set(err, -EINVAL, "the path is empty");
		return NULL;
	}
	if (strlen(path) >= PATH_MAX) {
		errbuf_set(err, -ENAMETOOLONG, "the path is longer than %d bytes", PATH_MAX - 1);
		return NULL;
	}
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			errbuf_set(err, -EINVAL, "the path holds a control character");
			return NULL;
		}
	work = xstrdup(path);
	for (char *c = strtok_r(work, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			errbuf_set(err, -EINVAL, "'%s': '..' is not allowed (the path is beneath "
				   "the rootfs)", path);
			buf_release(&out);
			return NULL;
		}
		if ((out.len && buf_putc(&out, '/') < 0) || buf_puts(&out, c) < 0) {
			buf_release(&out);
			errbuf_set(err, -ENAMETOOLONG, "'%s' is too long", path);
			return NULL;
		}
	}
	if (out.len == 0) {
		errbuf_set(err, -EINVAL, "'%s' names the rootfs itself, not a file", path);
		return NULL;
	}
	return buf_detach(&out, NULL);
}

int config_path_check(const char *path, struct errbuf *err)
{
	_cleanup_free_ char *n = normalize_path(path, err);
	return n ? 0 : -EINVAL;
}

/* ---- merge ---- */

static const char *doc_kind(const struct ynode *doc)
{
	return ynode_str(ynode_map_get(doc, "kind"));
}

static const char *doc_name(const struct ynode *doc)
{
	return ynode_str(ynode_get(doc, "metadata.name"));
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The base document overlay document i goes into, or -1 with err set. */
static ssize_t match_doc(const struct ydoc *base, const char *base_name, const struct ydoc *ov,
			 const char *ov_name, size_t i, struct errbuf *err)
{
	const struct ynode *o = ydoc_root(ov, i);
	const char *kind = doc_kind(o), *name = doc_name(o);

	if (!kind) {
		if (i < ydoc_count(base))
			return (ssize_t)i;
		errbuf_set(err, -ENOENT, "%s:%u: document %zu (no kind) has no document %zu in "
			   "%s to merge into (it has %zu)", ov_name, ynode_line(o), i + 1, i + 1,
			   base_name, ydoc_count(base));
		return -1;
	}
	for (size_t k = 0; k < ydoc_count(base); k++) {
		const struct ynode *b = ydoc_root(base, k);
		if (same(doc_kind(b), kind) && (!name || same(doc_name(b), name)))
			return (ssize_t)k;
	}
	errbuf_set(err, -ENOENT, "%s:%u: no document of kind %s%s%s in %s to merge into",
		   ov_name, ynode_line(o), kind, name ? " named " : "", name ? name : "", base_name);
	return -1;
}

int config_merge_yaml(const char *base_name, const char *base, size_t base_len,
		      const char *overlay_name, const char *overlay, size_t overlay_len,
		      struct buf *out, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *b = NULL;
	_cleanup_(ydoc_freep) struct ydoc *o = NULL;
	_cleanup_free_ struct ynode **docs = NULL;
	int r;

	r = ydoc_parse(base_name, base, base_len, NULL, &b, err);
	if (r < 0)
		return errbuf_prefix(err, "%s is not YAML, so it cannot be merged into", base_name);
	r = ydoc_parse(overlay_name, overlay, overlay_len, NULL, &o, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ydoc_count(b); i++)
		if (ynode_kind(ydoc_root(b, i)) != YNODE_MAP)
			return errbuf_set(err, -EINVAL, "%s:%u: document %zu is not a map, so it cannot "
					  "be merged into", base_name, ynode_line(ydoc_root(b, i)), i + 1);
	for (size_t i = 0; i < ydoc_count(o); i++) {
		const struct ynode *od = ydoc_root(o, i);
		ssize_t k;
		if (ynode_kind(od) != YNODE_MAP)
			return errbuf_set(err, -EINVAL, "%s:%u: document %zu is not a map (merge needs "
					  "maps)", overlay_name, ynode_line(od), i + 1);
		k = match_doc(b, base_name, o, overlay_name, i, err);
		if (k < 0)
			return -ENOENT;
		r = ynode_merge(ydoc_root(b, (size_t)k), od, YMERGE_LIST_REPLACE);
		if (r < 0)
			return errbuf_set(err, r, "%s: cannot merge document %zu: %s", overlay_name,
					  i + 1, strerror(-r));
	}
	docs = xcalloc(ydoc_count(b) + 1, sizeof(*docs));
	for (size_t i = 0; i < ydoc_count(b); i++)
		docs[i] = ydoc_root(b, i);
	r = ydoc_emit(docs, ydoc_count(b), out);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s merged with %s would be larger than %zu bytes",
				  base_name, overlay_name, out->cap);
	if (r < 0)
		return errbuf_set(err, r, "%s: cannot write the merged YAML: %s", base_name,
				  strerror(-r));
	return 0;
}

/* ---- applying ---- */

/* Reads name in dfd when it exists: *exists false when it does not. Only a regular file
 * is read; a symlink is refused, never followed. */
static int read_target(int dfd, const char *name, const char *rel, struct buf *b, bool *exists,
		       mode_t *mode, struct errbuf *err)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	*exists = false;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return errbuf_set(err, negative_errno(), "%s: %s", rel, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "%s is %s, not a regular file: it is not followed "
				  "or replaced", rel, rootfs_type_name(st.st_mode));
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return errbuf_set(err, negative_errno(), "%s: %s", rel, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "%s is %s, not a regular file", rel,
				  rootfs_type_name(st.st_mode));
	int r = buf_read_fd(b, fd);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s is larger than %u bytes", rel, CONFIG_FILE_MAX);
	if (r < 0)
		return errbuf_set(err, r, "%s: %s", rel, strerror(-r));
	*exists = true;
	*mode = st.st_mode & 07777;
	return 0;
}

static int put_line(struct buf *out, const char *s, size_t len)
{
	int r = buf_append(out, s, len);
	if (r >= 0 && len && s[len - 1] != '\n')
		r = buf_putc(out, '\n');
	return r;
}

static int compose(const struct config_doc *c, const char *rel, const struct buf *old, bool exists,
		   struct buf *out, struct errbuf *err)
{
	const char *data = c->data ? c->data : "";
	size_t dlen = strlen(data);
	int r;

	switch (c->strategy) {
	case CONFIG_MERGE:
		if (!exists)
			return errbuf_set(err, -ENOENT, "%s does not exist: merge needs the file (use "
					  "override to create it)", rel);
		return config_merge_yaml(rel, old->data, old->len, "spec.data", data, dlen, out, err);
	case CONFIG_INSERT:
		r = put_line(out, data, dlen);
		if (r >= 0)
			r = buf_append(out, old->data, old->len);
		break;
	case CONFIG_APPEND:
		r = put_line(out, old->data, old->len);
		if (r >= 0)
			r = buf_append(out, data, dlen);
		break;
	case CONFIG_OVERRIDE:
	default:
		r = buf_append(out, data, dlen);
		break;
	}
	if (r < 0)
		return errbuf_set(err, r, "%s would be larger than %u bytes", rel, CONFIG_FILE_MAX);
	return 0;
}

static int apply_at(int rootfd, const struct config_doc *c, const char *rel, struct errbuf *err)
{
	_cleanup_free_ char *dir = xstrdup(rel);
	_cleanup_buf_ struct buf old = BUF_INIT(CONFIG_FILE_MAX);
	_cleanup_buf_ struct buf out = BUF_INIT(CONFIG_FILE_MAX);
	_cleanup_close_ int dfd = -EBADF;
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : rel;
	mode_t mode = 0644;
	bool exists;
	int r;

	if (slash)
		*slash = '\0';
	r = dir_open_beneath(rootfd, slash ? dir : "", c->strategy != CONFIG_MERGE, &dfd);
	if (r == -ENOENT && c->strategy == CONFIG_MERGE)
		return errbuf_set(err, r, "%s does not exist: merge needs the file", rel);
	if (r == -ELOOP || r == -ENOTDIR)
		return errbuf_set(err, r, "%s: a directory on the way is a symlink or not a "
				  "directory (it is not followed)", rel);
	if (r < 0)
		return errbuf_set(err, r, "%s: cannot open its directory: %s", rel, strerror(-r));
	r = read_target(dfd, name, rel, &old, &exists, &mode, err);
	if (r < 0)
		return r;
	r = compose(c, rel, &old, exists, &out, err);
	if (r < 0)
		return r;
	r = write_file_atomic_at(dfd, name, out.data, out.len, mode);
	if (r < 0)
		return errbuf_set(err, r, "cannot write %s: %s", rel, strerror(-r));
	return 0;
}

int config_apply(int rootfd, const struct config_doc *c, struct errbuf *err)
{
	_cleanup_free_ char *rel = normalize_path(c->path, err);
	int r = rel ? apply_at(rootfd, c, rel, err) : -EINVAL;

	if (r < 0)
		errbuf_prefix(err, "%s:%u: Config '%s' (%s)", c->file ? c->file : "Clusterfile",
			      c->line, c->name ? c->name : "", config_strategy_name(c->strategy));
	return r;
}
