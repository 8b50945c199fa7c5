/* Clusterfile `Config` documents applied to a rootfs before templates are rendered:
 * spec.path (a file beneath the rootfs), spec.data (its text) and spec.strategy.
 *
 * Strategies (sealer defines merge and treats anything else as an overwrite; insert and
 * append are this project's, asked for by users of sealer's later releases):
 *   override (the default, as sealer): the file becomes data; created when missing.
 *   merge:  data (YAML, one or more documents) is deep-merged over the file (YAML): maps
 *           key by key, adding keys the file lacks; lists and scalars of data replace
 *           the file's. A data document with `kind` (and metadata.name when it has one)
 *           merges into the file's document of that kind and name; one without `kind`
 *           merges into the file's document at the same index. No match is an error, as
 *           is a missing file (sealer reads the file first and fails). Comments and
 *           formatting of the file are not kept (the result is emitted from the tree).
 *   insert: data, then the file's content (a newline added after data when it lacks
 *           one); created when missing.
 *   append: the file's content (a newline added when it lacks one), then data; created
 *           when missing.
 * Missing parent directories are created (sealer writes with MkdirAll). The target is
 * reached beneath the rootfs fd without following any symlink, must be a regular file
 * when it exists, and is replaced atomically with its mode kept (0644 when new). */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "error.h"

enum config_strategy {
	CONFIG_OVERRIDE,
	CONFIG_MERGE,
	CONFIG_INSERT,
	CONFIG_APPEND,
};

struct config_doc {
	char *name;	/* metadata.name */
	char *path;	/* spec.path, relative to the rootfs (a leading '/' is dropped) */
	char *data;	/* spec.data */
	enum config_strategy strategy;
	char *file;	/* where the document came from, for messages */
	unsigned line;
};

/* The cap on a target file read for merge/insert/append. */
#define CONFIG_FILE_MAX (16u << 20)

/* "merge" → CONFIG_MERGE; -EINVAL for an unknown name. */
int config_strategy_parse(const char *s, enum config_strategy *ret);
const char *config_strategy_name(enum config_strategy s);

/* A spec.path that stays beneath the rootfs: not empty, no "..", no NUL-free oddities
 * (control characters), not the rootfs itself, at most PATH_MAX. err says why. */
int config_path_check(const char *path, struct errbuf *err);

/* The merge strategy on two texts: overlay's documents deep-merged over base's as
 * described above. out gets the merged YAML stream. Errors name base_name or
 * overlay_name with line and column. */
int config_merge_yaml(const char *base_name, const char *base, size_t base_len,
		      const char *overlay_name, const char *overlay, size_t overlay_len,
		      struct buf *out, struct errbuf *err);

/* Applies c beneath rootfd. Errors name the Config (file:line, name) and the target. */
int config_apply(int rootfd, const struct config_doc *c, struct errbuf *err);

void config_doc_release(struct config_doc *c);
