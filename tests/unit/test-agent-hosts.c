#include "helpers.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "buf.h"
#include "cleanup.h"
#include "fs-util.h"
#include "hosts.h"
#include "macro.h"
#include "proto-msg.h"
#include "proto.h"

static char etc_hosts[4096], certs[4096];

static const struct hosts_entry entries[] = {
	{ "10.0.0.2", "sea.hub" },
	{ "10.0.0.1", "apiserver.cluster.local" },
};
static char up1[] = "registry.k8s.io", up2[] = "docker.io";
static char *const ups[] = { up1, up2 };

static int tree_setup(void **state)
{
	if (tmpdir_setup(state) < 0)
		return -1;
	setenv("CIRUN_AGENT_ROOT", *state, 1);
	snprintf(etc_hosts, sizeof(etc_hosts), "%s/hosts", (char *)*state);
	snprintf(certs, sizeof(certs), "%s/certs.d", (char *)*state);
	_cleanup_free_ char *data = xasprintf("%s/data/demo", (char *)*state);
	if (mkdir_p(data, 0755) < 0)
		return -1;
	const struct hosts_paths p = { etc_hosts, certs };
	hosts_set_paths(&p);
	return 0;
}

static char *slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);
	if (buf_read_file(&b, path) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static int run(unsigned flags, struct hosts_report *rep, struct errbuf *err)
{
	return host_hosts("demo", entries, ELEMENTSOF(entries), "sea.hub:5000", ups, 2, flags, rep,
			  err);
}

static void test_hosts_and_mirrors(void **state)
{
	struct hosts_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct stat a, b;
	const char *old = "127.0.0.1 localhost\n";

	assert_int_equal(write_file_atomic(etc_hosts, old, strlen(old), 0640), 0);
	assert_int_equal(run(0, &rep, &err), 0);
	assert_true(rep.hosts_changed);
	assert_int_equal(rep.mirrors_written, 3);
	_cleanup_free_ char *text = slurp(etc_hosts);
	assert_string_equal(text, "127.0.0.1 localhost\n# BEGIN cirun demo\n10.0.0.2\tsea.hub\n"
			    "10.0.0.1\tapiserver.cluster.local\n# END cirun demo\n");
	assert_int_equal(stat(etc_hosts, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0640); /* the mode kept */

	_cleanup_free_ char *mirror = xasprintf("%s/sea.hub:5000/hosts.toml", certs);
	_cleanup_free_ char *k8s = xasprintf("%s/registry.k8s.io/hosts.toml", certs);
	_cleanup_free_ char *m = slurp(mirror), *k = slurp(k8s);
	assert_string_equal(m, "server = \"http://sea.hub:5000\"\n\n[host.\"http://sea.hub:5000\"]\n"
			    "  capabilities = [\"pull\", \"resolve\"]\n");
	assert_string_equal(k, "server = \"https://registry.k8s.io\"\n\n[host.\"http://sea.hub:5000\"]\n"
			    "  capabilities = [\"pull\", \"resolve\"]\n");
	_cleanup_free_ char *list = xasprintf("%s/data/demo/installed", (char *)*state);
	_cleanup_free_ char *rec = slurp(list);
	assert_non_null(strstr(rec, mirror));
	assert_non_null(strstr(rec, k8s));
	assert_non_null(strstr(rec, "/certs.d/docker.io/hosts.toml\n"));

	/* a re-run: nothing rewritten, the same file (inode) and record */
	assert_int_equal(run(0, &rep, &err), 0);
	assert_false(rep.hosts_changed);
	assert_int_equal(rep.mirrors_written, 0);
	assert_int_equal(stat(etc_hosts, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	_cleanup_free_ char *rec2 = slurp(list);
	assert_string_equal(rec, rec2);
}

/* The mirrors phase: HOSTS again with the registries found in images/ added (one with a
 * port, and the cluster's registry itself, which keeps its own file): only the new
 * registries' files are written, the rest is left as the hosts phase wrote it; a third
 * call changes nothing. */
static void test_mirrors_added(void **state)
{
	static char up3[] = "myreg.example:5000", up4[] = "ghcr.io", self[] = "sea.hub:5000";
	char *const more[] = { up1, up2, up3, up4, self };
	struct hosts_report rep;
	struct errbuf err = ERRBUF_INIT;
	struct stat a, b;

	assert_int_equal(run(0, &rep, &err), 0);
	_cleanup_free_ char *k8s = xasprintf("%s/registry.k8s.io/hosts.toml", certs);
	_cleanup_free_ char *mirror = xasprintf("%s/sea.hub:5000/hosts.toml", certs);
	assert_int_equal(stat(k8s, &a), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(host_hosts("demo", entries, ELEMENTSOF(entries), "sea.hub:5000", more,
					    ELEMENTSOF(more), 0, &rep, &err), 0);
		assert_false(rep.hosts_changed);
		assert_int_equal(rep.mirrors_written, round == 0 ? 2 : 0);
	}
	assert_int_equal(stat(k8s, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino); /* not rewritten */
	_cleanup_free_ char *path = xasprintf("%s/myreg.example:5000/hosts.toml", certs);
	_cleanup_free_ char *t = slurp(path), *m = slurp(mirror);
	assert_string_equal(t, "server = \"https://myreg.example:5000\"\n\n[host.\"http://sea.hub:5000\"]\n"
			    "  capabilities = [\"pull\", \"resolve\"]\n");
	assert_string_equal(m, "server = \"http://sea.hub:5000\"\n\n[host.\"http://sea.hub:5000\"]\n"
			    "  capabilities = [\"pull\", \"resolve\"]\n");
	_cleanup_free_ char *list = xasprintf("%s/data/demo/installed", (char *)*state);
	_cleanup_free_ char *rec = slurp(list);
	assert_non_null(strstr(rec, path));
	assert_non_null(strstr(rec, "/certs.d/ghcr.io/hosts.toml\n"));
	assert_non_null(strstr(rec, k8s));
}

static void test_symlink_refused(void **state)
{
	struct hosts_report rep;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *target = xasprintf("%s/real-hosts", (char *)*state);

	assert_int_equal(write_file_atomic(target, "x\n", 2, 0644), 0);
	assert_int_equal(symlink(target, etc_hosts), 0);
	assert_int_equal(run(0, &rep, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "symlink"));
	_cleanup_free_ char *t = slurp(target);
	assert_string_equal(t, "x\n");
}

/* A bind-mounted /etc/hosts (container runtimes do that) cannot be renamed over: the
 * failure says so and what to do, and the file is left as it was. In a private mount
 * namespace of a child; skipped where mounting is not allowed. */
static void test_mount_point(void **state)
{
	_cleanup_free_ char *src = xasprintf("%s/mounted-hosts", (char *)*state);
	int status;
	pid_t pid;

	assert_int_equal(write_file_atomic(src, "x\n", 2, 0644), 0);
	assert_int_equal(write_file_atomic(etc_hosts, "y\n", 2, 0644), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hosts_report rep;
		struct errbuf err = ERRBUF_INIT;
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(src, etc_hosts, NULL, MS_BIND, NULL) < 0)
			_exit(77);
		if (run(0, &rep, &err) != -EBUSY)
			_exit(1);
		if (!strstr(err.msg, "mount point") || !strstr(err.msg, etc_hosts))
			_exit(2);
		_cleanup_free_ char *t = slurp(etc_hosts);
		_exit(t && strcmp(t, "x\n") == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_foreign_toml(void **state)
{
	struct hosts_report rep;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *dir = xasprintf("%s/docker.io", certs);
	_cleanup_free_ char *file = xasprintf("%s/hosts.toml", dir);
	(void)state;

	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(file, "mine\n", 5, 0644), 0);
	assert_int_equal(run(0, &rep, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "--force"));
	_cleanup_free_ char *t = slurp(file);
	assert_string_equal(t, "mine\n");
	errbuf_clear(&err);
	assert_int_equal(run(HOSTS_FORCE, &rep, &err), 0);
	_cleanup_free_ char *backup = xasprintf("%s.cirun-backup", file);
	_cleanup_free_ char *b = slurp(backup);
	assert_string_equal(b, "mine\n");
	_cleanup_free_ char *list = xasprintf("%s/data/demo/installed", (char *)*state);
	_cleanup_free_ char *rec = slurp(list);
	assert_non_null(strstr(rec, backup));
}

/* The HOSTS request as agent-client builds it, and the decoder's refusals. */
static void put_msg(struct buf *b, const char *ip, const char *name, const char *mirror,
		    const char *up, uint32_t flags)
{
	assert_int_equal(proto_put_str(b, "demo"), 0);
	assert_int_equal(proto_put_u32(b, 1), 0);
	assert_int_equal(proto_put_str(b, ip), 0);
	assert_int_equal(proto_put_str(b, name), 0);
	assert_int_equal(proto_put_str(b, mirror), 0);
	assert_int_equal(proto_put_u32(b, 1), 0);
	assert_int_equal(proto_put_str(b, up), 0);
	assert_int_equal(proto_put_u32(b, flags), 0);
}

static int decode(const char *ip, const char *name, const char *mirror, const char *up,
		  uint32_t flags)
{
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	struct errbuf err = ERRBUF_INIT;
	struct msg_hosts m;

	put_msg(&b, ip, name, mirror, up, flags);
	int r = msg_hosts_decode(b.data, b.len, &m, &err);
	if (r >= 0) {
		assert_int_equal(m.n, 1);
		assert_string_equal(m.entries[0].key, ip);
		assert_string_equal(m.upstreams[0], up);
		msg_hosts_release(&m);
	} else {
		assert_non_null(strstr(err.msg, "HOSTS"));
	}
	return r;
}

static void test_decode(void **state)
{
	(void)state;
	assert_int_equal(decode("10.0.0.1", "sea.hub", "sea.hub:5000", "docker.io", 1), 0);
	assert_int_equal(decode("fd00::1", "sea.hub", "sea.hub:5000", "docker.io", 0), 0);
	assert_int_equal(decode("10.0.0.256", "sea.hub", "sea.hub:5000", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x\n1.2.3.4 y", "sea.hub:5000", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "../x:5000", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "a/b:5000", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:99999", "docker.io", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", "../../etc", 0), -EBADMSG);
	/* a registry of images/ may have a port; still never a path */
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", "myreg.example:5000", 0), 0);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", "myreg.example:0", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", "a:5000/b", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", ":5000", 0), -EBADMSG);
	assert_int_equal(decode("10.0.0.1", "x", "sea.hub:5000", "docker.io", 4), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hosts_and_mirrors, tree_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_mirrors_added, tree_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, tree_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_toml, tree_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_mount_point, tree_setup, tmpdir_teardown),
		cmocka_unit_test(test_decode),
	};
	return cmocka_run_group_tests_name("agent-hosts", tests, NULL, NULL);
}
