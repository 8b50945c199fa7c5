/* Image archives built here with libarchive, imported into a registry storage tree that is
 * then checked file by file against distribution's layout. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "helpers.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "digest.h"
#include "fs-util.h"
#include "macro.h"
#include "registry.h"

#define V2 "docker/registry/v2"

struct ent {
	char type; /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'p' FIFO */
	const char *path;
	const char *data; /* content, or link target */
	size_t len;	  /* 0 = strlen(data) */
};

static void write_tar(const char *file, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t len = e[i].type == 'f' ? (e[i].len ? e[i].len : strlen(e[i].data)) : 0;

		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mtime(ae, 1700000000, 0);
		archive_entry_set_perm(ae, 0644);
		if (e[i].type == 'd')
			archive_entry_set_filetype(ae, AE_IFDIR);
		else if (e[i].type == 'p')
			archive_entry_set_filetype(ae, AE_IFIFO);
		else if (e[i].type == 'l') {
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
		} else if (e[i].type == 'h') {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
		} else {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)len);
		}
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* A small layer: a tar holding one file. */
static char *make_layer(const char *content, size_t *ret_len)
{
	char tmpl[] = "/tmp/cirun-reg-layer-XXXXXX";
	int fd = mkstemp(tmpl);
	struct buf b = BUF_INIT(1 << 20);
	struct ent e[] = { { 'f', "etc/hello", content } };

	assert_true(fd >= 0);
	close(fd);
	write_tar(tmpl, e, 1);
	assert_int_equal(buf_read_file(&b, tmpl), 0);
	unlink(tmpl);
	return buf_detach(&b, ret_len);
}

static char *hex_of(const char *data, size_t len)
{
	char hex[SHA256_HEX_SIZE];
	assert_int_equal(sha256_buf(data, len, hex), 0);
	return xstrdup(hex);
}

static char *read_rel(const char *root, const char *fmt, ...) _printf_(2, 3);
static char *read_rel(const char *root, const char *fmt, ...)
{
	va_list ap;
	char *rel, *path;
	struct buf b = BUF_INIT(8 << 20);

	va_start(ap, fmt);
	assert_true(vasprintf(&rel, fmt, ap) >= 0);
	va_end(ap);
	path = xasprintf("%s/%s", root, rel);
	if (buf_read_file(&b, path) < 0)
		fail_msg("missing %s", rel);
	free(rel);
	free(path);
	return buf_detach(&b, NULL);
}

static void assert_link(const char *root, const char *repo, const char *dir, const char *hex)
{
	char *c = read_rel(root, V2 "/repositories/%s/%s/link", repo, dir);
	char *want = xasprintf("sha256:%s", hex);
	assert_string_equal(c, want);
	free(c);
	free(want);
}

static void assert_blob(const char *root, const char *hex, const char *data, size_t len)
{
	char *path = xasprintf("%s/" V2 "/blobs/sha256/%.2s/%s/data", root, hex, hex);
	struct buf b = BUF_INIT(8 << 20);
	struct stat st;

	assert_int_equal(buf_read_file(&b, path), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, data, len);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644); /* the registry may run as its own user */
	buf_release(&b);
	free(path);
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	size_t n = 0;
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- a docker-archive ---- */

struct dimg {
	char *layer, *lhex, *config, *chex, *manifest;
	size_t llen;
};

static void dimg_make(struct dimg *d, const char *content, const char *tags)
{
	d->layer = make_layer(content, &d->llen);
	d->lhex = hex_of(d->layer, d->llen);
	d->config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
			      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
			      d->lhex);
	d->chex = hex_of(d->config, strlen(d->config));
	d->manifest = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":%s,"
				"\"Layers\":[\"aaaa/layer.tar\"]}]", d->chex, tags);
}

static void dimg_free(struct dimg *d)
{
	free(d->layer);
	free(d->lhex);
	free(d->config);
	free(d->chex);
	free(d->manifest);
}

static void dimg_write(const struct dimg *d, const char *file)
{
	char *cname = xasprintf("%s.json", d->chex);
	struct ent e[] = {
		{ 'd', "aaaa/" },
		{ 'f', "aaaa/layer.tar", d->layer, d->llen },
		{ 'f', "aaaa/VERSION", "1.0" },
		{ 'f', cname, d->config },
		{ 'f', "manifest.json", d->manifest },
	};
	write_tar(file, e, sizeof(e) / sizeof(e[0]));
	free(cname);
}

static void test_docker_archive(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "a.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg d;
	struct registry_desc config;
	struct registry_desc_list layers = { 0 };

	dimg_make(&d, "hello", "[\"registry.k8s.io/kube-apiserver:v1.28.7\",\"docker.io/library/x:t\"]");
	dimg_write(&d, tar);
	/* what a killed import left (no such PID), and one still running (ours): only the
	 * first goes */
	char *stale = xasprintf("%s/" V2 "/.cirun-import-999999999-0/sub", root);
	char *live = xasprintf("%s/" V2 "/.cirun-import-%d-0", root, (int)getpid());
	assert_int_equal(mkdir_p(stale, 0755), 0);
	assert_int_equal(mkdir_p(live, 0755), 0);
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.n_images, 2);
	assert_string_equal(rep.images[0].name, "kube-apiserver:v1.28.7");
	assert_string_equal(rep.images[0].source, "registry.k8s.io/kube-apiserver:v1.28.7");
	assert_string_equal(rep.images[1].name, "library/x:t");
	assert_int_equal(rep.blobs_written, 3); /* layer, config, manifest */
	assert_int_equal(rep.blobs_existing, 0);

	/* the manifest written is Docker schema2 over the layer as it was, uncompressed */
	const char *mhex = rep.images[0].manifest_digest + strlen("sha256:");
	char *man = read_rel(root, V2 "/blobs/sha256/%.2s/%s/data", mhex, mhex);
	char *h = hex_of(man, strlen(man));
	assert_string_equal(h, mhex);
	assert_non_null(strstr(man, "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\""));
	assert_non_null(strstr(man, "application/vnd.docker.image.rootfs.diff.tar\""));
	assert_int_equal(registry_parse_manifest("m", man, strlen(man), &config, &layers, &err), 0);
	assert_int_equal(layers.n, 1);
	assert_string_equal(layers.v[0].digest + 7, d.lhex);
	assert_int_equal(layers.v[0].size, d.llen);
	assert_string_equal(config.digest + 7, d.chex);
	assert_string_equal(config.media_type, "application/vnd.docker.container.image.v1+json");
	registry_desc_list_release(&layers);

	assert_blob(root, d.lhex, d.layer, d.llen);
	assert_blob(root, d.chex, d.config, strlen(d.config));
	assert_blob(root, mhex, man, strlen(man));
	for (const char *const *repo = (const char *const[]){ "kube-apiserver", "library/x", NULL };
	     *repo; repo++) {
		char dir[256];
		const char *tag = strcmp(*repo, "library/x") == 0 ? "t" : "v1.28.7";
		snprintf(dir, sizeof(dir), "_layers/sha256/%s", d.lhex);
		assert_link(root, *repo, dir, d.lhex);
		snprintf(dir, sizeof(dir), "_layers/sha256/%s", d.chex);
		assert_link(root, *repo, dir, d.chex);
		snprintf(dir, sizeof(dir), "_manifests/revisions/sha256/%s", mhex);
		assert_link(root, *repo, dir, mhex);
		snprintf(dir, sizeof(dir), "_manifests/tags/%s/index/sha256/%s", tag, mhex);
		assert_link(root, *repo, dir, mhex);
		snprintf(dir, sizeof(dir), "_manifests/tags/%s/current", tag);
		assert_link(root, *repo, dir, mhex);
	}
	/* exactly that: two repositories, three blobs, no staging left but the live one */
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(rmdir(live), 0);
	free(live);
	free(stale);
	char *p = xasprintf("%s/" V2, root);
	assert_int_equal(count_dir(p), 2); /* blobs, repositories */
	free(p);
	p = xasprintf("%s/" V2 "/repositories/library", root);
	assert_int_equal(count_dir(p), 1);
	free(p);
	free(h);
	free(man);
	registry_import_report_release(&rep);
	dimg_free(&d);
	free(root);
	free(tar);
}

/* skopeo's and older docker's docker-archive: the layer under a second name, a link */
static void test_docker_archive_links(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "l.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg d;

	dimg_make(&d, "linked", "[\"registry.k8s.io/etcd:3.5.10-0\"]");
	char *cname = xasprintf("%s.json", d.chex), *lname = xasprintf("%s.tar", d.lhex);
	char *target = xasprintf("../%s", lname);
	char *man = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"registry.k8s.io/etcd:3.5.10-0\"],"
			      "\"Layers\":[\"aaaa/layer.tar\",\"bbbb/layer.tar\"]}]", cname);
	char *config = xasprintf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\","
				 "\"sha256:%s\"]}}", d.lhex, d.lhex);
	char *chex = hex_of(config, strlen(config));
	free(cname);
	cname = xasprintf("%s.json", chex);
	free(man);
	man = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"registry.k8s.io/etcd:3.5.10-0\"],"
			"\"Layers\":[\"aaaa/layer.tar\",\"bbbb/layer.tar\"]}]", cname);
	struct ent e[] = {
		{ 'f', lname, d.layer, d.llen },
		{ 'l', "aaaa/layer.tar", target },
		{ 'h', "bbbb/layer.tar", lname },
		{ 'f', cname, config },
		{ 'f', "manifest.json", man },
	};
	write_tar(tar, e, sizeof(e) / sizeof(e[0]));
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(rep.images[0].name, "etcd:3.5.10-0");
	assert_int_equal(rep.blobs_written, 3); /* one layer blob for both names */
	assert_blob(root, d.lhex, d.layer, d.llen);
	char dir[256];
	snprintf(dir, sizeof(dir), "_layers/sha256/%s", d.lhex);
	assert_link(root, "etcd", dir, d.lhex);
	/* no link of the archive became a file or link on disk */
	char *p = xasprintf("%s/" V2 "/repositories/etcd/_layers/sha256", root);
	assert_int_equal(count_dir(p), 2);
	free(p);
	registry_import_report_release(&rep);
	free(chex);
	free(config);
	free(man);
	free(target);
	free(lname);
	free(cname);
	dimg_free(&d);
	free(root);
	free(tar);
}

/* kubeadm pulls CoreDNS from a custom imageRepository as REPO/coredns:TAG */
static void test_coredns_alias(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "c.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg d;
	char dir[256];

	dimg_make(&d, "dns", "[\"registry.k8s.io/coredns/coredns:v1.10.1\"]");
	dimg_write(&d, tar);
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.n_images, 2);
	assert_string_equal(rep.images[0].name, "coredns/coredns:v1.10.1");
	assert_string_equal(rep.images[1].name, "coredns:v1.10.1");
	assert_string_equal(rep.images[1].manifest_digest, rep.images[0].manifest_digest);
	assert_int_equal(rep.blobs_written, 3);
	const char *mhex = rep.images[0].manifest_digest + 7;
	for (const char *const *repo = (const char *const[]){ "coredns/coredns", "coredns", NULL };
	     *repo; repo++) {
		assert_link(root, *repo, "_manifests/tags/v1.10.1/current", mhex);
		snprintf(dir, sizeof(dir), "_manifests/revisions/sha256/%s", mhex);
		assert_link(root, *repo, dir, mhex);
		snprintf(dir, sizeof(dir), "_layers/sha256/%s", d.lhex);
		assert_link(root, *repo, dir, d.lhex);
		snprintf(dir, sizeof(dir), "_layers/sha256/%s", d.chex);
		assert_link(root, *repo, dir, d.chex);
	}
	registry_import_report_release(&rep);
	dimg_free(&d);
	free(root);
	free(tar);
}

static void test_dedup(void **state)
{
	char *root = tmp_path(state, "reg"), *a = tmp_path(state, "a.tar"), *b = tmp_path(state, "b.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg da, db;
	struct stat before, after;

	/* same layer, other config (other tag in RepoTags does not change the config) */
	dimg_make(&da, "shared", "[\"a.io/one:1\"]");
	dimg_make(&db, "shared", "[\"b.io/two:2\"]");
	free(db.config);
	db.config = xasprintf("{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
			      "[\"sha256:%s\"]}}", db.lhex);
	free(db.chex);
	db.chex = hex_of(db.config, strlen(db.config));
	free(db.manifest);
	db.manifest = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"b.io/two:2\"],"
				"\"Layers\":[\"aaaa/layer.tar\"]}]", db.chex);
	dimg_write(&da, a);
	dimg_write(&db, b);
	assert_string_equal(da.lhex, db.lhex);

	assert_int_equal(registry_import(root, a, &rep, &err), 0);
	registry_import_report_release(&rep);
	char *layer = xasprintf("%s/" V2 "/blobs/sha256/%.2s/%s/data", root, da.lhex, da.lhex);
	assert_int_equal(stat(layer, &before), 0);
	if (registry_import(root, b, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.blobs_existing, 1);
	assert_int_equal(rep.blobs_written, 2);
	assert_int_equal(stat(layer, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino); /* not rewritten */
	assert_link(root, "two", "_manifests/tags/2/current",
		    rep.images[0].manifest_digest + 7);
	registry_import_report_release(&rep);

	/* the same archive again: nothing new, same result */
	assert_int_equal(registry_import(root, b, &rep, &err), 0);
	assert_int_equal(rep.blobs_written, 0);
	assert_int_equal(rep.blobs_existing, 3);
	registry_import_report_release(&rep);
	free(layer);
	dimg_free(&da);
	dimg_free(&db);
	free(root);
	free(a);
	free(b);
}

/* ---- OCI layouts ---- */

struct oimg {
	char *layer, *lhex, *config, *chex, *manifest, *mhex;
	size_t llen;
};

static void oimg_make(struct oimg *o, const char *content, const char *arch)
{
	o->layer = make_layer(content, &o->llen);
	o->lhex = hex_of(o->layer, o->llen);
	o->config = xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			      "\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", arch, o->lhex);
	o->chex = hex_of(o->config, strlen(o->config));
	o->manifest = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		"\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
		o->chex, strlen(o->config), o->lhex, o->llen);
	o->mhex = hex_of(o->manifest, strlen(o->manifest));
}

static void oimg_free(struct oimg *o)
{
	free(o->layer);
	free(o->lhex);
	free(o->config);
	free(o->chex);
	free(o->manifest);
	free(o->mhex);
}

static char *blob_path(const char *hex)
{
	return xasprintf("blobs/sha256/%s", hex);
}

static void test_oci(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "o.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct oimg o;

	oimg_make(&o, "oci", "amd64");
	char *index = xasprintf(
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		"\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
		"\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":"
		"\"docker.io/library/busybox:1.36\",\"org.opencontainers.image.ref.name\":\"1.36\"}}]}",
		o.mhex, strlen(o.manifest));
	char *pl = blob_path(o.lhex), *pc = blob_path(o.chex), *pm = blob_path(o.mhex);
	struct ent e[] = {
		{ 'd', "./" }, /* tar -C dir . */
		{ 'f', "./oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}" },
		{ 'd', "blobs/" },
		{ 'd', "blobs/sha256/" },
		{ 'f', pl, o.layer, o.llen },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
		{ 'f', "./index.json", index },
	};
	write_tar(tar, e, sizeof(e) / sizeof(e[0]));
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.n_images, 1);
	assert_string_equal(rep.images[0].name, "library/busybox:1.36");
	/* the manifest is stored as it was: the digest upstream gave it */
	assert_string_equal(rep.images[0].manifest_digest + 7, o.mhex);
	assert_int_equal(rep.blobs_written, 3);
	assert_blob(root, o.mhex, o.manifest, strlen(o.manifest));
	assert_blob(root, o.lhex, o.layer, o.llen);
	assert_blob(root, o.chex, o.config, strlen(o.config));
	char dir[256];
	snprintf(dir, sizeof(dir), "_layers/sha256/%s", o.lhex);
	assert_link(root, "library/busybox", dir, o.lhex);
	snprintf(dir, sizeof(dir), "_layers/sha256/%s", o.chex);
	assert_link(root, "library/busybox", dir, o.chex);
	snprintf(dir, sizeof(dir), "_manifests/revisions/sha256/%s", o.mhex);
	assert_link(root, "library/busybox", dir, o.mhex);
	snprintf(dir, sizeof(dir), "_manifests/tags/1.36/index/sha256/%s", o.mhex);
	assert_link(root, "library/busybox", dir, o.mhex);
	assert_link(root, "library/busybox", "_manifests/tags/1.36/current", o.mhex);
	registry_import_report_release(&rep);

	/* a name by digest: a revision, no tag */
	char *bydigest = xasprintf(
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		"\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
		"\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":\"q.io/pinned@sha256:%s\"}}]}",
		o.mhex, strlen(o.manifest), o.mhex);
	e[7].data = bydigest;
	write_tar(tar, e, sizeof(e) / sizeof(e[0]));
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	char *want = xasprintf("pinned@sha256:%s", o.mhex);
	assert_string_equal(rep.images[0].name, want);
	assert_int_equal(rep.blobs_existing, 3);
	snprintf(dir, sizeof(dir), "_manifests/revisions/sha256/%s", o.mhex);
	assert_link(root, "pinned", dir, o.mhex);
	char *tags = xasprintf("%s/" V2 "/repositories/pinned/_manifests/tags", root);
	assert_int_equal(access(tags, F_OK), -1);
	free(tags);
	free(want);
	free(bydigest);
	registry_import_report_release(&rep);
	free(pl);
	free(pc);
	free(pm);
	free(index);
	oimg_free(&o);
	free(root);
	free(tar);
}

static void test_oci_multiarch(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "o.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct oimg a, b;

	oimg_make(&a, "amd", "amd64");
	oimg_make(&b, "arm", "arm64");
	char *list = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		"\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"digest\":\"sha256:%s\",\"size\":%zu,\"platform\":{\"architecture\":\"amd64\","
		"\"os\":\"linux\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"digest\":\"sha256:%s\",\"size\":%zu,\"platform\":{\"architecture\":\"arm64\","
		"\"os\":\"linux\"}}]}", a.mhex, strlen(a.manifest), b.mhex, strlen(b.manifest));
	char *lhex = hex_of(list, strlen(list));
	char *index = xasprintf(
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		"\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu,"
		"\"annotations\":{\"org.opencontainers.image.ref.name\":"
		"\"registry.k8s.io/pause:3.9\"}}]}", lhex, strlen(list));
	char *p[7] = { blob_path(a.lhex), blob_path(a.chex), blob_path(a.mhex), blob_path(b.lhex),
		       blob_path(b.chex), blob_path(b.mhex), blob_path(lhex) };
	struct ent e[] = {
		{ 'f', "index.json", index },	     { 'f', p[0], a.layer, a.llen },
		{ 'f', p[1], a.config },	     { 'f', p[2], a.manifest },
		{ 'f', p[3], b.layer, b.llen },	     { 'f', p[4], b.config },
		{ 'f', p[5], b.manifest },	     { 'f', p[6], list },
	};
	write_tar(tar, e, sizeof(e) / sizeof(e[0]));
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.n_images, 1);
	assert_string_equal(rep.images[0].name, "pause:3.9");
	assert_string_equal(rep.images[0].manifest_digest + 7, lhex);
	assert_int_equal(rep.blobs_written, 7);
	assert_blob(root, lhex, list, strlen(list));
	char dir[256];
	const char *revs[] = { lhex, a.mhex, b.mhex };
	for (size_t i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "_manifests/revisions/sha256/%s", revs[i]);
		assert_link(root, "pause", dir, revs[i]);
	}
	const char *lays[] = { a.lhex, a.chex, b.lhex, b.chex };
	for (size_t i = 0; i < 4; i++) {
		snprintf(dir, sizeof(dir), "_layers/sha256/%s", lays[i]);
		assert_link(root, "pause", dir, lays[i]);
	}
	assert_link(root, "pause", "_manifests/tags/3.9/current", lhex);
	registry_import_report_release(&rep);
	for (size_t i = 0; i < 7; i++)
		free(p[i]);
	free(list);
	free(lhex);
	free(index);
	oimg_free(&a);
	oimg_free(&b);
	free(root);
	free(tar);
}

/* ---- hostile archives: refused, with nothing published and nothing left behind ---- */

static void expect_refused(void **state, const struct ent *e, size_t n, const char *says)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "h.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;

	write_tar(tar, e, n);
	if (registry_import(root, tar, &rep, &err) >= 0)
		fail_msg("accepted, expected '%s'", says);
	if (!strstr(err.msg, says))
		fail_msg("'%s' does not say '%s'", err.msg, says);
	assert_int_equal(rep.n_images, 0);
	char *v2 = xasprintf("%s/" V2, root);
	assert_int_equal(count_dir(v2), 0); /* no blobs/, no repositories/, no staging */
	free(v2);
	registry_import_report_release(&rep);
	free(root);
	free(tar);
}

static void test_hostile_docker(void **state)
{
	struct dimg d;
	char *cname;

	dimg_make(&d, "hello", "[\"x:1\"]");
	cname = xasprintf("%s.json", d.chex);
	/* a layer that is not what the config's diff_ids say */
	struct ent wrong[] = {
		{ 'f', "aaaa/layer.tar", "not the layer" },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, wrong, 3, "diff_ids[0]");
	/* a config whose name is not its digest */
	struct ent badcfg[] = {
		{ 'f', "aaaa/layer.tar", d.layer, d.llen },
		{ 'f', cname, "{\"rootfs\":{\"diff_ids\":[]}}" },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, badcfg, 3, "altered");
	struct ent missing[] = {
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, missing, 2, "Layers[0]: 'aaaa/layer.tar' is not in the archive");
	struct ent traversal[] = {
		{ 'f', "aaaa/../../layer.tar", d.layer, d.llen },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, traversal, 2, "'..'");
	struct ent absolute[] = { { 'f', "/etc/passwd", "x" } };
	expect_refused(state, absolute, 1, "absolute");
	struct ent control[] = { { 'f', "a\033[2Jb", "x" } };
	expect_refused(state, control, 1, "control character");
	struct ent dotdotdir[] = { { 'd', "./../" } };
	expect_refused(state, dotdotdir, 1, "'..'");
	/* links are only second names for files of the archive, never followed out of it */
	struct ent symlink[] = {
		{ 'l', "aaaa/layer.tar", "/etc/shadow" },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, symlink, 3, "symlink pointing out of the archive");
	struct ent climbing[] = {
		{ 'l', "aaaa/layer.tar", "../../layer.tar" },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, climbing, 3, "symlink pointing out of the archive");
	struct ent dangling[] = {
		{ 'l', "aaaa/layer.tar", "../nowhere.tar" },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, dangling, 3, "which is not a file of the archive");
	struct ent hardlink[] = {
		{ 'f', cname, d.config },
		{ 'h', "aaaa/layer.tar", "../etc/passwd" },
		{ 'f', "manifest.json", d.manifest },
	};
	expect_refused(state, hardlink, 3, "hard link pointing out of the archive");
	struct ent linkblob[] = {
		{ 'l', "blobs/sha256/" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "x" },
		{ 'f', "index.json", "{}" },
	};
	expect_refused(state, linkblob, 2, "is a link, not a file");
	struct ent fifo[] = { { 'p', "aaaa/fifo" } };
	expect_refused(state, fifo, 1, "FIFO");
	struct ent twice[] = {
		{ 'f', "manifest.json", d.manifest },
		{ 'f', "./manifest.json", "[]" },
	};
	expect_refused(state, twice, 2, "twice");
	char *untagged = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":null,\"Layers\":"
				   "[\"aaaa/layer.tar\"]}]", d.chex);
	struct ent noname[] = {
		{ 'f', "aaaa/layer.tar", d.layer, d.llen },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", untagged },
	};
	expect_refused(state, noname, 3, "no RepoTags");
	char *badtag = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"Bad/Name:1\"],"
				 "\"Layers\":[\"aaaa/layer.tar\"]}]", d.chex);
	struct ent badname[] = {
		{ 'f', "aaaa/layer.tar", d.layer, d.llen },
		{ 'f', cname, d.config },
		{ 'f', "manifest.json", badtag },
	};
	expect_refused(state, badname, 3, "lower case");
	/* oversized JSON: refused before it is parsed */
	size_t big = REGISTRY_JSON_MAX + 10;
	char *huge = xmalloc(big + 1);
	memset(huge, ' ', big);
	huge[0] = '[';
	huge[big - 1] = ']';
	huge[big] = '\0';
	struct ent oversized[] = { { 'f', "manifest.json", huge, big } };
	expect_refused(state, oversized, 1, "more than the");
	struct ent none[] = { { 'f', "hello", "x" } };
	expect_refused(state, none, 1, "neither index.json");
	free(huge);
	free(badtag);
	free(untagged);
	free(cname);
	dimg_free(&d);
}

static void test_hostile_oci(void **state)
{
	struct oimg o;

	oimg_make(&o, "oci", "amd64");
	char *index = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
				"\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
				"\"sha256:%s\",\"size\":%zu,\"annotations\":{"
				"\"org.opencontainers.image.ref.name\":\"q.io/a/b:c\"}}]}",
				o.mhex, strlen(o.manifest));
	char *pl = blob_path(o.lhex), *pc = blob_path(o.chex), *pm = blob_path(o.mhex);
	/* a blob whose content is not its name */
	struct ent wrong[] = {
		{ 'f', "index.json", index },
		{ 'f', pl, "tampered" },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, wrong, 4, "altered");
	struct ent missing[] = {
		{ 'f', "index.json", index },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, missing, 3, "is not in the archive");
	struct ent nomanifest[] = { { 'f', "index.json", index } };
	expect_refused(state, nomanifest, 1, "is not in the archive");
	/* the descriptor's size must be the blob's */
	char *badsize = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
				  "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
				  "\"sha256:%s\",\"size\":1,\"annotations\":{"
				  "\"io.containerd.image.name\":\"q.io/a/b:c\"}}]}", o.mhex);
	struct ent size[] = {
		{ 'f', "index.json", badsize },
		{ 'f', pl, o.layer, o.llen },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, size, 4, "the descriptor says 1");
	/* a bare tag names no repository */
	char *bare = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			       "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
			       "\"sha256:%s\",\"size\":%zu,\"annotations\":{"
			       "\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
			       o.mhex, strlen(o.manifest));
	struct ent unnamed[] = {
		{ 'f', "index.json", bare },
		{ 'f', pl, o.layer, o.llen },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, unnamed, 4, "no image name");
	/* a name pinned to a digest that is not the manifest's */
	char *pinned = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
				 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
				 "\"sha256:%s\",\"size\":%zu,\"annotations\":{"
				 "\"io.containerd.image.name\":\"q.io/a@sha256:%s\"}}]}",
				 o.mhex, strlen(o.manifest), o.lhex);
	struct ent pin[] = {
		{ 'f', "index.json", pinned },
		{ 'f', pl, o.layer, o.llen },
		{ 'f', pc, o.config },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, pin, 4, "but its manifest is");
	free(pinned);
	struct ent badblob[] = {
		{ 'f', "index.json", index },
		{ 'f', "blobs/sha512/abc", "x" },
	};
	expect_refused(state, badblob, 2, "not named");
	/* a descriptor that calls a manifest an index */
	char *top = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			      "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:%s\","
			      "\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":\"q.io/a:b\"}}]}",
			      o.mhex, strlen(o.manifest));
	struct ent astype[] = {
		{ 'f', "index.json", top },
		{ 'f', pm, o.manifest },
	};
	expect_refused(state, astype, 2, "manifests list");
	struct ent garbage[] = { { 'f', "index.json", "{\"schemaVersion\": 2, \"manifests\": [" } };
	expect_refused(state, garbage, 1, "index.json");
	free(top);
	free(bare);
	free(badsize);
	free(pl);
	free(pc);
	free(pm);
	free(index);
	oimg_free(&o);
}

static void test_too_many_entries(void **state)
{
	size_t n = REGISTRY_ENTRIES_MAX + 1;
	struct ent *e = xcalloc(n, sizeof(*e));
	char **names = xcalloc(n, sizeof(*names));

	for (size_t i = 0; i < n; i++) {
		names[i] = xasprintf("f%zu", i);
		e[i] = (struct ent){ 'f', names[i], "x" };
	}
	expect_refused(state, e, n, "more than 8192 entries");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(e);
}

static void test_not_a_tar(void **state)
{
	char *root = tmp_path(state, "reg"), *f = tmp_path(state, "x.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	FILE *fp = fopen(f, "w");

	fputs("this is not an archive, not at all, not even a little bit\n", fp);
	fclose(fp);
	assert_true(registry_import(root, f, &rep, &err) < 0);
	assert_non_null(strstr(err.msg, f));
	free(f);
	f = tmp_path(state, "missing.tar");
	assert_true(registry_import(root, f, &rep, &err) < 0);
	assert_non_null(strstr(err.msg, "missing.tar"));
	registry_import_report_release(&rep);
	free(root);
	free(f);
}

/* A blob in the store with its digest's size but other content (altered there) is not
 * served: the re-import hashes it, finds it wrong and puts the archive's back. */
static void test_tampered_blob_replaced(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "a.tar");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg d;

	dimg_make(&d, "hello", "[\"a.io/one:1\"]");
	dimg_write(&d, tar);
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	registry_import_report_release(&rep);
	char *layer = xasprintf("%s/" V2 "/blobs/sha256/%.2s/%s/data", root, d.lhex, d.lhex);
	char *evil = xmalloc(d.llen);
	memset(evil, 'X', d.llen);
	assert_int_equal(write_file_atomic(layer, evil, d.llen, 0644), 0);

	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.blobs_replaced, 1);
	assert_int_equal(rep.blobs_written, 1);
	assert_int_equal(rep.blobs_existing, 2); /* config and manifest still hash right */
	assert_blob(root, d.lhex, d.layer, d.llen);
	registry_import_report_release(&rep);

	/* a symlink where the blob is: replaced, never followed */
	assert_int_equal(unlink(layer), 0);
	assert_int_equal(symlink(tar, layer), 0);
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.blobs_replaced, 1);
	assert_blob(root, d.lhex, d.layer, d.llen);
	registry_import_report_release(&rep);
	free(evil);
	free(layer);
	dimg_free(&d);
	free(root);
	free(tar);
}

/* What an archive unpacks to is capped while it streams: a small gzip that expands past the
 * cap (or past the free space) fails with that reason, leaving nothing behind. */
static void test_unpacked_capped(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "bomb.tar.gz");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	size_t big = 8u << 20;
	char *zeros = xcalloc(1, big);
	struct stat st;

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
	archive_entry_set_pathname(ae, "manifest.json");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, (la_int64_t)big);
	assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, zeros, big), (la_ssize_t)big);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(ae);
	assert_int_equal(stat(tar, &st), 0);
	assert_true(st.st_size < (off_t)(big / 100));

	registry_set_limits(1u << 20, 0);
	assert_int_equal(registry_import(root, tar, &rep, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "unpacks to more than 1048576 bytes"));
	assert_non_null(strstr(err.msg, "manifest.json"));
	registry_import_report_release(&rep);
	char *v2 = xasprintf("%s/" V2, root);
	assert_int_equal(count_dir(v2), 0); /* the staging is gone */

	/* the free space, less what is kept free, is the limit when it is lower */
	registry_set_limits(REGISTRY_UNPACKED_MAX, UINT64_MAX / 2);
	assert_int_equal(registry_import(root, tar, &rep, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "free"));
	assert_non_null(strstr(err.msg, root));
	registry_import_report_release(&rep);
	assert_int_equal(count_dir(v2), 0);
	registry_set_limits(REGISTRY_UNPACKED_MAX, REGISTRY_FREE_RESERVE);
	free(v2);
	free(zeros);
	free(root);
	free(tar);
}

/* Pointing a tag back (after a clash) walks beneath the store: a symlinked directory on
 * the way is refused, never written through; names that are not repo:tag are refused. */
static void test_tag_set(void **state)
{
	char *root = tmp_path(state, "reg"), *tar = tmp_path(state, "a.tar");
	char *outside = tmp_path(state, "outside/tags/1/current");
	struct registry_import_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct dimg d;
	char other[80];

	dimg_make(&d, "hello", "[\"a.io/one:1\"]");
	dimg_write(&d, tar);
	if (registry_import(root, tar, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	registry_import_report_release(&rep);
	snprintf(other, sizeof(other), "sha256:%064d", 7);
	if (registry_tag_set(root, "one:1", other, &err) < 0)
		fail_msg("%s", err.msg);
	assert_link(root, "one", "_manifests/tags/1/current", other + 7);
	assert_int_equal(registry_tag_set(root, "one", other, &err), -EINVAL);
	assert_int_equal(registry_tag_set(root, "../x:1", other, &err), -EINVAL);
	assert_int_equal(registry_tag_set(root, "one:1", "sha256:zz", &err), -EINVAL);

	/* _manifests swapped for a symlink to a tree outside the store */
	char *man = xasprintf("%s/" V2 "/repositories/one/_manifests", root);
	char *out_top = tmp_path(state, "outside");
	assert_int_equal(mkdir_p(outside, 0755), 0);
	char *cmd = xasprintf("rm -rf '%s'", man);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(symlink(out_top, man), 0);
	assert_true(registry_tag_set(root, "one:1", other, &err) < 0);
	assert_non_null(strstr(err.msg, "current"));
	char *link = xasprintf("%s/link", outside);
	assert_int_equal(access(link, F_OK), -1);
	free(link);
	free(cmd);
	free(man);
	free(out_top);
	dimg_free(&d);
	free(outside);
	free(root);
	free(tar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_docker_archive, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_docker_archive_links, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_coredns_alias, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_dedup, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_oci, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_oci_multiarch, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_docker, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_oci, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_too_many_entries, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_tar, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_blob_replaced, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_unpacked_capped, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_tag_set, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
