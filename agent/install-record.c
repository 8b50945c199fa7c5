/* The install record of a cluster on a host (agent/install-record.h). */
#include "install-record.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "layers.h"
#include "log.h"
#include "macro.h"
#include "name.h"
#include "strset.h"

struct install_record {
	char *cluster;
	char *file;
	unsigned flags;
	struct buf text;	/* what was there, then what this run added */
	struct strset *seen;	/* the same, as a set */
	struct strset *others;	/* what runs of the host's other clusters installed */
	bool full;		/* a path did not fit: fail, never drop it */
};

bool install_record_has_control(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

char *install_record_escaped(const char *name)
{
	_cleanup_buf_ struct buf b = BUF_INIT(16384);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '\n')
			buf_puts(&b, "\\n");
		else if (*p == '\t')
			buf_puts(&b, "\\t");
		else if (*p == '\\')
			buf_puts(&b, "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(&b, "\\x%02x", *p);
		else
			buf_putc(&b, (char)*p);
	}
	return buf_detach(&b, NULL);
}

bool install_record_line_ok(const char *file, const char *line)
{
	if (line[0] == '/' && !install_record_has_control(line))
		return true;
	_cleanup_free_ char *shown = install_record_escaped(line);
	log_warning("%s: ignoring the line '%s' (not an absolute path without control characters)",
		    file, shown);
	return false;
}

void install_record_add(struct install_record *rc, const char *path)
{
	if (strset_add(rc->seen, path) == 1 && buf_printf(&rc->text, "%s\n", path) < 0)
		rc->full = true;
}

/* The good lines of a record file: into rc's own record, or into set. A file that is not
 * there is an empty record; one that cannot be read (or is over the cap) is an error. */
static int load(struct install_record *rc, const char *file, struct strset *set,
		struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(INSTALL_RECORD_MAX);
	char *save = NULL;
	int r = buf_read_file(&b, file);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return errbuf_set(err, r, "cannot read the install record %s: %s", file,
				  r == -E2BIG ? "over 16 MiB" : strerror(-r));
	for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!install_record_line_ok(file, l))
			continue;
		if (set)
			strset_add(set, l);
		else
			install_record_add(rc, l);
	}
	return 0;
}

static int load_others(struct install_record *rc, struct errbuf *err)
{
	_cleanup_free_ char *data = xasprintf("%s/data", agent_root());
	struct dirent **names;
	int n = scandir(data, &names, NULL, alphasort), r = 0;

	if (n < 0 && errno != ENOENT)
		r = errbuf_set(err, negative_errno(), "cannot list %s: %m", data);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r >= 0 && cluster_name_valid(nm) && strcmp(nm, rc->cluster) != 0) {
			_cleanup_free_ char *file = xasprintf("%s/%s/installed", data, nm);
			r = load(rc, file, rc->others, err);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return r;
}

static struct install_record *record_new(const char *cluster, unsigned flags)
{
	struct install_record *rc = xcalloc(1, sizeof(*rc));

	rc->cluster = xstrdup(cluster);
	rc->file = xasprintf("%s/data/%s/installed", agent_root(), cluster);
	rc->flags = flags;
	rc->text = (struct buf)BUF_INIT(INSTALL_RECORD_MAX);
	rc->seen = strset_new();
	rc->others = strset_new();
	return rc;
}

struct install_record *install_record_open(const char *cluster, unsigned flags)
{
	struct install_record *rc = record_new(cluster, flags);
	struct errbuf e = ERRBUF_INIT;

	if (load(rc, rc->file, NULL, &e) < 0 || load_others(rc, &e) < 0)
		log_warning("%s", errbuf_msg(&e));
	return rc;
}

int install_record_load(const char *cluster, struct install_record **ret, struct errbuf *err)
{
	_cleanup_(install_record_freep) struct install_record *rc = record_new(cluster, 0);
	int r = load(rc, rc->file, NULL, err);

	if (r >= 0)
		r = load_others(rc, err);
	if (r >= 0)
		*ret = TAKE_PTR(rc);
	return r;
}

struct install_record *install_record_free(struct install_record *rc)
{
	if (!rc)
		return NULL;
	buf_release(&rc->text);
	strset_free(rc->seen);
	strset_free(rc->others);
	free(rc->cluster);
	free(rc->file);
	free(rc);
	return NULL;
}

const char *install_record_file(const struct install_record *rc)
{
	return rc->file;
}

int install_record_claim(struct install_record *rc, const char *path, struct errbuf *err)
{
	_cleanup_free_ char *backup = NULL;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot check '%s': %m", path);
	if (strset_contains(rc->seen, path) || strset_contains(rc->others, path))
		return 0;
	backup = xasprintf("%s" INSTALL_RECORD_BACKUP_SUFFIX, path);
	if (!(rc->flags & INSTALL_RECORD_FORCE))
		return errbuf_set(err, -EEXIST, "'%s' exists and cirun did not install it (it is not in "
				  "%s): remove it, or run with --force to replace it (it is then kept "
				  "as '%s')", path, rc->file, backup);
	if (lstat(backup, &st) == 0)
		return errbuf_set(err, -EEXIST, "'%s' is in the way and its backup '%s' exists too: move "
				  "one of them away", path, backup);
	if (rename(path, backup) < 0)
		return errbuf_set(err, negative_errno(), "cannot move '%s' to '%s': %m", path, backup);
	log_warning("'%s' was not installed by cirun: moved to '%s' (--force)", path, backup);
	install_record_add(rc, backup);
	return 0;
}

int install_record_ensure_dir(struct install_record *rc, const char *path, struct errbuf *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	struct stat st;

	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) == 0)
			install_record_add(rc, p);
		else if (errno != EEXIST)
			return errbuf_set(err, negative_errno(), "cannot create '%s': %m", p);
		if (i < n)
			p[i] = '/';
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return errbuf_set(err, -ENOTDIR, "'%s' is not a directory", path);
	return 0;
}

int install_record_write(struct install_record *rc, int r, struct errbuf *err)
{
	int q = write_file_atomic(rc->file, rc->text.data, rc->text.len, 0600);

	if (r >= 0 && rc->full)
		r = errbuf_set(err, -E2BIG, "the install record of cluster %s is over 16 MiB; what "
			       "was installed is recorded up to there", rc->cluster);
	if (q < 0 && r >= 0)
		r = errbuf_set(err, q, "cannot record the installed files in '%s': %s", rc->file,
			       strerror(-q));
	return r;
}

char **install_record_paths(const struct install_record *rc, size_t *ret_n)
{
	_cleanup_free_ char *copy = xstrndup(rc->text.data ? rc->text.data : "", rc->text.len);
	char **v = NULL, *save = NULL;
	size_t n = 0;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(l);
	}
	*ret_n = n;
	return v;
}

bool install_record_shared(const struct install_record *rc, const char *path)
{
	return strset_contains(rc->others, path);
}
