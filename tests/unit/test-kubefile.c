#include "helpers.h"

#include <errno.h>

#include "cleanup.h"
#include "kubefile.h"
#include "macro.h"

static struct kubefile *parse_ok(const char *text)
{
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;

	if (kubefile_parse("Kubefile", text, strlen(text), &kf, &err) < 0)
		fail_msg("parse failed: %s", errbuf_msg(&err));
	return kf;
}

static void expect_error(const char *text, unsigned line, const char *fragment)
{
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;
	char prefix[64];

	assert_true(kubefile_parse("Kubefile", text, strlen(text), &kf, &err) < 0);
	assert_null(kf);
	snprintf(prefix, sizeof(prefix), "Kubefile:%u: ", line);
	if (strncmp(errbuf_msg(&err), prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", errbuf_msg(&err), prefix);
	if (!strstr(errbuf_msg(&err), fragment))
		fail_msg("'%s' lacks '%s'", errbuf_msg(&err), fragment);
	assert_int_equal(err.line, line);
}

static const char seed_example[] =
	"# the seed's example, adapted\n"
	"FROM kubernetes:v1.19.8\n"
	"ARG Version=4.0.0\n"
	"\n"
	"RUN echo ${Version} > version.txt\n"
	"COPY mysql.tar images\n"
	"COPY imageList manifests\n"
	"copy traefik charts\n"
	"COPY shell.yaml plugins\n"
	"COPY test/*.yaml manifests\n"
	"CMD kubectl apply -f manifests/recommended.yaml\n"
	"CMD helm install mytest charts/traefik --set a=1,b=2\n";

static void test_seed_example(void **state)
{
	(void)state;
	_cleanup_(kubefile_freep) struct kubefile *kf = parse_ok(seed_example);
	const struct kf_instr *in;

	assert_int_equal(kubefile_count(kf), 10);
	in = kubefile_at(kf, 0);
	assert_int_equal(in->kind, KF_FROM);
	assert_int_equal(in->line, 2);
	assert_string_equal(in->argv[0], "kubernetes:v1.19.8");
	in = kubefile_at(kf, 1);
	assert_int_equal(in->kind, KF_ARG);
	assert_string_equal(in->argv[0], "Version");
	assert_string_equal(in->argv[1], "4.0.0");
	assert_true(in->arg_has_default);
	in = kubefile_at(kf, 2);
	assert_int_equal(in->kind, KF_RUN);
	assert_int_equal(in->line, 5);
	assert_string_equal(in->text, "echo ${Version} > version.txt");
	in = kubefile_at(kf, 5);
	assert_int_equal(in->kind, KF_COPY); /* keywords are case-insensitive */
	assert_int_equal(in->argc, 2);
	assert_string_equal(in->argv[0], "traefik");
	assert_string_equal(in->argv[1], "charts");
	in = kubefile_at(kf, 7);
	assert_string_equal(in->argv[0], "test/*.yaml");
	/* a comma inside a CMD is part of the command */
	in = kubefile_at(kf, 9);
	assert_int_equal(in->kind, KF_CMD);
	assert_string_equal(in->text, "helm install mytest charts/traefik --set a=1,b=2");
	assert_null(kubefile_at(kf, 10));
}

static void test_continuations_and_comments(void **state)
{
	(void)state;
	_cleanup_(kubefile_freep) struct kubefile *kf = parse_ok(
		"FROM scratch\r\n"
		"RUN echo a \\\n"
		"# a comment inside the continuation\n"
		"    && echo b \\\n"
		"\n"
		"    && echo c\n"
		"  ARG Empty=\n"
		"ARG NoDefault\n"
		"ARG Quoted=\"a b\"\n"
		"COPY [\"dir with space/x.yaml\", \"etc/\"]\n"
		"CMD [\"echo\", \"it's\"]\n"
		"RUN trailing \\");
	const struct kf_instr *in = kubefile_at(kf, 1);

	assert_string_equal(in->text, "echo a     && echo b     && echo c");
	assert_int_equal(in->line, 2);
	in = kubefile_at(kf, 2);
	assert_int_equal(in->line, 7);
	assert_true(in->arg_has_default);
	assert_string_equal(in->argv[1], "");
	in = kubefile_at(kf, 3);
	assert_false(in->arg_has_default);
	assert_int_equal(in->argc, 1);
	assert_string_equal(kubefile_at(kf, 4)->argv[1], "a b");
	in = kubefile_at(kf, 5);
	assert_string_equal(in->argv[0], "dir with space/x.yaml");
	assert_string_equal(in->argv[1], "etc/");
	assert_string_equal(kubefile_at(kf, 6)->text, "'echo' 'it'\\''s'");
	in = kubefile_at(kf, 7);
	assert_string_equal(in->text, "trailing");
	assert_int_equal(in->line, 12);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	expect_error("# c\n\nCOPY a b\n", 3, "first instruction must be FROM");
	expect_error("FROM scratch\nFROM other\n", 2, "FROM may appear only once");
	expect_error("FROM a AS b\n", 1, "multi-stage");
	expect_error("FROM scratch\nCOPY a b\nFOO bar\n", 3, "unknown instruction 'FOO'");
	expect_error("FROM scratch\nENV A=b\n", 2, "ENV is a Dockerfile instruction");
	expect_error("FROM scratch\nCOPY https://example.com/x.yaml manifests\n", 2,
		     "not available offline");
	expect_error("FROM scratch\nCOPY git@github.com:a/b.git charts\n", 2, "not available offline");
	expect_error("FROM scratch\n\nCOPY onlyone\n", 3, "at least one source and a destination");
	expect_error("FROM scratch\nCOPY ../secret etc\n", 2, "leaves the build context");
	expect_error("FROM scratch\nCOPY a ../../etc\n", 2, "leaves the image's rootfs");
	expect_error("FROM scratch\nCOPY /etc/passwd etc\n", 2, "is absolute");
	expect_error("FROM scratch\nCOPY --chown=1:1 a b\n", 2, "option '--chown=1:1' is not supported");
	expect_error("FROM scratch\nCOPY \"a b\n", 2, "unterminated quote");
	expect_error("FROM scratch\nCOPY [\"a\", 1, [2]]\n", 2, "array of strings");
	expect_error("FROM scratch\nARG 1abc=2\n", 2, "ARG needs a name");
	expect_error("FROM scratch\nARG a=b c=d\n", 2, "one ARG per line");
	expect_error("FROM scratch\nRUN\n", 2, "RUN needs an argument");
	expect_error("FROM c\nCMD []\n", 2, "CMD needs a command, not an empty list");
	expect_error("FROM scratch\nRUN a \\\n  b \\\n  c\nCMD\n", 5, "CMD needs an argument");
	expect_error("", 1, "no instructions");
	expect_error("# only comments\n\n", 2, "no instructions");
}

static void test_error_quotes_instruction(void **state)
{
	(void)state;
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *text = "FROM scratch\nCOPY http://x/y z\n";

	assert_int_equal(kubefile_parse("ctx/Kubefile", text, strlen(text), &kf, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "ctx/Kubefile:2:"));
	assert_non_null(strstr(errbuf_msg(&err), "(in 'COPY http://x/y z')"));
}

static void test_binary_and_size(void **state)
{
	(void)state;
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(kubefile_parse("K", "FROM a\0b", 8, &kf, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "NUL byte"));
	assert_int_equal(kubefile_parse("K", "x", 5u << 20, &kf, &err), -E2BIG);
}

static void test_parse_file(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "Kubefile");
	struct kubefile *kf = NULL;
	struct errbuf err = ERRBUF_INIT;
	FILE *f = fopen(path, "w");

	fputs(seed_example, f);
	fclose(f);
	assert_int_equal(kubefile_parse_file(path, &kf, &err), 0);
	assert_int_equal(kubefile_count(kf), 10);
	kubefile_free(kf);
	assert_int_equal(kubefile_parse_file("/nonexistent/Kubefile", &kf, &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "/nonexistent/Kubefile"));
}

static void expect_expand(const char *in, const char *want)
{
	char k1[] = "Version", v1[] = "4.0.0", k2[] = "Name", v2[] = "mongo", v3[] = "5.0.0";
	char k4[] = "E", v4[] = "";
	const struct kv vars[] = { { k1, v1 }, { k2, v2 }, { k1, v3 }, { k4, v4 } };
	char *out = kubefile_expand(in, vars, ELEMENTSOF(vars));
	assert_string_equal(out, want);
	free(out);
}

static void test_expand(void **state)
{
	(void)state;
	/* the later definition wins, as a --build-arg over a default */
	expect_expand("kubectl apply -f ${Name}-${Version}.yaml", "kubectl apply -f mongo-5.0.0.yaml");
	expect_expand("echo $Version$Name", "echo 5.0.0mongo");
	expect_expand("echo $Versionx ${Versionx} $HOME $1 $$", "echo $Versionx ${Versionx} $HOME $1 $$");
	expect_expand("echo \\$Version ${Version:-x} ${Version", "echo \\$Version ${Version:-x} ${Version");
	expect_expand("[$E] $", "[] $");
	expect_expand("", "");
}

static void expect_label(const char *line, const char *const *want, size_t nwant)
{
	_cleanup_free_ char *text = xasprintf("FROM scratch\n%s\n", line);
	struct kubefile *kf = parse_ok(text);
	const struct kf_instr *in = kubefile_at(kf, 1);

	assert_int_equal(in->kind, KF_LABEL);
	assert_int_equal(in->argc, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(in->argv[i], want[i]);
	kubefile_free(kf);
}

static void test_label(void **state)
{
	(void)state;
	static const char *const one[] = { "k", "v" };
	static const char *const quoted[] = { "k", "v", "k2", "v2", "a b", "c d", "e", "" };
	static const char *const escaped[] = { "desc", "say \"hi\"", "path", "a=b", "x", "it's" };

	expect_label("LABEL k=v", one, ELEMENTSOF(one));
	expect_label("label \"k\"=\"v\" k2=v2 \"a b\"='c d' e=", quoted, ELEMENTSOF(quoted));
	expect_label("LABEL desc=\"say \\\"hi\\\"\" path=a=b \\\n  x=\"it's\"", escaped,
		     ELEMENTSOF(escaped));
	static const char *const legacy[] = { "maintainer", "Jane Doe <jd@example.com>" };
	expect_label("LABEL maintainer   \"Jane Doe <jd@example.com>\"", legacy, ELEMENTSOF(legacy));
	expect_label("LABEL maintainer Jane Doe <jd@example.com>", legacy, ELEMENTSOF(legacy));
	expect_error("FROM scratch\nLABEL k\n", 2, "LABEL takes key=value pairs");
	expect_error("FROM scratch\nLABEL a=b c\n", 2, "LABEL takes key=value pairs");
	expect_error("FROM scratch\nLABEL =v\n", 2, "LABEL takes key=value pairs");
	expect_error("FROM scratch\nLABEL k=\"v\n", 2, "unterminated quote");
	expect_error("FROM scratch\nLABEL\n", 2, "LABEL needs an argument");
}

static void expect_target(const char *src, const char *name, bool is_dir, const char *dest,
			  bool dest_dir, const char *want, bool want_contents)
{
	bool contents = !want_contents;
	_cleanup_free_ char *got = kubefile_copy_target(src, name, is_dir, dest, dest_dir, &contents);

	if (strcmp(got, want) != 0 || contents != want_contents)
		fail_msg("COPY %s %s: got '%s'%s, want '%s'%s", src, dest, got,
			 contents ? " (contents)" : "", want, want_contents ? " (contents)" : "");
}

/* sealer's placement: a source whose name is dest's last part lands at dest */
static void test_copy_target(void **state)
{
	(void)state;
	expect_target("bin", "bin", true, "bin", true, "bin", false);
	expect_target("etc", "etc", true, "etc", true, "etc", false);
	expect_target("files/etc", "etc", true, "rootfs/etc", true, "rootfs/etc", false);
	expect_target("hello", "hello", false, "bin/hello", true, "bin/hello", false);
	expect_target("traefik", "traefik", true, "charts", true, "charts/traefik", false);
	expect_target("mysql.tar", "mysql.tar", false, "images", true, "images/mysql.tar", false);
	expect_target("a.yaml", "a.yaml", false, "etc/b.yaml", false, "etc/b.yaml", false);
	expect_target("a.yaml", "a.yaml", false, "etc", true, "etc/a.yaml", false);
	expect_target(".", "base", true, "", true, "", true);
	expect_target("dir/", "dir", true, "opt", true, "opt", true);
	expect_target("dir/.", ".", true, "opt", true, "opt", true);
	expect_target("tool", "tool", false, "", true, "tool", false);
	expect_target("charts", "charts", true, "", true, "charts", false);
}

static void test_unconsumed_args(void **state)
{
	(void)state;
	struct kubefile *kf = parse_ok("FROM scratch\nARG Version=1\nARG Other\nRUN true\n");
	char k1[] = "Version", k2[] = "X", k3[] = "Other", k4[] = "Y", v[] = "1";
	const struct kv all[] = { { k1, v }, { k3, v } };
	const struct kv some[] = { { k2, v }, { k1, v }, { k4, v }, { k2, v } };
	_cleanup_free_ char *none = kubefile_unconsumed_args(kf, all, ELEMENTSOF(all));
	_cleanup_free_ char *two = kubefile_unconsumed_args(kf, some, ELEMENTSOF(some));

	assert_null(none);
	assert_string_equal(two, "X Y");
	kubefile_free(kf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_example),
		cmocka_unit_test(test_continuations_and_comments),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_error_quotes_instruction),
		cmocka_unit_test(test_binary_and_size),
		cmocka_unit_test_setup_teardown(test_parse_file, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_copy_target),
		cmocka_unit_test(test_unconsumed_args),
	};
	return cmocka_run_group_tests_name("kubefile", tests, NULL, NULL);
}
