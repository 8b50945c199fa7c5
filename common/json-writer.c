#include "json-writer.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void jsonw_init(struct jsonw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->first[0] = true;
}

static void put(struct jsonw *w, int r)
{
	if (r < 0 && w->error == 0)
		w->error = r;
}

/* Writes what must come before a value: a comma between members, and checks that a value
 * inside an object follows a key. */
static bool before_value(struct jsonw *w)
{
	if (w->error)
		return false;
	if (w->is_object[w->depth] && !w->after_key) {
		w->error = -EINVAL;
		return false;
	}
	if (!w->is_object[w->depth]) {
		if (w->depth == 0 && !w->first[0]) {
			w->error = -EINVAL; /* one top-level value only */
			return false;
		}
		if (!w->first[w->depth])
			put(w, buf_putc(w->out, ','));
		w->first[w->depth] = false;
	}
	w->after_key = false;
	return w->error == 0;
}

static void open_container(struct jsonw *w, char c, bool object)
{
	if (!before_value(w))
		return;
	if (w->depth >= JSONW_MAX_DEPTH) {
		w->error = -EINVAL;
		return;
	}
	put(w, buf_putc(w->out, c));
	w->depth++;
	w->first[w->depth] = true;
	w->is_object[w->depth] = object;
}

static void close_container(struct jsonw *w, char c, bool object)
{
	if (w->error)
		return;
	if (w->depth == 0 || w->is_object[w->depth] != object || w->after_key) {
		w->error = -EINVAL;
		return;
	}
	w->depth--;
	put(w, buf_putc(w->out, c));
}

void jsonw_object_begin(struct jsonw *w)
{
	open_container(w, '{', true);
}

void jsonw_object_end(struct jsonw *w)
{
	close_container(w, '}', true);
}

void jsonw_array_begin(struct jsonw *w)
{
	open_container(w, '[', false);
}

void jsonw_array_end(struct jsonw *w)
{
	close_container(w, ']', false);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	if (w->error)
		return;
	if (!w->is_object[w->depth] || w->after_key) {
		w->error = -EINVAL;
		return;
	}
	if (!w->first[w->depth])
		put(w, buf_putc(w->out, ','));
	w->first[w->depth] = false;
	put(w, json_escape(w->out, key, strlen(key)));
	put(w, buf_putc(w->out, ':'));
	w->after_key = true;
}

void jsonw_stringn(struct jsonw *w, const char *s, size_t n)
{
	if (before_value(w))
		put(w, json_escape(w->out, s, n));
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	jsonw_stringn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	if (before_value(w))
		put(w, buf_printf(w->out, "%" PRId64, v));
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	if (before_value(w))
		put(w, buf_printf(w->out, "%" PRIu64, v));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (before_value(w))
		put(w, buf_puts(w->out, v ? "true" : "false"));
}

void jsonw_null(struct jsonw *w)
{
	if (before_value(w))
		put(w, buf_puts(w->out, "null"));
}

int jsonw_finish(struct jsonw *w)
{
	if (w->error)
		return w->error;
	if (w->depth != 0 || w->after_key || w->first[0])
		return -EINVAL;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_valid_len(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	*ret_cp = c;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

/* Valid, but escaped anyway: C1 controls, line/paragraph separators and BOM/non-characters
 * break line-oriented readers and YAML-based JSON readers that take raw text. */
static bool escape_anyway(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
	       cp == 0xfffe || cp == 0xffff;
}

int json_escape(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len;
	int r = buf_putc(out, '"');

	for (size_t i = 0; r >= 0 && i < n;) {
		unsigned char c = p[i];
		size_t len;
		uint32_t cp;

		switch (c) {
		case '"':
			r = buf_puts(out, "\\\"");
			i++;
			continue;
		case '\\':
			r = buf_puts(out, "\\\\");
			i++;
			continue;
		case '\n':
			r = buf_puts(out, "\\n");
			i++;
			continue;
		case '\r':
			r = buf_puts(out, "\\r");
			i++;
			continue;
		case '\t':
			r = buf_puts(out, "\\t");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			r = buf_printf(out, "\\u%04x", c);
			i++;
			continue;
		}
		len = utf8_valid_len(p + i, n - i, &cp);
		if (len == 0) {
			r = buf_puts(out, "\\ufffd");
			i++;
			continue;
		}
		if (escape_anyway(cp)) {
			r = buf_printf(out, "\\u%04x", (unsigned)cp);
			i += len;
			continue;
		}
		r = buf_append(out, p + i, len);
		i += len;
	}
	if (r >= 0)
		r = buf_putc(out, '"');
	if (r < 0)
		buf_truncate(out, start);
	return r;
}
