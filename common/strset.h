/* A set of strings (open addressing, FNV-1a): which paths a layer has touched, which
 * digests a host holds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strset;

struct strset *strset_new(void);
struct strset *strset_free(struct strset *s);
/* Returns 1 when added, 0 when it was there already. */
int strset_add(struct strset *s, const char *str);
int strset_addn(struct strset *s, const char *str, size_t n);
bool strset_contains(const struct strset *s, const char *str);
size_t strset_size(const struct strset *s);

static inline void strset_freep(struct strset **s)
{
	strset_free(*s);
}
