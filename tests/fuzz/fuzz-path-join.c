/* Safe path join: whatever the relative path, a result stays under the base and has no
 * "." or ".." component; anything else is refused. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs-util.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rel = xstrndup((const char *)data, size), *out = NULL;
	const char *base = "/var/lib/cirun/rootfs";
	int r = path_join_safe(base, rel, &out);

	if (r == 0) {
		size_t blen = strlen(base);
		assert(strncmp(out, base, blen) == 0);
		assert(out[blen] == '\0' || out[blen] == '/');
		assert(!strstr(out, "/../") && !strstr(out, "/./") && !strstr(out, "//"));
		size_t n = strlen(out);
		assert(!(n >= 3 && strcmp(out + n - 3, "/..") == 0));
		assert(!(n >= 2 && strcmp(out + n - 2, "/.") == 0));
		free(out);
	} else {
		assert(r == -EPERM || r == -EINVAL || r == -ENAMETOOLONG);
		assert(!out);
	}
	free(rel);
	return 0;
}
