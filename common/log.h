/* Logging with syslog levels and an optional host prefix. One write(2) per line, so lines
 * from parallel workers never interleave mid-line. Only the programs' boundaries (main,
 * the executor's reporting) log above debug; library modules return errors instead. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);

/* "error", "warning", "notice", "info", "debug" or a digit 0-7; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/* Prefix each line with "<N>" so journald (stderr of a unit, or systemd-cat) records the
 * level; the agent turns this on. */
void log_set_journal_prefix(bool on);

/* Where lines go; default 2. Tests point it at a pipe or file. */
void log_set_fd(int fd);

/* A second destination that gets every message that passes the level filter, without
 * prefixes (the agent sends them to the journal). NULL turns it off. */
typedef void (*log_sink_fn)(int level, const char *host, const char *msg);
void log_set_sink(log_sink_fn sink);

/* Secrets (passwords, passphrases) are replaced by "******" in every message, whatever
 * printed it: our errors, a remote script's output. Every secret is registered, whatever
 * its length; where two overlap, the longer one is masked whole. A secret of 3 bytes or
 * more is masked wherever it appears. A shorter one (a 1-character password) is masked
 * where it stands as a word of its own (not next to a letter, digit, '_', '*' or non-ASCII
 * byte): "password: x" and "'x'" show "******", while the x of "exit" stays. Masking every
 * x would make each message unreadable, and the gaps ("e******it") would spell the secret
 * out to anyone reading. */
void log_add_secret(const char *secret);
void log_clear_secrets(void);
/* Copies in to out (capped) with the secrets masked. */
void log_redact(const char *in, char *out, size_t n);
/* The same for a line the caller cut short: a secret's beginning at its end is masked too. */
void log_redact_cut(const char *in, bool truncated, char *out, size_t n);

/* Returns -abs(error) when error is non-zero, else 0, so `return log_error_errno(r, …)`
 * propagates the failure. errno is set to abs(error) while formatting, so %m works. */
int log_internal(int level, int error, const char *host, const char *file, int line,
		 const char *func, const char *fmt, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...)                                                      \
	log_internal(level, error, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_host_errno(level, host, error, ...)                                                \
	log_internal(level, error, host, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_host(level, host, ...) log_host_errno(level, host, 0, __VA_ARGS__)
