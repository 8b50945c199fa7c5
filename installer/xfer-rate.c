#include "xfer-rate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"

/* Frames arrive every 256 KiB, hundreds a second: only one sample per window/SLOTS is
 * kept, and the newest point separately, so the ring covers the whole window. */
#define SLOTS 16

struct sample {
	int64_t t;
	uint64_t bytes;
};

struct xfer_rate {
	int64_t window;
	struct sample ring[SLOTS];
	size_t head, count; /* ring[head] is the oldest kept sample */
	struct sample first, last;
	bool any;
};

struct xfer_rate *xfer_rate_new(int64_t window_ms)
{
	struct xfer_rate *r = xcalloc(1, sizeof(*r));
	r->window = window_ms > 0 ? window_ms : 1;
	return r;
}

struct xfer_rate *xfer_rate_free(struct xfer_rate *r)
{
	free(r);
	return NULL;
}

static struct sample *newest_kept(struct xfer_rate *r)
{
	return &r->ring[(r->head + r->count - 1) % SLOTS];
}

void xfer_rate_add(struct xfer_rate *r, int64_t now_ms, uint64_t bytes)
{
	struct sample s = { now_ms, bytes };

	if (r->any && (now_ms < r->last.t || bytes < r->last.bytes))
		return;
	if (!r->any)
		r->first = s;
	r->any = true;
	r->last = s;
	if (r->count == 0 || now_ms - newest_kept(r)->t >= r->window / SLOTS) {
		if (r->count == SLOTS) {
			r->head = (r->head + 1) % SLOTS;
			r->count--;
		}
		r->ring[(r->head + r->count) % SLOTS] = s;
		r->count++;
	}
	/* keep one sample at or before the window's start, so the window is full */
	while (r->count > 1 && r->ring[(r->head + 1) % SLOTS].t <= now_ms - r->window) {
		r->head = (r->head + 1) % SLOTS;
		r->count--;
	}
}

static double between(struct sample a, struct sample b)
{
	if (b.t - a.t < 1)
		return 0;
	return (double)(b.bytes - a.bytes) * 1000.0 / (double)(b.t - a.t);
}

double xfer_rate_bps(const struct xfer_rate *r)
{
	if (!r->any || r->count == 0)
		return 0;
	return between(r->ring[r->head], r->last);
}

double xfer_rate_mean_bps(const struct xfer_rate *r)
{
	return r->any ? between(r->first, r->last) : 0;
}

int64_t xfer_eta_s(uint64_t done, uint64_t total, double bps)
{
	if (done >= total)
		return 0;
	if (!(bps > 0))
		return -1;
	double s = (double)(total - done) / bps;
	if (s >= (double)INT32_MAX)
		return INT32_MAX;
	int64_t whole = (int64_t)s;
	return (double)whole < s ? whole + 1 : whole;
}

void xfer_format_bytes(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, n, "%" PRIu64 " B", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	/* the precision follows the magnitude: three significant digits */
	snprintf(out, n, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
}

void xfer_format_eta(int64_t s, char *out, size_t n)
{
	if (s < 0)
		snprintf(out, n, "--");
	else if (s < 60)
		snprintf(out, n, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(out, n, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(out, n, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
}

unsigned xfer_percent(uint64_t done, uint64_t total)
{
	if (total == 0 || done >= total)
		return 100;
	return (unsigned)((double)done * 100.0 / (double)total);
}
