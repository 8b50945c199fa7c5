/* os-release parsing on hostile files: any input, any key, no crash and a bounded,
 * NUL-free-terminated value. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "ID", "VERSION_ID", "PRETTY_NAME", "" };

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char *v = NULL;
		if (os_release_parse((const char *)data, size, keys[k], &v) == 0) {
			assert(strlen(v) <= size);
			free(v);
		}
	}
	return 0;
}
