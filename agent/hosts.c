/* The cluster's /etc/hosts block and containerd mirror files (agent/hosts.h). */
#include "hosts.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "install-record.h"
#include "macro.h"
#include "name.h"

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

/* e NULL: the cluster's block is taken out (a delete), a missing file left missing */
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
		if (!e)
			return 0;
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
		/* what was checked above may have been swapped since: a FIFO would block */
		_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat now;
		r = fd < 0 || fstat(fd, &now) < 0 ? negative_errno() :
		    !S_ISREG(now.st_mode) ? -EINVAL : buf_read_fd(&old, fd);
		if (r < 0)
			return errbuf_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	}
	r = e ? hosts_block_rewrite(old.data, old.len, cluster, e, n, &new, err)
	      : hosts_block_remove(old.data, old.len, cluster, &new, err);
	if (r < 0)
		return errbuf_prefix(err, "%s", path);
	if (exists && new.len == old.len && memcmp(new.data, old.data, old.len) == 0)
		return 0;
	r = write_file_atomic(path, new.data, new.len, st.st_mode & 07777);
	if (r == -EBUSY)
		return errbuf_set(err, r, "cannot replace '%s': it is a mount point (a container "
				  "runtime bind-mounts it?), which a file renamed over it cannot "
				  "replace; add the cluster's names where that file comes from, or give "
				  "the host a plain %s", path, path);
	if (r < 0)
		return errbuf_set(err, r, "cannot write '%s': %s", path, strerror(-r));
	/* the new file is the agent's (root's): give it the owner the old one had */
	if (lchown(path, st.st_uid, st.st_gid) < 0)
		return errbuf_set(err, negative_errno(), "cannot keep the owner of '%s': %m", path);
	rep->hosts_changed = true;
	return 0;
}

struct record {
	struct install_record *rec;
	struct errbuf *err;
};

/* certs.d/NAME/hosts.toml with text, rewritten only when it differs. */
static int install_toml(struct record *rc, const char *name, const struct buf *text,
			struct hosts_report *rep)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", paths.certs_dir, name);
	_cleanup_free_ char *file = xasprintf("%s/hosts.toml", dir);
	_cleanup_buf_ struct buf old = BUF_INIT(64u << 10);
	struct stat st;
	int r = install_record_ensure_dir(rc->rec, dir, rc->err);

	/* certs.d/NAME itself is not followed: hosts.toml would land where it points */
	if (r >= 0 && (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		r = errbuf_set(rc->err, -ENOTDIR, "'%s' is not a directory", dir);
	if (r >= 0)
		r = install_record_claim(rc->rec, file, rc->err);
	if (r < 0)
		return r;
	if (lstat(file, &st) == 0 && S_ISREG(st.st_mode) && buf_read_file(&old, file) >= 0 &&
	    old.len == text->len && memcmp(old.data, text->data, old.len) == 0) {
		install_record_add(rc->rec, file);
		return 0;
	}
	r = write_file_atomic(file, text->data, text->len, 0644);
	if (r < 0)
		return errbuf_set(rc->err, r, "cannot write '%s': %s", file, strerror(-r));
	install_record_add(rc->rec, file);
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
		/* the mirror's own file says where it is, not where to look first */
		if (strcmp(up[i], mirror) == 0)
			continue;
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
	_cleanup_(install_record_freep) struct install_record *rec = NULL;
	struct record rc = { .err = err };
	int r;

	*rep = (struct hosts_report){ 0 };
	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	/* it names a directory under certs.d */
	if (!*mirror || mirror[0] == '.' || strchr(mirror, '/'))
		return errbuf_set(err, -EINVAL, "mirror '%s' is not NAME:PORT", mirror);
	for (size_t i = 0; i < nup; i++)
		if (!hosts_registry_valid(upstreams[i]))
			return errbuf_set(err, -EINVAL, "registry '%s' is not a host name", upstreams[i]);
	r = write_etc_hosts(cluster, e, n, rep, err);
	if (r < 0)
		return r;
	rec = install_record_open(cluster, flags & HOSTS_FORCE ? INSTALL_RECORD_FORCE : 0);
	rc.rec = rec;
	r = install_mirrors(&rc, mirror, upstreams, nup, rep);
	return install_record_write(rec, r, err);
}

int host_hosts_remove(const char *cluster, bool *ret_changed, struct errbuf *err)
{
	struct hosts_report rep = { 0 };
	struct stat st;
	int r;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "cluster name '%s' is not valid", cluster);
	/* a symlinked /etc/hosts was never written (host_hosts refuses it): no block to take */
	if (lstat(paths.etc_hosts, &st) == 0 && S_ISLNK(st.st_mode)) {
		*ret_changed = false;
		return 0;
	}
	r = write_etc_hosts(cluster, NULL, 0, &rep, err);
	*ret_changed = rep.hosts_changed;
	return r;
}
