/* The step journal read from a host (common/journal.h) on hostile text: it is refused with
 * a message, or every record keeps the rules (a step name, KEY=VALUE words within their
 * caps), writes back as a line that parses again, and compacts into a journal that parses
 * with one record per step. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf err = ERRBUF_INIT;
	struct journal *j = NULL, *c = NULL;
	struct buf out = BUF_INIT(JOURNAL_MAX_BYTES + JOURNAL_MAX_LINE);
	bool torn = false;
	int r = journal_parse((const char *)data, size, &j, &torn, &err);

	if (r < 0) {
		assert((r == -EBADMSG || r == -E2BIG) && err.msg[0] && !j);
		return 0;
	}
	assert(journal_count(j) <= JOURNAL_MAX_LINES);
	for (size_t i = 0; i < journal_count(j); i++) {
		const char *step = journal_step(j, i);
		assert(step && strlen(step) <= JOURNAL_MAX_STEP && !strchr(step, ' '));
		assert(journal_time(j, i) >= 0);
		assert(journal_last(j, step) >= (long)i);
		buf_reset(&out);
		assert(journal_line(step, journal_time(j, i), "", &out) == 0);
		assert(journal_line_check(out.data, &err) == 0);
	}
	buf_reset(&out);
	assert(journal_compact(j, &out) == 0);
	assert(journal_parse(out.data, out.len, &c, &torn, &err) == 0 && !torn);
	assert(journal_count(c) <= journal_count(j));
	for (size_t i = 0; i < journal_count(c); i++)
		assert(journal_last(c, journal_step(c, i)) == (long)i);
	journal_free(c);
	journal_free(j);
	buf_release(&out);
	return 0;
}
