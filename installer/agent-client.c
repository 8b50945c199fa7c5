#include "agent-client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "macro.h"
#include "proto-msg.h"

struct agent_client {
	struct proto_io io;
	struct frame f;
	struct buf req;
	int put_error;		/* the first field that did not fit in req, sent by nobody */
	const char *put_field;
	int fault;		/* of the last MSG_LAYER_ERROR */
	char *fault_digest;
};

int agent_client_new(struct proto_io io, struct agent_client **ret)
{
	struct agent_client *ac = xcalloc(1, sizeof(*ac));

	ac->io = io;
	frame_init(&ac->f);
	/* the frame's type byte counts against PROTO_MAX_FRAME: a payload of the full cap
	 * would pass here and fail in proto_write_frame() without naming its field */
	buf_init(&ac->req, PROTO_MAX_PAYLOAD);
	*ret = ac;
	return 0;
}

struct agent_client *agent_client_free(struct agent_client *ac)
{
	if (!ac)
		return NULL;
	frame_release(&ac->f);
	buf_release(&ac->req);
	free(ac->fault_digest);
	free(ac);
	return NULL;
}

/* Request fields: the first one that does not fit fails the request in send_req(), which
 * names it; a request is never sent with a field left out. */
static void req_failed(struct agent_client *ac, int r, const char *field)
{
	if (r < 0 && !ac->put_error) {
		ac->put_error = r;
		ac->put_field = field;
	}
}

static void req_u32(struct agent_client *ac, const char *field, uint32_t v)
{
	req_failed(ac, proto_put_u32(&ac->req, v), field);
}

static void req_u64(struct agent_client *ac, const char *field, uint64_t v)
{
	req_failed(ac, proto_put_u64(&ac->req, v), field);
}

static void req_str(struct agent_client *ac, const char *field, const char *v)
{
	req_failed(ac, proto_put_str(&ac->req, v), field);
}

static void req_blob(struct agent_client *ac, const char *field, const void *p, size_t n)
{
	req_failed(ac, proto_put_blob(&ac->req, p, n), field);
}

/* A count of items: more than a u32 holds can only be a bug, and must not wrap. */
static void req_count(struct agent_client *ac, const char *field, size_t n)
{
	if (n > UINT32_MAX)
		req_failed(ac, -E2BIG, field);
	else
		req_u32(ac, field, (uint32_t)n);
}

static int send_req(struct agent_client *ac, uint8_t type, struct errbuf *err)
{
	int r;

	if (ac->put_error) {
		r = ac->put_error;
		ac->put_error = 0;
		buf_reset(&ac->req);
		return errbuf_set(err, r, "%s: the %s does not fit in a request (%u bytes at most); "
				  "nothing was sent", proto_msg_name(type), ac->put_field, PROTO_MAX_FRAME);
	}
	r = proto_write_frame(&ac->io, type, ac->req.data, ac->req.len);
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
	if (ac->f.type == MSG_ERROR || ac->f.type == MSG_LAYER_ERROR) {
		struct cursor c = cursor_of(ac->f.payload.data, ac->f.payload.len);
		_cleanup_free_ char *msg = NULL;
		uint32_t code = EIO, fault = 0;
		/* proto_validate() checked the fields are there */
		(void)cur_u32(&c, &code);
		(void)cur_str(&c, PROTO_MAX_FRAME, &msg);
		if (ac->f.type == MSG_LAYER_ERROR) {
			(void)cur_u32(&c, &fault);
			free(ac->fault_digest);
			ac->fault_digest = NULL;
			(void)cur_str(&c, 128, &ac->fault_digest);
			ac->fault = (int)fault;
		}
		if (code == 0 || code > 4095)
			code = EIO;
		return errbuf_set(err, -(int)code, "%s", msg ? msg : "agent error");
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

	req_u32(ac, "version", PROTO_VERSION);
	req_str(ac, "client version", CIRUN_VERSION);
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

	req_count(ac, "layer count", n);
	for (size_t i = 0; i < n; i++) {
		req_str(ac, "layer digest", digests[i]);
		req_u64(ac, "layer size", sizes[i]);
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

struct fd_reader {
	int fd;
	const char *digest;
};

static ssize_t read_fd(void *data, void *buf, size_t n, struct errbuf *err)
{
	struct fd_reader *f = data;

	for (;;) {
		ssize_t r = read(f->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errbuf_set(err, negative_errno(), "reading layer %s from the store failed",
					  f->digest);
		return r;
	}
}

int agent_client_send_layer(struct agent_client *ac, const char *digest, uint64_t size, int fd,
			    agent_progress_fn progress, void *data, struct errbuf *err)
{
	struct fd_reader f = { .fd = fd, .digest = digest };

	return agent_client_send_layer_from(ac, digest, size, read_fd, &f, progress, data, err);
}

int agent_client_send_layer_from(struct agent_client *ac, const char *digest, uint64_t size,
				 agent_read_fn rd, void *rd_data, agent_progress_fn progress,
				 void *data, struct errbuf *err)
{
	_cleanup_free_ char *chunk = xmalloc(PROTO_DATA_CHUNK);
	uint64_t sent = 0;
	int r;

	req_str(ac, "layer digest", digest);
	req_u64(ac, "layer size", size);
	r = send_req(ac, MSG_LAYER_BEGIN, err);
	while (r >= 0 && sent < size) {
		ssize_t n = rd(rd_data, chunk, (size_t)MIN((uint64_t)PROTO_DATA_CHUNK, size - sent),
			       err);
		if (n <= 0) {
			r = n < 0 ? (int)n : errbuf_set(err, -EIO, "reading layer %s from the store "
							"failed", digest);
			break;
		}
		req_blob(ac, "layer data", chunk, (size_t)n);
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

int agent_client_assemble(struct agent_client *ac, const char *cluster, const char *image,
			  char *const *digests, size_t n, char **ret_detail,
			  struct agent_layer_fault *ret_fault, struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	req_count(ac, "layer count", n);
	for (size_t i = 0; i < n; i++)
		req_str(ac, "layer digest", digests[i]);
	ac->fault = 0;
	r = send_req(ac, MSG_ASSEMBLE, err);
	if (r >= 0)
		r = expect_ok(ac, ret_detail, err);
	if (r >= 0 || !ac->fault || !ac->fault_digest)
		return r;
	/* the agent's message is the reason alone: the layer and its fault came as fields */
	_cleanup_free_ char *reason = xstrdup(errbuf_msg(err));
	if (ac->fault == LAYER_FAULT_INVALID)
		errbuf_set(err, r, "invalid layer %s of image %s: %s", ac->fault_digest, image, reason);
	else
		errbuf_set(err, r, "layer %s of image %s in the host cache is corrupt (%s)",
			   ac->fault_digest, image, reason);
	if (ret_fault) {
		ret_fault->fault = ac->fault;
		ret_fault->digest = TAKE_PTR(ac->fault_digest);
	}
	return r;
}

int agent_client_exec(struct agent_client *ac, const char *command, const char *cwd,
		      const struct kv *env, size_t nenv, unsigned timeout_s, agent_output_fn out,
		      void *data, struct agent_exit *ret, struct errbuf *err)
{
	int r;

	req_str(ac, "command", command);
	req_str(ac, "working directory", cwd);
	req_u32(ac, "timeout", timeout_s);
	req_count(ac, "env count", nenv);
	for (size_t i = 0; i < nenv; i++) {
		req_str(ac, "env key", env[i].key);
		req_str(ac, "env value", env[i].value);
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

int agent_client_lock(struct agent_client *ac, const char *cluster, const char *command,
		      const char *owner, uint32_t pid, uint32_t flags, char **ret_detail,
		      struct errbuf *err)
{
	int r;

	req_str(ac, "cluster", cluster);
	req_str(ac, "command", command);
	req_str(ac, "owner host", owner);
	req_u32(ac, "owner pid", pid);
	req_u32(ac, "flags", flags);
	r = send_req(ac, MSG_LOCK, err);
	return r < 0 ? r : expect_ok(ac, ret_detail, err);
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

	req_str(ac, "cluster name", cluster);
	req_count(ac, "env count", nenv);
	for (size_t i = 0; i < nenv; i++) {
		req_str(ac, "env key", env[i].key);
		req_str(ac, "env value", env[i].value);
	}
	req_u32(ac, "flags", flags);
	r = send_req(ac, MSG_SETUP, err);
	return r < 0 ? r : expect_ok(ac, ret_detail, err);
}

int agent_client_hosts(struct agent_client *ac, const char *cluster,
		       const struct hosts_entry *entries, size_t n, const char *mirror,
		       const char *const *upstreams, size_t nup, uint32_t flags,
		       char **ret_detail, struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	req_count(ac, "hosts entries", n);
	for (size_t i = 0; i < n; i++) {
		req_str(ac, "hosts address", entries[i].ip);
		req_str(ac, "hosts name", entries[i].name);
	}
	req_str(ac, "mirror", mirror);
	req_count(ac, "upstreams", nup);
	for (size_t i = 0; i < nup; i++)
		req_str(ac, "upstream", upstreams[i]);
	req_u32(ac, "flags", flags);
	r = send_req(ac, MSG_HOSTS, err);
	return r < 0 ? r : expect_ok(ac, ret_detail, err);
}

int agent_client_config(struct agent_client *ac, const char *cluster,
			const struct config_doc *doc, struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	req_str(ac, "Config name", doc->name);
	req_str(ac, "Config path", doc->path);
	req_str(ac, "Config data", doc->data);
	req_u32(ac, "Config strategy", (uint32_t)doc->strategy);
	req_str(ac, "Config file", doc->file);
	req_u32(ac, "Config line", doc->line);
	r = send_req(ac, MSG_CONFIG, err);
	return r < 0 ? r : expect_ok(ac, NULL, err);
}

int agent_client_registry_import(struct agent_client *ac, const char *cluster,
				 const char *archive, char **ret_detail, char ***ret_sources,
				 size_t *ret_nsources, struct errbuf *err)
{
	struct msg_registry_imported m;
	int r;

	req_str(ac, "cluster name", cluster);
	req_str(ac, "archive name", archive);
	r = send_req(ac, MSG_REGISTRY_IMPORT, err);
	if (r >= 0)
		r = expect(ac, MSG_REGISTRY_IMPORTED, err);
	/* the registry hosts become directory names under certs.d on every host: checked
	 * here, as any request is by the agent */
	if (r >= 0)
		r = msg_registry_imported_decode(ac->f.payload.data, ac->f.payload.len, &m, err);
	if (r == -EBADMSG || r == -E2BIG)
		return errbuf_prefix(err, "the agent's answer for images/%s", archive);
	if (r < 0)
		return r;
	if (ret_detail)
		*ret_detail = TAKE_PTR(m.detail);
	if (ret_sources) {
		*ret_sources = TAKE_PTR(m.sources);
		*ret_nsources = m.n;
		m.n = 0;
	}
	msg_registry_imported_release(&m);
	return 0;
}

int agent_client_kubeadm_config(struct agent_client *ac, const char *cluster, const char *name,
				const char *data, char **ret_path, struct errbuf *err)
{
	size_t len;
	int r;

	req_str(ac, "cluster name", cluster);
	req_str(ac, "kubeadm config name", name);
	req_str(ac, "kubeadm config", data);
	len = ac->req.len;
	r = send_req(ac, MSG_KUBEADM_CONFIG, err);
	/* the request held the join token and the certificate key */
	explicit_bzero(ac->req.data, len);
	return r < 0 ? r : expect_ok(ac, ret_path, err);
}

int agent_client_clean(struct agent_client *ac, const char *cluster, char **ret_detail,
		       struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	r = send_req(ac, MSG_CLEAN, err);
	return r < 0 ? r : expect_ok(ac, ret_detail, err);
}

int agent_client_journal_read(struct agent_client *ac, const char *cluster, char **ret_text,
			      struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	r = send_req(ac, MSG_JOURNAL_READ, err);
	return r < 0 ? r : expect_ok(ac, ret_text, err);
}

int agent_client_journal_append(struct agent_client *ac, const char *cluster, const char *line,
				char **ret_text, struct errbuf *err)
{
	int r;

	req_str(ac, "cluster name", cluster);
	req_str(ac, "journal record", line);
	r = send_req(ac, MSG_JOURNAL_APPEND, err);
	return r < 0 ? r : expect_ok(ac, ret_text, err);
}
