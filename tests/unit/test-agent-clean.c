#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "clean.h"
#include "cleanup.h"
#include "fs-util.h"
#include "hosts.h"
#include "macro.h"

/* A fake host under the test's directory T: the agent's root T/root, the places a run
 * writes T/usr/local/bin, T/etc/systemd/system, T/etc/containerd, /etc/hosts T/hosts. */
static char T[4096], bin[4200], sysd[4200], ctrd[4200], certs[4200], etc_hosts[4200];
static const char *roots[3];

static int fake_host(void **state)
{
	if (tmpdir_setup(state) < 0)
		return -1;
	snprintf(T, sizeof(T), "%s", (char *)*state);
	snprintf(bin, sizeof(bin), "%s/usr/local/bin", T);
	snprintf(sysd, sizeof(sysd), "%s/etc/systemd/system", T);
	snprintf(ctrd, sizeof(ctrd), "%s/etc/containerd", T);
	snprintf(certs, sizeof(certs), "%s/etc/containerd/certs.d", T);
	snprintf(etc_hosts, sizeof(etc_hosts), "%s/hosts", T);
	roots[0] = bin;
	roots[1] = sysd;
	roots[2] = ctrd;
	_cleanup_free_ char *root = xasprintf("%s/root", T);
	setenv("CIRUN_AGENT_ROOT", root, 1);
	const struct hosts_paths hp = { etc_hosts, certs };
	hosts_set_paths(&hp);
	const struct clean_paths cp = { roots, ELEMENTSOF(roots), sysd, false };
	clean_set_paths(&cp);
	return 0;
}

static void put(const char *rel, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", T, rel);
	_cleanup_free_ char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static bool there(const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", T, rel);
	struct stat st;
	return lstat(path, &st) == 0;
}

static char *slurp(const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", T, rel);
	struct buf b = BUF_INIT(1 << 20);
	if (buf_read_file(&b, path) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static const struct hosts_entry entries[] = {
	{ "10.0.0.2", "sea.hub" },
	{ "10.0.0.1", "apiserver.cluster.local" },
};

/* What a run leaves: the hosts phase's block and mirror files (recorded by hosts.c
 * itself), then setup's files as setup records them, and hostile lines. */
static void install(void)
{
	struct hosts_report hr;
	struct errbuf e = ERRBUF_INIT;
	char up[] = "docker.io";
	char *const ups[] = { up };

	put("root/data/demo/journal", "distribute 1\n");
	put("hosts", "127.0.0.1 localhost\n# BEGIN cirun other\n10.9.9.9\tsea.hub\n# END cirun other\n");
	if (host_hosts("demo", entries, 2, "sea.hub:5000", ups, 1, 0, &hr, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	put("usr/local/bin/kubectl", "k");
	put("usr/local/bin/crictl", "the run's");
	put("usr/local/bin/crictl.cirun-backup", "the admin's own");
	put("usr/local/bin/shared", "two clusters'");
	put("etc/systemd/system/kubelet.service", "[Service]\n");
	put("etc/systemd/system/-.mount", "[Mount]\n");
	put("etc/systemd/system/a b.service", "[Service]\n");
	put("etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "[Service]\n");
	put("etc/systemd/system/multi-user.target.wants/keep.service", "not ours\n");
	put("root/data/demo/rootfs/bin/kubeadm", "x");
	put("root/data/demo/journal", "distribute 1\n");
	put("root/data/other/rootfs/bin/kubeadm", "x");
	put("victim", "must stay");
	put("outside/target", "must stay");
	/* a directory of the record swapped for a symlink out of the places a run writes */
	_cleanup_free_ char *outside = xasprintf("%s/outside", T);
	_cleanup_free_ char *linkdir = xasprintf("%s/linkdir", bin);
	assert_int_equal(symlink(outside, linkdir), 0);
	_cleanup_free_ char *target = xasprintf("%s/target", outside);
	_cleanup_free_ char *symfile = xasprintf("%s/sym", bin);
	assert_int_equal(symlink(target, symfile), 0);

	_cleanup_free_ char *old = slurp("root/data/demo/installed");
	_cleanup_free_ char *rec = xasprintf(
		"%s"
		"%s/usr/local/bin/kubectl\n%s/usr/local/bin/crictl.cirun-backup\n%s/usr/local/bin/crictl\n"
		"%s/usr/local/bin/shared\n%s/usr/local/bin/sym\n"
		"%s/etc/systemd/system/-.mount\n%s/etc/systemd/system/a b.service\n"
		"%s/etc/systemd/system/kubelet.service\n%s/etc/systemd/system/kubelet.service.d\n"
		"%s/etc/systemd/system/kubelet.service.d/10-kubeadm.conf\n"
		"relative/path\n%s/usr/local/bin/../../../victim\n%s/usr/local/bin/./../../../victim\n"
		"%s/victim\n%s/outside/target\n%s/usr/local/bin/linkdir\n%s/usr/local/bin//kubectl\n"
		"%s/usr/local/bin/\x01x\n%s/usr/local/bin/linkdir/target\n",
		old ? old : "", T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T);
	put("root/data/demo/installed", rec);
	_cleanup_free_ char *shared = xasprintf("%s/usr/local/bin/shared\n", T);
	put("root/data/other/installed", shared);
}

static void test_clean(void **state)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;

	(void)state;
	install();
	assert_true(there("etc/containerd/certs.d/docker.io/hosts.toml"));
	if (host_clean("demo", &rep, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	/* what the record named is gone */
	assert_false(there("usr/local/bin/kubectl"));
	assert_false(there("etc/systemd/system/kubelet.service"));
	assert_false(there("etc/systemd/system/kubelet.service.d"));
	assert_false(there("etc/containerd/certs.d/docker.io"));
	assert_false(there("etc/containerd/certs.d/sea.hub:5000"));
	assert_false(there("root/data/demo/rootfs"));
	assert_false(there("root/data/demo/journal"));
	/* the line reached through a symlink is kept: the next run must not take the file
	 * for someone else's */
	_cleanup_free_ char *left = slurp("root/data/demo/installed");
	_cleanup_free_ char *want = xasprintf("%s/usr/local/bin/linkdir/target\n", T);
	assert_non_null(left);
	assert_string_equal(left, want);
	assert_false(there("usr/local/bin/sym")); /* the link, not where it points */
	assert_int_equal(rep.units, 1); /* kubelet.service: never "-.mount" nor "a b.service" */
	assert_true(rep.hosts_block);
	assert_true(rep.data);
	/* the admin's file put back, the other cluster's kept */
	_cleanup_free_ char *crictl = slurp("usr/local/bin/crictl");
	assert_string_equal(crictl, "the admin's own");
	assert_false(there("usr/local/bin/crictl.cirun-backup"));
	assert_int_equal(rep.restored, 1);
	assert_true(there("usr/local/bin/shared"));
	assert_true(rep.shared >= 1);
	assert_true(there("root/data/other/rootfs/bin/kubeadm"));
	assert_true(there("etc/systemd/system/multi-user.target.wants/keep.service"));
	/* hostile lines left alone: outside, "..", ".", "//", through a symlink, the
	 * symlinked directory itself is removed as a link */
	assert_true(there("victim"));
	assert_true(there("outside/target"));
	assert_false(there("usr/local/bin/linkdir"));
	assert_true(rep.refused >= 7);
	_cleanup_free_ char *hosts = slurp("hosts");
	assert_string_equal(hosts, "127.0.0.1 localhost\n# BEGIN cirun other\n10.9.9.9\tsea.hub\n"
			    "# END cirun other\n");

	/* again: nothing left, no error; the kept line's way is gone now (the link was the
	 * record's): the record goes */
	if (host_clean("demo", &rep, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_int_equal(rep.removed, 0);
	assert_false(rep.hosts_block);
	assert_false(there("root/data/demo"));
	if (host_clean("demo", &rep, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_false(rep.data);
}

/* A run that failed before setup: a rootfs and nothing else. */
static void test_partial(void **state)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;

	(void)state;
	put("root/data/demo/rootfs/scripts/init.sh", "exit 1\n");
	assert_int_equal(host_clean("demo", &rep, &e), 0);
	assert_true(rep.data);
	assert_false(there("root/data/demo"));
	assert_false(there("hosts"));
	assert_int_equal(host_clean("../x", &rep, &e), -EINVAL);
}

/* /etc/hosts with the block's markers broken by hand: refused, nothing half-done after */
static void test_broken_hosts(void **state)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;

	(void)state;
	put("hosts", "# BEGIN cirun demo\n10.0.0.1\tsea.hub\n");
	put("root/data/demo/rootfs/x", "x");
	assert_int_equal(host_clean("demo", &rep, &e), -EBADMSG);
	assert_true(there("root/data/demo/rootfs/x")); /* delete can be run again */
}

/* Two clusters whose records both list containerd's and kubelet's units (one image run
 * twice on a host): the clean of one neither stops nor disables them, nor removes them. */
static void test_shared_units(void **state)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;

	(void)state;
	put("etc/systemd/system/kubelet.service", "[Service]\n");
	put("etc/systemd/system/containerd.service", "[Service]\n");
	put("etc/systemd/system/demo-only.service", "[Service]\n");
	_cleanup_free_ char *both = xasprintf("%s/etc/systemd/system/kubelet.service\n"
					      "%s/etc/systemd/system/containerd.service\n", T, T);
	_cleanup_free_ char *mine = xasprintf("%s%s/etc/systemd/system/demo-only.service\n", both, T);
	put("root/data/demo/installed", mine);
	put("root/data/new/installed", both);
	if (host_clean("demo", &rep, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_int_equal(rep.units, 1); /* demo-only.service alone */
	assert_true(there("etc/systemd/system/kubelet.service"));
	assert_true(there("etc/systemd/system/containerd.service"));
	assert_false(there("etc/systemd/system/demo-only.service"));
	assert_int_equal(rep.shared, 2);
}

/* A record that cannot be read (here a directory where the file should be, or over the
 * cap), the cluster's own or another's: the clean fails naming it, nothing removed. */
static void unreadable(const char *rel, bool big)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;
	_cleanup_free_ char *path = xasprintf("%s/%s", T, rel);

	(void)rmdir(path); /* the previous round's */
	put("usr/local/bin/kubectl", "k");
	put("root/data/demo/rootfs/x", "x");
	_cleanup_free_ char *line = xasprintf("%s/usr/local/bin/kubectl\n", T);
	put("root/data/demo/installed", line);
	put("root/data/other/installed", line);
	assert_int_equal(unlink(path), 0);
	if (big) {
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	} else {
		assert_int_equal(mkdir(path, 0755), 0);
	}
	assert_true(host_clean("demo", &rep, &e) < 0);
	assert_non_null(strstr(errbuf_msg(&e), path));
	assert_true(there("usr/local/bin/kubectl"));
	assert_true(there("root/data/demo/rootfs/x"));
	assert_int_equal(rep.removed, 0);
}

static void test_unreadable_record(void **state)
{
	(void)state;
	unreadable("root/data/demo/installed", false);
	unreadable("root/data/demo/installed", true);
	unreadable("root/data/other/installed", false);
	unreadable("root/data/other/installed", true);
}

/* Directories recorded in any order (a parent after its children): all removed, the
 * deepest first. */
static void test_dir_order(void **state)
{
	struct clean_report rep;
	struct errbuf e = ERRBUF_INIT;

	(void)state;
	put("usr/local/bin/d/e/f/file", "x");
	_cleanup_free_ char *rec = xasprintf("%s/usr/local/bin/d/e\n%s/usr/local/bin/d/e/f/file\n"
					     "%s/usr/local/bin/d\n%s/usr/local/bin/d/e/f\n", T, T, T, T);
	put("root/data/demo/installed", rec);
	if (host_clean("demo", &rep, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_false(there("usr/local/bin/d"));
	assert_int_equal(rep.removed, 4);
	assert_int_equal(rep.kept, 0);
}

static void test_path_ok(void **state)
{
	(void)state;
	_cleanup_free_ char *ok = xasprintf("%s/kubectl", bin);
	_cleanup_free_ char *dotdot = xasprintf("%s/../x", bin);
	_cleanup_free_ char *dot = xasprintf("%s/./x", bin);
	_cleanup_free_ char *slash = xasprintf("%s/", bin);
	_cleanup_free_ char *twice = xasprintf("%s//x", bin);
	_cleanup_free_ char *prefix = xasprintf("%sx/y", bin); /* .../binx: not beneath */
	assert_true(clean_path_ok(ok));
	assert_true(clean_path_ok(bin));
	assert_false(clean_path_ok(dotdot));
	assert_false(clean_path_ok(dot));
	assert_false(clean_path_ok(slash));
	assert_false(clean_path_ok(twice));
	assert_false(clean_path_ok(prefix));
	assert_false(clean_path_ok("usr/local/bin/x"));
	assert_false(clean_path_ok("/etc/shadow"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_partial, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_broken_hosts, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_path_ok, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_shared_units, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_order, fake_host, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_record, fake_host, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
