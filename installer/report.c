#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "json-writer.h"
#include "log.h"
#include "macro.h"

static FILE *log_file;
static char *log_path;
static bool json_mode;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(int level)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info", "debug" };
	return level >= 0 && level <= 7 ? names[level] : "info";
}

static void stamp(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* One JSON line; fill() adds the event's own fields after "time" and "event". */
/* write_json: masked whole, every field (the JSON spelling of a secret is registered too),
 * except a "log" event: log.c masked it already, and calls its sink with its lock held,
 * which log_redact() would take again. */
static void write_json(const char *event, void (*fill)(struct jsonw *, void *), void *data,
		       bool mask);

static void emit_json(const char *event, void (*fill)(struct jsonw *, void *), void *data)
{
	write_json(event, fill, data, true);
}

static void write_json(const char *event, void (*fill)(struct jsonw *, void *), void *data,
		       bool mask)
{
	struct buf b = BUF_INIT(1 << 20);
	struct jsonw w;
	char t[40];

	stamp(t, sizeof(t));
	jsonw_init(&w, &b);
	jsonw_object_begin(&w);
	jsonw_key(&w, "time");
	jsonw_string(&w, t);
	jsonw_key(&w, "event");
	jsonw_string(&w, event);
	fill(&w, data);
	jsonw_object_end(&w);
	if (jsonw_finish(&w) == 0) {
		/* a mask may be longer than a short secret it replaces */
		size_t cap = b.len * 6 + 64;
		_cleanup_free_ char *masked = xmalloc(cap);
		if (mask)
			log_redact(b.data, masked, cap);
		else
			memcpy(masked, b.data, b.len + 1);
		pthread_mutex_lock(&lock);
		fputs(masked, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		pthread_mutex_unlock(&lock);
	}
	buf_release(&b);
}

/* A failed write to the run log (a full disk) is said once, when the log is closed: the
 * user is pointed to that file and must know it is incomplete. */
static int log_file_errno;

static void file_line(const char *t, const char *text)
{
	if ((fprintf(log_file, "%s %s\n", t, text) < 0 || fflush(log_file) != 0) && !log_file_errno)
		log_file_errno = errno ? errno : EIO;
}

static void to_file(const char *line)
{
	char t[40], masked[8192];

	if (!log_file)
		return;
	stamp(t, sizeof(t));
	log_redact(line, masked, sizeof(masked));
	pthread_mutex_lock(&lock);
	file_line(t, masked);
	pthread_mutex_unlock(&lock);
}

struct log_event {
	int level;
	const char *host;
	const char *msg;
};

static void fill_log(struct jsonw *w, void *data)
{
	struct log_event *e = data;
	jsonw_key(w, "level");
	jsonw_string(w, level_name(e->level));
	if (e->host) {
		jsonw_key(w, "host");
		jsonw_string(w, e->host);
	}
	jsonw_key(w, "message");
	jsonw_string(w, e->msg);
}

/* Every log message (already masked by log.c) goes to the file; in JSON mode also to
 * stdout as a "log" event. */
static void sink(int level, const char *host, const char *msg)
{
	char line[8192];

	snprintf(line, sizeof(line), "%s %s%s%s%s", level_name(level), host ? "[" : "",
		 host ? host : "", host ? "] " : "", msg);
	if (log_file) {
		char t[40];
		stamp(t, sizeof(t));
		/* log.c holds its lock while calling sinks: write directly */
		file_line(t, line);
	}
	if (json_mode) {
		struct log_event e = { level, host, msg };
		write_json("log", fill_log, &e, false);
	}
}

int report_open(const char *home, const char *cluster, bool json, struct errbuf *err)
{
	_cleanup_free_ char *dir = NULL;
	char t[32];
	struct tm tm;
	time_t now = time(NULL);
	int r, fd;

	json_mode = json;
	dir = xasprintf("%s/logs", home);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return errbuf_set(err, r, "cannot create the log directory '%s': %s", dir, strerror(-r));
	gmtime_r(&now, &tm);
	strftime(t, sizeof(t), "%Y%m%d-%H%M%S", &tm);
	log_path = xasprintf("%s/%s-%s-%d.log", dir, cluster, t, (int)getpid());
	fd = open(log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(log_file = fdopen(fd, "w")))
		return errbuf_set(err, negative_errno(), "cannot create the log file '%s': %m", log_path);
	log_set_sink(sink);
	if (json_mode)
		log_set_fd(-1); /* stdout carries JSON only; messages travel as events */
	return 0;
}

void report_close(void)
{
	log_set_sink(NULL);
	if (json_mode)
		log_set_fd(STDERR_FILENO);
	if (log_file && fclose(log_file) != 0 && !log_file_errno)
		log_file_errno = errno ? errno : EIO;
	log_file = NULL;
	if (log_file_errno)
		log_warning("the run log '%s' is incomplete: %s", log_path, strerror(log_file_errno));
	log_file_errno = 0;
	free(log_path);
	log_path = NULL;
}

const char *report_log_path(void)
{
	return log_path;
}

/* A human line on stdout and in the file. */
static void human(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void human(const char *fmt, ...)
{
	char line[8192], masked[8192];
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_redact_cut(line, len >= (int)sizeof(line), masked, sizeof(masked));
	to_file(masked);
	if (!json_mode) {
		pthread_mutex_lock(&lock);
		printf("%s\n", masked);
		fflush(stdout);
		pthread_mutex_unlock(&lock);
	}
}

struct start_event {
	const char *image, *id, *cluster;
	size_t layers, hosts;
	bool dry_run;
};

static void fill_start(struct jsonw *w, void *data)
{
	struct start_event *e = data;
	jsonw_key(w, "image");
	jsonw_string(w, e->image);
	jsonw_key(w, "image_id");
	jsonw_string(w, e->id);
	jsonw_key(w, "layers");
	jsonw_uint(w, e->layers);
	jsonw_key(w, "cluster");
	jsonw_string(w, e->cluster);
	jsonw_key(w, "hosts");
	jsonw_uint(w, e->hosts);
	jsonw_key(w, "dry_run");
	jsonw_bool(w, e->dry_run);
	jsonw_key(w, "log_file");
	jsonw_string(w, log_path);
}

void report_run_start(const char *image, const char *id, size_t layers, const char *cluster,
		      size_t hosts, bool dry_run)
{
	struct start_event e = { image, id, cluster, layers, hosts, dry_run };

	human("%s %s (%.12s, %zu layers) as cluster %s on %zu host(s)",
	      dry_run ? "plan: would install" : "installing", image, id, layers, cluster, hosts);
	if (json_mode)
		emit_json("run", fill_start, &e);
}

struct phase_event {
	const char *name;
	size_t hosts;
};

static void fill_phase(struct jsonw *w, void *data)
{
	struct phase_event *e = data;
	jsonw_key(w, "phase");
	jsonw_string(w, e->name);
	jsonw_key(w, "hosts");
	jsonw_uint(w, e->hosts);
}

void report_phase(const char *name, size_t hosts)
{
	struct phase_event e = { name, hosts };

	human("==> %s (%zu host%s)", name, hosts, hosts == 1 ? "" : "s");
	if (json_mode)
		emit_json("phase", fill_phase, &e);
}

struct host_phase_event {
	const char *host, *phase;
	bool ok;
	int64_t duration_ms;
};

static void fill_host_phase(struct jsonw *w, void *data)
{
	struct host_phase_event *e = data;
	jsonw_key(w, "host");
	jsonw_string(w, e->host);
	jsonw_key(w, "phase");
	jsonw_string(w, e->phase);
	jsonw_key(w, "ok");
	jsonw_bool(w, e->ok);
	jsonw_key(w, "duration_ms");
	jsonw_int(w, e->duration_ms);
}

/* Not on a terminal: the header lines already say where the run is, and a line per host
 * per phase would drown the hosts' own output. The log file and JSON get every one, so
 * that each host's path through the phases can be read back. */
void report_host_phase(const char *host, const char *phase, bool ok, int64_t duration_ms)
{
	struct host_phase_event e = { host, phase, ok, duration_ms };
	char line[512];

	snprintf(line, sizeof(line), "[%s] phase %s %s in %" PRId64 " ms", host, phase,
		 ok ? "done" : "FAILED", duration_ms);
	to_file(line);
	if (json_mode)
		emit_json("host-phase", fill_host_phase, &e);
}

void report_preflight_header(void)
{
	human("%-16s %-20s %-6s %-8s %-10s %-8s %s", "HOST", "HOSTNAME", "ARCH", "SYSTEMD", "FREE",
	      "SKEW", "PREFLIGHT");
}

struct preflight_event {
	const char *host, *hostname, *arch, *problems;
	bool systemd;
	int64_t free_mb;
	double skew;
};

static void fill_preflight(struct jsonw *w, void *data)
{
	struct preflight_event *e = data;
	jsonw_key(w, "host");
	jsonw_string(w, e->host);
	jsonw_key(w, "hostname");
	jsonw_string(w, e->hostname);
	jsonw_key(w, "arch");
	jsonw_string(w, e->arch);
	jsonw_key(w, "systemd");
	jsonw_bool(w, e->systemd);
	jsonw_key(w, "free_mb");
	jsonw_int(w, e->free_mb);
	jsonw_key(w, "clock_skew_ms");
	jsonw_int(w, (int64_t)(e->skew * 1000));
	jsonw_key(w, "ok");
	jsonw_bool(w, !e->problems || !*e->problems);
	if (e->problems && *e->problems) {
		jsonw_key(w, "problems");
		jsonw_string(w, e->problems);
	}
}

void report_preflight(const char *host, const char *hostname, const char *arch, bool systemd,
		      int64_t free_mb, double skew_s, const char *problems)
{
	struct preflight_event e = { host, hostname, arch, problems, systemd, free_mb, skew_s };

	human("%-16s %-20.20s %-6s %-8s %-10" PRId64 " %-8.1f %s", host, hostname, arch,
	      systemd ? "yes" : "no", free_mb, skew_s, problems && *problems ? problems : "ok");
	if (json_mode)
		emit_json("preflight", fill_preflight, &e);
}

void report_summary_header(void)
{
	human("\n%-16s %-7s %-7s %-8s %-9s %-12s %s", "HOST", "ROLE", "PHASES", "RESULT", "DURATION",
	      "SENT", "FIRST ERROR");
}

struct result_event {
	const char *host, *role, *error;
	unsigned phases;
	bool ok;
	double duration;
	uint64_t bytes;
};

static void fill_result(struct jsonw *w, void *data)
{
	struct result_event *e = data;
	char masked[4096];
	jsonw_key(w, "host");
	jsonw_string(w, e->host);
	jsonw_key(w, "role");
	jsonw_string(w, e->role);
	jsonw_key(w, "phases_done");
	jsonw_uint(w, e->phases);
	jsonw_key(w, "ok");
	jsonw_bool(w, e->ok);
	jsonw_key(w, "duration_ms");
	jsonw_uint(w, (uint64_t)(e->duration * 1000));
	jsonw_key(w, "bytes_sent");
	jsonw_uint(w, e->bytes);
	if (e->error && *e->error) {
		log_redact(e->error, masked, sizeof(masked));
		jsonw_key(w, "error");
		jsonw_string(w, masked);
	}
}

void report_host_result(const char *host, const char *role, unsigned phases, bool ok,
			double duration_s, uint64_t bytes_sent, const char *error)
{
	struct result_event e = { host, role, error, phases, ok, duration_s, bytes_sent };
	char first[160] = "", masked[ERRBUF_MSG_MAX * 6];

	if (error) {
		/* masked before it is cut to the column */
		log_redact(error, masked, sizeof(masked));
		snprintf(first, sizeof(first), "%s", masked);
		char *nl = strchr(first, '\n');
		if (nl)
			*nl = '\0';
	}
	human("%-16s %-7s %-7u %-8s %-9.1f %-12" PRIu64 " %s", host, role, phases, ok ? "ok" : "FAILED",
	      duration_s, bytes_sent, first);
	if (json_mode)
		emit_json("host", fill_result, &e);
}

struct skipped_event {
	const char *host, *what;
	size_t layers;
	uint64_t bytes;
};

static void fill_skipped(struct jsonw *w, void *data)
{
	struct skipped_event *e = data;
	jsonw_key(w, "host");
	jsonw_string(w, e->host);
	jsonw_key(w, "skipped");
	jsonw_string(w, e->what);
	jsonw_key(w, "layers_filtered");
	jsonw_uint(w, e->layers);
	jsonw_key(w, "bytes_not_sent");
	jsonw_uint(w, e->bytes);
}

void report_host_skipped(const char *host, const char *what, size_t layers_filtered,
			 uint64_t bytes_not_sent)
{
	struct skipped_event e = { host, what, layers_filtered, bytes_not_sent };

	human("%-16s %s", host, what);
	if (json_mode)
		emit_json("host-skipped", fill_skipped, &e);
}

static void fill_text(struct jsonw *w, void *data)
{
	jsonw_key(w, "text");
	jsonw_string(w, data);
}

void report_text(const char *fmt, ...)
{
	char line[8192], masked[8192];
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_redact_cut(line, len >= (int)sizeof(line), masked, sizeof(masked));
	human("%s", masked);
	if (json_mode)
		emit_json("text", fill_text, masked);
}
