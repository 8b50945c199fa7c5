/* --dry-run: the plan from the image and the flags alone. */
#include "run-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs-util.h"
#include "layer.h"
#include "log.h"
#include "report.h"

static bool plan_wants(const char *path, void *unused)
{
	(void)unused;
	return strncmp(path, "etc", 3) == 0 || strncmp(path, "cri", 3) == 0 ||
	       strncmp(path, "scripts", 7) == 0 || strncmp(path, "bin", 3) == 0 ||
	       strncmp(path, ".wh.", 4) == 0;
}

/* What setup and init will find in the image: the units, CRI archives, bin/ and init.sh,
 * read from the store's layers (filtered: only those directories are unpacked). */
static void plan_contents(struct run *r, struct buf *units, struct buf *cri, struct buf *bins,
			  bool *has_init)
{
	_cleanup_free_ char *tmp = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct {
		const char *dir, *suffix;
		struct buf *out;
	} lists[] = { { "etc", ".service", units }, { "cri", "", cri }, { "bin", "", bins } };

	tmp = xasprintf("%s/build/tmp/plan-XXXXXX", image_store_home(r->st));
	char *parent = xstrdup(tmp);
	*strrchr(parent, '/') = '\0';
	int rc = mkdir_p(parent, 0700);
	free(parent);
	if (rc < 0 || !mkdtemp(tmp)) {
		log_warning("cannot create a directory under %s/build/tmp to read the image: %s; the "
			    "plan below leaves out units, CRI files and scripts", image_store_home(r->st),
			    strerror(rc < 0 ? -rc : errno));
		return;
	}
	for (size_t i = 0; i < r->nlayers; i++) {
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		if (layer_apply_file_filtered(tmp, blob, plan_wants, NULL, &err) < 0) {
			log_warning("reading the image for the plan: %s; the plan below may miss "
				    "units, CRI files or scripts", errbuf_msg(&err));
			break;
		}
	}
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		_cleanup_free_ char *d = NULL;
		struct dirent **names;
		d = xasprintf("%s/%s", tmp, lists[k].dir);
		int n = scandir(d, &names, NULL, alphasort);
		for (int i = 0; i < n; i++) {
			const char *nm = names[i]->d_name;
			size_t len = strlen(nm), sl = strlen(lists[k].suffix);
			if (nm[0] != '.' && len > sl && strcmp(nm + len - sl, lists[k].suffix) == 0)
				buf_printf(lists[k].out, "%s%s", lists[k].out->len ? " " : "", nm);
			free(names[i]);
		}
		if (n >= 0)
			free(names);
	}
	_cleanup_free_ char *init = NULL;
	init = xasprintf("%s/scripts/init.sh", tmp);
	*has_init = access(init, F_OK) == 0;
	rm_rf_at(AT_FDCWD, tmp);
}

/* The layers host i gets (roles.c: views without images/ and registry/ unless it is the
 * registry host), and what it is not sent. */
static void plan_layers(const struct run *r, size_t i)
{
	char *const *digests;
	const uint64_t *sizes;
	size_t n;
	uint64_t bytes = 0;
	char skipped[256];

	run_host_layers(r, i, &digests, &sizes, &n);
	for (size_t k = 0; k < n; k++) {
		report_text("  layer %.19s %10" PRIu64 " bytes", digests[k], sizes[k]);
		bytes += sizes[k];
	}
	report_text("  sends at most %zu layer(s), %" PRIu64 " bytes (layers the host "
		    "already holds are not sent)", n, bytes);
	if (run_roles_skipped(r, i, skipped, sizeof(skipped)))
		report_text("  %s", skipped);
}

static const char *auth_name(const struct ssh_settings *s)
{
	if (s->pk_file)
		return "a key";
	return s->password ? "a password" : "no credentials";
}

/* The plan from the image and the flags alone: a dry run never connects, so it works
 * before the hosts exist and cannot touch them. Which layers a host already holds is
 * not known here, hence "at most". */
void run_plan(struct run *r)
{
	_cleanup_buf_ struct buf units = BUF_INIT(1 << 16), cri = BUF_INIT(1 << 16),
				 bins = BUF_INIT(1 << 16), phases = BUF_INIT(4096);
	bool has_init = false;

	plan_contents(r, &units, &cri, &bins, &has_init);
	pipeline_describe(r, run_pipeline, run_pipeline_len, &phases);
	report_text("%s", phases.data);
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		const struct ssh_settings *s = &h->spec->ssh;
		report_text("[%s] plan (%s): ssh %s@%s port %u with %s", h->spec->ip,
			    i == 0 ? "master0" : role_name(h->spec->role), s->user, h->spec->ip,
			    s->port, auth_name(s));
		plan_layers(r, i);
		report_text("  agent %s; rootfs " REMOTE_ROOT "/data/%s/rootfs", REMOTE_AGENT, r->c->name);
		for (size_t k = 0; k < r->c->nconfigs; k++) {
			const struct config_doc *cfg = &r->c->configs[k];
			report_text("  Config %s (%s:%u): %s into rootfs/%s", cfg->name, cfg->file,
				    cfg->line, config_strategy_name(cfg->strategy),
				    cfg->path + strspn(cfg->path, "/"));
		}
		report_text("  PATH: %s", bins.len ? bins.data : "(no bin/)");
		report_text("  CRI into /usr/bin: %s", cri.len ? cri.data : "(no cri/)");
		report_text("  units: %s%s", units.len ? units.data : "(none)",
			    strstr(units.data, "kubelet.service") ? " (kubelet.service enabled only)" : "");
		report_text("  scripts/init.sh: %s, with %zu env variable(s)",
			    has_init ? "runs" : "not in the image", h->spec->nenv);
		run_plugins_plan(r, i);
		run_registry_plan(r, i);
		run_kubeadm_plan(r, i);
	}
	run_mirrors_plan(r);
	run_cmd_plan(r);
}
