/* SPDX-License-Identifier: MIT */
/*
 * strata exec, inside: the process that joins a running container and the
 * command it starts there (run.h, struct run_exec).
 *
 *   strata exec ──fork──▶ enter: cgroups, setns(init's pidfd, NEWUSER|NEWNS|NEWPID|...)
 *        ▲                  └─clone(CLONE_PARENT)─▶ command: pid N of the container
 *        └───────────── waits for the command, passes its status back ───────┘
 *
 * Security reasoning:
 *  - The namespaces are joined through a pidfd of the container's init,
 *    all in one setns(): the kernel enters the user namespace first and
 *    checks the others against it, and a pidfd cannot come to name another
 *    process if the init dies (a pid read from /proc could be reused).
 *  - The init is strata's own (run_init.c), under a filter of its own; the
 *    container's processes cannot change what its namespaces are.
 *  - Only the command runs anything of the container's: its user,
 *    capabilities, no_new_privs and seccomp filter are set by the very
 *    calls strata run's command makes (run_proc.c), after which nothing
 *    but execvp happens.  The entering process, which holds every
 *    capability in the container's user namespace, reads nothing in the
 *    container and ends as soon as the command is started.  strata exec
 *    itself never enters: the container's processes cannot reach it (it is
 *    outside their pid namespace), and it only copies bytes.
 *  - The command is the caller's child (CLONE_PARENT), so the caller
 *    waits for it and gets its status; the container's init would reap it
 *    if the caller died first.
 *
 * Built without AddressSanitizer, as the init is (tools/meson.build): past
 * setns(), the host's files are out of reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

extern char **environ;

/* -d: the started pipe, told of a failure. */
static int started_fd = -1;

static void __attribute__((noreturn, format(printf, 2, 3))) fail(int status, const char *fmt, ...)
{
	va_list ap;

	if (started_fd >= 0)
		(void)!write(started_fd, (char[]){'e', (char)status}, 2);

	va_start(ap, fmt);
	run_proc_vsay("exec", fmt, ap);
	va_end(ap);
	_exit(status);
}

/* @fd on /dev/null: 0, or -1. */
static int to_null(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int rc = null < 0 ? -1 : dup2(null, fd);

	if (null >= 0)
		close(null);
	return rc < 0 ? -1 : 0;
}

/* The command: stdio, environment, directory, then the container's
 * credentials and filter, and its exec. */
static int __attribute__((noreturn)) command(void *arg)
{
	const struct run_exec *x = arg;
	const struct run_spec *spec = x->spec;
	char why[PATH_MAX + 128];
	sigset_t none;
	int en, err = -1;

	started_fd = x->started_pipe;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (spec->tty_slave >= 0) {
		if (run_proc_tty(spec, why, sizeof(why)) < 0)
			fail(1, "%s", why);
	} else if (!spec->interactive && to_null(0) < 0) {
		fail(1, "/dev/null: %s", strerror(errno));
	}
	environ = spec->env;
	/* Not made when missing, unlike strata run's -w: podman exec fails. */
	if (chdir(spec->workdir ? spec->workdir : "/") < 0)
		fail(1, "-w %s: %s", spec->workdir, strerror(errno));
	if (run_proc_confine(spec, why, sizeof(why)) < 0)
		fail(1, "%s", why);
	/* -d: the output goes nowhere, our stderr only for why the exec
	 * failed. */
	if (started_fd >= 0 &&
	    ((err = fcntl(2, F_DUPFD_CLOEXEC, 3)) < 0 || to_null(1) < 0 || to_null(2) < 0))
		fail(1, "/dev/null: %s", strerror(errno));
	execvp(spec->argv[0], spec->argv);
	en = errno;
	if (err >= 0)
		dup2(err, 2);
	fail(en == ENOENT ? 127 : 126, "%s: %s", spec->argv[0],
	     en == ENOENT ? "command not found" : strerror(en));
}

void run_exec_command(const struct run_exec *x)
{
	command((void *)x);
}

/* -d, and -it with detach keys: the command's parent in the container's
 * pid namespace, which strata exec can let go of.  Once the keeper ends,
 * the kernel gives the command to the keeper's pid namespace's init, the
 * container's, which reaps it (run_init.c); the command's own parent would
 * be strata exec, outside, and it would go to the host's init.  Until
 * then, it passes strata exec's signals on and exits with the command's
 * status.  Not dumpable: the container's root, whose user namespace it is
 * in, cannot ptrace it (its memory is strata's). */
static int keeper(void *arg)
{
	const struct run_exec *x = arg;
	sigset_t all;
	pid_t pid;

	started_fd = x->started_pipe;
	prctl(PR_SET_DUMPABLE, 0);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if ((pid = fork()) < 0)
		fail(1, "starting the command: %s", strerror(errno));
	if (pid == 0)
		command(arg);
	if (x->started_pipe >= 0) /* -d: at once */
		_exit(0);
	/* Nothing of strata exec's (the pty, its pipes, the store's files)
	 * stays open in here while the command runs. */
	close_range(3, ~0U, 0);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si), st;

		if (sig == SIGCHLD && waitpid(pid, &st, WNOHANG) == pid)
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		else if (sig > 0 && sig != SIGCHLD)
			kill(pid, sig);
	}
}

void run_exec_enter(const struct run_exec *x)
{
	char buf[32];
	pid_t pid;
	int n;

	/* The cgroups first, while the host's /sys is ours to see; the
	 * command follows us in.  The launcher moves the init the same way. */
	if (x->cgroups && run_cgroup_enter(x->cgroups) < 0)
		_exit(1);
	if (setns(x->pidfd, x->ns_flags) < 0)
		fail(1, "joining the container's namespaces: %s",
		     errno == ESRCH ? "it has stopped" : strerror(errno));
	close(x->pidfd);
	/* In the container's pid namespace: only a child is. */
	pid = run_clone(x->keep ? keeper : command, (void *)x, CLONE_PARENT);
	if (pid < 0)
		fail(1, "starting the command: %s", strerror(errno));
	n = snprintf(buf, sizeof(buf), "%ld", (long)pid);
	if (write(x->pid_pipe, buf, (size_t)n) != n)
		_exit(1);
	_exit(0);
}
