#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "image-scan.h"
#include "interrupt.h"
#include "layer-writer.h"
#include "layer.h"
#include "log.h"
#include "macro.h"
#include "run-diff.h"
#include "ydoc.h"

#define CLUSTERFILE_MAX (1u << 20)
#define OVERLAY_OPTS_MAX 4000 /* mount(2) data is one page */
#define BUILD_RUN_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct layer_origin;

struct builder {
	struct image_store *st;
	const struct build_opts *o;
	struct kubefile *kf;
	char *kf_path;
	char *context;	/* resolved */
	char *work;	/* $CIRUN_HOME/build */
	char *tmp;	/* this build's scratch dir */
	int tmp_slot;	/* its interrupt slot */
	struct image_meta meta;
	char chain[SHA256_HEX_SIZE];
	bool overlay_unusable;
	struct errbuf *err;
	const char *base;	/* FROM's image; NULL for scratch */
	struct layer_origin *origins;
	size_t norigins;
};

static int fail_at(struct builder *b, const struct kf_instr *in, int code, const char *fmt, ...)
	_printf_(4, 5);
static int fail_at(struct builder *b, const struct kf_instr *in, int code, const char *fmt, ...)
{
	char detail[ERRBUF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	errbuf_set(b->err, code, "%s:%u: %s %.60s: %s", b->kf_path, in->line,
		   kf_kind_name(in->kind), in->text, detail);
	b->err->line = in->line;
	return code;
}

/* Byte order, not the locale's: the same context must give the same layer anywhere. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* ---- cache ---- */

static int key_of(struct builder *b, const struct kf_instr *in, const char *extra,
		  char out[SHA256_HEX_SIZE])
{
	struct sha256 *h;
	int r = sha256_new(&h);

	if (r < 0)
		return fail_at(b, in, r, "cannot start a digest: %s", strerror(-r));
	sha256_update(h, "cirun-build-v1\n", 15);
	sha256_update(h, b->chain, strlen(b->chain));
	sha256_update(h, "\n", 1);
	sha256_update(h, kf_kind_name(in->kind), strlen(kf_kind_name(in->kind)));
	sha256_update(h, "\n", 1);
	sha256_update(h, in->text, strlen(in->text));
	sha256_update(h, "\n", 1);
	sha256_update(h, extra, strlen(extra));
	r = sha256_final(h, out);
	sha256_free(h);
	return r < 0 ? fail_at(b, in, r, "computing the cache key failed") : 0;
}

static bool cache_get(struct builder *b, const char *key, struct layer_info *li)
{
	_cleanup_free_ char *p = xasprintf("%s/cache/%s", b->work, key);
	_cleanup_buf_ struct buf content = BUF_INIT(4096);
	char digest[80], diff[80];
	uint64_t size;

	if (b->o->no_cache || buf_read_file(&content, p) < 0)
		return false;
	if (sscanf(content.data, "%79s %79s %" SCNu64, digest, diff, &size) != 3 ||
	    !digest_ref_valid(digest) || !digest_ref_valid(diff) ||
	    !image_store_has_blob(b->st, digest))
		return false;
	li->digest = xstrdup(digest);
	li->diff_id = xstrdup(diff);
	li->size = size;
	return true;
}

static void cache_put(struct builder *b, const char *key, const struct layer_info *li)
{
	_cleanup_free_ char *dir = xasprintf("%s/cache", b->work);
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, key);
	_cleanup_free_ char *line = xasprintf("%s %s %" PRIu64 "\n", li->digest, li->diff_id, li->size);

	/* The cache only saves time: failing to write it is not a build failure. */
	if (mkdir_p(dir, 0700) < 0 || write_file_atomic(p, line, strlen(line), 0600) < 0)
		log_warning("cannot write the build cache entry '%s', ignoring", p);
}

static void add_content_layer(struct builder *b, const struct kf_instr *in, enum layer_type type,
			      const struct layer_info *li, const char *key, bool cached)
{
	image_meta_add_layer(&b->meta, type, in->text, li->digest, li->diff_id, MEDIA_LAYER_ZSTD,
			     li->size);
	memcpy(b->chain, key, SHA256_HEX_SIZE);
	printf(" ---> %s %.19s (%" PRIu64 " bytes)\n", cached ? "using cache" : "layer",
	       li->digest, li->size);
}

/* ---- COPY ---- */

struct copy_item {
	char *layer_path;
	char *disk_path;
};

struct copy_plan {
	struct copy_item *items;
	size_t n;
	char *parent; /* directory the items go into ("" for the root) */
};

static void plan_release(struct copy_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].layer_path);
		free(p->items[i].disk_path);
	}
	free(p->items);
	free(p->parent);
}

static void plan_add(struct copy_plan *p, const char *dir, const char *name, const char *disk)
{
	p->items = xreallocarray(p->items, p->n + 1, sizeof(*p->items));
	p->items[p->n].layer_path = *dir ? xasprintf("%s%s%s", dir, *name ? "/" : "", name)
					 : xstrdup(name);
	p->items[p->n].disk_path = xstrdup(disk);
	p->n++;
}

/* What put a file the scan reads into the image, for its messages: each layer this build
 * added (by its index in meta.layers) with its instruction, and for a COPY the context
 * sources of what it put where the scan looks. */
struct layer_origin {
	size_t layer;
	const struct kf_instr *in;
	struct copy_item *items;
	size_t n;
};

/* Called just before the instruction's layer is added. */
static void remember_origin(struct builder *b, const struct kf_instr *in,
			    const struct copy_plan *p)
{
	struct layer_origin *o;

	b->origins = xreallocarray(b->origins, b->norigins + 1, sizeof(*b->origins));
	o = &b->origins[b->norigins++];
	*o = (struct layer_origin){ .layer = b->meta.nlayers, .in = in };
	for (size_t i = 0; p && i < p->n; i++) {
		if (!image_scan_wants(p->items[i].layer_path, NULL))
			continue;
		o->items = xreallocarray(o->items, o->n + 1, sizeof(*o->items));
		o->items[o->n].layer_path = xstrdup(p->items[i].layer_path);
		o->items[o->n].disk_path = xstrdup(p->items[i].disk_path);
		o->n++;
	}
}

static void origins_release(struct builder *b)
{
	for (size_t i = 0; i < b->norigins; i++) {
		struct copy_plan items = { .items = b->origins[i].items, .n = b->origins[i].n };
		plan_release(&items);
	}
	free(b->origins);
}

static int cmp_items(const void *a, const void *b)
{
	return run_diff_path_cmp(((const struct copy_item *)a)->layer_path,
				 ((const struct copy_item *)b)->layer_path);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* The source must not leave the context, also not through a symlink on its way. */
static int check_in_context(struct builder *b, const struct kf_instr *in, const char *disk)
{
	_cleanup_free_ char *copy = xstrdup(disk);
	_cleanup_free_ char *dir = realpath(dirname(copy), NULL);
	size_t n = strlen(b->context);

	if (!dir || strncmp(dir, b->context, n) != 0 || (dir[n] != '\0' && dir[n] != '/'))
		return fail_at(b, in, -EPERM, "source '%s' is outside the build context", disk);
	return 0;
}

static void add_dir_contents(struct copy_plan *p, const char *dest, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name);

	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			_cleanup_free_ char *disk = xasprintf("%s/%s", dir, names[i]->d_name);
			plan_add(p, dest, names[i]->d_name, disk);
		}
		free(names[i]);
	}
	free(names);
}

/* Where each source lands: kubefile_copy_target (docs/kubefile.md). */
static int plan_copy(struct builder *b, const struct kf_instr *in, struct copy_plan *p)
{
	const char *raw_dest = in->argv[in->argc - 1];
	_cleanup_free_ char *joined = NULL;
	size_t nsrc = in->argc - 1;
	bool any_glob = false, dest_is_dir, at_dest = false, file_at_dest = false, inside = false;
	int r;

	while (*raw_dest == '/')
		raw_dest++;
	r = path_join_safe("/", raw_dest, &joined);
	if (r < 0)
		return fail_at(b, in, r, "destination '%s' leaves the rootfs", raw_dest);
	const char *dest = joined + 1; /* "" for the root */
	size_t rdl = strlen(raw_dest);
	for (size_t i = 0; i < nsrc; i++)
		any_glob |= has_glob(in->argv[i]);
	dest_is_dir = !*dest || (rdl && raw_dest[rdl - 1] == '/') || nsrc > 1 || any_glob ||
		      strchr(strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest, '.') == NULL;

	for (size_t i = 0; i < nsrc; i++) {
		const char *src = in->argv[i];
		_cleanup_free_ char *pattern = xasprintf("%s/%s", b->context, src);
		glob_t g = { 0 };
		int gr = glob(pattern, has_glob(src) ? 0 : GLOB_NOCHECK, NULL, &g);

		if (gr != 0 || g.gl_pathc == 0) {
			globfree(&g);
			return fail_at(b, in, -ENOENT, "source '%s' matches nothing in the build "
				       "context '%s'", src, b->context);
		}
		for (size_t k = 0; k < g.gl_pathc; k++) {
			const char *disk = g.gl_pathv[k];
			_cleanup_free_ char *copy = xstrdup(disk), *target = NULL;
			struct stat st;
			bool contents;

			if (lstat(disk, &st) < 0) {
				globfree(&g);
				return fail_at(b, in, -ENOENT, "source '%s' does not exist in the build "
					       "context '%s'", src, b->context);
			}
			r = check_in_context(b, in, disk);
			if (r < 0) {
				globfree(&g);
				return r;
			}
			target = kubefile_copy_target(src, basename(copy), S_ISDIR(st.st_mode), dest,
						      dest_is_dir, &contents);
			if (strcmp(target, dest) != 0 || contents) {
				inside = true;
			} else {
				at_dest = true;
				file_at_dest |= !S_ISDIR(st.st_mode);
			}
			if (contents)
				add_dir_contents(p, target, disk);
			else
				plan_add(p, target, "", disk);
		}
		globfree(&g);
	}
	if (file_at_dest && inside)
		return fail_at(b, in, -EEXIST, "'%s' would be a file and a directory at once", dest);
	if (inside && !at_dest) {
		p->parent = xstrdup(dest);
	} else {
		_cleanup_free_ char *copy = xstrdup(dest);
		char *slash = strrchr(copy, '/');
		p->parent = xstrdup(slash ? (*slash = '\0', copy) : "");
	}
	qsort(p->items, p->n, sizeof(*p->items), cmp_items);
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(p->items[i - 1].layer_path, p->items[i].layer_path) == 0)
			return fail_at(b, in, -EEXIST, "two sources both become '%s'",
				       p->items[i].layer_path);
	return 0;
}

/* Digest of what a COPY would put into the layer: paths, types, modes, sizes,
 * link targets and content (not mtimes, as docker's cache). */
static int hash_tree(struct sha256 *h, const char *disk, const char *layer, struct errbuf *err)
{
	struct stat st;
	char meta[256];

	if (lstat(disk, &st) < 0)
		return errbuf_set(err, negative_errno(), "cannot read '%s': %m", disk);
	sha256_update(h, layer, strlen(layer) + 1);
	snprintf(meta, sizeof(meta), "%o %" PRIu64 "\n", st.st_mode,
		 S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
	sha256_update(h, meta, strlen(meta));
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(disk, target, sizeof(target));
		if (n > 0)
			sha256_update(h, target, (size_t)n);
	} else if (S_ISREG(st.st_mode)) {
		char hex[SHA256_HEX_SIZE];
		int r = sha256_file(disk, hex, NULL);
		if (r < 0)
			return errbuf_set(err, r, "cannot read '%s': %s", disk, strerror(-r));
		sha256_update(h, hex, 64);
	} else if (S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(disk, &names, NULL, by_name), r = 0;
		if (n < 0)
			return errbuf_set(err, negative_errno(), "cannot list '%s': %m", disk);
		for (int i = 0; i < n; i++) {
			if (r >= 0 && strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
				_cleanup_free_ char *cd = xasprintf("%s/%s", disk, names[i]->d_name);
				_cleanup_free_ char *cl = xasprintf("%s/%s", layer, names[i]->d_name);
				r = hash_tree(h, cd, cl, err);
			}
			free(names[i]);
		}
		free(names);
		return r;
	}
	return 0;
}

static int write_copy_layer(struct builder *b, const struct copy_plan *p, struct layer_info *li)
{
	struct layer_writer *w;
	int r = layer_writer_new(b->st, &w, b->err);

	if (r < 0)
		return r;
	layer_writer_set_root_owned(w);
	/* the destination's parents, outermost first */
	for (char *s = p->parent; r >= 0 && *s; s++) {
		if (*s == '/') {
			*s = '\0';
			r = layer_writer_add_dir(w, p->parent, 0755, b->err);
			*s = '/';
		}
	}
	if (r >= 0 && *p->parent)
		r = layer_writer_add_dir(w, p->parent, 0755, b->err);
	for (size_t i = 0; r >= 0 && i < p->n; i++)
		r = layer_writer_add_tree(w, p->items[i].disk_path, p->items[i].layer_path, b->err);
	if (r < 0) {
		layer_writer_abort(w);
		return r;
	}
	return layer_writer_finish(w, li, b->err);
}

static int step_copy(struct builder *b, const struct kf_instr *in)
{
	struct copy_plan plan = { 0 };
	struct layer_info li = { 0 };
	struct sha256 *h = NULL;
	char sources[SHA256_HEX_SIZE], key[SHA256_HEX_SIZE];
	int r;

	r = plan_copy(b, in, &plan);
	if (r < 0)
		goto out;
	r = sha256_new(&h);
	if (r < 0) {
		fail_at(b, in, r, "cannot start a digest: %s", strerror(-r));
		goto out;
	}
	sha256_update(h, plan.parent, strlen(plan.parent) + 1);
	for (size_t i = 0; r >= 0 && i < plan.n; i++)
		r = hash_tree(h, plan.items[i].disk_path, plan.items[i].layer_path, b->err);
	if (r >= 0)
		r = sha256_final(h, sources);
	if (r >= 0)
		r = key_of(b, in, sources, key);
	if (r < 0)
		goto out;
	remember_origin(b, in, &plan);
	if (cache_get(b, key, &li)) {
		add_content_layer(b, in, LAYER_COPY, &li, key, true);
		goto out;
	}
	r = write_copy_layer(b, &plan, &li);
	if (r < 0) {
		fail_at(b, in, r, "%s", errbuf_msg(b->err));
		goto out;
	}
	cache_put(b, key, &li);
	add_content_layer(b, in, LAYER_COPY, &li, key, false);
out:
	sha256_free(h);
	layer_info_release(&li);
	plan_release(&plan);
	return r;
}

/* ---- RUN ---- */

static char *run_env_key(struct builder *b)
{
	struct buf s = BUF_INIT(1 << 20);
	for (size_t i = 0; i < b->meta.nargs; i++)
		buf_printf(&s, "%s=%s\n", b->meta.args[i].key, b->meta.args[i].value);
	return buf_detach(&s, NULL);
}

/* RUN sees only what the Kubefile gives it: a fixed PATH (the rootfs's bin/ first), HOME
 * and the ARGs. The caller's environment may hold secrets (CIRUN_SSH_PASSWORD) and would
 * make the layer depend on who built it. An ARG named PATH or HOME wins, as in docker. */
static char **run_env(struct builder *b, const char *cwd)
{
	char **env = xcalloc(b->meta.nargs + 3, sizeof(*env));
	size_t n = 0;

	if (!image_meta_get_arg(&b->meta, "PATH"))
		env[n++] = xasprintf("PATH=%s/bin:" BUILD_RUN_PATH, cwd);
	if (!image_meta_get_arg(&b->meta, "HOME"))
		env[n++] = xstrdup("HOME=/root");
	for (size_t i = 0; i < b->meta.nargs; i++)
		env[n++] = xasprintf("%s=%s", b->meta.args[i].key, b->meta.args[i].value);
	return env;
}

static void strv_freep(char ***v)
{
	for (char **p = *v; p && *p; p++)
		free(*p);
	free(*v);
}

static int stdin_null(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd < 0)
		return -1;
	if (fd != STDIN_FILENO) {
		if (dup2(fd, STDIN_FILENO) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static int run_shell(struct builder *b, const struct kf_instr *in, const char *cwd)
{
	_cleanup_free_ char *cmd = kubefile_expand(in->text, b->meta.args, b->meta.nargs);
	_cleanup_(strv_freep) char **env = run_env(b, cwd);
	pid_t pid;
	int status, slot;

	fflush(stdout);
	fflush(stderr);
	pid = interrupt_fork(&slot);
	if (pid < 0)
		return fail_at(b, in, negative_errno(), "cannot start /bin/sh: %m");
	if (pid == 0) {
		/* no stdin, as in docker build: a RUN that reads gets EOF; its output goes
		 * where cirun's goes */
		if (chdir(cwd) < 0 || stdin_null() < 0)
			_exit(127);
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			interrupt_untrack(slot);
			return fail_at(b, in, negative_errno(), "waiting for /bin/sh failed: %m");
		}
	}
	interrupt_untrack(slot);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return fail_at(b, in, -ECHILD, "the command exited with code %d",
			       WEXITSTATUS(status));
	return fail_at(b, in, -ECHILD, "the command was killed by signal %d", WTERMSIG(status));
}

/* Unpacked layer dirs, shared by builds: $CIRUN_HOME/build/layers/<hex>. */
static int ensure_unpacked(struct builder *b, const struct image_layer *l, char **ret)
{
	_cleanup_free_ char *dir = xasprintf("%s/layers/%s", b->work, l->digest + 7);
	_cleanup_free_ char *tmp = NULL, *blob = NULL;
	int r, slot;

	if (access(dir, F_OK) == 0) {
		*ret = TAKE_PTR(dir);
		return 0;
	}
	tmp = xasprintf("%s/layers/" UNPACK_TMP_PREFIX "%s-%d", b->work, l->digest + 7,
			(int)getpid());
	rm_rf_at(AT_FDCWD, tmp);
	slot = interrupt_track(INTERRUPT_DIR, tmp, NULL, 0);
	r = mkdir_p(tmp, 0755);
	if (r < 0) {
		interrupt_untrack(slot);
		return errbuf_set(b->err, r, "cannot unpack layer %.19s under '%s/layers': %s",
				  l->digest, b->work, strerror(-r));
	}
	blob = image_store_blob_path(b->st, l->digest);
	r = layer_unpack_overlay_file(tmp, blob, NULL, b->err);
	if (r < 0)
		errbuf_prefix(b->err, "cannot unpack layer %.19s", l->digest);
	if (r >= 0 && rename(tmp, dir) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		r = errbuf_set(b->err, negative_errno(), "cannot unpack layer %.19s into '%s': %m",
			       l->digest, dir);
	rm_rf_at(AT_FDCWD, tmp);
	interrupt_untrack(slot);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(dir);
	return 0;
}

static int lower_dirs(struct builder *b, struct buf *opts)
{
	int r;
	bool first = true;

	/* overlay wants the top layer first */
	for (size_t i = b->meta.nlayers; i > 0; i--) {
		const struct image_layer *l = &b->meta.layers[i - 1];
		_cleanup_free_ char *dir = NULL;
		if (!l->digest)
			continue;
		r = ensure_unpacked(b, l, &dir);
		if (r < 0)
			return r;
		if (buf_printf(opts, "%s%s", first ? "lowerdir=" : ":", dir) < 0)
			return -E2BIG;
		first = false;
	}
	if (first) {
		/* FROM scratch: overlay needs a lower dir, an empty one will do */
		_cleanup_free_ char *empty = xasprintf("%s/empty", b->tmp);
		mkdir_p(empty, 0755);
		if (buf_printf(opts, "lowerdir=%s", empty) < 0)
			return -E2BIG;
	}
	return 0;
}

static int mount_overlay(struct builder *b, const char *upper, const char *work,
			 const char *merged)
{
	struct buf opts = BUF_INIT(OVERLAY_OPTS_MAX);
	int r = lower_dirs(b, &opts);

	if (r == -E2BIG) {
		buf_release(&opts);
		log_notice("too many layers for one overlay mount; using the copy-and-compare "
			   "fallback for RUN");
		return -E2BIG;
	}
	if (r < 0) {
		buf_release(&opts);
		return r;
	}
	size_t base = opts.len;
	/* No redirects, index or metacopy: the upper dir must hold plain files and dirs,
	 * with whiteouts and opaque markers only. */
	if (buf_printf(&opts, ",upperdir=%s,workdir=%s,index=off,redirect_dir=off,metacopy=off",
		       upper, work) < 0) {
		buf_release(&opts);
		return -E2BIG;
	}
	r = RET_NERRNO(mount("overlay", merged, "overlay", 0, opts.data));
	if (r == -EINVAL) {
		/* an older kernel without those options: their defaults are off anyway */
		buf_truncate(&opts, base);
		buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
		r = RET_NERRNO(mount("overlay", merged, "overlay", 0, opts.data));
	}
	buf_release(&opts);
	return r;
}

static int run_with_overlay(struct builder *b, const struct kf_instr *in, struct layer_info *li)
{
	_cleanup_free_ char *dir = xasprintf("%s/run-%u", b->tmp, in->line);
	_cleanup_free_ char *upper = xasprintf("%s/upper", dir), *work = xasprintf("%s/work", dir);
	_cleanup_free_ char *merged = xasprintf("%s/merged", dir);
	struct layer_writer *w;
	int r, slot;

	r = mkdir_p(upper, 0755);
	if (r >= 0)
		r = mkdir_p(work, 0700);
	if (r >= 0)
		r = mkdir_p(merged, 0755);
	if (r < 0)
		return errbuf_set(b->err, r, "cannot prepare RUN's overlay under '%s': %s", b->work,
				  strerror(-r));
	slot = interrupt_track(INTERRUPT_MOUNT, merged, NULL, 0);
	r = mount_overlay(b, upper, work, merged);
	if (r < 0) {
		interrupt_untrack(slot);
		return r; /* the caller falls back */
	}
	r = run_shell(b, in, merged);
	if (umount2(merged, 0) < 0 && umount2(merged, MNT_DETACH) < 0 && r >= 0)
		r = errbuf_set(b->err, negative_errno(), "cannot unmount RUN's overlay: %m");
	interrupt_untrack(slot);
	if (r < 0)
		return r == -E2BIG ? -EIO : r;
	r = layer_writer_new(b->st, &w, b->err);
	if (r >= 0)
		r = layer_writer_add_tree(w, upper, "", b->err);
	if (r >= 0)
		return layer_writer_finish(w, li, b->err);
	layer_writer_abort(w);
	return r;
}

static int run_with_copy(struct builder *b, const struct kf_instr *in, struct layer_info *li)
{
	_cleanup_free_ char *root = xasprintf("%s/copy-%u", b->tmp, in->line);
	struct run_snapshot *before = NULL, *after = NULL;
	struct layer_writer *w = NULL;
	int r;

	r = mkdir_p(root, 0755);
	for (size_t i = 0; r >= 0 && i < b->meta.nlayers; i++) {
		_cleanup_free_ char *blob = NULL;
		if (!b->meta.layers[i].digest)
			continue;
		blob = image_store_blob_path(b->st, b->meta.layers[i].digest);
		r = layer_apply_file(root, blob, NULL, b->err);
	}
	if (r >= 0)
		r = run_snapshot_take(root, &before, b->err);
	if (r >= 0)
		r = run_shell(b, in, root);
	if (r >= 0)
		r = run_snapshot_take(root, &after, b->err);
	if (r >= 0)
		r = layer_writer_new(b->st, &w, b->err);
	if (r >= 0)
		r = run_diff_write(root, before, after, w, b->err);
	if (r >= 0)
		r = layer_writer_finish(TAKE_PTR(w), li, b->err);
	layer_writer_abort(w);
	run_snapshot_free(before);
	run_snapshot_free(after);
	rm_rf_at(AT_FDCWD, root);
	return r;
}

static int step_run(struct builder *b, const struct kf_instr *in)
{
	_cleanup_free_ char *env = run_env_key(b);
	struct layer_info li = { 0 };
	char key[SHA256_HEX_SIZE];
	int r = key_of(b, in, env, key);

	if (r < 0)
		return r;
	if (cache_get(b, key, &li)) {
		remember_origin(b, in, NULL);
		add_content_layer(b, in, LAYER_RUN, &li, key, true);
		layer_info_release(&li);
		return 0;
	}
	r = -ENOSYS; /* not tried yet: the fallback runs unless the overlay does */
	if (!b->o->copy_fallback && !b->overlay_unusable) {
		r = run_with_overlay(b, in, &li);
		if (r == -EPERM || r == -ENODEV || r == -E2BIG || r == -EINVAL || r == -ENOTSUP) {
			if (r != -E2BIG) {
				log_notice("overlay cannot be mounted here (%s); RUN uses the "
					   "copy-and-compare fallback", strerror(-r));
				b->overlay_unusable = true;
			}
			errbuf_clear(b->err);
			r = -ENOSYS;
		}
	}
	if (r == -ENOSYS)
		r = run_with_copy(b, in, &li);
	if (r < 0) {
		if (!b->err->code)
			fail_at(b, in, r, "%s", strerror(-r));
		layer_info_release(&li);
		return r;
	}
	cache_put(b, key, &li);
	remember_origin(b, in, NULL);
	add_content_layer(b, in, LAYER_RUN, &li, key, false);
	layer_info_release(&li);
	return 0;
}

/* ---- ARG, CMD, FROM ---- */

static const char *build_arg(struct builder *b, const char *name)
{
	for (size_t i = b->o->nbuild_args; i > 0; i--)
		if (strcmp(b->o->build_args[i - 1].key, name) == 0)
			return b->o->build_args[i - 1].value;
	return NULL;
}

static void step_arg(struct builder *b, const struct kf_instr *in)
{
	const char *given = build_arg(b, in->argv[0]);

	if (given)
		image_meta_set_arg(&b->meta, in->argv[0], given);
	else if (in->arg_has_default)
		image_meta_set_arg(&b->meta, in->argv[0], in->argv[1]);
	else if (!image_meta_get_arg(&b->meta, in->argv[0]))
		image_meta_set_arg(&b->meta, in->argv[0], "");
}

static void step_label(struct builder *b, const struct kf_instr *in)
{
	for (size_t i = 0; i + 1 < in->argc; i += 2) {
		_cleanup_free_ char *v = kubefile_expand(in->argv[i + 1], b->meta.args, b->meta.nargs);
		image_meta_set_label(&b->meta, in->argv[i], v);
	}
}

static void step_cmd(struct builder *b, const struct kf_instr *in)
{
	/* Kept as written: ARGs are expanded when the CMD is replayed, where cmd_args of a
	 * Clusterfile can still override them. */
	image_meta_add_cmd(&b->meta, in->text);
	image_meta_add_layer(&b->meta, LAYER_CMD, in->text, NULL, NULL, NULL, 0);
}

static int step_from(struct builder *b, const struct kf_instr *in)
{
	struct image parent = { 0 };
	int r;

	if (strcmp(in->argv[0], "scratch") == 0) {
		b->meta.arch = xstrdup(oci_arch_of_machine());
		b->meta.os = xstrdup("linux");
		snprintf(b->chain, sizeof(b->chain), "scratch");
		return 0;
	}
	r = image_store_get(b->st, in->argv[0], &parent, b->err);
	if (r < 0)
		return fail_at(b, in, r, "%s (base images are not pulled: load it first with "
			       "'cirun load -i FILE')", errbuf_msg(b->err));
	image_meta_copy(&b->meta, &parent.meta);
	b->base = in->argv[0];
	snprintf(b->chain, sizeof(b->chain), "%s", parent.id);
	printf(" ---> %.12s\n", parent.id);
	image_release(&parent);
	return 0;
}

/* ---- after the steps ---- */

/* Which layer last wrote each file the scan reads: a YAML error then names where that
 * file came from (scan_origin). */
struct scan_writers {
	struct builder *b;
	size_t layer; /* being applied */
	char **paths;
	size_t *layers;
	size_t n;
};

static bool scan_filter(const char *path, void *data)
{
	struct scan_writers *w = data;
	size_t i;

	if (!image_scan_wants(path, NULL))
		return false;
	if (!image_scan_reads(path))
		return true;
	for (i = 0; i < w->n && strcmp(w->paths[i], path) != 0; i++)
		;
	if (i == w->n) {
		w->paths = xreallocarray(w->paths, w->n + 1, sizeof(*w->paths));
		w->layers = xreallocarray(w->layers, w->n + 1, sizeof(*w->layers));
		w->paths[w->n++] = xstrdup(path);
	}
	w->layers[i] = w->layer;
	return true;
}

static const struct layer_origin *origin_of(const struct scan_writers *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++) {
		if (strcmp(w->paths[i], path) != 0)
			continue;
		for (size_t k = 0; k < w->b->norigins; k++)
			if (w->b->origins[k].layer == w->layers[i])
				return &w->b->origins[k];
	}
	return NULL;
}

/* The context file a COPY item took path from: the item is path or a directory above it. */
static char *context_source(const struct builder *b, const struct layer_origin *o,
			    const char *path)
{
	const struct copy_item *best = NULL;
	size_t cl = strlen(b->context);

	for (size_t i = 0; i < o->n; i++) {
		size_t n = strlen(o->items[i].layer_path);
		if (strncmp(path, o->items[i].layer_path, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/') &&
		    (!best || n > strlen(best->layer_path)))
			best = &o->items[i];
	}
	if (!best)
		return NULL;
	const char *disk = best->disk_path;
	if (strncmp(disk, b->context, cl) == 0 && disk[cl] == '/')
		disk += cl + 1;
	while (strncmp(disk, "./", 2) == 0)
		disk += 2;
	return xasprintf("%s%s", disk, path + strlen(best->layer_path));
}

static void scan_origin(void *data, const char *path, char **ret_name, char **ret_note)
{
	const struct scan_writers *w = data;
	const struct builder *b = w->b;
	const struct layer_origin *o = origin_of(w, path);

	if (!o) {
		if (b->base)
			*ret_note = xasprintf("%s, from the base image %s", path, b->base);
		return;
	}
	if (o->in->kind == KF_COPY)
		*ret_name = context_source(b, o, path);
	*ret_note = xasprintf("%s %s by %s:%u: %s %.60s", o->in->kind == KF_COPY ? "copied to" :
			      "written to", path, b->kf_path, o->in->line, kf_kind_name(o->in->kind),
			      o->in->text);
}

static int scan_images(struct builder *b)
{
	_cleanup_free_ char *root = xasprintf("%s/scan", b->tmp);
	struct image_meta *m = &b->meta;
	struct scan_writers w = { .b = b };
	int r = mkdir_p(root, 0755);

	for (size_t i = 0; r >= 0 && i < m->nlayers; i++) {
		_cleanup_free_ char *blob = NULL;
		if (!m->layers[i].digest)
			continue;
		blob = image_store_blob_path(b->st, m->layers[i].digest);
		w.layer = i;
		r = layer_apply_file_filtered(root, blob, scan_filter, &w, b->err);
	}
	/* the parent's list is recomputed from the whole image */
	for (size_t i = 0; i < m->nimages; i++)
		free(m->images[i]);
	free(m->images);
	m->images = NULL;
	m->nimages = 0;
	if (r >= 0)
		r = image_scan_tree_from(root, m, scan_origin, &w, b->err);
	if (r < 0)
		errbuf_prefix(b->err, "looking for the container images the image references");
	for (size_t i = 0; i < w.n; i++)
		free(w.paths[i]);
	free(w.paths);
	free(w.layers);
	return r;
}

static int set_clusterfile(struct builder *b, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/Clusterfile", b->context);
	_cleanup_buf_ struct buf text = BUF_INIT(CLUSTERFILE_MAX);
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	int r = buf_read_file(&text, path);

	if (r == -ENOENT) {
		/* Not the base image's: its spec.image names the base, not this image. */
		free(b->meta.clusterfile);
		b->meta.clusterfile = xasprintf("apiVersion: sealer.cloud/v2\n"
						"kind: Cluster\n"
						"metadata:\n"
						"  name: my-cluster\n"
						"spec:\n"
						"  image: %s\n"
						"  ssh:\n"
						"    port: \"22\"\n"
						"    user: root\n", name);
		return 0;
	}
	if (r < 0)
		return errbuf_set(b->err, r, "cannot read '%s': %s", path, strerror(-r));
	r = ydoc_parse(path, text.data, text.len, NULL, &d, b->err);
	if (r < 0)
		return r;
	free(b->meta.clusterfile);
	b->meta.clusterfile = buf_detach(&text, NULL);
	return 0;
}

static void now_rfc3339(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A rebuild that changed nothing keeps the image as it was, id included: only its
 * creation time would differ, so reuse that when everything else is the same. */
static void set_created(struct image_store *st, const char *name, struct image_meta *m,
			char *buf, size_t n)
{
	struct image old = { 0 };
	struct errbuf ignored = ERRBUF_INIT;

	now_rfc3339(buf, n);
	free(m->created);
	m->created = NULL;
	if (image_store_get(st, name, &old, &ignored) >= 0 && old.meta.created) {
		struct buf a = BUF_INIT(16u << 20);
		char hex[SHA256_HEX_SIZE];
		m->created = xstrdup(old.meta.created);
		if (image_meta_to_config(m, &a) >= 0 && sha256_buf(a.data, a.len, hex) >= 0 &&
		    strcmp(hex, old.id) == 0) {
			buf_release(&a);
			image_release(&old);
			return;
		}
		buf_release(&a);
		free(m->created);
	}
	image_release(&old);
	m->created = xstrdup(buf);
}

static int run_steps(struct builder *b)
{
	size_t n = kubefile_count(b->kf);
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct kf_instr *in = kubefile_at(b->kf, i);
		printf("STEP %zu/%zu: %s %s\n", i + 1, n, kf_kind_name(in->kind), in->text);
		fflush(stdout);
		switch (in->kind) {
		case KF_FROM:
			r = step_from(b, in);
			break;
		case KF_ARG:
			step_arg(b, in);
			break;
		case KF_CMD:
			step_cmd(b, in);
			break;
		case KF_LABEL:
			step_label(b, in);
			break;
		case KF_COPY:
			r = step_copy(b, in);
			break;
		case KF_RUN:
			r = step_run(b, in);
			break;
		}
	}
	return r;
}

static void builder_release(struct builder *b)
{
	if (b->tmp) {
		rm_rf_at(AT_FDCWD, b->tmp);
		free(b->tmp);
	}
	interrupt_untrack(b->tmp_slot);
	origins_release(b);
	kubefile_free(b->kf);
	free(b->kf_path);
	free(b->context);
	free(b->work);
	image_meta_release(&b->meta);
}

static int builder_init(struct builder *b, struct image_store *st, const struct build_opts *o,
			struct errbuf *err)
{
	int r;

	memset(b, 0, sizeof(*b));
	b->tmp_slot = -1;
	b->st = st;
	b->o = o;
	b->err = err;
	b->context = realpath(o->context, NULL);
	if (!b->context)
		return errbuf_set(err, negative_errno(), "build context '%s' cannot be used: %m",
				  o->context);
	b->kf_path = o->kubefile ? xstrdup(o->kubefile) : xasprintf("%s/Kubefile", o->context);
	r = kubefile_parse_file(b->kf_path, &b->kf, err);
	if (r < 0)
		return r;
	b->work = xasprintf("%s/build", image_store_home(st));
	/* the PID in the name tells a later sweep whether this build is still running */
	b->tmp = xasprintf("%s/tmp/" BUILD_TMP_PREFIX "%d-XXXXXX", b->work, (int)getpid());
	_cleanup_free_ char *tmproot = xasprintf("%s/tmp", b->work);
	r = mkdir_p(tmproot, 0700);
	if (r < 0 || !mkdtemp(b->tmp)) {
		r = r < 0 ? r : negative_errno();
		errbuf_set(err, r, "cannot create a build directory under '%s': %s", b->work,
			   strerror(-r));
		free(b->tmp);
		b->tmp = NULL;
		return r;
	}
	b->tmp_slot = interrupt_track(INTERRUPT_DIR, b->tmp, NULL, 0);
	return image_store_hold(st, err);
}

int image_build(struct image_store *st, const struct build_opts *o, char **ret_id,
		struct errbuf *err)
{
	_cleanup_free_ char *name = NULL;
	struct builder b;
	char created[32];
	int r;

	r = image_ref_normalize(o->name, &name, err);
	if (r < 0)
		return r;
	r = builder_init(&b, st, o, err);
	if (r >= 0) {
		_cleanup_free_ char *unused = kubefile_unconsumed_args(b.kf, o->build_args,
								       o->nbuild_args);
		if (unused)
			fprintf(stderr, "[Warning] one or more build args were not consumed: [%s]\n",
				unused);
		r = run_steps(&b);
	}
	if (r >= 0)
		r = scan_images(&b);
	if (r >= 0)
		r = set_clusterfile(&b, name);
	if (r >= 0) {
		set_created(st, name, &b.meta, created, sizeof(created));
		r = image_store_commit(st, name, &b.meta, ret_id, err);
	}
	builder_release(&b);
	return r;
}
