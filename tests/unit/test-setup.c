/* The agent's setup step on a scratch tree (no systemd calls): templates rendered with the
 * env, statics/ in place, bin/ linked, cri/ extracted, units copied, and a record of
 * everything installed that lists each path once across runs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "layer-helpers.h"
#include "macro.h"
#include "rootfs-walk.h"
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

	if (host_setup("c", env, ELEMENTSOF(env), 0, &rep, &err) < 0)
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
	assert_int_equal(host_setup("c", env, ELEMENTSOF(env), 0, &rep, &err), 0);
	_cleanup_free_ char *rec = get(state, "data/c/installed");
	assert_non_null(strstr(rec, "/sys/usr/bin/runc\n"));
	assert_non_null(strstr(rec, "/sys/usr/local/bin/tool\n"));
	assert_null(strstr(strstr(rec, "/sys/usr/bin/runc\n") + 1, "/sys/usr/bin/runc\n"));
	/* the directories the setup made are recorded; one that was there is not */
	assert_non_null(strstr(rec, "/sys/etc/systemd/system/kubelet.service.d\n"));
	assert_non_null(strstr(rec, "/sys/usr/local/bin\n"));
	assert_null(strstr(rec, "/sys/usr/bin\n"));

	/* an unset key fails with file:line */
	put(state, R("etc/bad.yaml.tmpl"), "ok\n{{ .Missing }}\n");
	assert_int_equal(host_setup("c", env, ELEMENTSOF(env), 0, &rep, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "etc/bad.yaml.tmpl:2: key 'Missing' is not set"));
	assert_int_equal(host_setup("../x", env, 0, 0, &rep, &err), -EINVAL);
	buf_release(&rep.units);
#undef R
}

/* ---- a rootfs whose symlinks, fifos and devices point the setup out of it ---- */

#define ROOT "data/c/rootfs/"

static int run_setup(unsigned flags, struct setup_report *rep, struct errbuf *err)
{
	char k[] = "Role", v[] = "worker";
	const struct kv env[] = { { k, v } };

	buf_reset(&rep->units);
	errbuf_clear(err);
	return host_setup("c", env, ELEMENTSOF(env), flags, rep, err);
}

static void write_cri(void **state, const char *name, const struct tentry *t, size_t n);

static void put_link(void **state, const char *rel, const char *target)
{
	_cleanup_free_ char *p = path_of(state, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(rm_rf_at(AT_FDCWD, p), 0);
	assert_int_equal(symlink(target, p), 0);
}

static void rm_path(void **state, const char *rel)
{
	_cleanup_free_ char *p = path_of(state, rel);
	assert_int_equal(rm_rf_at(AT_FDCWD, p), 0);
}

/* The setup fails naming want, and the host file secret (outside the rootfs) is as it was. */
static void expect_refused(void **state, int code, const char *want)
{
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;
	int r = run_setup(0, &rep, &err);

	if (r != code || !strstr(errbuf_msg(&err), want))
		fail_msg("expected %d naming \"%s\", got %d: %s", code, want, r, errbuf_msg(&err));
	_cleanup_free_ char *secret = get(state, "host/secret.tmpl");
	assert_string_equal(secret, "{{ .Role }} must not be rendered\n");
	_cleanup_free_ char *rendered = get(state, "host/secret");
	assert_null(rendered);
	buf_release(&rep.units);
}

static void test_symlinks_out(void **state)
{
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *host = path_of(state, "host");
	_cleanup_free_ char *secret = path_of(state, "host/secret.tmpl");

	put(state, "host/secret.tmpl", "{{ .Role }} must not be rendered\n");
	put(state, ROOT "etc/ok.yaml.tmpl", "{{ .Role }}\n");
	assert_int_equal(run_setup(0, &rep, &err), 0);

	/* statics -> the host's directory (absolute) */
	put_link(state, ROOT "statics", host);
	expect_refused(state, -ELOOP, "'statics' is a symlink");
	/* statics -> a directory inside: still not followed (rendering writes in place) */
	put_link(state, ROOT "statics", "etc");
	expect_refused(state, -ELOOP, "'statics' is a symlink (to 'etc')");
	rm_path(state, ROOT "statics");
	/* a unit that is a symlink to a host file */
	put_link(state, ROOT "etc/x.service", secret);
	expect_refused(state, -EXDEV, "'etc/x.service' is a symlink to '");
	/* a relative one climbing out, and one that only leaves through another link */
	put_link(state, ROOT "etc/x.service", "../../../../host/secret.tmpl");
	expect_refused(state, -EXDEV, "outside the rootfs");
	put_link(state, ROOT "etc/up", "..");
	put_link(state, ROOT "etc/x.service", "up/../../../host/secret.tmpl");
	expect_refused(state, -EXDEV, "outside the rootfs");
	rm_path(state, ROOT "etc/up");
	/* a template symlinked inside the rootfs is not read either */
	put_link(state, ROOT "etc/x.service", "ok.yaml.tmpl");
	expect_refused(state, -EINVAL, "'etc/x.service' is a symlink: a unit file must be a regular file");
	rm_path(state, ROOT "etc/x.service");
	put_link(state, ROOT "manifests/a.yaml.tmpl", "../etc/ok.yaml.tmpl");
	expect_refused(state, -EINVAL, "'manifests/a.yaml.tmpl' is a symlink: templates");
	rm_path(state, ROOT "manifests");
	/* a subdirectory of a tree that is a symlink out */
	put_link(state, ROOT "charts/sub", host);
	expect_refused(state, -EXDEV, "'charts/sub' is a symlink to '");
	rm_path(state, ROOT "charts");

	/* a fifo where a template should be: refused, not opened (it would block) */
	_cleanup_free_ char *fifo = path_of(state, ROOT "etc/f.tmpl");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	expect_refused(state, -EINVAL, "'etc/f.tmpl' is a fifo");
	unlink(fifo);
	/* a device (when the test may make one) */
	_cleanup_free_ char *statics = path_of(state, ROOT "statics");
	_cleanup_free_ char *dev = path_of(state, ROOT "statics/null");
	assert_int_equal(mkdir_p(statics, 0755), 0);
	if (mknod(dev, S_IFCHR | 0644, makedev(1, 3)) == 0) {
		expect_refused(state, -EINVAL, "'statics/null' is a device");
		unlink(dev);
	}

	/* bin/: a link inside is followed, one out is refused */
	put(state, ROOT "bin/kubeadm", "#!/bin/sh\n");
	put_link(state, ROOT "bin/kubectl", "kubeadm");
	assert_int_equal(run_setup(0, &rep, &err), 0);
	assert_int_equal(rep.linked, 2);
	put_link(state, ROOT "bin/sh", "/bin/sh");
	expect_refused(state, -EXDEV, "'bin/sh' is a symlink to '/bin/sh', outside the rootfs");
	rm_path(state, ROOT "bin/sh");
	put_link(state, ROOT "bin", host);
	expect_refused(state, -ELOOP, "'bin' is a symlink");
	rm_path(state, ROOT "bin");

	/* cri/ -> somewhere else */
	put_link(state, ROOT "cri", host);
	expect_refused(state, -ELOOP, "'cri' is a symlink");
	rm_path(state, ROOT "cri");
	put_link(state, ROOT "cri/rt.tar", secret);
	expect_refused(state, -EXDEV, "'cri/rt.tar' is a symlink to");
	rm_path(state, ROOT "cri");

	/* over-long names and paths are errors of their own, not a crash: no file system
	 * holds a 256-byte name, so the walker is asked for one directly */
	_cleanup_free_ char *rootfs = path_of(state, ROOT);
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY);
	char name256[NAME_MAX + 2], long_path[PATH_MAX + 2];
	int fd = -1;
	assert_true(rootfd >= 0);
	memset(name256, 'a', NAME_MAX + 1);
	name256[NAME_MAX + 1] = '\0';
	_cleanup_free_ char *rel256 = xasprintf("etc/%s", name256);
	errbuf_clear(&err);
	assert_int_equal(rootfs_open_file(rootfd, rel256, 0, &fd, &err), -ENAMETOOLONG);
	assert_non_null(strstr(errbuf_msg(&err), "has a name longer than 255 bytes"));
	for (size_t i = 0; i < PATH_MAX + 1; i++)
		long_path[i] = i % 2 ? '/' : 'a';
	long_path[PATH_MAX + 1] = '\0';
	assert_int_equal(strlen(long_path), 4097);
	errbuf_clear(&err);
	assert_int_equal(rootfs_open_file(rootfd, long_path, 0, &fd, &err), -ENAMETOOLONG);
	assert_non_null(strstr(errbuf_msg(&err), "longer than 4096 bytes"));
	/* a tree deeper than PATH_MAX can exist (made one directory at a time): its walk
	 * stops with an error naming where */
	_cleanup_free_ char *statics_dir = path_of(state, ROOT "statics");
	int dfd = open(statics_dir, O_RDONLY | O_DIRECTORY);
	char dname[251];
	assert_true(dfd >= 0);
	memset(dname, 'd', sizeof(dname) - 1);
	dname[sizeof(dname) - 1] = '\0';
	for (int i = 0; i < 17; i++) {
		assert_int_equal(mkdirat(dfd, dname, 0755), 0);
		int next = openat(dfd, dname, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(dfd);
		dfd = next;
	}
	close(dfd);
	expect_refused(state, -ENAMETOOLONG, "a path longer than 4096 bytes is under 'statics/ddd");
	assert_int_equal(rm_rf_at(AT_FDCWD, statics_dir), 0);
	assert_int_equal(run_setup(0, &rep, &err), 0);
	buf_release(&rep.units);
}

/* ---- names that would forge lines of the install record ---- */

static void test_control_names(void **state)
{
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;

	put(state, "sys/usr/local/bin/tool", "theirs\n");
	/* bin/"tool\nx" would record /usr/local/bin/tool as cirun's */
	put(state, ROOT "bin/tool\nx", "#!/bin/sh\n");
	assert_int_equal(run_setup(0, &rep, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "'bin/tool\\nx' has a control character in its name"));
	_cleanup_free_ char *rec = get(state, "data/c/installed");
	assert_true(!rec || !strstr(rec, "/sys/usr/local/bin/tool\n"));
	rm_path(state, ROOT "bin/tool\nx");
	put(state, ROOT "bin/tool", "#!/bin/sh\necho image\n");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	_cleanup_free_ char *kept = get(state, "sys/usr/local/bin/tool");
	assert_string_equal(kept, "theirs\n");
	rm_path(state, ROOT "bin");

	/* a unit name, a cri/ entry */
	put(state, ROOT "etc/a\tb.service", "[Service]\n");
	assert_int_equal(run_setup(0, &rep, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "'etc/a\\tb.service' has a control character"));
	rm_path(state, ROOT "etc/a\tb.service");
	const struct tentry t[] = { { 'f', "bin/ok", "ok\n", 0755 }, { 'f', "bin/x\x7f\r", "x", 0755 } };
	write_cri(state, "rt.tar.gz", t, ELEMENTSOF(t));
	assert_int_equal(run_setup(0, &rep, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "'bin/x\\x7f\\x0d' has a control character"));
	_cleanup_free_ char *x = path_of(state, "sys/usr/bin/x\x7f\r");
	assert_int_equal(access(x, F_OK), -1);
	rm_path(state, ROOT "cri");

	/* the reader does not take such a line (or a relative one) as cirun's */
	_cleanup_free_ char *ok = path_of(state, "sys/usr/local/bin/ok");
	_cleanup_free_ char *old = xasprintf("%s\n%s\x1b[1m\nrelative/x\n", ok, ok);
	put(state, "data/c/installed", old);
	assert_int_equal(run_setup(0, &rep, &err), 0);
	_cleanup_free_ char *now = get(state, "data/c/installed");
	assert_non_null(strstr(now, ok));
	assert_null(strchr(now, '\x1b'));
	assert_null(strstr(now, "relative/x"));
	buf_release(&rep.units);
}

/* ---- a cri/ file the disk refuses ---- */

static void test_cri_write_fails(void **state)
{
	static char big[2 << 20];
	const struct tentry t[] = { { 'f', "bin/big", big, 0755 } };
	char msg[ERRBUF_MSG_MAX + 16] = "";
	int fds[2], status, r = 0;

	memset(big, 'x', sizeof(big) - 1);
	write_cri(state, "rt.tar.gz", t, ELEMENTSOF(t));
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit lim = { 1 << 20, 1 << 20 };
		struct setup_report rep = { .units = BUF_INIT(4096) };
		struct errbuf err = ERRBUF_INIT;
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(2);
		r = run_setup(0, &rep, &err);
		dprintf(fds[1], "%d %s", r, r < 0 ? errbuf_msg(&err) : "");
		_exit(0);
	}
	close(fds[1]);
	assert_true(read(fds[0], msg, sizeof(msg) - 1) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(sscanf(msg, "%d", &r), 1);
	if (r != -EFBIG || !strstr(msg, "/sys/usr/bin/big': File too large"))
		fail_msg("a failed write was not reported as such: %s", msg);
	_cleanup_free_ char *big_path = path_of(state, "sys/usr/bin/big");
	assert_int_equal(access(big_path, F_OK), -1);
}

/* ---- files in the way that cirun did not install ---- */

static void test_force(void **state)
{
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;

	put(state, ROOT "etc/containerd.service", "[Service]\nExecStart=/usr/bin/containerd\n");
	put(state, ROOT "etc/10-kubeadm.conf", "[Service]\n");
	put(state, "sys/etc/systemd/system/containerd.service", "theirs\n");
	put(state, "sys/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "theirs\n");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "system/containerd.service' exists and cirun did not install it"));
	assert_non_null(strstr(errbuf_msg(&err), "--force"));
	_cleanup_free_ char *unit = get(state, "sys/etc/systemd/system/containerd.service");
	assert_string_equal(unit, "theirs\n");
	rm_path(state, "sys/etc/systemd/system/containerd.service");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "kubelet.service.d/10-kubeadm.conf' exists and cirun did not"));

	put(state, ROOT "bin/kubeadm", "#!/bin/sh\necho image\n");
	put(state, "sys/usr/local/bin/kubeadm", "theirs\n");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	assert_non_null(strstr(errbuf_msg(&err), "sys/usr/local/bin/kubeadm' exists and cirun did not install it"));
	_cleanup_free_ char *kept = get(state, "sys/usr/local/bin/kubeadm");
	assert_string_equal(kept, "theirs\n");
	/* a symlink of someone else's is theirs as well */
	rm_path(state, "sys/usr/local/bin/kubeadm");
	put_link(state, "sys/usr/local/bin/kubeadm", "/opt/kubeadm");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	rm_path(state, "sys/usr/local/bin/kubeadm");

	/* --force: moved beside, recorded, and ours from then on */
	put(state, "sys/usr/local/bin/kubeadm", "theirs\n");
	assert_int_equal(run_setup(SETUP_FORCE, &rep, &err), 0);
	_cleanup_free_ char *b1 = get(state, "sys/usr/local/bin/kubeadm.cirun-backup");
	_cleanup_free_ char *b2 = get(state, "sys/etc/systemd/system/kubelet.service.d/10-kubeadm.conf.cirun-backup");
	assert_string_equal(b1, "theirs\n");
	assert_string_equal(b2, "theirs\n");
	_cleanup_free_ char *mine = get(state, "sys/usr/local/bin/kubeadm");
	assert_string_equal(mine, "#!/bin/sh\necho image\n");
	_cleanup_free_ char *rec = get(state, "data/c/installed");
	assert_non_null(strstr(rec, "/sys/usr/local/bin/kubeadm.cirun-backup\n"));
	assert_non_null(strstr(rec, "/kubelet.service.d/10-kubeadm.conf.cirun-backup\n"));
	assert_non_null(strstr(rec, "/sys/usr/local/bin/kubeadm\n"));
	assert_int_equal(run_setup(0, &rep, &err), 0);

	/* what another cluster on this host installed is cirun's too */
	_cleanup_free_ char *helm = path_of(state, "sys/usr/local/bin/helm");
	_cleanup_free_ char *other = xasprintf("/x\n%s\n", helm);
	put(state, "data/other/installed", other);
	put(state, "sys/usr/local/bin/helm", "installed for the cluster 'other'\n");
	put(state, ROOT "bin/helm", "#!/bin/sh\n");
	assert_int_equal(run_setup(0, &rep, &err), 0);
	put(state, "sys/usr/local/bin/crictl", "theirs\n");
	put(state, ROOT "bin/crictl", "#!/bin/sh\n");
	assert_int_equal(run_setup(0, &rep, &err), -EEXIST);
	buf_release(&rep.units);
}

/* ---- cri/ archives, flat, with hard links; hostile entries refused ---- */

static void write_cri(void **state, const char *name, const struct tentry *t, size_t n)
{
	_cleanup_free_ char *dir = path_of(state, ROOT "cri");
	_cleanup_free_ char *rel = xasprintf(ROOT "cri/%s", name);
	_cleanup_free_ char *p = path_of(state, rel);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_layer(p, "gzip", t, n), 0);
}

static void test_cri_flat(void **state)
{
	static const struct tentry good[] = {
		{ 'l', "first", "runc", 0 }, /* before its target */
		{ 'd', "bin/", NULL, 0755 },
		{ 'f', "bin/ctr", "ctr v1\n", 04755 },
		{ 'f', "./bin/containerd", "containerd v1\n", 0755 },
		{ 'h', "bin/ctr-again", "bin/ctr", 0 },
		{ 'l', "bin/sub/shim", "../containerd", 0 },
		{ 'f', "runc", "runc\n", 0755 },
	};
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;
	struct stat a, b;

	write_cri(state, "rt.tar.gz", good, ELEMENTSOF(good));
	if (run_setup(0, &rep, &err) < 0)
		fail_msg("%s", errbuf_msg(&err));
	assert_int_equal(rep.cri_files, 6);
	_cleanup_free_ char *ctr = get(state, "sys/usr/bin/ctr");
	assert_string_equal(ctr, "ctr v1\n");
	_cleanup_free_ char *p1 = path_of(state, "sys/usr/bin/ctr");
	_cleanup_free_ char *p2 = path_of(state, "sys/usr/bin/ctr-again");
	_cleanup_free_ char *p3 = path_of(state, "sys/usr/bin/shim");
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int_equal(a.st_mode & 07777, 0755); /* no set-id bits from an archive */
	char target[64] = "";
	assert_true(readlink(p3, target, sizeof(target) - 1) > 0);
	assert_string_equal(target, "containerd");
	_cleanup_free_ char *p4 = path_of(state, "sys/usr/bin/first");
	memset(target, 0, sizeof(target));
	assert_true(readlink(p4, target, sizeof(target) - 1) > 0);
	assert_string_equal(target, "runc");
	_cleanup_free_ char *bindir = path_of(state, "sys/usr/bin/bin");
	assert_int_equal(access(bindir, F_OK), -1);
	_cleanup_free_ char *rec = get(state, "data/c/installed");
	static const char *const want[] = { "ctr", "containerd", "ctr-again", "shim", "runc", "first" };
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		_cleanup_free_ char *line = xasprintf("/sys/usr/bin/%s\n", want[i]);
		if (!strstr(rec, line))
			fail_msg("%s not recorded in:\n%s", want[i], rec);
	}
	rm_path(state, ROOT "cri");

	static const struct {
		struct tentry t;
		const char *want;
	} bad[] = {
		{ { 'f', "../evil", "x", 0755 }, "'../evil' in 'cri/bad.tar.gz' has a '..'" },
		{ { 'f', "bin/../../evil", "x", 0755 }, "has a '..'" },
		{ { 'f', "/usr/bin/evil", "x", 0755 }, "is absolute" },
		{ { 'l', "evil", "/etc/shadow", 0 }, "is a symlink to '/etc/shadow', outside the archive" },
		{ { 'l', "bin/evil", "../../etc/shadow", 0 }, "outside the archive" },
		/* inside the archive lexically, but a file it does not hold: the host's bash */
		{ { 'l', "bin/evil", "../x/bash", 0 }, "is a symlink to '../x/bash', which is not a file "
		  "the archive installs" },
		{ { 'l', "evil", "evil", 0 }, "which is not a file the archive installs" },
		{ { 'h', "evil", "/etc/shadow", 0 }, "is a hard link to '/etc/shadow', outside the archive" },
		{ { 'h', "evil", "../shadow", 0 }, "outside the archive" },
		{ { 'h', "evil", "bin/later", 0 }, "which the archive does not hold before it" },
		{ { 'c', "evil", NULL, 0, NULL, NULL, 0, 1, 3 }, "is not a file, link or directory" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		const struct tentry t[] = { { 'f', "bin/ok", "ok\n", 0755 }, bad[i].t };
		write_cri(state, "bad.tar.gz", t, ELEMENTSOF(t));
		int r = run_setup(0, &rep, &err);
		if (r >= 0 || !strstr(errbuf_msg(&err), bad[i].want))
			fail_msg("entry %zu: %d %s", i, r, errbuf_msg(&err));
		_cleanup_free_ char *evil = path_of(state, "sys/usr/evil");
		_cleanup_free_ char *evil2 = path_of(state, "sys/usr/bin/evil");
		assert_int_equal(access(evil, F_OK), -1);
		if (bad[i].t.type != 'f')
			assert_int_equal(access(evil2, F_OK), -1);
	}
	/* two entries that flatten to one name */
	const struct tentry twice[] = { { 'f', "a/x", "1", 0755 }, { 'f', "b/x", "2", 0755 } };
	write_cri(state, "bad.tar.gz", twice, ELEMENTSOF(twice));
	assert_int_equal(run_setup(0, &rep, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "another entry is installed as 'x'"));
	buf_release(&rep.units);
}

/* ---- re-runs restart what changed, only that ---- */

static void test_restart(void **state)
{
	const struct tentry v1[] = { { 'f', "bin/containerd", "containerd v1\n", 0755 } };
	const struct tentry v2[] = { { 'f', "bin/containerd", "containerd v2\n", 0755 } };
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;

	put(state, ROOT "etc/containerd.service", "[Service]\nExecStart=/usr/bin/containerd --x\n");
	put(state, ROOT "etc/kubelet.service", "[Service]\nExecStart=/usr/local/bin/kubelet\n");
	put(state, ROOT "etc/10-kubeadm.conf", "[Service]\n");
	put(state, ROOT "etc/other.service", "[Service]\nExecStart=-/usr/local/bin/other\n");
	put(state, ROOT "bin/kubelet", "kubelet v1\n");
	put(state, ROOT "bin/other", "other v1\n");
	write_cri(state, "rt.tar.gz", v1, ELEMENTSOF(v1));

#define UNITS(want)                                                                            \
	do {                                                                                   \
		if (run_setup(0, &rep, &err) < 0)                                              \
			fail_msg("%s", errbuf_msg(&err));                                      \
		assert_string_equal(rep.units.data, want);                                     \
	} while (0)
	/* new units are started, not restarted; unchanged ones are left alone */
	UNITS("containerd.service kubelet.service other.service");
	UNITS("containerd.service kubelet.service other.service");
	/* the unit file */
	put(state, ROOT "etc/other.service", "[Service]\nExecStart=-/usr/local/bin/other --v\n");
	UNITS("containerd.service kubelet.service other.service (restarted)");
	UNITS("containerd.service kubelet.service other.service");
	/* a program it starts, from cri/ */
	write_cri(state, "rt.tar.gz", v2, ELEMENTSOF(v2));
	UNITS("containerd.service (restarted) kubelet.service other.service");
	UNITS("containerd.service kubelet.service other.service");
	/* a program it starts, from bin/ (through the /usr/local/bin link) */
	put(state, ROOT "bin/kubelet", "kubelet v2\n");
	UNITS("containerd.service kubelet.service (restarted) other.service");
	/* the drop-in */
	put(state, ROOT "etc/10-kubeadm.conf", "[Service]\nEnvironment=A=1\n");
	UNITS("containerd.service kubelet.service (restarted) other.service");
	UNITS("containerd.service kubelet.service other.service");
	/* a failed run leaves the digests as they were: the next one still restarts */
	put(state, ROOT "etc/other.service", "[Service]\nExecStart=/usr/local/bin/other\n");
	put(state, ROOT "etc/bad.tmpl", "{{ .Missing }}");
	assert_true(run_setup(0, &rep, &err) < 0);
	rm_path(state, ROOT "etc/bad.tmpl");
	UNITS("containerd.service kubelet.service other.service (restarted)");
#undef UNITS
	buf_release(&rep.units);
}

/* ---- a run that fails after systemd started some units ---- */

#define UNITS_OK(want)                                                                         \
	do {                                                                                   \
		if (run_setup(0, &rep, &err) < 0)                                              \
			fail_msg("%s", errbuf_msg(&err));                                      \
		assert_string_equal(rep.units.data, want);                                     \
	} while (0)

/* Stands in for systemd: "starts" each unit in turn (as units_enable_start does, kubelet
 * only when restarted) and fails at fail_at, after the units before it were started. */
static const char *fail_at;

static int fake_start(char *const *units, const bool *restart, size_t n, const char *enable_only,
		      bool *queued, struct errbuf *err)
{
	for (size_t i = 0; i < n; i++) {
		if (fail_at && strcmp(units[i], fail_at) == 0)
			return errbuf_set(err, -EIO, "unit %s did not start", units[i]);
		if (!restart[i] && enable_only && strcmp(units[i], enable_only) == 0)
			continue;
		queued[i] = true;
	}
	return 0;
}

static void test_restart_after_failure(void **state)
{
	_cleanup_free_ char *a = path_of(state, "sys/usr/bin");
	_cleanup_free_ char *b = path_of(state, "sys/usr/local/bin");
	_cleanup_free_ char *c = path_of(state, "sys/etc/systemd/system");
	const struct setup_paths p = { a, b, c, 1, fake_start };
	struct setup_report rep = { .units = BUF_INIT(4096) };
	struct errbuf err = ERRBUF_INIT;

	setup_set_paths(&p);
	put(state, ROOT "etc/a.service", "[Service]\nExecStart=/usr/local/bin/a\n");
	put(state, ROOT "etc/b.service", "[Service]\nExecStart=/usr/local/bin/b\n");
	put(state, ROOT "bin/a", "a v1\n");
	put(state, ROOT "bin/b", "b v1\n");
	/* the first run ever: a starts, b fails */
	fail_at = "b.service";
	assert_int_equal(run_setup(0, &rep, &err), -EIO);
	/* a runs with its first file: changed, it restarts; b never ran: started */
	put(state, ROOT "etc/a.service", "[Service]\nExecStart=/usr/local/bin/a --v\n");
	put(state, ROOT "etc/b.service", "[Service]\nExecStart=/usr/local/bin/b --v\n");
	fail_at = NULL;
	UNITS_OK("a.service (restarted) b.service");
	UNITS_OK("a.service b.service");
	/* the same with a program: a restarts with it before b fails, then is left alone */
	put(state, ROOT "bin/a", "a v2\n");
	put(state, ROOT "bin/b", "b v2\n");
	fail_at = "b.service";
	assert_int_equal(run_setup(0, &rep, &err), -EIO);
	fail_at = NULL;
	UNITS_OK("a.service b.service (restarted)");
	/* a unit not reached before the failure keeps its old digests: it restarts next time */
	put(state, ROOT "etc/a.service", "[Service]\nExecStart=/usr/local/bin/a\n");
	fail_at = "a.service";
	assert_int_equal(run_setup(0, &rep, &err), -EIO);
	fail_at = NULL;
	UNITS_OK("a.service (restarted) b.service");
	buf_release(&rep.units);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_out, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_force, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_control_names, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_cri_write_fails, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_cri_flat, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup_tree, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_restart_after_failure, setup_tree, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("setup", tests, NULL, NULL);
}
