#include "sudo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "cleanup.h"
#include "macro.h"

int sudo_markers_new(struct sudo_markers *m)
{
	unsigned char rnd[16];
	char nonce[SUDO_NONCE_SIZE];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	sudo_markers_from_nonce(m, nonce);
	return 0;
}

void sudo_markers_from_nonce(struct sudo_markers *m, const char *nonce)
{
	snprintf(m->prompt, sizeof(m->prompt), "cirun-sudo-prompt-%.32s:", nonce);
	snprintf(m->ready, sizeof(m->ready), "cirun-sudo-ready-%.32s\n", nonce);
}

/* 'command' for sh, whatever command holds */
static void put_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, *s);
	buf_putc(b, '\'');
}

char *sudo_command(const struct sudo_markers *m, const char *command)
{
	/* uncapped: the appends below cannot fail */
	_cleanup_buf_ struct buf b = BUF_INIT((size_t)-1);
	size_t ready_len = strlen(m->ready) - 1;

	/* -k: sudo asks whenever its policy wants a password, not only when no cached
	 * ticket exists, so the same handshake holds for every command. The markers hold
	 * no quote, % or backslash (hex nonce), so they go in as they are. */
	buf_printf(&b, "sudo -k -S -p '%s' -- sh -c 'printf \"%%s\\n\" %.*s >&2; "
		   "exec sh -c \"$1\"' cirun-sudo ", m->prompt, (int)ready_len, m->ready);
	put_quoted(&b, command);
	return buf_detach(&b, NULL);
}

static const char *find(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

unsigned sudo_scan(const struct sudo_markers *m, const char *data, size_t len,
		   size_t *ready_end)
{
	const char *ready = find(data, len, m->ready);
	size_t upto = ready ? (size_t)(ready - data) : len, off = 0;
	unsigned prompts = 0;
	const char *p;

	*ready_end = ready ? upto + strlen(m->ready) : 0;
	while ((p = find(data + off, upto - off, m->prompt))) {
		prompts++;
		off = (size_t)(p - data) + strlen(m->prompt);
	}
	return prompts;
}

void sudo_said(const struct sudo_markers *m, const char *data, size_t len, char *out,
	       size_t n)
{
	size_t o = 0, pl = strlen(m->prompt), rl = strlen(m->ready);

	if (n == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < n;) {
		if (len - i >= pl && memcmp(data + i, m->prompt, pl) == 0) {
			i += pl;
			continue;
		}
		if (len - i >= rl && memcmp(data + i, m->ready, rl) == 0) {
			i += rl;
			continue;
		}
		char ch = data[i++];
		ch = (unsigned char)ch < 0x20 || ch == 0x7f ? ' ' : ch;
		if (ch == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = ch;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}
