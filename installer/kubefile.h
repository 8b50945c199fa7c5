/* Kubefile parser: FROM, COPY, ARG, RUN, CMD, LABEL, comments, blank lines and "\" continuations.
 * Every error names the file, the line and the instruction. Nothing is executed here: the
 * builder walks the parsed instructions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "kv.h"

enum kf_kind {
	KF_FROM,
	KF_COPY,
	KF_ARG,
	KF_RUN,
	KF_CMD,
	KF_LABEL,
};

struct kf_instr {
	enum kf_kind kind;
	unsigned line;	/* where the instruction starts (1-based) */
	char *text;	/* the argument text, continuations joined: "echo ${Version} > x" */
	/* FROM: [image]; COPY: [src…, dest]; ARG: [name] or [name, default]; RUN/CMD: [];
	 * LABEL: [key, value, key, value…] (quotes removed) */
	char **argv;
	size_t argc;
	bool arg_has_default; /* ARG name=value (value may be empty) */
};

struct kubefile;

int kubefile_parse(const char *name, const char *text, size_t len, struct kubefile **ret,
		   struct errbuf *err);
int kubefile_parse_file(const char *path, struct kubefile **ret, struct errbuf *err);
struct kubefile *kubefile_free(struct kubefile *kf);

size_t kubefile_count(const struct kubefile *kf);
const struct kf_instr *kubefile_at(const struct kubefile *kf, size_t i);
const char *kf_kind_name(enum kf_kind kind);


/* Replaces ${name} and $name for the names in vars; other text (unknown names, $1, $$,
 * ${name:-x}, a "$" after a backslash) stays as it is, for the shell to see. */
char *kubefile_expand(const char *s, const struct kv *vars, size_t nvars);

/* Where one COPY source lands (docs/kubefile.md), as sealer places it. src is the source as
 * written, name its base name on disk, dest the normalised destination ("" for the root);
 * dest_dir tells whether dest names a directory (several sources, a glob, a trailing "/",
 * no dot in its last part). Returns the layer path of the source itself; *contents is set
 * when only what is inside the directory source goes into that path. */
char *kubefile_copy_target(const char *src, const char *name, bool is_dir, const char *dest,
			   bool dest_dir, bool *contents);

/* The --build-arg names that no ARG of kf declares, blank-separated; NULL when all are. */
char *kubefile_unconsumed_args(const struct kubefile *kf, const struct kv *args, size_t n);

static inline void kubefile_freep(struct kubefile **kf)
{
	kubefile_free(*kf);
}
