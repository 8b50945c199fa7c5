#include "k8s-name.h"

#include <stdbool.h>
#include <string.h>

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* NAME of a qualified name, and a label value when non-empty */
static const char *name_part_invalid(const char *s, size_t len)
{
	if (len == 0)
		return "the name part is empty";
	if (len > 63)
		return "the name part is longer than 63 characters";
	if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return "it must start and end with a letter or digit";
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "only letters, digits, '-', '_' and '.' are allowed";
	return NULL;
}

static const char *subdomain_invalid(const char *s, size_t len, unsigned max_len)
{
	if (len == 0)
		return "it is empty";
	if (len > max_len)
		return "it is too long";
	for (size_t start = 0; start <= len;) {
		const char *dot = memchr(s + start, '.', len - start);
		size_t end = dot ? (size_t)(dot - s) : len;
		if (end == start)
			return "it has an empty part between dots";
		if (end - start > 63)
			return "a part between dots is longer than 63 characters";
		if (!is_lower_alnum(s[start]) || !is_lower_alnum(s[end - 1]))
			return "each part must start and end with a lower-case letter or digit";
		for (size_t i = start; i < end; i++)
			if (!is_lower_alnum(s[i]) && s[i] != '-')
				return "only lower-case letters, digits, '-' and '.' are allowed";
		start = end + 1;
	}
	return NULL;
}

const char *k8s_qualified_name_invalid(const char *s)
{
	const char *slash = strchr(s, '/');

	if (!slash)
		return name_part_invalid(s, strlen(s));
	if (strchr(slash + 1, '/'))
		return "it has more than one '/'";
	if (slash == s)
		return "the prefix before '/' is empty";
	if (subdomain_invalid(s, (size_t)(slash - s), 253))
		return "the prefix before '/' must be a lower-case DNS subdomain (at most 253)";
	return name_part_invalid(slash + 1, strlen(slash + 1));
}

const char *k8s_label_value_invalid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return NULL;
	if (len > 63)
		return "it is longer than 63 characters";
	return name_part_invalid(s, len);
}

const char *k8s_dns_subdomain_invalid(const char *s, unsigned max_len)
{
	return subdomain_invalid(s, strlen(s), max_len);
}
