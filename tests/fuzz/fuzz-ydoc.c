/* YAML/JSON parser: any input either parses or fails with a position; a parsed tree
 * emits, and what it emits parses again to a tree that emits the same text. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ydoc_limits lim = { .max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 20000 };
	struct errbuf err = ERRBUF_INIT;
	struct ydoc *d = NULL, *again = NULL;
	struct buf first = BUF_INIT(8 << 20), second = BUF_INIT(8 << 20);
	size_t n;

	if (ydoc_parse("fuzz", data, size, &lim, &d, &err) < 0) {
		assert(err.code < 0 && err.msg[0]);
		return 0;
	}
	n = ydoc_count(d);
	for (size_t i = 0; i < n; i++) {
		(void)ynode_get(ydoc_root(d, i), "a.b[0].c");
		struct ynode *copy = ynode_dup(ydoc_root(d, i));
		if (ynode_kind(copy) == YNODE_MAP)
			assert(ynode_merge(copy, ydoc_root(d, i), YMERGE_LIST_APPEND) == 0);
		ynode_free(copy);
	}
	struct ynode **docs = malloc((n ? n : 1) * sizeof(*docs));
	for (size_t i = 0; i < n; i++)
		docs[i] = ydoc_root(d, i);
	/* Emitting can only fail on the buffer's cap; our own output must always be readable
	 * by our own parser and be stable from then on. */
	if (ydoc_emit(docs, n, &first) == 0) {
		int r = ydoc_parse("emitted", first.data, first.len, NULL, &again, &err);
		assert(r == 0);
		assert(ydoc_count(again) == n);
		for (size_t i = 0; i < n; i++)
			docs[i] = ydoc_root(again, i);
		assert(ydoc_emit(docs, n, &second) == 0);
		assert(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
		ydoc_free(again);
	}
	free(docs);
	buf_release(&first);
	buf_release(&second);
	ydoc_free(d);
	return 0;
}
