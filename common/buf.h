/* A growable byte buffer with a hard cap. Invariants (as git's strbuf): data is never NULL
 * and always NUL-terminated, so it can be used as a C string when it holds text. Every
 * buffer filled from a file or the network gets a cap, so hostile input yields -E2BIG
 * instead of an allocation storm; a failed append leaves the buffer unchanged. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

struct buf {
	char *data;
	size_t len;
	size_t alloc; /* 0 while data points at the shared empty string */
	size_t cap;   /* the most bytes len may reach */
};

extern char buf_empty_string[];

#define BUF_INIT(max) { .data = buf_empty_string, .len = 0, .alloc = 0, .cap = (max) }

void buf_init(struct buf *b, size_t cap);
/* Frees the storage; the buffer stays usable (empty, same cap). */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
void buf_truncate(struct buf *b, size_t len);

/* Makes room for extra more bytes; -E2BIG when len + extra would pass the cap. */
int buf_grow(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) _printf_(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) _printf_(2, 0);

/* Reads fd to EOF (-E2BIG past the cap; what was read stays). */
int buf_read_fd(struct buf *b, int fd);
int buf_read_file(struct buf *b, const char *path);

/* Hands the storage to the caller (a malloc'd, NUL-terminated string, never NULL) and
 * leaves the buffer empty. */
char *buf_detach(struct buf *b, size_t *ret_len);

static inline void buf_releasep(struct buf *b)
{
	buf_release(b);
}
#define _cleanup_buf_ __attribute__((cleanup(buf_releasep)))
