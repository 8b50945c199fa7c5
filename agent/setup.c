#include "setup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "layers.h"
#include "log.h"
#include "layer.h"
#include "macro.h"
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
	struct buf installed;	/* the record: what was there, then what this run added */
	struct strset *seen;
	const struct kv *env;
	size_t nenv;
	struct setup_report *rep;
	struct errbuf *err;
};

static void record(struct setup *s, const char *path)
{
	if (strset_add(s->seen, path) == 1)
		buf_printf(&s->installed, "%s\n", path);
}

/* Loads the record of earlier runs, so each path is listed once however often a
 * cluster is re-run. */
static void record_load(struct setup *s, const char *list)
{
	_cleanup_buf_ struct buf old = BUF_INIT(16u << 20);
	char *save = NULL;

	if (buf_read_file(&old, list) < 0)
		return;
	for (char *line = strtok_r(old.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		record(s, line);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* ---- rendering ---- */

static int render_file(struct setup *s, const char *src, const char *dst)
{
	_cleanup_buf_ struct buf in = BUF_INIT(TEMPLATE_MAX), out = BUF_INIT(TEMPLATE_MAX);
	const char *shown = src + strlen(s->rootfs) + 1; /* errors name the rootfs path */
	struct stat st;
	int r = buf_read_file(&in, src);

	if (r < 0)
		return errbuf_set(s->err, r, "cannot read '%s': %s", shown, strerror(-r));
	if (stat(src, &st) < 0)
		return errbuf_set(s->err, negative_errno(), "cannot read '%s'", shown);
	r = template_render(shown, in.data, in.len, s->env, s->nenv, &out, s->err);
	if (r < 0)
		return r;
	r = write_file_atomic(dst, out.data, out.len, st.st_mode & 07777);
	if (r < 0)
		return errbuf_set(s->err, r, "cannot write '%s': %s", dst, strerror(-r));
	s->rep->rendered++;
	return 0;
}

/* *.tmpl below dir (recursively), or every regular file when all_files (statics/). */
static int render_tree(struct setup *s, const char *dir, bool all_files)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), r = 0;

	if (n < 0)
		return errno == ENOENT ? 0 : errbuf_set(s->err, negative_errno(), "cannot list '%s'", dir);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		_cleanup_free_ char *p = NULL;
		struct stat st;
		if (r < 0 || !strcmp(nm, ".") || !strcmp(nm, "..")) {
			free(names[i]);
			continue;
		}
		p = xasprintf("%s/%s", dir, nm);
		if (lstat(p, &st) < 0) {
			free(names[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			r = render_tree(s, p, all_files);
		} else if (S_ISREG(st.st_mode) && all_files) {
			r = render_file(s, p, p);
		} else if (S_ISREG(st.st_mode) && has_suffix(nm, ".tmpl")) {
			_cleanup_free_ char *dst = xstrndup(p, strlen(p) - 5);
			r = render_file(s, p, dst);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

static int render_all(struct setup *s)
{
	static const char *const tmpl_dirs[] = { "etc", "charts", "manifests" };
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(tmpl_dirs); i++) {
		_cleanup_free_ char *d = NULL;
		d = xasprintf("%s/%s", s->rootfs, tmpl_dirs[i]);
		r = render_tree(s, d, false);
	}
	if (r >= 0) {
		_cleanup_free_ char *d = NULL;
		d = xasprintf("%s/statics", s->rootfs);
		r = render_tree(s, d, true);
	}
	return r;
}

/* ---- bin/ on PATH ---- */

static int link_bins(struct setup *s)
{
	_cleanup_free_ char *bin = NULL;
	struct dirent **names;
	int n, r = 0;

	bin = xasprintf("%s/bin", s->rootfs);
	n = scandir(bin, &names, NULL, by_name);
	if (n < 0)
		return 0;
	r = mkdir_p(paths.usr_local_bin, 0755);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		_cleanup_free_ char *target = NULL, *link = NULL;
		struct stat st;
		if (r < 0 || nm[0] == '.') {
			free(names[i]);
			continue;
		}
		target = xasprintf("%s/%s", bin, nm);
		link = xasprintf("%s/%s", paths.usr_local_bin, nm);
		/* replace our own links; never a file someone else installed */
		if (lstat(link, &st) == 0 && !S_ISLNK(st.st_mode)) {
			r = errbuf_set(s->err, -EEXIST, "'%s' exists and is not a link cirun made; remove it "
				       "or take '%s' out of the image's bin/", link, nm);
		} else {
			unlink(link);
			if (symlink(target, link) < 0)
				r = errbuf_set(s->err, negative_errno(), "cannot link '%s': %m", link);
			else {
				record(s, link);
				s->rep->linked++;
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* ---- cri/ archives into /usr/bin ---- */

static int extract_cri(struct setup *s, const char *archive_path)
{
	struct archive *a = tar_reader_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	int r = 0;

	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
					  ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
					  ARCHIVE_EXTRACT_UNLINK);
	if (archive_read_open_filename(a, archive_path, 1 << 20) != ARCHIVE_OK) {
		r = errbuf_set(s->err, -EBADMSG, "cannot read '%s': %s", archive_path, archive_error_string(a));
		goto out;
	}
	while (r >= 0) {
		int h = archive_read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = errbuf_set(s->err, -EBADMSG, "reading '%s': %s", archive_path, archive_error_string(a));
			break;
		}
		const char *name = archive_entry_pathname(e);
		if (!name) {
			r = errbuf_set(s->err, -EBADMSG, "an entry in '%s' has no name", archive_path);
			break;
		}
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		if (archive_entry_filetype(e) == AE_IFDIR || !*name)
			continue;
		if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFLNK) {
			r = errbuf_set(s->err, -EBADMSG, "'%s' in '%s' is not a file", name, archive_path);
			break;
		}
		_cleanup_free_ char *dst = NULL;
		r = path_join_safe(paths.usr_bin, name, &dst);
		if (r < 0) {
			r = errbuf_set(s->err, r, "'%s' in '%s' leaves %s", name, archive_path, paths.usr_bin);
			break;
		}
		archive_entry_set_pathname(e, dst);
		if (archive_write_header(w, e) < ARCHIVE_WARN) {
			r = errbuf_set(s->err, -EIO, "installing '%s': %s", dst, archive_error_string(w));
			break;
		}
		const void *block;
		size_t size;
		la_int64_t off;
		int k;
		while ((k = archive_read_data_block(a, &block, &size, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(w, block, size, off) < ARCHIVE_WARN)
				break;
		if (k < ARCHIVE_WARN || archive_write_finish_entry(w) < ARCHIVE_WARN) {
			r = errbuf_set(s->err, -EIO, "installing '%s' failed", dst);
			break;
		}
		record(s, dst);
		s->rep->cri_files++;
	}
out:
	archive_write_free(w);
	archive_read_free(a);
	return r;
}

static int install_cri(struct setup *s)
{
	static const char *const exts[] = { ".tar", ".tar.gz", ".tgz", ".tar.zst" };
	_cleanup_free_ char *dir = NULL;
	struct dirent **names;
	int n, r = 0;

	dir = xasprintf("%s/cri", s->rootfs);
	n = scandir(dir, &names, NULL, by_name);
	if (n < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		bool archive = false;
		for (size_t k = 0; k < ELEMENTSOF(exts); k++)
			archive |= has_suffix(names[i]->d_name, exts[k]);
		if (r >= 0 && archive) {
			_cleanup_free_ char *p = NULL;
			p = xasprintf("%s/%s", dir, names[i]->d_name);
			log_info("installing the CRI from %s into %s", p, paths.usr_bin);
			r = extract_cri(s, p);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* ---- units ---- */

static int copy_unit(struct setup *s, const char *src, const char *dst)
{
	_cleanup_buf_ struct buf b = BUF_INIT(1 << 20);
	int r = buf_read_file(&b, src);

	if (r >= 0)
		r = write_file_atomic(dst, b.data, b.len, 0644);
	if (r < 0)
		return errbuf_set(s->err, r, "cannot install '%s' as '%s': %s", src, dst, strerror(-r));
	record(s, dst);
	return 0;
}

static int install_units(struct setup *s)
{
	_cleanup_free_ char *etc = NULL, *dropin = NULL, *dropin_dir = NULL;
	char **units = NULL;
	size_t nunits = 0;
	struct dirent **names;
	int n, r = 0;

	etc = xasprintf("%s/etc", s->rootfs);
	n = scandir(etc, &names, NULL, by_name);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r >= 0 && has_suffix(nm, ".service") && names[i]->d_type != DT_DIR) {
			_cleanup_free_ char *src = NULL, *dst = NULL;
			src = xasprintf("%s/%s", etc, nm);
			dst = xasprintf("%s/%s", paths.systemd_dir, nm);
			r = mkdir_p(paths.systemd_dir, 0755);
			if (r >= 0)
				r = copy_unit(s, src, dst);
			units = xreallocarray(units, nunits + 1, sizeof(*units));
			units[nunits++] = xstrdup(nm);
		}
		free(names[i]);
	}
	if (n > 0)
		free(names);
	dropin = xasprintf("%s/10-kubeadm.conf", etc);
	dropin_dir = xasprintf("%s/kubelet.service.d", paths.systemd_dir);
	if (r >= 0 && access(dropin, F_OK) == 0) {
		_cleanup_free_ char *dst = NULL;
		dst = xasprintf("%s/10-kubeadm.conf", dropin_dir);
		r = mkdir_p(dropin_dir, 0755);
		if (r >= 0)
			r = copy_unit(s, dropin, dst);
	}
	if (r >= 0 && nunits && paths.use_bus)
		r = units_enable_start(units, nunits, "kubelet.service", s->err);
	for (size_t i = 0; i < nunits; i++) {
		if (r >= 0)
			buf_printf(&s->rep->units, "%s%s", s->rep->units.len ? " " : "", units[i]);
		free(units[i]);
	}
	free(units);
	return r;
}

int host_setup(const char *cluster, const struct kv *env, size_t nenv, struct setup_report *rep,
	       struct errbuf *err)
{
	struct setup s = { .env = env, .nenv = nenv, .rep = rep, .err = err,
			   .installed = BUF_INIT(16u << 20) };
	_cleanup_free_ char *list = NULL;
	int r, q;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	s.rootfs = xasprintf("%s/data/%s/rootfs", agent_root(), cluster);
	list = xasprintf("%s/data/%s/installed", agent_root(), cluster);
	if (access(s.rootfs, F_OK) < 0) {
		free(s.rootfs);
		return errbuf_set(err, -ENOENT, "no rootfs for cluster %s yet", cluster);
	}
	/* a later clean removes what any run of this cluster installed */
	s.seen = strset_new();
	record_load(&s, list);
	r = render_all(&s);
	if (r >= 0)
		r = link_bins(&s);
	if (r >= 0)
		r = install_cri(&s);
	if (r >= 0)
		r = install_units(&s);
	/* written even after a failure: what was installed before it must be recorded */
	q = write_file_atomic(list, s.installed.data, s.installed.len, 0600);
	if (q < 0 && r >= 0)
		r = errbuf_set(err, q, "cannot record the installed files in '%s': %s", list, strerror(-q));
	buf_release(&s.installed);
	strset_free(s.seen);
	free(s.rootfs);
	return r;
}
