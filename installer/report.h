/* What a run tells its user, in one place: human lines (phase headers, host-prefixed
 * output, tables) or, with --output json, the same events as JSON lines on stdout; and
 * always a log file under $CIRUN_HOME/logs/ with everything, secrets masked. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

int report_open(const char *home, const char *cluster, bool json, struct errbuf *err);
void report_close(void);
const char *report_log_path(void);

void report_run_start(const char *image, const char *id, size_t layers, const char *cluster,
		      size_t hosts, bool dry_run);
void report_phase(const char *name, size_t hosts);
/* One host finished one phase (ok or failed): a "host-phase" event in JSON and a line in
 * the log file, in the order the host went through them. */
void report_host_phase(const char *host, const char *phase, bool ok, int64_t duration_ms);
void report_preflight_header(void);
void report_preflight(const char *host, const char *hostname, const char *arch, bool systemd,
		      int64_t free_mb, double skew_s, const char *problems);
void report_summary_header(void);
void report_host_result(const char *host, const char *role, unsigned phases, bool ok,
			double duration_s, uint64_t bytes_sent, const char *error);
/* Under the summary table: what a host was not sent ("images/, registry/: not sent (not
 * the registry host; …)"); a "host-skipped" event in JSON with the layers filtered and the
 * bytes not sent. */
void report_host_skipped(const char *host, const char *what, size_t layers_filtered,
			 uint64_t bytes_not_sent);
/* A free-form human line (dry-run plans); a "text" event in JSON. */
void report_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Transfer progress of one host in a phase (the layers of distribute): start with the
 * bytes it will be sent, update with the bytes sent so far (from its own thread, as often
 * as frames go out), end when its sending stops. On a terminal: a line per host and a
 * total line, redrawn in place below the other output; otherwise a timestamped line per
 * host every few seconds, or with --output json "progress" events (host, phase, bytes,
 * total, rate_bps, eta_s). The run log gets each host's start and end. A host that is
 * sent nothing is not started. */
void report_progress_start(const char *host, const char *phase, uint64_t total);
void report_progress(const char *host, uint64_t sent);
void report_progress_end(const char *host, bool ok);
