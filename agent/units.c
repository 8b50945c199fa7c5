#include "units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "macro.h"

#define JOB_TIMEOUT_US (300ULL * 1000000ULL)
#define JOURNAL_LINES 10

static const char DEST[] = "org.freedesktop.systemd1";
static const char PATH[] = "/org/freedesktop/systemd1";
static const char MGR[] = "org.freedesktop.systemd1.Manager";

struct job {
	char *path;
	char *unit;
	char *result; /* set when JobRemoved arrived */
	bool watch;   /* must be running afterwards (not a try-restart of a stopped unit) */
};

struct wait {
	struct job *jobs;
	size_t n;
};

static int on_job_removed(sd_bus_message *m, void *data, sd_bus_error *ret_error)
{
	struct wait *w = data;
	const char *path, *unit, *result;
	uint32_t id;

	(void)ret_error;
	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->jobs[i].path && strcmp(w->jobs[i].path, path) == 0 && !w->jobs[i].result)
			w->jobs[i].result = xstrdup(result);
	return 0;
}

static void journal_tail(const char *unit, struct buf *out)
{
	sd_journal *j = NULL;
	char match[512];
	const char *lines[JOURNAL_LINES];
	size_t n = 0;

	if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY) < 0)
		return;
	snprintf(match, sizeof(match), "_SYSTEMD_UNIT=%s", unit);
	sd_journal_add_match(j, match, 0);
	sd_journal_seek_tail(j);
	char *kept[JOURNAL_LINES] = { 0 };
	while (n < JOURNAL_LINES && sd_journal_previous(j) > 0) {
		const void *d;
		size_t len;
		if (sd_journal_get_data(j, "MESSAGE", &d, &len) >= 0 && len > 8)
			kept[n++] = xstrndup((const char *)d + 8, len - 8);
	}
	for (size_t i = n; i > 0; i--) {
		lines[0] = kept[i - 1];
		buf_printf(out, "\n  %s", lines[0]);
		free(kept[i - 1]);
	}
	sd_journal_close(j);
}

static int call(sd_bus *bus, const char *method, struct errbuf *err, sd_bus_message **reply,
		const char *types, ...)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	va_list ap;
	int r = sd_bus_message_new_method_call(bus, &m, DEST, PATH, MGR, method);

	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_call(bus, m, JOB_TIMEOUT_US, &e, reply);
	if (r < 0)
		errbuf_set(err, r, "systemd %s failed: %s", method, e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	return r;
}

static int enable(sd_bus *bus, char *const *units, size_t n, struct errbuf *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_message_new_method_call(bus, &m, DEST, PATH, MGR, "EnableUnitFiles");

	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "s");
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(m, "s", units[i]);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "bb", 0, 1); /* not runtime-only; force (re-link) */
	if (r >= 0)
		r = sd_bus_call(bus, m, JOB_TIMEOUT_US, &e, &reply);
	if (r < 0)
		errbuf_set(err, r, "enabling %s failed: %s", units[0], e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	return r;
}

static int wait_jobs(sd_bus *bus, struct wait *w, struct errbuf *err)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < w->n; i++)
			all &= w->jobs[i].result != NULL || !w->jobs[i].path;
		if (all)
			return 0;
		int r = sd_bus_process(bus, NULL);
		if (r < 0)
			return errbuf_set(err, r, "talking to systemd failed: %s", strerror(-r));
		if (r > 0)
			continue;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)(now.tv_sec - start.tv_sec) * 1000000ULL > JOB_TIMEOUT_US)
			return errbuf_set(err, -ETIMEDOUT, "units did not start within %llus",
					  (unsigned long long)(JOB_TIMEOUT_US / 1000000));
		sd_bus_wait(bus, 1000000);
	}
}

/* ActiveState of a loaded unit ("active", "failed", "activating"…); malloc'd. */
static int unit_state(sd_bus *bus, const char *unit, char **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *path;
	int r = sd_bus_call_method(bus, DEST, PATH, MGR, "GetUnit", &e, &reply, "s", unit);

	if (r >= 0)
		r = sd_bus_message_read(reply, "o", &path);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, DEST, path, "org.freedesktop.systemd1.Unit",
					       "ActiveState", &e, ret);
	sd_bus_error_free(&e);
	return r;
}

/* A job can end "done" for a service that dies right after it started (Type=simple is
 * started once forked): watch the units for a moment and catch those. */
static int check_running(sd_bus *bus, const struct wait *w, struct errbuf *err)
{
	for (int round = 0; round < 20; round++) {
		bool settled = true;
		for (size_t i = 0; i < w->n; i++) {
			_cleanup_free_ char *state = NULL;
			if (!w->jobs[i].watch)
				continue;
			if (unit_state(bus, w->jobs[i].unit, &state) < 0)
				continue;
			if (strcmp(state, "failed") == 0) {
				struct buf detail = BUF_INIT(16384);
				int r;
				journal_tail(w->jobs[i].unit, &detail);
				r = errbuf_set(err, -EIO, "unit %s did not start (it failed right after "
					       "starting); its last journal lines:%s", w->jobs[i].unit,
					       detail.data);
				buf_release(&detail);
				return r;
			}
			settled &= strcmp(state, "active") == 0;
		}
		if (settled && round >= 5)
			return 0;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int units_enable_start(char *const *units, const bool *restart, size_t n, const char *enable_only,
		       bool *queued, struct errbuf *err)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	struct wait w = { .jobs = xcalloc(n ? n : 1, sizeof(*w.jobs)) };
	int r;

	r = sd_bus_open_system(&bus);
	if (r < 0) {
		errbuf_set(err, r, "cannot reach systemd on the system bus: %s", strerror(-r));
		goto out;
	}
	/* JobRemoved is only sent to subscribers; match before the first StartUnit */
	r = sd_bus_match_signal(bus, &slot, DEST, PATH, MGR, "JobRemoved", on_job_removed, &w);
	if (r >= 0)
		r = call(bus, "Subscribe", err, NULL, NULL);
	if (r >= 0)
		r = call(bus, "Reload", err, NULL, NULL);
	if (r >= 0)
		r = enable(bus, units, n, err);
	if (r >= 0)
		r = call(bus, "Reload", err, NULL, NULL);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		const char *job, *method = "StartUnit";
		bool only_enabled = enable_only && strcmp(units[i], enable_only) == 0;
		/* a changed unit that runs must pick up its new file and programs; one that is
		 * only enabled (kubelet, started by kubeadm) is restarted only if it runs */
		if (restart[i])
			method = only_enabled ? "TryRestartUnit" : "RestartUnit";
		else if (only_enabled)
			continue;
		log_info("%s %s", restart[i] ? "restarting" : "starting", units[i]);
		r = call(bus, method, err, &reply, "ss", units[i], "replace");
		if (r >= 0 && queued)
			queued[i] = true;
		if (r >= 0 && (r = sd_bus_message_read(reply, "o", &job)) < 0)
			r = errbuf_set(err, r, "%s %s: systemd's reply has no job: %s", method,
				       units[i], strerror(-r));
		if (r >= 0) {
			w.jobs[w.n].path = xstrdup(job);
			w.jobs[w.n].unit = units[i];
			w.jobs[w.n].watch = !only_enabled;
			w.n++;
		}
	}
	if (r >= 0)
		r = wait_jobs(bus, &w, err);
	for (size_t i = 0; r >= 0 && i < w.n; i++) {
		if (w.jobs[i].result && strcmp(w.jobs[i].result, "done") != 0) {
			struct buf detail = BUF_INIT(16384);
			journal_tail(w.jobs[i].unit, &detail);
			r = errbuf_set(err, -EIO, "unit %s did not start (job result: %s); its last journal "
				       "lines:%s", w.jobs[i].unit, w.jobs[i].result, detail.data);
			buf_release(&detail);
		}
	}
	if (r >= 0)
		r = check_running(bus, &w, err);
out:
	for (size_t i = 0; i < w.n; i++) {
		free(w.jobs[i].path);
		free(w.jobs[i].result);
	}
	free(w.jobs);
	return r;
}

/* A unit systemd has never heard of (its file gone, never loaded) is already stopped. */
static bool no_such_unit(const sd_bus_error *e)
{
	return sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit") ||
	       sd_bus_error_has_name(e, "org.freedesktop.systemd1.LoadFailed");
}

static int stop_one(sd_bus *bus, const char *unit, struct wait *w, struct errbuf *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *job;
	int r = sd_bus_call_method(bus, DEST, PATH, MGR, "StopUnit", &e, &reply, "ss", unit,
				   "replace");

	if (r < 0 && no_such_unit(&e))
		r = 0;
	else if (r < 0)
		errbuf_set(err, r, "stopping %s failed: %s", unit, e.message ? e.message : strerror(-r));
	else if ((r = sd_bus_message_read(reply, "o", &job)) < 0)
		errbuf_set(err, r, "StopUnit %s: systemd's reply has no job: %s", unit, strerror(-r));
	else
		w->jobs[w->n++] = (struct job){ .path = xstrdup(job), .unit = (char *)unit };
	sd_bus_error_free(&e);
	return r;
}

static int disable(sd_bus *bus, char *const *units, size_t n, struct errbuf *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_message_new_method_call(bus, &m, DEST, PATH, MGR, "DisableUnitFiles");

	if (r >= 0)
		r = sd_bus_message_append_strv(m, (char **)units);
	if (r >= 0)
		r = sd_bus_message_append(m, "b", 0); /* not runtime-only */
	if (r >= 0)
		r = sd_bus_call(bus, m, JOB_TIMEOUT_US, &e, &reply);
	if (r < 0 && no_such_unit(&e))
		r = 0;
	else if (r < 0)
		errbuf_set(err, r, "disabling %s failed: %s", n ? units[0] : "",
			   e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	return r;
}

int units_stop_disable(char *const *units, size_t n, struct errbuf *err)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	struct wait w = { .jobs = xcalloc(n ? n : 1, sizeof(*w.jobs)) };
	_cleanup_free_ char **strv = xcalloc(n + 1, sizeof(*strv));
	int r = sd_bus_open_system(&bus);

	if (r < 0)
		errbuf_set(err, r, "cannot reach systemd on the system bus: %s", strerror(-r));
	if (r >= 0)
		r = sd_bus_match_signal(bus, &slot, DEST, PATH, MGR, "JobRemoved", on_job_removed, &w);
	if (r >= 0)
		r = call(bus, "Subscribe", err, NULL, NULL);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		log_info("stopping %s", units[i]);
		r = stop_one(bus, units[i], &w, err);
	}
	if (r >= 0)
		r = wait_jobs(bus, &w, err);
	for (size_t i = 0; r >= 0 && i < w.n; i++)
		if (w.jobs[i].result && strcmp(w.jobs[i].result, "done") != 0)
			r = errbuf_set(err, -EIO, "unit %s did not stop (job result: %s)",
				       w.jobs[i].unit, w.jobs[i].result);
	for (size_t i = 0; i < n; i++)
		strv[i] = units[i];
	if (r >= 0 && n)
		r = disable(bus, strv, n, err);
	for (size_t i = 0; i < w.n; i++) {
		free(w.jobs[i].path);
		free(w.jobs[i].result);
	}
	free(w.jobs);
	return r;
}

int units_reload(struct errbuf *err)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r = sd_bus_open_system(&bus);

	if (r < 0)
		return errbuf_set(err, r, "cannot reach systemd on the system bus: %s", strerror(-r));
	return call(bus, "Reload", err, NULL, NULL);
}
