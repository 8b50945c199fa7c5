#include "template.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "macro.h"

#define MAX_DEPTH 32
#define MAX_TOKENS 100000

enum tok_kind {
	T_TEXT,
	T_OUTPUT,  /* {{ .Key }} or {{ . }}, maybe with | default "x" */
	T_IF,
	T_ELSE,
	T_END,
	T_RANGE,
};

struct token {
	enum tok_kind kind;
	unsigned line;
	const char *text; /* T_TEXT: into the source */
	size_t len;
	char *key;	   /* NULL for "." */
	char *def;	   /* default "…", or NULL */
	bool has_default;
};

struct tmpl {
	const char *name;
	struct token *t;
	size_t n;
	const struct kv *vars;
	size_t nvars;
	struct buf *out;
	struct errbuf *err;
	unsigned depth;
};

static int fail(struct tmpl *tp, unsigned line, const char *fmt, ...) _printf_(3, 4);
static int fail(struct tmpl *tp, unsigned line, const char *fmt, ...)
{
	char detail[ERRBUF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	errbuf_set(tp->err, -EINVAL, "%s:%u: %s", tp->name, line, detail);
	if (tp->err)
		tp->err->line = line;
	return -EINVAL;
}

static void push(struct tmpl *tp, struct token tok)
{
	tp->t = xreallocarray(tp->t, tp->n + 1, sizeof(*tp->t));
	tp->t[tp->n++] = tok;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

/* A valid Go template action that cirun cannot render, quoted whole (not the token it
 * stumbled on), with what cirun renders and the way out: real images carry .tmpl files
 * meant for other programs, such as containerd's CNI conf_template, which ranges with
 * variables. */
static int unsupported(struct tmpl *tp, unsigned line, const char *a, const char *end,
		       const char *why)
{
	const char *p = skip_ws(a, end);
	int n;

	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (int)MIN(end - p, 60);
	return fail(tp, line, "unsupported template construct '%.*s%s'%s%s%s; cirun renders only "
		    "{{ .Key }}, {{ . }} in a range, if/else/end on a key, range over a key "
		    "(a;b lists), '| default \"v\"' and {{/* comments */}}. A file meant for "
		    "another program (such as containerd's CNI conf_template) must not be "
		    "rendered: name it without .tmpl, and keep it out of statics/",
		    n, p, end - p > n ? "..." : "", why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* ".Key" or "." → key (NULL for "."); advances p. NULL why: the reason it is not one. */
static int parse_ref(const char **pp, const char *end, char **ret, const char **why)
{
	const char *p = *pp;

	if (p >= end || *p != '.') {
		*why = NULL;
		return -EINVAL;
	}
	p++;
	const char *k = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	if (p < end && *p == '.') {
		*why = "nested keys (.A.B)";
		return -EINVAL;
	}
	*ret = p > k ? xstrndup(k, (size_t)(p - k)) : NULL;
	*pp = p;
	return 0;
}

/* The words of one action, between "{{" (and "-") and (“-” and) "}}". */
static int parse_action(struct tmpl *tp, unsigned line, const char *a, const char *end)
{
	struct token tok = { .line = line };
	const char *p = skip_ws(a, end);
	char *key = NULL;
	int r;

	if (p + 2 <= end && p[0] == '/' && p[1] == '*') {
		if (end - p < 4 || end[-1] != '/' || end[-2] != '*')
			return fail(tp, line, "a comment must be {{/* … */}}");
		return 0;
	}
	if ((size_t)(end - p) >= 2 && strncmp(p, "if", 2) == 0 && (end - p == 2 || isspace((unsigned char)p[2]))) {
		tok.kind = T_IF;
		p = skip_ws(p + 2, end);
	} else if ((size_t)(end - p) >= 5 && strncmp(p, "range", 5) == 0 &&
		   (end - p == 5 || isspace((unsigned char)p[5]))) {
		tok.kind = T_RANGE;
		p = skip_ws(p + 5, end);
	} else if (skip_ws(p, end) == end) {
		return fail(tp, line, "empty action {{ }}");
	} else if ((size_t)(end - p) >= 4 && strncmp(p, "else", 4) == 0 && skip_ws(p + 4, end) == end) {
		tok.kind = T_ELSE;
		push(tp, tok);
		return 0;
	} else if ((size_t)(end - p) >= 3 && strncmp(p, "end", 3) == 0 && skip_ws(p + 3, end) == end) {
		tok.kind = T_END;
		push(tp, tok);
		return 0;
	} else if (*p != '.') {
		return unsupported(tp, line, a, end, NULL);
	} else {
		tok.kind = T_OUTPUT;
	}
	const char *why = NULL;
	r = parse_ref(&p, end, &key, &why);
	if (r < 0)
		return unsupported(tp, line, a, end, why);
	tok.key = key;
	p = skip_ws(p, end);
	if (p < end && *p == '|') {
		p = skip_ws(p + 1, end);
		if (tok.kind != T_OUTPUT || (size_t)(end - p) < 7 || strncmp(p, "default", 7) != 0) {
			free(key);
			return unsupported(tp, line, a, end, "only '| default \"value\"' may follow a key");
		}
		p = skip_ws(p + 7, end);
		if (p >= end || *p != '"') {
			free(key);
			return unsupported(tp, line, a, end, "default needs a \"quoted\" value");
		}
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q) {
			free(key);
			return fail(tp, line, "unterminated \"quoted\" default");
		}
		tok.def = xstrndup(p + 1, (size_t)(q - p - 1));
		tok.has_default = true;
		p = skip_ws(q + 1, end);
	}
	if (p != end) {
		free(key);
		free(tok.def);
		return unsupported(tp, line, a, end, NULL);
	}
	push(tp, tok);
	return 0;
}

static unsigned count_lines(const char *a, const char *b)
{
	unsigned n = 0;
	for (; a < b; a++)
		n += *a == '\n';
	return n;
}

static int tokenize(struct tmpl *tp, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	unsigned line = 1;
	bool trim_next = false;

	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2);
		const char *tstart = p, *tend = open ? open : end;

		if (trim_next)
			tstart = skip_ws(tstart, tend);
		if (!open) {
			push(tp, (struct token){ .kind = T_TEXT, .line = line, .text = tstart, .len = (size_t)(tend - tstart) });
			break;
		}
		bool trim_before = open + 2 < end && open[2] == '-' && open + 3 < end && isspace((unsigned char)open[3]);
		if (trim_before)
			while (tend > tstart && isspace((unsigned char)tend[-1]))
				tend--;
		push(tp, (struct token){ .kind = T_TEXT, .line = line, .text = tstart, .len = (size_t)(tend - tstart) });
		line += count_lines(p, open);
		const char *a = open + (trim_before ? 3 : 2);
		const char *close = memmem(a, (size_t)(end - a), "}}", 2);
		if (!close)
			return fail(tp, line, "'{{' without '}}'");
		const char *aend = close;
		trim_next = aend > a && aend[-1] == '-' && aend - 1 > a && isspace((unsigned char)aend[-2]);
		if (trim_next)
			aend--;
		int r = parse_action(tp, line, a, aend);
		if (r < 0)
			return r;
		if (tp->n > MAX_TOKENS)
			return fail(tp, line, "template too complex");
		line += count_lines(open, close);
		p = close + 2;
	}
	return 0;
}

static const char *lookup(const struct tmpl *tp, const char *key)
{
	for (size_t i = tp->nvars; i > 0; i--)
		if (strcmp(tp->vars[i - 1].key, key) == 0)
			return tp->vars[i - 1].value;
	return NULL;
}

static int emit(struct tmpl *tp, const char *s, size_t n)
{
	return buf_append(tp->out, s, n) < 0 ? fail(tp, 0, "output too large") : 0;
}

/* Evaluates tokens from *i until an else/end at this level (or the end), writing output
 * only when on. dot: the current range item, or NULL outside range. */
static int eval(struct tmpl *tp, size_t *i, bool on, const char *dot, size_t dot_len,
		enum tok_kind *ret_stop);

static int eval_output(struct tmpl *tp, const struct token *t, const char *dot, size_t dot_len)
{
	const char *v;

	if (!t->key) {
		if (!dot)
			return fail(tp, t->line, "{{ . }} outside a range");
		return emit(tp, dot, dot_len);
	}
	v = lookup(tp, t->key);
	if ((!v || !*v) && t->has_default)
		v = t->def;
	if (!v)
		return fail(tp, t->line, "key '%s' is not set (give it with -e %s=…, or write "
			    "{{ .%s | default \"…\" }})", t->key, t->key, t->key);
	return emit(tp, v, strlen(v));
}

/* Skips to the matching end/else without output, to find where a block stops. */
static int eval_if(struct tmpl *tp, size_t *i, bool on, const char *dot, size_t dot_len)
{
	const struct token *t = &tp->t[*i];
	const char *v = t->key ? lookup(tp, t->key) : dot;
	bool cond = t->key ? v && *v : dot && dot_len;
	enum tok_kind stop;
	unsigned line = t->line;
	int r;

	(*i)++;
	r = eval(tp, i, on && cond, dot, dot_len, &stop);
	if (r < 0)
		return r;
	if (stop == T_ELSE) {
		(*i)++;
		r = eval(tp, i, on && !cond, dot, dot_len, &stop);
		if (r < 0)
			return r;
	}
	if (stop != T_END)
		return fail(tp, line, "{{ if }} without {{ end }}");
	(*i)++;
	return 0;
}

static int eval_range(struct tmpl *tp, size_t *i, bool on, const char *dot, size_t dot_len)
{
	const struct token *t = &tp->t[*i];
	const char *v = t->key ? lookup(tp, t->key) : dot;
	size_t body = *i + 1, after = body;
	enum tok_kind stop;
	unsigned line = t->line;
	int r;

	if (on && !v)
		return fail(tp, line, "key '%s' is not set, so it cannot be ranged over", t->key);
	/* find the end once, without output */
	r = eval(tp, &after, false, dot, dot_len, &stop);
	if (r < 0)
		return r;
	if (stop != T_END)
		return fail(tp, line, "{{ range }} without {{ end }}");
	if (on && v && *v) {
		const char *p = t->key ? v : dot;
		size_t total = t->key ? strlen(v) : dot_len;
		const char *end = p + total;
		while (p <= end) {
			const char *semi = memchr(p, ';', (size_t)(end - p));
			const char *item_end = semi ? semi : end;
			size_t k = body;
			r = eval(tp, &k, true, p, (size_t)(item_end - p), &stop);
			if (r < 0)
				return r;
			if (!semi)
				break;
			p = semi + 1;
		}
	}
	*i = after + 1;
	return 0;
}

static int eval(struct tmpl *tp, size_t *i, bool on, const char *dot, size_t dot_len,
		enum tok_kind *ret_stop)
{
	int r = 0;

	if (++tp->depth > MAX_DEPTH) {
		tp->depth--;
		return fail(tp, *i < tp->n ? tp->t[*i].line : 0, "blocks nested too deep");
	}
	*ret_stop = T_TEXT;
	while (r >= 0 && *i < tp->n) {
		const struct token *t = &tp->t[*i];
		switch (t->kind) {
		case T_TEXT:
			if (on)
				r = emit(tp, t->text, t->len);
			(*i)++;
			break;
		case T_OUTPUT:
			if (on)
				r = eval_output(tp, t, dot, dot_len);
			(*i)++;
			break;
		case T_IF:
			r = eval_if(tp, i, on, dot, dot_len);
			break;
		case T_RANGE:
			r = eval_range(tp, i, on, dot, dot_len);
			break;
		case T_ELSE:
		case T_END:
			*ret_stop = t->kind;
			tp->depth--;
			return 0;
		}
	}
	tp->depth--;
	return r;
}

int template_render(const char *name, const char *text, size_t len, const struct kv *vars,
		    size_t nvars, struct buf *out, struct errbuf *err)
{
	struct tmpl tp = { .name = name ? name : "template", .vars = vars, .nvars = nvars,
			   .out = out, .err = err };
	size_t start = out->len, i = 0;
	enum tok_kind stop;
	int r = tokenize(&tp, text, len);

	if (r >= 0)
		r = eval(&tp, &i, true, NULL, 0, &stop);
	if (r >= 0 && i < tp.n)
		r = fail(&tp, tp.t[i].line, "{{ %s }} without a matching {{ if }} or {{ range }}",
			 tp.t[i].kind == T_ELSE ? "else" : "end");
	for (size_t k = 0; k < tp.n; k++) {
		free(tp.t[k].key);
		free(tp.t[k].def);
	}
	free(tp.t);
	if (r < 0)
		buf_truncate(out, start);
	return r;
}
