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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "name.h"

#define KILL_GRACE_MS 5000

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
	if (!getenv("PATH"))
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	for (size_t i = 0; i < nenv; i++)
		setenv(env[i].key, env[i].value, 1);
	if (cwd && *cwd && chdir(cwd) < 0) {
		fprintf(stderr, "cirun-agent: cannot change to '%s': %m\n", cwd);
		_exit(126);
	}
	execl("/bin/bash", "bash", "-c", command, (char *)NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	fprintf(stderr, "cirun-agent: cannot run a shell: %m\n");
	_exit(127);
}

int exec_command(const char *command, const char *cwd, const struct kv *env, size_t nenv,
		 unsigned timeout_s, exec_output_fn out, void *data, struct exec_result *res,
		 struct errbuf *err)
{
	int out_pipe[2], err_pipe[2], status = 0, r = 0;
	int64_t deadline = timeout_s ? now_ms() + (int64_t)timeout_s * 1000 : 0, kill_at = 0;
	bool timed_out = false, open_out = true, open_err = true;
	char chunk[65536];
	pid_t pid;

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
	pid = fork();
	if (pid < 0) {
		r = errbuf_set(err, negative_errno(), "fork: %m");
		close(out_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		return r;
	}
	if (pid == 0)
		child(command, cwd, env, nenv, out_pipe[1], err_pipe[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);

	while (open_out || open_err) {
		struct pollfd p[2] = { { open_out ? out_pipe[0] : -1, POLLIN, 0 },
				       { open_err ? err_pipe[0] : -1, POLLIN, 0 } };
		int wait_ms = -1;
		int64_t t = now_ms();
		if (deadline && !timed_out)
			wait_ms = (int)MAX(0, deadline - t);
		else if (kill_at)
			wait_ms = (int)MAX(0, kill_at - t);
		int n = poll(p, 2, wait_ms);
		if (n < 0 && errno != EINTR) {
			r = errbuf_set(err, negative_errno(), "poll: %m");
			break;
		}
		if (deadline && !timed_out && now_ms() >= deadline) {
			timed_out = true;
			kill(-pid, SIGTERM);
			kill_at = now_ms() + KILL_GRACE_MS;
		} else if (kill_at && now_ms() >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		for (int i = 0; i < 2 && n > 0; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(p[i].fd, chunk, sizeof(chunk));
			if (k <= 0) {
				if (i == 0)
					open_out = false;
				else
					open_err = false;
				continue;
			}
			if (out && out(data, i + 1, chunk, (size_t)k) < 0 && r == 0) {
				r = errbuf_set(err, -EPIPE, "the output could not be delivered; stopped "
					       "the command");
				kill(-pid, SIGKILL);
			}
		}
	}
	close(out_pipe[0]);
	close(err_pipe[0]);
	/* The pipes can close before the command ends (it may redirect its output): keep
	 * the timeout while waiting for it. */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		int64_t t = now_ms();
		if (deadline && !timed_out && t >= deadline) {
			timed_out = true;
			kill(-pid, SIGTERM);
			kill_at = t + KILL_GRACE_MS;
		} else if (kill_at && t >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL); /* whatever of its group is left */
	if (res) {
		res->timed_out = timed_out;
		res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	return r;
}
