#include "known-hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "known-hosts-line.h"
#include "macro.h"

/* A known_hosts file is a few lines per host; this cap only stops a runaway file. */
#define KNOWN_HOSTS_MAX (16u << 20)

struct key_type {
	const char *wire;	    /* the name in the blob and in known_hosts */
	const char *label;	    /* as ssh-keygen -l prints it */
	const char *algorithms[4];  /* the host key algorithms that use such a key */
};

static const struct key_type key_types[] = {
	{ "ssh-ed25519", "ED25519", { "ssh-ed25519" } },
	{ "ecdsa-sha2-nistp256", "ECDSA", { "ecdsa-sha2-nistp256" } },
	{ "ecdsa-sha2-nistp384", "ECDSA", { "ecdsa-sha2-nistp384" } },
	{ "ecdsa-sha2-nistp521", "ECDSA", { "ecdsa-sha2-nistp521" } },
	{ "ssh-rsa", "RSA", { "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa" } },
	{ "ssh-dss", "DSA", { "ssh-dss" } },
};

static const struct key_type *type_named(const char *s, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
		if (strlen(key_types[i].wire) == n && memcmp(s, key_types[i].wire, n) == 0)
			return &key_types[i];
	return NULL;
}

/* The type a key blob names in its first field (RFC 4253 6.6); NULL when not one of ours. */
static const struct key_type *blob_type(const unsigned char *blob, size_t len)
{
	uint32_t n;

	if (len < 4)
		return NULL;
	n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	if (n > len - 4)
		return NULL;
	return type_named((const char *)blob + 4, n);
}

void known_hosts_fingerprint(const void *blob, size_t len, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE], enc[2 * EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n;

	if (!EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL)) {
		snprintf(out, outlen, "SHA256:?");
		return;
	}
	n = EVP_EncodeBlock(enc, md, (int)mdlen);
	while (n > 0 && enc[n - 1] == '=')
		n--; /* OpenSSH prints SHA256 fingerprints without padding */
	snprintf(out, outlen, "SHA256:%.*s", n, enc);
}

/* "SHA256:… (ED25519)" for a key blob; other types by the name the line gives. */
static void describe_blob(const unsigned char *blob, size_t len, const char *type, char *out,
			  size_t outlen)
{
	const struct key_type *t = blob_type(blob, len);
	char fp[80];

	known_hosts_fingerprint(blob, len, fp, sizeof(fp));
	snprintf(out, outlen, "%s (%s)", fp, t ? t->label : type ? type : "unknown type");
}

/* cirun's own file, never a link: following one, the rename that records a host would
 * replace the link by a file, and a dangling link would create a file where it points. */
static int refuse_link(const char *path, struct errbuf *err)
{
	return errbuf_set(err, -ELOOP,
			  "the known hosts '%s' is a symbolic link, which cirun does not follow: "
			  "replace it by a regular file (e.g. a copy of the file it points to)",
			  path);
}

/* Opens the file itself, without following a link; O_NONBLOCK so that a FIFO there is
 * refused rather than waited on. */
static int open_file(const char *path, int flags, int *ret_fd, struct errbuf *err)
{
	_cleanup_close_ int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0 && errno == ELOOP)
		return refuse_link(path, err);
	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open the known hosts '%s': %m", path);
	if (fstat(fd, &st) < 0)
		return errbuf_set(err, negative_errno(), "cannot open the known hosts '%s': %m", path);
	if (!S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "the known hosts '%s' is not a regular file", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Locks the file itself (flock, no lock file beside it; a read-only fd is enough, so a
 * file we may only read is still checked). The file is replaced by rename, so a waiter
 * may get the lock of an inode that is no longer the file: it tries again. */
static int lock_file(const char *path, int *ret_fd, struct errbuf *err)
{
	for (unsigned tries = 0; tries < 100; tries++) {
		_cleanup_close_ int fd = -1;
		struct stat held, now;
		int r = open_file(path, O_RDONLY | O_CREAT, &fd, err);

		if (r < 0)
			return r;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0)
			return errbuf_set(err, negative_errno(), "cannot lock the known hosts '%s': %m",
					  path);
		if (lstat(path, &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
	}
	return errbuf_set(err, -EAGAIN, "cannot lock the known hosts '%s': it keeps being replaced",
			  path);
}

/* What the file says about one name, and about one offered key (none for the prefs). */
struct lookup {
	const char *name;
	const unsigned char *key;
	size_t len;
	bool known;		/* a plain line (no marker) applies to name */
	bool match;		/* ... with the offered key */
	bool ca;		/* a @cert-authority line applies to name */
	unsigned revoked_line;	/* a @revoked line of the offered key applies to name */
	unsigned types;		/* bit i: the name is known with a key of key_types[i] */
	struct buf fps;		/* its known keys, "SHA256:… (TYPE)", each once */
};

static void note_line(struct lookup *lk, const struct kh_line *l, unsigned lineno)
{
	bool same = lk->key && l->blob_len == lk->len && memcmp(l->blob, lk->key, lk->len) == 0;
	const struct key_type *t = type_named(l->type, strlen(l->type));
	char d[160];

	switch (l->marker) {
	case KH_MARKER_REVOKED:
		if (same && !lk->revoked_line)
			lk->revoked_line = lineno;
		return;
	case KH_MARKER_CERT_AUTHORITY: /* vouches for certificates, never for a plain key */
		lk->ca = true;
		return;
	case KH_MARKER_NONE:
		break;
	}
	lk->known = true;
	lk->match |= same;
	if (t)
		lk->types |= 1u << (t - key_types);
	describe_blob(l->blob, l->blob_len, l->type, d, sizeof(d));
	if (!strstr(lk->fps.data, d))
		buf_printf(&lk->fps, "%s%s", lk->fps.len ? ", " : "", d);
}

/* Reads every line (a bad one fails the whole file, naming it: better than skipping a
 * @revoked line we misread) and notes those that apply to lk->name. */
static int scan(const struct buf *content, const char *path, struct lookup *lk,
		struct errbuf *err)
{
	unsigned lineno = 0;

	for (const char *p = content->data, *end = p + content->len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct errbuf e = ERRBUF_INIT;
		struct kh_line l;
		int r = kh_line_parse(p, n, &l, &e);

		lineno++;
		p += n + (nl ? 1 : 0);
		if (r < 0)
			return errbuf_set(err, r, "%s:%u: %s; fix or remove that line", path, lineno,
					  errbuf_msg(&e));
		if (r == 0)
			continue;
		if (kh_line_matches(&l, lk->name))
			note_line(lk, &l, lineno);
		kh_line_free(&l);
	}
	return 0;
}

/* Appends "name type base64" for the new host and replaces the file atomically. */
static int record(const char *path, int fd, struct buf *content, const char *name,
		  const unsigned char *key, size_t len, const struct key_type *t,
		  struct errbuf *err)
{
	_cleanup_free_ unsigned char *b64 = xmalloc(len / 3 * 4 + 5);
	struct stat st;
	int r;

	EVP_EncodeBlock(b64, key, (int)len);
	if ((content->len && content->data[content->len - 1] != '\n' && buf_putc(content, '\n') < 0) ||
	    buf_printf(content, "%s %s %s\n", name, t->wire, b64) < 0)
		return errbuf_set(err, -E2BIG, "the known hosts '%s' is too big", path);
	r = RET_NERRNO(fstat(fd, &st));
	if (r >= 0)
		r = write_file_atomic(path, content->data, content->len, st.st_mode & 07777);
	if (r < 0)
		return errbuf_set(err, r, "cannot record the host key of %s in '%s': %s", name, path,
				  strerror(-r));
	return KNOWN_HOSTS_ADDED;
}

/* The one name OpenSSH looks up, lowercased as it does: "host", or "[host]:port" for a
 * port other than 22. NULL for a host that no line could name (blanks, commas, wildcards:
 * it would also corrupt the file once recorded). */
static char *lookup_name(const char *host, unsigned port)
{
	char *name;

	if (!*host || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789.-_:%") != strlen(host))
		return NULL;
	name = port == 0 || port == 22 ? xstrdup(host) : xasprintf("[%s]:%u", host, port);
	for (char *c = name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return name;
}

static bool listed(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

char *known_hosts_hostkey_prefs(const char *path, const char *host, unsigned port,
				const char *const *supported, size_t n)
{
	_cleanup_free_ char *name = lookup_name(host, port);
	_cleanup_free_ const char **order = xcalloc(n + 1, sizeof(*order));
	_cleanup_close_ int fd = -1;
	struct buf content = BUF_INIT(KNOWN_HOSTS_MAX), out = BUF_INIT(4096);
	struct lookup lk = { .name = name, .fps = BUF_INIT(4096) };
	size_t k = 0;

	if (!name || open_file(path, O_RDONLY, &fd, NULL) < 0 || buf_read_fd(&content, fd) < 0 ||
	    scan(&content, path, &lk, NULL) < 0)
		goto out;
	for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
		if (lk.types & (1u << i))
			for (const char *const *a = key_types[i].algorithms; *a; a++)
				if (listed(supported, n, *a) && !listed(order, k, *a))
					order[k++] = *a;
	if (k == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!listed(order, k, supported[i]))
			order[k++] = supported[i];
	for (size_t i = 0; i < k; i++)
		buf_printf(&out, "%s%s", i ? "," : "", order[i]);
out:
	buf_release(&content);
	buf_release(&lk.fps);
	if (out.len == 0) {
		buf_release(&out);
		return NULL;
	}
	return buf_detach(&out, NULL);
}

/* The verdict once the file is read: revoked, known with this key, known with others,
 * known only through a CA, or new. */
static int judge(const struct lookup *lk, const char *path, const char *host, unsigned port,
		 const char *offered, struct errbuf *err)
{
	if (lk->revoked_line)
		return errbuf_set(err, -EKEYREJECTED,
				  "the host key of %s:%u is revoked: %s is marked @revoked in %s "
				  "(line %u), so it is never accepted. The host must get a new key "
				  "(or this is not the host you meant)",
				  host, port ? port : 22, offered, path, lk->revoked_line);
	if (lk->match)
		return KNOWN_HOSTS_MATCH;
	if (lk->known)
		return errbuf_set(err, -EKEYREJECTED,
				  "the host key of %s:%u has changed: known %s; now %s. If the host "
				  "was reinstalled, remove its lines from %s (ssh-keygen -R '%s' -f "
				  "%s); else someone may be intercepting (--insecure-ignore-host-key "
				  "skips this check)",
				  host, port ? port : 22, lk->fps.data, offered, path, lk->name, path);
	if (lk->ca)
		return errbuf_set(err, -EKEYREJECTED,
				  "%s:%u is known only through a @cert-authority line of %s, and cirun "
				  "does not check host certificates: add the host's own key as a plain "
				  "line (ssh-keyscan -p %u %s >> %s, once you trust the network), or "
				  "remove the CA line to trust its key %s on first use",
				  host, port ? port : 22, path, port ? port : 22, host, path, offered);
	return 1; /* not known: record it */
}

int known_hosts_check(const char *path, const char *host, unsigned port, const void *key,
		      size_t len, struct errbuf *err)
{
	_cleanup_free_ char *name = lookup_name(host, port);
	_cleanup_close_ int fd = -1;
	struct buf content = BUF_INIT(KNOWN_HOSTS_MAX);
	struct lookup lk = { .name = name, .key = key, .len = len, .fps = BUF_INIT(4096) };
	const struct key_type *t = blob_type(key, len);
	char offered[160];
	int r;

	if (!name)
		return errbuf_set(err, -EINVAL, "'%s' is not a host name or address that known_hosts "
				  "can hold", host);
	describe_blob(key, len, NULL, offered, sizeof(offered));
	if (!t)
		return errbuf_set(err, -EPROTONOSUPPORT, "%s offers a host key of an unsupported type: %s",
				  name, offered);
	if (len > KH_LINE_MAX / 2) /* its line would be refused when read back */
		return errbuf_set(err, -EPROTONOSUPPORT, "%s offers a host key of %zu bytes, more than "
				  "known_hosts can hold: %s", name, len, offered);
	r = lock_file(path, &fd, err);
	if (r < 0)
		return r;
	r = buf_read_fd(&content, fd);
	if (r < 0) {
		r = errbuf_set(err, r, "cannot read the known hosts '%s': %s", path, strerror(-r));
		goto out;
	}
	r = scan(&content, path, &lk, err);
	if (r >= 0)
		r = judge(&lk, path, host, port, offered, err);
	if (r == 1)
		r = record(path, fd, &content, name, key, len, t, err);
out:
	buf_release(&content);
	buf_release(&lk.fps);
	return r;
}
