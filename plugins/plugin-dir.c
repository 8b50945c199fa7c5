#include "plugin-dir.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "rootfs-walk.h"
#include "ydoc.h"

struct load_ctx {
	struct plugin_list *list;
	int rootfd;
	size_t files;
	bool legacy;	   /* walking plugin/ */
	bool warned;
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_one(const struct rootfs_entry *e, void *data, struct errbuf *err)
{
	struct load_ctx *c = data;
	_cleanup_(ydoc_freep) struct ydoc *docs = NULL;
	_cleanup_(buf_releasep) struct buf b = BUF_INIT(PLUGIN_FILE_MAX);
	int r;

	if (has_suffix(e->name, ".so")) {
		log_warning("%s: Go plugins (.so) are not supported; ignored", e->rel);
		return 0;
	}
	if (!has_suffix(e->name, ".yaml") && !has_suffix(e->name, ".yml"))
		return 0;
	if (S_ISDIR(e->st.st_mode))
		return 0;
	if (++c->files > PLUGIN_FILES_MAX)
		return errbuf_set(err, -E2BIG, "%s: the image has more than %u plugin files",
				  e->rel, PLUGIN_FILES_MAX);
	if (c->legacy && !c->warned) {
		log_warning("the image keeps plugins in plugin/, the name sealer 0.6 used: they "
			    "are loaded, but sealer 0.7 and later read only plugins/; rename it");
		c->warned = true;
	}
	r = rootfs_read_file(c->rootfd, e->rel, ROOTFS_FOLLOW_INSIDE, &b, NULL, err);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s: larger than %u bytes", e->rel, PLUGIN_FILE_MAX);
	if (r < 0)
		return r;
	r = ydoc_parse(e->rel, b.data, b.len, NULL, &docs, err);
	if (r < 0)
		return r;
	return plugin_list_add_stream(c->list, docs, e->rel, true, err);
}

int plugin_load_image(int rootfd, struct plugin_list *list, struct errbuf *err)
{
	struct load_ctx c = { .list = list, .rootfd = rootfd };
	int r = rootfs_walk(rootfd, "plugins", false, load_one, &c, err);

	if (r < 0)
		return r;
	c.legacy = true;
	return rootfs_walk(rootfd, "plugin", false, load_one, &c, err);
}
