#include "kubefile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "macro.h"
#include "name.h"
#include "ydoc.h"

#define KUBEFILE_MAX_BYTES (4u << 20)
#define KUBEFILE_MAX_LINE (1u << 20)

struct kubefile {
	struct kf_instr *v;
	size_t n;
};

static const char *const kind_names[] = {
	[KF_FROM] = "FROM", [KF_COPY] = "COPY", [KF_ARG] = "ARG", [KF_RUN] = "RUN", [KF_CMD] = "CMD",
	[KF_LABEL] = "LABEL",
};

/* Dockerfile instructions a Kubefile does not have, so the error can say so. */
static const char *const docker_only[] = {
	"ADD", "ENV", "WORKDIR", "USER", "EXPOSE", "VOLUME", "ENTRYPOINT", "ONBUILD",
	"STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
};

const char *kf_kind_name(enum kf_kind kind)
{
	return kind < ELEMENTSOF(kind_names) ? kind_names[kind] : "?";
}

static void instr_release(struct kf_instr *in)
{
	free(in->text);
	for (size_t i = 0; i < in->argc; i++)
		free(in->argv[i]);
	free(in->argv);
}

struct kubefile *kubefile_free(struct kubefile *kf)
{
	if (!kf)
		return NULL;
	for (size_t i = 0; i < kf->n; i++)
		instr_release(&kf->v[i]);
	free(kf->v);
	free(kf);
	return NULL;
}

size_t kubefile_count(const struct kubefile *kf)
{
	return kf ? kf->n : 0;
}

const struct kf_instr *kubefile_at(const struct kubefile *kf, size_t i)
{
	return kf && i < kf->n ? &kf->v[i] : NULL;
}

static void argv_push(struct kf_instr *in, const char *s, size_t n)
{
	in->argv = xreallocarray(in->argv, in->argc + 1, sizeof(*in->argv));
	in->argv[in->argc++] = xstrndup(s, n);
}

/* Splits on blanks; a token may be "double" or 'single' quoted to hold blanks. */
static int split_words(struct kf_instr *in, const char *s, const char **ret_problem)
{
	const char *p = s;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			const char *end = strchr(p, q);
			if (!end) {
				*ret_problem = "unterminated quote";
				return -EBADMSG;
			}
			argv_push(in, p, (size_t)(end - p));
			p = end + 1;
			continue;
		}
		const char *start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		argv_push(in, start, (size_t)(p - start));
	}
	return 0;
}

/* The JSON form: ["a", "b"]. Returns 1 when text is such an array (words pushed), 0 when it
 * is not JSON at all, <0 when it is a broken or non-string array. */
static int split_json(struct kf_instr *in, const char *text)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct ynode *arr;

	if (text[0] != '[')
		return 0;
	if (ydoc_parse("json", text, strlen(text), NULL, &d, NULL) < 0)
		return -EBADMSG;
	arr = ydoc_root(d, 0);
	if (ydoc_count(d) != 1 || ynode_kind(arr) != YNODE_SEQ)
		return -EBADMSG;
	for (size_t i = 0; i < ynode_len(arr); i++) {
		const char *s = ynode_str(ynode_seq_at(arr, i));
		if (!s)
			return -EBADMSG;
		argv_push(in, s, strlen(s));
	}
	return 1;
}

/* Shell-quotes words for RUN/CMD given in JSON form, so `sh -c` sees them one by one. */
static char *join_quoted(char *const *argv, size_t argc)
{
	struct buf b = BUF_INIT(KUBEFILE_MAX_LINE * 4);

	for (size_t i = 0; i < argc; i++) {
		if (i)
			buf_putc(&b, ' ');
		buf_putc(&b, '\'');
		for (const char *p = argv[i]; *p; p++) {
			if (*p == '\'')
				buf_puts(&b, "'\\''");
			else
				buf_putc(&b, *p);
		}
		buf_putc(&b, '\'');
	}
	return buf_detach(&b, NULL);
}

static bool is_remote(const char *src)
{
	static const char *const prefixes[] = { "http://", "https://", "ftp://", "git://",
						"git@", "ssh://", "s3://" };
	size_t n = strlen(src);

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncasecmp(src, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return n > 4 && strcmp(src + n - 4, ".git") == 0;
}

static bool escapes(const char *path)
{
	_cleanup_free_ char *joined = NULL;
	const char *rel = path;

	while (*rel == '/')
		rel++;
	return path_join_safe("/root", rel, &joined) == -EPERM;
}

struct parse_ctx {
	const char *name;
	struct errbuf *err;
	struct kubefile *kf;
};

static int fail(struct parse_ctx *c, unsigned line, const char *instr, const char *fmt, ...)
	_printf_(4, 5);

static int fail(struct parse_ctx *c, unsigned line, const char *instr, const char *fmt, ...)
{
	char detail[512], shown[80];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!c->err)
		return -EBADMSG;
	if (instr) {
		/* Quote the instruction, shortened: the line number says where the rest is. */
		snprintf(shown, sizeof(shown), "%s", instr);
		if (strlen(instr) >= sizeof(shown))
			memcpy(shown + sizeof(shown) - 4, "...", 4);
		errbuf_set(c->err, -EBADMSG, "%s:%u: %s (in '%s')", c->name, line, detail, shown);
	} else {
		errbuf_set(c->err, -EBADMSG, "%s:%u: %s", c->name, line, detail);
	}
	c->err->line = line;
	return -EBADMSG;
}

static int parse_from(struct parse_ctx *c, struct kf_instr *in, const char *raw)
{
	const char *problem = NULL;

	if (split_words(in, in->text, &problem) < 0)
		return fail(c, in->line, raw, "%s", problem);
	if (in->argc != 1)
		return fail(c, in->line, raw,
			    "FROM takes one image (or scratch); multi-stage builds are not supported");
	return 0;
}

static int parse_arg(struct parse_ctx *c, struct kf_instr *in, const char *raw)
{
	const char *t = in->text, *eq = strchr(t, '=');
	size_t nlen = eq ? (size_t)(eq - t) : strlen(t);

	if (!shell_identifier_valid(t, nlen))
		return fail(c, in->line, raw,
			    "ARG needs a name of letters, digits and '_' (not starting with a digit), "
			    "optionally '=default'");
	argv_push(in, t, nlen);
	if (eq) {
		const char *v = eq + 1;
		size_t vlen = strlen(v);
		if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
			v++;
			vlen -= 2;
		} else if (strpbrk(v, " \t")) {
			return fail(c, in->line, raw,
				    "one ARG per line; quote a default that contains blanks");
		}
		argv_push(in, v, vlen);
		in->arg_has_default = true;
	}
	return 0;
}

static int check_copy_path(struct parse_ctx *c, struct kf_instr *in, const char *raw,
			   const char *p, bool is_dest)
{
	if (!is_dest && is_remote(p))
		return fail(c, in->line, raw,
			    "COPY source '%s' is remote: URLs and git sources are not available "
			    "offline; put the file into the build context and COPY it from there", p);
	if (!is_dest && p[0] == '/')
		return fail(c, in->line, raw,
			    "COPY source '%s' is absolute: sources are relative to the build context", p);
	if (escapes(p))
		return fail(c, in->line, raw, "COPY %s '%s' leaves the %s with '..'",
			    is_dest ? "destination" : "source", p,
			    is_dest ? "image's rootfs" : "build context");
	return 0;
}

static int parse_copy(struct parse_ctx *c, struct kf_instr *in, const char *raw)
{
	const char *problem = "";
	int r = split_json(in, in->text);

	if (r < 0)
		return fail(c, in->line, raw, "COPY's JSON form must be an array of strings");
	if (r == 0 && split_words(in, in->text, &problem) < 0)
		return fail(c, in->line, raw, "%s", problem);
	if (in->argc > 0 && strncmp(in->argv[0], "--", 2) == 0)
		return fail(c, in->line, raw, "COPY option '%s' is not supported", in->argv[0]);
	if (in->argc < 2)
		return fail(c, in->line, raw, "COPY needs at least one source and a destination");
	for (size_t i = 0; i < in->argc; i++) {
		r = check_copy_path(c, in, raw, in->argv[i], i + 1 == in->argc);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One word of a LABEL: quoted parts and plain parts glued together ("k"="v" is one word),
 * split at the first '=' outside quotes. Inside double quotes \" and \\ are escapes. */
static int label_word(const char **pp, struct buf *key, struct buf *value, bool *has_eq,
		      const char **ret_problem)
{
	const char *p = *pp;
	struct buf *cur = key;
	char q = 0;

	*has_eq = false;
	for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
		if (q && *p == q) {
			q = 0;
		} else if (!q && (*p == '"' || *p == '\'')) {
			q = *p;
		} else if (!q && *p == '=' && !*has_eq) {
			*has_eq = true;
			cur = value;
		} else {
			if (q != '\'' && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			if (buf_putc(cur, *p) < 0) {
				*ret_problem = "label too long";
				return -E2BIG;
			}
		}
	}
	*pp = p;
	if (q) {
		*ret_problem = "unterminated quote";
		return -EBADMSG;
	}
	return 0;
}

/* LABEL k=v k2="v 2" "k3"="v3", and the older "LABEL key some value", as docker and
 * sealer accept them. */
static int parse_label(struct parse_ctx *c, struct kf_instr *in, const char *raw)
{
	const char *p = in->text, *problem = NULL;
	int r = 0;

	while (r >= 0) {
		_cleanup_buf_ struct buf key = BUF_INIT(KUBEFILE_MAX_LINE);
		_cleanup_buf_ struct buf value = BUF_INIT(KUBEFILE_MAX_LINE);
		bool has_eq;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		r = label_word(&p, &key, &value, &has_eq, &problem);
		if (r < 0)
			return fail(c, in->line, raw, "%s", problem);
		if (!has_eq && in->argc == 0 && key.len && *p) {
			/* docker's older form, one pair: LABEL key the value */
			const char *v = p + strspn(p, " \t");
			size_t vlen = strlen(v);
			if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
				v++;
				vlen -= 2;
			}
			argv_push(in, key.data, key.len);
			argv_push(in, v, vlen);
			break;
		}
		if (!has_eq || key.len == 0)
			return fail(c, in->line, raw, "LABEL takes key=value pairs (quote a value "
				    "with blanks: key=\"a b\")");
		argv_push(in, key.data, key.len);
		argv_push(in, value.len ? value.data : "", value.len);
	}
	return 0;
}

static int parse_command(struct parse_ctx *c, struct kf_instr *in, const char *raw)
{
	struct kf_instr tmp = { 0 };
	int r = split_json(&tmp, in->text);

	if (r < 0) {
		instr_release(&tmp);
		return fail(c, in->line, raw, "%s's JSON form must be an array of strings",
			    kf_kind_name(in->kind));
	}
	if (r > 0 && tmp.argc == 0) {
		instr_release(&tmp);
		return fail(c, in->line, raw, "%s needs a command, not an empty list",
			    kf_kind_name(in->kind));
	}
	if (r > 0) {
		/* exec form: kept as one shell command line with each word quoted */
		free(in->text);
		in->text = join_quoted(tmp.argv, tmp.argc);
	}
	instr_release(&tmp);
	return 0;
}

static int add_instruction(struct parse_ctx *c, unsigned line, const char *logical)
{
	const char *p = logical, *kw = logical;
	size_t kwlen;
	struct kf_instr in = { .line = line };
	int kind = -1, r;

	while (*p && *p != ' ' && *p != '\t')
		p++;
	kwlen = (size_t)(p - kw);
	for (size_t i = 0; i < ELEMENTSOF(kind_names); i++)
		if (strlen(kind_names[i]) == kwlen && strncasecmp(kw, kind_names[i], kwlen) == 0)
			kind = (int)i;
	if (kind < 0) {
		for (size_t i = 0; i < ELEMENTSOF(docker_only); i++)
			if (strlen(docker_only[i]) == kwlen && strncasecmp(kw, docker_only[i], kwlen) == 0)
				return fail(c, line, logical,
					    "%s is a Dockerfile instruction that a Kubefile does not "
					    "have (FROM, COPY, ARG, RUN, CMD, LABEL)", docker_only[i]);
		return fail(c, line, logical,
			    "unknown instruction '%.*s' (a Kubefile has FROM, COPY, ARG, RUN, CMD, "
			    "LABEL)",
			    (int)MIN(kwlen, 40u), kw);
	}
	while (*p == ' ' || *p == '\t')
		p++;
	in.kind = (enum kf_kind)kind;
	in.text = xstrdup(p);
	/* trailing blanks carry no meaning and would end up in layer cache keys */
	for (size_t n = strlen(in.text); n > 0 && (in.text[n - 1] == ' ' || in.text[n - 1] == '\t');)
		in.text[--n] = '\0';

	if (!in.text[0]) {
		r = fail(c, line, logical, "%s needs an argument", kind_names[kind]);
	} else if (c->kf->n == 0 && in.kind != KF_FROM) {
		r = fail(c, line, logical, "the first instruction must be FROM (an image or scratch)");
	} else if (c->kf->n > 0 && in.kind == KF_FROM) {
		r = fail(c, line, logical,
			 "FROM may appear only once, as the first instruction");
	} else {
		switch (in.kind) {
		case KF_FROM:
			r = parse_from(c, &in, logical);
			break;
		case KF_ARG:
			r = parse_arg(c, &in, logical);
			break;
		case KF_COPY:
			r = parse_copy(c, &in, logical);
			break;
		case KF_LABEL:
			r = parse_label(c, &in, logical);
			break;
		default:
			r = parse_command(c, &in, logical);
			break;
		}
	}
	if (r < 0) {
		instr_release(&in);
		return r;
	}
	c->kf->v = xreallocarray(c->kf->v, c->kf->n + 1, sizeof(*c->kf->v));
	c->kf->v[c->kf->n++] = in;
	return 0;
}

static bool blank_or_comment(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == n || s[i] == '#';
}

int kubefile_parse(const char *name, const char *text, size_t len, struct kubefile **ret,
		   struct errbuf *err)
{
	struct parse_ctx c = { .name = name ? name : "Kubefile", .err = err };
	struct buf logical = BUF_INIT(KUBEFILE_MAX_LINE);
	const char *p = text, *end = text + len;
	unsigned lineno = 0, start_line = 0;
	int r = 0;

	if (len > KUBEFILE_MAX_BYTES)
		return errbuf_set(err, -E2BIG, "%s: larger than %u bytes", c.name, KUBEFILE_MAX_BYTES);
	if (memchr(text, '\0', len))
		return errbuf_set(err, -EBADMSG, "%s: contains a NUL byte (not a text file?)", c.name);
	c.kf = xcalloc(1, sizeof(*c.kf));

	while (p < end && r >= 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		bool continued;

		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		/* Blank and comment lines, also inside a continued instruction, are dropped,
		 * as docker does. */
		if (blank_or_comment(p, n)) {
			if (!nl)
				break;
			p = nl + 1;
			continue;
		}
		size_t trimmed = n;
		while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
			trimmed--;
		continued = trimmed > 0 && p[trimmed - 1] == '\\';
		if (logical.len == 0) {
			start_line = lineno;
			while (n > 0 && (*p == ' ' || *p == '\t')) {
				p++;
				n--;
				trimmed--;
			}
		}
		if (buf_append(&logical, p, continued ? trimmed - 1 : n) < 0) {
			r = fail(&c, start_line, NULL, "instruction longer than %u bytes", KUBEFILE_MAX_LINE);
			break;
		}
		if (!continued) {
			r = add_instruction(&c, start_line, logical.data);
			buf_reset(&logical);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (r >= 0 && logical.len > 0)
		r = add_instruction(&c, start_line, logical.data);
	if (r >= 0 && c.kf->n == 0)
		r = fail(&c, lineno ? lineno : 1, NULL, "no instructions: a Kubefile starts with FROM");
	buf_release(&logical);
	if (r < 0) {
		kubefile_free(c.kf);
		return r;
	}
	*ret = c.kf;
	return 0;
}

int kubefile_parse_file(const char *path, struct kubefile **ret, struct errbuf *err)
{
	_cleanup_buf_ struct buf content = BUF_INIT(KUBEFILE_MAX_BYTES);
	int r = buf_read_file(&content, path);

	if (r == -E2BIG)
		return errbuf_set(err, r, "%s: larger than %u bytes", path, KUBEFILE_MAX_BYTES);
	if (r < 0)
		return errbuf_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	return kubefile_parse(path, content.data, content.len, ret, err);
}

static const struct kv *find_var(const struct kv *vars, size_t n, const char *name, size_t len)
{
	for (size_t i = n; i > 0; i--)
		if (strlen(vars[i - 1].key) == len && strncmp(vars[i - 1].key, name, len) == 0)
			return &vars[i - 1];
	return NULL;
}

char *kubefile_expand(const char *s, const struct kv *vars, size_t nvars)
{
	struct buf out = BUF_INIT(SIZE_MAX / 4);
	const char *p = s;

	while (*p) {
		if (p[0] == '\\' && p[1] == '$') {
			buf_append(&out, p, 2);
			p += 2;
			continue;
		}
		if (p[0] != '$') {
			buf_putc(&out, *p++);
			continue;
		}
		const char *name = p + 1;
		size_t len = 0;
		bool braced = name[0] == '{';
		if (braced)
			name++;
		while (isalnum((unsigned char)name[len]) || name[len] == '_')
			len++;
		const struct kv *v = len && !isdigit((unsigned char)name[0])
					     ? find_var(vars, nvars, name, len) : NULL;
		if (v && (!braced || name[len] == '}')) {
			buf_puts(&out, v->value);
			p = name + len + (braced ? 1 : 0);
			continue;
		}
		buf_putc(&out, *p++);
	}
	return buf_detach(&out, NULL);
}

static const char *last_part(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *kubefile_copy_target(const char *src, const char *name, bool is_dir, const char *dest,
			   bool dest_dir, bool *contents)
{
	size_t sl = strlen(src);

	*contents = is_dir && (strcmp(src, ".") == 0 || (sl && src[sl - 1] == '/') ||
			       (sl >= 2 && strcmp(src + sl - 2, "/.") == 0));
	/* "COPY bin bin" means the context's bin/ is the image's bin/, not bin/bin/ */
	if (*contents || (*dest && strcmp(last_part(dest), name) == 0))
		return xstrdup(dest);
	if (is_dir || dest_dir)
		return *dest ? xasprintf("%s/%s", dest, name) : xstrdup(name);
	return xstrdup(dest);
}

char *kubefile_unconsumed_args(const struct kubefile *kf, const struct kv *args, size_t n)
{
	struct buf out = BUF_INIT(SIZE_MAX / 4);

	for (size_t i = 0; i < n; i++) {
		bool declared = false, repeated = false;
		for (size_t k = 0; kf && k < kf->n && !declared; k++)
			declared = kf->v[k].kind == KF_ARG && strcmp(kf->v[k].argv[0], args[i].key) == 0;
		for (size_t k = 0; k < i && !repeated; k++)
			repeated = strcmp(args[k].key, args[i].key) == 0;
		if (!declared && !repeated)
			buf_printf(&out, "%s%s", out.len ? " " : "", args[i].key);
	}
	if (!out.len) {
		buf_release(&out);
		return NULL;
	}
	return buf_detach(&out, NULL);
}
