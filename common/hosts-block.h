/* The block cirun keeps in /etc/hosts for one cluster:
 *
 *     # BEGIN cirun <cluster>
 *     10.0.0.2	sea.hub
 *     10.0.0.1	apiserver.cluster.local
 *     # END cirun <cluster>
 *
 * A pure rewrite (text in, text out) so it is tested without a host: the cluster's old
 * block is replaced where it stood (or the new one appended), every other line is kept
 * byte for byte, and rewriting the result again gives the same bytes. Other clusters'
 * blocks are other lines like any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

#define HOSTS_MAX_ENTRIES 16
#define HOSTS_MAX_NAME 253 /* a DNS name */

struct hosts_entry {
	const char *ip;	  /* IPv4 or IPv6, as inet_pton takes it */
	const char *name; /* a host name: [A-Za-z0-9.-], not starting with '-' or '.' */
};

/* Whether ip is an IPv4 or IPv6 address. */
bool hosts_ip_valid(const char *ip);

/* Whether name may stand in a hosts line (and so in the block). */
bool hosts_name_valid(const char *name);

/* Whether s is a registry host as containerd names its certs.d directories: a host name
 * (hosts_name_valid) with an optional ":PORT", PORT 1-65535 in decimal. */
bool hosts_registry_valid(const char *s);

/* Writes into out (appended) the text in[0..len) with the block of cluster holding
 * entries e[0..n) in place of its old one. A begin marker without its end, or a second
 * begin before the end, is -EBADMSG (the file was edited by hand: not guessed at).
 * Lines keep the text's line ending: the block's lines end in "\r\n" when the text's
 * first line does. An invalid cluster name, address or host name is -EINVAL. */
int hosts_block_rewrite(const char *in, size_t len, const char *cluster,
			const struct hosts_entry *e, size_t n, struct buf *out,
			struct errbuf *err);

/* The same with the cluster's block taken out and nothing in its place (a delete): the
 * text is unchanged when it has no block; broken markers are -EBADMSG as above. */
int hosts_block_remove(const char *in, size_t len, const char *cluster, struct buf *out,
		       struct errbuf *err);
