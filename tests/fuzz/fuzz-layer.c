/* Layer reader: any bytes as a layer applied to a scratch tree must either apply or fail
 * cleanly, and never write outside that tree. Each input gets a fresh tree under a fixed
 * sandbox dir; a sentinel file beside the tree must survive. Applied flat, then unpacked
 * in the layer store's form. */
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sandbox[64];

static void remove_sandbox(void)
{
	rm_rf_at(AT_FDCWD, sandbox);
}

static void setup(void)
{
	if (sandbox[0])
		return;
	snprintf(sandbox, sizeof(sandbox), "/tmp/cirun-fuzz-layer-%d", (int)getpid());
	mkdir(sandbox, 0700);
	atexit(remove_sandbox);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char root[128], sentinel[128], input[128];
	struct errbuf err = ERRBUF_INIT;
	struct stat st;
	int dfd, fd;

	setup();
	dfd = open(sandbox, O_RDONLY | O_DIRECTORY);
	rm_rf_at(dfd, "root");
	snprintf(root, sizeof(root), "%s/root", sandbox);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", sandbox);
	snprintf(input, sizeof(input), "%s/input", sandbox);
	mkdir(root, 0755);
	fclose(fopen(sentinel, "w"));
	fd = open(input, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert(write(fd, data, size) == (ssize_t)size);
	lseek(fd, 0, SEEK_SET);
	if (layer_apply_fd(root, fd, NULL, NULL, &err) < 0)
		assert(err.code < 0 && err.msg[0]);
	/* the same bytes into the agent's layer store form */
	rm_rf_at(dfd, "root");
	mkdir(root, 0755);
	lseek(fd, 0, SEEK_SET);
	err = (struct errbuf)ERRBUF_INIT;
	if (layer_unpack_store_fd(root, fd, NULL, NULL, &err) < 0)
		assert(err.code < 0 && err.msg[0]);
	close(fd);
	assert(stat(sentinel, &st) == 0 && st.st_size == 0);
	rm_rf_at(dfd, "root");
	close(dfd);
	return 0;
}
