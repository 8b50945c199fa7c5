/* SHELL: spec.data is a bash script, run on each selected host (cd'd into the cluster's
 * rootfs except at Originally, when the rootfs is not there yet). */
#include <string.h>

#include "plugin-type.h"

static int shell_parse_data(struct plugin *p, struct errbuf *err)
{
	const char *cr = strchr(p->data, '\r');

	/* bash reads "cmd\r" as a command named "cmd\r": refuse it here, not on every host */
	if (cr) {
		unsigned idx = 1;
		for (const char *s = p->data; s < cr; s++)
			idx += *s == '\n';
		return plugin_data_error(p, idx, err, "the script has a carriage return (Windows "
					 "line endings): bash would fail on it; save it with '\\n' "
					 "line endings");
	}
	return 0;
}

const struct plugin_type_info plugin_type_shell = {
	.name = "SHELL",
	.phases = PLUGIN_PHASES_ALL,
	.takes_data = true,
	.parse_data = shell_parse_data,
};
