#include "journal-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "journal.h"
#include "macro.h"
#include "name.h"

#define JOURNAL_NAME "journal"

static int open_dir(const char *root, const char *cluster, bool create, int *ret,
		    struct errbuf *err)
{
	_cleanup_close_ int rootfd = -1;
	_cleanup_free_ char *rel = NULL;
	int r;

	/* the decoder checked it; a caller that did not gets no path out of the tree */
	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "refusing the cluster name '%.80s'", cluster);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return create ? errbuf_set(err, negative_errno(), "cannot open %s: %m", root)
			      : -ENOENT;
	rel = xasprintf("data/%s", cluster);
	r = dir_open_beneath(rootfd, rel, create, ret);
	if (r == -ENOENT && !create)
		return r;
	if (r < 0)
		return errbuf_set(err, r, "cannot open %s/%s without following a symlink: %s", root,
				  rel, strerror(-r));
	return 0;
}

/* The journal in dirfd into out; 0 also when there is none */
static int read_at(int dirfd, const char *where, struct buf *out, struct errbuf *err)
{
	_cleanup_close_ int fd = openat(dirfd, JOURNAL_NAME,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int r;

	buf_reset(out);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s/" JOURNAL_NAME " (a symlink is "
				  "refused): %m", where);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "%s/" JOURNAL_NAME " is not a regular file", where);
	r = buf_read_fd(out, fd);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s/" JOURNAL_NAME " is larger than %u bytes", where,
				  JOURNAL_MAX_BYTES);
	if (r < 0)
		return errbuf_set(err, r, "cannot read %s/" JOURNAL_NAME ": %s", where, strerror(-r));
	return 0;
}

int journal_file_read(const char *root, const char *cluster, struct buf *out, struct errbuf *err)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *where = xasprintf("%s/data/%s", root, cluster);
	int r = open_dir(root, cluster, false, &dirfd, err);

	buf_reset(out);
	if (r == -ENOENT)
		return 0; /* nothing was ever recorded for this cluster here */
	if (r < 0)
		return r;
	return read_at(dirfd, where, out, err);
}

static int append_at(int dirfd, const char *where, const char *line, struct errbuf *err)
{
	_cleanup_close_ int fd = openat(dirfd, JOURNAL_NAME, O_WRONLY | O_APPEND | O_CREAT |
					O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	_cleanup_free_ char *rec = xasprintf("%s\n", line);
	struct stat st;
	size_t n = strlen(rec);

	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s/" JOURNAL_NAME ": %m", where);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "%s/" JOURNAL_NAME " is not a regular file", where);
	/* one write of one short line: O_APPEND puts it whole at the end */
	if (write(fd, rec, n) != (ssize_t)n || fsync(fd) < 0 || fsync(dirfd) < 0)
		return errbuf_set(err, negative_errno(), "cannot append to %s/" JOURNAL_NAME ": %m",
				  where);
	return 0;
}

int journal_file_append(const char *root, const char *cluster, const char *line, struct buf *out,
			struct errbuf *err)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *where = xasprintf("%s/data/%s", root, cluster);
	_cleanup_buf_ struct buf now = BUF_INIT(JOURNAL_MAX_BYTES);
	struct journal *j = NULL;
	bool torn = false;
	int r = journal_line_check(line, err);

	if (r < 0)
		return errbuf_prefix(err, "refusing the journal record '%.80s'", line);
	r = open_dir(root, cluster, true, &dirfd, err);
	if (r >= 0)
		r = read_at(dirfd, where, &now, err);
	if (r < 0)
		return r;
	r = journal_parse(now.data, now.len, &j, &torn, err);
	if (r < 0)
		return errbuf_prefix(err, "%s/" JOURNAL_NAME " (remove it to run every step again)",
				     where);
	size_t lines = journal_count(j);
	bool full = lines + 1 > JOURNAL_MAX_LINES || now.len + strlen(line) + 1 > JOURNAL_MAX_BYTES;
	if (torn || full) {
		/* rewritten whole: without the torn line, or with one record of each step */
		buf_reset(out);
		r = full ? journal_compact(j, out) : 0;
		if (!full) {
			const char *end = memrchr(now.data, '\n', now.len);
			r = buf_append(out, now.data, end ? (size_t)(end - now.data) + 1 : 0);
		}
		if (r >= 0)
			r = buf_printf(out, "%s\n", line);
		if (r >= 0)
			r = write_file_atomic_at(dirfd, JOURNAL_NAME, out->data, out->len, 0600);
		if (r < 0)
			r = errbuf_set(err, r, "cannot rewrite %s/" JOURNAL_NAME ": %s", where,
				       strerror(-r));
	} else {
		r = append_at(dirfd, where, line, err);
	}
	journal_free(j);
	if (r < 0)
		return r;
	return read_at(dirfd, where, out, err);
}
