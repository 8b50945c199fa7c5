/* Scope-bound ownership: locals marked with these are released when they leave scope.
 * TAKE_PTR/TAKE_FD hand ownership out of such a local. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* For types whose destructor takes the pointer itself: defines funcp(type *). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                \
	static inline void func##p(type *p)                                                    \
	{                                                                                      \
		if (*p)                                                                        \
			func(*p);                                                              \
	}

#define TAKE_PTR(p)                                                                            \
	({                                                                                     \
		__typeof__(p) _take_ptr = (p);                                                 \
		(p) = NULL;                                                                    \
		_take_ptr;                                                                     \
	})

#define TAKE_FD(fd)                                                                            \
	({                                                                                     \
		int _take_fd = (fd);                                                           \
		(fd) = -1;                                                                     \
		_take_fd;                                                                      \
	})
