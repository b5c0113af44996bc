/* SPDX-License-Identifier: MIT */
/*
 * strata exec without waiting for the command's end: -d, and -it after
 * the detach keys.  Our child is the command's keeper (run_exec.c); once
 * it is gone, the kernel gives the command to the container's init, which
 * reaps every child it gets (run_init.c), and it ends with the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "ctr.h"

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int ctr_exec_started(int started, pid_t keeper)
{
	char c[2] = {0};
	ssize_t n;

	/* The keeper goes as soon as it forked the command. */
	reap(keeper);
	while ((n = read(started, c, 2)) < 0 && errno == EINTR)
		;
	/* Its exec closed the pipe: it runs; else 'e' and its status. */
	return n == 2 && c[0] == 'e' ? (unsigned char)c[1] : 0;
}

int ctr_exec_leave(int master, pid_t keeper)
{
	pid_t pid = fork();

	if (pid != 0) { /* the command needs a reader, or its output blocks it */
		kill(keeper, SIGKILL);
		reap(keeper);
		return 0;
	}
	/* The drainer: out of our terminal's session and its stdio, it reads
	 * the master until the last holder of the pty's slave closed it (EIO),
	 * which is the command's end (or its children's). */
	setsid();
	signal(SIGHUP, SIG_IGN);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	/* The master alone: no file of the store's stays open for as long as
	 * the command runs. */
	if (dup2(master, 3) == 3)
		master = 3;
	close_range(4, ~0U, 0);
	for (;;) {
		char buf[4096];
		ssize_t n = read(master, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(0);
	}
}
