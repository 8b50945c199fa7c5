/* Becoming root through sudo without ever handing the password to the command: sudo runs
 * a shell that first announces itself on stderr with a marker, and asks with a prompt of
 * our own; both carry a random nonce per command. The password is sent only after the
 * prompt was seen, and the command's input only after the ready marker: sudo can run
 * without asking (NOPASSWD for sh only, a PAM stack that never prompts), and a password
 * written blindly would then become the command's stdin. */
#pragma once

#include <stddef.h>

#define SUDO_NONCE_SIZE 33 /* 32 hex digits and NUL */

struct sudo_markers {
	char prompt[64]; /* "cirun-sudo-prompt-NONCE:" */
	char ready[64];	 /* "cirun-sudo-ready-NONCE\n" */
};

/* Fresh markers from the kernel's random source. */
int sudo_markers_new(struct sudo_markers *m);
/* Fixed markers (tests): nonce is up to 32 characters of [0-9a-z]. */
void sudo_markers_from_nonce(struct sudo_markers *m, const char *nonce);

/* The command line that runs command (a shell command string) as root through sudo,
 * with the markers; malloc'd. */
char *sudo_command(const struct sudo_markers *m, const char *command);

/* Scans what the command wrote on stderr so far (len bytes, all of it from the start):
 * returns how many prompts came before the ready marker, and sets *ready_end to the
 * offset just past the ready marker, or 0 while it has not arrived. */
unsigned sudo_scan(const struct sudo_markers *m, const char *data, size_t len,
		   size_t *ready_end);

/* Writes into out (size n) what sudo said in data, without the markers, control
 * characters as spaces, for an error message. */
void sudo_said(const struct sudo_markers *m, const char *data, size_t len, char *out,
	       size_t n);
