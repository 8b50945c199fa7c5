/* The agent's setup step on a scratch tree (no systemd calls): templates rendered with the
 * env, statics/ in place, bin/ linked, cri/ extracted, units copied, and a record of
 * everything installed that lists each path once across runs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "macro.h"
#include "setup.h"

static char *path_of(void **state, const char *rel)
{
	return tmp_path(state, rel);
}

static void put(void **state, const char *rel, const char *content)
{
	_cleanup_free_ char *p = path_of(state, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
}

static char *get(void **state, const char *rel)
{
	_cleanup_free_ char *p = path_of(state, rel);
	struct buf b = BUF_INIT(1 << 20);
	if (buf_read_file(&b, p) < 0)
		return NULL;
	return buf_detach(&b, NULL);
}

static int setup_tree(void **state)
{
	if (tmpdir_setup(state) < 0)
		return -1;
	setenv("CIRUN_AGENT_ROOT", *state, 1);
	_cleanup_free_ char *usr_bin = path_of(state, "sys/usr/bin");
	_cleanup_free_ char *local = path_of(state, "sys/usr/local/bin");
	_cleanup_free_ char *units = path_of(state, "sys/etc/systemd/system");
	static char a[4096], b[4096], c[4096];
	snprintf(a, sizeof(a), "%s", usr_bin);
	snprintf(b, sizeof(b), "%s", local);
	snprintf(c, sizeof(c), "%s", units);
	mkdir_p(a, 0755);
	const struct setup_paths p = { a, b, c, 0 };
	setup_set_paths(&p);
	return 0;
}

static const struct tentry cri[] = {
	{ 'f', "containerd", "#!/bin/sh\n", 0755 },
	{ 'f', "./runc", "#!/bin/sh\n", 0755 },
};

static void test_setup(void **state)
{
	char k1[] = "Role", v1[] = "worker", k2[] = "Dns", v2[] = "a;b";
	const struct kv env[] = { { k1, v1 }, { k2, v2 } };
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;
	const char *r = "data/c/rootfs";
	char rel[256];

#define R(x) (snprintf(rel, sizeof(rel), "%s/%s", r, x), rel)
	put(state, R("etc/app.yaml.tmpl"), "role: {{ .Role }}\n{{ range .Dns }}- {{ . }}\n{{ end }}");
	put(state, R("manifests/sub/m.yaml.tmpl"), "kind: {{ .Role | default \"x\" }}\n");
	put(state, R("statics/audit.yml"), "dns: {{ .Dns }}\n");
	put(state, R("bin/tool"), "#!/bin/sh\n");
	put(state, R("etc/containerd.service"), "[Service]\nExecStart=/usr/bin/containerd\n");
	put(state, R("etc/10-kubeadm.conf"), "[Service]\n");
	_cleanup_free_ char *cri_dir = path_of(state, R("cri"));
	_cleanup_free_ char *cri_path = path_of(state, R("cri/rt.tar.gz"));
	assert_int_equal(mkdir_p(cri_dir, 0755), 0);
	assert_int_equal(write_layer(cri_path, "gzip", cri, ELEMENTSOF(cri)), 0);

	if (host_setup("c", env, ELEMENTSOF(env), &rep, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_int_equal(rep.rendered, 3);
	assert_int_equal(rep.linked, 1);
	assert_int_equal(rep.cri_files, 2);
	assert_string_equal(rep.units.data, "containerd.service");

	_cleanup_free_ char *app = get(state, R("etc/app.yaml"));
	assert_string_equal(app, "role: worker\n- a\n- b\n");
	_cleanup_free_ char *m = get(state, R("manifests/sub/m.yaml"));
	assert_string_equal(m, "kind: worker\n");
	_cleanup_free_ char *st = get(state, R("statics/audit.yml"));
	assert_string_equal(st, "dns: a;b\n");
	_cleanup_free_ char *runc = get(state, "sys/usr/bin/runc");
	assert_non_null(runc);
	_cleanup_free_ char *unit = get(state, "sys/etc/systemd/system/containerd.service");
	assert_non_null(unit);
	_cleanup_free_ char *dropin = get(state, "sys/etc/systemd/system/kubelet.service.d/10-kubeadm.conf");
	assert_non_null(dropin);
	_cleanup_free_ char *link = path_of(state, "sys/usr/local/bin/tool");
	char target[4096] = "";
	assert_true(readlink(link, target, sizeof(target) - 1) > 0);
	assert_non_null(strstr(target, "data/c/rootfs/bin/tool"));

	/* a second run records nothing twice */
	assert_int_equal(host_setup("c", env, ELEMENTSOF(env), &rep, &err), 0);
	_cleanup_free_ char *rec = get(state, "data/c/installed");
	assert_non_null(strstr(rec, "/sys/usr/bin/runc\n"));
	assert_non_null(strstr(rec, "/sys/usr/local/bin/tool\n"));
	assert_null(strstr(strstr(rec, "/sys/usr/bin/runc\n") + 1, "/sys/usr/bin/runc\n"));

	/* a file of someone else's in the PATH dir is not replaced */
	unlink(link);
	put(state, "sys/usr/local/bin/tool", "not ours");
	assert_int_equal(host_setup("c", env, ELEMENTSOF(env), &rep, &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "is not a link cirun made"));

	/* an unset key fails with file:line */
	unlink(link);
	put(state, R("etc/bad.yaml.tmpl"), "ok\n{{ .Missing }}\n");
	assert_int_equal(host_setup("c", env, ELEMENTSOF(env), &rep, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "etc/bad.yaml.tmpl:2: key 'Missing' is not set"));
	assert_int_equal(host_setup("../x", env, 0, &rep, &err), -EINVAL);
	buf_release(&rep.units);
#undef R
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup, setup_tree, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("setup", tests, NULL, NULL);
}
