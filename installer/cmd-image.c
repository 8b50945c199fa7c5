#include "cmd-image.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build.h"
#include "cleanup.h"
#include "image-archive.h"
#include "image-store.h"
#include "log.h"
#include "macro.h"
#include "ydoc.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void store_closep(struct image_store **st)
{
	image_store_close(*st);
}

static int open_store(struct image_store **st)
{
	struct errbuf err = ERRBUF_INIT;

	if (image_store_open(NULL, st, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return -1;
	}
	return 0;
}

static int usage_error(const char *verb, const char *usage)
{
	log_error("usage: cirun %s %s", verb, usage);
	return EXIT_USAGE;
}

static int failed(const struct errbuf *err)
{
	log_error("%s", errbuf_msg(err));
	return EXIT_FAIL;
}

static int split_build_arg(const char *s, struct kv *out)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		return -EINVAL;
	out->key = xstrndup(s, (size_t)(eq - s));
	out->value = xstrdup(eq + 1);
	return 0;
}

int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'f' },
		{ "kubefile", required_argument, NULL, 'f' },
		{ "build-arg", required_argument, NULL, 'a' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "copy-fallback", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char usage[] = "-t NAME[:TAG] [-f Kubefile] [--build-arg K=V]... [--no-cache] CONTEXT";
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct build_opts o = { 0 };
	struct kv *args = NULL;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *id = NULL;
	int c, r = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "t:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.name = optarg;
			break;
		case 'f':
			o.kubefile = optarg;
			break;
		case 'a':
			args = xreallocarray(args, o.nbuild_args + 1, sizeof(*args));
			if (split_build_arg(optarg, &args[o.nbuild_args]) < 0) {
				log_error("--build-arg '%s' is not NAME=VALUE", optarg);
				goto out;
			}
			o.nbuild_args++;
			break;
		case 'n':
			o.no_cache = true;
			break;
		case 'c':
			o.copy_fallback = true;
			break;
		case 'h':
			printf("usage: cirun build %s\n", usage);
			r = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (!o.name || optind + 1 != argc) {
		r = usage_error("build", usage);
		goto out;
	}
	o.context = argv[optind];
	o.build_args = args;
	if (open_store(&st) < 0) {
		r = EXIT_FAIL;
		goto out;
	}
	if (image_build(st, &o, &id, &err) < 0) {
		r = failed(&err);
		goto out;
	}
	printf("Successfully built %.12s as %s\n", id, o.name);
	r = 0;
out:
	for (size_t i = 0; i < o.nbuild_args; i++) {
		free(args[i].key);
		free(args[i].value);
	}
	free(args);
	return r;
}

static void human_size(uint64_t n, char *out, size_t len)
{
	static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
		v /= 1000;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

int cmd_images(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct image_ref *refs = NULL;
	size_t n = 0;

	(void)argv;
	if (argc > 1)
		return usage_error("images", "");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_store_list(st, &refs, &n, &err) < 0)
		return failed(&err);
	printf("%-40s %-12s %-20s %s\n", "NAME", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		struct image img = { 0 };
		char size[32], created[32] = "?";
		uint64_t total = 0;
		if (image_store_get(st, refs[i].name, &img, &err) < 0) {
			printf("%-40s %-12s %-20s %s\n", refs[i].name, "?", "?", errbuf_msg(&err));
			continue;
		}
		for (size_t k = 0; k < img.manifest.nlayers; k++)
			total += img.manifest.layers[k].size;
		total += img.manifest.config.size + img.manifest_size;
		human_size(total, size, sizeof(size));
		if (img.meta.created) {
			snprintf(created, sizeof(created), "%.19s", img.meta.created);
			if (strlen(created) > 10)
				created[10] = ' ';
		}
		printf("%-40s %-12.12s %-20s %s\n", refs[i].name, img.id, created, size);
		image_release(&img);
	}
	image_refs_free(refs, n);
	return 0;
}

static struct ynode *kv_map(const struct kv *v, size_t n)
{
	struct ynode *m;

	if (n == 0)
		return ynode_new_null();
	m = ynode_new_map();
	for (size_t i = 0; i < n; i++)
		ynode_map_set(m, v[i].key, ynode_new_str(v[i].value));
	return m;
}

static struct ynode *str_list(char *const *v, size_t n)
{
	struct ynode *s = ynode_new_seq();
	for (size_t i = 0; i < n; i++)
		ynode_seq_append(s, ynode_new_str(v[i]));
	return s;
}

/* The default Clusterfile names the image it belongs to: show it under the name asked. */
static char *clusterfile_for(const char *text, const char *name)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct buf out = BUF_INIT(4u << 20);
	bool changed = false;

	if (!name || ydoc_parse("Clusterfile", text, strlen(text), NULL, &d, NULL) < 0)
		return xstrdup(text);
	for (size_t i = 0; i < ydoc_count(d); i++) {
		struct ynode *doc = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_map_get(doc, "kind"));
		struct ynode *spec = ynode_map_get(doc, "spec");
		if (kind && strcmp(kind, "Cluster") == 0 && spec && ynode_kind(spec) == YNODE_MAP) {
			ynode_map_set(spec, "image", ynode_new_str(name));
			changed = true;
		}
	}
	if (!changed)
		return xstrdup(text);
	struct ynode **docs = xcalloc(ydoc_count(d), sizeof(*docs));
	for (size_t i = 0; i < ydoc_count(d); i++)
		docs[i] = ydoc_root(d, i);
	if (ydoc_emit(docs, ydoc_count(d), &out) < 0) {
		free(docs);
		buf_release(&out);
		return xstrdup(text);
	}
	free(docs);
	return buf_detach(&out, NULL);
}

static struct ynode *inspect_tree(const struct image *img, const char *asked)
{
	struct ynode *root = ynode_new_map(), *meta = ynode_new_map(), *spec = ynode_new_map();
	struct ynode *ann = ynode_new_map(), *cfg = ynode_new_map(), *layers = ynode_new_seq();
	struct ynode *platform = ynode_new_map();

	ynode_map_set(root, "kind", ynode_new_str("Image"));
	if (img->meta.clusterfile) {
		_cleanup_free_ char *cf = clusterfile_for(img->meta.clusterfile, img->name);
		ynode_map_set(ann, "sea.aliyun.com/ClusterFile", ynode_new_str(cf));
	}
	ynode_map_set(meta, "annotations", ann);
	ynode_map_set(meta, "name", ynode_new_str(img->name ? img->name : asked));
	ynode_map_set(root, "metadata", meta);
	ynode_map_set(spec, "id", ynode_new_str(img->id));
	ynode_map_set(spec, "created", ynode_new_str(img->meta.created ? img->meta.created : ""));
	ynode_map_set(cfg, "args", kv_map(img->meta.args, img->meta.nargs));
	ynode_map_set(cfg, "cmd", str_list(img->meta.cmds, img->meta.ncmds));
	ynode_map_set(cfg, "labels", kv_map(img->meta.labels, img->meta.nlabels));
	ynode_map_set(spec, "image_config", cfg);
	for (size_t i = 0; i < img->meta.nlayers; i++) {
		const struct image_layer *l = &img->meta.layers[i];
		struct ynode *e = ynode_new_map();
		if (l->digest) {
			ynode_map_set(e, "id", ynode_new_str(l->digest));
			ynode_map_set(e, "size", ynode_new_uint(l->size));
		}
		ynode_map_set(e, "type", ynode_new_str(layer_type_name(l->type)));
		ynode_map_set(e, "value", ynode_new_str(l->value));
		ynode_seq_append(layers, e);
	}
	ynode_map_set(spec, "layers", layers);
	ynode_map_set(platform, "architecture", ynode_new_str(img->meta.arch ? img->meta.arch : ""));
	ynode_map_set(platform, "os", ynode_new_str(img->meta.os ? img->meta.os : ""));
	ynode_map_set(spec, "platform", platform);
	ynode_map_set(spec, "images", str_list(img->meta.images, img->meta.nimages));
	ynode_map_set(spec, "cirun_version", ynode_new_str(CIRUN_VERSION));
	ynode_map_set(root, "spec", spec);
	return root;
}

int cmd_inspect(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(64u << 20);
	struct errbuf err = ERRBUF_INIT;
	struct image img = { 0 };
	struct ynode *tree;
	int r;

	if (argc != 2)
		return usage_error("inspect", "NAME[:TAG]|ID");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_store_get(st, argv[1], &img, &err) < 0)
		return failed(&err);
	tree = inspect_tree(&img, argv[1]);
	r = ynode_emit(tree, &out);
	ynode_free(tree);
	image_release(&img);
	if (r < 0) {
		log_error("cannot print the image: %s", strerror(-r));
		return EXIT_FAIL;
	}
	fwrite(out.data, 1, out.len, stdout);
	return 0;
}

int cmd_save(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *out = NULL;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o')
			return usage_error("save", "-o FILE NAME...");
		out = optarg;
	}
	if (!out || optind >= argc)
		return usage_error("save", "-o FILE NAME...");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_save(st, argv + optind, (size_t)(argc - optind), out, &err) < 0)
		return failed(&err);
	printf("saved %d image(s) to %s\n", argc - optind, out);
	return 0;
}

int cmd_load(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *in = NULL;
	char **names = NULL;
	size_t n = 0;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "i:")) != -1) {
		if (c != 'i')
			return usage_error("load", "-i FILE");
		in = optarg;
	}
	if (!in || optind != argc)
		return usage_error("load", "-i FILE");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_load(st, in, &names, &n, &err) < 0)
		return failed(&err);
	for (size_t i = 0; i < n; i++) {
		struct image img = { 0 };
		if (image_store_get(st, names[i], &img, &err) >= 0)
			printf("Loaded image: %s (%.12s)\n", names[i], img.id);
		image_release(&img);
		free(names[i]);
	}
	free(names);
	return 0;
}

int cmd_tag(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	_cleanup_free_ char *dst = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct image img = { 0 };
	int r;

	if (argc != 3)
		return usage_error("tag", "SOURCE[:TAG]|ID TARGET[:TAG]");
	if (image_ref_normalize(argv[2], &dst, &err) < 0)
		return failed(&err);
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_store_get(st, argv[1], &img, &err) < 0)
		return failed(&err);
	r = image_store_set_ref(st, dst, img.manifest_digest, img.manifest_size, &err);
	image_release(&img);
	return r < 0 ? failed(&err) : 0;
}

int cmd_rmi(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct gc_stats gc;

	if (argc < 2)
		return usage_error("rmi", "NAME[:TAG]...");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		_cleanup_free_ char *name = NULL;
		if (image_ref_normalize(argv[i], &name, &err) < 0 ||
		    image_store_remove_ref(st, name, &err) < 0)
			return failed(&err);
		printf("Untagged: %s\n", name);
	}
	if (image_store_gc(st, &gc, &err) < 0)
		return failed(&err);
	printf("Deleted %" PRIu64 " blob(s), %" PRIu64 " bytes\n", gc.blobs_removed, gc.bytes_removed);
	return 0;
}

int cmd_export(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;

	if (argc != 3)
		return usage_error("export", "NAME[:TAG]|ID DIR");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_export(st, argv[1], argv[2], &err) < 0)
		return failed(&err);
	printf("exported %s to %s\n", argv[1], argv[2]);
	return 0;
}

int cmd_prune(int argc, char **argv)
{
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct gc_stats gc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: cirun prune\n\nRemoves the blobs no image references, the builder's "
		       "unpacked layer copies, build cache entries whose layer is gone and the "
		       "temporary files of interrupted or crashed builds and loads.\n");
		return 0;
	}
	if (argc != 1)
		return usage_error("prune", "");
	if (open_store(&st) < 0)
		return EXIT_FAIL;
	if (image_store_prune(st, &gc, &err) < 0)
		return failed(&err);
	printf("pruned %" PRIu64 " blobs, freed %.1f MB\n", gc.blobs_removed,
	       (double)(gc.bytes_removed + gc.other_bytes) / 1e6);
	return 0;
}
