/* `cirun status [NAME]`: each host of a saved cluster as it is now (installer/status.h). */
#include "run-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "json-writer.h"
#include "log.h"
#include "report.h"
#include "status.h"

#define FIELD_MAX 200

/* What one host answered; every field is the host's text, cleaned for a terminal. */
struct host_status {
	char journal[FIELD_MAX + 1];
	char image[FIELD_MAX + 1];
	char cri[FIELD_MAX + 1];
	char kubelet[FIELD_MAX + 1];
	bool unread; /* reached, but its state could not be read (h->err says why) */
};

/* The value of "KEY value" in out (a line of the script below), control characters
 * shown as '?', at most FIELD_MAX bytes; "-" when empty or absent. */
static void field(const char *out, const char *key, char ret[FIELD_MAX + 1])
{
	size_t k = strlen(key), n = 0;
	const char *p = out;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, k) == 0 && p[k] == ' ')
			break;
	for (p = p && *p ? p + k + 1 : ""; *p && *p != '\n' && n < FIELD_MAX; p++)
		ret[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	ret[n] = '\0';
	if (n == 0)
		strcpy(ret, "-");
}

/* The journal's last line (its position, per issue 10's contract: "<step> <seconds>
 * [key=value ...]"), the last image id it recorded (distribute's img=, installer/run/
 * journal.c), and the units' states. The cluster
 * name is a validated name: safe in the quotes. */
static int host_status(struct run *r, struct host_state *h, struct host_status *st)
{
	_cleanup_free_ char *script = xasprintf(
		"J='" REMOTE_ROOT "/data/%s/journal'\n"
		"printf 'journal %%s\\n' \"$(tail -n 1 \"$J\" 2>/dev/null | head -c 1024)\"\n"
		"printf 'image %%s\\n' \"$(grep -o ' img=[^ ]*' \"$J\" 2>/dev/null | "
		"tail -n 1 | head -c 1024 | cut -d= -f2-)\"\n"
		"printf 'cri %%s\\n' \"$(systemctl is-active containerd 2>/dev/null)\"\n"
		"printf 'kubelet %%s\\n' \"$(systemctl is-active kubelet 2>/dev/null)\"\n",
		r->c->name);
	_cleanup_buf_ struct buf out = BUF_INIT(64 << 10);
	struct agent_exit ex;
	int rc = run_host_exec(h, script, 60, &out, &ex);

	if (rc >= 0 && (ex.exit_code != 0 || ex.timed_out))
		rc = errbuf_set(&h->err, -EIO, "reading its state failed: %s", h->tail.data);
	if (rc < 0)
		return rc;
	field(out.data ? out.data : "", "journal", st->journal);
	field(out.data ? out.data : "", "image", st->image);
	field(out.data ? out.data : "", "cri", st->cri);
	field(out.data ? out.data : "", "kubelet", st->kubelet);
	return 0;
}

static const char *role_of(const struct run *r, size_t i)
{
	return i == 0 ? "master0" : role_name(r->hosts[i].spec->role);
}

static void print_text(const struct run *r, const struct host_status *st)
{
	printf("cluster %s: image %s%s%s\n", r->c->name, r->c->image, r->img.id ? " " : "",
	       r->img.id ? r->img.id : " (not in the store)");
	printf("%-16s %-8s %-10s %-12s %-12s %-20s %s\n", "HOST", "ROLE", "REACHABLE", "CRI",
	       "KUBELET", "IMAGE", "JOURNAL");
	for (size_t i = 0; i < r->n; i++) {
		const struct host_state *h = &r->hosts[i];
		if (h->failed || st[i].unread) {
			printf("%-16s %-8s %-10s %-12s %-12s %-20s %s\n", h->spec->ip, role_of(r, i),
			       h->failed ? "no" : "yes", h->failed ? "-" : "?", h->failed ? "-" : "?",
			       h->failed ? "-" : "?", h->failed ? "-" : "?");
			printf("  %s: %s\n", h->spec->ip, errbuf_msg(&h->err));
			continue;
		}
		printf("%-16s %-8s %-10s %-12s %-12s %-20.20s %s\n", h->spec->ip, role_of(r, i), "yes",
		       st[i].cri, st[i].kubelet, st[i].image, st[i].journal);
	}
}

static void json_str_or_null(struct jsonw *w, const char *key, const char *v)
{
	jsonw_key(w, key);
	if (v && strcmp(v, "-") != 0)
		jsonw_string(w, v);
	else
		jsonw_null(w);
}

static int print_json(const struct run *r, const struct host_status *st)
{
	_cleanup_buf_ struct buf out = BUF_INIT(16u << 20);
	struct jsonw w;

	jsonw_init(&w, &out);
	jsonw_object_begin(&w);
	json_str_or_null(&w, "cluster", r->c->name);
	json_str_or_null(&w, "image", r->c->image);
	json_str_or_null(&w, "image_id", r->img.id);
	jsonw_key(&w, "hosts");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < r->n; i++) {
		const struct host_state *h = &r->hosts[i];
		jsonw_object_begin(&w);
		json_str_or_null(&w, "host", h->spec->ip);
		json_str_or_null(&w, "role", role_of(r, i));
		jsonw_key(&w, "reachable");
		jsonw_bool(&w, !h->failed);
		bool known = !h->failed && !st[i].unread;
		json_str_or_null(&w, "error", known ? NULL : errbuf_msg(&h->err));
		json_str_or_null(&w, "cri", known ? st[i].cri : NULL);
		json_str_or_null(&w, "kubelet", known ? st[i].kubelet : NULL);
		json_str_or_null(&w, "image_id", known ? st[i].image : NULL);
		json_str_or_null(&w, "journal", known ? st[i].journal : NULL);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	if (jsonw_finish(&w) < 0)
		return -E2BIG;
	printf("%s\n", out.data);
	return 0;
}

int cluster_status(const char *home, struct cluster *c, const struct run_opts *o,
		   struct errbuf *err)
{
	struct image_store *st = NULL;
	struct host_status *hs = NULL;
	struct run r = { 0 };
	bool all = true;
	int rc = image_store_open(home, &st, err), code = 0;

	for (size_t i = 0; rc >= 0 && i < c->nhosts; i++) {
		log_add_secret(c->hosts[i].ssh.password);
		log_add_secret(c->hosts[i].ssh.pk_passphrase);
	}
	if (rc >= 0)
		rc = report_open(home, c->name, o->json, err);
	if (rc >= 0)
		rc = run_saved_init(&r, st, c, o, err);
	if (rc < 0) {
		log_error("%s", errbuf_msg(err));
		code = 1;
		goto out;
	}
	pipeline_run(&r, run_reach, run_reach_len);
	hs = xcalloc(r.n ? r.n : 1, sizeof(*hs));
	for (size_t i = 0; i < r.n; i++)
		if (!r.hosts[i].failed && host_status(&r, &r.hosts[i], &hs[i]) < 0)
			hs[i].unread = true;
	for (size_t i = 0; i < r.n; i++)
		all &= !r.hosts[i].failed && !hs[i].unread;
	if (o->json ? print_json(&r, hs) < 0 : (print_text(&r, hs), false))
		log_error("the status of cluster %s is too long for JSON output", c->name);
	code = all ? 0 : 1;
out:
	free(hs);
	run_release(&r);
	report_close();
	log_clear_secrets();
	image_store_close(st);
	return code;
}
