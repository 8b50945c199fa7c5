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

int units_enable_start(char *const *units, const bool *restart, size_t n, const char *enable_only,
		       struct errbuf *err);
