#include "image-scan.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "macro.h"
#include "ydoc.h"

#define IMAGELIST_MAX (16u << 20)
#define YAML_MAX (64u << 20) /* ydoc's own default limit */

bool image_scan_wants(const char *path, void *unused)
{
	static const char *const tops[] = { "manifests", "charts" };

	(void)unused;
	for (size_t i = 0; i < ELEMENTSOF(tops); i++) {
		size_t n = strlen(tops[i]);
		if (strncmp(path, tops[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	/* whiteouts at the top that delete those dirs, or make the root opaque */
	return strcmp(path, ".wh.manifests") == 0 || strcmp(path, ".wh.charts") == 0 ||
	       strcmp(path, ".wh..wh..opq") == 0;
}

static void add_ref(struct image_meta *m, const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s || strstr(s, "{{"))
		return; /* empty, or a template that only helm can resolve */
	image_meta_add_image(m, s);
}

static int scan_image_list(const char *path, const char *shown, struct image_meta *m,
			   struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(IMAGELIST_MAX);
	int r = buf_read_file(&b, path);
	char *save = NULL;

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return errbuf_set(err, r, "cannot read '%s': %s", shown, strerror(-r));
	for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		for (size_t n = strlen(line); n > 0 && strchr(" \t\r", line[n - 1]);)
			line[--n] = '\0';
		add_ref(m, line);
	}
	return 0;
}

/* image: fields anywhere in a manifest (pods, deployments, cronjobs…). */
static void walk_manifest(const struct ynode *n, struct image_meta *m)
{
	if (ynode_kind(n) == YNODE_MAP) {
		for (size_t i = 0; i < ynode_len(n); i++) {
			const struct ynode *v = ynode_map_value_at(n, i);
			if (strcmp(ynode_map_key_at(n, i), "image") == 0 && ynode_str(v))
				add_ref(m, ynode_str(v));
			else
				walk_manifest(v, m);
		}
	} else if (ynode_kind(n) == YNODE_SEQ) {
		for (size_t i = 0; i < ynode_len(n); i++)
			walk_manifest(ynode_seq_at(n, i), m);
	}
}

/* values.yaml: image: "ref", or image: {registry, repository, tag}. */
static void walk_values(const struct ynode *n, struct image_meta *m)
{
	if (ynode_kind(n) == YNODE_SEQ) {
		for (size_t i = 0; i < ynode_len(n); i++)
			walk_values(ynode_seq_at(n, i), m);
		return;
	}
	if (ynode_kind(n) != YNODE_MAP)
		return;
	for (size_t i = 0; i < ynode_len(n); i++) {
		const struct ynode *v = ynode_map_value_at(n, i);
		if (strcmp(ynode_map_key_at(n, i), "image") != 0) {
			walk_values(v, m);
			continue;
		}
		if (ynode_str(v)) {
			add_ref(m, ynode_str(v));
			continue;
		}
		const char *repo = ynode_str(ynode_map_get(v, "repository"));
		const char *reg = ynode_str(ynode_map_get(v, "registry"));
		const char *tag = ynode_str(ynode_map_get(v, "tag"));
		if (!repo || !*repo) {
			walk_values(v, m);
			continue;
		}
		_cleanup_free_ char *ref = NULL;
		ref = xasprintf("%s%s%s%s%s", reg && *reg ? reg : "", reg && *reg ? "/" : "", repo, tag && *tag ? ":" : "", tag && *tag ? tag : "");
		add_ref(m, ref);
	}
}

struct origin {
	image_scan_origin_fn fn;
	void *data;
};

/* path is in a scratch tree; errors name shown (the file's path in the image), or what
 * the origin says it came from. */
static int scan_yaml(const char *path, const char *shown, bool values, const struct origin *o,
		     struct image_meta *m, struct errbuf *err)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	_cleanup_buf_ struct buf text = BUF_INIT(YAML_MAX);
	_cleanup_free_ char *name = NULL, *note = NULL, *tail = NULL;
	struct errbuf perr = ERRBUF_INIT;
	int r = buf_read_file(&text, path);

	if (r < 0 && r != -E2BIG)
		return errbuf_set(err, r, "cannot read '%s': %s", shown, strerror(-r));
	if (r >= 0)
		r = ydoc_parse(shown, text.data, text.len, NULL, &d, &perr);
	if (r >= 0) {
		for (size_t i = 0; i < ydoc_count(d); i++) {
			if (values)
				walk_values(ydoc_root(d, i), m);
			else
				walk_manifest(ydoc_root(d, i), m);
		}
		return 0;
	}
	if (o->fn)
		o->fn(o->data, shown, &name, &note);
	tail = note ? xasprintf(" (%s)", note) : xstrdup("");
	if (!name)
		name = xstrdup(shown);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s: larger than %u bytes%s", name, YAML_MAX, tail);
	if (err && perr.line && strncmp(perr.msg, shown, strlen(shown)) == 0 &&
	    strncmp(perr.msg + strlen(shown), ": ", 2) == 0) {
		/* file:line:col, as compilers and kubectl say it */
		errbuf_set(err, r, "%s:%s%s", name, perr.msg + strlen(shown) + 2, tail);
		err->line = perr.line;
		err->column = perr.column;
		return r;
	}
	return errbuf_set(err, r, "%s%s", perr.msg, tail);
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

static int scan_dir(const char *root, const char *top, bool charts, const struct origin *o,
		    struct image_meta *m, struct errbuf *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", root, top);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), r = 0;

	if (n < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : errbuf_set(err, negative_errno(),
									     "cannot list '%s': %m", top);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		_cleanup_free_ char *p = NULL, *shown = NULL;
		if (r >= 0 && nm[0] != '.') {
			if (charts) {
				p = xasprintf("%s/%s/values.yaml", dir, nm);
				shown = xasprintf("%s/%s/values.yaml", top, nm);
				if (access(p, F_OK) == 0)
					r = scan_yaml(p, shown, true, o, m, err);
			} else if (has_suffix(nm, ".yaml") || has_suffix(nm, ".yml")) {
				p = xasprintf("%s/%s", dir, nm);
				shown = xasprintf("%s/%s", top, nm);
				r = scan_yaml(p, shown, false, o, m, err);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int image_scan_tree_from(const char *root, struct image_meta *m, image_scan_origin_fn origin,
			 void *data, struct errbuf *err)
{
	_cleanup_free_ char *list = xasprintf("%s/manifests/imageList", root);
	struct origin o = { origin, data };
	int r;

	r = scan_image_list(list, "manifests/imageList", m, err);
	if (r >= 0)
		r = scan_dir(root, "manifests", false, &o, m, err);
	if (r >= 0)
		r = scan_dir(root, "charts", true, &o, m, err);
	return r;
}

int image_scan_tree(const char *root, struct image_meta *m, struct errbuf *err)
{
	return image_scan_tree_from(root, m, NULL, NULL, err);
}

bool image_scan_reads(const char *path)
{
	const char *rest, *slash;

	if (strncmp(path, "manifests/", 10) == 0) {
		rest = path + 10;
		return !strchr(rest, '/') && rest[0] != '.' &&
		       (strcmp(rest, "imageList") == 0 || has_suffix(rest, ".yaml") ||
			has_suffix(rest, ".yml"));
	}
	if (strncmp(path, "charts/", 7) != 0)
		return false;
	rest = path + 7;
	slash = strchr(rest, '/');
	return slash && slash > rest && rest[0] != '.' && strcmp(slash, "/values.yaml") == 0;
}
