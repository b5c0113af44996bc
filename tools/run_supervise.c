/* SPDX-License-Identifier: MIT */
/*
 * strata run -d's supervisor (conmon's part): it holds the container's
 * stdout and stderr pipes and writes what comes to the container's log
 * (ctr_log.h), tells its caller when the command has started, and waits
 * for the daemon, whose exit status is the command's; the launcher then
 * records it in the container's state, as after a foreground run.  strata
 * attach's clients get the same output through the attach socket
 * (run_attach.c), and with -i their input goes to the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "ctr_log.h"
#include "run.h"

/* The output streams first: the pipes, and the pty's master with -t. */
enum {
	P_OUT,
	P_ERR,
	P_TTY,
	P_STARTED,
	P_DAEMON,
	P_ATTACH,
	N_POLL = P_ATTACH + 1 + RUN_ATTACH_CLIENTS
};
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

/* @n bytes of @stream to the log and to attached clients. */
static void emit(struct ctr_log *log, struct run_attach *a, int i, const char *buf, size_t n)
{
	if (log->fd >= 0)
		ctr_log_write(log, stream[i], buf, n);
	run_attach_send(a, i == P_ERR ? ATTACH_ERR : ATTACH_OUT, buf, n);
}

/* Copies what @fd (stream @i) has out: false at its end. */
static bool pump(int fd, struct ctr_log *log, struct run_attach *a, int i)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0)
		emit(log, a, i, buf, (size_t)n);
	return n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
}

/* After the daemon: every process of the container is gone, and what is
 * left in the pipes is read without waiting (a process outside that kept
 * a write end must not hold the supervisor). */
static void drain(struct pollfd *p, struct ctr_log *log, struct run_attach *a)
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
			emit(log, a, i, buf, (size_t)n);
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
	struct run_attach a = {.in = !d->interactive ? -1
	                             : d->tty >= 0   ? d->tty
	                                             : d->in[1],
	                       .tty = d->tty};
	bool failed = false, done = false;
	int st = 0, rc, fds[] = {d->out[0], d->err[0], d->tty};

	if (ctr_log_open(&log, dir, d->log_max) < 0)
		cli_error("run: %s/%s: %s (the container's output is lost)", dir, CTR_LOG_NAME,
		          strerror(errno));
	/* Before the caller is told the command started: from then on,
	 * strata attach finds the socket. */
	run_attach_listen(&a, dir);
	if (d->tty >= 0) /* clients' input is written without waiting */
		fcntl(d->tty, F_SETFL, O_NONBLOCK);
	/* strata start -a: it connects once the command has started, and
	 * gets what came before from the supervisor (the log has it too, but
	 * only here is it in order with what follows and without a gap). */
	if (d->hold && a.listen >= 0)
		run_attach_hold(&a);
	d->hold = false; /* the first run only, not a --restart's */
	while (!done) {
		int timeout = run_attach_timeout(&a);
		bool room = run_attach_room(&a);

		/* Held output with no room: the output waits in its pipes. */
		for (int i = P_OUT; i <= P_TTY; i++)
			p[i].fd = room ? fds[i] : -1;
		run_attach_poll(&a, &p[P_ATTACH]);
		/* Without pidfd_open (Linux < 5.3), a look every 100 ms. */
		if (p[P_DAEMON].fd < 0 && (timeout < 0 || timeout > 100))
			timeout = 100;
		if (poll(p, N_POLL, timeout) < 0 && errno != EINTR)
			break;
		/* A pty's master reads EIO once the last of its slaves closed. */
		for (int i = P_OUT; i <= P_TTY; i++)
			if (p[i].fd >= 0 && p[i].revents && !pump(p[i].fd, &log, &a, i))
				fds[i] = -1;
		run_attach_handle(&a, &p[P_ATTACH]);
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
	for (int i = P_OUT; i <= P_TTY; i++)
		p[i].fd = fds[i];
	drain(p, &log, &a);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	run_attach_end(&a, dir, rc);
	close(d->out[0]);
	close(d->err[0]);
	if (d->tty >= 0)
		close(d->tty);
	if (p[P_STARTED].fd >= 0)
		close(p[P_STARTED].fd);
	if (d->in[1] >= 0)
		close(d->in[1]);
	ctr_log_close(&log);
	return rc;
}
