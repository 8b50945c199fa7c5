#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "config-apply.h"
#include "clean.h"
#include "exec.h"
#include "facts.h"
#include "host-lock.h"
#include "hosts.h"
#include "journal-file.h"
#include "journal.h"
#include "kubeadm-file.h"
#include "fs-util.h"
#include "layers.h"
#include "log.h"
#include "macro.h"
#include "proto.h"
#include "proto-msg.h"
#include "registry.h"
#include "rootfs-walk.h"
#include "setup.h"
#include "ydoc.h"

/* A name an archive of this session put in the registry, and what it points at. */
struct served {
	char *name;
	char *archive;
	char digest[IMGREF_DIGEST_SIZE];
};

struct agent {
	int fds[2];
	struct proto_io io;
	struct buf reply;
	struct layer_upload *upload;
	struct errbuf upload_err; /* LAYER_BEGIN/DATA do not reply: LAYER_END reports this */
	char *assembled; /* the cluster whose rootfs this session assembled, for CONFIG */
	struct host_lock *lock; /* ROOT/lock, from LOCK to the session's end */
	struct served *served; /* names REGISTRY_IMPORT served in this session, for clashes */
	size_t n_served;
	bool said_hello;
	bool done;
};

typedef int (*handler_fn)(struct agent *a, struct cursor *c, struct errbuf *err);

static int send_frame(struct agent *a, uint8_t type)
{
	int r = proto_write_frame(&a->io, type, a->reply.data, a->reply.len);
	buf_reset(&a->reply);
	return r;
}

/* A reply field that does not fit in a frame fails the request, naming the field; nothing
 * is ever cut or dropped silently. */
static int reply_failed(struct agent *a, int r, uint8_t type, const char *field,
			struct errbuf *err)
{
	buf_reset(&a->reply);
	return errbuf_set(err, r, "the %s reply's %s does not fit in a frame (%u bytes at most)",
			  proto_msg_name(type), field, PROTO_MAX_FRAME);
}

static int reply_u32(struct agent *a, uint8_t type, const char *field, uint32_t v,
		     struct errbuf *err)
{
	int r = proto_put_u32(&a->reply, v);
	return r < 0 ? reply_failed(a, r, type, field, err) : 0;
}

static int reply_str(struct agent *a, uint8_t type, const char *field, const char *v,
		     struct errbuf *err)
{
	int r = proto_put_str(&a->reply, v);
	return r < 0 ? reply_failed(a, r, type, field, err) : 0;
}

static int send_ok(struct agent *a, const char *detail, struct errbuf *err)
{
	int r = reply_str(a, MSG_OK, "detail", detail, err);
	return r < 0 ? r : send_frame(a, MSG_OK);
}

static uint32_t error_code(const struct errbuf *err)
{
	return (uint32_t)(err->code < 0 ? -err->code : EIO);
}

/* The message is an errbuf's (ERRBUF_MSG_MAX): it always fits. */
static int send_error(struct agent *a, const struct errbuf *err)
{
	int r;

	buf_reset(&a->reply);
	r = proto_put_u32(&a->reply, error_code(err));
	if (r >= 0)
		r = proto_put_str(&a->reply, errbuf_msg(err));
	return r < 0 ? r : send_frame(a, MSG_ERROR);
}

static int send_layer_error(struct agent *a, const struct errbuf *err, int fault,
			    const char *digest)
{
	int r;

	buf_reset(&a->reply);
	r = proto_put_u32(&a->reply, error_code(err));
	if (r >= 0)
		r = proto_put_str(&a->reply, errbuf_msg(err));
	if (r >= 0)
		r = proto_put_u32(&a->reply, (uint32_t)fault);
	if (r >= 0)
		r = proto_put_str(&a->reply, digest);
	return r < 0 ? r : send_frame(a, MSG_LAYER_ERROR);
}

static const void *rest(const struct cursor *c)
{
	return c->p;
}

static int on_hello(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_hello m;
	int r = msg_hello_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	if (m.version != PROTO_VERSION) {
		r = errbuf_set(err, -EPROTO, "protocol version %u is not %u: this agent is cirun-agent "
			       "%s; use the cirun of the same version", m.version, PROTO_VERSION,
			       CIRUN_VERSION);
		msg_hello_release(&m);
		return r;
	}
	log_info("session from cirun %s", m.client);
	msg_hello_release(&m);
	a->said_hello = true;
	r = reply_u32(a, MSG_HELLO_OK, "version", PROTO_VERSION, err);
	if (r >= 0)
		r = reply_str(a, MSG_HELLO_OK, "agent version", CIRUN_VERSION, err);
	return r < 0 ? r : send_frame(a, MSG_HELLO_OK);
}

static int on_facts(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_(ynode_freep) struct ynode *facts = NULL;
	_cleanup_buf_ struct buf yaml = BUF_INIT(1 << 20);
	int r = msg_empty_decode(MSG_FACTS_REQ, rest(c), c->left, err);

	if (r < 0)
		return r;
	r = facts_collect(&facts);
	if (r >= 0)
		r = ynode_emit(facts, &yaml);
	if (r < 0)
		return errbuf_set(err, r, "collecting facts failed: %s", strerror(-r));
	r = reply_str(a, MSG_FACTS, "facts", yaml.data, err);
	return r < 0 ? r : send_frame(a, MSG_FACTS);
}

static int on_layers(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_layers_req m;
	uint32_t have = 0;
	_cleanup_buf_ struct buf list = BUF_INIT(PROTO_MAX_FRAME);
	int r = msg_layers_req_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	for (uint32_t i = 0; r >= 0 && i < m.n; i++) {
		if (!layer_cache_has(m.layers[i].digest, m.layers[i].size))
			continue;
		r = proto_put_str(&list, m.layers[i].digest);
		have++;
	}
	msg_layers_req_release(&m);
	if (r < 0)
		return reply_failed(a, r, MSG_LAYERS, "digest list", err);
	r = reply_u32(a, MSG_LAYERS, "count", have, err);
	if (r >= 0 && buf_append(&a->reply, list.data, list.len) < 0)
		r = reply_failed(a, -E2BIG, MSG_LAYERS, "digest list", err);
	return r < 0 ? r : send_frame(a, MSG_LAYERS);
}

/* LAYER_BEGIN and LAYER_DATA have no reply (data follows at once): what goes wrong with
 * them, a malformed frame included, is kept for LAYER_END to report, so the stream stays
 * in step. */
static void upload_failed(struct agent *a, const struct errbuf *e)
{
	log_error("%s", errbuf_msg(e));
	if (!a->upload_err.code)
		a->upload_err = *e;
	layer_upload_abort(a->upload);
	a->upload = NULL;
}

static int on_layer_begin(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_layer_begin m;
	struct errbuf e = ERRBUF_INIT;

	(void)err;
	layer_upload_abort(a->upload);
	a->upload = NULL;
	errbuf_clear(&a->upload_err);
	if (msg_layer_begin_decode(rest(c), c->left, &m, &e) < 0) {
		upload_failed(a, &e);
		return 0;
	}
	log_info("receiving layer %s (%llu bytes)", m.digest, (unsigned long long)m.size);
	if (layer_upload_begin(m.digest, m.size, &a->upload, &e) < 0)
		upload_failed(a, &e);
	msg_layer_begin_release(&m);
	return 0;
}

static int on_layer_data(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_layer_data m;
	struct errbuf e = ERRBUF_INIT;

	(void)err;
	if (msg_layer_data_decode(rest(c), c->left, &m, &e) < 0) {
		upload_failed(a, &e);
		return 0;
	}
	if (!a->upload)
		return 0; /* the upload already failed: LAYER_END reports it */
	if (layer_upload_data(a->upload, m.data, m.len, &e) < 0)
		upload_failed(a, &e);
	return 0;
}

static int on_layer_end(struct agent *a, struct cursor *c, struct errbuf *err)
{
	int r = msg_empty_decode(MSG_LAYER_END, rest(c), c->left, err);

	if (r >= 0 && a->upload_err.code) {
		*err = a->upload_err;
		r = err->code;
	}
	errbuf_clear(&a->upload_err);
	if (r < 0) {
		layer_upload_abort(a->upload);
		a->upload = NULL;
		return r;
	}
	if (!a->upload)
		return errbuf_set(err, -EPROTO, "LAYER_END without LAYER_BEGIN");
	r = layer_upload_end(a->upload, err);
	a->upload = NULL;
	if (r < 0)
		return r;
	return send_ok(a, "", err);
}

static int on_assemble(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_assemble m;
	struct layer_fault_info fault = { 0 };
	struct layer_stats st;
	char detail[256];
	int r = msg_assemble_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	log_info("assembling the rootfs of cluster %s from %u layers", m.cluster, m.n);
	free(a->assembled);
	a->assembled = NULL;
	r = rootfs_assemble(m.cluster, m.digests, m.n, &fault, &st, err);
	if (r >= 0)
		a->assembled = xstrdup(m.cluster);
	if (r >= 0) {
		snprintf(detail, sizeof(detail), "%llu entries, %llu bytes",
			 (unsigned long long)st.entries, (unsigned long long)st.bytes_out);
		r = send_ok(a, detail, err);
	} else if (fault.fault) {
		/* the layer's digest and the kind of fault travel as fields of their own */
		log_error("ASSEMBLE failed: layer %s is %s: %s", fault.digest,
			  fault.fault == LAYER_FAULT_CORRUPT ? "corrupt in the cache" : "invalid",
			  errbuf_msg(err));
		r = send_layer_error(a, err, fault.fault, fault.digest);
		errbuf_clear(err);
	}
	free(fault.digest);
	msg_assemble_release(&m);
	return r;
}

static int forward_output(void *data, int stream, const void *buf, size_t n)
{
	struct agent *a = data;
	int r;

	buf_reset(&a->reply);
	r = proto_put_u32(&a->reply, (uint32_t)stream);
	if (r >= 0)
		r = proto_put_blob(&a->reply, buf, n);
	if (r < 0) {
		buf_reset(&a->reply);
		return r;
	}
	return send_frame(a, MSG_OUTPUT);
}

static int on_exec(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_exec m;
	struct exec_result res = { 0 };
	int r = msg_exec_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	log_info("running '%s' in %s (timeout %us)", m.command, *m.cwd ? m.cwd : "/", m.timeout_s);
	r = exec_command(m.command, m.cwd, m.env, m.nenv, m.timeout_s, forward_output, a, &res, err);
	if (r >= 0) {
		log_info("'%s' ended: exit %d, signal %d%s", m.command, res.exit_code, res.signal,
			 res.timed_out ? ", timed out" : "");
		buf_reset(&a->reply);
		r = reply_u32(a, MSG_EXIT, "exit code", (uint32_t)res.exit_code, err);
		if (r >= 0)
			r = reply_u32(a, MSG_EXIT, "signal", (uint32_t)res.signal, err);
		if (r >= 0)
			r = reply_u32(a, MSG_EXIT, "timed out", (uint32_t)res.timed_out, err);
		if (r >= 0)
			r = send_frame(a, MSG_EXIT);
	}
	msg_exec_release(&m);
	return r;
}

static int on_setup(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_setup m;
	struct setup_report rep = { .units = BUF_INIT(4096) };
	char detail[1024];
	int r = msg_setup_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	log_info("setting up cluster %s: render, bin/, cri/, units", m.cluster);
	r = host_setup(m.cluster, m.env, m.nenv, m.flags & PROTO_SETUP_FORCE ? SETUP_FORCE : 0, &rep, err);
	if (r >= 0) {
		snprintf(detail, sizeof(detail), "%u rendered, %u on PATH, %u CRI files, units: %s",
			 rep.rendered, rep.linked, rep.cri_files, rep.units.len ? rep.units.data : "none");
		log_info("%s", detail);
		r = send_ok(a, detail, err);
	}
	msg_setup_release(&m);
	buf_release(&rep.units);
	return r;
}

/* A Config goes only onto a rootfs this session assembled from its layers: the rootfs
 * then holds the image's files alone, so an append or insert of a re-run lands once, not
 * once more per run. */
static int on_config(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_config m;
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int rootfd = -1;
	int r = msg_config_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	if (!a->assembled || strcmp(a->assembled, m.cluster) != 0) {
		r = errbuf_set(err, -EPROTO, "Config '%s' (%s:%u) for cluster %s before this session "
			       "assembled its rootfs: Configs apply to a freshly assembled rootfs only",
			       m.doc.name, m.doc.file, m.doc.line, m.cluster);
		goto out;
	}
	dir = xasprintf("%s/data/%s/rootfs", agent_root(), m.cluster);
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0) {
		r = errbuf_set(err, negative_errno(), "cannot open the rootfs '%s': %m", dir);
		goto out;
	}
	log_info("applying Config '%s' (%s) to %s", m.doc.name, config_strategy_name(m.doc.strategy),
		 m.doc.path);
	r = config_apply(rootfd, &m.doc, err);
	if (r >= 0)
		r = send_ok(a, "", err);
out:
	msg_config_release(&m);
	return r;
}

/* Points the tag NAME ("repo:tag", as served) back at digest: a clash is found only
 * after the later archive published its tag, and the earlier archive's content (its blobs
 * and revision links stay) is what the registry keeps serving. */
static void tag_restore(const char *store, const char *name, const char *digest)
{
	struct errbuf err = ERRBUF_INIT;

	if (strchr(name, '@'))
		return; /* a digest reference has no tag to point back */
	if (registry_tag_set(store, name, digest, &err) < 0)
		log_warning("cannot point %s back at %s: %s", name, digest, errbuf_msg(&err));
}

/* Two archives serving one name with different content: refused naming both (the images/
 * of the image is wrong), the name left on the earlier archive's content. */
static int served_add(struct agent *a, const char *store, const char *archive,
		      const struct registry_image *img, struct errbuf *err)
{
	for (size_t i = 0; i < a->n_served; i++) {
		struct served *s = &a->served[i];
		if (strcmp(s->name, img->name) != 0)
			continue;
		if (strcmp(s->digest, img->manifest_digest) == 0 || strcmp(s->archive, archive) == 0)
			return 0;
		tag_restore(store, s->name, s->digest);
		return errbuf_set(err, -EEXIST, "images/%s and images/%s both serve %s, with different "
				  "content (%s, %s; it stays on the first): remove one of them from "
				  "the image's images/", s->archive, archive, img->name, s->digest,
				  img->manifest_digest);
	}
	a->served = xreallocarray(a->served, a->n_served + 1, sizeof(*a->served));
	a->served[a->n_served].name = xstrdup(img->name);
	a->served[a->n_served].archive = xstrdup(archive);
	snprintf(a->served[a->n_served].digest, sizeof(a->served->digest), "%s", img->manifest_digest);
	a->n_served++;
	return 0;
}

static void served_release(struct agent *a)
{
	for (size_t i = 0; i < a->n_served; i++) {
		free(a->served[i].name);
		free(a->served[i].archive);
	}
	free(a->served);
}

/* The registry hosts the report's images were named under, each once in the order met, as
 * REGISTRY_IMPORTED's list: cirun makes each a containerd mirror of the cluster's
 * registry. An IPv6 literal ("[fd00::1]:5000") names no certs.d directory containerd
 * looks up the same way everywhere: left out, with a warning. More than
 * MSG_MAX_REGISTRY_SOURCES is -E2BIG. */
static int import_sources(const char *archive, const struct registry_import_report *rep,
			  struct buf *out, uint32_t *ret_n, struct errbuf *err)
{
	_cleanup_free_ struct imgref *refs = xcalloc(MSG_MAX_REGISTRY_SOURCES, sizeof(*refs));
	uint32_t n = 0;
	int r = 0;

	for (size_t i = 0; i < rep->n_images; i++) {
		struct imgref ref;
		bool dup = false;

		if (imgref_parse(rep->images[i].source, &ref, NULL) < 0)
			continue; /* the import parsed it: cannot happen */
		for (uint32_t k = 0; k < n && !dup; k++)
			dup = strcmp(refs[k].domain, ref.domain) == 0;
		if (dup)
			continue;
		if (!hosts_registry_valid(ref.domain)) {
			log_warning("images/%s: %s: its registry %s gets no containerd mirror (not "
				    "HOST[:PORT]); pull it as sea.hub:5000/%s", archive,
				    rep->images[i].source, ref.domain, rep->images[i].name);
			continue;
		}
		if (n == MSG_MAX_REGISTRY_SOURCES)
			return errbuf_set(err, -E2BIG, "images/%s names images of more than %u registries "
					  "(%s is one more): cirun mirrors at most %u per archive; split "
					  "the archive", archive, MSG_MAX_REGISTRY_SOURCES, ref.domain,
					  MSG_MAX_REGISTRY_SOURCES);
		refs[n++] = ref;
	}
	for (uint32_t k = 0; r >= 0 && k < n; k++)
		r = proto_put_str(out, refs[k].domain);
	*ret_n = n;
	return r < 0 ? errbuf_set(err, r, "images/%s: its registry hosts do not fit in a reply",
				   archive) : 0;
}

/* The archive is opened beneath the rootfs (no symlink followed, a regular file only) and
 * read through /proc/self/fd, so what is imported is the image's file, never a host's. */
static int registry_import_beneath(struct agent *a, const struct msg_registry_import *m,
				   struct buf *detail, struct buf *sources, uint32_t *ret_nsources,
				   struct errbuf *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/data/%s/rootfs", agent_root(), m->cluster);
	_cleanup_free_ char *rel = xasprintf("images/%s", m->archive);
	_cleanup_free_ char *store = NULL, *path = NULL;
	_cleanup_close_ int rootfd = -1, fd = -1;
	struct registry_import_report rep = { 0 };
	int r;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open the rootfs '%s': %m", dir);
	r = rootfs_open_file(rootfd, rel, 0, &fd, err);
	if (r < 0)
		return r;
	/* beside the rootfs, not in it: every ASSEMBLE replaces the rootfs, and the running
	 * registry's bind mount would be left on the old, removed one */
	store = xasprintf("%s/data/%s/registry", agent_root(), m->cluster);
	path = xasprintf("/proc/self/fd/%d", fd);
	log_info("importing images/%s into %s", m->archive, store);
	r = registry_import(store, path, &rep, err);
	if (r < 0) {
		errbuf_prefix(err, "images/%s", m->archive);
		goto out;
	}
	buf_printf(detail, "%zu image%s:", rep.n_images, rep.n_images == 1 ? "" : "s");
	for (size_t i = 0; r >= 0 && i < rep.n_images; i++) {
		r = served_add(a, store, m->archive, &rep.images[i], err);
		buf_printf(detail, " %s", rep.images[i].name);
	}
	buf_printf(detail, " (%zu new blobs, %zu kept)", rep.blobs_written, rep.blobs_existing);
	if (rep.blobs_replaced)
		buf_printf(detail, ", %zu replaced: they no longer had their digest in %s",
			   rep.blobs_replaced, store);
	if (r >= 0)
		r = import_sources(m->archive, &rep, sources, ret_nsources, err);
out:
	registry_import_report_release(&rep);
	return r;
}

static int on_registry_import(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct msg_registry_import m;
	_cleanup_(buf_release) struct buf detail = BUF_INIT(MSG_MAX_DETAIL);
	_cleanup_(buf_release) struct buf sources = BUF_INIT(64u << 10);
	uint32_t nsources = 0;
	int r = msg_registry_import_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	r = registry_import_beneath(a, &m, &detail, &sources, &nsources, err);
	/* REGISTRY_IMPORTED: OK's detail, then the registry hosts for cirun's mirrors */
	if (r >= 0)
		r = reply_str(a, MSG_REGISTRY_IMPORTED, "detail", detail.data, err);
	if (r >= 0)
		r = reply_u32(a, MSG_REGISTRY_IMPORTED, "registry host count", nsources, err);
	if (r >= 0 && buf_append(&a->reply, sources.data, sources.len) < 0)
		r = reply_failed(a, -E2BIG, MSG_REGISTRY_IMPORTED, "registry hosts", err);
	if (r >= 0)
		r = send_frame(a, MSG_REGISTRY_IMPORTED);
	msg_registry_import_release(&m);
	return r;
}

static int on_hosts(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ struct hosts_entry *e = NULL;
	struct hosts_report rep;
	struct msg_hosts m;
	char detail[256];
	int r = msg_hosts_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	e = xcalloc(m.n ? m.n : 1, sizeof(*e));
	for (uint32_t i = 0; i < m.n; i++)
		e[i] = (struct hosts_entry){ m.entries[i].key, m.entries[i].value };
	log_info("cluster %s: %u name(s) in /etc/hosts, mirror %s for %u registr%s", m.cluster,
		 m.n, m.mirror, m.nup, m.nup == 1 ? "y" : "ies");
	r = host_hosts(m.cluster, e, m.n, m.mirror, m.upstreams, m.nup,
		       m.flags & PROTO_HOSTS_FORCE ? HOSTS_FORCE : 0, &rep, err);
	if (r >= 0) {
		snprintf(detail, sizeof(detail), "/etc/hosts %s, %u mirror file(s) written",
			 rep.hosts_changed ? "updated" : "unchanged", rep.mirrors_written);
		r = send_ok(a, detail, err);
	}
	msg_hosts_release(&m);
	return r;
}

static int on_kubeadm_config(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *path = NULL;
	struct msg_kubeadm_config m;
	int r = msg_kubeadm_config_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	/* the content is never logged: it holds the join token and the certificate key */
	r = kubeadm_file_write(agent_root(), m.cluster, m.name, m.data, strlen(m.data), &path, err);
	if (r >= 0) {
		log_info("cluster %s: wrote %s (0600)", m.cluster, path);
		r = send_ok(a, path, err);
	}
	msg_kubeadm_config_release(&m);
	return r;
}

/* The host's lock, for the rest of the session: taken before anything changes the host
 * (agent_serve() refuses every such request until then), renewed from a thread while
 * the session's channel is open, released when the session ends. */
static int on_lock(struct agent *a, struct cursor *c, struct errbuf *err)
{
	struct host_lock_owner me = { 0 };
	struct msg_lock m;
	char note[1024];
	int r = msg_lock_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	if (a->lock) {
		msg_lock_release(&m);
		return send_ok(a, "", err); /* this session holds it already */
	}
	snprintf(me.host, sizeof(me.host), "%s", m.owner);
	snprintf(me.cluster, sizeof(me.cluster), "%s", m.cluster);
	snprintf(me.command, sizeof(me.command), "%s", m.command);
	me.pid = m.pid;
	r = host_lock_take(agent_root(), &me, m.flags & PROTO_LOCK_FORCE ? HOST_LOCK_BREAK_STALE : 0,
			   (int64_t)time(NULL), &a->lock, note, sizeof(note), err);
	msg_lock_release(&m);
	if (r < 0)
		return r;
	if (r > 0)
		log_warning("%s", note);
	log_info("took %s/" HOST_LOCK_FILE " for `cirun %s` of cluster %s from %s (pid %u)",
		 agent_root(), me.command, me.cluster, me.host, me.pid);
	if (host_lock_release_on_signals() < 0)
		log_warning("cannot catch SIGTERM/SIGHUP: a session ended by them leaves a stale lock");
	r = host_lock_keep(a->lock, a->fds, ELEMENTSOF(a->fds), HOST_LOCK_REFRESH_S * 1000);
	if (r < 0)
		log_warning("cannot start renewing the host's lock (%s): a step over %d s will let "
			    "it go stale", strerror(-r), HOST_LOCK_TTL_S);
	return send_ok(a, note, err);
}

static int on_clean(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *cluster = NULL;
	struct clean_report rep;
	char detail[256];
	int r = msg_clean_decode(rest(c), c->left, &cluster, err);

	if (r < 0)
		return r;
	log_info("cluster %s: clean", cluster);
	r = host_clean(cluster, &rep, err);
	if (r < 0)
		return r;
	snprintf(detail, sizeof(detail), "%u unit(s) stopped and disabled, %u path(s) removed, %u "
		 "put back, %u kept (other clusters' %u, not empty %u), %u record line(s) refused; "
		 "/etc/hosts block %s; data %s", rep.units, rep.removed, rep.restored,
		 rep.shared + rep.kept, rep.shared, rep.kept, rep.refused,
		 rep.hosts_block ? "removed" : "absent", rep.data ? "removed" : "absent");
	log_info("cluster %s: %s", cluster, detail);
	return send_ok(a, detail, err);
}

/* The step journal goes back whole, as OK's detail: it is capped far below a frame */
static int on_journal(struct agent *a, struct cursor *c, bool append, struct errbuf *err)
{
	_cleanup_buf_ struct buf text = BUF_INIT(JOURNAL_MAX_BYTES);
	struct msg_journal m;
	int r = append ? msg_journal_append_decode(rest(c), c->left, &m, err)
		       : msg_journal_read_decode(rest(c), c->left, &m, err);

	if (r < 0)
		return r;
	if (append)
		r = journal_file_append(agent_root(), m.cluster, m.line, &text, err);
	else
		r = journal_file_read(agent_root(), m.cluster, &text, err);
	if (r >= 0 && append)
		log_info("cluster %s: journal: %s", m.cluster, m.line);
	if (r >= 0)
		r = send_ok(a, text.data, err);
	msg_journal_release(&m);
	return r;
}

static int on_journal_read(struct agent *a, struct cursor *c, struct errbuf *err)
{
	return on_journal(a, c, false, err);
}

static int on_journal_append(struct agent *a, struct cursor *c, struct errbuf *err)
{
	return on_journal(a, c, true, err);
}

static int on_bye(struct agent *a, struct cursor *c, struct errbuf *err)
{
	int r = msg_empty_decode(MSG_BYE, rest(c), c->left, err);

	if (r < 0)
		return r;
	a->done = true;
	return send_ok(a, "bye", err);
}

static const handler_fn handlers[_MSG_MAX] = {
	[MSG_HELLO] = on_hello,		  [MSG_FACTS_REQ] = on_facts,
	[MSG_LAYERS_REQ] = on_layers,	  [MSG_LAYER_BEGIN] = on_layer_begin,
	[MSG_LAYER_DATA] = on_layer_data, [MSG_LAYER_END] = on_layer_end,
	[MSG_ASSEMBLE] = on_assemble,	  [MSG_EXEC] = on_exec,
	[MSG_BYE] = on_bye,		  [MSG_SETUP] = on_setup,
	[MSG_CONFIG] = on_config,	  [MSG_HOSTS] = on_hosts,
	[MSG_REGISTRY_IMPORT] = on_registry_import,
	[MSG_KUBEADM_CONFIG] = on_kubeadm_config,
	[MSG_LOCK] = on_lock,
	[MSG_CLEAN] = on_clean,
	[MSG_JOURNAL_READ] = on_journal_read,
	[MSG_JOURNAL_APPEND] = on_journal_append,
};

/* What may come before LOCK: it changes nothing on the host. Everything else (a message
 * added later included) waits for the host's lock. */
static const bool lock_free[_MSG_MAX] = {
	[MSG_HELLO] = true, [MSG_LOCK] = true, [MSG_FACTS_REQ] = true, [MSG_BYE] = true,
	[MSG_JOURNAL_READ] = true, /* reads only: status may look while a run holds the lock */
};

/* A request that would change the host without this session holding its lock (not taken,
 * or broken by another run since): refused. */
static int lock_held(struct agent *a, uint8_t type, struct errbuf *err)
{
	if (lock_free[type])
		return 0;
	if (!a->lock)
		return errbuf_set(err, -ENOLCK, "%s before LOCK: the agent changes nothing on a host "
				  "before it holds the host's lock", proto_msg_name(type));
	return host_lock_check(a->lock, err);
}

int agent_serve(int in_fd, int out_fd)
{
	struct agent a = { .fds = { in_fd, out_fd } };
	struct frame f;
	int r = 0;

	a.io = proto_io_fd(a.fds);
	/* as the client's requests: a reply of the full cap would fail in send_frame() with
	 * no error sent, and the client would wait for it */
	buf_init(&a.reply, PROTO_MAX_PAYLOAD);
	frame_init(&f);
	while (!a.done) {
		struct errbuf err = ERRBUF_INIT;
		r = proto_read_frame(&a.io, &f);
		if (r == -EPIPE) {
			r = 0; /* the installer went away: nothing half-done is kept */
			break;
		}
		if (r < 0) {
			log_error("protocol error: %s; ending the session", strerror(-r));
			break;
		}
		handler_fn h = handlers[f.type];
		if (!h || (!a.said_hello && f.type != MSG_HELLO)) {
			errbuf_set(&err, -EPROTO, "unexpected %s", proto_msg_name(f.type));
			send_error(&a, &err);
			continue;
		}
		if (lock_held(&a, f.type, &err) < 0) {
			/* LAYER_BEGIN and LAYER_DATA have no reply: LAYER_END reports it, once */
			if (f.type == MSG_LAYER_BEGIN || f.type == MSG_LAYER_DATA) {
				if (!a.upload_err.code)
					upload_failed(&a, &err);
				continue;
			}
			if (f.type == MSG_LAYER_END && a.upload_err.code) {
				err = a.upload_err; /* what refused its LAYER_BEGIN */
				errbuf_clear(&a.upload_err);
			}
			log_error("%s refused: %s", proto_msg_name(f.type), errbuf_msg(&err));
			if (send_error(&a, &err) < 0)
				break;
			continue;
		}
		struct cursor c = cursor_of(f.payload.data, f.payload.len);
		r = h(&a, &c, &err);
		if (r < 0 && err.code) {
			log_error("%s failed: %s", proto_msg_name(f.type), errbuf_msg(&err));
			if (send_error(&a, &err) < 0)
				break;
		}
		r = 0;
	}
	layer_upload_abort(a.upload);
	a.lock = host_lock_release(a.lock); /* after the upload's thread stopped writing */
	free(a.assembled);
	served_release(&a);
	frame_release(&f);
	buf_release(&a.reply);
	return r;
}
