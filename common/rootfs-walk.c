#include "rootfs-walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"

#define MAX_DEPTH 128 /* directories deep, below the root */
#define MAX_HOPS 40   /* symlinks followed in one resolution, as the kernel's limit */

enum want { WANT_FILE, WANT_DIR, WANT_ANY };

/* One resolution in progress: the directories opened so far (fds[0] is the root) and
 * the lexical path they stand for, for messages. */
struct walk {
	int fds[MAX_DEPTH + 1];
	size_t lens[MAX_DEPTH + 1];
	size_t n;
	struct buf at;
	struct buf link;   /* the last symlink followed and its target, for messages */
	struct errbuf *err;
	const char *rel;
};

static void walk_release(struct walk *w)
{
	for (size_t i = 0; i <= w->n; i++)
		if (w->fds[i] >= 0)
			close(w->fds[i]);
	buf_release(&w->at);
	buf_release(&w->link);
}

/* "at/name" into out, for messages */
static const char *shown(struct walk *w, const char *name, struct buf *out)
{
	if (w->at.len)
		buf_printf(out, "%s/%s", w->at.data, name);
	else
		buf_puts(out, name);
	return out->data;
}

const char *rootfs_type_name(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a fifo" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISLNK(m) ? "a symlink" : "not a regular file";
}

static int push_dir(struct walk *w, const char *name)
{
	_cleanup_buf_ struct buf p = BUF_INIT(PATH_MAX * 2);
	int fd;

	if (w->n == MAX_DEPTH)
		return errbuf_set(w->err, -ELOOP, "'%s' is nested more than %d directories deep", w->rel,
				  MAX_DEPTH);
	fd = openat(w->fds[w->n], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();
		return errbuf_set(w->err, r, "cannot open '%s' in the rootfs: %s", shown(w, name, &p),
				  r == -ENOTDIR ? "not a directory" : strerror(-r));
	}
	w->fds[++w->n] = fd;
	w->lens[w->n] = w->at.len;
	if (w->at.len)
		buf_putc(&w->at, '/');
	buf_puts(&w->at, name);
	return 0;
}

static int pop_dir(struct walk *w)
{
	if (w->n == 0 && w->link.len)
		return errbuf_set(w->err, -EXDEV, "%s, outside the rootfs: refused", w->link.data);
	if (w->n == 0)
		return errbuf_set(w->err, -EXDEV, "'%s' climbs above the rootfs ('..'): refused", w->rel);
	close(w->fds[w->n]);
	w->fds[w->n] = -1;
	buf_truncate(&w->at, w->lens[w->n]);
	w->n--;
	return 0;
}

/* Takes the next component off *rest (skipping slashes) into comp. 0 when none is left. */
static int next_component(const char **rest, char comp[NAME_MAX + 1], struct walk *w)
{
	const char *p = *rest, *end;

	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	end = strchrnul(p, '/');
	if ((size_t)(end - p) > NAME_MAX)
		return errbuf_set(w->err, -ENAMETOOLONG, "'%s' has a name longer than %d bytes", w->rel,
				  NAME_MAX);
	memcpy(comp, p, (size_t)(end - p));
	comp[end - p] = '\0';
	*rest = end;
	return 1;
}

static bool only_slashes(const char *s)
{
	return s[strspn(s, "/")] == '\0';
}

/* Replaces the unresolved rest with the link's target followed by what was left. */
static int follow(struct walk *w, const char *name, struct buf *rest, const char *left, unsigned *hops)
{
	_cleanup_buf_ struct buf p = BUF_INIT(PATH_MAX * 2);
	char target[PATH_MAX];
	ssize_t n = readlinkat(w->fds[w->n], name, target, sizeof(target) - 1);

	if (n < 0)
		return errbuf_set(w->err, negative_errno(), "cannot read the symlink '%s': %m",
				  shown(w, name, &p));
	target[n] = '\0';
	if (++*hops > MAX_HOPS)
		return errbuf_set(w->err, -ELOOP, "'%s': more than %d symlinks on the way", w->rel, MAX_HOPS);
	if (target[0] == '/' || n == 0)
		return errbuf_set(w->err, -EXDEV, "'%s' is a symlink to '%s', outside the rootfs: refused",
				  shown(w, name, &p), target);
	buf_reset(&w->link);
	buf_printf(&w->link, "'%s' is a symlink to '%s'", shown(w, name, &p), target);
	_cleanup_buf_ struct buf next = BUF_INIT(PATH_MAX * 2);
	if (buf_printf(&next, "%s/%s", target, left) < 0)
		return errbuf_set(w->err, -ENAMETOOLONG, "'%s': the path grows too long through symlinks",
				  w->rel);
	buf_reset(rest);
	return buf_append(rest, next.data, next.len);
}

static int open_last(struct walk *w, const char *name, const struct stat *st, enum want want, int *ret_fd)
{
	_cleanup_buf_ struct buf p = BUF_INIT(PATH_MAX * 2);
	int fd;

	if (want == WANT_DIR) {
		int r = push_dir(w, name);
		if (r < 0)
			return r;
		*ret_fd = TAKE_FD(w->fds[w->n]);
		w->n--;
		return 0;
	}
	if (want == WANT_ANY) {
		*ret_fd = -1;
		return 0;
	}
	if (!S_ISREG(st->st_mode))
		return errbuf_set(w->err, -EINVAL, "'%s' is %s, not a regular file: refused",
				  shown(w, name, &p), rootfs_type_name(st->st_mode));
	/* O_NONBLOCK: a fifo swapped in after the check must not hang the open */
	fd = openat(w->fds[w->n], name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(w->err, negative_errno(), "cannot open '%s': %m", shown(w, name, &p));
	struct stat again;
	if (fstat(fd, &again) < 0 || !S_ISREG(again.st_mode)) {
		close(fd);
		return errbuf_set(w->err, -EINVAL, "'%s' is not a regular file: refused", shown(w, name, &p));
	}
	*ret_fd = fd;
	return 0;
}

static int resolve(int rootfd, const char *rel, unsigned flags, enum want want, int *ret_fd,
		   struct errbuf *err)
{
	struct walk w = { .at = BUF_INIT(PATH_MAX * 2), .link = BUF_INIT(PATH_MAX * 3), .err = err, .rel = rel };
	_cleanup_buf_ struct buf rest = BUF_INIT(PATH_MAX * 2);
	char comp[NAME_MAX + 1];
	unsigned hops = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(w.fds); i++)
		w.fds[i] = -1;
	if (strlen(rel) >= PATH_MAX)
		return errbuf_set(err, -ENAMETOOLONG, "a path in the rootfs is longer than %d bytes", PATH_MAX);
	if (rel[0] == '/')
		return errbuf_set(err, -EXDEV, "'%s' is absolute: only paths inside the rootfs are read", rel);
	w.fds[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (w.fds[0] < 0)
		return negative_errno();
	buf_puts(&rest, rel);
	for (;;) {
		const char *left = rest.data;
		struct stat st;
		r = next_component(&left, comp, &w);
		if (r <= 0)
			break;
		if (strcmp(comp, ".") == 0) {
			r = 0;
		} else if (strcmp(comp, "..") == 0) {
			r = pop_dir(&w);
		} else if (fstatat(w.fds[w.n], comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			_cleanup_buf_ struct buf p = BUF_INIT(PATH_MAX * 2);
			r = negative_errno();
			errbuf_set(err, r, "'%s' %s", shown(&w, comp, &p),
				   r == -ENOENT ? "does not exist in the rootfs" : strerror(-r));
		} else if (S_ISLNK(st.st_mode) && !(flags & ROOTFS_FOLLOW_INSIDE)) {
			_cleanup_buf_ struct buf p = BUF_INIT(PATH_MAX * 2);
			char target[PATH_MAX] = "";
			ssize_t n = readlinkat(w.fds[w.n], comp, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			r = errbuf_set(err, -ELOOP, "'%s' is a symlink (to '%s'): cirun follows no symlink "
				       "there, so nothing outside the rootfs is read or changed",
				       shown(&w, comp, &p), target);
		} else if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *tail = xstrdup(left);
			r = follow(&w, comp, &rest, tail, &hops);
			if (r < 0)
				break;
			continue;
		} else if (!only_slashes(left)) {
			r = push_dir(&w, comp);
		} else {
			r = open_last(&w, comp, &st, want, ret_fd);
			walk_release(&w);
			return r;
		}
		if (r < 0)
			break;
		memmove(rest.data, left, strlen(left) + 1);
		rest.len = strlen(rest.data);
	}
	if (r == 0) {
		/* the path named the root or a directory reached through ".." or a link */
		if (want == WANT_FILE)
			r = errbuf_set(err, -EISDIR, "'%s' is a directory, not a regular file: refused", rel);
		else if (want == WANT_DIR)
			*ret_fd = TAKE_FD(w.fds[w.n]);
		else
			*ret_fd = -1;
	}
	walk_release(&w);
	return r < 0 ? r : 0;
}

int rootfs_open_file(int rootfd, const char *rel, unsigned flags, int *ret_fd, struct errbuf *err)
{
	return resolve(rootfd, rel, flags, WANT_FILE, ret_fd, err);
}

int rootfs_read_file(int rootfd, const char *rel, unsigned flags, struct buf *b, struct stat *ret_st,
		     struct errbuf *err)
{
	_cleanup_close_ int fd = -1;
	int r = resolve(rootfd, rel, flags, WANT_FILE, &fd, err);

	if (r < 0)
		return r;
	if (ret_st && fstat(fd, ret_st) < 0)
		return errbuf_set(err, negative_errno(), "cannot read '%s': %m", rel);
	r = buf_read_fd(b, fd);
	if (r < 0)
		return errbuf_set(err, r, "cannot read '%s': %s", rel,
				  r == -E2BIG ? "larger than cirun reads" : strerror(-r));
	return 0;
}

int rootfs_open_dir(int rootfd, const char *rel, int *ret_fd, struct errbuf *err)
{
	return resolve(rootfd, rel, 0, WANT_DIR, ret_fd, err);
}

int rootfs_check_link(int rootfd, const char *rel, struct errbuf *err)
{
	struct errbuf e = ERRBUF_INIT;
	int fd = -1, r = resolve(rootfd, rel, ROOTFS_FOLLOW_INSIDE, WANT_ANY, &fd, &e);

	if (fd >= 0)
		close(fd);
	/* dangling, a loop, through a non-directory: it reaches nothing outside (and the
	 * setup never lets the kernel follow a link it did not resolve itself) */
	if (r != -EXDEV)
		return 0;
	*err = e;
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dfd, sorted; *ret is malloc'd, each name too. */
static int list_names(int dfd, char ***ret, size_t *ret_n)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	char **names = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	*ret = names;
	*ret_n = n;
	return 0;
}

struct walk_ctx {
	int rootfd;
	bool recursive;
	rootfs_walk_fn fn;
	void *data;
	struct errbuf *err;
	unsigned depth;
};

static int walk_dir(struct walk_ctx *c, int dfd, const char *rel);

static int walk_entry(struct walk_ctx *c, int dfd, const char *rel, const char *name)
{
	_cleanup_free_ char *sub = xasprintf("%s/%s", rel, name);
	struct rootfs_entry e = { .rel = sub, .name = name, .dirfd = dfd };
	int r;

	if (strlen(sub) >= PATH_MAX)
		/* the reason first: rel itself may fill the message */
		return errbuf_set(c->err, -ENAMETOOLONG, "a path longer than %d bytes is under '%s'",
				  PATH_MAX, rel);
	if (fstatat(dfd, name, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
		return errbuf_set(c->err, negative_errno(), "cannot read '%s': %m", sub);
	if (S_ISLNK(e.st.st_mode)) {
		r = rootfs_check_link(c->rootfd, sub, c->err);
		if (r < 0)
			return r;
	}
	r = c->fn(&e, c->data, c->err);
	if (r < 0 || !c->recursive || !S_ISDIR(e.st.st_mode))
		return r;
	if (c->depth >= MAX_DEPTH)
		return errbuf_set(c->err, -ELOOP, "'%s' is nested more than %d directories deep", sub, MAX_DEPTH);
	_cleanup_close_ int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return errbuf_set(c->err, negative_errno(), "cannot open '%s': %m", sub);
	c->depth++;
	r = walk_dir(c, sfd, sub);
	c->depth--;
	return r;
}

static int walk_dir(struct walk_ctx *c, int dfd, const char *rel)
{
	char **names = NULL;
	size_t n = 0;
	int r = list_names(dfd, &names, &n);

	if (r < 0)
		return errbuf_set(c->err, r, "cannot list '%s': %s", rel, strerror(-r));
	for (size_t i = 0; i < n; i++) {
		if (r >= 0)
			r = walk_entry(c, dfd, rel, names[i]);
		free(names[i]);
	}
	free(names);
	return r;
}

int rootfs_walk(int rootfd, const char *rel, bool recursive, rootfs_walk_fn fn, void *data,
		struct errbuf *err)
{
	struct walk_ctx c = { .rootfd = rootfd, .recursive = recursive, .fn = fn, .data = data, .err = err };
	struct errbuf e = ERRBUF_INIT;
	_cleanup_close_ int dfd = -1;
	int r = rootfs_open_dir(rootfd, rel, &dfd, &e);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	return walk_dir(&c, dfd, rel);
}
