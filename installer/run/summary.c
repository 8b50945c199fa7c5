/* The table that ends a run: each host's role, phases done, result, duration, bytes sent
 * and first error. */
#include "run-internal.h"

#include <stdio.h>

#include "report.h"

void run_summary(struct run *r)
{
	report_summary_header();
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		char first[1024] = "";
		if (h->failed)
			snprintf(first, sizeof(first), "%s: %s", h->failed_phase ? h->failed_phase : "?",
				 errbuf_msg(&h->err));
		int64_t end = h->t_end_ms ? h->t_end_ms : run_now_ms();
		report_host_result(h->spec->ip, i == 0 ? "master0" : role_name(h->spec->role),
				   h->phases_done, !h->failed,
				   h->t_start_ms ? (double)(end - h->t_start_ms) / 1000 : 0, h->bytes_sent,
				   first);
	}
	/* roles.c: what each host was not sent, under the table */
	for (size_t i = 0; i < r->n; i++) {
		char skipped[256];
		if (run_roles_skipped(r, i, skipped, sizeof(skipped)))
			report_host_skipped(r->hosts[i].spec->ip, skipped, r->node_layers_filtered,
					    r->node_bytes_saved);
	}
	run_journal_summary(r);
}
