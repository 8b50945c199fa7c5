#include "run-diff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "macro.h"

struct snap_entry {
	char *path; /* relative to the root: "a/b" */
	mode_t mode;
	ino_t ino;
	struct timespec ctime;
	struct timespec btime; /* birth, where the filesystem has it; else 0 */
	unsigned flags;
};

enum {
	F_INCLUDE = 1 << 0,
	F_OPAQUE = 1 << 1,
	F_FRESH = 1 << 2, /* inside a re-created directory: everything is new */
};

struct run_snapshot {
	struct snap_entry *v;
	size_t n, cap;
};

int run_diff_path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
		/* '/' sorts before every other byte: a directory's content comes right after it */
		if (ca == '/')
			ca = 1;
		if (cb == '/')
			cb = 1;
		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

void run_snapshot_free(struct run_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	free(s);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk(struct run_snapshot *s, const char *root, const char *rel, struct errbuf *err)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent **names;
	int n, r = 0;

	dir = xasprintf("%s%s%s", root, *rel ? "/" : "", rel);
	n = scandir(dir, &names, NULL, by_name);
	if (n < 0)
		return errbuf_set(err, negative_errno(), "cannot list '%s': %m", dir);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r >= 0 && strcmp(nm, ".") && strcmp(nm, "..")) {
			_cleanup_free_ char *path = NULL, *full = NULL;
			struct stat st;
			struct statx sx = { 0 };
			path = xasprintf("%s%s%s", rel, *rel ? "/" : "", nm);
			full = xasprintf("%s/%s", root, path);
			/* a directory removed and made again may get the same inode number back
			 * at once: its birth time tells them apart */
			if (statx(AT_FDCWD, full, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) < 0 ||
			    !(sx.stx_mask & STATX_BTIME))
				sx.stx_btime = (struct statx_timestamp){ 0 };
			if (lstat(full, &st) < 0) {
				r = errbuf_set(err, negative_errno(), "cannot read '%s': %m", full);
			} else {
				if (s->n == s->cap) {
					s->cap = s->cap ? s->cap * 2 : 256;
					s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
				}
				s->v[s->n++] = (struct snap_entry){ .path = xstrdup(path),
								    .mode = st.st_mode,
								    .ino = st.st_ino,
								    .ctime = st.st_ctim,
								    .btime = { sx.stx_btime.tv_sec,
									       sx.stx_btime.tv_nsec } };
				if (S_ISDIR(st.st_mode))
					r = walk(s, root, path, err);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int run_snapshot_take(const char *root, struct run_snapshot **ret, struct errbuf *err)
{
	struct run_snapshot *s = xcalloc(1, sizeof(*s));
	int r = walk(s, root, "", err);

	if (r < 0) {
		run_snapshot_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static struct snap_entry *find(const struct run_snapshot *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = run_diff_path_cmp(s->v[mid].path, path);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? xstrndup(path, (size_t)(slash - path)) : NULL;
}

static void include_ancestors(struct run_snapshot *after, const char *path)
{
	_cleanup_free_ char *p = parent_of(path);

	while (p) {
		struct snap_entry *e = find(after, p);
		if (!e || (e->flags & F_INCLUDE))
			return; /* already done from here up */
		e->flags |= F_INCLUDE;
		char *up = parent_of(p);
		free(p);
		p = up;
	}
}

/* The same file: same type, inode number and birth time (inode numbers are reused). */
static bool same_file(const struct snap_entry *a, const struct snap_entry *b)
{
	return (a->mode & S_IFMT) == (b->mode & S_IFMT) && a->ino == b->ino &&
	       a->btime.tv_sec == b->btime.tv_sec && a->btime.tv_nsec == b->btime.tv_nsec;
}

static bool changed(const struct snap_entry *a, const struct snap_entry *b)
{
	return !same_file(a, b) || a->ctime.tv_sec != b->ctime.tv_sec ||
	       a->ctime.tv_nsec != b->ctime.tv_nsec;
}

/* Marks what goes into the layer, in after's entries; returns the whiteouts' paths. */
static void classify(const struct run_snapshot *before, struct run_snapshot *after,
		     char ***ret_wh, size_t *ret_nwh)
{
	char **wh = NULL;
	size_t nwh = 0;

	for (size_t i = 0; i < after->n; i++) {
		struct snap_entry *a = &after->v[i];
		_cleanup_free_ char *parent = parent_of(a->path);
		struct snap_entry *up = parent ? find(after, parent) : NULL;
		const struct snap_entry *b = find(before, a->path);

		if (up && (up->flags & (F_OPAQUE | F_FRESH))) {
			a->flags |= F_INCLUDE | F_FRESH;
		} else if (!b) {
			a->flags |= F_INCLUDE;
		} else if (changed(a, b)) {
			a->flags |= F_INCLUDE;
			/* a directory where something else was before hides all of it */
			if (S_ISDIR(a->mode) && !same_file(a, b))
				a->flags |= F_OPAQUE;
		}
	}
	for (size_t i = 0; i < before->n; i++) {
		const struct snap_entry *b = &before->v[i];
		_cleanup_free_ char *parent = parent_of(b->path);
		struct snap_entry *up = parent ? find(after, parent) : NULL;

		if (find(after, b->path))
			continue;
		if (parent && !up)
			continue; /* its parent went too: one whiteout up there covers it */
		if (up && (up->flags & (F_OPAQUE | F_FRESH)))
			continue; /* hidden by the opaque directory */
		wh = xreallocarray(wh, nwh + 1, sizeof(*wh));
		wh[nwh++] = xstrdup(b->path);
	}
	for (size_t i = 0; i < after->n; i++)
		if (after->v[i].flags & F_INCLUDE)
			include_ancestors(after, after->v[i].path);
	for (size_t i = 0; i < nwh; i++)
		include_ancestors(after, wh[i]);
	*ret_wh = wh;
	*ret_nwh = nwh;
}

int run_diff_write(const char *root, const struct run_snapshot *before,
		   const struct run_snapshot *after_in, struct layer_writer *w, struct errbuf *err)
{
	struct run_snapshot *after = (struct run_snapshot *)after_in;
	char **wh = NULL;
	size_t nwh = 0, i = 0, j = 0;
	int r = 0;

	for (size_t k = 0; k < after->n; k++)
		after->v[k].flags = 0;
	classify(before, after, &wh, &nwh);
	/* Both lists are in walk order; merge them so the tar is too. */
	while (r >= 0 && (i < after->n || j < nwh)) {
		bool take_wh = j < nwh && (i >= after->n || run_diff_path_cmp(wh[j], after->v[i].path) < 0);
		if (take_wh) {
			r = layer_writer_add_whiteout(w, wh[j++], err);
			continue;
		}
		const struct snap_entry *a = &after->v[i++];
		if (!(a->flags & F_INCLUDE))
			continue;
		_cleanup_free_ char *full = NULL;
		full = xasprintf("%s/%s", root, a->path);
		r = layer_writer_add_entry(w, full, a->path, a->flags & F_OPAQUE, err);
	}
	for (size_t k = 0; k < nwh; k++)
		free(wh[k]);
	free(wh);
	return r;
}
