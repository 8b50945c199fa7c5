#include "known-hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
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
#include "macro.h"

/* A known_hosts file is a few lines per host; this cap only stops a runaway file. */
#define KNOWN_HOSTS_MAX (16u << 20)

struct key_type {
	const char *wire;	    /* the name in the blob and in known_hosts */
	const char *label;	    /* as ssh-keygen -l prints it */
	int bit;		    /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *algorithms[4];  /* the host key algorithms that use such a key */
};

static const struct key_type key_types[] = {
	{ "ssh-ed25519", "ED25519", LIBSSH2_KNOWNHOST_KEY_ED25519, { "ssh-ed25519" } },
	{ "ecdsa-sha2-nistp256", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_256, { "ecdsa-sha2-nistp256" } },
	{ "ecdsa-sha2-nistp384", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_384, { "ecdsa-sha2-nistp384" } },
	{ "ecdsa-sha2-nistp521", "ECDSA", LIBSSH2_KNOWNHOST_KEY_ECDSA_521, { "ecdsa-sha2-nistp521" } },
	{ "ssh-rsa", "RSA", LIBSSH2_KNOWNHOST_KEY_SSHRSA, { "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa" } },
	{ "ssh-dss", "DSA", LIBSSH2_KNOWNHOST_KEY_SSHDSS, { "ssh-dss" } },
};

/* The type a key blob names in its first field (RFC 4253 6.6); NULL when not one of ours. */
static const struct key_type *blob_type(const unsigned char *blob, size_t len)
{
	uint32_t n;

	if (len < 4)
		return NULL;
	n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	if (n > len - 4)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
		if (strlen(key_types[i].wire) == n && memcmp(blob + 4, key_types[i].wire, n) == 0)
			return &key_types[i];
	return NULL;
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

/* "SHA256:… (ED25519)" for a key blob. */
static void describe_blob(const unsigned char *blob, size_t len, char *out, size_t outlen)
{
	const struct key_type *t = blob_type(blob, len);
	char fp[80];

	known_hosts_fingerprint(blob, len, fp, sizeof(fp));
	snprintf(out, outlen, "%s (%s)", fp, t ? t->label : "unknown type");
}

/* The same for a key as libssh2 keeps a known_hosts entry: base64 of the blob. */
static void describe_b64(const char *b64, char *out, size_t outlen)
{
	size_t inlen = strlen(b64);
	_cleanup_free_ unsigned char *blob = xmalloc(inlen / 4 * 3 + 3);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n = 0, fin = 0, ok = 0;

	if (ctx) {
		EVP_DecodeInit(ctx);
		ok = EVP_DecodeUpdate(ctx, blob, &n, (const unsigned char *)b64, (int)inlen) >= 0 &&
		     EVP_DecodeFinal(ctx, blob + n, &fin) >= 0;
		EVP_ENCODE_CTX_free(ctx);
	}
	if (!ok || n + fin <= 0)
		snprintf(out, outlen, "an unreadable key");
	else
		describe_blob(blob, (size_t)(n + fin), out, outlen);
}

/* Locks the file itself (flock, no lock file beside it; a read-only fd is enough, so a
 * file we may only read is still checked). The file is replaced by rename, so a waiter
 * may get the lock of an inode that is no longer the file: it tries again. */
static int lock_file(const char *path, int *ret_fd, struct errbuf *err)
{
	for (unsigned tries = 0; tries < 100; tries++) {
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
		struct stat held, now;

		if (fd < 0)
			return errbuf_set(err, negative_errno(), "cannot open the known hosts '%s': %m",
					  path);
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0)
			return errbuf_set(err, negative_errno(), "cannot lock the known hosts '%s': %m",
					  path);
		if (stat(path, &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
	}
	return errbuf_set(err, -EAGAIN, "cannot lock the known hosts '%s': it keeps being replaced",
			  path);
}

/* Feeds each line to libssh2's parser (comments and blank lines are skipped by it). */
static int parse(LIBSSH2_SESSION *s, LIBSSH2_KNOWNHOSTS *kh, const struct buf *content,
		 const char *path, struct errbuf *err)
{
	unsigned lineno = 0;

	for (const char *p = content->data, *end = p + content->len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		_cleanup_free_ char *line = xstrndup(p, n);

		lineno++;
		p += n + (nl ? 1 : 0);
		if (strlen(line) != n)
			return errbuf_set(err, -EBADMSG, "%s:%u: a NUL byte in the line", path, lineno);
		if (libssh2_knownhost_readline(kh, line, n, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
			char *msg = NULL;
			libssh2_session_last_error(s, &msg, NULL, 0);
			return errbuf_set(err, -EBADMSG, "%s:%u: %s; fix or remove that line", path,
					  lineno, msg && *msg ? msg : "not a known_hosts line");
		}
	}
	return 0;
}

/* Whether the entry is one of name's: libssh2's own check (which also matches hashed
 * names) finds its key for name. */
static bool entry_of(LIBSSH2_KNOWNHOSTS *kh, const char *name, const struct libssh2_knownhost *e)
{
	return e->key &&
	       libssh2_knownhost_checkp(kh, name, -1, e->key, 0,
					LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_BASE64,
					NULL) == LIBSSH2_KNOWNHOST_CHECK_MATCH;
}

/* Every key the file holds for name, as "SHA256:… (TYPE)", each once. */
static void known_keys_of(LIBSSH2_KNOWNHOSTS *kh, const char *name, struct buf *out)
{
	struct libssh2_knownhost *e = NULL, *prev = NULL;

	while (libssh2_knownhost_get(kh, &e, prev) == 0) {
		char d[128];

		prev = e;
		if (!entry_of(kh, name, e))
			continue;
		describe_b64(e->key, d, sizeof(d));
		if (strstr(out->data, d))
			continue;
		buf_printf(out, "%s%s", out->len ? ", " : "", d);
	}
}

/* Appends the line libssh2 writes for the new entry and replaces the file atomically. */
static int record(LIBSSH2_SESSION *s, LIBSSH2_KNOWNHOSTS *kh, const char *path, int fd,
		  struct buf *content, const char *name, const unsigned char *key, size_t len,
		  const struct key_type *t, struct errbuf *err)
{
	struct libssh2_knownhost *entry = NULL;
	char line[16384];
	size_t n = 0;
	struct stat st;
	char *msg = NULL;

	if (libssh2_knownhost_addc(kh, name, NULL, (const char *)key, len, NULL, 0,
				   LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | t->bit,
				   &entry) < 0 ||
	    libssh2_knownhost_writeline(kh, entry, line, sizeof(line), &n,
					LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		libssh2_session_last_error(s, &msg, NULL, 0);
		return errbuf_set(err, -EIO, "cannot record the host key of %s: %s", name,
				  msg && *msg ? msg : "libssh2 failed");
	}
	if ((content->len && content->data[content->len - 1] != '\n' && buf_putc(content, '\n') < 0) ||
	    buf_append(content, line, n) < 0)
		return errbuf_set(err, -E2BIG, "the known hosts '%s' is too big", path);
	int r = RET_NERRNO(fstat(fd, &st));
	if (r >= 0)
		r = write_file_atomic(path, content->data, content->len, st.st_mode & 07777);
	if (r < 0)
		return errbuf_set(err, r, "cannot record the host key of %s in '%s': %s", name, path,
				  strerror(-r));
	return KNOWN_HOSTS_ADDED;
}

/* libssh2 would also try the plain name for a port; OpenSSH looks up exactly one. */
static char *lookup_name(const char *host, unsigned port)
{
	return port == 0 || port == 22 ? xstrdup(host) : xasprintf("[%s]:%u", host, port);
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
	struct buf content = BUF_INIT(KNOWN_HOSTS_MAX), out = BUF_INIT(4096);
	struct libssh2_knownhost *e = NULL, *prev = NULL;
	LIBSSH2_SESSION *s = NULL;
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	size_t k = 0;

	if (buf_read_file(&content, path) < 0)
		goto out;
	s = libssh2_session_init();
	kh = s ? libssh2_knownhost_init(s) : NULL;
	if (!kh || parse(s, kh, &content, path, NULL) < 0)
		goto out;
	while (libssh2_knownhost_get(kh, &e, prev) == 0) {
		prev = e;
		if (!entry_of(kh, name, e))
			continue;
		for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
			if (key_types[i].bit == (e->typemask & LIBSSH2_KNOWNHOST_KEY_MASK))
				for (const char *const *a = key_types[i].algorithms; *a; a++)
					if (listed(supported, n, *a) && !listed(order, k, *a))
						order[k++] = *a;
	}
	if (k == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!listed(order, k, supported[i]))
			order[k++] = supported[i];
	for (size_t i = 0; i < k; i++)
		buf_printf(&out, "%s%s", i ? "," : "", order[i]);
out:
	if (kh)
		libssh2_knownhost_free(kh);
	if (s)
		libssh2_session_free(s);
	buf_release(&content);
	if (out.len == 0) {
		buf_release(&out);
		return NULL;
	}
	return buf_detach(&out, NULL);
}

int known_hosts_check(const char *path, const char *host, unsigned port, const void *key,
		      size_t len, struct errbuf *err)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int fd = -1;
	struct buf content = BUF_INIT(KNOWN_HOSTS_MAX), known = BUF_INIT(4096);
	const struct key_type *t = blob_type(key, len);
	LIBSSH2_SESSION *s = NULL;
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	char offered[128];
	int r;

	name = lookup_name(host, port);
	describe_blob(key, len, offered, sizeof(offered));
	if (!t)
		return errbuf_set(err, -EPROTONOSUPPORT, "%s offers a host key of an unsupported type: %s",
				  name, offered);
	r = lock_file(path, &fd, err);
	if (r < 0)
		return r;
	r = buf_read_fd(&content, fd);
	if (r < 0) {
		r = errbuf_set(err, r, "cannot read the known hosts '%s': %s", path, strerror(-r));
		goto out;
	}
	s = libssh2_session_init();
	kh = s ? libssh2_knownhost_init(s) : NULL;
	if (!kh) {
		r = errbuf_set(err, -ENOMEM, "cannot check host keys: out of memory");
		goto out;
	}
	r = parse(s, kh, &content, path, err);
	if (r < 0)
		goto out;
	/* no key type in the mask: the host's entries of every type count */
	r = libssh2_knownhost_checkp(kh, name, -1, key, len,
				     LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW, NULL);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		r = KNOWN_HOSTS_MATCH;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		r = record(s, kh, path, fd, &content, name, key, len, t, err);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		known_keys_of(kh, name, &known);
		r = errbuf_set(err, -EKEYREJECTED,
			       "the host key of %s:%u has changed: known %s; now %s. If the host was "
			       "reinstalled, remove its lines from %s (ssh-keygen -R '%s' -f %s); "
			       "else someone may be intercepting (--insecure-ignore-host-key skips "
			       "this check)",
			       host, port ? port : 22, known.len ? known.data : "?", offered, path,
			       name, path);
		break;
	default:
		r = errbuf_set(err, -EIO, "cannot check the host key of %s against '%s'", name, path);
		break;
	}
out:
	if (kh)
		libssh2_knownhost_free(kh);
	if (s)
		libssh2_session_free(s);
	buf_release(&content);
	buf_release(&known);
	return r;
}
