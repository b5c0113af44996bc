/* SPDX-License-Identifier: MIT */
/*
 * strata run -d's supervisor (conmon's part): it holds the container's
 * stdout and stderr pipes and writes what comes to the container's log
 * (ctr_log.h), tells its caller when the command has started, and waits
 * for the daemon, whose exit status is the command's; the launcher then
 * records it in the container's state, as after a foreground run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr_log.h"
#include "run.h"

/* The output streams first: the pipes, and the pty's master with -t. */
enum { P_OUT, P_ERR, P_TTY, P_STARTED, P_DAEMON, N_POLL };
static const char *const stream[] = {"stdout", "stderr", "stdout"};

/* The caller may go: the supervisor's stderr, the caller's until now,
 * goes too. */
static void tell_started(struct run_detach *d)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)!write(d->notify, "s", 1);
	close(d->notify);
	d->notify = -1;
	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
}

/* Copies what @fd has to the log: false at its end. */
static bool pump(int fd, struct ctr_log *log, const char *stream)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0 && log->fd >= 0)
		ctr_log_write(log, stream, buf, (size_t)n);
	return n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
}

/* After the daemon: every process of the container is gone, and what is
 * left in the pipes is read without waiting (a process outside that kept
 * a write end must not hold the supervisor). */
static void drain(struct pollfd *p, struct ctr_log *log)
{
	for (int i = P_OUT; i <= P_TTY; i++) {
		if (p[i].fd < 0)
			continue;
		fcntl(p[i].fd, F_SETFL, O_NONBLOCK);
		for (int k = 0; k < 4096; k++) {
			char buf[8192];
			ssize_t n = read(p[i].fd, buf, sizeof(buf));

			if (n <= 0)
				break;
			if (log->fd >= 0)
				ctr_log_write(log, stream[i], buf, (size_t)n);
		}
	}
}

/* The started pipe said something: 'e' (the command failed before its
 * exec), or its end: started, when the init was. */
static void on_started(struct pollfd *p, struct run_detach *d, bool *failed, bool init_started)
{
	char c;
	ssize_t n = read(p->fd, &c, 1);

	if (n < 0 && errno == EINTR)
		return;
	if (n == 1 && c == 'e')
		*failed = true;
	if (n == 1)
		return;
	close(p->fd);
	p->fd = -1;
	if (!*failed && init_started && d->notify >= 0)
		tell_started(d);
}

int run_supervise(struct run_detach *d, const char *dir, pid_t daemon, bool init_started)
{
	struct ctr_log log = {.fd = -1};
	struct pollfd p[N_POLL] = {
	    [P_OUT] = {.fd = d->out[0], .events = POLLIN},
	    [P_ERR] = {.fd = d->err[0], .events = POLLIN},
	    [P_TTY] = {.fd = d->tty, .events = POLLIN},
	    [P_STARTED] = {.fd = d->started[0], .events = POLLIN},
	    [P_DAEMON] = {.fd = (int)syscall(SYS_pidfd_open, daemon, 0), .events = POLLIN},
	};
	bool failed = false, done = false;
	int st = 0;

	if (ctr_log_open(&log, dir, d->log_max) < 0)
		cli_error("run: %s/%s: %s (the container's output is lost)", dir, CTR_LOG_NAME,
		          strerror(errno));
	while (!done) {
		/* Without pidfd_open (Linux < 5.3), a look every 100 ms. */
		if (poll(p, N_POLL, p[P_DAEMON].fd < 0 ? 100 : -1) < 0 && errno != EINTR)
			break;
		/* A pty's master reads EIO once the last of its slaves closed. */
		for (int i = P_OUT; i <= P_TTY; i++)
			if (p[i].fd >= 0 && p[i].revents && !pump(p[i].fd, &log, stream[i]))
				p[i].fd = -1;
		if (p[P_STARTED].fd >= 0 && p[P_STARTED].revents)
			on_started(&p[P_STARTED], d, &failed, init_started);
		if (p[P_DAEMON].fd >= 0 ? p[P_DAEMON].revents != 0
		                        : waitpid(daemon, &st, WNOHANG) == daemon)
			done = true;
	}
	if (p[P_DAEMON].fd >= 0) {
		while (waitpid(daemon, &st, 0) < 0 && errno == EINTR)
			;
		close(p[P_DAEMON].fd);
	}
	drain(p, &log);
	close(d->out[0]);
	close(d->err[0]);
	if (d->tty >= 0)
		close(d->tty);
	if (p[P_STARTED].fd >= 0)
		close(p[P_STARTED].fd);
	ctr_log_close(&log);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
