/* The layer index record parser (installer/layer-index.h) on any bytes: no crash, no read
 * past the input, and what it accepts keeps the record's promises (paths non-empty without
 * NULs, data within the cap and NUL-terminated). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "layer-index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"
#define DATA_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layer_index *x = NULL;

	if (layer_index_parse((const char *)data, size, DIGEST, DATA_MAX, &x) < 0)
		return 0;
	for (size_t i = 0; i < layer_index_count(x); i++) {
		const struct layer_index_entry *e = layer_index_at(x, i);
		assert(e->path[0] && strlen(e->path) < size);
		assert(!e->data || (e->len <= DATA_MAX + 1 && e->data[e->len] == '\0'));
	}
	layer_index_free(x);
	return 0;
}
