#include "ssh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "known-hosts.h"
#include "macro.h"
#include "sudo.h"

struct ssh_conn {
	int sock;
	LIBSSH2_SESSION *session;
	char *host;
	unsigned port;
	char *user;
	char *password;
	char fingerprint[64];
	bool root_probed;
	unsigned connect_timeout_s;
	unsigned io_timeout_s;
};

struct ssh_chan {
	struct ssh_conn *conn;
	LIBSSH2_CHANNEL *ch;
	/* the command's stderr that came with the end of the sudo handshake */
	char *err_pending;
	size_t err_len, err_off;
};

static pthread_mutex_t handshake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t handshake_cond = PTHREAD_COND_INITIALIZER;
static unsigned handshakes_free = 8;
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

int ssh_global_init(unsigned max_handshakes)
{
	handshakes_free = max_handshakes ? max_handshakes : 8;
	return libssh2_init(0) == 0 ? 0 : -EIO;
}

static void handshake_acquire(void)
{
	pthread_mutex_lock(&handshake_lock);
	while (handshakes_free == 0)
		pthread_cond_wait(&handshake_cond, &handshake_lock);
	handshakes_free--;
	pthread_mutex_unlock(&handshake_lock);
}

static void handshake_release(void)
{
	pthread_mutex_lock(&handshake_lock);
	handshakes_free++;
	pthread_cond_signal(&handshake_cond);
	pthread_mutex_unlock(&handshake_lock);
}

static const char *ssh_error(LIBSSH2_SESSION *s)
{
	char *msg = NULL;
	libssh2_session_last_error(s, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown SSH error";
}

static int map_error(int e)
{
	switch (e) {
	case LIBSSH2_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	case LIBSSH2_ERROR_AUTHENTICATION_FAILED:
	case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
		return -EACCES;
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
		return -ECONNRESET;
	case LIBSSH2_ERROR_ALLOC:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* No route is decided on this machine (a routing table without the address, or an
 * unreachable route such as the lab's guard): say so with the address, the user's typo
 * being the likeliest cause. */
static int connect_failed(const char *host, unsigned port, int r, struct errbuf *err)
{
	if (r == -EHOSTUNREACH || r == -ENETUNREACH)
		return errbuf_set(err, r, "cannot connect to %s:%u: no route to host %s (is the "
				  "address right, and its network up?)", host, port, host);
	return errbuf_set(err, r, "cannot connect to %s:%u: %s", host, port, strerror(-r));
}

/* Non-blocking connect bounded by the connect timeout, then blocking with TCP keepalive
 * so a host that vanishes is noticed even while a long command runs quietly. */
static int tcp_connect(const char *host, unsigned port, unsigned timeout_s, int *ret_sock,
		       struct errbuf *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char portstr[16];
	int r, sock = -1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &ai);
	if (r != 0)
		return errbuf_set(err, -EHOSTUNREACH, "cannot resolve '%s': %s", host, gai_strerror(r));
	sock = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock < 0) {
		r = errbuf_set(err, negative_errno(), "socket: %m");
		goto out;
	}
	r = connect(sock, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS) {
		r = connect_failed(host, port, negative_errno(), err);
		goto out;
	}
	if (r < 0) {
		struct pollfd p = { sock, POLLOUT, 0 };
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		r = poll(&p, 1, (int)timeout_s * 1000);
		if (r == 0) {
			r = errbuf_set(err, -ETIMEDOUT, "cannot connect to %s:%u: no answer within %us "
				       "(host down, or a firewall?)", host, port, timeout_s);
			goto out;
		}
		getsockopt(sock, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (r < 0 || soerr) {
			r = connect_failed(host, port, -(soerr ? soerr : errno), err);
			goto out;
		}
	}
	int flags = fcntl(sock, F_GETFL);
	fcntl(sock, F_SETFL, flags & ~O_NONBLOCK);
	int on = 1, idle = 30, intvl = 10, cnt = 3;
	setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	*ret_sock = TAKE_FD(sock);
	r = 0;
out:
	if (sock >= 0)
		close(sock);
	freeaddrinfo(ai);
	return r;
}

/* Trust on first use, refuse a change (known_hosts_check); the process-wide mutex keeps
 * our own threads in line, the file's lock other cirun processes. */
static int check_host_key(struct ssh_conn *c, const struct ssh_opts *o, struct errbuf *err)
{
	size_t len;
	int type, r;
	const char *key = libssh2_session_hostkey(c->session, &len, &type);

	if (!key)
		return errbuf_set(err, -EIO, "%s: the server sent no host key", c->host);
	known_hosts_fingerprint(key, len, c->fingerprint, sizeof(c->fingerprint));
	if (o->insecure_ignore_host_key || !o->known_hosts)
		return 0;
	pthread_mutex_lock(&known_hosts_lock);
	r = known_hosts_check(o->known_hosts, c->host, c->port, key, len, err);
	pthread_mutex_unlock(&known_hosts_lock);
	return r < 0 ? r : 0;
}

/* libssh2 allocates through these, and every block it frees is wiped first: the packets
 * of password and keyboard-interactive authentication hold the password, as do our
 * answers to the latter, and libssh2 frees them without clearing. The header keeps each
 * block's size for that. */
union wipe_hdr {
	size_t size;
	max_align_t align;
};

static void *wipe_alloc(size_t n, void **abstract)
{
	union wipe_hdr *h;

	(void)abstract;
	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->size = n;
	return h + 1;
}

static void wipe_free(void *p, void **abstract)
{
	union wipe_hdr *h;

	(void)abstract;
	if (!p)
		return;
	h = (union wipe_hdr *)p - 1;
	explicit_bzero(p, h->size);
	free(h);
}

static void *wipe_realloc(void *p, size_t n, void **abstract)
{
	void *q;

	if (!p)
		return wipe_alloc(n, abstract);
	q = wipe_alloc(n, abstract);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(n, ((union wipe_hdr *)p - 1)->size));
	wipe_free(p, abstract);
	return q;
}

/* Asks for the key types known_hosts has for this host first; best effort, the check
 * after the handshake is what decides. */
static void prefer_known_key_types(struct ssh_conn *c, const struct ssh_opts *o)
{
	const char **algs = NULL;
	int n;

	if (o->insecure_ignore_host_key || !o->known_hosts)
		return;
	n = libssh2_session_supported_algs(c->session, LIBSSH2_METHOD_HOSTKEY, &algs);
	if (n <= 0)
		return;
	_cleanup_free_ char *prefs = known_hosts_hostkey_prefs(o->known_hosts, c->host, c->port,
							      algs, (size_t)n);
	if (prefs)
		libssh2_session_method_pref(c->session, LIBSSH2_METHOD_HOSTKEY, prefs);
	libssh2_free(c->session, algs);
}

static void kbd_callback(const char *name, int name_len, const char *instruction,
			 int instruction_len, int num_prompts,
			 const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
			 LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
	struct ssh_conn *c = *abstract;

	(void)name;
	(void)name_len;
	(void)instruction;
	(void)instruction_len;
	(void)prompts;
	for (int i = 0; i < num_prompts; i++) {
		/* libssh2 frees these with the session's free, wipe_free */
		size_t n = c->password ? strlen(c->password) : 0;
		responses[i].text = wipe_alloc(n + 1, NULL);
		if (!responses[i].text) {
			responses[i].length = 0;
			continue;
		}
		memcpy(responses[i].text, c->password ? c->password : "", n + 1);
		responses[i].length = (unsigned)n;
	}
}

static int authenticate(struct ssh_conn *c, const struct ssh_opts *o, struct errbuf *err)
{
	const char *methods;
	int r;

	methods = libssh2_userauth_list(c->session, c->user, (unsigned)strlen(c->user));
	if (!methods) {
		if (libssh2_userauth_authenticated(c->session))
			return 0;
		return errbuf_set(err, map_error(libssh2_session_last_errno(c->session)),
				  "%s: cannot list authentication methods: %s", c->host,
				  ssh_error(c->session));
	}
	if (o->pk_file) {
		r = libssh2_userauth_publickey_fromfile(c->session, c->user, NULL, o->pk_file,
							o->pk_passphrase);
		if (r == 0)
			return 0;
		if (!c->password)
			return errbuf_set(err, map_error(r), "%s: the key '%s' was not accepted for "
					  "%s: %s", c->host, o->pk_file, c->user, ssh_error(c->session));
	}
	if (c->password && strstr(methods, "password")) {
		r = libssh2_userauth_password(c->session, c->user, c->password);
		if (r == 0)
			return 0;
		if (r != LIBSSH2_ERROR_AUTHENTICATION_FAILED || !strstr(methods, "keyboard-interactive"))
			return errbuf_set(err, map_error(r), "%s: password authentication as %s failed "
					  "(wrong password?)", c->host, c->user);
	}
	if (c->password && strstr(methods, "keyboard-interactive")) {
		*libssh2_session_abstract(c->session) = c;
		r = libssh2_userauth_keyboard_interactive(c->session, c->user, kbd_callback);
		if (r == 0)
			return 0;
		return errbuf_set(err, map_error(r), "%s: keyboard-interactive authentication as %s "
				  "failed (wrong password?)", c->host, c->user);
	}
	return errbuf_set(err, -EACCES, "%s: no usable authentication for %s (the server offers: "
			  "%s; give -p PASSWORD or --pk FILE)", c->host, c->user, methods);
}

int ssh_conn_open(const struct ssh_opts *o, struct ssh_conn **ret, struct errbuf *err)
{
	struct ssh_conn *c = xcalloc(1, sizeof(*c));
	unsigned ct = o->connect_timeout_s ? o->connect_timeout_s : 10;
	int r;

	c->sock = -1;
	c->host = xstrdup(o->host);
	c->port = o->port ? o->port : 22;
	c->user = xstrdup(o->user ? o->user : "root");
	c->password = o->password ? xstrdup(o->password) : NULL;
	c->connect_timeout_s = ct;
	c->io_timeout_s = o->io_timeout_s ? o->io_timeout_s : 60;

	handshake_acquire();
	r = tcp_connect(c->host, c->port, ct, &c->sock, err);
	if (r >= 0) {
		c->session = libssh2_session_init_ex(wipe_alloc, wipe_free, wipe_realloc, c);
		if (!c->session)
			r = errbuf_set(err, -ENOMEM, "cannot start an SSH session");
	}
	if (r >= 0) {
		libssh2_session_set_blocking(c->session, 1);
		/* the handshake and authentication get the connect timeout */
		libssh2_session_set_timeout(c->session, (long)ct * 1000);
		prefer_known_key_types(c, o);
		r = libssh2_session_handshake(c->session, c->sock);
		if (r != 0)
			r = errbuf_set(err, map_error(r), "%s:%u: SSH handshake failed: %s", c->host,
				       c->port, ssh_error(c->session));
	}
	if (r >= 0)
		r = check_host_key(c, o, err);
	if (r >= 0)
		r = authenticate(c, o, err);
	handshake_release();
	if (r < 0) {
		ssh_conn_close(c);
		return r;
	}
	libssh2_session_set_timeout(c->session, (long)c->io_timeout_s * 1000);
	*ret = c;
	return 0;
}

struct ssh_conn *ssh_conn_close(struct ssh_conn *c)
{
	if (!c)
		return NULL;
	if (c->session) {
		libssh2_session_set_timeout(c->session, 2000);
		libssh2_session_disconnect(c->session, "cirun done");
		libssh2_session_free(c->session);
	}
	if (c->sock >= 0)
		close(c->sock);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->host);
	free(c->user);
	free(c);
	return NULL;
}

const char *ssh_conn_fingerprint(const struct ssh_conn *c)
{
	return c->fingerprint;
}

void ssh_conn_set_timeout(struct ssh_conn *c, unsigned seconds)
{
	libssh2_session_set_timeout(c->session, (long)seconds * 1000);
}

bool ssh_conn_is_root(const struct ssh_conn *c)
{
	return strcmp(c->user, "root") == 0;
}

int ssh_exec(struct ssh_conn *c, const char *command, bool ignore_stderr, struct ssh_chan **ret,
	     struct errbuf *err)
{
	LIBSSH2_CHANNEL *ch = libssh2_channel_open_session(c->session);
	int r;

	if (!ch)
		return errbuf_set(err, map_error(libssh2_session_last_errno(c->session)),
				  "%s: cannot open an SSH channel: %s", c->host, ssh_error(c->session));
	if (ignore_stderr)
		libssh2_channel_handle_extended_data2(ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
	r = libssh2_channel_exec(ch, command);
	if (r != 0) {
		r = errbuf_set(err, map_error(r), "%s: cannot start a command: %s", c->host,
			       ssh_error(c->session));
		libssh2_channel_free(ch);
		return r;
	}
	*ret = xcalloc(1, sizeof(**ret));
	(*ret)->conn = c;
	(*ret)->ch = ch;
	return 0;
}

ssize_t ssh_chan_read(struct ssh_chan *ch, void *buf, size_t n)
{
	ssize_t r = libssh2_channel_read(ch->ch, buf, n);
	return r < 0 ? map_error((int)r) : r;
}

static ssize_t chan_read_stderr(struct ssh_chan *ch, void *buf, size_t n)
{
	if (ch->err_off < ch->err_len) {
		n = MIN(n, ch->err_len - ch->err_off);
		memcpy(buf, ch->err_pending + ch->err_off, n);
		ch->err_off += n;
		return (ssize_t)n;
	}
	ssize_t r = libssh2_channel_read_stderr(ch->ch, buf, n);
	return r < 0 ? map_error((int)r) : r;
}

ssize_t ssh_chan_write(struct ssh_chan *ch, const void *buf, size_t n)
{
	ssize_t r = libssh2_channel_write(ch->ch, buf, n);
	return r < 0 ? map_error((int)r) : r;
}

int ssh_chan_send_eof(struct ssh_chan *ch)
{
	return libssh2_channel_send_eof(ch->ch) == 0 ? 0 : -EIO;
}

int ssh_chan_close(struct ssh_chan *ch)
{
	int status;

	if (!ch)
		return -EINVAL;
	libssh2_channel_send_eof(ch->ch);
	libssh2_channel_wait_eof(ch->ch);
	libssh2_channel_close(ch->ch);
	libssh2_channel_wait_closed(ch->ch);
	status = libssh2_channel_get_exit_status(ch->ch);
	libssh2_channel_free(ch->ch);
	free(ch->err_pending);
	free(ch);
	return status;
}

static ssize_t io_read(void *ctx, void *buf, size_t n)
{
	return ssh_chan_read(ctx, buf, n);
}

static ssize_t io_write(void *ctx, const void *buf, size_t n)
{
	return ssh_chan_write(ctx, buf, n);
}

struct proto_io ssh_chan_io(struct ssh_chan *ch)
{
	return (struct proto_io){ io_read, io_write, ch };
}

/* ---- running as root ---- */

/* sudo's own words before the command starts (a lecture, "Sorry, try again."); more is
 * not sudo */
#define SUDO_CHATTER_MAX 16384

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_password(struct ssh_conn *c, struct ssh_chan *ch, struct errbuf *err)
{
	_cleanup_free_ char *line = xasprintf("%s\n", c->password);
	size_t n = strlen(line), off = 0;
	ssize_t w = 0;

	while (off < n && (w = ssh_chan_write(ch, line + off, n - off)) >= 0)
		off += (size_t)w;
	explicit_bzero(line, n);
	if (w < 0)
		return errbuf_set(err, (int)w, "%s: sending the sudo password failed", c->host);
	return 0;
}

/* Why sudo ended or stalled before starting the command, from what it said. */
static int sudo_failed(struct ssh_conn *c, const struct sudo_markers *m, const struct buf *said,
		       bool sent, ssize_t n, struct errbuf *err)
{
	char text[256];

	sudo_said(m, said->data, said->len, text, sizeof(text));
	if (n == -ETIMEDOUT)
		return errbuf_set(err, -ETIMEDOUT, "%s: sudo as %s did not start the command within "
				  "%us (it said: '%s'); a PAM prompt that sudo's -p cannot replace is "
				  "not supported", c->host, c->user, c->connect_timeout_s, text);
	if (n < 0)
		return errbuf_set(err, (int)n, "%s: reading from sudo as %s failed: %s", c->host,
				  c->user, ssh_error(c->session));
	if (sent)
		return errbuf_set(err, -EACCES, "sudo refused the password for %s on %s (wrong "
				  "password?): %s", c->user, c->host, text);
	return errbuf_set(err, -EACCES, "%s: sudo as %s failed: %s", c->host, c->user,
			  text[0] ? text : "it ended without a word");
}

/* Reads the channel's stderr until sudo either prompts (answered once; a second prompt
 * means the password was wrong) or starts the command (the ready marker). What came
 * before the marker is sudo's and is dropped; what came after is the command's, kept
 * for chan_read_stderr. Bounded by the connect timeout. */
static int sudo_handshake(struct ssh_conn *c, struct ssh_chan *ch, const struct sudo_markers *m,
			  struct errbuf *err)
{
	_cleanup_buf_ struct buf said = BUF_INIT(SUDO_CHATTER_MAX);
	uint64_t deadline = mono_ms() + (uint64_t)c->connect_timeout_s * 1000;
	long saved_timeout = libssh2_session_get_timeout(c->session);
	char chunk[4096];
	size_t ready_end = 0;
	bool sent = false;
	ssize_t n = 0;
	int r = 0;

	for (;;) {
		unsigned prompts = sudo_scan(m, said.data, said.len, &ready_end);
		if (ready_end)
			break;
		if (prompts > 1) {
			r = sudo_failed(c, m, &said, true, 0, err);
			break;
		}
		if (prompts == 1 && !sent) {
			if (!c->password) {
				r = errbuf_set(err, -EACCES, "%s: %s needs a password for sudo; give "
					       "it with -p or CIRUN_SSH_PASSWORD", c->host, c->user);
				break;
			}
			r = send_password(c, ch, err);
			if (r < 0)
				break;
			sent = true;
			continue;
		}
		uint64_t now = mono_ms();
		libssh2_session_set_timeout(c->session, now < deadline ? (long)(deadline - now) : 1);
		n = now < deadline ? chan_read_stderr(ch, chunk, sizeof(chunk)) : -ETIMEDOUT;
		if (n > 0 && buf_append(&said, chunk, (size_t)n) < 0)
			n = -E2BIG;
		if (n <= 0) {
			r = n == -E2BIG ? errbuf_set(err, -E2BIG, "%s: sudo as %s wrote more than "
						      "%d bytes before starting the command", c->host,
						      c->user, SUDO_CHATTER_MAX)
					: sudo_failed(c, m, &said, sent, n, err);
			break;
		}
	}
	libssh2_session_set_timeout(c->session, saved_timeout);
	if (r < 0)
		return r;
	ch->err_len = said.len - ready_end;
	if (ch->err_len) {
		ch->err_pending = xmalloc(ch->err_len);
		memcpy(ch->err_pending, said.data + ready_end, ch->err_len);
	}
	return 0;
}

/* A channel whose sudo failed: closed without waiting long for a stuck command. */
static void chan_abort(struct ssh_conn *c, struct ssh_chan *ch)
{
	long saved_timeout = libssh2_session_get_timeout(c->session);

	libssh2_session_set_timeout(c->session, 2000);
	ssh_chan_close(ch);
	libssh2_session_set_timeout(c->session, saved_timeout);
}

static int start_root(struct ssh_conn *c, const char *command, bool ignore_stderr,
		      struct ssh_chan **ret, struct errbuf *err)
{
	_cleanup_free_ char *full = NULL;
	struct sudo_markers m;
	struct ssh_chan *ch;
	int r;

	if (ssh_conn_is_root(c))
		return ssh_exec(c, command, ignore_stderr, ret, err);
	r = sudo_markers_new(&m);
	if (r < 0)
		return errbuf_set(err, r, "cannot draw a random number for sudo's markers");
	full = sudo_command(&m, command);
	/* stderr is read for the handshake even when the caller ignores it */
	r = ssh_exec(c, full, false, &ch, err);
	if (r < 0)
		return r;
	r = sudo_handshake(c, ch, &m, err);
	if (r < 0) {
		chan_abort(c, ch);
		return r;
	}
	if (ignore_stderr) {
		/* what is already queued stays until the channel is freed: a few bytes */
		libssh2_channel_handle_extended_data2(ch->ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
		ch->err_off = ch->err_len;
	}
	*ret = ch;
	return 0;
}

int ssh_conn_probe_root(struct ssh_conn *c, struct errbuf *err)
{
	struct ssh_chan *ch;
	int r, status;

	if (c->root_probed || ssh_conn_is_root(c)) {
		c->root_probed = true;
		return 0;
	}
	r = start_root(c, "true", false, &ch, err);
	if (r < 0)
		return r;
	status = ssh_chan_close(ch);
	if (status != 0)
		return errbuf_set(err, status < 0 ? status : -EIO, "%s: 'true' as root through sudo "
				  "failed (exit %d)", c->host, status);
	c->root_probed = true;
	return 0;
}

int ssh_exec_root(struct ssh_conn *c, const char *command, bool ignore_stderr,
		  struct ssh_chan **ret, struct errbuf *err)
{
	return start_root(c, command, ignore_stderr, ret, err);
}

/* Drains stdout, then stderr, into out (what does not fit is dropped). Commands run this
 * way print little; the agent's channel, which streams, drops stderr instead. */
static void collect(struct ssh_chan *ch, struct buf *out)
{
	char chunk[16384];
	ssize_t n;

	while ((n = ssh_chan_read(ch, chunk, sizeof(chunk))) > 0)
		if (out)
			buf_append(out, chunk, (size_t)n);
	while ((n = chan_read_stderr(ch, chunk, sizeof(chunk))) > 0)
		if (out)
			buf_append(out, chunk, (size_t)n);
}

static int write_all_chan(struct ssh_chan *ch, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = ssh_chan_write(ch, p, len);
		if (w < 0)
			return (int)w;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ssh_run_root(struct ssh_conn *c, const char *command, const void *stdin_data, size_t len,
		 struct buf *out, struct errbuf *err)
{
	struct ssh_chan *ch;
	int r = start_root(c, command, false, &ch, err);

	if (r < 0)
		return r;
	if (len)
		r = write_all_chan(ch, stdin_data, len);
	ssh_chan_send_eof(ch);
	collect(ch, out);
	int status = ssh_chan_close(ch);
	if (r < 0)
		return errbuf_set(err, r, "%s: sending input to '%s' failed", c->host, command);
	return status;
}

int ssh_run_root_fd(struct ssh_conn *c, const char *command, int fd, struct buf *out,
		    struct errbuf *err)
{
	_cleanup_free_ char *chunk = xmalloc(256 << 10);
	struct ssh_chan *ch;
	int r = start_root(c, command, false, &ch, err);

	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = read(fd, chunk, 256 << 10);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? negative_errno() : 0;
			break;
		}
		r = write_all_chan(ch, chunk, (size_t)n);
		if (r < 0)
			break;
	}
	ssh_chan_send_eof(ch);
	collect(ch, out);
	int status = ssh_chan_close(ch);
	if (r < 0)
		return errbuf_set(err, r, "%s: streaming input to '%s' failed", c->host, command);
	return status;
}
