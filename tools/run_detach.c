/* SPDX-License-Identifier: MIT */
/*
 * strata run -d: the caller forks the supervisor and waits only for the
 * container's command to start.  The supervisor is the launcher of
 * run.h's picture, in a session of its own (setsid): a terminal that
 * closes, and the SIGHUP it sends its session, do not reach it, nor the
 * daemon and container it is the parent of (PR_SET_PDEATHSIG ties them to
 * it, as to a foreground launcher).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"

int run_detach_fork(struct run_detach *d)
{
	int p[2], st;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		cli_error("run: -d: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		d->notify = p[1];
		setsid();
		return -1;
	}
	close(p[1]);
	/* "s", or the end of the pipe: the supervisor failed (and said why
	 * on our stderr, which it had until then). */
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (c == 's')
		return 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
	return 128 + WTERMSIG(st);
}

int run_detach_pipes(struct run_detach *d, bool in)
{
	d->in[0] = d->in[1] = -1;
	if (pipe2(d->out, O_CLOEXEC) || pipe2(d->err, O_CLOEXEC) || pipe2(d->started, O_CLOEXEC) ||
	    (in && pipe2(d->in, O_CLOEXEC))) {
		cli_error("run: -d: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void to_null(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, fd);
		close(null);
	}
}

void run_detach_spawned(struct run_detach *d)
{
	close(d->out[1]);
	close(d->err[1]);
	close(d->started[1]);
	if (d->in[0] >= 0) {
		close(d->in[0]);
		/* Clients' input is written without waiting (run_attach.c). */
		fcntl(d->in[1], F_SETFL, O_NONBLOCK);
	}
	to_null(0);
	to_null(1);
}

void run_detach_quiet(const struct run_detach *d)
{
	to_null(0);
	dup2(d->out[1], 1);
	dup2(d->err[1], 2);
	close(d->out[1]);
	close(d->err[1]);
	if (d->in[0] >= 0)
		close(d->in[0]);
}
