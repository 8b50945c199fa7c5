/* Phase "mirrors": on every host, right after registry, the HOSTS message again, its
 * upstreams now the fixed list and the registries the import found in images/ (a base
 * image's ghcr.io/…, myreg.example:5000/…), so that pulls of the images' original names
 * go to sea.hub:5000 too. Which registries those are is known only once the agent on the
 * registry host has read the archives, after every host's hosts phase. The agent rewrites
 * nothing that is unchanged: the hosts phase's files stay as they are, only the new
 * registries' hosts.toml are written. Skipped with registry when the image has no images/
 * (from the image, never from what hosts answered). */
#include "run-internal.h"

#include "cleanup.h"
#include "proto-msg.h"
#include "report.h"

int phase_mirrors(struct run *r, struct host_state *h)
{
	return phase_hosts(r, h);
}

void run_mirrors_plan(const struct run *r)
{
	const char *up[MSG_MAX_MIRRORS];
	size_t n = run_mirror_upstreams(r, up);
	_cleanup_buf_ struct buf names = BUF_INIT(1 << 16);

	for (size_t i = 0; i < n; i++)
		buf_printf(&names, "%s%s", i ? " " : "", up[i]);
	report_text("containerd mirrors (every host): pulls from %s go to sea.hub:5000 first%s",
		    names.data, r->has_images ? "; the registries the images of images/ are named "
		    "under are added once imported (phase mirrors)" : "");
}
