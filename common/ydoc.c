#include "ydoc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"
#include "macro.h"

struct ynode {
	enum ynode_kind kind;
	bool plain;
	bool literal; /* a `|` block scalar: its text's lines are the file's lines */
	unsigned line, column;
	char *value;		/* scalar */
	struct ynode **keys;	/* map: scalar key nodes */
	struct ynode **items;	/* map values, sequence items */
	size_t n, cap;
};

struct ydoc {
	struct ynode **docs;
	size_t n;
};

#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define DEFAULT_MAX_DEPTH 128
#define DEFAULT_MAX_NODES 1000000

/* ---- building ---- */

static struct ynode *node_new(enum ynode_kind kind)
{
	struct ynode *n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	return n;
}

struct ynode *ynode_new_map(void)
{
	return node_new(YNODE_MAP);
}

struct ynode *ynode_new_seq(void)
{
	return node_new(YNODE_SEQ);
}

static struct ynode *scalar_new(const char *s, size_t len, bool plain)
{
	struct ynode *n = node_new(YNODE_SCALAR);
	n->value = xstrndup(s, len);
	n->plain = plain;
	return n;
}

struct ynode *ynode_new_str(const char *s)
{
	return scalar_new(s, strlen(s), false);
}

struct ynode *ynode_new_plain(const char *s)
{
	return scalar_new(s, strlen(s), true);
}

struct ynode *ynode_new_int(int64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	return ynode_new_plain(tmp);
}

struct ynode *ynode_new_uint(uint64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	return ynode_new_plain(tmp);
}

struct ynode *ynode_new_bool(bool v)
{
	return ynode_new_plain(v ? "true" : "false");
}

struct ynode *ynode_new_null(void)
{
	return ynode_new_plain("null");
}

struct ynode *ynode_free(struct ynode *n)
{
	if (!n)
		return NULL;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			ynode_free(n->keys[i]);
		ynode_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	/* a Clusterfile's scalars include SSH passwords: no copy outlives the tree */
	if (n->value)
		explicit_bzero(n->value, strlen(n->value));
	free(n->value);
	free(n);
	return NULL;
}

static void reserve_one(struct ynode *n)
{
	if (n->n < n->cap)
		return;
	n->cap = n->cap ? n->cap * 2 : 4;
	n->items = xreallocarray(n->items, n->cap, sizeof(*n->items));
	if (n->kind == YNODE_MAP)
		n->keys = xreallocarray(n->keys, n->cap, sizeof(*n->keys));
}

static ssize_t map_find(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->value, key) == 0)
			return (ssize_t)i;
	return -1;
}

static void map_put(struct ynode *map, struct ynode *key, struct ynode *value)
{
	reserve_one(map);
	map->keys[map->n] = key;
	map->items[map->n] = value;
	map->n++;
}

int ynode_map_set(struct ynode *map, const char *key, struct ynode *value)
{
	if (!map || map->kind != YNODE_MAP || !key) {
		ynode_free(value);
		return -EINVAL;
	}
	ssize_t i = map_find(map, key);
	if (i >= 0) {
		ynode_free(map->items[i]);
		map->items[i] = value;
		return 0;
	}
	map_put(map, ynode_new_str(key), value);
	return 0;
}

int ynode_map_remove(struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP || !key)
		return -EINVAL;
	ssize_t i = map_find(map, key);
	if (i < 0)
		return -ENOENT;
	ynode_free(map->keys[i]);
	ynode_free(map->items[i]);
	/* Shifted, not swapped with the last entry: maps keep their document order. */
	memmove(map->keys + i, map->keys + i + 1, (map->n - i - 1) * sizeof(*map->keys));
	memmove(map->items + i, map->items + i + 1, (map->n - i - 1) * sizeof(*map->items));
	map->n--;
	return 0;
}

int ynode_seq_append(struct ynode *seq, struct ynode *item)
{
	if (!seq || seq->kind != YNODE_SEQ) {
		ynode_free(item);
		return -EINVAL;
	}
	reserve_one(seq);
	seq->items[seq->n++] = item;
	return 0;
}

/* Copies a tree; counter (when given) is charged for every node so that alias expansion
 * stays within the node limit. Returns NULL when the limit would be passed. */
static struct ynode *dup_counted(const struct ynode *src, size_t *counter, size_t max)
{
	struct ynode *d;

	if (counter && ++*counter > max)
		return NULL;
	d = node_new(src->kind);
	d->plain = src->plain;
	d->literal = src->literal;
	d->line = src->line;
	d->column = src->column;
	if (src->value)
		d->value = xstrdup(src->value);
	for (size_t i = 0; i < src->n; i++) {
		struct ynode *item = dup_counted(src->items[i], counter, max);
		struct ynode *key = NULL;
		if (item && src->kind == YNODE_MAP)
			key = dup_counted(src->keys[i], counter, max);
		if (!item || (src->kind == YNODE_MAP && !key)) {
			ynode_free(item);
			return ynode_free(d);
		}
		if (src->kind == YNODE_MAP)
			map_put(d, key, item);
		else
			ynode_seq_append(d, item);
	}
	return d;
}

struct ynode *ynode_dup(const struct ynode *n)
{
	return n ? dup_counted(n, NULL, 0) : NULL;
}

/* ---- access ---- */

enum ynode_kind ynode_kind(const struct ynode *n)
{
	return n->kind;
}

unsigned ynode_line(const struct ynode *n)
{
	return n ? n->line : 0;
}

unsigned ynode_column(const struct ynode *n)
{
	return n ? n->column : 0;
}

const char *ynode_str(const struct ynode *n)
{
	return n && n->kind == YNODE_SCALAR ? n->value : NULL;
}

bool ynode_is_plain(const struct ynode *n)
{
	return n && n->kind == YNODE_SCALAR && n->plain;
}

bool ynode_is_literal(const struct ynode *n)
{
	return n && n->kind == YNODE_SCALAR && n->literal;
}

bool ynode_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (!ynode_is_plain(n))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}

size_t ynode_len(const struct ynode *n)
{
	return n && n->kind != YNODE_SCALAR ? n->n : 0;
}

struct ynode *ynode_seq_at(const struct ynode *n, size_t i)
{
	return n && n->kind == YNODE_SEQ && i < n->n ? n->items[i] : NULL;
}

const char *ynode_map_key_at(const struct ynode *n, size_t i)
{
	return n && n->kind == YNODE_MAP && i < n->n ? n->keys[i]->value : NULL;
}

struct ynode *ynode_map_key_node_at(const struct ynode *n, size_t i)
{
	return n && n->kind == YNODE_MAP && i < n->n ? n->keys[i] : NULL;
}

struct ynode *ynode_map_value_at(const struct ynode *n, size_t i)
{
	return n && n->kind == YNODE_MAP && i < n->n ? n->items[i] : NULL;
}

struct ynode *ynode_map_get(const struct ynode *n, const char *key)
{
	if (!n || n->kind != YNODE_MAP || !key)
		return NULL;
	ssize_t i = map_find(n, key);
	return i >= 0 ? n->items[i] : NULL;
}

struct ynode *ynode_get(const struct ynode *n, const char *path)
{
	const char *p = path;
	char key[1024];

	while (n && *p) {
		if (*p == '[') {
			char *end;
			errno = 0;
			unsigned long idx = strtoul(p + 1, &end, 10);
			if (errno || end == p + 1 || *end != ']')
				return NULL;
			n = ynode_seq_at(n, idx);
			p = end + 1;
			if (*p == '.')
				p++;
			continue;
		}
		size_t k = 0;
		while (*p && *p != '.' && *p != '[') {
			if (p[0] == '\\' && p[1] == '.')
				p++;
			if (k + 1 >= sizeof(key))
				return NULL;
			key[k++] = *p++;
		}
		key[k] = '\0';
		n = ynode_map_get(n, key);
		if (*p == '.')
			p++;
	}
	return (struct ynode *)n;
}

int ynode_get_bool(const struct ynode *n, bool *ret)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };

	if (!ynode_is_plain(n))
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcmp(n->value, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(n->value, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int ynode_get_int(const struct ynode *n, int64_t *ret)
{
	char *end;

	if (!ynode_is_plain(n) || !n->value[0])
		return -EINVAL;
	errno = 0;
	long long v = strtoll(n->value, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* ---- merge ---- */

int ynode_merge(struct ynode *base, const struct ynode *overlay, enum ymerge_list list)
{
	if (!base || !overlay || base->kind != YNODE_MAP || overlay->kind != YNODE_MAP)
		return -EINVAL;
	for (size_t i = 0; i < overlay->n; i++) {
		const char *key = overlay->keys[i]->value;
		const struct ynode *src = overlay->items[i];
		struct ynode *dst = ynode_map_get(base, key);

		if (dst && dst->kind == YNODE_MAP && src->kind == YNODE_MAP) {
			int r = ynode_merge(dst, src, list);
			if (r < 0)
				return r;
		} else if (dst && dst->kind == YNODE_SEQ && src->kind == YNODE_SEQ &&
			   list == YMERGE_LIST_APPEND) {
			for (size_t j = 0; j < src->n; j++)
				ynode_seq_append(dst, ynode_dup(src->items[j]));
		} else {
			ynode_map_set(base, key, ynode_dup(src));
		}
	}
	return 0;
}

/* ---- parsing ---- */

struct frame {
	struct ynode *node;
	struct ynode *pending_key; /* map: key read, value not yet */
};

struct anchor {
	char *name;
	struct ynode *node;
};

struct parse_state {
	const char *name;
	const struct ydoc_limits *limits;
	struct errbuf *err;
	struct frame *stack;
	size_t depth, stack_cap;
	struct anchor *anchors;
	size_t nanchors;
	size_t nodes;
	struct ynode *root;
	struct ydoc *doc;
};

static int fail_at(struct parse_state *ps, int code, yaml_mark_t mark, const char *fmt, ...)
	_printf_(4, 5);

static int fail_at(struct parse_state *ps, int code, yaml_mark_t mark, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!ps->err)
		return code;
	errbuf_set_at(ps->err, code, (unsigned)mark.line + 1, (unsigned)mark.column + 1, "%s",
		      detail);
	return errbuf_prefix(ps->err, "%s", ps->name);
}

static void anchors_clear(struct parse_state *ps)
{
	for (size_t i = 0; i < ps->nanchors; i++)
		free(ps->anchors[i].name);
	free(ps->anchors);
	ps->anchors = NULL;
	ps->nanchors = 0;
}

static void anchor_add(struct parse_state *ps, const char *name, struct ynode *node)
{
	/* A later anchor of the same name shadows the earlier one, as YAML says. */
	ps->anchors = xreallocarray(ps->anchors, ps->nanchors + 1, sizeof(*ps->anchors));
	ps->anchors[ps->nanchors].name = xstrdup(name);
	ps->anchors[ps->nanchors].node = node;
	ps->nanchors++;
}

static struct ynode *anchor_find(struct parse_state *ps, const char *name)
{
	for (size_t i = ps->nanchors; i > 0; i--)
		if (strcmp(ps->anchors[i - 1].name, name) == 0)
			return ps->anchors[i - 1].node;
	return NULL;
}

static bool node_is_open(struct parse_state *ps, const struct ynode *n)
{
	for (size_t i = 0; i < ps->depth; i++)
		if (ps->stack[i].node == n)
			return true;
	return false;
}

/* Hangs a finished (or just opened) node into its parent; owns node in all cases. */
static int attach(struct parse_state *ps, struct ynode *node, yaml_mark_t mark)
{
	if (ps->depth == 0) {
		assert(!ps->root);
		ps->root = node;
		return 0;
	}
	struct frame *top = &ps->stack[ps->depth - 1];
	if (top->node->kind == YNODE_SEQ)
		return ynode_seq_append(top->node, node);
	if (!top->pending_key) {
		if (node->kind != YNODE_SCALAR) {
			ynode_free(node);
			return fail_at(ps, -EBADMSG, mark, "a mapping key must be a scalar");
		}
		ssize_t dup = map_find(top->node, node->value);
		if (dup >= 0) {
			struct ynode *first = top->node->keys[dup];
			int r = fail_at(ps, -EBADMSG, mark, "duplicate key '%s' (first at line %u)",
					node->value, first->line);
			ynode_free(node);
			return r;
		}
		top->pending_key = node;
		return 0;
	}
	map_put(top->node, TAKE_PTR(top->pending_key), node);
	return 0;
}

static int push(struct parse_state *ps, struct ynode *node, yaml_mark_t mark)
{
	if (ps->depth >= ps->limits->max_depth)
		return fail_at(ps, -E2BIG, mark, "nesting deeper than %zu levels",
			       ps->limits->max_depth);
	if (ps->depth == ps->stack_cap) {
		ps->stack_cap = ps->stack_cap ? ps->stack_cap * 2 : 16;
		ps->stack = xreallocarray(ps->stack, ps->stack_cap, sizeof(*ps->stack));
	}
	ps->stack[ps->depth++] = (struct frame){ .node = node };
	return 0;
}

static int count_node(struct parse_state *ps, yaml_mark_t mark)
{
	if (++ps->nodes > ps->limits->max_nodes)
		return fail_at(ps, -E2BIG, mark, "more than %zu nodes", ps->limits->max_nodes);
	return 0;
}

static struct ynode *node_at(enum ynode_kind kind, yaml_mark_t mark)
{
	struct ynode *n = node_new(kind);
	n->line = (unsigned)mark.line + 1;
	n->column = (unsigned)mark.column + 1;
	return n;
}

static int on_scalar(struct parse_state *ps, yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	int r = count_node(ps, ev->start_mark);
	if (r < 0)
		return r;
	struct ynode *n = node_at(YNODE_SCALAR, ev->start_mark);
	n->value = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
	if (strlen(n->value) != ev->data.scalar.length) {
		ynode_free(n);
		return fail_at(ps, -EBADMSG, ev->start_mark, "scalar contains a NUL byte");
	}
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		   (!tag || strcmp(tag, YAML_STR_TAG) != 0);
	n->literal = ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE;
	if (ev->data.scalar.anchor)
		anchor_add(ps, (const char *)ev->data.scalar.anchor, n);
	return attach(ps, n, ev->start_mark);
}

static int on_alias(struct parse_state *ps, yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct ynode *target = anchor_find(ps, name);

	if (!target)
		return fail_at(ps, -EBADMSG, ev->start_mark, "unknown alias '*%s'", name);
	if (node_is_open(ps, target))
		return fail_at(ps, -EBADMSG, ev->start_mark, "alias '*%s' refers to itself", name);
	struct ynode *copy = dup_counted(target, &ps->nodes, ps->limits->max_nodes);
	if (!copy)
		return fail_at(ps, -E2BIG, ev->start_mark,
			       "alias '*%s' expands past %zu nodes", name, ps->limits->max_nodes);
	return attach(ps, copy, ev->start_mark);
}

static int on_collection_start(struct parse_state *ps, yaml_event_t *ev, enum ynode_kind kind)
{
	const yaml_char_t *anchor = kind == YNODE_MAP ? ev->data.mapping_start.anchor
						      : ev->data.sequence_start.anchor;
	int r = count_node(ps, ev->start_mark);
	if (r < 0)
		return r;
	struct ynode *n = node_at(kind, ev->start_mark);
	if (anchor)
		anchor_add(ps, (const char *)anchor, n);
	r = attach(ps, n, ev->start_mark);
	if (r < 0)
		return r;
	return push(ps, n, ev->start_mark);
}

static int on_event(struct parse_state *ps, yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(ps, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(ps, ev);
	case YAML_MAPPING_START_EVENT:
		return on_collection_start(ps, ev, YNODE_MAP);
	case YAML_SEQUENCE_START_EVENT:
		return on_collection_start(ps, ev, YNODE_SEQ);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		assert(ps->depth > 0);
		ps->depth--;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		anchors_clear(ps);
		return 0;
	case YAML_DOCUMENT_END_EVENT: {
		struct ydoc *d = ps->doc;
		d->docs = xreallocarray(d->docs, d->n + 1, sizeof(*d->docs));
		d->docs[d->n++] = ps->root ? TAKE_PTR(ps->root) : ynode_new_null();
		return 0;
	}
	default:
		return 0;
	}
}

static const struct ydoc_limits default_limits = {
	.max_bytes = DEFAULT_MAX_BYTES,
	.max_depth = DEFAULT_MAX_DEPTH,
	.max_nodes = DEFAULT_MAX_NODES,
};

static void limits_fill(struct ydoc_limits *out, const struct ydoc_limits *in)
{
	*out = in ? *in : default_limits;
	if (!out->max_bytes)
		out->max_bytes = DEFAULT_MAX_BYTES;
	if (!out->max_depth)
		out->max_depth = DEFAULT_MAX_DEPTH;
	if (!out->max_nodes)
		out->max_nodes = DEFAULT_MAX_NODES;
}

int ydoc_parse(const char *name, const void *data, size_t len, const struct ydoc_limits *limits,
	       struct ydoc **ret, struct errbuf *err)
{
	struct ydoc_limits lim;
	struct parse_state ps = { .name = name ? name : "<input>", .err = err };
	yaml_parser_t parser;
	bool done = false;
	int r = 0;

	limits_fill(&lim, limits);
	ps.limits = &lim;
	if (len > lim.max_bytes)
		return errbuf_set(err, -E2BIG, "%s: larger than %zu bytes", ps.name, lim.max_bytes);
	if (!yaml_parser_initialize(&parser))
		return errbuf_set(err, -ENOMEM, "%s: cannot initialise the YAML parser", ps.name);
	yaml_parser_set_input_string(&parser, data, len);
	ps.doc = xcalloc(1, sizeof(*ps.doc));

	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			r = fail_at(&ps, -EBADMSG, parser.problem_mark, "%s%s%s",
				    parser.problem ? parser.problem : "invalid YAML",
				    parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = on_event(&ps, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	yaml_parser_delete(&parser);

	/* On error the partial tree hangs off ps.root; keys still waiting for their value
	 * are not in it yet. */
	for (size_t i = 0; i < ps.depth; i++)
		ynode_free(ps.stack[i].pending_key);
	ynode_free(ps.root);
	free(ps.stack);
	anchors_clear(&ps);
	if (r < 0) {
		ydoc_free(ps.doc);
		return r;
	}
	*ret = ps.doc;
	return 0;
}

int ydoc_parse_file(const char *path, const struct ydoc_limits *limits, struct ydoc **ret,
		    struct errbuf *err)
{
	struct ydoc_limits lim;
	_cleanup_buf_ struct buf content = BUF_INIT(0);
	int r;

	limits_fill(&lim, limits);
	content.cap = lim.max_bytes;
	r = buf_read_file(&content, path);
	if (r == -E2BIG)
		return errbuf_set(err, r, "%s: larger than %zu bytes", path, lim.max_bytes);
	if (r < 0)
		return errbuf_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	return ydoc_parse(path, content.data, content.len, &lim, ret, err);
}

size_t ydoc_count(const struct ydoc *d)
{
	return d ? d->n : 0;
}

struct ynode *ydoc_root(const struct ydoc *d, size_t i)
{
	return d && i < d->n ? d->docs[i] : NULL;
}

struct ynode *ydoc_take_root(struct ydoc *d, size_t i)
{
	if (!d || i >= d->n)
		return NULL;
	struct ynode *n = d->docs[i];
	memmove(d->docs + i, d->docs + i + 1, (d->n - i - 1) * sizeof(*d->docs));
	d->n--;
	return n;
}

struct ydoc *ydoc_free(struct ydoc *d)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		ynode_free(d->docs[i]);
	free(d->docs);
	free(d);
	return NULL;
}

/* ---- emitting ---- */

/* Would this text, written plain, be read back as something other than a string? Words
 * YAML 1.1 reads as null or bool, and anything made only of what numbers are made of
 * (digits, sign, '.', '_', ':', exponents, 0x/0o/0b prefixes): readers disagree on the
 * exact number grammar, so every such text is quoted. */
static bool resolves_as_non_string(const char *v)
{
	static const char *const words[] = {
		"", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
		"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
		"y", "Y", "n", "N", ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN",
	};
	const char *p = v;

	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (strcmp(v, words[i]) == 0)
			return true;
	/* YAML 1.1 timestamps: 2026-11-28, 2026-11-28T21:50:29Z */
	if (strspn(v, "0123456789") == 4 && v[4] == '-' && v[5] >= '0' && v[5] <= '9')
		return true;
	if (*p == '-' || *p == '+')
		p++;
	if (*p == '.')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	if (p[0] == '0' && p[1] && strchr("xXoObB", p[1]))
		return p[2 + strspn(p + 2, "0123456789abcdefABCDEF_")] == '\0';
	return p[strspn(p, "0123456789+-._:eE")] == '\0';
}

static int emit_write(void *data, unsigned char *chunk, size_t size)
{
	return buf_append(data, chunk, size) == 0;
}

static int emit_node(yaml_emitter_t *em, const struct ynode *n)
{
	yaml_event_t ev;

	switch (n->kind) {
	case YNODE_SCALAR: {
		const char *text = n->value;
		yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
		/* A text with a line break is a string however it was written: keep it as
		 * a literal block (scripts, embedded documents), the same on every pass. */
		if (strchr(text, '\n'))
			style = YAML_LITERAL_SCALAR_STYLE;
		else if (n->plain && text[0] == '\0')
			text = "null";
		else if (!n->plain && resolves_as_non_string(text))
			style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
		/* libyaml checks the text here, and says nothing of why it refused it: it is
		 * not UTF-8 (or libyaml's own allocation failed) */
		if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text,
						  (int)strlen(text), 1, 1, style))
			return -EILSEQ;
		return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
	}
	case YNODE_MAP:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE))
			return -ENOMEM;
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
		for (size_t i = 0; i < n->n; i++) {
			int r = emit_node(em, n->keys[i]);
			if (r >= 0)
				r = emit_node(em, n->items[i]);
			if (r < 0)
				return r;
		}
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
	case YNODE_SEQ:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE))
			return -ENOMEM;
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
		for (size_t i = 0; i < n->n; i++) {
			int r = emit_node(em, n->items[i]);
			if (r < 0)
				return r;
		}
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
	}
	return -EINVAL;
}

static int emit_stream(yaml_emitter_t *em, struct ynode *const *docs, size_t n)
{
	yaml_event_t ev;
	int r;

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(em, &ev))
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, n == 1);
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
		r = emit_node(em, docs[i]);
		if (r < 0)
			return r;
		yaml_document_end_event_initialize(&ev, 1);
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
	}
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(em, &ev))
		return -EIO;
	return yaml_emitter_flush(em) ? 0 : -EIO;
}

int ydoc_emit(struct ynode *const *docs, size_t n, struct buf *out)
{
	return ydoc_emit_err(docs, n, out, NULL);
}

int ydoc_emit_err(struct ynode *const *docs, size_t n, struct buf *out, struct errbuf *err)
{
	yaml_emitter_t em;
	size_t start = out->len;
	int r;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output(&em, emit_write, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);
	r = emit_stream(&em, docs, n);
	/* The write handler's only failure is the buffer's cap. */
	if (r < 0 && em.error == YAML_WRITER_ERROR)
		r = -E2BIG;
	if (r < 0 && err)
		errbuf_set(err, r, "%s", r == -E2BIG ? "the YAML is over its size cap" :
			   r == -EILSEQ ? "libyaml refused a string that is not valid UTF-8" :
			   em.problem ? em.problem : strerror(-r));
	yaml_emitter_delete(&em);
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

int ynode_emit(const struct ynode *node, struct buf *out)
{
	struct ynode *const docs[] = { (struct ynode *)node };
	return ydoc_emit(docs, 1, out);
}
