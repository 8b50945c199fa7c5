#include "journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "macro.h"

struct journal_kv {
	char *key;
	char *value;
};

struct journal_rec {
	char *step;
	int64_t t;
	struct journal_kv kv[JOURNAL_MAX_KEYS];
	size_t nkv;
	char *line; /* the words above point into it */
};

struct journal {
	struct journal_rec *v;
	size_t n;
};

static bool step_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* printable ASCII but space: a value is one word */
static bool value_char(char c)
{
	return c > ' ' && c < 0x7f;
}

static bool all_of(const char *s, size_t n, bool (*ok)(char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok(s[i]))
			return false;
	return true;
}

static int check_step(const char *w, struct errbuf *err)
{
	size_t n = strlen(w);

	if (n == 0 || n > JOURNAL_MAX_STEP || !all_of(w, n, step_char))
		return errbuf_set(err, -EBADMSG, "the step '%.60s' is not a step name ([A-Za-z0-9-], "
				  "1-%d bytes)", w, JOURNAL_MAX_STEP);
	return 0;
}

static int check_time(const char *w, int64_t *ret, struct errbuf *err)
{
	size_t n = strlen(w);
	int64_t t = 0;

	/* 18 digits cannot overflow an int64_t */
	if (n == 0 || n > 18)
		return errbuf_set(err, -EBADMSG, "the time '%.40s' is not unix seconds", w);
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return errbuf_set(err, -EBADMSG, "the time '%.40s' is not unix seconds", w);
		t = t * 10 + (w[i] - '0');
	}
	*ret = t;
	return 0;
}

static int check_kv(char *w, struct journal_kv *ret, struct errbuf *err)
{
	char *eq = strchr(w, '=');
	size_t nk = eq ? (size_t)(eq - w) : 0, nv = eq ? strlen(eq + 1) : 0;

	if (!eq || nk == 0 || nk > JOURNAL_MAX_KEY || !all_of(w, nk, key_char))
		return errbuf_set(err, -EBADMSG, "'%.60s' is not KEY=VALUE (KEY of [a-z0-9_-], "
				  "1-%d bytes)", w, JOURNAL_MAX_KEY);
	if (nv == 0 || nv > JOURNAL_MAX_VALUE || !all_of(eq + 1, nv, value_char))
		return errbuf_set(err, -EBADMSG, "the value of %.*s is empty, longer than %d bytes "
				  "or not printable ASCII", (int)nk, w, JOURNAL_MAX_VALUE);
	*eq = '\0';
	*ret = (struct journal_kv){ w, eq + 1 };
	return 0;
}

/* line: a writable copy without its newline, kept by the record on success */
static int parse_line(char *line, struct journal_rec *rec, struct errbuf *err)
{
	char *save = NULL, *w;
	size_t len = strlen(line);
	int r;

	if (len > JOURNAL_MAX_LINE)
		return errbuf_set(err, -E2BIG, "longer than %d bytes", JOURNAL_MAX_LINE);
	/* single spaces only: a line reads back exactly as it was written */
	if (len == 0 || line[0] == ' ' || line[len - 1] == ' ' || strstr(line, "  "))
		return errbuf_set(err, -EBADMSG, "empty, or not single-space separated");
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && !value_char(line[i]))
			return errbuf_set(err, -EBADMSG, "holds a byte that is not printable ASCII");
	*rec = (struct journal_rec){ 0 };
	w = strtok_r(line, " ", &save);
	if ((r = check_step(w, err)) < 0)
		return r;
	rec->step = w;
	w = strtok_r(NULL, " ", &save);
	if ((r = check_time(w ? w : "", &rec->t, err)) < 0)
		return r;
	while ((w = strtok_r(NULL, " ", &save))) {
		if (rec->nkv == JOURNAL_MAX_KEYS)
			return errbuf_set(err, -E2BIG, "more than %d KEY=VALUE pairs", JOURNAL_MAX_KEYS);
		if ((r = check_kv(w, &rec->kv[rec->nkv], err)) < 0)
			return r;
		for (size_t k = 0; k < rec->nkv; k++)
			if (strcmp(rec->kv[k].key, rec->kv[rec->nkv].key) == 0)
				return errbuf_set(err, -EBADMSG, "the key %s comes twice", w);
		rec->nkv++;
	}
	rec->line = line;
	return 0;
}

struct journal *journal_free(struct journal *j)
{
	if (!j)
		return NULL;
	for (size_t i = 0; i < j->n; i++)
		free(j->v[i].line);
	free(j->v);
	free(j);
	return NULL;
}

static void journal_freep(struct journal **j)
{
	journal_free(*j);
}

int journal_parse(const char *text, size_t len, struct journal **ret, bool *ret_torn,
		  struct errbuf *err)
{
	__attribute__((cleanup(journal_freep))) struct journal *j = xcalloc(1, sizeof(*j));
	size_t pos = 0, lineno = 0;
	bool torn = false;

	if (len > JOURNAL_MAX_BYTES)
		return errbuf_set(err, -E2BIG, "longer than %u bytes", JOURNAL_MAX_BYTES);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		struct errbuf e = ERRBUF_INIT;
		int r;

		lineno++;
		if (!nl) { /* the append that wrote it did not finish */
			torn = true;
			break;
		}
		if (j->n == JOURNAL_MAX_LINES)
			return errbuf_set(err, -E2BIG, "more than %d lines", JOURNAL_MAX_LINES);
		if (memchr(text + pos, '\0', n))
			return errbuf_set(err, -EBADMSG, "line %zu: holds a NUL byte", lineno);
		if (n > JOURNAL_MAX_LINE)
			return errbuf_set(err, -E2BIG, "line %zu: longer than %d bytes", lineno,
					  JOURNAL_MAX_LINE);
		char *copy = xstrndup(text + pos, n);
		j->v = xreallocarray(j->v, j->n + 1, sizeof(*j->v));
		r = parse_line(copy, &j->v[j->n], &e);
		if (r < 0) {
			free(copy);
			return errbuf_set(err, r, "line %zu: %s", lineno, errbuf_msg(&e));
		}
		j->n++;
		pos += n + 1;
	}
	if (ret_torn)
		*ret_torn = torn;
	*ret = TAKE_PTR(j);
	return 0;
}

size_t journal_count(const struct journal *j)
{
	return j ? j->n : 0;
}

const char *journal_step(const struct journal *j, size_t i)
{
	return i < journal_count(j) ? j->v[i].step : NULL;
}

int64_t journal_time(const struct journal *j, size_t i)
{
	return i < journal_count(j) ? j->v[i].t : -1;
}

const char *journal_get(const struct journal *j, size_t i, const char *key)
{
	if (i >= journal_count(j))
		return NULL;
	for (size_t k = 0; k < j->v[i].nkv; k++)
		if (strcmp(j->v[i].kv[k].key, key) == 0)
			return j->v[i].kv[k].value;
	return NULL;
}

long journal_last(const struct journal *j, const char *step)
{
	for (size_t i = journal_count(j); i-- > 0;)
		if (strcmp(j->v[i].step, step) == 0)
			return (long)i;
	return -1;
}

bool journal_matches(const struct journal *j, size_t i, const char *inputs)
{
	_cleanup_free_ char *copy = xstrdup(inputs ? inputs : "");
	char *save = NULL;

	if (i >= journal_count(j))
		return false;
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		const char *v;
		if (!eq)
			return false;
		*eq = '\0';
		v = journal_get(j, i, w);
		if (!v || strcmp(v, eq + 1) != 0)
			return false;
	}
	return true;
}

bool journal_step_name(const char *phase, char *out, size_t size)
{
	size_t n = strlen(phase);

	if (n == 0 || n > JOURNAL_MAX_STEP || n >= size)
		return false;
	for (size_t i = 0; i <= n; i++)
		out[i] = phase[i] == ' ' ? '-' : phase[i];
	return all_of(out, n, step_char);
}

int journal_line_check(const char *line, struct errbuf *err)
{
	_cleanup_free_ char *copy = NULL;
	struct journal_rec rec;

	if (strlen(line) > JOURNAL_MAX_LINE)
		return errbuf_set(err, -E2BIG, "a journal line longer than %d bytes", JOURNAL_MAX_LINE);
	copy = xstrdup(line);
	return parse_line(copy, &rec, err);
}

int journal_line(const char *step, int64_t t, const char *inputs, struct buf *out)
{
	struct errbuf e = ERRBUF_INIT;
	size_t start = out->len;
	int r = buf_printf(out, "%s %lld%s%s", step, (long long)t, inputs && *inputs ? " " : "",
			   inputs ? inputs : "");

	if (r >= 0 && (t < 0 || journal_line_check(out->data + start, &e) < 0))
		r = -EINVAL;
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

static void put_rec(const struct journal_rec *rec, struct buf *out, int *r)
{
	*r = *r < 0 ? *r : buf_printf(out, "%s %lld", rec->step, (long long)rec->t);
	for (size_t k = 0; k < rec->nkv; k++)
		*r = *r < 0 ? *r : buf_printf(out, " %s=%s", rec->kv[k].key, rec->kv[k].value);
	*r = *r < 0 ? *r : buf_putc(out, '\n');
}

int journal_compact(const struct journal *j, struct buf *out)
{
	int r = 0;

	for (size_t i = 0; i < journal_count(j); i++)
		if (journal_last(j, j->v[i].step) == (long)i)
			put_rec(&j->v[i], out, &r);
	return r;
}
