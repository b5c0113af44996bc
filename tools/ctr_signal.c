/* SPDX-License-Identifier: MIT */
/* strata kill, stop and wait (ctr.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"

int ctr_signal_number(const char *name)
{
	char *end;
	long n = strtol(name, &end, 10);

	if (end != name && !*end)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev && strcasecmp(abbrev, name) == 0)
			return sig;
	}
	return -1;
}

/* The parent of @pid (from /proc), or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	long ppid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	/* After the command's name, which may hold spaces and parentheses. */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %ld", &ppid);
	fclose(f);
	return (pid_t)ppid;
}

/* A child of @pid, found in /proc (a foreground launcher's only child is
 * its daemon, the daemon's is the init), or -1.  Its children file where
 * the kernel has one (CONFIG_PROC_CHILDREN): a walk of /proc reads every
 * process's stat, a millisecond and more. */
static pid_t child_of(pid_t pid)
{
	char path[64];
	FILE *f;
	DIR *d;
	struct dirent *de;
	long first = -1;
	pid_t found = -1;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%ld", &first) != 1)
			first = -1;
		fclose(f);
		return (pid_t)first;
	}
	d = opendir("/proc");

	while (d && found < 0 && (de = readdir(d))) {
		pid_t p = (pid_t)strtol(de->d_name, NULL, 10);

		if (p > 0 && parent_of(p) == pid)
			found = p;
	}
	if (d)
		closedir(d);
	return found;
}

/* The process to signal: the init, the grandchild of the recorded
 * launcher or supervisor (its child is the daemon), found in /proc rather
 * than recorded (a write at every start).  Else the launcher, which passes
 * signals on.  -1 when the recorded pid is no strata (a pid recorded long
 * ago may name another process now). */
static pid_t target(const char *dir, bool *is_init)
{
	json_t *st = ctr_state(dir);
	pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid")), init;

	json_decref(st);
	if (pid <= 0 || !run_is_strata(pid))
		return -1;
	init = child_of(pid);
	init = init > 0 ? child_of(init) : -1;
	*is_init = init > 0;
	return *is_init ? init : pid;
}

int ctr_init_pidfd(const char *dir, pid_t *pid)
{
	json_t *st = ctr_state(dir);
	pid_t launcher = (pid_t)json_integer_value(json_object_get(st, "pid")), daemon, init;
	int fd;

	json_decref(st);
	if (launcher <= 0 || !run_is_strata(launcher) || (daemon = child_of(launcher)) <= 0 ||
	    (init = child_of(daemon)) <= 0) {
		errno = ESRCH;
		return -1;
	}
	fd = (int)syscall(SYS_pidfd_open, init, 0);
	/* The fd names a process from now on, whatever becomes of its pid:
	 * that process must be the one found. */
	if (fd >= 0 && (parent_of(init) != daemon || parent_of(daemon) != launcher)) {
		close(fd);
		fd = -1;
		errno = ESRCH;
	}
	*pid = init;
	return fd;
}

int ctr_signal(const char *dir, const char *name, int sig, const char *cmd)
{
	bool is_init = false;
	pid_t pid;

	if (!store_container_running(dir)) {
		cli_error("%s: %s: not running", cmd, name);
		return -1;
	}
	if ((pid = target(dir, &is_init)) < 0) {
		cli_error("%s: %s: running, and its launcher is not found", cmd, name);
		return -1;
	}
	if (kill(pid, sig) < 0 && errno != ESRCH) {
		cli_error("%s: %s: signalling %s %ld: %s", cmd, name,
		          is_init ? "its init" : "its launcher", (long)pid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Waits up to @secs for the container in @dir to stop: whether it did. */
static bool stopped_within(const char *dir, double secs)
{
	struct timespec tick = {.tv_nsec = 10000000};

	for (long i = (long)(secs * 100); i > 0 && store_container_running(dir); i--)
		nanosleep(&tick, NULL);
	return !store_container_running(dir);
}

/* The image's StopSignal, recorded when the container started; 0 without. */
static int stop_signal_of(const char *dir)
{
	json_t *st = ctr_state(dir);
	const char *s = json_string_value(json_object_get(st, "stop_signal"));
	int sig = s ? ctr_signal_number(s) : 0;

	json_decref(st);
	return sig > 0 ? sig : 0;
}

int ctr_stop(const char *dir, const char *name, int sig, double timeout)
{
	bool is_init = false;

	if (!store_container_running(dir))
		return 0; /* as podman: stopping a stopped one is no error */
	if (!sig)
		sig = stop_signal_of(dir) ?: SIGTERM;
	/* Not to be run again (--restart), whatever the status. */
	store_container_note(dir, "stopping", "true");
	if (ctr_signal(dir, name, sig, "stop") < 0)
		return store_container_running(dir) ? -1 : 0;
	if (stopped_within(dir, timeout))
		return 0;
	/* No init left: the container is ending (its daemon unmounting), and
	 * a SIGKILL would reach its launcher instead, whose end would then go
	 * unrecorded ("supervisor died"). */
	if (target(dir, &is_init) > 0 && !is_init && stopped_within(dir, 10))
		return 0;
	if (ctr_signal(dir, name, SIGKILL, "stop") < 0 && store_container_running(dir))
		return -1;
	if (stopped_within(dir, 10))
		return 0;
	cli_error("stop: %s: still running 10 s after SIGKILL", name);
	return -1;
}

int ctr_wait(const char *dir, const char *name)
{
	char path[PATH_MAX];
	json_t *st;
	int fd, code = -1;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* The launcher holds it exclusive while the container runs, and
	 * records the exit before the last of its processes lets it go. */
	while (fd >= 0 && flock(fd, LOCK_SH) < 0 && errno == EINTR)
		;
	st = ctr_state(dir);
	if (json_is_integer(json_object_get(st, "exit_code")))
		code = (int)json_integer_value(json_object_get(st, "exit_code"));
	else if (!st)
		cli_error("wait: %s: removed at its end (--rm): no exit status", name);
	else {
		store_container_mark_dead(dir, json_is_true(json_object_get(st, "detached"))
		                                   ? "supervisor died"
		                                   : "launcher died");
		cli_error("wait: %s: no exit status: its launcher or supervisor died", name);
	}
	json_decref(st);
	if (fd >= 0)
		close(fd);
	return code;
}
