/* Config documents applied beneath a scratch rootfs: each strategy, multi-document merge
 * by kind/name and by index, symlinked targets and directories refused (the file outside
 * unchanged), missing parents, non-YAML with merge, ".." in the path. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "config-apply.h"
#include "fs-util.h"
#include "macro.h"

struct scratch {
	char *top;
	int rootfd;
};

static int scratch_setup(void **state)
{
	struct scratch *s = xcalloc(1, sizeof(*s));
	void *dir;

	if (tmpdir_setup(&dir) < 0)
		return -1;
	s->top = dir;
	_cleanup_free_ char *root = xasprintf("%s/root/etc", s->top);
	_cleanup_free_ char *out = xasprintf("%s/outside", s->top);
	if (mkdir_p(root, 0755) < 0 || mkdir_p(out, 0755) < 0)
		return -1;
	*strrchr(root, '/') = '\0';
	s->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = s;
	return s->rootfd >= 0 ? 0 : -1;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	void *dir = s->top;
	close(s->rootfd);
	free(s);
	return tmpdir_teardown(&dir);
}

static void put(struct scratch *s, const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", s->top, rel);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0640), 0);
}

static char *get(struct scratch *s, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", s->top, rel);
	struct buf b = BUF_INIT(1 << 20);
	assert_int_equal(buf_read_file(&b, p), 0);
	return buf_detach(&b, NULL);
}

static int apply(struct scratch *s, const char *path, enum config_strategy st, const char *data,
		 struct errbuf *err)
{
	struct config_doc c = { .name = (char *)"cfg", .path = (char *)path, .data = (char *)data,
				.strategy = st, .file = (char *)"Clusterfile", .line = 12 };
	return config_apply(s->rootfd, &c, err);
}

static void expect(struct scratch *s, const char *rel, const char *want)
{
	_cleanup_free_ char *got = get(s, rel);
	assert_string_equal(got, want);
}

static void test_override_insert_append(void **state)
{
	struct scratch *s = *state;
	struct errbuf err = ERRBUF_INIT;
	struct stat st;

	put(s, "root/etc/a.conf", "old\n");
	assert_int_equal(apply(s, "etc/a.conf", CONFIG_OVERRIDE, "new\n", &err), 0);
	expect(s, "root/etc/a.conf", "new\n");
	/* the file's mode is kept */
	_cleanup_free_ char *p = xasprintf("%s/root/etc/a.conf", s->top);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(apply(s, "/etc/a.conf", CONFIG_INSERT, "first", &err), 0);
	expect(s, "root/etc/a.conf", "first\nnew\n");
	put(s, "root/etc/b.conf", "no newline");
	assert_int_equal(apply(s, "etc//./b.conf", CONFIG_APPEND, "last\n", &err), 0);
	expect(s, "root/etc/b.conf", "no newline\nlast\n");
	/* missing files are created, with their missing parents (as sealer's MkdirAll) */
	assert_int_equal(apply(s, "etc/new/deep/c.conf", CONFIG_APPEND, "x\n", &err), 0);
	expect(s, "root/etc/new/deep/c.conf", "x\n");
	assert_int_equal(apply(s, "opt/d.conf", CONFIG_OVERRIDE, "d\n", &err), 0);
	expect(s, "root/opt/d.conf", "d\n");
	assert_int_equal(apply(s, "etc/e.conf", CONFIG_INSERT, "e", &err), 0);
	expect(s, "root/etc/e.conf", "e\n");
}

static void test_merge(void **state)
{
	struct scratch *s = *state;
	struct errbuf err = ERRBUF_INIT;

	put(s, "root/etc/k.yml",
	    "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n"
	    "  podSubnet: 10.0.0.0/16\n  serviceSubnet: 10.96.0.0/22\napiServer:\n"
	    "  certSANs: [a, b]\n---\n"
	    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	    "cgroupDriver: cgroupfs\n");
	/* by kind: the second document of the file gets it; keys the file lacks are added;
	 * a list replaces */
	assert_int_equal(apply(s, "etc/k.yml", CONFIG_MERGE,
			       "kind: KubeletConfiguration\ncgroupDriver: systemd\nmaxPods: 200\n---\n"
			       "kind: ClusterConfiguration\nnetworking: {podSubnet: 100.64.0.0/10}\n"
			       "apiServer: {certSANs: [c]}\n", &err), 0);
	expect(s, "root/etc/k.yml",
	       "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n"
	       "  podSubnet: 100.64.0.0/10\n  serviceSubnet: 10.96.0.0/22\napiServer:\n"
	       "  certSANs:\n  - c\n---\n"
	       "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	       "cgroupDriver: systemd\nmaxPods: 200\n");
	/* by index, without kind */
	put(s, "root/etc/plain.yml", "a: 1\nb: {c: 2}\n");
	assert_int_equal(apply(s, "etc/plain.yml", CONFIG_MERGE, "b: {d: 3}\n", &err), 0);
	expect(s, "root/etc/plain.yml", "a: 1\nb:\n  c: 2\n  d: 3\n");
	/* no document of that kind: refused, naming it, file untouched */
	assert_int_equal(apply(s, "etc/plain.yml", CONFIG_MERGE, "kind: Nope\nx: 1\n", &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "no document of kind Nope in etc/plain.yml"));
	assert_int_equal(apply(s, "etc/plain.yml", CONFIG_MERGE, "x: 1\n---\ny: 2\n", &err), -ENOENT);
	expect(s, "root/etc/plain.yml", "a: 1\nb:\n  c: 2\n  d: 3\n");
}

static void test_merge_refusals(void **state)
{
	struct scratch *s = *state;
	struct errbuf err = ERRBUF_INIT;

	put(s, "root/etc/hosts.conf", "127.0.0.1 localhost\n[section\n  : {\n");
	assert_true(apply(s, "etc/hosts.conf", CONFIG_MERGE, "a: 1\n", &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "Clusterfile:12: Config 'cfg' (merge): "
			       "etc/hosts.conf is not YAML"));
	expect(s, "root/etc/hosts.conf", "127.0.0.1 localhost\n[section\n  : {\n");
	/* merge does not create: the file must be there, and so must its directory */
	assert_int_equal(apply(s, "etc/missing.yml", CONFIG_MERGE, "a: 1\n", &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "etc/missing.yml does not exist"));
	assert_int_equal(apply(s, "nodir/missing.yml", CONFIG_MERGE, "a: 1\n", &err), -ENOENT);
	_cleanup_free_ char *nodir = xasprintf("%s/root/nodir", s->top);
	assert_int_equal(access(nodir, F_OK), -1);
	/* data that is not YAML, or a scalar document */
	put(s, "root/etc/m.yml", "a: 1\n");
	assert_true(apply(s, "etc/m.yml", CONFIG_MERGE, "a: [\n", &err) < 0);
	assert_non_null(strstr(errbuf_msg(&err), "spec.data:"));
	assert_int_equal(apply(s, "etc/m.yml", CONFIG_MERGE, "just text\n", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "not a map"));
}

static void test_hostile_paths(void **state)
{
	struct scratch *s = *state;
	struct errbuf err = ERRBUF_INIT;
	_cleanup_free_ char *secret = xasprintf("%s/outside/secret", s->top);
	_cleanup_free_ char *out = xasprintf("%s/outside", s->top);
	_cleanup_free_ char *link = xasprintf("%s/root/etc/link.conf", s->top);
	_cleanup_free_ char *dlink = xasprintf("%s/root/etc/dir", s->top);

	put(s, "outside/secret", "secret\n");
	assert_int_equal(symlink(secret, link), 0);
	assert_int_equal(symlink(out, dlink), 0);
	for (int st = CONFIG_OVERRIDE; st <= CONFIG_APPEND; st++) {
		assert_true(apply(s, "etc/link.conf", (enum config_strategy)st, "a: 1\n", &err) < 0);
		assert_non_null(strstr(errbuf_msg(&err), "etc/link.conf is a symlink, not a regular file"));
		assert_true(apply(s, "etc/dir/secret", (enum config_strategy)st, "a: 1\n", &err) < 0);
		assert_non_null(strstr(errbuf_msg(&err), "etc/dir/secret: a directory on the way"));
	}
	expect(s, "outside/secret", "secret\n");
	assert_true(apply(s, "etc/dir/new", CONFIG_OVERRIDE, "x", &err) < 0);
	_cleanup_free_ char *escaped = xasprintf("%s/outside/new", s->top);
	assert_int_equal(access(escaped, F_OK), -1);
	/* ".." and the rootfs itself are refused before anything is opened */
	assert_int_equal(apply(s, "etc/../../outside/secret", CONFIG_OVERRIDE, "x", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "'..' is not allowed"));
	assert_int_equal(apply(s, "/", CONFIG_OVERRIDE, "x", &err), -EINVAL);
	assert_int_equal(apply(s, "etc", CONFIG_OVERRIDE, "x", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "etc is a directory"));
	assert_int_equal(config_path_check("etc/a\nb", &err), -EINVAL);
	assert_int_equal(config_path_check("", &err), -EINVAL);
	expect(s, "outside/secret", "secret\n");
}

/* A merge whose result passes the output's cap says so, naming both sides. */
static void test_merge_too_large(void **state)
{
	struct buf out = BUF_INIT(64);
	struct errbuf err = ERRBUF_INIT;
	const char *base = "kind: A\nx: 1\n";
	const char *ov = "kind: A\ny: 'a value long enough to pass the sixty-four bytes of the cap'\n";

	(void)state;
	assert_int_equal(config_merge_yaml("etc/a.yml", base, strlen(base), "spec.data", ov,
					   strlen(ov), &out, &err), -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "etc/a.yml merged with spec.data would be larger "
				   "than 64 bytes"));
	buf_release(&out);
}

static void test_strategy_names(void **state)
{
	enum config_strategy st;
	(void)state;
	assert_int_equal(config_strategy_parse("append", &st), 0);
	assert_int_equal(st, CONFIG_APPEND);
	assert_string_equal(config_strategy_name(CONFIG_MERGE), "merge");
	assert_int_equal(config_strategy_parse("Merge", &st), -EINVAL);
	assert_int_equal(config_strategy_parse(NULL, &st), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_override_insert_append, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_merge, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_merge_refusals, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_paths, scratch_setup, scratch_teardown),
		cmocka_unit_test(test_strategy_names),
		cmocka_unit_test(test_merge_too_large),
	};
	return cmocka_run_group_tests_name("config-apply", tests, NULL, NULL);
}
