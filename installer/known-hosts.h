/* known_hosts as OpenSSH keeps it: trust a host on first use, and from then on accept only
 * a key it is known by. A host known under one key type that offers another type is a
 * changed key, never a second first use: an attacker in the middle would simply offer a
 * type we have not recorded yet. The file is read as OpenSSH reads it (known-hosts-line.h:
 * patterns, negation, hashed and "[host]:port" names, @revoked and @cert-authority), and
 * rewritten atomically, under a lock on itself; a symbolic link there is refused. */
#pragma once

#include <stddef.h>

#include "error.h"

enum {
	KNOWN_HOSTS_MATCH = 0, /* known with this very key */
	KNOWN_HOSTS_ADDED = 1, /* not known under any key type: recorded now */
};

/* Checks the host key that host:port offered (the SSH wire blob, as the server sent it)
 * against the known_hosts file at path (created when missing). The name looked up is
 * "host" for port 22 (or 0) and "[host]:port" otherwise, lowercased, as OpenSSH writes
 * them. A host known with other keys, of the same type or another one, is -EKEYREJECTED
 * and err names every known fingerprint and the offered one; so is a key a @revoked line
 * of the host lists (even if another line lists it too), and a host known only through
 * @cert-authority lines (cirun does not check host certificates). Other lines of the file
 * are kept as they are. */
int known_hosts_check(const char *path, const char *host, unsigned port, const void *key,
		      size_t len, struct errbuf *err);

/* The host key algorithms to ask host:port for, as a list for libssh2_session_method_pref:
 * those of the key types the file knows for it first, then the rest of supported (n
 * names) in their order. OpenSSH does the same, so that a host with keys of several types
 * is checked against the one we know instead of being refused for the first it offers.
 * NULL when the host is not known (or the file not readable: the check decides then). */
char *known_hosts_hostkey_prefs(const char *path, const char *host, unsigned port,
				const char *const *supported, size_t n);

/* "SHA256:…" of a key blob, base64 without padding, as OpenSSH prints it. */
void known_hosts_fingerprint(const void *blob, size_t len, char *out, size_t outlen);
