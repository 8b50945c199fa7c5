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
#include "cli.h"
#include "image-archive.h"
#include "image-store.h"
#include "log.h"
#include "macro.h"
#include "ydoc.h"

#define EXIT_FAIL CLI_EXIT_FAIL
#define EXIT_USAGE CLI_EXIT_USAGE

static void store_closep(struct image_store **st)
{
	image_store_close(*st);
}

/* A store that cannot be opened: CIRUN_HOME set but empty is a configuration mistake. */
static int store_failed(int r, const struct errbuf *err)
{
	log_error("%s", errbuf_msg(err));
	return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
}

/* 0, or the exit code (the error logged). */
static int open_store(struct image_store **st)
{
	struct errbuf err = ERRBUF_INIT;
	int r = image_store_open(NULL, st, &err);

	return r < 0 ? store_failed(r, &err) : 0;
}

/* For the verbs that only read: a store that does not exist holds no image, so it is
 * not created. 0, or the exit code (the error logged, naming what was asked for). */
static int open_store_ro(struct image_store **st, const char *asked)
{
	struct errbuf err = ERRBUF_INIT;
	int r = image_store_open_ro(NULL, st, &err);

	if (r == -ENOENT && asked)
		errbuf_prefix(&err, "no image '%s'", asked);
	return r < 0 ? store_failed(r, &err) : 0;
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
	static const struct cli_usage usage = {
		"build", "-t NAME[:TAG] [-f Kubefile] [--build-arg K=V]... [--no-cache] CONTEXT",
		"Builds a cluster image from the Kubefile in CONTEXT (FROM, COPY, ARG, RUN, CMD) into\n"
		"the local store, $CIRUN_HOME/images. RUN needs root (overlay mounts); an image of\n"
		"COPY, ARG and CMD alone builds as any user.\n\n"
		"options:\n"
		"  -t, --tag NAME[:TAG]   the image's name (:latest when no tag is given)\n"
		"  -f, --file FILE        the Kubefile (default CONTEXT/Kubefile; also --kubefile)\n"
		"  --build-arg K=V        a value for ARG K (repeatable)\n"
		"  --no-cache             build every layer again\n"
		"  --copy-fallback        run RUN on a copy of the rootfs instead of overlayfs\n"
		"  -h, --help             this text",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct build_opts o = { 0 };
	struct kv *args = NULL;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *id = NULL;
	int c, r = EXIT_USAGE;

	optind = 0;
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
			r = cli_help(&usage);
			goto out;
		default:
			r = cli_usage_error(&usage);
			goto out;
		}
	}
	if (!o.name || optind + 1 != argc) {
		r = cli_usage_error(&usage);
		goto out;
	}
	o.context = argv[optind];
	o.build_args = args;
	r = open_store(&st);
	if (r)
		goto out;
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
	static const struct cli_usage usage = {
		"images", "",
		"Lists the images in the local store ($CIRUN_HOME/images): name, image ID, when it\n"
		"was built, size. A store that does not exist yet lists nothing (it is not created).",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct image_ref *refs = NULL;
	size_t n = 0;
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind != argc)
		return cli_usage_error(&usage);
	r = image_store_open_ro(NULL, &st, &err);
	if (r < 0 && r != -ENOENT)
		return store_failed(r, &err);
	if (st && image_store_list(st, &refs, &n, &err) < 0)
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
	static const struct cli_usage usage = {
		"inspect", "NAME[:TAG]|ID",
		"Prints an image's metadata as YAML, in sealer's 'kind: Image' shape: ID, layers\n"
		"(type, value, digest, size), ARGs, CMDs, labels, platform, the container images it\n"
		"references and its default Clusterfile. ID: the image ID or a unique prefix of it\n"
		"(4 or more hex digits), as 'cirun images' shows it.",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(64u << 20);
	struct errbuf err = ERRBUF_INIT;
	struct image img = { 0 };
	struct ynode *tree;
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind + 1 != argc)
		return cli_usage_error(&usage);
	r = open_store_ro(&st, argv[optind]);
	if (r)
		return r;
	if (image_store_get(st, argv[optind], &img, &err) < 0)
		return failed(&err);
	tree = inspect_tree(&img, argv[optind]);
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
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct cli_usage usage = {
		"save", "-o FILE|- NAME[:TAG]...",
		"Writes images to an OCI archive (a tar of an OCI image layout), for 'cirun load' on\n"
		"another machine; skopeo reads it as oci-archive:FILE. The file appears whole or not\n"
		"at all (written beside it, then renamed).\n\n"
		"options:\n"
		"  -o, --output FILE   the archive to write; - streams it to stdout (not a terminal)\n"
		"  -h, --help          this text",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *out = NULL;
	bool to_stdout;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&usage);
		if (c != 'o')
			return cli_usage_error(&usage);
		out = optarg;
	}
	if (!out || !*out || optind >= argc)
		return cli_usage_error(&usage);
	r = open_store_ro(&st, argv[optind]);
	if (r)
		return r;
	if (image_save(st, argv + optind, (size_t)(argc - optind), out, &err) < 0)
		return failed(&err);
	/* the archive owns stdout when it streams there */
	to_stdout = strcmp(out, "-") == 0;
	fprintf(to_stdout ? stderr : stdout, "saved %d image(s) to %s\n", argc - optind,
		to_stdout ? "stdout" : out);
	return 0;
}

int cmd_load(int argc, char **argv)
{
	static const struct cli_usage usage = {
		"load", "-i FILE|-",
		"Adds the images of an OCI archive (from 'cirun save') to the local store. Every\n"
		"blob's digest and every reference (index, manifest, config, layers, sizes) is\n"
		"checked before anything is added: a damaged archive leaves the store unchanged.\n\n"
		"options:\n"
		"  -i, --input FILE   the archive; - reads it from stdin as a stream (each blob is\n"
		"                     written once, into the store's tmp/, and kept only when the\n"
		"                     whole archive checked out)\n"
		"  -h, --help         this text",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *in = NULL;
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char **names = NULL;
	size_t n = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&usage);
		if (c != 'i')
			return cli_usage_error(&usage);
		in = optarg;
	}
	if (!in || !*in || optind != argc)
		return cli_usage_error(&usage);
	r = open_store(&st);
	if (r)
		return r;
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
	static const struct cli_usage usage = {
		"tag", "SOURCE[:TAG]|ID TARGET[:TAG]",
		"Gives an image another name (the same manifest; nothing is copied). TARGET replaces\n"
		"whatever image had that name.",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	_cleanup_free_ char *dst = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct image img = { 0 };
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind + 2 != argc)
		return cli_usage_error(&usage);
	if (image_ref_normalize(argv[optind + 1], &dst, &err) < 0)
		return failed(&err);
	r = open_store(&st);
	if (r)
		return r;
	if (image_store_get(st, argv[optind], &img, &err) < 0)
		return failed(&err);
	r = image_store_set_ref(st, dst, img.manifest_digest, img.manifest_size, &err);
	image_release(&img);
	return r < 0 ? failed(&err) : 0;
}

/* The names an rmi argument stands for: itself when it names an image, else the one name
 * of the image whose ID (or unique prefix) it is. An ID with several names is refused,
 * listing them: removing all of them is rarely what was meant. */
static int rmi_name(struct image_store *st, const char *arg, char **ret, struct errbuf *err)
{
	_cleanup_free_ char *names = NULL;
	struct image img = { 0 };
	struct image_ref *refs = NULL;
	size_t n = 0, count = 0;
	int r = image_store_get(st, arg, &img, err);

	if (r < 0)
		return r;
	if (img.name) {
		*ret = TAKE_PTR(img.name);
		image_release(&img);
		return 0;
	}
	r = image_store_list(st, &refs, &n, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (strcmp(refs[i].manifest_digest, img.manifest_digest) != 0)
			continue;
		char *more = xasprintf("%s%s%s", names ? names : "", names ? ", " : "", refs[i].name);
		free(names);
		names = more;
		if (count++ == 0)
			*ret = xstrdup(refs[i].name);
	}
	if (r >= 0 && count == 0)
		r = errbuf_set(err, -ENOENT, "image %.12s has no name left", img.id);
	else if (r >= 0 && count > 1) {
		free(*ret);
		*ret = NULL;
		r = errbuf_set(err, -EINVAL, "image %.12s has %zu names (%s): remove them by name",
			       img.id, count, names);
	}
	image_refs_free(refs, n);
	image_release(&img);
	return r;
}

int cmd_rmi(int argc, char **argv)
{
	static const struct cli_usage usage = {
		"rmi", "NAME[:TAG]|ID...",
		"Removes image names, then every blob that no name references any more (and the\n"
		"builder's unpacked copies of them). ID: the image ID or a unique prefix of it, as\n"
		"'cirun images' shows it; an image with several names is removed by name.",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct gc_stats gc;
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind >= argc)
		return cli_usage_error(&usage);
	r = open_store(&st);
	if (r)
		return r;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *name = NULL;
		if (rmi_name(st, argv[i], &name, &err) < 0 ||
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
	static const struct cli_usage usage = {
		"export", "NAME[:TAG]|ID DIR",
		"Writes an image's rootfs, its layers flattened (whiteouts applied), into DIR, which\n"
		"must be new or empty.",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind + 2 != argc)
		return cli_usage_error(&usage);
	r = open_store_ro(&st, argv[optind]);
	if (r)
		return r;
	if (image_export(st, argv[optind], argv[optind + 1], &err) < 0)
		return failed(&err);
	printf("exported %s to %s\n", argv[optind], argv[optind + 1]);
	return 0;
}

int cmd_prune(int argc, char **argv)
{
	static const struct cli_usage usage = {
		"prune", "",
		"Removes the blobs no image references, the builder's unpacked layer copies, build\n"
		"cache entries whose layer is gone and the temporary files of interrupted or crashed\n"
		"builds, loads and saves, then says how much it freed.",
	};
	_cleanup_(store_closep) struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct gc_stats gc;
	int r = cli_no_options(argc, argv, &usage);

	if (r >= 0)
		return r;
	if (optind != argc)
		return cli_usage_error(&usage);
	/* nothing to prune is no reason to create a store */
	r = image_store_open_ro(NULL, &st, &err);
	if (r == -ENOENT) {
		printf("pruned 0 blobs, freed 0.0 MB (%s)\n", errbuf_msg(&err));
		return 0;
	}
	if (r < 0)
		return store_failed(r, &err);
	image_store_close(TAKE_PTR(st));
	r = open_store(&st);
	if (r)
		return r;
	if (image_store_prune(st, &gc, &err) < 0)
		return failed(&err);
	printf("pruned %" PRIu64 " blobs, freed %.1f MB\n", gc.blobs_removed,
	       (double)(gc.bytes_removed + gc.other_bytes) / 1e6);
	return 0;
}
