/* A small JSON writer for event lines (--output json, agent reports). Reading JSON goes
 * through ydoc (libyaml); writing is simple enough to do here, with correct escaping:
 * control characters (C0 and C1) and U+2028/2029 as \uXXXX, invalid UTF-8 replaced by U+FFFD,
 * so every line is valid
 * JSON whatever bytes a remote command printed. Errors are sticky: check jsonw_finish. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSONW_MAX_DEPTH 32

struct jsonw {
	struct buf *out;
	int error;
	unsigned depth;
	bool first[JSONW_MAX_DEPTH + 1]; /* no member written yet at this level */
	bool is_object[JSONW_MAX_DEPTH + 1];
	bool after_key;
};

void jsonw_init(struct jsonw *w, struct buf *out);
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_stringn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* 0 when the document is complete and nothing failed; -E2BIG (the buffer's cap) or -EINVAL
 * (misuse: a value where a key was expected, unbalanced ends) otherwise. */
int jsonw_finish(struct jsonw *w);

/* Appends s to out as a quoted JSON string. */
int json_escape(struct buf *out, const char *s, size_t n);
