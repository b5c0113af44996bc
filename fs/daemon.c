/* SPDX-License-Identifier: MIT */
/* The daemon serving a mount, found from outside: see daemon.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "sys.h"

/*
 * The daemon's record: `strata umount` finds the daemon serving a mount so
 * it can wait for it to exit.  On kernels that name the connection in
 * /proc/PID/fdinfo (fuse_connection) it scans for the /dev/fuse holder; on
 * older ones it reads this record: a file named after the connection (the
 * minor number of the mount's device, as in /sys/fs/fuse/connections) that
 * holds the daemon's pid.  Root's records are in /run/strata/daemons, other
 * users' in $XDG_RUNTIME_DIR/strata/daemons (fs_daemons_find() reads the same
 * places).  Best effort: without a record umount scans or does not wait.
 */
static int record_dir(long uid, char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (uid == 0)
		n = snprintf(out, size, "/run/strata/daemons");
	else if (xdg && xdg[0] == '/' && uid == (long)getuid())
		n = snprintf(out, size, "%s/strata/daemons", xdg);
	else
		return -1;
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

void fs_daemon_record_write(const char *mountpoint, char *path, size_t size)
{
	char dir[4096], text[32];
	long minor;
	int len;

	path[0] = '\0';
	if (sys_find_mount(mountpoint, "fuse.strata", &minor, NULL) != 1 ||
	    record_dir((long)getuid(), dir, sizeof(dir)) || sys_mkdir_p(dir) < 0 ||
	    snprintf(path, size, "%s/%ld", dir, minor) >= (int)size) {
		path[0] = '\0';
		return;
	}
	/* Whole or not at all, for umount reading it at any moment; no fsync:
	 * it is worth nothing after a reboot. */
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (sys_write_file_volatile(path, text, (size_t)len) < 0)
		path[0] = '\0';
}

/* Only if it is still ours: the connection number may already serve a new
 * mount, whose daemon replaced it. */
void fs_daemon_record_remove(const char *path)
{
	char text[32] = "";
	FILE *f;

	if (!*path || !(f = fopen(path, "re")))
		return;
	if (fgets(text, sizeof(text), f) && strtol(text, NULL, 10) == (long)getpid())
		unlink(path);
	fclose(f);
}

/* ---- finding the daemon ---- */

static void daemons_add(struct daemons *d, pid_t pid)
{
	for (int i = 0; i < d->n; i++)
		if (d->pid[i] == pid)
			return;
	if (d->n < DAEMONS_MAX)
		d->pid[d->n++] = pid;
}

/* The connection a /dev/fuse descriptor of @pid serves: its fdinfo's
 * "fuse_connection:" line (Linux 6.14 and later).  -1 when @fd is not
 * /dev/fuse, -2 when the kernel does not say. */
static long fd_connection(const char *pid, const char *fd)
{
	char path[64], link[32], line[128];
	ssize_t n;
	long conn = -2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%.20s/fd/%.20s", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = '\0';
	if (strcmp(link, "/dev/fuse") != 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%.20s/fdinfo/%.20s", pid, fd);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "fuse_connection:", 16) == 0)
			conn = strtol(line + 16, NULL, 10);
	fclose(f);
	return conn;
}

/* Does @pid hold /dev/fuse open for connection @conn?  Sets *@named when
 * the kernel names the connection of one of its /dev/fuse descriptors.
 * With @any, an unnamed /dev/fuse descriptor counts too. */
static bool holds_connection(const char *pid, long conn, bool any, bool *named)
{
	char path[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%.20s/fd", pid);
	if (!(d = opendir(path)))
		return false;
	while (!found && (de = readdir(d))) {
		long c;

		if (de->d_name[0] == '.')
			continue;
		c = fd_connection(pid, de->d_name);
		if (c >= 0)
			*named = true;
		found = c == conn || (c == -2 && any);
	}
	closedir(d);
	return found;
}

/* Every process holding the connection's /dev/fuse open.  Returns false
 * when nothing in /proc told connections apart (an older kernel, or no
 * /dev/fuse open at all): then only the daemon's record can tell. */
static bool scan_fdinfo(long conn, struct daemons *out)
{
	struct dirent *de;
	bool named = false;
	DIR *d = opendir("/proc");

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    holds_connection(de->d_name, conn, false, &named))
			daemons_add(out, (pid_t)atol(de->d_name));
	closedir(d);
	return named;
}

/* The record the daemon wrote: its pid, if that process still holds
 * /dev/fuse open. */
static void read_record(long conn, long uid, struct daemons *out)
{
	char dir[PATH_MAX], path[PATH_MAX + 24], text[32] = "", pid[24];
	long v;
	FILE *f;

	if (record_dir(uid, dir, sizeof(dir)) < 0 ||
	    (size_t)snprintf(path, sizeof(path), "%s/%ld", dir, conn) >= sizeof(path))
		return;
	if (!(f = fopen(path, "re")))
		return;
	if (fgets(text, sizeof(text), f) && (v = strtol(text, NULL, 10)) > 1) {
		snprintf(pid, sizeof(pid), "%ld", v);
		bool named = false;

		if (holds_connection(pid, conn, true, &named))
			daemons_add(out, (pid_t)v);
	}
	fclose(f);
}

void fs_daemons_find(long conn, long uid, struct daemons *d)
{
	d->n = 0;
	if (conn < 0)
		return;
	if (!scan_fdinfo(conn, d))
		read_record(conn, uid, d);
	/* Pinned now: a pidfd keeps naming this process even if the pid is
	 * reused after it exits. */
	for (int i = 0; i < d->n; i++)
		d->fd[i] = (int)syscall(SYS_pidfd_open, d->pid[i], 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

pid_t fs_daemons_wait(struct daemons *d, unsigned timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;

	for (int i = 0; i < d->n; i++) {
		struct pollfd p = {.fd = d->fd[i], .events = POLLIN};

		if (d->fd[i] < 0) {
			/* No pidfd (exited already, or an old kernel): poll the pid. */
			while (kill(d->pid[i], 0) == 0 || errno == EPERM) {
				if (now_s() >= end)
					return d->pid[i];
				usleep(10000);
			}
			continue;
		}
		for (;;) {
			double left = end - now_s();
			int rc = poll(&p, 1, left > 0 ? (int)(left * 1000) + 1 : 0);

			if (rc > 0)
				break;
			if (rc == 0 || (rc < 0 && errno != EINTR))
				return d->pid[i];
		}
	}
	return 0;
}

void fs_daemons_term(struct daemons *d)
{
	for (int i = 0; i < d->n; i++)
		if (d->fd[i] < 0 || syscall(SYS_pidfd_send_signal, d->fd[i], SIGTERM, NULL, 0) < 0)
			kill(d->pid[i], SIGTERM);
}

void fs_daemons_close(struct daemons *d)
{
	for (int i = 0; i < d->n; i++)
		if (d->fd[i] >= 0)
			close(d->fd[i]);
}
