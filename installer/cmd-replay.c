#include "cmd-replay.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "cluster.h"
#include "macro.h"

static const struct kv *find(const struct kv *v, size_t n, const char *name, size_t len)
{
	for (size_t i = n; i > 0; i--)
		if (strlen(v[i - 1].key) == len && memcmp(v[i - 1].key, name, len) == 0)
			return &v[i - 1];
	return NULL;
}

const char *cmd_arg_value(const struct kv *args, size_t nargs, const struct kv *over,
			  size_t nover, const char *name, size_t len)
{
	const struct kv *v = find(over, nover, name, len);

	if (!v)
		v = find(args, nargs, name, len);
	return v ? v->value : NULL;
}

static bool name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static size_t name_len(const char *s)
{
	size_t n = 0;

	if (!name_start(s[0]))
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

/* At p (a '$'): the reference's length and value when it names an ARG, else 0. */
static size_t reference(const char *p, const struct kv *args, size_t nargs,
			const struct kv *over, size_t nover, const char **value)
{
	bool braced = p[1] == '{';
	const char *name = p + 1 + braced;
	size_t len = name_len(name);

	if (!len || (braced && name[len] != '}'))
		return 0;
	*value = cmd_arg_value(args, nargs, over, nover, name, len);
	return *value ? 1 + braced + len + braced : 0;
}

int cmd_expand(const char *cmd, const struct kv *args, size_t nargs, const struct kv *over,
	       size_t nover, char **ret)
{
	_cleanup_buf_ struct buf out = BUF_INIT(CMD_EXPANDED_MAX);
	bool single = false, dbl = false;
	int r = 0;

	*ret = NULL;
	for (const char *p = cmd; *p && r >= 0;) {
		const char *value;
		size_t n;

		if (single) {
			single = *p != '\'';
		} else if (*p == '\\' && p[1]) {
			r = buf_append(&out, p, 2); /* \$, \", \' stay as written for the shell */
			p += 2;
			continue;
		} else if (*p == '\'' && !dbl) {
			single = true;
		} else if (*p == '"') {
			dbl = !dbl;
		} else if (*p == '$' && (n = reference(p, args, nargs, over, nover, &value))) {
			r = buf_puts(&out, value);
			p += n;
			continue;
		}
		r = buf_putc(&out, *p++);
	}
	if (r < 0)
		return r;
	*ret = buf_detach(&out, NULL);
	return 0;
}

void cmd_args_set(struct kv **list, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i].key, key) == 0) {
			free((*list)[i].value);
			(*list)[i].value = xstrdup(value);
			return;
		}
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[*n].key = xstrdup(key);
	(*list)[*n].value = xstrdup(value);
	(*n)++;
}

int cmd_args_parse(const char *s, struct kv **list, size_t *n, struct errbuf *err)
{
	_cleanup_free_ char *copy = xstrdup(s);
	char *rest = copy, *item;

	while ((item = strsep(&rest, ","))) {
		struct kv kv;
		if (!*item)
			return errbuf_set(err, -EINVAL, "--cmd-args '%s': an empty item; give "
					  "K=V[,K=V…]", s);
		if (parse_env_item(item, &kv, err) < 0)
			return errbuf_prefix(err, "--cmd-args (items are split on ','; a value with a "
					     "comma goes into the Clusterfile's spec.cmd_args)");
		cmd_args_set(list, n, kv.key, kv.value);
		free(kv.key);
		free(kv.value);
	}
	return 0;
}
