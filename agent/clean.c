/* A cluster taken off a host (agent/clean.h). */
#include "clean.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "hosts.h"
#include "install-record.h"
#include "layers.h"
#include "log.h"
#include "macro.h"
#include "name.h"
#include "units.h"

static const char *const default_roots[] = { "/usr/bin", "/usr/local/bin", "/etc/systemd/system",
					     "/etc/containerd" };

static struct clean_paths paths = {
	.roots = default_roots,
	.nroots = ELEMENTSOF(default_roots),
	.systemd_dir = "/etc/systemd/system",
	.use_bus = true,
};

void clean_set_paths(const struct clean_paths *p)
{
	paths = *p;
}

static bool beneath(const char *path, const char *root)
{
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool clean_path_ok(const char *path)
{
	const char *p;

	if (path[0] != '/' || install_record_has_control(path) || strlen(path) >= PATH_MAX)
		return false;
	/* every component a plain name: no "", ".", ".." (nor a trailing '/') */
	for (p = path; *p == '/';) {
		const char *c = p + 1, *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!e)
			break;
		p = e;
	}
	for (size_t i = 0; i < paths.nroots; i++)
		if (beneath(path, paths.roots[i]))
			return true;
	return false;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* A unit file setup put directly in the unit directory (not a drop-in): its name. */
static const char *unit_of(const char *path)
{
	static const char *const kinds[] = { ".service", ".socket", ".timer", ".mount", ".path",
					     ".target" };
	size_t n = strlen(paths.systemd_dir);
	const char *leaf = path + n + 1;

	if (strncmp(path, paths.systemd_dir, n) != 0 || path[n] != '/' || strchr(leaf, '/'))
		return NULL;
	/* a unit name setup could have installed: never "-.mount" (the root file system) or
	 * anything that reads as an option */
	if (leaf[0] == '-' || leaf[0] == '.' || leaf[strspn(leaf, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-")] != '\0')
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (has_suffix(leaf, kinds[i]))
			return leaf;
	return NULL;
}

/* The directory holding path, opened from / one component at a time without following a
 * symlink; *leaf points into path. -ENOENT: it is gone already. */
static int open_parent(const char *path, const char **leaf, int *ret)
{
	_cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (root < 0)
		return negative_errno();
	*slash = '\0';
	*leaf = path + (slash - dir) + 1;
	return dir_open_beneath(root, dir + 1, false, ret);
}

enum pass { PASS_FILES, PASS_BACKUPS, PASS_DIRS };

/* One path of the record in one pass: files (and symlinks) removed, backups put back
 * where their original was, empty directories removed. A path reached through a symlink
 * is left alone and goes into kept: it may still be a run's file (a directory swapped
 * for a link), and forgetting it would make the next run refuse it as someone else's. */
static int clean_one(const char *path, enum pass pass, const struct install_record *rec,
		     struct clean_report *rep, struct buf *kept, struct errbuf *err)
{
	_cleanup_close_ int dfd = -1;
	const char *leaf = NULL;
	struct stat st;
	bool backup = has_suffix(path, INSTALL_RECORD_BACKUP_SUFFIX);
	int r = open_parent(path, &leaf, &dfd);

	if (r == -ENOENT)
		return 0;
	if (r == -ELOOP || r == -ENOTDIR) {
		/* not the directory a run made: whatever it leads to is not the record's */
		if (pass == PASS_FILES) {
			log_warning("'%s': a symlink or a file on the way: left alone, never "
				    "followed, and kept in the record", path);
			rep->refused++;
			if (buf_printf(kept, "%s\n", path) < 0)
				return errbuf_set(err, -E2BIG, "the record lines to keep are over 16 MiB");
		}
		return 0;
	}
	if (r < 0)
		return errbuf_set(err, r, "cannot reach '%s': %s", path, strerror(-r));
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot check '%s': %m", path);
	if (S_ISDIR(st.st_mode) != (pass == PASS_DIRS) || backup != (pass == PASS_BACKUPS))
		return 0;
	if (install_record_shared(rec, path)) {
		rep->shared++;
		return 0;
	}
	if (pass == PASS_BACKUPS) {
		_cleanup_free_ char *orig = xstrndup(leaf, strlen(leaf) - strlen(INSTALL_RECORD_BACKUP_SUFFIX));
		if (fstatat(dfd, orig, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return 0; /* the original's place is taken (another cluster's): left as is */
		if (renameat(dfd, leaf, dfd, orig) < 0)
			return errbuf_set(err, negative_errno(), "cannot put '%s' back: %m", path);
		log_info("put back '%s' (moved aside by a run with --force)", path);
		rep->restored++;
		return 0;
	}
	if (unlinkat(dfd, leaf, pass == PASS_DIRS ? AT_REMOVEDIR : 0) < 0) {
		if (pass == PASS_DIRS && (errno == ENOTEMPTY || errno == EEXIST)) {
			rep->kept++; /* something else lives there now */
			return 0;
		}
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot remove '%s': %m", path);
	}
	rep->removed++;
	return 0;
}

/* A unit another cluster's record lists runs for that cluster too: left running. */
static int stop_units(char **v, size_t n, const struct install_record *rec,
		      struct clean_report *rep, struct errbuf *err)
{
	_cleanup_free_ char **units = xcalloc(n ? n : 1, sizeof(*units));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *u = unit_of(v[i]);
		if (u && !has_suffix(v[i], INSTALL_RECORD_BACKUP_SUFFIX) &&
		    !install_record_shared(rec, v[i]))
			units[k++] = (char *)u;
	}
	rep->units = (unsigned)k;
	if (k == 0 || !paths.use_bus)
		return 0;
	return units_stop_disable(units, k, err);
}

/* The record reduced to what was left alone (kept, non-empty) after data/<cluster> went. */
static int keep_record(const char *cluster, const struct buf *kept, struct errbuf *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/data/%s", agent_root(), cluster);
	_cleanup_free_ char *file = xasprintf("%s/installed", dir);
	int r = mkdir_p(dir, 0700);

	if (r >= 0)
		r = write_file_atomic(file, kept->data, kept->len, 0600);
	if (r < 0)
		return errbuf_set(err, r, "cannot keep the record lines left alone in %s: %s", file,
				  strerror(-r));
	log_warning("%s keeps the paths left alone (a symlink on the way): a later run takes them "
		    "as cirun's; remove them and the file by hand once they are not needed", file);
	return 0;
}

/* Paths by length: a directory is shorter than anything inside it. */
static int shorter_first(const void *a, const void *b)
{
	size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x < y ? -1 : x > y;
}

static int remove_data(const char *cluster, struct clean_report *rep, struct errbuf *err)
{
	_cleanup_close_ int root = open(agent_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int data = -1;
	struct stat st;
	int r;

	if (root < 0)
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot open %s: %m", agent_root());
	r = dir_open_beneath(root, "data", false, &data);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return errbuf_set(err, r, "cannot open %s/data: %s", agent_root(), strerror(-r));
	if (fstatat(data, cluster, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	r = rm_rf_at(data, cluster);
	if (r < 0)
		return errbuf_set(err, r, "cannot remove %s/data/%s: %s", agent_root(), cluster,
				  strerror(-r));
	rep->data = true;
	return 0;
}

int host_clean(const char *cluster, struct clean_report *rep, struct errbuf *err)
{
	_cleanup_(install_record_freep) struct install_record *rec = NULL;
	_cleanup_buf_ struct buf kept = BUF_INIT(INSTALL_RECORD_MAX);
	char **v = NULL;
	size_t n = 0;
	bool units_gone = false;
	int r;

	*rep = (struct clean_report){ 0 };
	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	/* a record that cannot be read would leave its paths behind (and the record itself
	 * removed with data/<cluster>), another cluster's would expose its shared paths */
	r = install_record_load(cluster, &rec, err);
	if (r < 0)
		return errbuf_prefix(err, "clean of cluster %s stopped before removing anything", cluster);
	v = install_record_paths(rec, &n);
	/* hostile lines are dropped before anything, so no pass can act on one */
	for (size_t i = 0, k = 0; i < n; i++) {
		if (clean_path_ok(v[i])) {
			v[k++] = v[i];
			continue;
		}
		_cleanup_free_ char *shown = install_record_escaped(v[i]);
		log_warning("%s: '%s' is no plain path beneath the places a run writes: left alone",
			    install_record_file(rec), shown);
		rep->refused++;
		free(v[i]);
		v[i] = NULL;
	}
	n -= rep->refused;
	r = stop_units(v, n, rec, rep, err);
	/* later entries were made inside earlier ones: in reverse, children go first; the
	 * directories, whatever order they were recorded in, the longest paths first */
	for (enum pass pass = PASS_FILES; r >= 0 && pass <= PASS_DIRS; pass++) {
		if (pass == PASS_DIRS && n > 1)
			qsort(v, n, sizeof(*v), shorter_first);
		for (size_t i = n; r >= 0 && i > 0; i--) {
			unsigned before = rep->removed;
			r = clean_one(v[i - 1], pass, rec, rep, &kept, err);
			units_gone |= rep->removed > before && beneath(v[i - 1], paths.systemd_dir);
		}
	}
	if (r >= 0 && units_gone && paths.use_bus)
		r = units_reload(err);
	if (r >= 0)
		r = host_hosts_remove(cluster, &rep->hosts_block, err);
	/* last: the record goes with it, and a clean that failed above can be run again */
	if (r >= 0)
		r = remove_data(cluster, rep, err);
	if (r >= 0 && kept.len)
		r = keep_record(cluster, &kept, err);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}
