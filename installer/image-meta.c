#include "image-meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cleanup.h"
#include "digest.h"
#include "json-writer.h"
#include "macro.h"
#include "ydoc.h"

#define CONFIG_MAX_BYTES (16u << 20)

static const char *const layer_type_names[] = {
	[LAYER_BASE] = "BASE", [LAYER_COPY] = "COPY", [LAYER_RUN] = "RUN", [LAYER_CMD] = "CMD",
};

const char *layer_type_name(enum layer_type t)
{
	return t < ELEMENTSOF(layer_type_names) ? layer_type_names[t] : "?";
}

int layer_type_from_name(const char *s)
{
	for (size_t i = 0; s && i < ELEMENTSOF(layer_type_names); i++)
		if (strcmp(s, layer_type_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void kv_free_all(struct kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

static void strv_free_all(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void image_meta_release(struct image_meta *m)
{
	free(m->created);
	free(m->arch);
	free(m->os);
	for (size_t i = 0; i < m->nlayers; i++) {
		free(m->layers[i].value);
		free(m->layers[i].digest);
		free(m->layers[i].diff_id);
		free(m->layers[i].media_type);
	}
	free(m->layers);
	kv_free_all(m->args, m->nargs);
	kv_free_all(m->labels, m->nlabels);
	strv_free_all(m->cmds, m->ncmds);
	strv_free_all(m->images, m->nimages);
	free(m->clusterfile);
	memset(m, 0, sizeof(*m));
}

void image_meta_add_layer(struct image_meta *m, enum layer_type type, const char *value,
			  const char *digest, const char *diff_id, const char *media_type,
			  uint64_t size)
{
	m->layers = xreallocarray(m->layers, m->nlayers + 1, sizeof(*m->layers));
	m->layers[m->nlayers++] = (struct image_layer){
		.type = type,
		.value = xstrdup(value ? value : ""),
		.digest = dup_or_null(digest),
		.diff_id = dup_or_null(diff_id),
		.media_type = dup_or_null(media_type),
		.size = size,
	};
}

static void kv_set(struct kv **v, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*v)[i].key, key) == 0) {
			free((*v)[i].value);
			(*v)[i].value = xstrdup(value);
			return;
		}
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n] = (struct kv){ xstrdup(key), xstrdup(value) };
	(*n)++;
}

void image_meta_set_arg(struct image_meta *m, const char *key, const char *value)
{
	kv_set(&m->args, &m->nargs, key, value);
}

void image_meta_set_label(struct image_meta *m, const char *key, const char *value)
{
	kv_set(&m->labels, &m->nlabels, key, value);
}

const char *image_meta_get_arg(const struct image_meta *m, const char *key)
{
	for (size_t i = 0; i < m->nargs; i++)
		if (strcmp(m->args[i].key, key) == 0)
			return m->args[i].value;
	return NULL;
}

static void strv_push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

void image_meta_add_cmd(struct image_meta *m, const char *cmd)
{
	strv_push(&m->cmds, &m->ncmds, cmd);
}

void image_meta_add_image(struct image_meta *m, const char *ref)
{
	for (size_t i = 0; i < m->nimages; i++)
		if (strcmp(m->images[i], ref) == 0)
			return;
	strv_push(&m->images, &m->nimages, ref);
}

void image_meta_copy(struct image_meta *dst, const struct image_meta *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->created = dup_or_null(src->created);
	dst->arch = dup_or_null(src->arch);
	dst->os = dup_or_null(src->os);
	for (size_t i = 0; i < src->nlayers; i++) {
		const struct image_layer *l = &src->layers[i];
		image_meta_add_layer(dst, l->type, l->value, l->digest, l->diff_id, l->media_type,
				     l->size);
	}
	for (size_t i = 0; i < src->nargs; i++)
		image_meta_set_arg(dst, src->args[i].key, src->args[i].value);
	for (size_t i = 0; i < src->nlabels; i++)
		kv_set(&dst->labels, &dst->nlabels, src->labels[i].key, src->labels[i].value);
	for (size_t i = 0; i < src->ncmds; i++)
		image_meta_add_cmd(dst, src->cmds[i]);
	for (size_t i = 0; i < src->nimages; i++)
		image_meta_add_image(dst, src->images[i]);
	dst->clusterfile = dup_or_null(src->clusterfile);
}

const char *oci_arch_from_uname(const char *machine)
{
	static const struct {
		const char *uname, *oci;
	} map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" },
		{ "i686", "386" },     { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};

	if (!machine)
		return "?";
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (strcmp(machine, map[i].uname) == 0)
			return map[i].oci;
	return machine;
}

const char *oci_arch_of_machine(void)
{
	static struct utsname u;

	uname(&u);
	return oci_arch_from_uname(u.machine);
}

static void write_kv_object(struct jsonw *w, const struct kv *v, size_t n)
{
	jsonw_object_begin(w);
	for (size_t i = 0; i < n; i++) {
		jsonw_key(w, v[i].key);
		jsonw_string(w, v[i].value);
	}
	jsonw_object_end(w);
}

static void write_string_array(struct jsonw *w, char *const *v, size_t n)
{
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_string(w, v[i]);
	jsonw_array_end(w);
}

static void write_history(struct jsonw *w, const struct image_meta *m)
{
	jsonw_array_begin(w);
	for (size_t i = 0; i < m->nlayers; i++) {
		const struct image_layer *l = &m->layers[i];
		char by[4096];
		snprintf(by, sizeof(by), "%s %s", layer_type_name(l->type), l->value);
		jsonw_object_begin(w);
		jsonw_key(w, "created_by");
		jsonw_string(w, by);
		if (!l->digest) {
			jsonw_key(w, "empty_layer");
			jsonw_bool(w, true);
		}
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
}

static void write_cirun(struct jsonw *w, const struct image_meta *m)
{
	jsonw_object_begin(w);
	jsonw_key(w, "version");
	jsonw_int(w, 1);
	jsonw_key(w, "layers");
	jsonw_array_begin(w);
	for (size_t i = 0; i < m->nlayers; i++) {
		const struct image_layer *l = &m->layers[i];
		jsonw_object_begin(w);
		if (l->digest) {
			jsonw_key(w, "id");
			jsonw_string(w, l->digest);
		}
		jsonw_key(w, "type");
		jsonw_string(w, layer_type_name(l->type));
		jsonw_key(w, "value");
		jsonw_string(w, l->value);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "args");
	write_kv_object(w, m->args, m->nargs);
	jsonw_key(w, "cmds");
	write_string_array(w, m->cmds, m->ncmds);
	jsonw_key(w, "images");
	write_string_array(w, m->images, m->nimages);
	jsonw_key(w, "annotations");
	jsonw_object_begin(w);
	if (m->clusterfile) {
		jsonw_key(w, ANNOTATION_CLUSTERFILE);
		jsonw_string(w, m->clusterfile);
	}
	jsonw_object_end(w);
	jsonw_object_end(w);
}

int image_meta_to_config(const struct image_meta *m, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_object_begin(&w);
	jsonw_key(&w, "created");
	jsonw_string(&w, m->created);
	jsonw_key(&w, "architecture");
	jsonw_string(&w, m->arch);
	jsonw_key(&w, "os");
	jsonw_string(&w, m->os);
	jsonw_key(&w, "config");
	jsonw_object_begin(&w);
	jsonw_key(&w, "Labels");
	write_kv_object(&w, m->labels, m->nlabels);
	jsonw_object_end(&w);
	jsonw_key(&w, "rootfs");
	jsonw_object_begin(&w);
	jsonw_key(&w, "type");
	jsonw_string(&w, "layers");
	jsonw_key(&w, "diff_ids");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < m->nlayers; i++)
		if (m->layers[i].digest)
			jsonw_string(&w, m->layers[i].diff_id);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	jsonw_key(&w, "history");
	write_history(&w, m);
	jsonw_key(&w, "cirun");
	write_cirun(&w, m);
	jsonw_object_end(&w);
	return jsonw_finish(&w);
}

void oci_descriptor_write(struct jsonw *w, const char *media, const char *digest, uint64_t size,
			  const char *ref_name)
{
	jsonw_object_begin(w);
	jsonw_key(w, "mediaType");
	jsonw_string(w, media);
	jsonw_key(w, "digest");
	jsonw_string(w, digest);
	jsonw_key(w, "size");
	jsonw_uint(w, size);
	if (ref_name) {
		jsonw_key(w, "annotations");
		jsonw_object_begin(w);
		jsonw_key(w, ANNOTATION_REF_NAME);
		jsonw_string(w, ref_name);
		jsonw_object_end(w);
	}
	jsonw_object_end(w);
}

int image_meta_to_manifest(const struct image_meta *m, const char *config_digest,
			   uint64_t config_size, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_object_begin(&w);
	jsonw_key(&w, "schemaVersion");
	jsonw_int(&w, 2);
	jsonw_key(&w, "mediaType");
	jsonw_string(&w, MEDIA_OCI_MANIFEST);
	jsonw_key(&w, "config");
	oci_descriptor_write(&w, MEDIA_OCI_CONFIG, config_digest, config_size, NULL);
	jsonw_key(&w, "layers");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < m->nlayers; i++)
		if (m->layers[i].digest)
			oci_descriptor_write(&w, m->layers[i].media_type, m->layers[i].digest,
					     m->layers[i].size, NULL);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	return jsonw_finish(&w);
}

/* ---- reading ---- */

static int bad(struct errbuf *err, const char *what, const struct ynode *n)
{
	return errbuf_set(err, -EBADMSG, "image config: %s (line %u)", what, ynode_line(n));
}

static int read_kv_map(const struct ynode *n, struct kv **v, size_t *nv, struct errbuf *err,
		       const char *what)
{
	if (!n || ynode_is_null(n))
		return 0;
	if (ynode_kind(n) != YNODE_MAP)
		return bad(err, what, n);
	for (size_t i = 0; i < ynode_len(n); i++) {
		const char *val = ynode_str(ynode_map_value_at(n, i));
		if (!val)
			return bad(err, what, n);
		kv_set(v, nv, ynode_map_key_at(n, i), val);
	}
	return 0;
}

static int read_strings(const struct ynode *n, char ***v, size_t *nv, struct errbuf *err,
			const char *what)
{
	if (!n || ynode_is_null(n))
		return 0;
	if (ynode_kind(n) != YNODE_SEQ)
		return bad(err, what, n);
	for (size_t i = 0; i < ynode_len(n); i++) {
		const char *s = ynode_str(ynode_seq_at(n, i));
		if (!s)
			return bad(err, what, n);
		strv_push(v, nv, s);
	}
	return 0;
}

static int read_layers(const struct ynode *root, struct image_meta *m, struct errbuf *err)
{
	const struct ynode *layers = ynode_get(root, "cirun.layers");
	const struct ynode *diff_ids = ynode_get(root, "rootfs.diff_ids");
	size_t content = 0;

	if (!layers || ynode_kind(layers) != YNODE_SEQ)
		return bad(err, "cirun.layers is missing (not a cirun cluster image?)", root);
	for (size_t i = 0; i < ynode_len(layers); i++) {
		const struct ynode *l = ynode_seq_at(layers, i);
		const char *id = ynode_str(ynode_map_get(l, "id"));
		const char *value = ynode_str(ynode_map_get(l, "value"));
		int type = layer_type_from_name(ynode_str(ynode_map_get(l, "type")));
		const char *diff_id = NULL;

		if (type < 0 || !value)
			return bad(err, "a layer needs a type (BASE, COPY, RUN, CMD) and a value", l);
		if (id) {
			if (!digest_ref_valid(id))
				return bad(err, "a layer id must be sha256:<64 hex>", l);
			diff_id = ynode_str(ynode_seq_at(diff_ids, content++));
			if (!digest_ref_valid(diff_id))
				return bad(err, "rootfs.diff_ids does not match the layers", l);
		}
		image_meta_add_layer(m, (enum layer_type)type, value, id, diff_id, NULL, 0);
	}
	if (content != ynode_len(diff_ids))
		return bad(err, "rootfs.diff_ids does not match the layers", diff_ids);
	return 0;
}

int image_meta_from_config(const char *json, size_t len, struct image_meta *m,
			   struct errbuf *err)
{
	const struct ydoc_limits lim = { .max_bytes = CONFIG_MAX_BYTES };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct ynode *root;
	int r;

	memset(m, 0, sizeof(*m));
	r = ydoc_parse("image config", json, len, &lim, &d, err);
	if (r < 0)
		return r;
	root = ydoc_root(d, 0);
	if (ydoc_count(d) != 1 || ynode_kind(root) != YNODE_MAP)
		return errbuf_set(err, -EBADMSG, "image config: not a JSON object");
	m->created = dup_or_null(ynode_str(ynode_get(root, "created")));
	m->arch = dup_or_null(ynode_str(ynode_get(root, "architecture")));
	m->os = dup_or_null(ynode_str(ynode_get(root, "os")));
	m->clusterfile = dup_or_null(
		ynode_str(ynode_get(root, "cirun.annotations.sea\\.aliyun\\.com/ClusterFile")));
	r = read_layers(root, m, err);
	if (r >= 0)
		r = read_kv_map(ynode_get(root, "cirun.args"), &m->args, &m->nargs, err, "cirun.args");
	if (r >= 0)
		r = read_kv_map(ynode_get(root, "config.Labels"), &m->labels, &m->nlabels, err,
				"config.Labels");
	if (r >= 0)
		r = read_strings(ynode_get(root, "cirun.cmds"), &m->cmds, &m->ncmds, err, "cirun.cmds");
	if (r >= 0)
		r = read_strings(ynode_get(root, "cirun.images"), &m->images, &m->nimages, err,
				 "cirun.images");
	if (r < 0)
		image_meta_release(m);
	return r;
}

static int read_descriptor(const struct ynode *n, struct manifest_blob *b, struct errbuf *err)
{
	const char *digest = ynode_str(ynode_map_get(n, "digest"));
	const char *media = ynode_str(ynode_map_get(n, "mediaType"));
	int64_t size;

	if (!digest_ref_valid(digest) || !media ||
	    ynode_get_int(ynode_map_get(n, "size"), &size) < 0 || size < 0)
		return errbuf_set(err, -EBADMSG,
				  "manifest: a descriptor needs mediaType, digest (sha256) and size "
				  "(line %u)", ynode_line(n));
	b->digest = xstrdup(digest);
	b->media_type = xstrdup(media);
	b->size = (uint64_t)size;
	return 0;
}

int manifest_parse(const char *json, size_t len, struct manifest *m, struct errbuf *err)
{
	const struct ydoc_limits lim = { .max_bytes = CONFIG_MAX_BYTES };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct ynode *root, *layers;
	int r;

	memset(m, 0, sizeof(*m));
	r = ydoc_parse("manifest", json, len, &lim, &d, err);
	if (r < 0)
		return r;
	root = ydoc_root(d, 0);
	if (ydoc_count(d) != 1 || ynode_kind(root) != YNODE_MAP)
		return errbuf_set(err, -EBADMSG, "manifest: not a JSON object");
	const char *media = ynode_str(ynode_get(root, "mediaType"));
	if (media && strcmp(media, MEDIA_OCI_MANIFEST) != 0)
		return errbuf_set(err, -EBADMSG, "manifest: media type '%s' is not an OCI image "
				  "manifest", media);
	r = read_descriptor(ynode_get(root, "config"), &m->config, err);
	if (r < 0)
		return r;
	layers = ynode_get(root, "layers");
	if (!layers || ynode_kind(layers) != YNODE_SEQ) {
		manifest_release(m);
		return errbuf_set(err, -EBADMSG, "manifest: no layers list");
	}
	m->layers = xcalloc(ynode_len(layers), sizeof(*m->layers));
	for (size_t i = 0; i < ynode_len(layers); i++) {
		r = read_descriptor(ynode_seq_at(layers, i), &m->layers[i], err);
		if (r < 0) {
			manifest_release(m);
			return r;
		}
		m->nlayers++;
	}
	return 0;
}

void manifest_release(struct manifest *m)
{
	free(m->config.digest);
	free(m->config.media_type);
	for (size_t i = 0; i < m->nlayers; i++) {
		free(m->layers[i].digest);
		free(m->layers[i].media_type);
	}
	free(m->layers);
	memset(m, 0, sizeof(*m));
}
