#include "fs-util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "error.h"
#include "macro.h"

static int mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return negative_errno();
	if (stat(path, &st) < 0)
		return negative_errno();
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;
	char *slash;
	int r;

	if (!path || !*path)
		return -EINVAL;
	p = xstrdup(path);
	for (slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		if (slash[-1] == '/')
			continue;
		*slash = '\0';
		r = mkdir_one(p, mode);
		*slash = '/';
		if (r < 0)
			return r;
	}
	return mkdir_one(p, mode);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *dir = xstrdup(path), *name = xstrdup(path);
	_cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return negative_errno();
	return write_file_atomic_at(dfd, basename(name), data, len, mode);
}

int tmpfile_at(int dirfd, char ret_name[TMPNAME_SIZE])
{
	/* fixed length: the name it stands beside may be as long as NAME_MAX */
	for (int i = 0; i < 100; i++) {
		/* random() is never seeded here: the PID keeps two processes from walking the
		 * same sequence of names in one directory */
		unsigned long n = ((unsigned long)random() ^ ((unsigned long)getpid() << 12)) & 0xffffffffUL;
		snprintf(ret_name, TMPNAME_SIZE, ".cirun-tmp-%08lx", n);
		int fd = openat(dirfd, ret_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return negative_errno();
	}
	return -EEXIST;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	char tmp[TMPNAME_SIZE];
	int fd, r;

	if (!*name || strchr(name, '/'))
		return -EINVAL;
	fd = tmpfile_at(dirfd, tmp);
	if (fd < 0)
		return fd;
	r = write_all(fd, data, len);
	if (r >= 0)
		r = RET_NERRNO(fchmod(fd, mode));
	if (r >= 0)
		r = RET_NERRNO(fsync(fd));
	if (close(fd) < 0 && r >= 0)
		r = negative_errno();
	if (r >= 0)
		r = RET_NERRNO(renameat(dirfd, tmp, dirfd, name));
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	else
		r = RET_NERRNO(fsync(dirfd));
	return r;
}

int path_join_safe(const char *base, const char *rel, char **ret)
{
	_cleanup_free_ char *work = NULL;
	_cleanup_free_ const char **parts = NULL;
	size_t nparts = 0, cap = 0;
	struct buf out = BUF_INIT(1 << 16);
	char *save = NULL, *tok;
	int r = 0;

	if (!base || !*base || !rel)
		return -EINVAL;
	if (rel[0] == '/')
		return -EINVAL;
	work = xstrdup(rel);
	for (tok = strtok_r(work, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (nparts == 0)
				return -EPERM;
			nparts--;
			continue;
		}
		if (nparts == cap) {
			cap = cap ? cap * 2 : 16;
			parts = xreallocarray(parts, cap, sizeof(*parts));
		}
		parts[nparts++] = tok;
	}

	size_t blen = strlen(base);
	while (blen > 1 && base[blen - 1] == '/')
		blen--;
	r = buf_append(&out, base, blen);
	for (size_t i = 0; r >= 0 && i < nparts; i++) {
		if (out.data[out.len - 1] != '/')
			r = buf_putc(&out, '/');
		if (r >= 0)
			r = buf_puts(&out, parts[i]);
	}
	if (r < 0) {
		buf_release(&out);
		return -ENAMETOOLONG;
	}
	*ret = buf_detach(&out, NULL);
	return 0;
}

int dir_open_beneath(int rootfd, const char *rel, bool create, int *ret_fd)
{
	_cleanup_free_ char *work = xstrdup(rel ? rel : "");
	char *save = NULL, *tok;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return negative_errno();
	for (tok = strtok_r(work, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		int next;

		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			close(fd);
			return -EPERM;
		}
		next = openat(fd, tok, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, tok, 0755) < 0 && errno != EEXIST) {
				int r = negative_errno();
				close(fd);
				return r;
			}
			next = openat(fd, tok, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int r = negative_errno();
			close(fd);
			return r;
		}
		close(fd);
		fd = next;
	}
	*ret_fd = fd;
	return 0;
}

static int rm_children(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = negative_errno();
		close(dfd);
		return r;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int q = rm_rf_at(dirfd(d), de->d_name);
		if (q < 0 && r == 0)
			r = q;
	}
	closedir(d);
	return r;
}

int rm_rf_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return negative_errno();
	int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	int r = rm_children(dfd);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}
