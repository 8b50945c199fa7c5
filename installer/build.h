/* Lite build: a Kubefile and a build context make a cluster image in the store.
 *
 * FROM names the base (scratch or a stored image); each COPY and each RUN makes one layer;
 * ARG and CMD are recorded. RUN runs /bin/sh -c on this machine with its working directory
 * in an overlay mount of the image so far (lower: the layers, upper: the new layer), with
 * the rootfs bin/ on PATH and the ARGs in its environment; the upper dir becomes the
 * layer. Where overlay cannot be mounted, the layers are flattened into a scratch dir and
 * the changes RUN made are found by comparing before and after (same layer content).
 * Layers are cached by (parent chain, instruction, ARGs, digest of COPY sources). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "image-store.h"
#include "kubefile.h"

struct build_opts {
	const char *context;	/* build context directory */
	const char *kubefile;	/* NULL: CONTEXT/Kubefile */
	const char *name;	/* NAME[:TAG] */
	const struct kv *build_args;
	size_t nbuild_args;
	bool no_cache;
	bool copy_fallback;	/* run RUN without overlay (also chosen when overlay fails) */
};

int image_build(struct image_store *st, const struct build_opts *o, char **ret_id,
		struct errbuf *err);
