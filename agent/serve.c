#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "exec.h"
#include "facts.h"
#include "layers.h"
#include "log.h"
#include "macro.h"
#include "proto.h"
#include "setup.h"
#include "ydoc.h"

#define MAX_LIST 100000
#define MAX_STR (PROTO_MAX_FRAME)

struct agent {
	int fds[2];
	struct proto_io io;
	struct buf reply;
	struct layer_upload *upload;
	struct errbuf upload_err; /* LAYER_BEGIN/DATA do not reply: LAYER_END reports this */
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

static int send_ok(struct agent *a, const char *detail)
{
	proto_put_str(&a->reply, detail);
	return send_frame(a, MSG_OK);
}

static int send_error(struct agent *a, const struct errbuf *err)
{
	buf_reset(&a->reply);
	proto_put_u32(&a->reply, (uint32_t)(err->code < 0 ? -err->code : EIO));
	proto_put_str(&a->reply, errbuf_msg(err));
	return send_frame(a, MSG_ERROR);
}

static int on_hello(struct agent *a, struct cursor *c, struct errbuf *err)
{
	uint32_t version;
	_cleanup_free_ char *client = NULL;

	if (cur_u32(c, &version) < 0 || cur_str(c, 256, &client) < 0)
		return errbuf_set(err, -EBADMSG, "malformed HELLO");
	if (version != PROTO_VERSION)
		return errbuf_set(err, -EPROTO, "protocol version %u is not %u: this agent is cirun-agent "
				  "%s; use the cirun of the same version", version, PROTO_VERSION,
				  CIRUN_VERSION);
	log_info("session from cirun %s", client);
	a->said_hello = true;
	proto_put_u32(&a->reply, PROTO_VERSION);
	proto_put_str(&a->reply, CIRUN_VERSION);
	return send_frame(a, MSG_HELLO_OK);
}

static int on_facts(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_(ynode_freep) struct ynode *facts = NULL;
	_cleanup_buf_ struct buf yaml = BUF_INIT(1 << 20);
	int r;

	(void)c;
	r = facts_collect(&facts);
	if (r >= 0)
		r = ynode_emit(facts, &yaml);
	if (r < 0)
		return errbuf_set(err, r, "collecting facts failed: %s", strerror(-r));
	proto_put_str(&a->reply, yaml.data);
	return send_frame(a, MSG_FACTS);
}

static int on_layers(struct agent *a, struct cursor *c, struct errbuf *err)
{
	uint32_t n;
	size_t have = 0;
	_cleanup_buf_ struct buf list = BUF_INIT(PROTO_MAX_FRAME);

	if (cur_u32(c, &n) < 0 || n > MAX_LIST)
		return errbuf_set(err, -EBADMSG, "malformed LAYERS_REQ");
	for (uint32_t i = 0; i < n; i++) {
		_cleanup_free_ char *digest = NULL;
		uint64_t size;
		if (cur_str(c, 128, &digest) < 0 || cur_u64(c, &size) < 0)
			return errbuf_set(err, -EBADMSG, "malformed LAYERS_REQ");
		if (layer_cache_has(digest, size)) {
			proto_put_str(&list, digest);
			have++;
		}
	}
	proto_put_u32(&a->reply, (uint32_t)have);
	buf_append(&a->reply, list.data, list.len);
	return send_frame(a, MSG_LAYERS);
}

static int on_layer_begin(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *digest = NULL;
	uint64_t size;

	if (cur_str(c, 128, &digest) < 0 || cur_u64(c, &size) < 0)
		return errbuf_set(err, -EBADMSG, "malformed LAYER_BEGIN");
	(void)err;
	layer_upload_abort(a->upload);
	a->upload = NULL;
	errbuf_clear(&a->upload_err);
	log_info("receiving layer %s (%llu bytes)", digest, (unsigned long long)size);
	/* no reply: data follows at once; the result comes with LAYER_END */
	if (layer_upload_begin(digest, size, &a->upload, &a->upload_err) < 0)
		log_error("%s", errbuf_msg(&a->upload_err));
	return 0;
}

static int on_layer_data(struct agent *a, struct cursor *c, struct errbuf *err)
{
	const void *p;
	size_t n;

	if (cur_blob(c, &p, &n) < 0)
		return errbuf_set(err, -EBADMSG, "malformed LAYER_DATA");
	if (!a->upload)
		return 0; /* the upload already failed: LAYER_END reports it */
	if (layer_upload_data(a->upload, p, n, &a->upload_err) < 0) {
		log_error("%s", errbuf_msg(&a->upload_err));
		layer_upload_abort(a->upload);
		a->upload = NULL;
	}
	return 0;
}

static int on_layer_end(struct agent *a, struct cursor *c, struct errbuf *err)
{
	(void)c;
	if (a->upload_err.code) {
		*err = a->upload_err;
		errbuf_clear(&a->upload_err);
		return err->code;
	}
	if (!a->upload)
		return errbuf_set(err, -EPROTO, "LAYER_END without LAYER_BEGIN");
	int r = layer_upload_end(a->upload, err);
	a->upload = NULL;
	if (r < 0)
		return r;
	return send_ok(a, "");
}

static int on_assemble(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *cluster = NULL, *bad = NULL;
	char **digests = NULL;
	uint32_t n = 0;
	struct layer_stats st;
	char detail[256];
	int r;

	if (cur_str(c, 128, &cluster) < 0 || cur_u32(c, &n) < 0 || n > MAX_LIST)
		return errbuf_set(err, -EBADMSG, "malformed ASSEMBLE");
	digests = xcalloc(n ? n : 1, sizeof(*digests));
	for (uint32_t i = 0; i < n; i++) {
		if (cur_str(c, 128, &digests[i]) < 0) {
			r = errbuf_set(err, -EBADMSG, "malformed ASSEMBLE");
			goto out;
		}
	}
	log_info("assembling the rootfs of cluster %s from %u layers", cluster, n);
	r = rootfs_assemble(cluster, digests, n, &bad, &st, err);
	if (r >= 0) {
		snprintf(detail, sizeof(detail), "%llu entries, %llu bytes",
			 (unsigned long long)st.entries, (unsigned long long)st.bytes_out);
		r = send_ok(a, detail);
	}
out:
	for (uint32_t i = 0; i < n; i++)
		free(digests[i]);
	free(digests);
	return r;
}

static void env_free(struct kv *env, size_t n);

/* n × (key, value) from a request; on error the partial list is freed. */
static int read_env(struct cursor *c, uint32_t n, struct kv **ret)
{
	struct kv *env = xcalloc(n ? n : 1, sizeof(*env));

	for (uint32_t i = 0; i < n; i++) {
		if (cur_str(c, 1024, &env[i].key) < 0 || cur_str(c, MAX_STR, &env[i].value) < 0) {
			env_free(env, i + 1);
			return -EBADMSG;
		}
	}
	*ret = env;
	return 0;
}

static void env_free(struct kv *env, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
}

static int forward_output(void *data, int stream, const void *buf, size_t n)
{
	struct agent *a = data;

	buf_reset(&a->reply);
	proto_put_u32(&a->reply, (uint32_t)stream);
	proto_put_blob(&a->reply, buf, n);
	return send_frame(a, MSG_OUTPUT);
}

static int on_exec(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *command = NULL, *cwd = NULL;
	struct kv *env = NULL;
	uint32_t timeout, n = 0;
	struct exec_result res = { 0 };
	int r;

	if (cur_str(c, MAX_STR, &command) < 0 || cur_str(c, 4096, &cwd) < 0 ||
	    cur_u32(c, &timeout) < 0 || cur_u32(c, &n) < 0 || n > 10000 || read_env(c, n, &env) < 0)
		return errbuf_set(err, -EBADMSG, "malformed EXEC");
	log_info("running '%s' in %s (timeout %us)", command, *cwd ? cwd : "/", timeout);
	r = exec_command(command, cwd, env, n, timeout, forward_output, a, &res, err);
	if (r >= 0) {
		log_info("'%s' ended: exit %d, signal %d%s", command, res.exit_code, res.signal,
			 res.timed_out ? ", timed out" : "");
		buf_reset(&a->reply);
		proto_put_u32(&a->reply, (uint32_t)res.exit_code);
		proto_put_u32(&a->reply, (uint32_t)res.signal);
		proto_put_u32(&a->reply, (uint32_t)res.timed_out);
		r = send_frame(a, MSG_EXIT);
	}
	env_free(env, n);
	return r;
}

static int on_setup(struct agent *a, struct cursor *c, struct errbuf *err)
{
	_cleanup_free_ char *cluster = NULL;
	struct kv *env = NULL;
	uint32_t n = 0, flags = 0;
	struct setup_report rep = { .units = BUF_INIT(4096) };
	char detail[1024];
	int r;

	if (cur_str(c, 128, &cluster) < 0 || cur_u32(c, &n) < 0 || n > 10000 || read_env(c, n, &env) < 0)
		return errbuf_set(err, -EBADMSG, "malformed SETUP");
	/* the flags came later: an older client sends none */
	if (c->left && (cur_u32(c, &flags) < 0 || (flags & ~PROTO_SETUP_FORCE))) {
		env_free(env, n);
		return errbuf_set(err, -EBADMSG, "malformed SETUP: unknown flags");
	}
	log_info("setting up cluster %s: render, bin/, cri/, units", cluster);
	r = host_setup(cluster, env, n, flags & PROTO_SETUP_FORCE ? SETUP_FORCE : 0, &rep, err);
	if (r >= 0) {
		snprintf(detail, sizeof(detail), "%u rendered, %u on PATH, %u CRI files, units: %s",
			 rep.rendered, rep.linked, rep.cri_files, rep.units.len ? rep.units.data : "none");
		log_info("%s", detail);
		r = send_ok(a, detail);
	}
	env_free(env, n);
	buf_release(&rep.units);
	return r;
}

static int on_bye(struct agent *a, struct cursor *c, struct errbuf *err)
{
	(void)c;
	(void)err;
	a->done = true;
	return send_ok(a, "bye");
}

static const handler_fn handlers[_MSG_MAX] = {
	[MSG_HELLO] = on_hello,		  [MSG_FACTS_REQ] = on_facts,
	[MSG_LAYERS_REQ] = on_layers,	  [MSG_LAYER_BEGIN] = on_layer_begin,
	[MSG_LAYER_DATA] = on_layer_data, [MSG_LAYER_END] = on_layer_end,
	[MSG_ASSEMBLE] = on_assemble,	  [MSG_EXEC] = on_exec,
	[MSG_BYE] = on_bye,		  [MSG_SETUP] = on_setup,
};

int agent_serve(int in_fd, int out_fd)
{
	struct agent a = { .fds = { in_fd, out_fd } };
	struct frame f;
	int r = 0;

	a.io = proto_io_fd(a.fds);
	buf_init(&a.reply, PROTO_MAX_FRAME);
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
	frame_release(&f);
	buf_release(&a.reply);
	return r;
}
