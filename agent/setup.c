#include "setup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "install-record.h"
#include "layers.h"
#include "log.h"
#include "layer.h"
#include "macro.h"
#include "rootfs-walk.h"
#include "strset.h"
#include "template.h"
#include "units.h"

#define TEMPLATE_MAX (16u << 20)

static struct setup_paths paths = {
	.usr_bin = "/usr/bin",
	.usr_local_bin = "/usr/local/bin",
	.systemd_dir = "/etc/systemd/system",
	.use_bus = 1,
};

void setup_set_paths(const struct setup_paths *p)
{
	paths = *p;
}

struct setup {
	char *rootfs;
	int rootfd;
	unsigned flags;
	struct install_record *rec; /* what runs put outside the rootfs */
	struct buf sums;	  /* "hex  path" of what this run installed (sha256sum's format) */
	struct strset *old_sums;  /* those lines: what each unit's content was when it last started */
	struct strset *old_paths; /* the paths they name */
	struct buf old_text;	  /* the lines as read, kept for a run that fails */
	struct strset *changed;	  /* paths whose content differs from the last run's */
	struct strset *started;	  /* paths a unit that this run (re)started depends on */
	const struct kv *env;
	size_t nenv;
	struct setup_report *rep;
	struct errbuf *err;
	bool record_full;	  /* a line did not fit the digests: fail, never drop */
};

static int refuse_control(struct errbuf *err, const char *what, const char *name)
{
	_cleanup_free_ char *shown = install_record_escaped(name);
	return errbuf_set(err, -EINVAL, "%s '%s' has a control character in its name: refused (the "
			  "install record lists one path per line)", what, shown);
}

/* The digests of what the units last started with: what a unit's restart is decided on. */
static void sums_load(struct setup *s, const char *file)
{
	_cleanup_buf_ struct buf old = BUF_INIT(16u << 20);
	char *save = NULL;

	if (buf_read_file(&old, file) < 0)
		return;
	for (char *line = strtok_r(old.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ' ||
		    !install_record_line_ok(file, line + 66))
			continue;
		strset_add(s->old_sums, line);
		strset_add(s->old_paths, line + 66);
		if (buf_printf(&s->old_text, "%s\n", line) < 0)
			s->record_full = true;
	}
}

/* path was installed with content hex: recorded for a later clean and compared with
 * what the last run installed there. */
static void installed(struct setup *s, const char *path, const char *hex)
{
	_cleanup_free_ char *line = xasprintf("%s  %s", hex, path);

	install_record_add(s->rec, path);
	if (buf_printf(&s->sums, "%s\n", line) < 0)
		s->record_full = true;
	if (!strset_contains(s->old_sums, line))
		strset_add(s->changed, path);
}

static int claim(struct setup *s, const char *path)
{
	return install_record_claim(s->rec, path, s->err);
}

static int ensure_dir(struct setup *s, const char *path)
{
	return install_record_ensure_dir(s->rec, path, s->err);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int digest_fd(struct setup *s, int fd, const char *what, char hex[SHA256_HEX_SIZE])
{
	int r = sha256_fd(fd, hex, NULL);
	return r < 0 ? errbuf_set(s->err, r, "cannot read '%s': %s", what, strerror(-r)) : 0;
}

/* ---- rendering ---- */

struct render {
	struct setup *s;
	bool all_files; /* statics/: every file in place; else *.tmpl → the name without it */
};

static int render_entry(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	struct render *c = data;
	_cleanup_buf_ struct buf in = BUF_INIT(TEMPLATE_MAX), out = BUF_INIT(TEMPLATE_MAX);
	_cleanup_free_ char *dst = NULL;
	struct stat st;
	int r;

	if (S_ISDIR(e->st.st_mode) || (!c->all_files && !has_suffix(e->name, ".tmpl")))
		return 0;
	if (!S_ISREG(e->st.st_mode))
		return errbuf_set(err, -EINVAL, "'%s' is %s: templates and statics/ must be regular files",
				  e->rel, rootfs_type_name(e->st.st_mode));
	r = rootfs_read_file(e->dirfd, e->name, 0, &in, &st, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", e->rel);
	r = template_render(e->rel, in.data, in.len, c->s->env, c->s->nenv, &out, err);
	if (r < 0)
		return r;
	dst = c->all_files ? xstrdup(e->name) : xstrndup(e->name, strlen(e->name) - 5);
	r = write_file_atomic_at(e->dirfd, dst, out.data, out.len, st.st_mode & 0777);
	if (r < 0)
		return errbuf_set(err, r, "cannot write the rendered '%s': %s", e->rel, strerror(-r));
	c->s->rep->rendered++;
	return 0;
}

static int render_all(struct setup *s)
{
	static const char *const tmpl_dirs[] = { "etc", "charts", "manifests" };
	struct render c = { .s = s };
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(tmpl_dirs); i++)
		r = rootfs_walk(s->rootfd, tmpl_dirs[i], true, render_entry, &c, s->err);
	c.all_files = true;
	if (r >= 0)
		r = rootfs_walk(s->rootfd, "statics", true, render_entry, &c, s->err);
	return r;
}

/* ---- bin/ on PATH ---- */

/* A symlink in bin/ is linked too when it ends at a regular file inside the rootfs
 * (bin/kubectl -> kubeadm style multi-call binaries); the walk refused any that leaves. */
static int link_entry(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	struct setup *s = data;
	_cleanup_free_ char *target = NULL, *link = NULL;
	_cleanup_close_ int fd = -1;
	char hex[SHA256_HEX_SIZE];
	int r;

	if (e->name[0] == '.')
		return 0;
	if (install_record_has_control(e->name))
		return refuse_control(err, "the rootfs file", e->rel);
	if (!S_ISREG(e->st.st_mode) && !S_ISLNK(e->st.st_mode))
		return errbuf_set(err, -EINVAL, "'%s' is %s: bin/ holds the programs put on PATH",
				  e->rel, rootfs_type_name(e->st.st_mode));
	r = rootfs_open_file(s->rootfd, e->rel, ROOTFS_FOLLOW_INSIDE, &fd, err);
	if (r < 0)
		return r;
	r = digest_fd(s, fd, e->rel, hex);
	if (r < 0)
		return r;
	target = xasprintf("%s/%s", s->rootfs, e->rel);
	link = xasprintf("%s/%s", paths.usr_local_bin, e->name);
	r = claim(s, link);
	if (r < 0)
		return r;
	if (unlink(link) < 0 && errno != ENOENT)
		return errbuf_set(err, negative_errno(), "cannot replace '%s': %m", link);
	if (symlink(target, link) < 0)
		return errbuf_set(err, negative_errno(), "cannot link '%s': %m", link);
	installed(s, link, hex);
	s->rep->linked++;
	return 0;
}

static int link_bins(struct setup *s)
{
	int r = ensure_dir(s, paths.usr_local_bin);
	return r < 0 ? r : rootfs_walk(s->rootfd, "bin", false, link_entry, s, s->err);
}

/* ---- cri/ archives into /usr/bin ---- */

/* The contract installs an archive flat, as sealer's `tar -C /usr/bin` of a flat tarball
 * did: each entry lands under its base name (bin/ctr → /usr/bin/ctr). An absolute name or
 * a ".." anywhere is refused; *ret is NULL for a name that is only "." or "/". */
static int flat_name(const char *name, char **ret)
{
	_cleanup_free_ char *work = xstrdup(name);
	const char *last = NULL;
	char *save = NULL;

	*ret = NULL;
	if (name[0] == '/')
		return -EINVAL;
	for (char *t = strtok_r(work, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (strcmp(t, "..") == 0)
			return -EPERM;
		if (strcmp(t, ".") != 0)
			last = t;
	}
	if (last)
		*ret = xstrdup(last);
	return 0;
}

/* A symlink entry stays a symlink, to the flattened name of what it points at; its target
 * must stay inside the archive (resolved from the entry's own directory), and name a file
 * the same archive installs (checked once the whole archive is read, see cri_links). */
static int cri_symlink_target(const char *name, const char *target, char **ret)
{
	_cleanup_free_ char *dir = xstrdup(name), *joined = NULL;
	char *slash = strrchr(dir, '/');

	if (!target || !*target || target[0] == '/')
		return -EXDEV;
	if (slash)
		*slash = '\0';
	joined = slash ? xasprintf("%s/%s", dir, target) : xstrdup(target);
	_cleanup_free_ char *resolved = NULL;
	if (path_join_safe("/", joined, &resolved) < 0 || strcmp(resolved, "/") == 0)
		return -EXDEV;
	*ret = xstrdup(strrchr(resolved, '/') + 1);
	return 0;
}

struct cri_link {
	char *name; /* the entry, for messages */
	char *target;
	char *base; /* installed as /usr/bin/base */
	char *flat; /* pointing at /usr/bin/flat */
};

struct cri {
	struct setup *s;
	const char *shown; /* the archive, relative to the rootfs */
	int ubfd;	   /* /usr/bin */
	struct strset *names;
	struct strset *files;	/* the names installed as files (hard links included) */
	struct cri_link *links; /* symlinks, made once all files are known */
	size_t nlinks;
};

static int pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return negative_errno();
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int cri_write_data(struct cri *c, struct archive *a, const char *base, mode_t mode,
			  la_int64_t total)
{
	char tmp[TMPNAME_SIZE];
	int fd = tmpfile_at(c->ubfd, tmp), r = 0;
	const void *block;
	size_t size;
	la_int64_t off;

	if (fd < 0)
		return errbuf_set(c->s->err, fd, "cannot write in '%s': %s", paths.usr_bin, strerror(-fd));
	for (;;) {
		int k = archive_read_data_block(a, &block, &size, &off);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_OK) {
			r = errbuf_set(c->s->err, -EBADMSG, "reading '%s' in '%s': %s", base, c->shown,
				       archive_error_string(a));
			break;
		}
		r = pwrite_all(fd, block, size, off);
		if (r < 0) {
			r = errbuf_set(c->s->err, r, "cannot write '%s/%s': %s", paths.usr_bin, base,
				       strerror(-r));
			break;
		}
	}
	/* a sparse file's trailing hole comes as no data block */
	if (r >= 0 && total > 0 && ftruncate(fd, total) < 0)
		r = errbuf_set(c->s->err, negative_errno(), "cannot write '%s/%s': %m", paths.usr_bin, base);
	/* no set-id bits from an archive */
	if (r >= 0 && (fchmod(fd, mode & 0777) < 0 || fsync(fd) < 0))
		r = errbuf_set(c->s->err, negative_errno(), "cannot write '%s/%s': %m", paths.usr_bin, base);
	close(fd);
	if (r >= 0 && renameat(c->ubfd, tmp, c->ubfd, base) < 0)
		r = errbuf_set(c->s->err, negative_errno(), "cannot install '%s/%s': %m", paths.usr_bin, base);
	if (r < 0)
		unlinkat(c->ubfd, tmp, 0);
	return r;
}
/* A hard link becomes a link to the flattened file it names, which an earlier entry of
 * the same archive installed (tar stores the file before its links). */
static int cri_hardlink(struct cri *c, const char *name, const char *target, const char *base)
{
	_cleanup_free_ char *tbase = NULL;
	char tmp[TMPNAME_SIZE];
	int fd;

	if (flat_name(target, &tbase) < 0 || !tbase)
		return errbuf_set(c->s->err, -EPERM, "'%s' in '%s' is a hard link to '%s', outside the archive: "
				  "refused", name, c->shown, target);
	if (!strset_contains(c->files, tbase) || strcmp(tbase, base) == 0)
		return errbuf_set(c->s->err, -EBADMSG, "'%s' in '%s' is a hard link to '%s', which the archive "
				  "does not hold before it", name, c->shown, target);
	fd = tmpfile_at(c->ubfd, tmp);
	if (fd < 0)
		return errbuf_set(c->s->err, fd, "cannot write in '%s': %s", paths.usr_bin, strerror(-fd));
	close(fd);
	unlinkat(c->ubfd, tmp, 0);
	if (linkat(c->ubfd, tbase, c->ubfd, tmp, 0) < 0 || renameat(c->ubfd, tmp, c->ubfd, base) < 0) {
		int r = negative_errno();
		unlinkat(c->ubfd, tmp, 0);
		return errbuf_set(c->s->err, r, "cannot link '%s/%s' to '%s': %s", paths.usr_bin, base, tbase,
				  strerror(-r));
	}
	return 0;
}

static int cri_symlink(struct cri *c, const char *flat, const char *base)
{
	char tmp[TMPNAME_SIZE];
	int fd;

	fd = tmpfile_at(c->ubfd, tmp);
	if (fd < 0)
		return errbuf_set(c->s->err, fd, "cannot write in '%s': %s", paths.usr_bin, strerror(-fd));
	close(fd);
	unlinkat(c->ubfd, tmp, 0);
	if (symlinkat(flat, c->ubfd, tmp) < 0 || renameat(c->ubfd, tmp, c->ubfd, base) < 0) {
		int r = negative_errno();
		unlinkat(c->ubfd, tmp, 0);
		return errbuf_set(c->s->err, r, "cannot link '%s/%s': %s", paths.usr_bin, base, strerror(-r));
	}
	return 0;
}

/* The digest a later run compares: a file's content, a symlink's target. */
static int cri_digest(struct cri *c, const char *base, char hex[SHA256_HEX_SIZE])
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(c->ubfd, base, target, sizeof(target));

	if (n >= 0)
		return sha256_buf(target, (size_t)n, hex);
	_cleanup_close_ int fd = openat(c->ubfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(c->s->err, negative_errno(), "cannot read '%s/%s': %m", paths.usr_bin, base);
	return digest_fd(c->s, fd, base, hex);
}

/* A symlink of the archive, queued until every file of it is known. */
static int cri_queue_link(struct cri *c, const char *name, const char *target, const char *base)
{
	_cleanup_free_ char *flat = NULL;

	if (cri_symlink_target(name, target, &flat) < 0)
		return errbuf_set(c->s->err, -EXDEV, "'%s' in '%s' is a symlink to '%s', outside the archive: "
				  "refused", name, c->shown, target ? target : "");
	c->links = xreallocarray(c->links, c->nlinks + 1, sizeof(*c->links));
	c->links[c->nlinks++] = (struct cri_link){ .name = xstrdup(name), .target = xstrdup(target),
						   .base = xstrdup(base), .flat = TAKE_PTR(flat) };
	return 0;
}

/* Each symlink must end at a file the same archive installed: a lexically inside target
 * that the archive does not hold ("bin/evil -> ../x/bash") would link to the host's own
 * /usr/bin/bash. Tar order is free, so this is checked after the whole archive. */
static int cri_links(struct cri *c)
{
	char hex[SHA256_HEX_SIZE];
	int r = 0;

	for (size_t i = 0; r >= 0 && i < c->nlinks; i++) {
		const struct cri_link *l = &c->links[i];
		_cleanup_free_ char *dst = xasprintf("%s/%s", paths.usr_bin, l->base);
		if (!strset_contains(c->files, l->flat))
			return errbuf_set(c->s->err, -EXDEV, "'%s' in '%s' is a symlink to '%s', which is "
					  "not a file the archive installs: refused", l->name, c->shown,
					  l->target);
		r = cri_symlink(c, l->flat, l->base);
		if (r >= 0)
			r = cri_digest(c, l->base, hex);
		if (r >= 0) {
			installed(c->s, dst, hex);
			c->s->rep->cri_files++;
		}
	}
	return r;
}

static int cri_entry(struct cri *c, struct archive *a, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *hard = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	_cleanup_free_ char *base = NULL, *dst = NULL;
	char hex[SHA256_HEX_SIZE];
	int r;

	if (!name)
		return errbuf_set(c->s->err, -EBADMSG, "an entry of '%s' has no name", c->shown);
	if (install_record_has_control(name)) {
		_cleanup_free_ char *shown = xasprintf("in '%s' the entry", c->shown);
		return refuse_control(c->s->err, shown, name);
	}
	r = flat_name(name, &base);
	if (r < 0)
		return errbuf_set(c->s->err, r, "'%s' in '%s' %s: refused", name, c->shown,
				  r == -EPERM ? "has a '..'" : "is absolute");
	if (!base || (type == AE_IFDIR && !hard))
		return 0; /* flat: no directory is created */
	if (!hard && type != AE_IFREG && type != AE_IFLNK)
		return errbuf_set(c->s->err, -EBADMSG, "'%s' in '%s' is not a file, link or directory",
				  name, c->shown);
	if (strset_add(c->names, base) == 0)
		return errbuf_set(c->s->err, -EBADMSG, "'%s' in '%s': another entry is installed as '%s' "
				  "too (archives in cri/ are installed flat into %s)", name, c->shown, base,
				  paths.usr_bin);
	dst = xasprintf("%s/%s", paths.usr_bin, base);
	r = claim(c->s, dst);
	if (r < 0)
		return r;
	if (type == AE_IFLNK && !hard)
		return cri_queue_link(c, name, archive_entry_symlink(e), base);
	if (hard)
		r = cri_hardlink(c, name, hard, base);
	else
		r = cri_write_data(c, a, base, archive_entry_perm(e), archive_entry_size(e));
	if (r >= 0)
		r = cri_digest(c, base, hex);
	if (r < 0)
		return r;
	strset_add(c->files, base);
	installed(c->s, dst, hex);
	c->s->rep->cri_files++;
	return 0;
}

static int extract_cri(struct setup *s, const char *shown, int fd)
{
	struct archive *a = tar_reader_new();
	struct archive_entry *e;
	struct cri c = { .s = s, .shown = shown, .names = strset_new(), .files = strset_new() };
	int r = 0;

	c.ubfd = open(paths.usr_bin, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.ubfd < 0)
		r = errbuf_set(s->err, negative_errno(), "cannot open '%s': %m", paths.usr_bin);
	else if (archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK)
		r = errbuf_set(s->err, -EBADMSG, "cannot read '%s': %s", shown, archive_error_string(a));
	while (r >= 0) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = errbuf_set(s->err, -EBADMSG, "reading '%s': %s", shown, archive_error_string(a));
			break;
		}
		r = cri_entry(&c, a, e);
	}
	if (r >= 0)
		r = cri_links(&c);
	if (c.ubfd >= 0)
		close(c.ubfd);
	for (size_t i = 0; i < c.nlinks; i++) {
		free(c.links[i].name);
		free(c.links[i].target);
		free(c.links[i].base);
		free(c.links[i].flat);
	}
	free(c.links);
	strset_free(c.files);
	strset_free(c.names);
	archive_read_free(a);
	return r;
}

static int cri_archive(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	static const char *const exts[] = { ".tar", ".tar.gz", ".tgz", ".tar.zst" };
	struct setup *s = data;
	_cleanup_close_ int fd = -1;
	bool archive = false;
	int r;

	for (size_t k = 0; k < ELEMENTSOF(exts); k++)
		archive |= has_suffix(e->name, exts[k]);
	if (!archive)
		return 0;
	if (!S_ISREG(e->st.st_mode))
		return errbuf_set(err, -EINVAL, "'%s' is %s: a CRI archive must be a regular file", e->rel,
				  rootfs_type_name(e->st.st_mode));
	r = rootfs_open_file(e->dirfd, e->name, 0, &fd, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", e->rel);
	log_info("installing the CRI from %s into %s", e->rel, paths.usr_bin);
	return extract_cri(s, e->rel, fd);
}

static int install_cri(struct setup *s)
{
	_cleanup_close_ int fd = -1;
	struct errbuf none = ERRBUF_INIT;
	int r;

	/* /usr/bin is only made (and recorded) when the image has a cri/ */
	if (rootfs_open_dir(s->rootfd, "cri", &fd, &none) == -ENOENT)
		return 0;
	r = ensure_dir(s, paths.usr_bin);
	return r < 0 ? r : rootfs_walk(s->rootfd, "cri", false, cri_archive, s, s->err);
}

/* ---- units ---- */

struct units_list {
	struct unit *v;
	size_t n;
};

struct unit {
	char *name;
	char *path;	   /* where it was installed */
	struct buf text;   /* the unit, then its drop-in: for the programs it starts */
	bool restart;
};

typedef bool (*unit_dep_fn)(struct setup *s, const char *path, void *data);

/* Calls fn for each path the unit's running instance depends on: its file, its drop-in,
 * and the programs its ExecStart*= lines start from /usr/bin or /usr/local/bin. Stops at
 * the first fn that returns true, and returns whether one did. */
static bool unit_deps(struct setup *s, const struct unit *u, const char *dropin, unit_dep_fn fn,
		      void *data)
{
	_cleanup_free_ char *text = xstrdup(u->text.data);
	char *save = NULL;

	if (fn(s, u->path, data) || (dropin && fn(s, dropin, data)))
		return true;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		l += strspn(l, " \t");
		if (strncmp(l, "ExecStart", 9) != 0 || !strchr(l, '='))
			continue;
		l = strchr(l, '=') + 1;
		l += strspn(l, " \t@-:+!|");
		l[strcspn(l, " \t")] = '\0';
		const char *base = strrchr(l, '/');
		_cleanup_free_ char *host = NULL;
		if (!base)
			continue;
		if ((size_t)(base - l) == 8 && strncmp(l, "/usr/bin", 8) == 0)
			host = xasprintf("%s%s", paths.usr_bin, base);
		else if ((size_t)(base - l) == 14 && strncmp(l, "/usr/local/bin", 14) == 0)
			host = xasprintf("%s%s", paths.usr_local_bin, base);
		if (host && fn(s, host, data))
			return true;
	}
	return false;
}

static bool dep_changed(struct setup *s, const char *path, void *data)
{
	(void)data;
	return strset_contains(s->changed, path);
}

/* A unit restarts when its file, its drop-in or a program it starts that this run
 * installed changed since it was last (re)started. */
static bool unit_changed(struct setup *s, const struct unit *u, const char *dropin)
{
	return unit_deps(s, u, dropin, dep_changed, NULL);
}

static bool dep_add(struct setup *s, const char *path, void *data)
{
	(void)s;
	strset_add(data, path);
	return false;
}

static bool dep_started(struct setup *s, const char *path, void *data)
{
	if (!strset_contains(data, path))
		strset_add(s->started, path);
	return false;
}

/* What this run's digests may say for a run that fails: the content of each unit that
 * systemd was asked to (re)start with it, so the next run restarts it when that changes
 * again (a unit started before the failure was not "new" any more). A path a unit that
 * was not reached depends on keeps its old digest too. */
static void note_started(struct setup *s, const struct units_list *u, const bool *queued,
			 const char *dropin, const char *dropin_unit)
{
	_cleanup_(strset_freep) struct strset *blocked = strset_new();

	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < u->n; i++) {
			const char *d = strcmp(u->v[i].name, dropin_unit) == 0 ? dropin : NULL;
			if (pass == 0 && !queued[i])
				unit_deps(s, &u->v[i], d, dep_add, blocked);
			else if (pass == 1 && queued[i])
				unit_deps(s, &u->v[i], d, dep_started, blocked);
		}
}

static int install_file(struct setup *s, const char *rel, const char *dst, struct buf *b)
{
	char hex[SHA256_HEX_SIZE];
	int r = rootfs_read_file(s->rootfd, rel, 0, b, NULL, s->err);

	if (r < 0)
		return r;
	r = claim(s, dst);
	if (r < 0)
		return r;
	r = write_file_atomic(dst, b->data, b->len, 0644);
	if (r < 0)
		return errbuf_set(s->err, r, "cannot install '%s' as '%s': %s", rel, dst, strerror(-r));
	r = sha256_buf(b->data, b->len, hex);
	if (r < 0)
		return errbuf_set(s->err, r, "cannot digest '%s'", dst);
	installed(s, dst, hex);
	return 0;
}


static int unit_entry(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	struct units_list *u = data;

	if (!has_suffix(e->name, ".service") || S_ISDIR(e->st.st_mode))
		return 0;
	if (install_record_has_control(e->name))
		return refuse_control(err, "the unit file", e->rel);
	if (!S_ISREG(e->st.st_mode))
		return errbuf_set(err, -EINVAL, "'%s' is %s: a unit file must be a regular file", e->rel,
				  rootfs_type_name(e->st.st_mode));
	u->v = xreallocarray(u->v, u->n + 1, sizeof(*u->v));
	u->v[u->n++] = (struct unit){ .name = xstrdup(e->name), .text = BUF_INIT(1 << 20) };
	return 0;
}

static int install_units(struct setup *s)
{
	static const char dropin_rel[] = "etc/10-kubeadm.conf", dropin_unit[] = "kubelet.service";
	_cleanup_free_ char *dropin_dir = NULL, *dropin = NULL;
	_cleanup_buf_ struct buf dropin_text = BUF_INIT(1 << 20);
	_cleanup_close_ int probe = -1;
	struct errbuf none = ERRBUF_INIT;
	struct units_list u = { 0 };
	char **names = NULL;
	bool *restart = NULL, *queued = NULL;
	int r = rootfs_walk(s->rootfd, "etc", false, unit_entry, &u, s->err);

	if (r >= 0 && u.n)
		r = ensure_dir(s, paths.systemd_dir);
	for (size_t i = 0; r >= 0 && i < u.n; i++) {
		_cleanup_free_ char *rel = xasprintf("etc/%s", u.v[i].name);
		u.v[i].path = xasprintf("%s/%s", paths.systemd_dir, u.v[i].name);
		r = install_file(s, rel, u.v[i].path, &u.v[i].text);
	}
	dropin_dir = xasprintf("%s/%s.d", paths.systemd_dir, dropin_unit);
	dropin = xasprintf("%s/10-kubeadm.conf", dropin_dir);
	if (r >= 0 && rootfs_open_file(s->rootfd, dropin_rel, 0, &probe, &none) != -ENOENT) {
		r = ensure_dir(s, dropin_dir);
		if (r >= 0)
			r = install_file(s, dropin_rel, dropin, &dropin_text);
	}
	names = xcalloc(u.n ? u.n : 1, sizeof(*names));
	restart = xcalloc(u.n ? u.n : 1, sizeof(*restart));
	queued = xcalloc(u.n ? u.n : 1, sizeof(*queued));
	for (size_t i = 0; r >= 0 && i < u.n; i++) {
		bool is_kubelet = strcmp(u.v[i].name, dropin_unit) == 0;
		/* the drop-in counts as the unit's text: a change to it restarts kubelet */
		if (is_kubelet && buf_printf(&u.v[i].text, "\n%s", dropin_text.data) < 0)
			r = errbuf_set(s->err, -E2BIG, "unit %s with its drop-in is over 1 MiB",
				       u.v[i].name);
		names[i] = u.v[i].name;
		/* a unit new to this host is started, not restarted */
		restart[i] = strset_contains(s->old_paths, u.v[i].path) &&
			     unit_changed(s, &u.v[i], is_kubelet ? dropin : NULL);
	}
	if (r >= 0 && u.n && paths.use_bus) {
		r = (paths.start ? paths.start : units_enable_start)(names, restart, u.n, dropin_unit,
								      queued, s->err);
		note_started(s, &u, queued, dropin, dropin_unit);
	}
	for (size_t i = 0; i < u.n; i++) {
		if (r >= 0)
			buf_printf(&s->rep->units, "%s%s%s", s->rep->units.len ? " " : "", u.v[i].name,
				   restart[i] ? " (restarted)" : "");
		free(u.v[i].name);
		free(u.v[i].path);
		buf_release(&u.v[i].text);
	}
	free(u.v);
	free(names);
	free(restart);
	free(queued);
	return r;
}

/* Appends to out the lines of text ("hex  path") whose path is (in) or is not in set. */
static void sums_filter(struct buf *out, const struct buf *text, const struct strset *set, bool in)
{
	_cleanup_free_ char *copy = xstrndup(text->data ? text->data : "", text->len);
	char *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strlen(l) > 66 && strset_contains(set, l + 66) == in)
			buf_printf(out, "%s\n", l);
}

/* A failed run: the old digests, but the new ones of what units were started with. */
static void sums_write_started(struct setup *s, const char *file)
{
	_cleanup_buf_ struct buf out = BUF_INIT(32u << 20);
	int q;

	sums_filter(&out, &s->old_text, s->started, false);
	sums_filter(&out, &s->sums, s->started, true);
	q = write_file_atomic(file, out.data, out.len, 0600);
	if (q < 0)
		log_warning("cannot record the digests of the units started in '%s': %s", file,
			    strerror(-q));
}

int host_setup(const char *cluster, const struct kv *env, size_t nenv, unsigned flags,
	       struct setup_report *rep, struct errbuf *err)
{
	struct setup s = { .env = env, .nenv = nenv, .flags = flags, .rep = rep, .err = err,
			   .sums = BUF_INIT(16u << 20),
			   .old_text = BUF_INIT(16u << 20) };
	_cleanup_free_ char *sums = NULL;
	int r, q;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	s.rootfs = xasprintf("%s/data/%s/rootfs", agent_root(), cluster);
	sums = xasprintf("%s/data/%s/installed.sha256", agent_root(), cluster);
	/* the agent made the rootfs itself; from here on only its content is the image's */
	s.rootfd = open(s.rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s.rootfd < 0) {
		r = negative_errno();
		free(s.rootfs);
		return errbuf_set(err, r, "no rootfs for cluster %s yet", cluster);
	}
	/* a later clean removes what any run of this cluster installed */
	s.rec = install_record_open(cluster, flags & SETUP_FORCE ? INSTALL_RECORD_FORCE : 0);
	s.old_sums = strset_new();
	s.old_paths = strset_new();
	s.changed = strset_new();
	s.started = strset_new();
	sums_load(&s, sums);
	r = render_all(&s);
	if (r >= 0)
		r = link_bins(&s);
	if (r >= 0)
		r = install_cri(&s);
	if (r >= 0)
		r = install_units(&s);
	if (r >= 0 && s.record_full)
		r = errbuf_set(err, -E2BIG, "the install record of cluster %s is over 16 MiB; "
			       "what was installed is recorded up to there", cluster);
	r = install_record_write(s.rec, r, err);
	/* all digests after a whole success; after a failure only those of what started */
	if (r >= 0) {
		q = write_file_atomic(sums, s.sums.data, s.sums.len, 0600);
		if (q < 0)
			r = errbuf_set(err, q, "cannot record the installed digests in '%s': %s", sums,
				       strerror(-q));
	} else if (strset_size(s.started) > 0) {
		sums_write_started(&s, sums);
	}
	buf_release(&s.sums);
	buf_release(&s.old_text);
	strset_free(s.started);
	install_record_free(s.rec);
	strset_free(s.old_sums);
	strset_free(s.old_paths);
	strset_free(s.changed);
	close(s.rootfd);
	free(s.rootfs);
	return r;
}
