/* CMD replay's expansion of the image's ARGs, cmd_args over them, and --cmd-args. */
#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "cleanup.h"
#include "cmd-replay.h"
#include "macro.h"

static const struct kv image_args[] = {
	{ (char *)"Version", (char *)"1.0" },
	{ (char *)"Msg", (char *)"hello world" },
	{ (char *)"Empty", (char *)"" },
	{ (char *)"Cmd", (char *)"a; b" },
};

static void expect(const char *cmd, const struct kv *over, size_t nover, const char *want)
{
	_cleanup_free_ char *got = NULL;

	assert_int_equal(cmd_expand(cmd, image_args, ELEMENTSOF(image_args), over, nover, &got), 0);
	if (strcmp(got, want) != 0)
		fail_msg("'%s' expanded to '%s', not '%s'", cmd, got, want);
}

static void test_plain_and_braced(void **state)
{
	(void)state;
	expect("echo $Version ${Version}", NULL, 0, "echo 1.0 1.0");
	expect("echo v$Version.x ${Version}x", NULL, 0, "echo v1.0.x 1.0x");
	/* a declared ARG without a value is empty, as sealer expands it */
	expect("echo [$Empty][${Empty}]", NULL, 0, "echo [][]");
	/* the longest name: $VersionX is another (unknown) name, left to the shell */
	expect("echo $VersionX", NULL, 0, "echo $VersionX");
}

static void test_cmd_args_win(void **state)
{
	const struct kv over[] = { { (char *)"Version", (char *)"2.0" },
				   { (char *)"New", (char *)"n" },
				   { (char *)"Version", (char *)"3.0" } };
	(void)state;
	/* the last of a repeated key wins; a key the image has no ARG for is known too */
	expect("echo $Version $New ${Msg}", over, ELEMENTSOF(over), "echo 3.0 n hello world");
}

/* Quotes are kept (sealer's lexer strips them); inside single quotes nothing expands. */
static void test_quotes_kept(void **state)
{
	(void)state;
	expect("echo \"$Msg\" > 'f $Msg'", NULL, 0, "echo \"hello world\" > 'f $Msg'");
	expect("echo \"it's ${Version}\"", NULL, 0, "echo \"it's 1.0\"");
	expect("echo '\"$Version\"' \"'$Version'\"", NULL, 0, "echo '\"$Version\"' \"'1.0'\"");
	expect("echo \\$Version \"\\\"$Version\\\"\"", NULL, 0,
	       "echo \\$Version \"\\\"1.0\\\"\"");
}

/* The value goes in as written: its blanks and ';' are the shell's to read. */
static void test_value_literal(void **state)
{
	(void)state;
	expect("echo $Cmd", NULL, 0, "echo a; b");
	expect("echo \"$Cmd\"", NULL, 0, "echo \"a; b\"");
}

/* What is not an ARG reference is left for the shell (which has the host's env). */
static void test_left_to_shell(void **state)
{
	(void)state;
	expect("echo $HOME ${PATH} $1 $$ $? ${Version:-x} ${ Version} $ ${Version", NULL, 0,
	       "echo $HOME ${PATH} $1 $$ $? ${Version:-x} ${ Version} $ ${Version");
	expect("echo $", NULL, 0, "echo $");
	expect("trailing \\", NULL, 0, "trailing \\");
	expect("", NULL, 0, "");
}

static void test_value_not_rescanned(void **state)
{
	const struct kv over[] = { { (char *)"A", (char *)"$Version '${Msg}" } };
	(void)state;
	/* a value holding a reference or a quote is not expanded again, nor does its quote
	 * change how the rest of the command is read */
	expect("echo $A $Version", over, 1, "echo $Version '${Msg} 1.0");
}

/* A hostile image: a long ARG referenced many times cannot make an unbounded command. */
static void test_expansion_capped(void **state)
{
	_cleanup_free_ char *big = xmalloc(64 << 10), *cmd = NULL, *got = NULL;
	struct kv over[] = { { (char *)"Big", big } };
	struct buf b = BUF_INIT(1 << 20);
	(void)state;

	memset(big, 'x', (64 << 10) - 1);
	big[(64 << 10) - 1] = '\0';
	for (int i = 0; i < 4; i++)
		buf_puts(&b, "$Big");
	cmd = buf_detach(&b, NULL);
	assert_int_equal(cmd_expand(cmd, NULL, 0, over, 1, &got), 0); /* 4 × 64 KiB - 4: fits */
	assert_int_equal(strlen(got), 4 * ((64 << 10) - 1));
	free(got);
	got = NULL;
	free(cmd);
	buf_puts(&b, "$Big$Big$Big$Big$Big");
	cmd = buf_detach(&b, NULL);
	assert_int_equal(cmd_expand(cmd, NULL, 0, over, 1, &got), -E2BIG);
	assert_null(got);
}

static void test_cmd_args_parse(void **state)
{
	struct kv *list = NULL;
	size_t n = 0;
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_int_equal(cmd_args_parse("A=1,B=x y", &list, &n, &err), 0);
	assert_int_equal(cmd_args_parse("A=2", &list, &n, &err), 0);
	assert_int_equal(cmd_args_parse("C=", &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].key, "A");
	assert_string_equal(list[0].value, "2");
	assert_string_equal(list[1].value, "x y");
	assert_string_equal(list[2].value, "");
	assert_int_equal(cmd_args_parse("A=1,,B=2", &list, &n, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "empty item"));
	assert_int_equal(cmd_args_parse("", &list, &n, &err), -EINVAL);
	assert_int_equal(cmd_args_parse("A=1,b c=2", &list, &n, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "--cmd-args"));
	assert_int_equal(cmd_args_parse("Msg=a,b", &list, &n, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "spec.cmd_args"));
	for (size_t i = 0; i < n; i++) {
		free(list[i].key);
		free(list[i].value);
	}
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_braced),
		cmocka_unit_test(test_cmd_args_win),
		cmocka_unit_test(test_quotes_kept),
		cmocka_unit_test(test_value_literal),
		cmocka_unit_test(test_left_to_shell),
		cmocka_unit_test(test_value_not_rescanned),
		cmocka_unit_test(test_expansion_capped),
		cmocka_unit_test(test_cmd_args_parse),
	};
	return cmocka_run_group_tests_name("cmd-replay", tests, NULL, NULL);
}
