/* Error convention: functions return >= 0 on success and -errno on failure. Detail that
 * errno cannot carry (which file, which line, what was expected) goes into a struct errbuf
 * owned by the caller, so it can be reported once, where the context is known. */
#pragma once

#include <errno.h>
#include <stdarg.h>

#include "macro.h"

#define ERRBUF_MSG_MAX 1024

struct errbuf {
	int code;	  /* the -errno the failing call returned, 0 when none */
	unsigned line;	  /* 1-based source position, 0 when not known */
	unsigned column;
	char msg[ERRBUF_MSG_MAX];
};

#define ERRBUF_INIT { 0 }

/* Records code and message; returns code so callers write `return errbuf_set(…)`.
 * err may be NULL, then only the code is returned. code must be negative. */
int errbuf_set(struct errbuf *err, int code, const char *fmt, ...) _printf_(3, 4);
int errbuf_setv(struct errbuf *err, int code, const char *fmt, va_list ap) _printf_(3, 0);

/* Same, with a source position that the message is prefixed with ("LINE:COL: "). */
int errbuf_set_at(struct errbuf *err, int code, unsigned line, unsigned column,
		  const char *fmt, ...) _printf_(5, 6);

/* Adds context in front of the message ("reading 'x': " + msg); returns err->code. */
int errbuf_prefix(struct errbuf *err, const char *fmt, ...) _printf_(2, 3);

/* The message, or strerror of the code when no message was recorded. */
const char *errbuf_msg(const struct errbuf *err);

void errbuf_clear(struct errbuf *err);

/* errno as a negative code, never 0 (a libc call that failed without setting errno). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Converts a libc-style "-1 and errno" result into -errno in one expression. */
#define RET_NERRNO(expr)                                                                       \
	({                                                                                     \
		long _rn = (long)(expr);                                                       \
		_rn < 0 ? negative_errno() : (int)_rn;                                         \
	})
