/* The cluster's /etc/hosts block and containerd mirror files (agent/hosts.h). */
#include "hosts.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "layers.h"
#include "log.h"
#include "macro.h"
#include "name.h"
#include "strset.h"

#define BACKUP_SUFFIX ".cirun-backup"
#define HOSTS_FILE_MAX (4u << 20)

static struct hosts_paths paths = {
	.etc_hosts = "/etc/hosts",
	.certs_dir = "/etc/containerd/certs.d",
};

void hosts_set_paths(const struct hosts_paths *p)
{
	paths = *p;
}

int hosts_toml(const char *mirror, const char *upstream, struct buf *out)
{
	if (upstream)
		return buf_printf(out, "server = \"https://%s\"\n\n[host.\"http://%s\"]\n"
				  "  capabilities = [\"pull\", \"resolve\"]\n", upstream, mirror);
	return buf_printf(out, "server = \"http://%s\"\n\n[host.\"http://%s\"]\n"
			  "  capabilities = [\"pull\", \"resolve\"]\n", mirror, mirror);
}

static int write_etc_hosts(const char *cluster, const struct hosts_entry *e, size_t n,
			   struct hosts_report *rep, struct errbuf *err)
{
	_cleanup_buf_ struct buf old = BUF_INIT(HOSTS_FILE_MAX);
	_cleanup_buf_ struct buf new = BUF_INIT(HOSTS_FILE_MAX);
	const char *path = paths.etc_hosts;
	struct stat st = { .st_mode = S_IFREG | 0644, .st_uid = 0, .st_gid = 0 };
	bool exists = true;
	int r;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return errbuf_set(err, negative_errno(), "cannot check '%s': %m", path);
		exists = false;
		st.st_mode = S_IFREG | 0644;
		st.st_uid = geteuid();
		st.st_gid = getegid();
	} else if (S_ISLNK(st.st_mode)) {
		return errbuf_set(err, -ELOOP, "'%s' is a symlink: cirun does not write through it "
				  "(the file it names is managed elsewhere); make '%s' a regular "
				  "file, or add the cluster's names where the link points", path, path);
	} else if (!S_ISREG(st.st_mode)) {
		return errbuf_set(err, -EINVAL, "'%s' is not a regular file", path);
	}
	if (exists) {
		_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? negative_errno() : buf_read_fd(&old, fd);
		if (r < 0)
			return errbuf_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	}
	r = hosts_block_rewrite(old.data, old.len, cluster, e, n, &new, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", path);
	if (exists && new.len == old.len && memcmp(new.data, old.data, old.len) == 0)
		return 0;
	r = write_file_atomic(path, new.data, new.len, st.st_mode & 07777);
	if (r < 0)
		return errbuf_set(err, r, "cannot write '%s': %s", path, strerror(-r));
	/* the new file is the agent's (root's): give it the owner the old one had */
	if (lchown(path, st.st_uid, st.st_gid) < 0)
		return errbuf_set(err, negative_errno(), "cannot keep the owner of '%s': %m", path);
	rep->hosts_changed = true;
	return 0;
}

struct record {
	const char *list;
	struct buf text;
	struct strset *seen;
	struct strset *others;
	unsigned flags;
	struct errbuf *err;
	bool full;
};

static void record(struct record *rc, const char *path)
{
	if (strset_add(rc->seen, path) == 1 && buf_printf(&rc->text, "%s\n", path) < 0)
		rc->full = true;
}

/* Lines of a record file into set (and into rc's record when rc is given). */
static void record_read(const char *list, struct strset *set, struct record *rc)
{
	_cleanup_buf_ struct buf b = BUF_INIT(16u << 20);
	char *save = NULL;

	if (buf_read_file(&b, list) < 0)
		return;
	for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		bool ok = l[0] == '/';
		for (const char *p = l; ok && *p; p++)
			ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
		if (!ok)
			continue; /* not trusted to say a file is cirun's */
		if (rc)
			record(rc, l);
		else
			strset_add(set, l);
	}
}

static void others_read(struct record *rc, const char *cluster)
{
	_cleanup_free_ char *data = xasprintf("%s/data", agent_root());
	struct dirent **names;
	int n = scandir(data, &names, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (cluster_name_valid(nm) && strcmp(nm, cluster) != 0) {
			_cleanup_free_ char *list = xasprintf("%s/%s/installed", data, nm);
			record_read(list, rc->others, NULL);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* As setup's claim(): what is in the way and no run installed is refused or moved. */
static int claim(struct record *rc, const char *path)
{
	_cleanup_free_ char *backup = NULL;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : errbuf_set(rc->err, negative_errno(), "cannot check '%s': %m", path);
	if (strset_contains(rc->seen, path) || strset_contains(rc->others, path))
		return 0;
	backup = xasprintf("%s" BACKUP_SUFFIX, path);
	if (!(rc->flags & HOSTS_FORCE))
		return errbuf_set(rc->err, -EEXIST, "'%s' exists and cirun did not install it (it is not "
				  "in %s): remove it, or run with --force to replace it (it is then "
				  "kept as '%s')", path, rc->list, backup);
	if (lstat(backup, &st) == 0)
		return errbuf_set(rc->err, -EEXIST, "'%s' is in the way and its backup '%s' exists too: "
				  "move one of them away", path, backup);
	if (rename(path, backup) < 0)
		return errbuf_set(rc->err, negative_errno(), "cannot move '%s' to '%s': %m", path, backup);
	log_warning("'%s' was not installed by cirun: moved to '%s' (--force)", path, backup);
	record(rc, backup);
	return 0;
}

static int ensure_dir(struct record *rc, const char *path)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	struct stat st;

	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) == 0)
			record(rc, p);
		else if (errno != EEXIST)
			return errbuf_set(rc->err, negative_errno(), "cannot create '%s': %m", p);
		if (i < n)
			p[i] = '/';
	}
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return errbuf_set(rc->err, -ENOTDIR, "'%s' is not a directory", path);
	return 0;
}

/* certs.d/NAME/hosts.toml with text, rewritten only when it differs. */
static int install_toml(struct record *rc, const char *name, const struct buf *text,
			struct hosts_report *rep)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", paths.certs_dir, name);
	_cleanup_free_ char *file = xasprintf("%s/hosts.toml", dir);
	_cleanup_buf_ struct buf old = BUF_INIT(64u << 10);
	struct stat st;
	int r = ensure_dir(rc, dir);

	if (r >= 0)
		r = claim(rc, file);
	if (r < 0)
		return r;
	if (lstat(file, &st) == 0 && S_ISREG(st.st_mode) && buf_read_file(&old, file) >= 0 &&
	    old.len == text->len && memcmp(old.data, text->data, old.len) == 0) {
		record(rc, file);
		return 0;
	}
	r = write_file_atomic(file, text->data, text->len, 0644);
	if (r < 0)
		return errbuf_set(rc->err, r, "cannot write '%s': %s", file, strerror(-r));
	record(rc, file);
	rep->mirrors_written++;
	return 0;
}

static int install_mirrors(struct record *rc, const char *mirror, char *const *up, size_t nup,
			   struct hosts_report *rep)
{
	_cleanup_buf_ struct buf text = BUF_INIT(4096);
	int r = hosts_toml(mirror, NULL, &text);

	if (r >= 0)
		r = install_toml(rc, mirror, &text, rep);
	for (size_t i = 0; r >= 0 && i < nup; i++) {
		buf_reset(&text);
		r = hosts_toml(mirror, up[i], &text);
		if (r >= 0)
			r = install_toml(rc, up[i], &text, rep);
	}
	return r;
}

int host_hosts(const char *cluster, const struct hosts_entry *e, size_t n, const char *mirror,
	       char *const *upstreams, size_t nup, unsigned flags, struct hosts_report *rep,
	       struct errbuf *err)
{
	_cleanup_free_ char *list = NULL;
	struct record rc = { .text = BUF_INIT(16u << 20), .flags = flags, .err = err };
	int r, q;

	*rep = (struct hosts_report){ 0 };
	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	/* it names a directory under certs.d */
	if (!*mirror || mirror[0] == '.' || strchr(mirror, '/'))
		return errbuf_set(err, -EINVAL, "mirror '%s' is not NAME:PORT", mirror);
	for (size_t i = 0; i < nup; i++)
		if (!hosts_name_valid(upstreams[i]))
			return errbuf_set(err, -EINVAL, "registry '%s' is not a host name", upstreams[i]);
	r = write_etc_hosts(cluster, e, n, rep, err);
	if (r < 0)
		return r;
	list = xasprintf("%s/data/%s/installed", agent_root(), cluster);
	rc.list = list;
	rc.seen = strset_new();
	rc.others = strset_new();
	record_read(list, NULL, &rc);
	others_read(&rc, cluster);
	r = install_mirrors(&rc, mirror, upstreams, nup, rep);
	if (r >= 0 && rc.full)
		r = errbuf_set(err, -E2BIG, "the install record of cluster %s is over 16 MiB", cluster);
	/* written even after a failure: what was installed before it must be recorded */
	q = write_file_atomic(list, rc.text.data, rc.text.len, 0600);
	if (q < 0 && r >= 0)
		r = errbuf_set(err, q, "cannot record the installed files in '%s': %s", list, strerror(-q));
	buf_release(&rc.text);
	strset_free(rc.seen);
	strset_free(rc.others);
	return r;
}
