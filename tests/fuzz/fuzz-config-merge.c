/* The merge strategy of Config documents on two YAML texts (the file, then spec.data,
 * split at the first NUL byte): any input merges or fails with a message naming one of
 * the two; a merge emits YAML that parses again into as many documents as the file had. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "config-apply.h"
#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t base_len = nul ? (size_t)(nul - text) : size;
	const char *overlay = nul ? nul + 1 : "";
	size_t overlay_len = nul ? size - base_len - 1 : 0;
	struct errbuf err = ERRBUF_INIT;
	struct buf out = BUF_INIT(16u << 20);
	struct ydoc *base = NULL, *again = NULL;

	if (size > (1u << 16))
		return 0;
	if (config_merge_yaml("file", text, base_len, "data", overlay, overlay_len, &out, &err) < 0) {
		assert(err.code < 0);
		assert(strncmp(err.msg, "file", 4) == 0 || strncmp(err.msg, "data", 4) == 0);
		buf_release(&out);
		return 0;
	}
	assert(ydoc_parse("file", text, base_len, NULL, &base, NULL) == 0);
	assert(ydoc_parse("out", out.data, out.len, NULL, &again, &err) == 0);
	assert(ydoc_count(again) == ydoc_count(base));
	ydoc_free(base);
	ydoc_free(again);
	buf_release(&out);
	return 0;
}
