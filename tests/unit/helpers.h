/* Shared bits for the cmocka unit tests: a private temp dir per test. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* setup/teardown pair: *state is the test's own empty directory. */
static inline int tmpdir_setup(void **state)
{
	char tmpl[] = "/tmp/cirun-unit-XXXXXX";
	char *dir = mkdtemp(tmpl);
	if (!dir)
		return -1;
	*state = strdup(dir);
	return *state ? 0 : -1;
}

static inline int tmpdir_teardown(void **state)
{
	int r = nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return r;
}

static inline char *tmp_path(void **state, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", (const char *)*state, name) < 0)
		abort();
	return p;
}
