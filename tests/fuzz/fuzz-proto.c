/* Protocol decoder: a byte stream from a hostile peer is read frame by frame; every frame
 * is validated against its type's fields. Nothing may read past what arrived. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t left;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	/* deliver in odd pieces, as a network would */
	if (n > m->left)
		n = m->left;
	if (n > 3 && (m->left & 1))
		n = 3;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

static ssize_t no_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size };
	struct proto_io io = { mem_read, no_write, &m };
	struct frame f;

	frame_init(&f);
	for (int i = 0; i < 64; i++) {
		int r = proto_read_frame(&io, &f);
		if (r < 0) {
			assert(r == -EPIPE || r == -EBADMSG || r == -E2BIG);
			break;
		}
		assert(f.type > 0 && f.type < _MSG_MAX);
		assert(f.payload.len < PROTO_MAX_FRAME);
		(void)proto_validate(f.type, f.payload.data, f.payload.len);
	}
	frame_release(&f);
	return 0;
}
