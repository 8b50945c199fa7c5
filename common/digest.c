#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

struct sha256 {
	EVP_MD_CTX *ctx;
	bool finished;
};

int sha256_new(struct sha256 **ret)
{
	struct sha256 *s = xcalloc(1, sizeof(*s));

	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
		sha256_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

int sha256_update(struct sha256 *s, const void *data, size_t n)
{
	if (s->finished)
		return -EINVAL;
	if (n && EVP_DigestUpdate(s->ctx, data, n) != 1)
		return -EIO;
	return 0;
}

int sha256_final(struct sha256 *s, char hex[SHA256_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (s->finished)
		return -EINVAL;
	s->finished = true;
	if (EVP_DigestFinal_ex(s->ctx, md, &len) != 1 || len != 32)
		return -EIO;
	for (unsigned i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[64] = '\0';
	return 0;
}

struct sha256 *sha256_free(struct sha256 *s)
{
	if (s) {
		EVP_MD_CTX_free(s->ctx);
		free(s);
	}
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct sha256 *, sha256_free)

int sha256_buf(const void *data, size_t n, char hex[SHA256_HEX_SIZE])
{
	_cleanup_(sha256_freep) struct sha256 *s = NULL;
	int r = sha256_new(&s);
	if (r < 0)
		return r;
	r = sha256_update(s, data, n);
	if (r < 0)
		return r;
	return sha256_final(s, hex);
}

int sha256_fd(int fd, char hex[SHA256_HEX_SIZE], uint64_t *ret_size)
{
	_cleanup_(sha256_freep) struct sha256 *s = NULL;
	_cleanup_free_ char *chunk = xmalloc(1 << 20);
	uint64_t total = 0;
	int r = sha256_new(&s);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = read(fd, chunk, 1 << 20);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		r = sha256_update(s, chunk, (size_t)n);
		if (r < 0)
			return r;
		total += (uint64_t)n;
	}
	r = sha256_final(s, hex);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = total;
	return 0;
}

int sha256_file(const char *path, char hex[SHA256_HEX_SIZE], uint64_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	return sha256_fd(fd, hex, ret_size);
}

bool sha256_hex_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; s[i]; i++) {
		if (i >= 64)
			return false;
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == 64;
}

bool digest_ref_valid(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && sha256_hex_valid(s + 7);
}
