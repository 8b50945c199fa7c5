#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "json-writer.h"
#include "macro.h"

static int max_level = LOG_INFO;
static bool journal_prefix;
static int log_fd = STDERR_FILENO;
static log_sink_fn log_sink;
/* Below this length a secret is masked only where it stands as a word of its own (see
 * log.h). */
#define SHORT_SECRET 3
static char **secrets;
static size_t nsecrets;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	if (level >= LOG_EMERG && level <= LOG_DEBUG)
		max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "err") == 0)
		return LOG_ERR;
	if (strcmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

void log_set_journal_prefix(bool on)
{
	journal_prefix = on;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

void log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

static void add_secret_locked(const char *secret)
{
	bool known = false;

	for (size_t i = 0; i < nsecrets; i++)
		known |= strcmp(secrets[i], secret) == 0;
	if (!known) {
		secrets = xreallocarray(secrets, nsecrets + 1, sizeof(*secrets));
		secrets[nsecrets++] = xstrdup(secret);
	}
}

void log_add_secret(const char *secret)
{
	if (!secret || !*secret)
		return;
	pthread_mutex_lock(&log_lock);
	add_secret_locked(secret);
	/* JSON output (--output json, a remote tool's JSON) shows a password with '"' or '\'
	 * escaped: that spelling is a secret too */
	struct buf esc = BUF_INIT(64 * 1024);
	if (json_escape(&esc, secret, strlen(secret)) >= 0 && esc.len >= 2) {
		esc.data[esc.len - 1] = '\0'; /* without its quotes */
		if (strcmp(esc.data + 1, secret) != 0)
			add_secret_locked(esc.data + 1);
	}
	if (esc.data)
		explicit_bzero(esc.data, esc.len);
	buf_release(&esc);
	pthread_mutex_unlock(&log_lock);
}

void log_clear_secrets(void)
{
	pthread_mutex_lock(&log_lock);
	for (size_t i = 0; i < nsecrets; i++) {
		explicit_bzero(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	pthread_mutex_unlock(&log_lock);
}

/* '*' counts as part of a word so that masking twice (a report line is redacted, then
 * written to the log file through the same filter) never masks the mask. */
static bool word_byte(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x80 || u == '_' || u == '*' || (u >= '0' && u <= '9') ||
	       ((u | 0x20) >= 'a' && (u | 0x20) <= 'z');
}

/* How many bytes at p are a secret, the longest one that matches (one secret may begin
 * with another). When in was cut short (truncated), a secret's beginning at its very end
 * counts too: the rest of it was cut away, what is left must not show. */
static size_t secret_at(const char *in, const char *p, bool truncated)
{
	size_t best = 0, rest = truncated ? strlen(p) : 0;

	for (size_t i = 0; i < nsecrets; i++) {
		size_t len = strlen(secrets[i]);
		if (len <= best)
			continue;
		if (strncmp(p, secrets[i], len) == 0) {
			if (len >= SHORT_SECRET ||
			    ((p == in || !word_byte(p[-1])) && !word_byte(p[len])))
				best = len;
		} else if (rest > best && rest < len && strncmp(p, secrets[i], rest) == 0) {
			best = rest;
		}
	}
	return best;
}

/* Called with log_lock held, or from log_redact which takes it. */
static void redact_locked(const char *in, bool truncated, char *out, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return;
	for (const char *p = in; *p && o + 1 < n;) {
		size_t hit = nsecrets ? secret_at(in, p, truncated) : 0;
		if (hit) {
			for (const char *m = "******"; *m && o + 1 < n; m++)
				out[o++] = *m;
			p += hit;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

void log_redact(const char *in, char *out, size_t n)
{
	log_redact_cut(in, false, out, n);
}

void log_redact_cut(const char *in, bool truncated, char *out, size_t n)
{
	pthread_mutex_lock(&log_lock);
	redact_locked(in, truncated, out, n);
	pthread_mutex_unlock(&log_lock);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

int log_internal(int level, int error, const char *host, const char *file, int line,
		 const char *func, const char *fmt, ...)
{
	int ret = error > 0 ? -error : error;
	char raw[4096], msg[4096], linebuf[4096 + 512];
	int saved_errno = errno;
	va_list ap;
	int n = 0;

	if (level > max_level)
		return ret;

	errno = -ret;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	errno = saved_errno;
	pthread_mutex_lock(&log_lock);
	redact_locked(raw, n >= (int)sizeof(raw), msg, sizeof(msg));
	n = 0;
	pthread_mutex_unlock(&log_lock);

	/* A message ends in exactly one newline, whatever the caller passed. */
	size_t len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';

	if (journal_prefix)
		n += snprintf(linebuf + n, sizeof(linebuf) - (size_t)n, "<%d>", level);
	if (host)
		n += snprintf(linebuf + n, sizeof(linebuf) - (size_t)n, "[%s] ", host);
	if (max_level >= LOG_DEBUG && file)
		n += snprintf(linebuf + n, sizeof(linebuf) - (size_t)n, "%s:%d %s: ", file, line,
			      func);
	snprintf(linebuf + n, sizeof(linebuf) - (size_t)n, "%s\n", msg);
	len = strlen(linebuf);
	linebuf[len - 1] = '\n'; /* a truncated line still ends the line */

	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		write_all(log_fd, linebuf, len);
	if (log_sink)
		log_sink(level, host, msg);
	pthread_mutex_unlock(&log_lock);
	return ret;
}
