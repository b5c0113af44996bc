/* SPDX-License-Identifier: MIT */
/*
 * strata umount: unmount a strata mount and wait until the daemon that served
 * it has exited (so its upper is no longer written), unless --lazy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void umount_usage(FILE *out)
{
	fputs("Usage: strata umount [OPTIONS] MOUNTPOINT\n"
	      "\n"
	      "Unmount a strata mount and wait until the daemon serving it has exited\n"
	      "(its upper directory is then no longer written).\n"
	      "\n"
	      "Options:\n"
	      "  -l, --lazy           detach now, finish when the mount is no longer busy;\n"
	      "                       return at once, without waiting for the daemon\n"
	      "  -t, --timeout SECS   wait at most SECS seconds for the daemon to exit\n"
	      "                       (default 10; 0: do not wait)\n"
	      "  -h, --help           show this help\n",
	      out);
}

/* The strata mount at @path (the last one there: the one on top), from
 * /proc/self/mountinfo, which escapes space, tab, newline and backslash as
 * octal.  Fills the connection number (the minor of the mount's device, as
 * in /sys/fs/fuse/connections) and the user_id it was mounted by, or -1. */
struct mount_info {
	long conn;
	long uid;
};

static bool find_strata_mount(const char *path, struct mount_info *mi)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	mi->conn = mi->uid = -1;
	if (!f)
		return true; /* cannot tell: let umount decide */
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], *sep, *p, *q;
		unsigned maj, min;

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mp) != 3 ||
		    !(sep = strstr(line, " - ")))
			continue;
		for (p = q = mp; *p; p++, q++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				*q = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) |
				            (p[3] - '0'));
				p += 3;
			} else {
				*q = *p;
			}
		}
		*q = '\0';
		if (strcmp(mp, path) != 0 || strncmp(sep + 3, "fuse.strata ", 12) != 0)
			continue;
		found = true;
		mi->conn = (long)min;
		p = strstr(sep, ",user_id=");
		mi->uid = p ? strtol(p + 9, NULL, 10) : -1;
	}
	fclose(f);
	return found;
}

/* ---- finding the daemon ---- */

#define MAX_DAEMONS 8

struct daemons {
	pid_t pid[MAX_DAEMONS];
	int fd[MAX_DAEMONS]; /* pidfds */
	int n;
};

static void daemons_add(struct daemons *d, pid_t pid)
{
	for (int i = 0; i < d->n; i++)
		if (d->pid[i] == pid)
			return;
	if (d->n < MAX_DAEMONS)
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

/* The record the daemon wrote (fs/mount.c, record_dir): its pid, if that
 * process still holds /dev/fuse open. */
static void read_record(const struct mount_info *mi, struct daemons *out)
{
	char path[PATH_MAX], text[32] = "", pid[24];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	long v;
	FILE *f;

	if (mi->uid == 0)
		snprintf(path, sizeof(path), "/run/strata/daemons/%ld", mi->conn);
	else if (xdg && xdg[0] == '/' && (long)getuid() == mi->uid &&
	         (size_t)snprintf(path, sizeof(path), "%s/strata/daemons/%ld", xdg, mi->conn) <
	             sizeof(path))
		;
	else
		return;
	if (!(f = fopen(path, "re")))
		return;
	if (fgets(text, sizeof(text), f) && (v = strtol(text, NULL, 10)) > 1) {
		snprintf(pid, sizeof(pid), "%ld", v);
		bool named = false;

		if (holds_connection(pid, mi->conn, true, &named))
			daemons_add(out, (pid_t)v);
	}
	fclose(f);
}

static void find_daemons(const struct mount_info *mi, struct daemons *d)
{
	d->n = 0;
	if (mi->conn < 0)
		return;
	if (!scan_fdinfo(mi->conn, d))
		read_record(mi, d);
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

/* Waits up to @timeout seconds for every daemon to exit.  Returns the pid
 * of one still running, or 0. */
static pid_t wait_daemons(struct daemons *d, unsigned timeout)
{
	double end = now_s() + timeout;

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

static void daemons_close(struct daemons *d)
{
	for (int i = 0; i < d->n; i++)
		if (d->fd[i] >= 0)
			close(d->fd[i]);
}

static int run_fusermount(const char *path, bool lazy)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", lazy ? "-uqz" : "-uq", "--", path,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int unmount(const char *path, const char *arg, bool lazy)
{
	int rc;

	if (geteuid() == 0) {
		if (umount2(path, lazy ? MNT_DETACH : 0) == 0)
			return 0;
		cli_error("%s: %s", arg,
		          errno == EBUSY ? "busy (a process uses it; try --lazy)"
		                         : strerror(errno));
		return 1;
	}
	rc = run_fusermount(path, lazy);
	if (rc == 0)
		return 0;
	cli_error("%s: fusermount3 could not unmount it%s", arg,
	          rc == 127 ? " (is fuse3 installed?)" : " (busy? try --lazy)");
	return 1;
}

int cmd_umount(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"lazy", no_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char path[PATH_MAX];
	struct mount_info mi;
	struct daemons d = {.n = 0};
	unsigned timeout = 10;
	bool lazy = false;
	pid_t left;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+lt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lazy = true;
			break;
		case 't': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || v > 86400 || optarg[0] == '-')
				return cli_usage_error(
				    "umount",
				    "--timeout: '%s' is not a number of seconds (0 to 86400)",
				    optarg);
			timeout = (unsigned)v;
			break;
		}
		case 'h':
			umount_usage(stdout);
			return 0;
		default:
			return cli_usage_error("umount", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("umount", "one mountpoint expected");
	if (cli_absolute_path(argv[optind], path, sizeof(path))) {
		cli_error("%s: %s", argv[optind], strerror(errno ? errno : ENAMETOOLONG));
		return 1;
	}
	if (!find_strata_mount(path, &mi)) {
		cli_error("%s: not a strata mount", argv[optind]);
		return 1;
	}
	/* Found before unmounting: afterwards nothing names the connection. */
	if (!lazy && timeout > 0)
		find_daemons(&mi, &d);
	rc = unmount(path, argv[optind], lazy);
	if (rc == 0 && d.n > 0 && (left = wait_daemons(&d, timeout)) != 0) {
		cli_error("umount: %s: daemon (pid %ld) still running after %u s", argv[optind],
		          (long)left, timeout);
		rc = 1;
	}
	daemons_close(&d);
	return rc;
}
