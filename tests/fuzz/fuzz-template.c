/* Template renderer: any text renders or fails with file:line, bounded in time and depth,
 * and a failure leaves no partial output. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char k1[] = "A", v1[] = "x;y;z", k2[] = "B", v2[] = "", k3[] = "C", v3[] = "c";
	const struct kv vars[] = { { k1, v1 }, { k2, v2 }, { k3, v3 } };
	struct buf out = BUF_INIT(1 << 24);
	struct errbuf err = ERRBUF_INIT;

	buf_puts(&out, "pre");
	if (template_render("fuzz", (const char *)data, size, vars, 3, &out, &err) < 0) {
		assert(strncmp(err.msg, "fuzz:", 5) == 0 || strstr(err.msg, "too large"));
		assert(out.len == 3);
	}
	buf_release(&out);
	return 0;
}
