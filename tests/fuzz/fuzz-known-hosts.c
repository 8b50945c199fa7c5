/* known_hosts lines on hostile input: the first line of the input is parsed, the rest
 * (capped) is a host name to match it against. Any input: no crash, no leak, and what
 * parses is consistent (the blob names the type the line does). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "known-hosts-line.h"

#define NAME_MAX_FUZZ 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "10.1.1.1", "[10.1.1.1]:2222", "node1", "" };
	const char *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - (const char *)data) : size;
	char name[NAME_MAX_FUZZ + 1];
	size_t nn = 0;
	struct errbuf err = ERRBUF_INIT;
	struct kh_line l;
	int r;

	for (size_t i = len + 1; i < size && nn < NAME_MAX_FUZZ; i++)
		if (data[i] != '\0')
			name[nn++] = (char)data[i];
	name[nn] = '\0';
	r = kh_line_parse((const char *)data, len, &l, &err);
	if (r < 0) {
		assert(r == -EBADMSG && errbuf_msg(&err)[0] != '\0');
		return 0;
	}
	if (r == 1) {
		size_t tn = strlen(l.type);
		assert(l.hosts && l.hosts[0] != '\0');
		assert(l.blob_len > 4 + tn && memcmp(l.blob + 4, l.type, tn) == 0);
		(void)kh_line_matches(&l, name);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			(void)kh_line_matches(&l, names[i]);
		kh_line_free(&l);
	}
	(void)kh_pattern_match((const char *)data, len < 4096 ? len : 4096, name, nn);
	return 0;
}
