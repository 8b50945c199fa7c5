#include "helpers.h"

#include <errno.h>

#include "image-ref.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct good {
	const char *in, *full, *local;
};

static const struct good goods[] = {
	{ "nginx", "docker.io/library/nginx:latest", "library/nginx:latest" },
	{ "nginx:1.25", "docker.io/library/nginx:1.25", "library/nginx:1.25" },
	{ "library/nginx", "docker.io/library/nginx:latest", "library/nginx:latest" },
	{ "docker.io/nginx", "docker.io/library/nginx:latest", "library/nginx:latest" },
	{ "index.docker.io/nginx:x", "docker.io/library/nginx:x", "library/nginx:x" },
	{ "docker.io/library/x:t", "docker.io/library/x:t", "library/x:t" },
	{ "user/app", "docker.io/user/app:latest", "user/app:latest" },
	{ "registry.k8s.io/kube-apiserver:v1.28.7", "registry.k8s.io/kube-apiserver:v1.28.7",
	  "kube-apiserver:v1.28.7" },
	{ "registry.k8s.io/coredns/coredns:v1.10.1", "registry.k8s.io/coredns/coredns:v1.10.1",
	  "coredns/coredns:v1.10.1" },
	{ "host:5000/a/b:t", "host:5000/a/b:t", "a/b:t" },
	{ "host:5000/a", "host:5000/a:latest", "a:latest" },
	{ "localhost/a", "localhost/a:latest", "a:latest" },
	{ "localhost:5000/a_b__c.d--e", "localhost:5000/a_b__c.d--e:latest", "a_b__c.d--e:latest" },
	{ "Example.COM/a", "Example.COM/a:latest", "a:latest" },
	{ "UPPER/a", "UPPER/a:latest", "a:latest" },
	{ "10.0.0.1:5000/x:T_1.a-b", "10.0.0.1:5000/x:T_1.a-b", "x:T_1.a-b" },
	{ "[::1]:5000/x", "[::1]:5000/x:latest", "x:latest" },
	{ "x@sha256:" H64, "docker.io/library/x@sha256:" H64, "library/x@sha256:" H64 },
	{ "q.io/x:v1@sha256:" H64, "q.io/x:v1@sha256:" H64, "x:v1@sha256:" H64 },
	{ "a/b/c/d:_", "docker.io/a/b/c/d:_", "a/b/c/d:_" },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct imgref r;
		struct errbuf err = ERRBUF_INIT;
		char full[512], local[512];

		if (imgref_parse(goods[i].in, &r, &err) < 0)
			fail_msg("%s: %s", goods[i].in, err.msg);
		assert_int_equal(imgref_format(&r, full, sizeof(full)), 0);
		assert_string_equal(full, goods[i].full);
		assert_int_equal(imgref_format_local(&r, local, sizeof(local)), 0);
		assert_string_equal(local, goods[i].local);
		/* the normal form is a fixed point */
		struct imgref again;
		assert_int_equal(imgref_parse(full, &again, &err), 0);
		assert_memory_equal(&r, &again, sizeof(r));
	}
}

struct bad {
	const char *in, *says;
};

static const struct bad bads[] = {
	{ "", "empty" },
	{ "Nginx", "lower case" },
	{ "docker.io/Library/x", "lower case" },
	{ "a b", "space" },
	{ "a\nb", "control" },
	{ H64, "image id" },
	{ "x:", "tag" },
	{ "x:-a", "tag" },
	{ "x:.a", "tag" },
	{ "x:a/b", "registry host" },
	{ "x::a", "tag" },
	{ "x@sha256:abc", "digest" },
	{ "x@sha512:" H64, "digest" },
	{ "x@", "digest" },
	{ "@sha256:" H64, "no name" },
	{ "a..b", "repository" },
	{ "a/../b", "repository" },
	{ "-a", "repository" },
	{ "a-", "repository" },
	{ "a___b", "repository" },
	{ "a//b", "repository" },
	{ "a/", "repository" },
	{ "/a", "repository" },
	{ "h.io/", "repository" },
	{ "-h.io/a", "registry host" },
	{ "h-.io/a", "registry host" },
	{ "h..io/a", "registry host" },
	{ "h.io:/a", "registry host" },
	{ "h.io:99999x/a", "registry host" },
	{ "h.io:123456/a", "registry host" },
	{ "[zz]:5/a", "registry host" },
	{ "h_x.io/a", "registry host" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct imgref r;
		struct errbuf err = ERRBUF_INIT;

		if (imgref_parse(bads[i].in, &r, &err) >= 0)
			fail_msg("'%s' was accepted", bads[i].in);
		assert_true(err.code < 0);
		if (!strstr(err.msg, bads[i].says))
			fail_msg("'%s': '%s' does not say '%s'", bads[i].in, err.msg, bads[i].says);
	}
}

static void test_lengths(void **state)
{
	(void)state;
	char s[2048];
	struct imgref r;
	struct errbuf err = ERRBUF_INIT;

	/* docker.io/ + library/ + 237 = 255: the limit is on the normalised name */
	memset(s, 'a', 237);
	s[237] = '\0';
	assert_int_equal(imgref_parse(s, &r, &err), 0);
	s[237] = 'a';
	s[238] = '\0';
	assert_int_equal(imgref_parse(s, &r, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "255"));

	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(imgref_parse(s, &r, &err), -ENAMETOOLONG);

	/* tags: 128 characters at most */
	memcpy(s, "x:", 2);
	memset(s + 2, 't', 128);
	s[130] = '\0';
	assert_int_equal(imgref_parse(s, &r, &err), 0);
	s[130] = 't';
	s[131] = '\0';
	assert_int_equal(imgref_parse(s, &r, &err), -EINVAL);
}

static void test_format_at(void **state)
{
	(void)state;
	struct imgref r;
	struct errbuf err = ERRBUF_INIT;
	char out[512];

	assert_int_equal(imgref_parse("registry.k8s.io/kube-apiserver:v1.28.7", &r, &err), 0);
	assert_int_equal(imgref_format_at(&r, "sea.hub:5000", out, sizeof(out)), 0);
	assert_string_equal(out, "sea.hub:5000/kube-apiserver:v1.28.7");
	assert_int_equal(imgref_format_at(&r, "sea hub", out, sizeof(out)), -EINVAL);
	assert_int_equal(imgref_format_at(&r, "sea.hub:5000", out, 20), -ENAMETOOLONG);
	assert_true(imgref_path_valid("library/busybox"));
	assert_false(imgref_path_valid("library//busybox"));
	assert_false(imgref_path_valid(".."));
	assert_true(imgref_tag_valid("v1.28.7"));
	assert_false(imgref_tag_valid(".."));
	assert_false(imgref_tag_valid(""));
}

static void test_kubeadm_alias(void **state)
{
	(void)state;
	struct imgref r;
	struct errbuf err = ERRBUF_INIT;
	char out[64];

	assert_int_equal(imgref_parse("registry.k8s.io/coredns/coredns:v1.10.1", &r, &err), 0);
	assert_int_equal(imgref_kubeadm_alias(&r, out, sizeof(out)), 1);
	assert_string_equal(out, "coredns");
	assert_int_equal(imgref_kubeadm_alias(&r, out, 4), -ENAMETOOLONG);
	assert_int_equal(imgref_parse("k8s.gcr.io/coredns/coredns:v1.8.0", &r, &err), 0);
	assert_int_equal(imgref_kubeadm_alias(&r, out, sizeof(out)), 1);
	/* only the official one: other registries' coredns/coredns are what they say */
	assert_int_equal(imgref_parse("coredns/coredns:1.10.1", &r, &err), 0);
	assert_int_equal(imgref_kubeadm_alias(&r, out, sizeof(out)), 0);
	assert_int_equal(imgref_parse("registry.k8s.io/kube-proxy:v1.28.7", &r, &err), 0);
	assert_int_equal(imgref_kubeadm_alias(&r, out, sizeof(out)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_format_at),
		cmocka_unit_test(test_kubeadm_alias),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
