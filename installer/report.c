#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "json-writer.h"
#include "log.h"
#include "macro.h"
#include "xfer-rate.h"

static FILE *log_file;
static char *log_path;
static bool json_mode;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* stdout is a terminal (and not JSON): transfer progress is a block of lines redrawn in
 * place at the bottom; every other line is printed above it (progress_hide/show). */
static bool tty_mode;
/* With the block on the terminal, log lines for stderr are written by the sink, between
 * hiding and redrawing the block, instead of by log.c on its own. */
static bool tty_takes_log;
static void progress_hide_locked(void);
static void progress_show_locked(void);
static void progress_release_locked(void);

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
	if (tty_takes_log) {
		pthread_mutex_lock(&lock);
		progress_hide_locked();
		dprintf(STDERR_FILENO, "%s%s%s%s\n", host ? "[" : "", host ? host : "",
			host ? "] " : "", msg);
		progress_show_locked();
		pthread_mutex_unlock(&lock);
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
	/* The sink writes what log.c would, but for the file:line prefix of debug: in debug,
	 * with both on the terminal, progress comes as plain lines instead. */
	bool err_tty = isatty(STDERR_FILENO);
	tty_mode = !json_mode && isatty(STDOUT_FILENO) &&
		   !(err_tty && log_get_max_level() >= LOG_DEBUG);
	tty_takes_log = tty_mode && err_tty;
	log_set_sink(sink);
	if (json_mode || tty_takes_log)
		log_set_fd(-1); /* stdout carries JSON only; messages travel as events */
	return 0;
}

void report_close(void)
{
	pthread_mutex_lock(&lock);
	progress_release_locked();
	pthread_mutex_unlock(&lock);
	log_set_sink(NULL);
	if (json_mode || tty_takes_log)
		log_set_fd(STDERR_FILENO);
	tty_mode = tty_takes_log = false;
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
		progress_hide_locked();
		printf("%s\n", masked);
		progress_show_locked();
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

/* Transfer progress. The slots of the hosts being sent to live until every one of them has
 * ended: then the block (or the total line) is final and the slots are released. */
#define PROGRESS_HOSTS_MAX 1024
#define TTY_REDRAW_MS 100
#define TEXT_INTERVAL_MS 5000
#define JSON_INTERVAL_MS 1000
#define RATE_WINDOW_MS 5000

struct progress_slot {
	char host[256], phase[32]; /* a host name is at most 253 bytes: slot_find matches whole */
	uint64_t sent, total;
	struct xfer_rate *rate;
	int64_t start_ms, end_ms, last_emit_ms;
	bool done, ok;
};

static struct progress_slot *slots;
static size_t nslots;
static unsigned drawn; /* lines of the block on the terminal now */
static int64_t last_draw_ms;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct progress_slot *slot_find(const char *host)
{
	for (size_t i = 0; i < nslots; i++)
		if (strcmp(slots[i].host, host) == 0)
			return &slots[i];
	return NULL;
}

static void slot_line(const struct progress_slot *s, char *out, size_t n)
{
	char sent[16], total[16], rate[16], eta[16];
	bool finished = s->done;
	double bps = finished ? xfer_rate_mean_bps(s->rate) : xfer_rate_bps(s->rate);

	xfer_format_bytes(s->sent, sent, sizeof(sent));
	xfer_format_bytes(s->total, total, sizeof(total));
	xfer_format_bytes((uint64_t)bps, rate, sizeof(rate));
	if (finished)
		snprintf(eta, sizeof(eta), "%.1fs", (double)(s->end_ms - s->start_ms) / 1000);
	else
		xfer_format_eta(xfer_eta_s(s->sent, s->total, bps), eta, sizeof(eta));
	snprintf(out, n, "[%s] %-10s %9s / %-9s %3u%%  %9s/s  %s %s", s->host, s->phase, sent,
		 total, xfer_percent(s->sent, s->total), rate,
		 !finished ? "ETA" : s->ok ? "done in" : "FAILED after", eta);
}

/* All hosts together: the sum of the bytes and of the rates; time left is the slowest
 * host's, as they are sent to in parallel. */
static void total_line(char *out, size_t n, bool final)
{
	uint64_t sent = 0, total = 0;
	double bps = 0;
	int64_t eta = 0, t0 = INT64_MAX, t1 = 0;
	char a[16], b[16], c[16], e[16];

	for (size_t i = 0; i < nslots; i++) {
		struct progress_slot *s = &slots[i];
		sent += s->sent;
		total += s->total;
		t0 = MIN(t0, s->start_ms);
		t1 = MAX(t1, s->done ? s->end_ms : mono_ms());
		if (s->done)
			continue;
		double r = xfer_rate_bps(s->rate);
		int64_t left = xfer_eta_s(s->sent, s->total, r);
		bps += r;
		eta = eta < 0 || left < 0 ? -1 : MAX(eta, left);
	}
	if (final && t1 > t0)
		bps = (double)sent * 1000 / (double)(t1 - t0);
	xfer_format_bytes(sent, a, sizeof(a));
	xfer_format_bytes(total, b, sizeof(b));
	xfer_format_bytes((uint64_t)bps, c, sizeof(c));
	if (final)
		snprintf(e, sizeof(e), "%.1fs", (double)(t1 - t0) / 1000);
	else
		xfer_format_eta(eta, e, sizeof(e));
	snprintf(out, n, "total (%zu host%s) %9s / %-9s %3u%%  %9s/s  %s %s", nslots,
		 nslots == 1 ? "" : "s", a, b, xfer_percent(sent, total), c, final ? "in" : "ETA", e);
}

static void put_cut(const char *line, unsigned cols)
{
	/* a wrapped line would take two rows and the redraw would lose count */
	printf("%.*s\n", (int)(cols > 1 ? cols - 1 : 79), line);
}

static void progress_hide_locked(void)
{
	if (!drawn)
		return;
	printf("\033[%uA\033[J", drawn);
	drawn = 0;
	fflush(stdout);
}

static void progress_show_locked(void)
{
	struct winsize ws = { 0 };
	unsigned cols = 80, rows = 24, limit, shown = 0;
	char line[512];
	bool final = true;

	if (!tty_mode || !nslots)
		return;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	/* the block must fit the screen, or cursor-up cannot reach its top */
	limit = rows > 4 ? rows - 3 : 1;
	progress_hide_locked();
	for (size_t i = 0; i < nslots; i++) {
		final = final && slots[i].done;
		if (shown < limit) {
			slot_line(&slots[i], line, sizeof(line));
			put_cut(line, cols);
			shown++;
		}
	}
	if (nslots > shown) {
		snprintf(line, sizeof(line), "  (%zu more host%s)", nslots - shown,
			 nslots - shown == 1 ? "" : "s");
		put_cut(line, cols);
		shown++;
	}
	total_line(line, sizeof(line), final);
	put_cut(line, cols);
	drawn = shown + 1;
	last_draw_ms = mono_ms();
	fflush(stdout);
}

/* A copy taken under the lock: the slot may be released once it is let go. */
struct progress_event {
	char host[256], phase[32]; /* a host name is at most 253 bytes: slot_find matches whole */
	uint64_t sent, total, bps;
	int64_t eta_s, duration_ms;
	bool done, ok;
};

static void progress_snapshot(const struct progress_slot *s, struct progress_event *e)
{
	double bps = s->done ? xfer_rate_mean_bps(s->rate) : xfer_rate_bps(s->rate);

	memcpy(e->host, s->host, sizeof(e->host));
	memcpy(e->phase, s->phase, sizeof(e->phase));
	e->sent = s->sent;
	e->total = s->total;
	e->bps = (uint64_t)bps;
	e->eta_s = s->done ? 0 : xfer_eta_s(s->sent, s->total, bps);
	e->duration_ms = s->done ? s->end_ms - s->start_ms : 0;
	e->done = s->done;
	e->ok = s->ok;
}

static void fill_progress(struct jsonw *w, void *data)
{
	const struct progress_event *e = data;

	jsonw_key(w, "host");
	jsonw_string(w, e->host);
	jsonw_key(w, "phase");
	jsonw_string(w, e->phase);
	jsonw_key(w, "bytes");
	jsonw_uint(w, e->sent);
	jsonw_key(w, "total");
	jsonw_uint(w, e->total);
	jsonw_key(w, "rate_bps");
	jsonw_uint(w, e->bps);
	jsonw_key(w, "eta_s");
	jsonw_int(w, e->eta_s);
	jsonw_key(w, "done");
	jsonw_bool(w, e->done);
	if (e->done) {
		jsonw_key(w, "ok");
		jsonw_bool(w, e->ok);
		jsonw_key(w, "duration_ms");
		jsonw_int(w, e->duration_ms);
	}
}

/* The line or event of one host: JSON, or a timestamped line when not on a terminal, and
 * the run log at the start and the end. Called with the lock held: write_json takes it,
 * so a JSON event is only marked due here, and written once the caller lets go. */
static void slot_emit_locked(struct progress_slot *s, bool to_log, struct buf *text,
			     bool *json_due)
{
	char line[512], t[40];

	slot_line(s, line, sizeof(line));
	if (to_log && log_file) {
		stamp(t, sizeof(t));
		file_line(t, line);
	}
	s->last_emit_ms = mono_ms();
	if (json_mode) {
		*json_due = true;
	} else if (!tty_mode) {
		stamp(t, sizeof(t));
		buf_printf(text, "%s %s\n", t, line);
	}
}

static void flush_text(struct buf *text)
{
	if (text->len) {
		fputs(text->data, stdout);
		fflush(stdout);
	}
}

void report_progress_start(const char *host, const char *phase, uint64_t total)
{
	struct progress_event copy;
	struct buf text = BUF_INIT(4096);
	bool json_due = false;

	pthread_mutex_lock(&lock);
	struct progress_slot *s = slot_find(host);
	if (!s && nslots < PROGRESS_HOSTS_MAX) {
		slots = xrealloc(slots, (nslots + 1) * sizeof(*slots));
		s = &slots[nslots++];
		s->rate = NULL;
	}
	if (s) {
		/* a host started again before the others ended starts from nothing */
		xfer_rate_free(s->rate);
		*s = (struct progress_slot){ .rate = xfer_rate_new(RATE_WINDOW_MS) };
		snprintf(s->host, sizeof(s->host), "%s", host);
		snprintf(s->phase, sizeof(s->phase), "%s", phase);
		s->total = total;
		s->start_ms = mono_ms();
		xfer_rate_add(s->rate, s->start_ms, s->sent);
		slot_emit_locked(s, true, &text, &json_due);
		progress_snapshot(s, &copy);
		progress_show_locked();
		flush_text(&text);
	}
	pthread_mutex_unlock(&lock);
	buf_release(&text);
	if (json_due)
		emit_json("progress", fill_progress, &copy);
}

void report_progress(const char *host, uint64_t sent)
{
	struct progress_event copy;
	struct buf text = BUF_INIT(4096);
	bool json_due = false;
	int64_t now = mono_ms();

	pthread_mutex_lock(&lock);
	struct progress_slot *s = slot_find(host);
	if (s && !s->done) {
		s->sent = sent;
		s->total = MAX(s->total, sent); /* a layer sent again after a bad copy */
		xfer_rate_add(s->rate, now, sent);
		if (tty_mode && now - last_draw_ms >= TTY_REDRAW_MS)
			progress_show_locked();
		else if (!tty_mode && now - s->last_emit_ms >=
						(json_mode ? JSON_INTERVAL_MS : TEXT_INTERVAL_MS))
			slot_emit_locked(s, false, &text, &json_due);
		progress_snapshot(s, &copy);
		flush_text(&text);
	}
	pthread_mutex_unlock(&lock);
	buf_release(&text);
	if (json_due)
		emit_json("progress", fill_progress, &copy);
}

struct total_event {
	size_t hosts;
	uint64_t bytes, total;
	int64_t duration_ms;
};

static void fill_total(struct jsonw *w, void *data)
{
	struct total_event *e = data;
	jsonw_key(w, "hosts");
	jsonw_uint(w, e->hosts);
	jsonw_key(w, "bytes");
	jsonw_uint(w, e->bytes);
	jsonw_key(w, "total");
	jsonw_uint(w, e->total);
	jsonw_key(w, "rate_bps");
	jsonw_uint(w, e->duration_ms > 0
			      ? (uint64_t)((double)e->bytes * 1000 / (double)e->duration_ms)
			      : 0);
	jsonw_key(w, "duration_ms");
	jsonw_int(w, e->duration_ms);
}

/* Every host ended: the block stays on the terminal in its final state, the other forms
 * get a total line, and the slots go. */
static void progress_release_locked(void)
{
	char line[512], t[40];

	if (!nslots)
		return;
	if (tty_mode)
		progress_show_locked();
	total_line(line, sizeof(line), true);
	stamp(t, sizeof(t));
	if (log_file)
		file_line(t, line);
	if (!tty_mode && !json_mode && nslots > 1) {
		printf("%s %s\n", t, line);
		fflush(stdout);
	}
	drawn = 0;
	for (size_t i = 0; i < nslots; i++)
		xfer_rate_free(slots[i].rate);
	free(slots);
	slots = NULL;
	nslots = 0;
}

void report_progress_end(const char *host, bool ok)
{
	struct progress_event copy;
	struct total_event total = { 0 };
	struct buf text = BUF_INIT(4096);
	bool json_due = false, all_done = true;

	pthread_mutex_lock(&lock);
	struct progress_slot *s = slot_find(host);
	if (s && !s->done) {
		s->done = true;
		s->ok = ok;
		s->end_ms = mono_ms();
		xfer_rate_add(s->rate, s->end_ms, s->sent);
		slot_emit_locked(s, true, &text, &json_due);
		progress_snapshot(s, &copy);
		flush_text(&text);
		int64_t t0 = INT64_MAX, t1 = 0;
		for (size_t i = 0; i < nslots; i++) {
			all_done = all_done && slots[i].done;
			total.bytes += slots[i].sent;
			total.total += slots[i].total;
			t0 = MIN(t0, slots[i].start_ms);
			t1 = MAX(t1, slots[i].end_ms);
		}
		total.hosts = nslots;
		total.duration_ms = t1 - t0;
		if (all_done)
			progress_release_locked();
		else
			progress_show_locked();
	} else {
		all_done = false;
	}
	pthread_mutex_unlock(&lock);
	buf_release(&text);
	if (json_due)
		emit_json("progress", fill_progress, &copy);
	if (json_due && all_done && total.hosts > 1)
		emit_json("progress-total", fill_total, &total);
}
