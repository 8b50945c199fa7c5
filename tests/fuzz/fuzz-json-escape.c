/* JSON string escaping: for any bytes the output is one valid JSON string, and when the
 * input is valid UTF-8 it reads back (through ydoc) as exactly the input. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "json-writer.h"
#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(16 << 20), doc = BUF_INIT(16 << 20);
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;

	assert(json_escape(&out, (const char *)data, size) == 0);
	assert(out.len >= 2 && out.data[0] == '"' && out.data[out.len - 1] == '"');
	for (size_t i = 0; i < out.len; i++)
		assert((unsigned char)out.data[i] >= 0x20 && out.data[i] != 0x7f);
	buf_printf(&doc, "[%s]", out.data);
	int r = ydoc_parse("escaped", doc.data, doc.len, NULL, &d, &err);
	if (memchr(data, 0, size)) {
		/* ydoc refuses NUL inside scalars (C strings), and says so. */
		assert(r == -EBADMSG);
	} else {
		assert(r == 0);
		const char *back = ynode_str(ynode_seq_at(ydoc_root(d, 0), 0));
		assert(back);
		/* Without invalid UTF-8 the text survives exactly. */
		if (!strstr(out.data, "\\ufffd"))
			assert(strlen(back) == size && memcmp(back, data, size) == 0);
		ydoc_free(d);
	}
	buf_release(&out);
	buf_release(&doc);
	return 0;
}
