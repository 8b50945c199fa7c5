/* SSH transport on libssh2: one authenticated session per host, reused for every step of
 * a run (commands, uploads, the agent's channel). Host keys are checked against a
 * known_hosts file (trust on first use; a changed key is refused with both fingerprints).
 * Every blocking call has a timeout; TCP keepalive finds a dead peer; concurrent
 * handshakes are capped below sshd's MaxStartups. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "proto.h"

struct ssh_opts {
	const char *host;
	unsigned port;			/* 0: 22 */
	const char *user;		/* NULL: root */
	const char *password;		/* for password and keyboard-interactive auth, and sudo */
	const char *pk_file;		/* private key (ed25519, ecdsa, rsa) */
	const char *pk_passphrase;
	const char *known_hosts;	/* file; created when missing */
	bool insecure_ignore_host_key;
	unsigned connect_timeout_s;	/* 0: 10 */
	unsigned io_timeout_s;		/* 0: 60; per blocking call */
};

struct ssh_conn;
struct ssh_chan;

/* Once per process, before any thread uses SSH. max_handshakes: 0 means 8. */
int ssh_global_init(unsigned max_handshakes);

int ssh_conn_open(const struct ssh_opts *o, struct ssh_conn **ret, struct errbuf *err);
struct ssh_conn *ssh_conn_close(struct ssh_conn *c);
const char *ssh_conn_fingerprint(const struct ssh_conn *c); /* "SHA256:…" */
/* How long a blocking call may wait from now on (0: forever). */
void ssh_conn_set_timeout(struct ssh_conn *c, unsigned seconds);

/* True when the user is root; otherwise commands that need root go through sudo. */
bool ssh_conn_is_root(const struct ssh_conn *c);
/* Checks once that this user becomes root (through sudo: that it works, and takes the
 * password when it asks for one), so a refusal is reported at connect time. */
int ssh_conn_probe_root(struct ssh_conn *c, struct errbuf *err);

/* Starts command; its stderr is dropped when ignore_stderr (the agent's channel, whose
 * log goes to the journal), else readable with ssh_chan_read_stderr. */
int ssh_exec(struct ssh_conn *c, const char *command, bool ignore_stderr, struct ssh_chan **ret,
	     struct errbuf *err);
/* The same, as root: through sudo when the user is not root (installer/sudo.h). The
 * password goes on stdin, never on the command line, and only once sudo has prompted for
 * it; returns when the command has started, sudo's own output dropped. Bounded by the
 * connect timeout until then. */
int ssh_exec_root(struct ssh_conn *c, const char *command, bool ignore_stderr,
		  struct ssh_chan **ret, struct errbuf *err);
ssize_t ssh_chan_read(struct ssh_chan *ch, void *buf, size_t n);
ssize_t ssh_chan_write(struct ssh_chan *ch, const void *buf, size_t n);
int ssh_chan_send_eof(struct ssh_chan *ch);
/* Waits for the command to end; returns its exit status (or -errno). Frees ch. */
int ssh_chan_close(struct ssh_chan *ch);
struct proto_io ssh_chan_io(struct ssh_chan *ch);

/* Runs command as root (through sudo when needed) with stdin_data on its stdin;
 * collects stdout and stderr (capped) into out. Returns the exit status or -errno. */
int ssh_run_root(struct ssh_conn *c, const char *command, const void *stdin_data, size_t len,
		 struct buf *out, struct errbuf *err);
/* The same with stdin streamed from fd. */
int ssh_run_root_fd(struct ssh_conn *c, const char *command, int fd, struct buf *out,
		    struct errbuf *err);
