/* Transfer rate and time left from timed samples of a cumulative byte count, and their
 * short human spellings: pure arithmetic (the caller passes the clock), so that the
 * progress display (report.c) can be tested without a clock or a network. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xfer_rate;

/* The rate is measured over the last window_ms (> 0) of samples, so a stall or a burst
 * shows within that time instead of being averaged over the whole transfer. */
struct xfer_rate *xfer_rate_new(int64_t window_ms);
struct xfer_rate *xfer_rate_free(struct xfer_rate *r);

/* bytes: the cumulative count at now_ms (both never decrease; an older sample is ignored). */
void xfer_rate_add(struct xfer_rate *r, int64_t now_ms, uint64_t bytes);
/* Bytes per second over the window; 0 until two samples lie at least 1 ms apart. */
double xfer_rate_bps(const struct xfer_rate *r);
/* Bytes per second from the first sample to the last (the figure of a finished transfer). */
double xfer_rate_mean_bps(const struct xfer_rate *r);

/* Seconds left for total - done bytes at bps, rounded up; 0 when done >= total; -1 when
 * unknown (no rate yet). */
int64_t xfer_eta_s(uint64_t done, uint64_t total, double bps);

/* "512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB": three significant digits at most. */
void xfer_format_bytes(uint64_t bytes, char *out, size_t n);
/* "--" (unknown), "45s", "3m07s", "2h05m". */
void xfer_format_eta(int64_t seconds, char *out, size_t n);
/* Percent of total done, 0-100; 100 for an empty total. */
unsigned xfer_percent(uint64_t done, uint64_t total);
