/* What the run reads back from kubeadm, kubectl and containerd's config
 * (installer/kubeadm-output.h): the real tools' output (as recorded in
 * /work/shared/reference/kubernetes-1.28/ and printed by the stand-ins) is read, and every
 * hostile variant refused with a reason, never half-read. */
#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "kubeadm-output.h"

#define TOKEN "abcdef.0123456789abcdef"
#define HASH "sha256:5b6bd2c4f5eb4b7d0c5e9fcd8a6d9b2a8c1e3f4a5b6c7d8e9f0a1b2c3d4e5f60"
#define KEY "f3a0d8e5c9b7a6f4e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9"

static int join(const char *text, struct kubeadm_join_cmd *j, struct errbuf *err)
{
	errbuf_clear(err);
	return kubeadm_parse_join_command(text, strlen(text), j, err);
}

static void test_join_command(void **state)
{
	struct kubeadm_join_cmd j;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	/* token create --print-join-command, as kubeadm prints it (a blank at the end) */
	assert_int_equal(join("kubeadm join apiserver.cluster.local:6443 --token " TOKEN
			      " --discovery-token-ca-cert-hash " HASH " \n", &j, &err), 0);
	assert_string_equal(j.endpoint, "apiserver.cluster.local:6443");
	assert_string_equal(j.token, TOKEN);
	assert_string_equal(j.ca_hash, HASH);
	/* init's two-line form, with the control-plane flags, after other output */
	assert_int_equal(join("W1129 warning line\nkubeadm join 10.0.0.1:6443 --token " TOKEN " \\\n"
			      "kubeadm join 10.0.0.1:6443 --token " TOKEN " --discovery-token-ca-cert-hash "
			      HASH " --control-plane --certificate-key " KEY "\n", &j, &err), 0);
	assert_string_equal(j.endpoint, "10.0.0.1:6443");
	assert_int_equal(join("kubeadm join [fd00::1]:6443 --token " TOKEN
			      " --discovery-token-ca-cert-hash " HASH, &j, &err), 0);

	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "no line" },
		{ "join apiserver:6443 --token " TOKEN, "no line" },
		{ "kubeadm join apiserver:6443 --token ABCDEF.0123456789abcdef --discovery-token-ca-cert-hash " HASH, "format" },
		{ "kubeadm join apiserver:6443 --token abcdef0123456789abcdef --discovery-token-ca-cert-hash " HASH, "format" },
		{ "kubeadm join apiserver:6443 --token " TOKEN "x --discovery-token-ca-cert-hash " HASH, "format" },
		{ "kubeadm join apiserver:6443 --token " TOKEN " --discovery-token-ca-cert-hash sha1:abc", "format" },
		{ "kubeadm join apiserver:6443 --token " TOKEN " --discovery-token-ca-cert-hash " HASH "0", "format" },
		{ "kubeadm join apiserver:6443 --token " TOKEN " --discovery-token-ca-cert-hash", "no value" },
		{ "kubeadm join apiserver:6443 --token " TOKEN, "--discovery-token-ca-cert-hash" },
		{ "kubeadm join apiserver:6443 --discovery-token-ca-cert-hash " HASH, "--token" },
		{ "kubeadm join --token " TOKEN " --discovery-token-ca-cert-hash " HASH, "endpoint" },
		{ "kubeadm join api;rm -rf /:6443 --token " TOKEN " --discovery-token-ca-cert-hash " HASH, "unexpected" },
		{ "kubeadm join apiserver:99999 --token " TOKEN " --discovery-token-ca-cert-hash " HASH, "unexpected" },
		{ "kubeadm join apiserver:6443 --token " TOKEN " --discovery-token-ca-cert-hash " HASH " --config /etc/x", "unexpected" },
		{ "kubeadm join a:1 b:2 --token " TOKEN " --discovery-token-ca-cert-hash " HASH, "unexpected" },
		{ "kubeadm join apiserver:6443 --token " TOKEN " --discovery-token-ca-cert-hash " HASH " --certificate-key zz", "format" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(join(bad[i].text, &j, &err), -EBADMSG);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].why);
	}
	/* an embedded NUL, an endless line */
	static const char nul[] = "kubeadm join a:1\0 --token " TOKEN;
	assert_int_equal(kubeadm_parse_join_command(nul, sizeof(nul) - 1, &j, &err), -EBADMSG);
	char *longl = malloc(10000);
	memset(longl, 'a', 9999);
	longl[9999] = '\0';
	assert_int_equal(join(longl, &j, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "over"));
	free(longl);
}

static void test_upload_certs(void **state)
{
	char key[KUBEADM_CERT_KEY_LEN + 1];
	struct errbuf err = ERRBUF_INIT;
	const char *good = "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the "
			   "\"kube-system\" Namespace\n[upload-certs] Using certificate key:\n" KEY "\n\n";
	(void)state;

	assert_int_equal(kubeadm_parse_upload_certs(good, strlen(good), key, &err), 0);
	assert_string_equal(key, KEY);
	static const char *const bad[] = {
		"",
		"\n\n",
		"[upload-certs] Skipping phase. Please see --upload-certs\n",
		"[upload-certs] Using certificate key:\n" KEY "0\n",
		"[upload-certs] Using certificate key:\nF3A0D8E5C9B7A6F4E2D1C0B9A8F7E6D5C4B3A2F1E0D9C8B7A6F5E4D3C2B1A0F9\n",
		"[upload-certs] Using certificate key:\n" KEY " ; rm -rf /\n",
		KEY "\nsomething after\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		errbuf_clear(&err);
		assert_int_equal(kubeadm_parse_upload_certs(bad[i], strlen(bad[i]), key, &err), -EBADMSG);
		assert_true(err.msg[0]);
	}
}

/* A cluster's CA as kubeadm names it; the hash below is openssl's:
 * openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum */
static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBfzCCASWgAwIBAgIUXigNssENgR425hW8CLZrnP9ZSoUwCgYIKoZIzj0EAwIw\n"
	"FTETMBEGA1UEAwwKa3ViZXJuZXRlczAeFw0yNjExMjkwNjA5NDdaFw0zNjExMjYw\n"
	"NjA5NDdaMBUxEzARBgNVBAMMCmt1YmVybmV0ZXMwWTATBgcqhkjOPQIBBggqhkjO\n"
	"PQMBBwNCAASQ1eyQsSaonm2nDqKUj0fM8kIEsXBxsgwRUlEidnWxcd8QIcBz6o62\n"
	"egqYVsGUU9KIfVjCIj/3FVhR9Ve15uh4o1MwUTAdBgNVHQ4EFgQUW7kKcpqrPQ6W\n"
	"MlU0E74wU1oMxm8wHwYDVR0jBBgwFoAUW7kKcpqrPQ6WMlU0E74wU1oMxm8wDwYD\n"
	"VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAi/YTUlj2BNuCMiLtqH9x\n"
	"9GwtiGt47vR/qf9l1WPM4tgCIHHkhlJuyxMjrWfa53tTAUTaL2RZjoI0J2wj4eWX\n"
	"pne6\n"
	"-----END CERTIFICATE-----\n"
;

static void test_ca_hash_of_pem(void **state)
{
	char hash[KUBEADM_CA_HASH_LEN + 1];
	struct errbuf err = ERRBUF_INIT;
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	(void)state;

	assert_int_equal(kubeadm_ca_hash_of_pem(ca_pem, strlen(ca_pem), hash, &err), 0);
	assert_string_equal(hash, "sha256:aeab1c482babe880ba620ffb02306f662117f381e54e36e308cd39bffb0ed569");
	assert_true(kubeadm_ca_hash_valid(hash));
	/* cut short, junk, nothing: no certificate */
	assert_int_equal(kubeadm_ca_hash_of_pem(ca_pem, 100, hash, &err), -EBADMSG);
	assert_int_equal(kubeadm_ca_hash_of_pem(junk, strlen(junk), hash, &err), -EBADMSG);
	assert_int_equal(kubeadm_ca_hash_of_pem("", 0, hash, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "not a PEM certificate"));
}

static void test_cgroup_driver(void **state)
{
	static const struct {
		const char *toml, *driver;
	} cases[] = {
		{ "", "cgroupfs" },
		{ "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
		  "            SystemdCgroup = true\n", "systemd" },
		{ "SystemdCgroup=true", "systemd" },
		{ "\tSystemdCgroup = true # as kubelet\r\n", "systemd" },
		{ "SystemdCgroup = false\n", "cgroupfs" },
		{ "# SystemdCgroup = true\n", "cgroupfs" },
		{ "SystemdCgroup = true_ish\n", "cgroupfs" },
		{ "NotSystemdCgroup = true\n", "cgroupfs" },
		{ "SystemdCgroup = \"true\"\n", "cgroupfs" },
		{ "SystemdCgroups = true\n", "cgroupfs" },
	};
	(void)state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_string_equal(containerd_cgroup_driver(cases[i].toml, strlen(cases[i].toml)),
				    cases[i].driver);
	/* a NUL in the line, and a line past the cap, are not read as the setting */
	static const char nul[] = "SystemdCgroup\0 = true\n";
	assert_string_equal(containerd_cgroup_driver(nul, sizeof(nul) - 1), "cgroupfs");
	char *longl = malloc(10000);
	memset(longl, ' ', 9999);
	memcpy(longl + 9999 - 20, "SystemdCgroup = true", 20);
	assert_string_equal(containerd_cgroup_driver(longl, 9999), "cgroupfs");
	/* bounded by len, not by a NUL */
	assert_string_equal(containerd_cgroup_driver(longl + 9979, 13), "cgroupfs");
	free(longl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_command),
		cmocka_unit_test(test_upload_certs),
		cmocka_unit_test(test_cgroup_driver),
		cmocka_unit_test(test_ca_hash_of_pem),
	};
	return cmocka_run_group_tests_name("kubeadm-output", tests, NULL, NULL);
}
