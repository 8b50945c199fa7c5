#include "agent-client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "macro.h"

struct agent_client {
	struct proto_io io;
	struct frame f;
	struct buf req;
};

int agent_client_new(struct proto_io io, struct agent_client **ret)
{
	struct agent_client *ac = xcalloc(1, sizeof(*ac));

	ac->io = io;
	frame_init(&ac->f);
	buf_init(&ac->req, PROTO_MAX_FRAME);
	*ret = ac;
	return 0;
}

struct agent_client *agent_client_free(struct agent_client *ac)
{
	if (!ac)
		return NULL;
	frame_release(&ac->f);
	buf_release(&ac->req);
	free(ac);
	return NULL;
}

static int send_req(struct agent_client *ac, uint8_t type, struct errbuf *err)
{
	int r = proto_write_frame(&ac->io, type, ac->req.data, ac->req.len);

	buf_reset(&ac->req);
	if (r < 0)
		return errbuf_set(err, r, "sending %s to the agent failed: %s", proto_msg_name(type),
				  strerror(-r));
	return 0;
}

/* Reads the next frame; an ERROR frame becomes the agent's error. */
static int recv_frame(struct agent_client *ac, struct errbuf *err)
{
	int r = proto_read_frame(&ac->io, &ac->f);

	if (r == -EPIPE)
		return errbuf_set(err, r, "the agent closed the connection (see 'journalctl -t "
				  "cirun-agent' on the host)");
	if (r < 0)
		return errbuf_set(err, r, "reading from the agent failed: %s", strerror(-r));
	if (proto_validate(ac->f.type, ac->f.payload.data, ac->f.payload.len) < 0)
		return errbuf_set(err, -EBADMSG, "the agent sent a malformed %s",
				  proto_msg_name(ac->f.type));
	if (ac->f.type == MSG_ERROR) {
		struct cursor c = cursor_of(ac->f.payload.data, ac->f.payload.len);
		_cleanup_free_ char *msg = NULL;
		uint32_t code = EIO;
		cur_u32(&c, &code);
		cur_str(&c, PROTO_MAX_FRAME, &msg);
		return errbuf_set(err, code ? -(int)code : -EIO, "%s", msg ? msg : "agent error");
	}
	return 0;
}

static int expect(struct agent_client *ac, uint8_t type, struct errbuf *err)
{
	int r = recv_frame(ac, err);

	if (r < 0)
		return r;
	if (ac->f.type != type)
		return errbuf_set(err, -EPROTO, "the agent answered %s where %s was due",
				  proto_msg_name(ac->f.type), proto_msg_name(type));
	return 0;
}

static int expect_ok(struct agent_client *ac, char **ret_detail, struct errbuf *err)
{
	int r = expect(ac, MSG_OK, err);

	if (r >= 0 && ret_detail) {
		struct cursor c = cursor_of(ac->f.payload.data, ac->f.payload.len);
		cur_str(&c, PROTO_MAX_FRAME, ret_detail);
	}
	return r;
}

int agent_client_hello(struct agent_client *ac, char **ret_agent_version, struct errbuf *err)
{
	struct cursor c;
	uint32_t version;
	int r;

	proto_put_u32(&ac->req, PROTO_VERSION);
	proto_put_str(&ac->req, CIRUN_VERSION);
	r = send_req(ac, MSG_HELLO, err);
	if (r >= 0)
		r = expect(ac, MSG_HELLO_OK, err);
	if (r < 0)
		return r;
	c = cursor_of(ac->f.payload.data, ac->f.payload.len);
	cur_u32(&c, &version);
	if (version != PROTO_VERSION)
		return errbuf_set(err, -EPROTO, "the agent speaks protocol %u, cirun %u", version,
				  PROTO_VERSION);
	if (ret_agent_version)
		cur_str(&c, 256, ret_agent_version);
	return 0;
}

int agent_client_facts(struct agent_client *ac, char **ret_yaml, struct errbuf *err)
{
	struct cursor c;
	int r = send_req(ac, MSG_FACTS_REQ, err);

	if (r >= 0)
		r = expect(ac, MSG_FACTS, err);
	if (r < 0)
		return r;
	c = cursor_of(ac->f.payload.data, ac->f.payload.len);
	return cur_str(&c, PROTO_MAX_FRAME, ret_yaml) < 0 ? errbuf_set(err, -EBADMSG, "bad FACTS") : 0;
}

int agent_client_layers(struct agent_client *ac, char *const *digests, const uint64_t *sizes,
			size_t n, bool *ret_have, struct errbuf *err)
{
	struct cursor c;
	uint32_t count;
	int r;

	proto_put_u32(&ac->req, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		proto_put_str(&ac->req, digests[i]);
		proto_put_u64(&ac->req, sizes[i]);
		ret_have[i] = false;
	}
	r = send_req(ac, MSG_LAYERS_REQ, err);
	if (r >= 0)
		r = expect(ac, MSG_LAYERS, err);
	if (r < 0)
		return r;
	c = cursor_of(ac->f.payload.data, ac->f.payload.len);
	cur_u32(&c, &count);
	for (uint32_t k = 0; k < count; k++) {
		_cleanup_free_ char *d = NULL;
		if (cur_str(&c, 128, &d) < 0)
			return errbuf_set(err, -EBADMSG, "bad LAYERS");
		for (size_t i = 0; i < n; i++)
			if (strcmp(digests[i], d) == 0)
				ret_have[i] = true;
	}
	return 0;
}

int agent_client_send_layer(struct agent_client *ac, const char *digest, uint64_t size, int fd,
			    agent_progress_fn progress, void *data, struct errbuf *err)
{
	_cleanup_free_ char *chunk = xmalloc(PROTO_DATA_CHUNK);
	uint64_t sent = 0;
	int r;

	proto_put_str(&ac->req, digest);
	proto_put_u64(&ac->req, size);
	r = send_req(ac, MSG_LAYER_BEGIN, err);
	while (r >= 0 && sent < size) {
		ssize_t n = read(fd, chunk, (size_t)MIN((uint64_t)PROTO_DATA_CHUNK, size - sent));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = errbuf_set(err, n < 0 ? negative_errno() : -EIO,
				       "reading layer %s from the store failed", digest);
			break;
		}
		proto_put_blob(&ac->req, chunk, (size_t)n);
		r = send_req(ac, MSG_LAYER_DATA, err);
		sent += (uint64_t)n;
		if (progress)
			progress(data, sent, size);
	}
	if (r < 0)
		return r; /* the stream is out of step now: the caller drops the session */
	r = send_req(ac, MSG_LAYER_END, err);
	return r < 0 ? r : expect_ok(ac, NULL, err);
}

int agent_client_assemble(struct agent_client *ac, const char *cluster, char *const *digests,
			  size_t n, char **ret_detail, char **ret_bad, struct errbuf *err)
{
	int r;

	proto_put_str(&ac->req, cluster);
	proto_put_u32(&ac->req, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		proto_put_str(&ac->req, digests[i]);
	r = send_req(ac, MSG_ASSEMBLE, err);
	if (r >= 0)
		r = expect_ok(ac, ret_detail, err);
	if (r == -EBADMSG && ret_bad) {
		/* "layer sha256:… in the host cache is corrupt" names the layer */
		const char *p = strstr(errbuf_msg(err), "sha256:");
		if (p && strlen(p) >= 71)
			*ret_bad = xstrndup(p, 71);
	}
	return r;
}

int agent_client_exec(struct agent_client *ac, const char *command, const char *cwd,
		      const struct kv *env, size_t nenv, unsigned timeout_s, agent_output_fn out,
		      void *data, struct agent_exit *ret, struct errbuf *err)
{
	int r;

	proto_put_str(&ac->req, command);
	proto_put_str(&ac->req, cwd);
	proto_put_u32(&ac->req, timeout_s);
	proto_put_u32(&ac->req, (uint32_t)nenv);
	for (size_t i = 0; i < nenv; i++) {
		proto_put_str(&ac->req, env[i].key);
		proto_put_str(&ac->req, env[i].value);
	}
	r = send_req(ac, MSG_EXEC, err);
	while (r >= 0) {
		struct cursor c;
		r = recv_frame(ac, err);
		if (r < 0)
			break;
		c = cursor_of(ac->f.payload.data, ac->f.payload.len);
		if (ac->f.type == MSG_OUTPUT) {
			uint32_t stream;
			const void *p;
			size_t n;
			cur_u32(&c, &stream);
			cur_blob(&c, &p, &n);
			if (out)
				out(data, (int)stream, p, n);
			continue;
		}
		if (ac->f.type != MSG_EXIT)
			return errbuf_set(err, -EPROTO, "the agent answered %s to EXEC",
					  proto_msg_name(ac->f.type));
		uint32_t code, sig, timed_out;
		cur_u32(&c, &code);
		cur_u32(&c, &sig);
		cur_u32(&c, &timed_out);
		ret->exit_code = (int)code;
		ret->signal = (int)sig;
		ret->timed_out = timed_out != 0;
		return 0;
	}
	return r;
}

int agent_client_bye(struct agent_client *ac, struct errbuf *err)
{
	int r = send_req(ac, MSG_BYE, err);
	return r < 0 ? r : expect_ok(ac, NULL, err);
}

int agent_client_setup(struct agent_client *ac, const char *cluster, const struct kv *env,
		       size_t nenv, uint32_t flags, char **ret_detail, struct errbuf *err)
{
	int r;

	proto_put_str(&ac->req, cluster);
	proto_put_u32(&ac->req, (uint32_t)nenv);
	for (size_t i = 0; i < nenv; i++) {
		proto_put_str(&ac->req, env[i].key);
		proto_put_str(&ac->req, env[i].value);
	}
	proto_put_u32(&ac->req, flags);
	r = send_req(ac, MSG_SETUP, err);
	return r < 0 ? r : expect_ok(ac, ret_detail, err);
}
