#include "error.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Every message is masked as it is stored: it is cut to the buffer here, and a secret cut
 * in two by a later boundary could no longer be recognised (a remote script's output
 * ends up in errors). Formatted into a larger buffer first, so the cut is known. */
#define ERRBUF_FORMAT_MAX (4 * ERRBUF_MSG_MAX)

static void store_masked(struct errbuf *err, const char *text, int len)
{
	log_redact_cut(text, len >= ERRBUF_FORMAT_MAX, err->msg, sizeof(err->msg));
}

int errbuf_setv(struct errbuf *err, int code, const char *fmt, va_list ap)
{
	assert(code < 0);
	if (!err)
		return code;
	char text[ERRBUF_FORMAT_MAX];
	int len = vsnprintf(text, sizeof(text), fmt, ap);

	err->code = code;
	store_masked(err, text, len);
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
	char detail[ERRBUF_FORMAT_MAX], text[ERRBUF_FORMAT_MAX];
	int len;

	assert(code < 0);
	if (!err)
		return code;
	va_start(ap, fmt);
	len = vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	err->code = code;
	err->line = line;
	err->column = column;
	bool detail_cut = len >= (int)sizeof(detail);
	len = snprintf(text, sizeof(text), "%u:%u: %s", line, column, detail);
	store_masked(err, text, detail_cut ? ERRBUF_FORMAT_MAX : len);
	return code;
}

int errbuf_prefix(struct errbuf *err, const char *fmt, ...)
{
	va_list ap;
	char prefix[ERRBUF_MSG_MAX], old[ERRBUF_MSG_MAX], text[ERRBUF_FORMAT_MAX];
	int len;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	len = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", errbuf_msg(err));
	bool prefix_cut = len >= (int)sizeof(prefix);
	len = snprintf(text, sizeof(text), "%s: %s", prefix, old);
	/* a prefix cut short may end in the beginning of a secret */
	store_masked(err, text, prefix_cut ? ERRBUF_FORMAT_MAX : len);
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
