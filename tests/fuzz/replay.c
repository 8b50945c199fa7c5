/* Replays fuzz inputs through a libFuzzer target without libFuzzer: every file named on
 * the command line, or found in a directory named there. Used by `make test` so the corpus
 * (seeds plus every crash ever found) is checked under sanitizers on each run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, unsigned *count)
{
	struct buf b = BUF_INIT(4 << 20);
	int r = buf_read_file(&b, path);

	if (r < 0) {
		fprintf(stderr, "replay: cannot read '%s'\n", path);
		return -1;
	}
	/* Copy into an exact-size allocation so ASan sees reads past the input's end. */
	uint8_t *exact = malloc(b.len ? b.len : 1);
	memcpy(exact, b.data, b.len);
	LLVMFuzzerTestOneInput(exact, b.len);
	free(exact);
	buf_release(&b);
	(*count)++;
	return 0;
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: '%s' does not exist\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, count);

	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort), r = 0;
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (r == 0 && names[i]->d_name[0] != '.') {
			char *child;
			if (asprintf(&child, "%s/%s", path, names[i]->d_name) < 0)
				abort();
			r = replay_path(child, count);
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) < 0)
			return 1;
	printf("%s: %u inputs replayed\n", argv[0], count);
	return count > 0 ? 0 : 1;
}
