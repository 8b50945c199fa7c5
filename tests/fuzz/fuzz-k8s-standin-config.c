/* The STAND-IN kubeadm's strict config decoder (tests/fixtures/k8s-standin): any input is
 * accepted or refused without a crash, and an accepted one is accepted again. The helper is
 * a program of its own; its source is included without its main. */
#define K8S_STANDIN_NO_MAIN
/* Only the decoder is used here; the other subcommands stay unused. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../fixtures/k8s-standin/src/k8s-standin-helper.c"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_CONFIG_BYTES)
		return 0;
	/* Refusals print their reason; keep the fuzzer's output readable. */
	FILE *saved = stderr;
	FILE *null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
	int first = config_check_buf("fuzz", data, size, "v1beta3", NULL);
	int again = config_check_buf("fuzz", data, size, "v1beta3", NULL);
	stderr = saved;
	if (null)
		fclose(null);
	assert(first == 0 || first == 1);
	assert(first == again);
	return 0;
}
