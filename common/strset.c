#include "strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

struct strset {
	char **slots;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct strset *strset_new(void)
{
	struct strset *s = xcalloc(1, sizeof(*s));
	s->cap = 64;
	s->slots = xcalloc(s->cap, sizeof(*s->slots));
	return s;
}

struct strset *strset_free(struct strset *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s);
	return NULL;
}

static size_t find_slot(char *const *slots, size_t cap, const char *str, size_t n)
{
	size_t i = (size_t)hash(str, n) & (cap - 1);
	while (slots[i] && !(strncmp(slots[i], str, n) == 0 && slots[i][n] == '\0'))
		i = (i + 1) & (cap - 1);
	return i;
}

static void grow(struct strset *s)
{
	size_t cap = s->cap * 2;
	char **slots = xcalloc(cap, sizeof(*slots));

	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			slots[find_slot(slots, cap, s->slots[i], strlen(s->slots[i]))] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
}

int strset_addn(struct strset *s, const char *str, size_t n)
{
	if ((s->n + 1) * 4 > s->cap * 3)
		grow(s);
	size_t i = find_slot(s->slots, s->cap, str, n);
	if (s->slots[i])
		return 0;
	s->slots[i] = xstrndup(str, n);
	s->n++;
	return 1;
}

int strset_add(struct strset *s, const char *str)
{
	return strset_addn(s, str, strlen(str));
}

bool strset_contains(const struct strset *s, const char *str)
{
	return s->slots[find_slot(s->slots, s->cap, str, strlen(str))] != NULL;
}

size_t strset_size(const struct strset *s)
{
	return s->n;
}
