#include "exec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "cleanup.h"
#include "macro.h"
#include "name.h"

#define KILL_GRACE_MS 5000
#define DRAIN_MS 2000	  /* output still arriving after the shell exited */
#define REAP_TICK_MS 50	  /* how often a running shell is checked for its exit */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child: its own process group (so a timeout can kill everything it started), the
 * host's PATH, the given variables. */
static _noreturn_ void child(const char *command, const char *cwd, const struct kv *env,
			     size_t nenv, int out_fd, int err_fd)
{
	setpgid(0, 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	signal(SIGPIPE, SIG_DFL);
	if (!getenv("PATH") &&
	    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1) < 0) {
		fprintf(stderr, "cirun-agent: cannot set PATH: %m\n");
		_exit(126);
	}
	for (size_t i = 0; i < nenv; i++)
		if (setenv(env[i].key, env[i].value, 1) < 0) {
			/* a script must not run with a variable silently missing */
			fprintf(stderr, "cirun-agent: cannot set %s: %m\n", env[i].key);
			_exit(126);
		}
	if (cwd && *cwd && chdir(cwd) < 0) {
		fprintf(stderr, "cirun-agent: cannot change to '%s': %m\n", cwd);
		_exit(126);
	}
	execl("/bin/bash", "bash", "-c", command, (char *)NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	fprintf(stderr, "cirun-agent: cannot run a shell: %m\n");
	_exit(127);
}

/* Where a command stands: its shell (the process group leader) and the pipes. */
struct run {
	pid_t pid;
	int fds[2];		/* stdout, stderr read ends; -1 once at EOF */
	int status;
	bool exited;		/* the shell was reaped */
	bool timed_out;
	int64_t deadline;	/* 0: no timeout */
	int64_t kill_at;	/* SIGKILL for the group after a SIGTERM that was not enough */
	int64_t drain_until;	/* after the shell exited */
};

/* The timeout hits the whole group, SIGTERM then SIGKILL; only a shell that is still
 * running can time out (what a finished script left running is not its to kill). */
static void enforce_timeout(struct run *x, int64_t t)
{
	if (x->exited)
		return;
	if (x->deadline && !x->timed_out && t >= x->deadline) {
		x->timed_out = true;
		kill(-x->pid, SIGTERM);
		x->kill_at = t + KILL_GRACE_MS;
	} else if (x->kill_at && t >= x->kill_at) {
		kill(-x->pid, SIGKILL);
		x->kill_at = 0;
	}
}

static void reap(struct run *x, int64_t t)
{
	if (x->exited)
		return;
	pid_t w = waitpid(x->pid, &x->status, WNOHANG);
	if (w == x->pid || (w < 0 && errno == ECHILD)) {
		x->exited = true;
		x->drain_until = t + DRAIN_MS;
	}
}

/* How long poll() may sleep: until the next check of the shell, the timeout, or the end
 * of the drain. */
static int next_wait(const struct run *x, int64_t t)
{
	int64_t until = x->exited ? x->drain_until : t + REAP_TICK_MS;

	if (!x->exited && x->deadline && !x->timed_out)
		until = MIN(until, x->deadline);
	if (!x->exited && x->kill_at)
		until = MIN(until, x->kill_at);
	return (int)MAX(0, until - t);
}

/* In the drainer: everything but the two pipes closed, so it holds neither the SSH
 * channel (the agent's stdin/stdout) nor anything else of the agent's. */
static void keep_only_pipes(int fds[2])
{
	int devnull = open("/dev/null", O_RDWR);

	for (int i = 0; i < 2; i++) {
		int high = fcntl(fds[i], F_DUPFD, 10);
		fds[i] = high >= 0 ? dup2(high, 3 + i) : -1;
	}
	for (int fd = 0; fd < 3; fd++)
		if (devnull >= 0)
			dup2(devnull, fd);
	if (syscall(SYS_close_range, 5u, ~0u, 0u) < 0)
		for (int fd = 5; fd < 65536; fd++)
			close(fd);
}

/* The drainer's loop: copy what a daemon still writes to the journal (or nowhere, where
 * there is no journal) until it closes its ends. */
static _noreturn_ void drain_to_journal(int fds[2])
{
	static const int prio[2] = { LOG_INFO, LOG_WARNING };
	int sink[2];
	char chunk[16384];

	for (int i = 0; i < 2; i++) {
		sink[i] = sd_journal_stream_fd("cirun-exec", prio[i], 0);
		if (sink[i] < 0)
			sink[i] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(fds[i], chunk, sizeof(chunk));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				close(fds[i]);
				fds[i] = -1;
			} else if (sink[i] >= 0 && write(sink[i], chunk, (size_t)k) < 0) {
				close(sink[i]);
				sink[i] = -1; /* keep reading: a daemon must never get SIGPIPE */
			}
		}
	}
	_exit(0);
}

/* The shell exited but something it started still holds the pipes. Closing our ends
 * would kill that daemon with SIGPIPE at its next write; instead a detached process (the
 * child of a child, so init reaps it) takes them over and copies to the journal. */
static void hand_over_pipes(int fds[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		setsid();
		signal(SIGPIPE, SIG_IGN);
		/* it may live as long as the daemon: hold no directory busy, and show in ps as
		 * what it is (comm), not as one more agent session */
		if (chdir("/") < 0)
			_exit(1);
		prctl(PR_SET_NAME, "cirun-drain", 0, 0, 0);
		keep_only_pipes(fds);
		drain_to_journal(fds);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int exec_command(const char *command, const char *cwd, const struct kv *env, size_t nenv,
		 unsigned timeout_s, exec_output_fn out, void *data, struct exec_result *res,
		 struct errbuf *err)
{
	int out_pipe[2], err_pipe[2], r = 0;
	struct run x = { .deadline = timeout_s ? now_ms() + (int64_t)timeout_s * 1000 : 0 };
	char chunk[65536];

	for (size_t i = 0; i < nenv; i++)
		if (!shell_identifier_valid(env[i].key, strlen(env[i].key)))
			return errbuf_set(err, -EINVAL, "environment key '%s' is not a shell identifier",
					  env[i].key);
	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		return errbuf_set(err, negative_errno(), "pipe: %m");
	if (pipe2(err_pipe, O_CLOEXEC) < 0) {
		close(out_pipe[0]);
		close(out_pipe[1]);
		return errbuf_set(err, negative_errno(), "pipe: %m");
	}
	x.pid = fork();
	if (x.pid < 0) {
		r = errbuf_set(err, negative_errno(), "fork: %m");
		close(out_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		return r;
	}
	if (x.pid == 0)
		child(command, cwd, env, nenv, out_pipe[1], err_pipe[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	x.fds[0] = out_pipe[0];
	x.fds[1] = err_pipe[0];

	/* The step ends when its shell exits, not when the pipes close: a daemon it started
	 * keeps them open. Output still coming is drained for DRAIN_MS (or to EOF), then the
	 * pipes are handed over to a drainer that copies to the journal. */
	for (;;) {
		int64_t t = now_ms();
		reap(&x, t);
		enforce_timeout(&x, t);
		if (x.fds[0] < 0 && x.fds[1] < 0)
			break;
		if (x.exited && t >= x.drain_until)
			break;
		struct pollfd p[2] = { { x.fds[0], POLLIN, 0 }, { x.fds[1], POLLIN, 0 } };
		int n = poll(p, 2, next_wait(&x, t));
		if (n < 0 && errno != EINTR) {
			r = errbuf_set(err, negative_errno(), "poll: %m");
			break;
		}
		for (int i = 0; i < 2 && n > 0; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(x.fds[i], chunk, sizeof(chunk));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				close(x.fds[i]);
				x.fds[i] = -1;
				continue;
			}
			if (out && out(data, i + 1, chunk, (size_t)k) < 0 && r == 0) {
				r = errbuf_set(err, -EPIPE, "the output could not be delivered; stopped "
					       "the command");
				kill(-x.pid, SIGKILL);
			}
		}
	}
	if (x.fds[0] >= 0 || x.fds[1] >= 0)
		hand_over_pipes(x.fds);
	/* The pipes can close before the command ends (it may redirect its output): keep
	 * the timeout while waiting for it. */
	while (!x.exited) {
		int64_t t = now_ms();
		reap(&x, t);
		enforce_timeout(&x, t);
		if (!x.exited)
			usleep(REAP_TICK_MS * 1000);
	}
	/* A timed-out script's group goes whole, whatever ignored the SIGTERM. */
	if (x.timed_out)
		kill(-x.pid, SIGKILL);
	if (res) {
		res->timed_out = x.timed_out;
		res->signal = WIFSIGNALED(x.status) ? WTERMSIG(x.status) : 0;
		res->exit_code = WIFEXITED(x.status) ? WEXITSTATUS(x.status) : -1;
	}
	return r;
}
