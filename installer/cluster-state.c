/* The saved cluster definition (installer/cluster-state.h). */
#include "cluster-state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clusterfile.h"
#include "fs-util.h"
#include "macro.h"
#include "name.h"
#include "ydoc.h"

#define STATE_MAX (4u << 20) /* as clusterfile.c reads a Clusterfile */

int cluster_state_home(const char **ret, struct errbuf *err)
{
	const char *home = getenv("CIRUN_HOME");

	if (home && !*home)
		return errbuf_set(err, -EINVAL, "CIRUN_HOME is set but empty: unset it or give a "
				  "directory");
	*ret = home ? home : "/var/lib/cirun";
	return 0;
}

static int check_name(const char *name, struct errbuf *err)
{
	if (!name || !cluster_name_valid(name))
		return errbuf_set(err, -EINVAL, "'%s' is not a cluster name (lower-case letters, "
				  "digits, '.', '_', '-', at most 63)", name ? name : "");
	return 0;
}

/* ---- rendering ---- */

static void map_str(struct ynode *m, const char *key, const char *value)
{
	if (value)
		ynode_map_set(m, key, ynode_new_str(value));
}

static struct ynode *kv_seq(const struct kv *v, size_t n)
{
	struct ynode *seq = ynode_new_seq();

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *item = xasprintf("%s=%s", v[i].key, v[i].value);
		ynode_seq_append(seq, ynode_new_str(item));
	}
	return seq;
}

/* pk paths are kept absolute: a later delete runs from another directory */
static char *absolute(const char *path)
{
	_cleanup_free_ char *cwd = NULL;

	if (!path || path[0] == '/')
		return NULL;
	cwd = getcwd(NULL, 0);
	return cwd ? xasprintf("%s/%s", cwd, path) : NULL;
}

static struct ynode *ssh_map(const struct ssh_settings *s)
{
	struct ynode *m = ynode_new_map();
	char port[16];

	map_str(m, "user", s->user);
	map_str(m, "passwd", s->password);
	_cleanup_free_ char *abs = absolute(s->pk_file);
	map_str(m, "pk", abs ? abs : s->pk_file);
	map_str(m, "pkPasswd", s->pk_passphrase);
	if (s->port) {
		snprintf(port, sizeof(port), "%u", s->port);
		map_str(m, "port", port); /* as sealer writes it */
	}
	return m;
}

static struct ynode *doc_head(const char *api, const char *kind, const char *name)
{
	struct ynode *d = ynode_new_map(), *meta = ynode_new_map();

	map_str(d, "apiVersion", api);
	map_str(d, "kind", kind);
	map_str(meta, "name", name);
	ynode_map_set(d, "metadata", meta);
	return d;
}

/* One group per host: each keeps its own role, SSH settings and env. */
static struct ynode *cluster_doc(const struct cluster *c)
{
	struct ynode *d = doc_head("sealer.cloud/v2", "Cluster", c->name);
	struct ynode *spec = ynode_new_map(), *hosts = ynode_new_seq();

	map_str(spec, "image", c->image);
	if (c->nenv)
		ynode_map_set(spec, "env", kv_seq(c->env, c->nenv));
	if (c->ncmd_args)
		ynode_map_set(spec, "cmd_args", kv_seq(c->cmd_args, c->ncmd_args));
	ynode_map_set(spec, "ssh", ssh_map(&c->ssh));
	if (c->registry_host) {
		struct ynode *reg = ynode_new_map();
		map_str(reg, "host", c->registry_host);
		ynode_map_set(spec, "registry", reg);
	}
	for (size_t i = 0; i < c->nhosts; i++) {
		const struct cluster_host *h = &c->hosts[i];
		struct ynode *g = ynode_new_map(), *ips = ynode_new_seq(), *roles = ynode_new_seq();
		ynode_seq_append(ips, ynode_new_str(h->ip));
		ynode_seq_append(roles, ynode_new_str(role_name(h->role)));
		ynode_map_set(g, "ips", ips);
		ynode_map_set(g, "roles", roles);
		ynode_map_set(g, "ssh", ssh_map(&h->ssh));
		if (h->nenv)
			ynode_map_set(g, "env", kv_seq(h->env, h->nenv));
		ynode_seq_append(hosts, g);
	}
	ynode_map_set(spec, "hosts", hosts);
	ynode_map_set(d, "spec", spec);
	return d;
}

static struct ynode *plugin_doc(const struct cluster_plugin *p)
{
	struct ynode *d = doc_head("sealer.cloud/v2", "Plugin", p->name), *spec = ynode_new_map();

	map_str(spec, "type", p->type);
	map_str(spec, "action", p->action);
	map_str(spec, "on", p->on);
	map_str(spec, "data", p->data);
	ynode_map_set(d, "spec", spec);
	return d;
}

static struct ynode *config_doc_tree(const struct config_doc *cfg)
{
	struct ynode *d = doc_head("sealer.cloud/v2", "Config", cfg->name), *spec = ynode_new_map();

	map_str(spec, "path", cfg->path);
	map_str(spec, "data", cfg->data);
	map_str(spec, "strategy", config_strategy_name(cfg->strategy));
	ynode_map_set(d, "spec", spec);
	return d;
}

/* s is UTF-8 as RFC 3629 has it (no overlong form, no surrogate, at most U+10FFFF): YAML
 * holds nothing else, and libyaml refuses to write it. */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned char b = *p;
		size_t len = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 :
			     (b & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1f : len == 3 ? b & 0x0f : b & 0x07;

		if (len == 0)
			return false;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

/* A field that is not UTF-8, named (its value never: it may be a password), with what
 * to do; where is "" (the cluster's own) or " of host IP". */
static int check_ssh_utf8(const struct ssh_settings *s, const char *where, const char *name,
			  struct errbuf *err)
{
	const struct {
		const char *value, *field, *fix;
	} f[] = {
		{ s->user, "ssh.user", "give the user name in UTF-8" },
		{ s->password, "ssh.passwd (the SSH password)", "give it in UTF-8 (change the host's "
		  "password if need be), or use a key (--pk)" },
		{ s->pk_file, "ssh.pk (the key's path)", "move or link the key to a path in UTF-8" },
		{ s->pk_passphrase, "ssh.pkPasswd (the key's passphrase)", "give the key a passphrase "
		  "in UTF-8 (ssh-keygen -p)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		if (f[i].value && !utf8_valid(f[i].value))
			return errbuf_set(err, -EINVAL, "cannot save cluster %s's definition: %s%s is not "
					  "valid UTF-8 (the saved Clusterfile is YAML, UTF-8 only): %s",
					  name, f[i].field, where, f[i].fix);
	return 0;
}

static int check_kv_utf8(const struct kv *v, size_t n, const char *field, const char *where,
			 const char *name, struct errbuf *err)
{
	for (size_t i = 0; i < n; i++) {
		if (utf8_valid(v[i].key) && utf8_valid(v[i].value))
			continue;
		/* the key is a name (an identifier when it came through parse_env_item) */
		_cleanup_free_ char *what = utf8_valid(v[i].key) ?
			xasprintf("the value of %s %s", field, v[i].key) :
			xasprintf("%s item %zu", field, i + 1);
		return errbuf_set(err, -EINVAL, "cannot save cluster %s's definition: %s%s is not "
				  "valid UTF-8 (the saved Clusterfile is YAML, UTF-8 only): give it "
				  "in UTF-8 (base64 for binary data)", name, what, where);
	}
	return 0;
}

/* What the command line, the environment and files given by path can bring in (the
 * Clusterfile's own YAML documents were UTF-8 when they were read). */
static int check_utf8(const struct cluster *c, struct errbuf *err)
{
	int r = 0;

	if (c->image && !utf8_valid(c->image))
		return errbuf_set(err, -EINVAL, "cannot save cluster %s's definition: the image name is "
				  "not valid UTF-8", c->name);
	if (c->registry_host && !utf8_valid(c->registry_host))
		return errbuf_set(err, -EINVAL, "cannot save cluster %s's definition: registry.host is "
				  "not valid UTF-8", c->name);
	r = check_ssh_utf8(&c->ssh, "", c->name, err);
	if (r >= 0)
		r = check_kv_utf8(c->env, c->nenv, "env", "", c->name, err);
	if (r >= 0)
		r = check_kv_utf8(c->cmd_args, c->ncmd_args, "cmd_args", "", c->name, err);
	for (size_t i = 0; r >= 0 && i < c->nhosts; i++) {
		const struct cluster_host *h = &c->hosts[i];
		if (!utf8_valid(h->ip))
			return errbuf_set(err, -EINVAL, "cannot save cluster %s's definition: host %zu's "
					  "address is not valid UTF-8", c->name, i + 1);
		_cleanup_free_ char *where = xasprintf(" of host %s", h->ip);
		r = check_ssh_utf8(&h->ssh, where, c->name, err);
		if (r >= 0)
			r = check_kv_utf8(h->env, h->nenv, "env", where, c->name, err);
	}
	return r;
}

int cluster_state_render(const struct cluster *c, struct buf *out, struct errbuf *err)
{
	size_t n = 1 + c->nplugins + c->nconfigs + c->nkubeadm, k = 0;
	struct ynode **docs = NULL;
	int r = check_utf8(c, err);

	if (r < 0)
		return r;
	docs = xcalloc(n, sizeof(*docs));
	docs[k++] = cluster_doc(c);
	for (size_t i = 0; i < c->nplugins; i++)
		docs[k++] = plugin_doc(&c->plugins[i]);
	for (size_t i = 0; i < c->nconfigs; i++)
		docs[k++] = config_doc_tree(&c->configs[i]);
	for (size_t i = 0; i < c->nkubeadm; i++)
		docs[k++] = ynode_dup(c->kubeadm[i].tree);
	r = ydoc_emit_err(docs, n, out, err);
	for (size_t i = 0; i < n; i++)
		ynode_free(docs[i]);
	free(docs);
	if (r == -E2BIG)
		return errbuf_set(err, r, "cannot write cluster %s's definition: it is over %u MiB",
				  c->name, STATE_MAX >> 20);
	if (r < 0)
		return errbuf_prefix(err, "cannot write cluster %s's definition as YAML", c->name);
	return 0;
}

/* ---- the directory ---- */

/* home/clusters/<name>, made 0700 when missing; a symlink or non-directory on the way
 * (below home) is refused. Returns an fd. */
static int open_state_dir(const char *home, const char *name, bool create, int *ret,
			  struct errbuf *err)
{
	_cleanup_close_ int hfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int cfd = -1;
	const char *parts[2] = { "clusters", name };
	int r;

	if (hfd < 0 && errno == ENOENT && create) {
		if ((r = mkdir_p(home, 0700)) < 0)
			return errbuf_set(err, r, "cannot create %s: %s", home, strerror(-r));
		hfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (hfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s: %m", home);
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		if (create && mkdirat(hfd, parts[i], 0700) < 0 && errno != EEXIST)
			return errbuf_set(err, negative_errno(), "cannot create %s/%s: %m", home,
					  i ? "clusters/<name>" : "clusters");
		int fd = openat(hfd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = negative_errno();
			struct stat st;
			if (r == -ENOENT)
				return r;
			if (fstatat(hfd, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				r = -ELOOP; /* O_DIRECTORY says ENOTDIR */
			return errbuf_set(err, r, "%s/clusters/%s: %s (a symlink or a file is "
					  "refused, never followed)", home, i ? name : "",
					  r == -ELOOP ? "is a symbolic link" : strerror(-r));
		}
		close(hfd);
		hfd = fd;
	}
	/* it holds passwords: whatever made it before, only we may enter it */
	if (create && fchmod(hfd, 0700) < 0)
		return errbuf_set(err, negative_errno(), "cannot make %s/clusters/%s 0700: %m", home,
				  name);
	*ret = TAKE_FD(hfd);
	return 0;
}

int cluster_state_save(const char *home, const struct cluster *c, struct errbuf *err)
{
	_cleanup_buf_ struct buf text = BUF_INIT(STATE_MAX);
	_cleanup_close_ int dfd = -1;
	int r = check_name(c->name, err);

	if (r >= 0)
		r = cluster_state_render(c, &text, err);
	if (r >= 0)
		r = open_state_dir(home, c->name, true, &dfd, err);
	if (r >= 0) {
		r = write_file_atomic_at(dfd, CLUSTER_STATE_FILE, text.data, text.len, 0600);
		if (r < 0)
			errbuf_set(err, r, "cannot write %s/clusters/%s/" CLUSTER_STATE_FILE ": %s",
				   home, c->name, strerror(-r));
	}
	if (text.data)
		explicit_bzero(text.data, text.len);
	return r;
}

/* ---- reading it back ---- */

static int read_state(int dfd, const char *file, const char *path, struct buf *b,
		      struct errbuf *err)
{
	_cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0) {
		int r = negative_errno();
		if (r == -ENOENT)
			return r;
		return errbuf_set(err, r, "%s: %s", path,
				  r == -ELOOP ? "is a symbolic link: refused" : strerror(-r));
	}
	if (fstat(fd, &st) < 0)
		return errbuf_set(err, negative_errno(), "%s: %m", path);
	if (!S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "%s is not a regular file: refused", path);
	if (st.st_size > (off_t)STATE_MAX)
		return errbuf_set(err, -EFBIG, "%s is over %u MiB: not a saved definition", path,
				  STATE_MAX >> 20);
	int r = buf_read_fd(b, fd);
	return r < 0 ? errbuf_set(err, r, "cannot read %s: %s", path, strerror(-r)) : 0;
}

/* Reads home/clusters/<name>/<file> into ret as a Clusterfile of cluster name (ret zeroed
 * first, released on failure); -ENOENT without an error message when there is none. */
static int load_file(const char *home, const char *name, const char *file,
		     struct cluster *ret, char **ret_path, struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(STATE_MAX);
	_cleanup_close_ int dfd = -1;
	int r = check_name(name, err);

	memset(ret, 0, sizeof(*ret));
	*ret_path = xasprintf("%s/clusters/%s/%s", home, name, file);
	if (r >= 0)
		r = open_state_dir(home, name, false, &dfd, err);
	if (r >= 0)
		r = read_state(dfd, file, *ret_path, &b, err);
	if (r == -ENOENT)
		return r;
	if (r >= 0)
		r = clusterfile_parse(*ret_path, b.data ? b.data : "", b.len, ret, err);
	if (b.data)
		explicit_bzero(b.data, b.len);
	if (r >= 0 && strcmp(ret->name, name) != 0)
		r = errbuf_set(err, -EINVAL, "%s describes cluster '%s', not '%s': refused",
			       *ret_path, ret->name, name);
	if (r < 0)
		cluster_release(ret);
	return r;
}

int cluster_state_load(const char *home, const char *name, struct cluster *ret,
		       struct errbuf *err)
{
	_cleanup_free_ char *path = NULL;
	int r = load_file(home, name, CLUSTER_STATE_FILE, ret, &path, err);

	if (r == -ENOENT)
		return errbuf_set(err, r, "no saved cluster '%s' (%s)", name, path);
	if (r >= 0 && (r = cluster_finish(ret, err)) < 0)
		cluster_release(ret);
	return r;
}

void cluster_state_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int cluster_state_list(const char *home, char ***ret, size_t *ret_n, struct errbuf *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/clusters", home);
	struct dirent **ents = NULL;
	char **names = NULL;
	size_t n = 0;
	int k = scandir(dir, &ents, NULL, alphasort);

	*ret = NULL;
	*ret_n = 0;
	if (k < 0)
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot list %s: %m", dir);
	for (int i = 0; i < k; i++) {
		const char *nm = ents[i]->d_name;
		struct stat st;
		_cleanup_free_ char *f = xasprintf("%s/%s/" CLUSTER_STATE_FILE, dir, nm);
		/* a directory of admin.conf alone was not saved by a run of this version */
		if (cluster_name_valid(nm) && lstat(f, &st) == 0 && S_ISREG(st.st_mode)) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(nm);
		}
		free(ents[i]);
	}
	free(ents);
	*ret = names;
	*ret_n = n;
	return 0;
}

int cluster_state_pick(const char *home, const char *name, char **ret, struct errbuf *err)
{
	char **names;
	size_t n;
	int r;

	if (name) {
		if ((r = check_name(name, err)) < 0)
			return r;
		_cleanup_free_ char *f = xasprintf("%s/clusters/%s/" CLUSTER_STATE_FILE, home, name);
		if (access(f, F_OK) < 0)
			return errbuf_set(err, -ENOENT, "no saved cluster '%s' (%s): 'cirun clusters' "
					  "lists them", name, f);
		*ret = xstrdup(name);
		return 0;
	}
	if ((r = cluster_state_list(home, &names, &n, err)) < 0)
		return r;
	if (n == 1) {
		*ret = xstrdup(names[0]);
	} else if (n == 0) {
		r = errbuf_set(err, -ENOENT, "no saved cluster in %s/clusters", home);
	} else {
		char list[512] = "";
		for (size_t i = 0; i < n; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", names[i]);
		r = errbuf_set(err, -EINVAL, "%zu saved clusters (%s): say which with --cluster-name",
			       n, list);
	}
	cluster_state_list_free(names, n);
	return r;
}

int cluster_state_remove(const char *home, const char *name, struct errbuf *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/clusters", home);
	_cleanup_close_ int dfd = -1;
	int r = check_name(name, err);

	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : errbuf_set(err, negative_errno(), "cannot open %s: %m", dir);
	r = rm_rf_at(dfd, name);
	if (r < 0)
		return errbuf_set(err, r, "cannot remove %s/%s: %s", dir, name, strerror(-r));
	return 0;
}

/* ---- the hosts still to clean ---- */

int cluster_state_save_to_clean(const char *home, const struct cluster *rec, struct errbuf *err)
{
	_cleanup_buf_ struct buf text = BUF_INIT(STATE_MAX);
	_cleanup_close_ int dfd = -1;
	int r = check_name(rec->name, err);

	if (r >= 0)
		r = open_state_dir(home, rec->name, true, &dfd, err);
	if (r >= 0 && rec->nhosts == 0) {
		if (unlinkat(dfd, CLUSTER_TO_CLEAN_FILE, 0) < 0 && errno != ENOENT)
			r = errbuf_set(err, negative_errno(), "cannot remove %s/clusters/%s/"
				       CLUSTER_TO_CLEAN_FILE ": %m", home, rec->name);
		return r;
	}
	if (r >= 0)
		r = cluster_state_render(rec, &text, err);
	if (r >= 0) {
		r = write_file_atomic_at(dfd, CLUSTER_TO_CLEAN_FILE, text.data, text.len, 0600);
		if (r < 0)
			errbuf_set(err, r, "cannot write %s/clusters/%s/" CLUSTER_TO_CLEAN_FILE ": %s",
				   home, rec->name, strerror(-r));
	}
	if (text.data)
		explicit_bzero(text.data, text.len);
	return r;
}

/* Each host was written with its settings resolved: one without a user, a port or a way
 * to log in was not written by cirun. */
static int check_to_clean(const struct cluster *rec, const char *path, struct errbuf *err)
{
	for (size_t i = 0; i < rec->nhosts; i++) {
		const struct ssh_settings *s = &rec->hosts[i].ssh;
		const char *colon = strchr(rec->hosts[i].ip, ':');
		/* an IPv6 address has several colons; one is an "ip:port" cirun never writes */
		if (!s->user || !s->port || (!s->password && !s->pk_file) ||
		    (colon && !strchr(colon + 1, ':')))
			return errbuf_set(err, -EINVAL, "%s: host %s has no complete ssh settings: not "
					  "a record cirun wrote", path, rec->hosts[i].ip);
	}
	return 0;
}

int cluster_state_load_to_clean(const char *home, const char *name, struct cluster *ret,
				struct errbuf *err)
{
	_cleanup_free_ char *path = NULL;
	int r = load_file(home, name, CLUSTER_TO_CLEAN_FILE, ret, &path, err);

	if (r == -ENOENT) {
		/* none: nothing is left to clean */
		errbuf_clear(err);
		ret->name = xstrdup(name);
		return 0;
	}
	if (r >= 0 && (r = check_to_clean(ret, path, err)) < 0)
		cluster_release(ret);
	return r;
}
