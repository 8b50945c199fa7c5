/* Systemd units through sd-bus, as systemctl would do it but without a subprocess:
 * Reload, EnableUnitFiles, then StartUnit for each unit (but one that is only enabled)
 * with every job waited for and its result checked. A unit that does not start is an
 * error naming it, with its last journal lines. */
#pragma once

#include <stddef.h>

#include "error.h"

int units_enable_start(char *const *units, size_t n, const char *enable_only, struct errbuf *err);
