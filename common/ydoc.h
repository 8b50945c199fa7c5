/* YAML documents as trees, on libyaml. Every node keeps the line and column it came from so
 * that validation errors can name them. JSON is read by the same parser (libyaml accepts
 * JSON's flow syntax), so no JSON parser is written by hand.
 *
 * Maps keep their keys in document order. Scalars remember whether they were plain
 * (type decided by their text: 3, true, null) or quoted/tagged !!str (always a string), so
 * emitting a tree back keeps each value's type. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

enum ynode_kind {
	YNODE_SCALAR,
	YNODE_MAP,
	YNODE_SEQ,
};

struct ynode;
struct ydoc;

enum ymerge_list {
	YMERGE_LIST_REPLACE, /* a list in the overlay replaces the base's list */
	YMERGE_LIST_APPEND,  /* a list in the overlay is appended to the base's list */
};

struct ydoc_limits {
	size_t max_bytes; /* input size; default 64 MiB */
	size_t max_depth; /* nesting; default 128 */
	size_t max_nodes; /* nodes after alias expansion; default 1,000,000 */
};

/* Parses a stream of zero or more documents. name is used in error messages (a file name).
 * On failure err->line/column hold the 1-based position and err->msg reads
 * "NAME:LINE:COL: problem". limits may be NULL for the defaults. */
int ydoc_parse(const char *name, const void *data, size_t len, const struct ydoc_limits *limits,
	       struct ydoc **ret, struct errbuf *err);
int ydoc_parse_file(const char *path, const struct ydoc_limits *limits, struct ydoc **ret,
		    struct errbuf *err);

size_t ydoc_count(const struct ydoc *d);
struct ynode *ydoc_root(const struct ydoc *d, size_t i);
/* Removes document i from the stream and hands it to the caller. */
struct ynode *ydoc_take_root(struct ydoc *d, size_t i);
struct ydoc *ydoc_free(struct ydoc *d);

/* Emits documents as one YAML stream ("---" between documents). */
int ydoc_emit(struct ynode *const *docs, size_t n, struct buf *out);
/* The same, with why it failed in err when err is not NULL: libyaml's own words, -EILSEQ
 * for a string that is not UTF-8, -E2BIG when out's cap is reached. */
int ydoc_emit_err(struct ynode *const *docs, size_t n, struct buf *out, struct errbuf *err);
int ynode_emit(const struct ynode *node, struct buf *out);

/* Building trees. The new_* functions never fail (allocation failure aborts). Nodes
 * built here have line 0. */
struct ynode *ynode_new_map(void);
struct ynode *ynode_new_seq(void);
struct ynode *ynode_new_str(const char *s);   /* a string, quoted on output if needed */
struct ynode *ynode_new_plain(const char *s); /* text whose type YAML resolves: 3, true */
struct ynode *ynode_new_int(int64_t v);
struct ynode *ynode_new_uint(uint64_t v);
struct ynode *ynode_new_bool(bool v);
struct ynode *ynode_new_null(void);
struct ynode *ynode_dup(const struct ynode *n);
struct ynode *ynode_free(struct ynode *n);

/* Takes ownership of value (and frees it on error). Replaces an existing key's value.
 * -EINVAL if map is not a map. */
int ynode_map_set(struct ynode *map, const char *key, struct ynode *value);
/* Removes key and its value; -ENOENT when absent, -EINVAL if map is not a map. */
int ynode_map_remove(struct ynode *map, const char *key);
/* Takes ownership of item. -EINVAL if seq is not a sequence. */
int ynode_seq_append(struct ynode *seq, struct ynode *item);

enum ynode_kind ynode_kind(const struct ynode *n);
unsigned ynode_line(const struct ynode *n);
unsigned ynode_column(const struct ynode *n);
/* The text of a scalar, NULL for a map or sequence. */
const char *ynode_str(const struct ynode *n);
bool ynode_is_plain(const struct ynode *n);
/* A literal block scalar (`key: |`): line i (0-based) of its text was read from line
 * ynode_line(n) + 1 + i, so errors about a line inside it can name the file's line. */
bool ynode_is_literal(const struct ynode *n);
/* A plain scalar spelled as YAML's null: empty, ~, null. */
bool ynode_is_null(const struct ynode *n);
/* Entries of a map or items of a sequence; 0 for a scalar. */
size_t ynode_len(const struct ynode *n);
struct ynode *ynode_seq_at(const struct ynode *n, size_t i);
const char *ynode_map_key_at(const struct ynode *n, size_t i);
/* The key as a node, for its position. */
struct ynode *ynode_map_key_node_at(const struct ynode *n, size_t i);
struct ynode *ynode_map_value_at(const struct ynode *n, size_t i);
struct ynode *ynode_map_get(const struct ynode *n, const char *key);

/* Looks a node up by path: "spec.hosts[0].ips"; "\." is a dot inside a key. NULL when any
 * step is missing or of the wrong kind. */
struct ynode *ynode_get(const struct ynode *n, const char *path);

/* Scalar conversions: -EINVAL when n is not a scalar of that type, -ERANGE on overflow. */
int ynode_get_bool(const struct ynode *n, bool *ret);
int ynode_get_int(const struct ynode *n, int64_t *ret);

/* Deep-merges overlay into base, both maps: maps merge key by key, sequences replace or
 * append as list says, anything else in overlay replaces base. overlay is not changed. */
int ynode_merge(struct ynode *base, const struct ynode *overlay, enum ymerge_list list);

static inline void ynode_freep(struct ynode **n)
{
	ynode_free(*n);
}
static inline void ydoc_freep(struct ydoc **d)
{
	ydoc_free(*d);
}
