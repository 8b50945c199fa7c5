/* Kubefile parser: any input parses or fails with a file:line message; a parsed file
 * starts with exactly one FROM, COPY has a source and a destination, LABEL has key=value
 * pairs with non-empty keys, and expanding every
 * RUN/CMD with the file's ARGs terminates. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct kv vars[64];
	size_t nvars = 0;

	if (kubefile_parse("fuzz", (const char *)data, size, &kf, &err) < 0) {
		assert(strncmp(err.msg, "fuzz", 4) == 0);
		return 0;
	}
	assert(kubefile_count(kf) > 0 && kubefile_at(kf, 0)->kind == KF_FROM);
	for (size_t i = 0; i < kubefile_count(kf); i++) {
		const struct kf_instr *in = kubefile_at(kf, i);
		assert(i == 0 || in->kind != KF_FROM);
		assert(in->text[0]);
		if (in->kind == KF_COPY)
			assert(in->argc >= 2);
		if (in->kind == KF_LABEL)
			assert(in->argc >= 2 && in->argc % 2 == 0 && in->argv[0][0]);
		if (in->kind == KF_ARG && nvars < 64)
			vars[nvars++] = (struct kv){ in->argv[0], in->arg_has_default ? in->argv[1] : in->argv[0] };
		if (in->kind == KF_RUN || in->kind == KF_CMD)
			free(kubefile_expand(in->text, vars, nvars));
	}
	kubefile_free(kf);
	return 0;
}
