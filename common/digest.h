/* SHA-256 of buffers and streams, through OpenSSL's libcrypto. Digests travel as lower-case
 * hex (64 characters), the form OCI blobs and the layer cache are named by. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */

struct sha256;

int sha256_new(struct sha256 **ret);
int sha256_update(struct sha256 *s, const void *data, size_t n);
/* Writes the hex digest; the object can then only be freed. */
int sha256_final(struct sha256 *s, char hex[SHA256_HEX_SIZE]);
struct sha256 *sha256_free(struct sha256 *s);

int sha256_buf(const void *data, size_t n, char hex[SHA256_HEX_SIZE]);
/* Reads fd to EOF; ret_size (optional) gets the byte count. */
int sha256_fd(int fd, char hex[SHA256_HEX_SIZE], uint64_t *ret_size);
int sha256_file(const char *path, char hex[SHA256_HEX_SIZE], uint64_t *ret_size);

/* True for exactly 64 lower-case hex digits. */
bool sha256_hex_valid(const char *s);

/* True for "sha256:" followed by 64 lower-case hex digits (an OCI digest we accept). */
bool digest_ref_valid(const char *s);
