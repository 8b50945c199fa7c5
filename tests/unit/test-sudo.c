/* The sudo handshake's pure parts: the command line runs the command unchanged whatever
 * its quotes (checked by running it through a stand-in sudo that drops its options), the
 * ready marker comes first on stderr, and the scanner counts prompts (split across reads,
 * around sudo's chatter) and finds where the command's own stderr begins. */
#include "helpers.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include "buf.h"
#include "cleanup.h"
#include "sudo.h"

#define NONCE "0123456789abcdef0123456789abcdef"

/* Runs line with a fake sudo first on PATH; stdout and stderr into out. */
static int run_with_fake_sudo(const char *dir, const char *line, struct buf *out)
{
	_cleanup_free_ char *sudo = xasprintf("%s/sudo", dir);
	_cleanup_free_ char *sh = NULL;
	FILE *f = fopen(sudo, "w");

	assert_non_null(f);
	/* what real sudo does once it is satisfied: run what follows "--" */
	fputs("#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n", f);
	fclose(f);
	assert_int_equal(chmod(sudo, 0755), 0);
	sh = xasprintf("PATH='%s':\"$PATH\"; %s 2>&1", dir, line);
	FILE *p = popen(sh, "r");
	assert_non_null(p);
	assert_int_equal(buf_read_fd(out, fileno(p)), 0);
	return pclose(p);
}

static void test_command_runs_unchanged(void **state)
{
	struct sudo_markers m;
	_cleanup_buf_ struct buf out = BUF_INIT(4096);
	const char *cmd = "sh -c 'printf \"%s|\" \"it'\\''s\" \"$HOME\" a\\ b; echo; exit 3'";
	_cleanup_free_ char *line = NULL;

	sudo_markers_from_nonce(&m, NONCE);
	line = sudo_command(&m, cmd);
	assert_non_null(strstr(line, "sudo -k -S -p 'cirun-sudo-prompt-" NONCE ":' -- "));
	int status = run_with_fake_sudo(*state, line, &out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	_cleanup_free_ char *want = xasprintf("cirun-sudo-ready-" NONCE "\nit's|%s|a b|\n",
					      getenv("HOME") ? getenv("HOME") : "");
	assert_string_equal(out.data, want);
}

static void test_scan(void **state)
{
	struct sudo_markers m;
	size_t end = 1;
	(void)state;

	sudo_markers_from_nonce(&m, NONCE);
	assert_int_equal(sudo_scan(&m, "", 0, &end), 0);
	assert_int_equal(end, 0);
	/* the lecture, then the prompt split across two reads */
	const char *s = "We trust you have received the usual lecture\n\ncirun-sudo-prompt-" NONCE ":";
	assert_int_equal(sudo_scan(&m, s, strlen(s) - 5, &end), 0);
	assert_int_equal(sudo_scan(&m, s, strlen(s), &end), 1);
	assert_int_equal(end, 0);
	/* a wrong password: sudo asks again */
	const char *again = "cirun-sudo-prompt-" NONCE ":Sorry, try again.\ncirun-sudo-prompt-" NONCE ":";
	assert_int_equal(sudo_scan(&m, again, strlen(again), &end), 2);
	/* the ready marker: prompts after it are the command's, the rest is its stderr */
	const char *ok = "cirun-sudo-prompt-" NONCE ":cirun-sudo-ready-" NONCE "\nboom cirun-sudo-prompt-" NONCE ":";
	assert_int_equal(sudo_scan(&m, ok, strlen(ok), &end), 1);
	assert_string_equal(ok + end, "boom cirun-sudo-prompt-" NONCE ":");
	/* no prompt at all (NOPASSWD): the marker alone */
	const char *direct = "cirun-sudo-ready-" NONCE "\n";
	assert_int_equal(sudo_scan(&m, direct, strlen(direct), &end), 0);
	assert_int_equal(end, strlen(direct));
	/* another nonce's markers are not ours */
	const char *other = "cirun-sudo-prompt-" "ffffffffffffffffffffffffffffffff:cirun-sudo-ready-ffffffffffffffffffffffffffffffff\n";
	assert_int_equal(sudo_scan(&m, other, strlen(other), &end), 0);
	assert_int_equal(end, 0);
}

static void test_said(void **state)
{
	struct sudo_markers m;
	char text[32];
	(void)state;

	sudo_markers_from_nonce(&m, NONCE);
	const char *s = "cirun-sudo-prompt-" NONCE ":\r\nSorry, try again.\ncirun-sudo-prompt-" NONCE ":";
	sudo_said(&m, s, strlen(s), text, sizeof(text));
	assert_string_equal(text, "Sorry, try again.");
	const char *longer = "sudo: deploy is not in the sudoers file.\n";
	sudo_said(&m, longer, strlen(longer), text, sizeof(text));
	assert_int_equal(strlen(text), sizeof(text) - 1);
}

static void test_markers_random(void **state)
{
	struct sudo_markers a, b;
	(void)state;

	assert_int_equal(sudo_markers_new(&a), 0);
	assert_int_equal(sudo_markers_new(&b), 0);
	assert_string_not_equal(a.prompt, b.prompt);
	assert_int_equal(strlen(a.ready), strlen("cirun-sudo-ready-" NONCE "\n"));
	assert_null(strpbrk(a.prompt, "'%\\\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_command_runs_unchanged, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_said),
		cmocka_unit_test(test_markers_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
