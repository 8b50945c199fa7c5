#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "cleanup.h"
#include "cluster-state.h"
#include "clusterfile.h"
#include "macro.h"
#include "ydoc.h"

/* Every field a Clusterfile can express, with values YAML would misread unquoted. */
static const char rich[] =
	"apiVersion: sealer.cloud/v2\n"
	"kind: Cluster\n"
	"metadata: {name: prod.eu-1}\n"
	"spec:\n"
	"  image: \"registry.local:5000/kubernetes:v1.28.7\"\n"
	"  env: ['A=1', 'B=yes', 'C=a;b', \"Q=it's \\\"quoted\\\" # not a comment\", \"NL=x\\ny\"]\n"
	"  cmd_args: [Mode=ha, 'Empty=']\n"
	"  ssh: {user: deploy, passwd: \"p: #'\\\"x\", port: \"2222\"}\n"
	"  registry: {host: 10.0.0.3}\n"
	"  hosts:\n"
	"    - ips: [10.0.0.5]\n"
	"      roles: [node]\n"
	"      env: [B=no, Only=node]\n"
	"    - ips: ['10.0.0.2:2200', 10.0.0.3]\n"
	"      roles: [master]\n"
	"      ssh: {user: root, pk: /keys/id_ed25519, pkPasswd: 'null', passwd: 'true'}\n"
	"---\n"
	"apiVersion: sealer.cloud/v2\n"
	"kind: Plugin\n"
	"metadata: {name: clean-up}\n"
	"spec:\n"
	"  type: SHELL\n"
	"  action: PreClean|PostInstall\n"
	"  on: master\n"
	"  data: |\n"
	"    echo '{{ not a template }}'\n"
	"    rm -f /tmp/x\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"metadata: {name: bare}\n"
	"spec: {type: HOSTNAME, action: PreInit}\n"
	"---\n"
	"apiVersion: sealer.cloud/v2\n"
	"kind: Config\n"
	"metadata: {name: calico}\n"
	"spec:\n"
	"  path: etc/custom.yaml\n"
	"  strategy: merge\n"
	"  data: {spec: {mtu: 1440, list: [a, 'on']}}\n"
	"---\n"
	"apiVersion: kubeadm.k8s.io/v1beta3\n"
	"kind: ClusterConfiguration\n"
	"networking: {podSubnet: 100.64.0.0/10}\n"
	"apiServer: {extraArgs: {feature-gates: 'A=true'}}\n"
	"---\n"
	"apiVersion: kubelet.config.k8s.io/v1beta1\n"
	"kind: KubeletConfiguration\n"
	"maxPods: 200\n";

static void load_rich(struct cluster *c)
{
	struct errbuf e = ERRBUF_INIT;
	int r = clusterfile_parse("rich", rich, strlen(rich), c, &e);
	if (r < 0)
		fail_msg("%s", errbuf_msg(&e));
	r = cluster_finish(c, &e);
	if (r < 0)
		fail_msg("%s", errbuf_msg(&e));
}

static void assert_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_kv_eq(const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].key, b[i].key);
		assert_string_equal(a[i].value, b[i].value);
	}
}

static void assert_ssh_eq(const struct ssh_settings *a, const struct ssh_settings *b)
{
	assert_str_eq(a->user, b->user);
	assert_str_eq(a->password, b->password);
	assert_str_eq(a->pk_file, b->pk_file);
	assert_str_eq(a->pk_passphrase, b->pk_passphrase);
	assert_int_equal(a->port, b->port);
}

static char *emit(const struct ynode *n)
{
	struct buf b = BUF_INIT(1 << 20);
	assert_true(ynode_emit(n, &b) >= 0);
	return buf_detach(&b, NULL);
}

static void assert_cluster_eq(const struct cluster *a, const struct cluster *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->image, b->image);
	assert_ssh_eq(&a->ssh, &b->ssh);
	assert_kv_eq(a->env, a->nenv, b->env, b->nenv);
	assert_kv_eq(a->cmd_args, a->ncmd_args, b->cmd_args, b->ncmd_args);
	assert_str_eq(a->registry_host, b->registry_host);
	assert_int_equal(a->nhosts, b->nhosts);
	for (size_t i = 0; i < a->nhosts; i++) {
		assert_string_equal(a->hosts[i].ip, b->hosts[i].ip);
		assert_int_equal(a->hosts[i].role, b->hosts[i].role);
		assert_ssh_eq(&a->hosts[i].ssh, &b->hosts[i].ssh);
		assert_kv_eq(a->hosts[i].env, a->hosts[i].nenv, b->hosts[i].env, b->hosts[i].nenv);
	}
	assert_int_equal(a->nplugins, b->nplugins);
	for (size_t i = 0; i < a->nplugins; i++) {
		assert_string_equal(a->plugins[i].name, b->plugins[i].name);
		assert_string_equal(a->plugins[i].type, b->plugins[i].type);
		assert_string_equal(a->plugins[i].action, b->plugins[i].action);
		assert_str_eq(a->plugins[i].on, b->plugins[i].on);
		assert_str_eq(a->plugins[i].data, b->plugins[i].data);
	}
	assert_int_equal(a->nconfigs, b->nconfigs);
	for (size_t i = 0; i < a->nconfigs; i++) {
		assert_string_equal(a->configs[i].name, b->configs[i].name);
		assert_string_equal(a->configs[i].path, b->configs[i].path);
		assert_string_equal(a->configs[i].data, b->configs[i].data);
		assert_int_equal(a->configs[i].strategy, b->configs[i].strategy);
	}
	assert_int_equal(a->nkubeadm, b->nkubeadm);
	for (size_t i = 0; i < a->nkubeadm; i++) {
		char *ta = emit(a->kubeadm[i].tree), *tb = emit(b->kubeadm[i].tree);
		assert_string_equal(a->kubeadm[i].kind, b->kubeadm[i].kind);
		assert_string_equal(a->kubeadm[i].api_version, b->kubeadm[i].api_version);
		assert_string_equal(ta, tb);
		free(ta);
		free(tb);
	}
}

static void test_round_trip(void **state)
{
	struct cluster a = { 0 }, b = { 0 };
	struct errbuf e = ERRBUF_INIT;

	load_rich(&a);
	/* the model as the run sees it, so the test checks what it meant to */
	assert_int_equal(a.nhosts, 3);
	assert_string_equal(a.hosts[0].ip, "10.0.0.2");
	assert_int_equal(a.hosts[0].ssh.port, 2200);
	assert_int_equal(a.hosts[1].ssh.port, 2222);
	assert_int_equal(a.hosts[2].role, ROLE_NODE);
	assert_int_equal(a.nplugins, 2);
	assert_int_equal(a.nkubeadm, 2);
	if (cluster_state_save(*state, &a, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	if (cluster_state_load(*state, "prod.eu-1", &b, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_cluster_eq(&a, &b);
	/* and again: a saved definition saved again is the same text */
	struct buf t1 = BUF_INIT(1 << 20), t2 = BUF_INIT(1 << 20);
	assert_true(cluster_state_render(&a, &t1, &e) >= 0);
	assert_true(cluster_state_render(&b, &t2, &e) >= 0);
	assert_string_equal(t1.data, t2.data);
	buf_release(&t1);
	buf_release(&t2);
	cluster_release(&a);
	cluster_release(&b);
}

static void test_permissions(void **state)
{
	_cleanup_free_ char *dir = tmp_path(state, "clusters/prod.eu-1");
	_cleanup_free_ char *file = tmp_path(state, "clusters/prod.eu-1/Clusterfile");
	_cleanup_free_ char *top = tmp_path(state, "clusters");
	struct cluster a = { 0 };
	struct errbuf e = ERRBUF_INIT;
	struct stat st;
	mode_t old = umask(0);

	/* a directory made open by something else before (kubeadm-init's admin.conf) */
	assert_int_equal(mkdir(top, 0755), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	load_rich(&a);
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	umask(old);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	cluster_release(&a);
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_hostile(void **state)
{
	_cleanup_free_ char *file = tmp_path(state, "clusters/prod.eu-1/Clusterfile");
	_cleanup_free_ char *elsewhere = tmp_path(state, "elsewhere");
	_cleanup_free_ char *linkdir = tmp_path(state, "clusters/linked");
	struct cluster a = { 0 }, b = { 0 };
	struct errbuf e = ERRBUF_INIT;

	load_rich(&a);
	/* names that are paths */
	free(a.name);
	a.name = xstrdup("../../etc");
	assert_int_equal(cluster_state_save(*state, &a, &e), -EINVAL);
	errbuf_clear(&e);
	assert_int_equal(cluster_state_load(*state, "../x", &b, &e), -EINVAL);
	errbuf_clear(&e);
	assert_int_equal(cluster_state_remove(*state, "..", &e), -EINVAL);
	errbuf_clear(&e);
	free(a.name);
	a.name = xstrdup("prod.eu-1");

	/* none saved */
	assert_int_equal(cluster_state_load(*state, "prod.eu-1", &b, &e), -ENOENT);
	errbuf_clear(&e);

	/* a symlinked file is not followed, on load nor on save */
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	write_text(elsewhere, "kept\n");
	assert_int_equal(unlink(file), 0);
	assert_int_equal(symlink(elsewhere, file), 0);
	assert_int_equal(cluster_state_load(*state, "prod.eu-1", &b, &e), -ELOOP);
	assert_non_null(strstr(errbuf_msg(&e), "symbolic link"));
	errbuf_clear(&e);
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	struct stat st;
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	struct buf k = BUF_INIT(64);
	assert_true(buf_read_file(&k, elsewhere) >= 0);
	assert_string_equal(k.data, "kept\n");
	buf_release(&k);

	/* a symlinked cluster directory neither */
	_cleanup_free_ char *edir = tmp_path(state, "edir");
	assert_int_equal(mkdir(edir, 0700), 0);
	assert_int_equal(symlink(edir, linkdir), 0);
	free(a.name);
	a.name = xstrdup("linked");
	assert_int_equal(cluster_state_save(*state, &a, &e), -ELOOP);
	errbuf_clear(&e);
	assert_int_equal(cluster_state_load(*state, "linked", &b, &e), -ELOOP);
	errbuf_clear(&e);
	_cleanup_free_ char *inside = tmp_path(state, "edir/Clusterfile");
	assert_int_equal(access(inside, F_OK), -1);

	/* another cluster's definition under this name */
	free(a.name);
	a.name = xstrdup("other");
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	_cleanup_free_ char *ofile = tmp_path(state, "clusters/other/Clusterfile");
	assert_int_equal(rename(ofile, file), 0);
	assert_int_equal(cluster_state_load(*state, "prod.eu-1", &b, &e), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&e), "describes cluster 'other'"));
	errbuf_clear(&e);

	/* garbled: truncated YAML, a wrong type, not a file */
	write_text(file, "apiVersion: sealer.cloud/v2\nkind: Cluster\nmetadata: {name: prod.eu-1\n");
	assert_true(cluster_state_load(*state, "prod.eu-1", &b, &e) < 0);
	errbuf_clear(&e);
	write_text(file, "kind: Cluster\nmetadata: {name: prod.eu-1}\nspec: {image: x, hosts: 3}\n");
	assert_true(cluster_state_load(*state, "prod.eu-1", &b, &e) < 0);
	assert_non_null(strstr(errbuf_msg(&e), "spec.hosts"));
	errbuf_clear(&e);
	write_text(file, "kind: Cluster\nmetadata: {name: prod.eu-1}\nspec: {image: x, hosts: "
			 "[{ips: [10.0.0.1], roles: [node]}], ssh: {passwd: x}}\n");
	assert_true(cluster_state_load(*state, "prod.eu-1", &b, &e) < 0); /* no master */
	errbuf_clear(&e);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(mkdir(file, 0700), 0);
	assert_int_equal(cluster_state_load(*state, "prod.eu-1", &b, &e), -EINVAL);
	errbuf_clear(&e);
	assert_int_equal(rmdir(file), 0);
	cluster_release(&a);
}

/* A password, passphrase or env value that is not UTF-8 (a password file in Latin-1, say):
 * refused before anything is written, naming the field and the host, never the value. */
static void refused(void **state, struct cluster *a, const char *field, const char *host,
		    const char *value)
{
	_cleanup_free_ char *file = tmp_path(state, "clusters/prod.eu-1/Clusterfile");
	struct errbuf e = ERRBUF_INIT;
	struct stat st;

	assert_int_equal(cluster_state_save(*state, a, &e), -EINVAL);
	if (!strstr(errbuf_msg(&e), field) || !strstr(errbuf_msg(&e), host) ||
	    !strstr(errbuf_msg(&e), "not valid UTF-8") || strstr(errbuf_msg(&e), value))
		fail_msg("want %s, %s and no value: %s", field, host, errbuf_msg(&e));
	assert_int_equal(stat(file, &st), -1);
}

static void test_not_utf8(void **state)
{
	struct cluster a = { 0 };
	struct errbuf e = ERRBUF_INIT;
	char latin1[] = "p\xe4sswort", overlong[] = "x\xc0\xafy", surrogate[] = "\xed\xa0\x80",
	     cut[] = "ok\xe2\x82";

	load_rich(&a);
	free(a.hosts[1].ssh.password);
	a.hosts[1].ssh.password = xstrdup(latin1);
	refused(state, &a, "ssh.passwd", "host 10.0.0.3", latin1);
	free(a.hosts[1].ssh.password);
	a.hosts[1].ssh.password = xstrdup("fine");
	free(a.hosts[0].ssh.pk_passphrase);
	a.hosts[0].ssh.pk_passphrase = xstrdup(overlong);
	refused(state, &a, "ssh.pkPasswd", "host 10.0.0.2", overlong);
	free(a.hosts[0].ssh.pk_passphrase);
	a.hosts[0].ssh.pk_passphrase = xstrdup(cut);
	refused(state, &a, "ssh.pkPasswd", "host 10.0.0.2", cut);
	free(a.hosts[0].ssh.pk_passphrase);
	a.hosts[0].ssh.pk_passphrase = NULL;
	free(a.hosts[2].env[0].value);
	a.hosts[2].env[0].value = xstrdup(surrogate);
	refused(state, &a, "env A", "host 10.0.0.5", surrogate);
	free(a.hosts[2].env[0].value);
	a.hosts[2].env[0].value = xstrdup("caf\xc3\xa9 \xf0\x9f\x90\xb3"); /* UTF-8: fine */
	if (cluster_state_save(*state, &a, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	/* what the check does not cover (a document's text) gets libyaml's own reason */
	struct buf t = BUF_INIT(1 << 20);
	free(a.plugins[0].data);
	a.plugins[0].data = xstrdup(latin1);
	assert_true(cluster_state_render(&a, &t, &e) < 0);
	assert_null(strstr(errbuf_msg(&e), "MiB"));
	assert_non_null(strstr(errbuf_msg(&e), "UTF-8"));
	buf_release(&t);
	cluster_release(&a);
}

static void test_list_pick_remove(void **state)
{
	struct cluster a = { 0 };
	struct errbuf e = ERRBUF_INIT;
	char **names;
	size_t n;
	char *picked = NULL;

	assert_true(cluster_state_list(*state, &names, &n, &e) >= 0);
	assert_int_equal(n, 0);
	assert_int_equal(cluster_state_pick(*state, NULL, &picked, &e), -ENOENT);
	errbuf_clear(&e);
	load_rich(&a);
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	assert_true(cluster_state_pick(*state, NULL, &picked, &e) >= 0);
	assert_string_equal(picked, "prod.eu-1");
	free(picked);
	free(a.name);
	a.name = xstrdup("alpha");
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	/* a directory without a Clusterfile (admin.conf of an older run) is not listed */
	_cleanup_free_ char *bare = tmp_path(state, "clusters/bare");
	assert_int_equal(mkdir(bare, 0700), 0);
	assert_true(cluster_state_list(*state, &names, &n, &e) >= 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "prod.eu-1");
	cluster_state_list_free(names, n);
	assert_int_equal(cluster_state_pick(*state, NULL, &picked, &e), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&e), "alpha, prod.eu-1"));
	errbuf_clear(&e);
	assert_int_equal(cluster_state_pick(*state, "nope", &picked, &e), -ENOENT);
	errbuf_clear(&e);
	assert_true(cluster_state_remove(*state, "alpha", &e) >= 0);
	assert_true(cluster_state_pick(*state, NULL, &picked, &e) >= 0);
	assert_string_equal(picked, "prod.eu-1");
	free(picked);
	cluster_release(&a);
}


/* The still-to-clean record: nodes alone are a valid record (no master needed), each host
 * round-trips with its own ssh settings and env, the file is 0600, a record without hosts
 * removes it, none saved reads as empty, and a host without complete ssh settings (not
 * written by cirun) is refused. */
static void test_to_clean(void **state)
{
	struct cluster a = { 0 }, rec = { 0 }, back = { 0 };
	struct errbuf e = ERRBUF_INIT;
	struct stat st;

	load_rich(&a);
	assert_true(cluster_state_save(*state, &a, &e) >= 0);
	assert_true(cluster_state_load_to_clean(*state, a.name, &back, &e) >= 0);
	assert_int_equal(back.nhosts, 0);
	assert_string_equal(back.name, a.name);
	cluster_release(&back);
	rec.name = xstrdup(a.name);
	rec.image = xstrdup(a.image);
	rec.hosts = xcalloc(1, sizeof(*rec.hosts));
	rec.hosts[0] = a.hosts[a.nhosts - 1]; /* the node 10.0.0.5, moved over */
	rec.nhosts = 1;
	a.nhosts--;
	assert_int_equal(rec.hosts[0].role, ROLE_NODE);
	assert_true(cluster_state_save_to_clean(*state, &rec, &e) >= 0);
	_cleanup_free_ char *path = tmp_path(state, "clusters/prod.eu-1/" CLUSTER_TO_CLEAN_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(cluster_state_load_to_clean(*state, a.name, &back, &e) >= 0);
	assert_int_equal(back.nhosts, 1);
	assert_string_equal(back.hosts[0].ip, "10.0.0.5");
	assert_int_equal(back.hosts[0].role, ROLE_NODE);
	assert_ssh_eq(&back.hosts[0].ssh, &rec.hosts[0].ssh);
	assert_kv_eq(back.hosts[0].env, back.hosts[0].nenv, rec.hosts[0].env, rec.hosts[0].nenv);
	cluster_release(&back);
	/* the saved definition is not touched by it */
	assert_true(cluster_state_load(*state, a.name, &back, &e) >= 0);
	assert_int_equal(back.nhosts, a.nhosts + 1);
	cluster_release(&back);
	/* an IPv6 host comes back (several colons are an address, not "ip:port") */
	char *v4 = rec.hosts[0].ip;
	rec.hosts[0].ip = xstrdup("fd00::5");
	assert_true(cluster_state_save_to_clean(*state, &rec, &e) >= 0);
	if (cluster_state_load_to_clean(*state, a.name, &back, &e) < 0)
		fail_msg("%s", errbuf_msg(&e));
	assert_string_equal(back.hosts[0].ip, "fd00::5");
	cluster_release(&back);
	free(rec.hosts[0].ip);
	rec.hosts[0].ip = v4;
	/* a host whose ssh settings are not complete */
	free(rec.hosts[0].ssh.user);
	rec.hosts[0].ssh.user = NULL;
	assert_true(cluster_state_save_to_clean(*state, &rec, &e) >= 0);
	assert_int_equal(cluster_state_load_to_clean(*state, a.name, &back, &e), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&e), "no complete ssh settings"));
	errbuf_clear(&e);
	/* a symlink where the record should be is refused, never followed */
	_cleanup_free_ char *other = tmp_path(state, "elsewhere");
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(cluster_state_load_to_clean(*state, a.name, &back, &e), -ELOOP);
	assert_non_null(strstr(errbuf_msg(&e), "symbolic link"));
	errbuf_clear(&e);
	/* empty: the file goes (a link there too, as a link) */
	cluster_release(&rec);
	rec = (struct cluster){ .name = xstrdup(a.name) };
	assert_true(cluster_state_save_to_clean(*state, &rec, &e) >= 0);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(stat(other, &st), 0); /* what the link pointed at is untouched */
	assert_true(cluster_state_save_to_clean(*state, &rec, &e) >= 0); /* and again: no error */
	cluster_release(&rec);
	cluster_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_permissions, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hostile, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_list_pick_remove, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_to_clean, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_not_utf8, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
