/* Systemd units through sd-bus, as systemctl would do it but without a subprocess:
 * Reload, EnableUnitFiles, then StartUnit for each unit (but one that is only enabled)
 * with every job waited for and its result checked. A unit marked in restart is
 * restarted instead (RestartUnit; TryRestartUnit for enable_only, which runs only when
 * something else started it). A unit that does not start is an error naming it, with
 * its last journal lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* queued (optional, n entries) gets true for each unit whose start or restart job systemd
 * accepted, kept when a later step fails: from then on that unit runs, or failed to, with
 * what is on disk now. */
int units_enable_start(char *const *units, const bool *restart, size_t n, const char *enable_only,
		       bool *queued, struct errbuf *err);
typedef int (*units_start_fn)(char *const *units, const bool *restart, size_t n,
			      const char *enable_only, bool *queued, struct errbuf *err);

/* A delete: each unit stopped (every job waited for; a unit systemd does not know is
 * already stopped), then all disabled (the links enable made). */
int units_stop_disable(char *const *units, size_t n, struct errbuf *err);
/* daemon-reload, once the unit files are gone. */
int units_reload(struct errbuf *err);
