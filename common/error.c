#include "error.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

int errbuf_setv(struct errbuf *err, int code, const char *fmt, va_list ap)
{
	assert(code < 0);
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int errbuf_set(struct errbuf *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int errbuf_set_at(struct errbuf *err, int code, unsigned line, unsigned column,
		  const char *fmt, ...)
{
	va_list ap;
	char detail[ERRBUF_MSG_MAX];

	assert(code < 0);
	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	err->code = code;
	err->line = line;
	err->column = column;
	snprintf(err->msg, sizeof(err->msg), "%u:%u: %s", line, column, detail);
	return code;
}

int errbuf_prefix(struct errbuf *err, const char *fmt, ...)
{
	va_list ap;
	char prefix[ERRBUF_MSG_MAX], old[ERRBUF_MSG_MAX];

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", errbuf_msg(err));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return err->code;
}

const char *errbuf_msg(const struct errbuf *err)
{
	if (!err)
		return "unknown error";
	if (err->msg[0])
		return err->msg;
	return err->code ? strerror(-err->code) : "no error";
}

void errbuf_clear(struct errbuf *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}
