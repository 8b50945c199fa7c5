#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

#define STR_MAX (PROTO_MAX_FRAME)

static const char *const names[] = {
	[MSG_HELLO] = "HELLO",		 [MSG_HELLO_OK] = "HELLO_OK",	[MSG_OK] = "OK",
	[MSG_ERROR] = "ERROR",		 [MSG_FACTS_REQ] = "FACTS_REQ", [MSG_FACTS] = "FACTS",
	[MSG_LAYERS_REQ] = "LAYERS_REQ", [MSG_LAYERS] = "LAYERS",	[MSG_LAYER_BEGIN] = "LAYER_BEGIN",
	[MSG_LAYER_DATA] = "LAYER_DATA", [MSG_LAYER_END] = "LAYER_END", [MSG_ASSEMBLE] = "ASSEMBLE",
	[MSG_EXEC] = "EXEC",		 [MSG_OUTPUT] = "OUTPUT",	[MSG_EXIT] = "EXIT",
	[MSG_BYE] = "BYE",		 [MSG_SETUP] = "SETUP",		[MSG_LAYER_ERROR] = "LAYER_ERROR",
	[MSG_CONFIG] = "CONFIG",
	[MSG_REGISTRY_IMPORT] = "REGISTRY_IMPORT",
	[MSG_HOSTS] = "HOSTS",
	[MSG_KUBEADM_CONFIG] = "KUBEADM_CONFIG",
	[MSG_REGISTRY_IMPORTED] = "REGISTRY_IMPORTED",
	[MSG_LOCK] = "LOCK",
	[MSG_CLEAN] = "CLEAN",
	[MSG_JOURNAL_READ] = "JOURNAL_READ",
	[MSG_JOURNAL_APPEND] = "JOURNAL_APPEND",
};

const char *proto_msg_name(unsigned type)
{
	return type > 0 && type < _MSG_MAX ? names[type] : "?";
}

int proto_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, 4);
}

int proto_put_u64(struct buf *b, uint64_t v)
{
	int r = proto_put_u32(b, (uint32_t)(v >> 32));
	return r < 0 ? r : proto_put_u32(b, (uint32_t)v);
}

int proto_put_blob(struct buf *b, const void *p, size_t n)
{
	size_t start = b->len;
	int r;

	if (n > UINT32_MAX)
		return -E2BIG;
	r = proto_put_u32(b, (uint32_t)n);
	if (r >= 0)
		r = buf_append(b, p, n);
	if (r < 0)
		buf_truncate(b, start);
	return r;
}

int proto_put_str(struct buf *b, const char *s)
{
	return proto_put_blob(b, s ? s : "", s ? strlen(s) : 0);
}

int cur_u32(struct cursor *c, uint32_t *ret)
{
	if (c->left < 4)
		return -EBADMSG;
	*ret = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return 0;
}

int cur_u64(struct cursor *c, uint64_t *ret)
{
	uint32_t hi, lo;
	int r = cur_u32(c, &hi);

	if (r >= 0)
		r = cur_u32(c, &lo);
	if (r >= 0)
		*ret = (uint64_t)hi << 32 | lo;
	return r;
}

int cur_blob(struct cursor *c, const void **ret, size_t *ret_len)
{
	struct cursor save = *c;
	uint32_t n;
	int r = cur_u32(c, &n);

	if (r < 0)
		return r;
	if (n > c->left) {
		*c = save;
		return -EBADMSG;
	}
	*ret = c->p;
	*ret_len = n;
	c->p += n;
	c->left -= n;
	return 0;
}

int cur_str(struct cursor *c, size_t max, char **ret)
{
	struct cursor save = *c;
	const void *p;
	size_t n;
	int r = cur_blob(c, &p, &n);

	if (r < 0)
		return r;
	if (n > max || memchr(p, '\0', n)) {
		*c = save;
		return n > max ? -E2BIG : -EBADMSG;
	}
	*ret = xstrndup(p, n);
	return 0;
}

int cur_end(const struct cursor *c)
{
	return c->left == 0 ? 0 : -EBADMSG;
}

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
	int *fds = ctx;
	ssize_t r;

	do
		r = read(fds[0], buf, n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? negative_errno() : r;
}

static ssize_t fd_write(void *ctx, const void *buf, size_t n)
{
	int *fds = ctx;
	ssize_t r;

	do
		r = write(fds[1], buf, n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? negative_errno() : r;
}

struct proto_io proto_io_fd(int *fds)
{
	return (struct proto_io){ fd_read, fd_write, fds };
}

void frame_init(struct frame *f)
{
	f->type = 0;
	buf_init(&f->payload, PROTO_MAX_FRAME);
}

void frame_release(struct frame *f)
{
	buf_release(&f->payload);
}

/* Reads exactly n bytes; returns the count read (< n only at end of stream) or -errno. */
static ssize_t read_full(const struct proto_io *io, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = io->read(io->ctx, (char *)buf + got, n - got);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int proto_read_frame(const struct proto_io *io, struct frame *f)
{
	uint8_t hdr[5];
	ssize_t r = read_full(io, hdr, sizeof(hdr));
	uint32_t len;

	if (r < 0)
		return (int)r;
	if (r == 0)
		return -EPIPE;
	if (r < (ssize_t)sizeof(hdr))
		return -EBADMSG;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0)
		return -EBADMSG;
	if (len > PROTO_MAX_FRAME)
		return -E2BIG;
	if (hdr[4] == 0 || hdr[4] >= _MSG_MAX)
		return -EBADMSG;
	f->type = hdr[4];
	buf_reset(&f->payload);
	r = buf_grow(&f->payload, len - 1);
	if (r < 0)
		return (int)r;
	r = read_full(io, f->payload.data, len - 1);
	if (r < 0)
		return (int)r;
	if ((size_t)r < len - 1)
		return -EBADMSG;
	f->payload.len = len - 1;
	f->payload.data[f->payload.len] = '\0';
	return 0;
}

int proto_write_frame(const struct proto_io *io, uint8_t type, const void *payload, size_t n)
{
	uint8_t hdr[5];
	size_t len = n + 1;

	if (len > PROTO_MAX_FRAME)
		return -E2BIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = type;
	/* One write for small frames keeps header and payload in one SSH packet. */
	if (n <= 4096) {
		uint8_t small[4096 + 5];
		memcpy(small, hdr, 5);
		if (n)
			memcpy(small + 5, payload, n);
		const uint8_t *p = small;
		size_t left = n + 5;
		while (left) {
			ssize_t w = io->write(io->ctx, p, left);
			if (w < 0)
				return (int)w;
			p += w;
			left -= (size_t)w;
		}
		return 0;
	}
	for (const uint8_t *p = hdr; p < hdr + 5;) {
		ssize_t w = io->write(io->ctx, p, (size_t)(hdr + 5 - p));
		if (w < 0)
			return (int)w;
		p += w;
	}
	for (const uint8_t *p = payload, *end = p + n; p < end;) {
		ssize_t w = io->write(io->ctx, p, (size_t)(end - p));
		if (w < 0)
			return (int)w;
		p += w;
	}
	return 0;
}

static int skip_str(struct cursor *c)
{
	const void *p;
	size_t n;
	int r = cur_blob(c, &p, &n);
	return r < 0 ? r : (memchr(p, '\0', n) ? -EBADMSG : 0);
}

static int skip_list(struct cursor *c, unsigned strings_per_item, bool with_u64)
{
	uint32_t n;
	int r = cur_u32(c, &n);

	/* Each item takes at least 4 bytes: a count beyond the payload is a lie. */
	if (r >= 0 && n > c->left / 4)
		return -EBADMSG;
	for (uint32_t i = 0; r >= 0 && i < n; i++) {
		for (unsigned k = 0; r >= 0 && k < strings_per_item; k++)
			r = skip_str(c);
		if (r >= 0 && with_u64) {
			uint64_t v;
			r = cur_u64(c, &v);
		}
	}
	return r;
}

int proto_validate(uint8_t type, const void *payload, size_t n)
{
	struct cursor c = cursor_of(payload, n);
	uint32_t u;
	uint64_t v;
	const void *p;
	size_t len;
	int r = 0;

	switch (type) {
	case MSG_HELLO:
	case MSG_HELLO_OK:
	case MSG_ERROR:
		r = cur_u32(&c, &u);
		if (r >= 0)
			r = skip_str(&c);
		break;
	case MSG_OK:
	case MSG_FACTS:
		r = skip_str(&c);
		break;
	case MSG_FACTS_REQ:
	case MSG_LAYER_END:
	case MSG_BYE:
		break;
	case MSG_LAYERS_REQ:
		r = skip_list(&c, 1, true);
		break;
	case MSG_LAYERS:
		r = skip_list(&c, 1, false);
		break;
	case MSG_LAYER_BEGIN:
		r = skip_str(&c);
		if (r >= 0)
			r = cur_u64(&c, &v);
		break;
	case MSG_LAYER_DATA:
		r = cur_blob(&c, &p, &len);
		break;
	case MSG_ASSEMBLE:
		r = skip_str(&c);
		if (r >= 0)
			r = skip_list(&c, 1, false);
		break;
	case MSG_SETUP:
		r = skip_str(&c);
		if (r >= 0)
			r = skip_list(&c, 2, false);
		if (r >= 0 && c.left) /* u32 flags, absent from older clients */
			r = cur_u32(&c, &u);
		break;
	case MSG_EXEC:
		r = skip_str(&c);
		if (r >= 0)
			r = skip_str(&c);
		if (r >= 0)
			r = cur_u32(&c, &u);
		if (r >= 0)
			r = skip_list(&c, 2, false);
		break;
	case MSG_OUTPUT:
		r = cur_u32(&c, &u);
		if (r >= 0)
			r = cur_blob(&c, &p, &len);
		break;
	case MSG_LAYER_ERROR:
		r = cur_u32(&c, &u);
		if (r >= 0)
			r = skip_str(&c);
		if (r >= 0)
			r = cur_u32(&c, &u);
		if (r >= 0)
			r = skip_str(&c);
		break;
	case MSG_CONFIG:
		for (int k = 0; r >= 0 && k < 4; k++) /* cluster, name, path, data */
			r = skip_str(&c);
		if (r >= 0)
			r = cur_u32(&c, &u);
		if (r >= 0)
			r = skip_str(&c);
		if (r >= 0)
			r = cur_u32(&c, &u);
		break;
	case MSG_REGISTRY_IMPORT:
		r = skip_str(&c); /* cluster */
		if (r >= 0)
			r = skip_str(&c); /* archive */
		break;
	case MSG_HOSTS:
		r = skip_str(&c);
		if (r >= 0)
			r = skip_list(&c, 2, false);
		if (r >= 0)
			r = skip_str(&c);
		if (r >= 0)
			r = skip_list(&c, 1, false);
		if (r >= 0)
			r = cur_u32(&c, &u);
		break;
	case MSG_KUBEADM_CONFIG:
		r = skip_str(&c); /* cluster */
		if (r >= 0)
			r = skip_str(&c); /* name */
		if (r >= 0)
			r = skip_str(&c); /* data */
		break;
	case MSG_REGISTRY_IMPORTED:
		r = skip_str(&c); /* detail */
		if (r >= 0)
			r = skip_list(&c, 1, false);
		break;
	case MSG_LOCK:
		for (int k = 0; r >= 0 && k < 3; k++) /* cluster, command, owner host */
			r = skip_str(&c);
		if (r >= 0)
			r = cur_u32(&c, &u); /* owner pid */
		if (r >= 0)
			r = cur_u32(&c, &u); /* flags */
		break;
	case MSG_CLEAN:
		r = skip_str(&c); /* cluster */
		break;
	case MSG_JOURNAL_READ:
		r = skip_str(&c); /* cluster */
		break;
	case MSG_JOURNAL_APPEND:
		r = skip_str(&c); /* cluster */
		if (r >= 0)
			r = skip_str(&c); /* line */
		break;
	case MSG_EXIT:
		r = cur_u32(&c, &u);
		if (r >= 0)
			r = cur_u32(&c, &u);
		if (r >= 0)
			r = cur_u32(&c, &u);
		break;
	default:
		return -EBADMSG;
	}
	return r < 0 ? r : cur_end(&c);
}
