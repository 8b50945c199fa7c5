/* The cirun ⇄ cirun-agent protocol: one byte stream (the SSH channel's stdin/stdout, as
 * sftp-server uses it), carrying frames
 *
 *     u32 length (big-endian, of what follows) | u8 type | payload
 *
 * with payloads made of fields: u32/u64 big-endian integers and strings/blobs as u32
 * length + bytes. A frame's length is capped (PROTO_MAX_FRAME), and every decode is
 * bounded by what was received: a short or oversized frame is -EBADMSG / -E2BIG, never a
 * read past the end. The first exchange is HELLO/HELLO_OK with the protocol version. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define PROTO_VERSION 1
#define PROTO_MAX_FRAME (1u << 20)  /* type + payload */
#define PROTO_MAX_PAYLOAD (PROTO_MAX_FRAME - 1) /* what a request or reply buffer may hold */
#define PROTO_DATA_CHUNK (256u << 10) /* layer data per frame */

enum proto_msg {
	MSG_HELLO = 1,	   /* c→a: u32 version, str client version */
	MSG_HELLO_OK,	   /* a→c: u32 version, str agent version */
	MSG_OK,		   /* a→c: str detail (may be empty) */
	MSG_ERROR,	   /* a→c: u32 code (errno), str message */
	MSG_FACTS_REQ,	   /* c→a: – */
	MSG_FACTS,	   /* a→c: str facts YAML */
	MSG_LAYERS_REQ,	   /* c→a: u32 n, n × (str digest, u64 size) */
	MSG_LAYERS,	   /* a→c: u32 n, n × str digest (the ones it holds) */
	MSG_LAYER_BEGIN,   /* c→a: str digest, u64 size */
	MSG_LAYER_DATA,	   /* c→a: blob */
	MSG_LAYER_END,	   /* c→a: –; a→c: OK or ERROR */
	MSG_ASSEMBLE,	   /* c→a: str cluster, u32 n, n × str digest (in order) */
	MSG_EXEC,	   /* c→a: str command, str cwd, u32 timeout s, u32 n, n × (str k, str v) */
	MSG_OUTPUT,	   /* a→c: u32 stream (1 stdout, 2 stderr), blob */
	MSG_EXIT,	   /* a→c: i32 exit code (-1: signal), u32 signal, u32 timed out */
	MSG_BYE,	   /* c→a: – */
	MSG_SETUP,	   /* c→a: str cluster, u32 n, n × (str k, str v)[, u32 flags]; a→c: OK */
	MSG_LAYER_ERROR,   /* a→c: u32 code, str reason, u32 fault, str digest (ERROR of a layer) */
	MSG_CONFIG,	   /* c→a: str cluster, str name, str path, str data, u32 strategy,
			    * str file, u32 line; a→c: OK (after ASSEMBLE, before SETUP) */
	MSG_REGISTRY_IMPORT, /* c→a: str cluster, str archive (a file name in the rootfs's
			      * images/); a→c: OK "N images: name…" (distribution's layout in
			      * data/CLUSTER/registry, beside the rootfs) */
	MSG_HOSTS,	   /* c→a: str cluster, u32 n, n × (str ip, str name), str mirror,
			    * u32 m, m × str upstream, u32 flags; a→c: OK (after SETUP) */
	MSG_KUBEADM_CONFIG, /* c→a: str cluster, str name (kubeadm-NAME.yaml), str data; a→c:
			     * OK "PATH" (written 0600 in data/CLUSTER, beside the rootfs) */
	MSG_REGISTRY_IMPORTED, /* a→c, the answer to REGISTRY_IMPORT: str detail (as OK's),
				* u32 n, n × str registry host (HOST[:PORT], each once) the
				* archive's images were named under, in the order met */
	MSG_LOCK,	   /* c→a: str cluster, str command, str owner host, u32 owner pid,
			    * u32 flags; a→c: OK "detail" once the host's lock (ROOT/lock) is
			    * this session's, held until the session ends (agent/host-lock.h);
			    * ERROR EBUSY (held) or ESTALE (stale, no PROTO_LOCK_FORCE) */
	MSG_CLEAN,	   /* c→a: str cluster; a→c: OK "detail" (agent/clean.h: units, the
			    * install record's paths, the /etc/hosts block, data/CLUSTER) */
	MSG_JOURNAL_READ,  /* c→a: str cluster; a→c: OK "TEXT" (the host's step journal of
			    * the cluster, common/journal.h; "" when none) */
	MSG_JOURNAL_APPEND, /* c→a: str cluster, str line (one record, no newline); a→c: OK
			     * "TEXT" (the journal after the record was fsync'd) */
	_MSG_MAX,
};

/* Why a layer failed (MSG_LAYER_ERROR): its cached bytes do not match its digest (dropped
 * from the cache; sending it again helps), or they match but the content is not a valid
 * layer (sending it again cannot help: the image is wrong). */
enum proto_layer_fault {
	LAYER_FAULT_CORRUPT = 1,
	LAYER_FAULT_INVALID = 2,
};

/* SETUP flags */
#define PROTO_SETUP_FORCE (1u << 0) /* move files in the way aside (--force) */
/* HOSTS flags: the same bit */
#define PROTO_HOSTS_FORCE PROTO_SETUP_FORCE
/* LOCK flags: break a stale lock (--force); a live one is never broken */
#define PROTO_LOCK_FORCE (1u << 0)

const char *proto_msg_name(unsigned type);

/* Encoding into a buffer (a frame payload). -E2BIG past the buffer's cap. */
int proto_put_u32(struct buf *b, uint32_t v);
int proto_put_u64(struct buf *b, uint64_t v);
int proto_put_str(struct buf *b, const char *s);
int proto_put_blob(struct buf *b, const void *p, size_t n);

/* Decoding from a payload. Strings come back malloc'd and NUL-terminated; a string with
 * an embedded NUL is -EBADMSG. */
struct cursor {
	const uint8_t *p;
	size_t left;
};
static inline struct cursor cursor_of(const void *p, size_t n)
{
	return (struct cursor){ p, n };
}
int cur_u32(struct cursor *c, uint32_t *ret);
int cur_u64(struct cursor *c, uint64_t *ret);
int cur_str(struct cursor *c, size_t max, char **ret);
int cur_blob(struct cursor *c, const void **ret, size_t *ret_len);
/* 0 when the whole payload was consumed; trailing bytes are -EBADMSG. */
int cur_end(const struct cursor *c);

/* A byte stream: a pipe/socket fd (the agent) or an SSH channel (the installer). */
struct proto_io {
	ssize_t (*read)(void *ctx, void *buf, size_t n);   /* 0 = end of stream */
	ssize_t (*write)(void *ctx, const void *buf, size_t n);
	void *ctx;
};
struct proto_io proto_io_fd(int *fds); /* fds[0] read, fds[1] write */

struct frame {
	uint8_t type;
	struct buf payload; /* capped at PROTO_MAX_FRAME */
};
void frame_init(struct frame *f);
void frame_release(struct frame *f);

/* Reads one frame: -EPIPE at a clean end of stream before a frame, -EBADMSG for a
 * truncated frame or unknown type, -E2BIG for an oversized one. */
int proto_read_frame(const struct proto_io *io, struct frame *f);
int proto_write_frame(const struct proto_io *io, uint8_t type, const void *payload, size_t n);

/* Checks a frame's payload against the fields its type carries (used by both sides and
 * by the fuzzer): 0 when well-formed. */
int proto_validate(uint8_t type, const void *payload, size_t n);
