/* Image references: any input parses or fails with a message; a parsed reference formats
 * to a normal form that parses back to the same parts, and its served name has no registry
 * host and only characters safe in a path. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image-ref.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct imgref r, again;
	struct errbuf err = ERRBUF_INIT;
	char full[1024], local[1024];

	if (imgref_parse(s, &r, &err) < 0) {
		assert(err.code < 0 && err.msg[0]);
		free(s);
		return 0;
	}
	assert(imgref_path_valid(r.path));
	assert(imgref_domain_valid(r.domain));
	assert(r.tag[0] || r.digest[0]);
	assert(!r.tag[0] || imgref_tag_valid(r.tag));
	assert(!strstr(r.path, ".."));
	assert(imgref_format(&r, full, sizeof(full)) == 0);
	assert(imgref_parse(full, &again, &err) == 0);
	assert(memcmp(&r, &again, sizeof(r)) == 0);
	assert(imgref_format_local(&r, local, sizeof(local)) == 0);
	assert(local[0] != '/');
	free(s);
	return 0;
}
