/* SPDX-License-Identifier: MIT */
/* strata umount: unmount a strata mount; the daemon then exits by itself. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static void umount_usage(FILE *out)
{
	fputs("Usage: strata umount [OPTIONS] MOUNTPOINT\n"
	      "\n"
	      "Unmount a strata mount.  The daemon serving it exits.\n"
	      "\n"
	      "Options:\n"
	      "  -l, --lazy   detach now, finish when the mount is no longer busy\n"
	      "  -h, --help   show this help\n",
	      out);
}

/* Is @path the mount point of a strata mount?  /proc/self/mountinfo escapes
 * space, tab, newline and backslash as octal. */
static bool is_strata_mount(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return true; /* cannot tell: let umount decide */
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], *sep, *p, *q;

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 || !(sep = strstr(line, " - ")))
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
		found = strcmp(mp, path) == 0 && strncmp(sep + 3, "fuse.strata ", 12) == 0;
	}
	fclose(f);
	return found;
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

int cmd_umount(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"lazy", no_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char path[PATH_MAX];
	bool lazy = false;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+lh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lazy = true;
			break;
		case 'h':
			umount_usage(stdout);
			return 0;
		default:
			return cli_usage_error("umount", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("umount", "one mountpoint expected");
	if (cli_absolute_path(argv[optind], path, sizeof(path))) {
		cli_error("%s: %s", argv[optind], strerror(errno ? errno : ENAMETOOLONG));
		return 1;
	}
	if (!is_strata_mount(path)) {
		cli_error("%s: not a strata mount", argv[optind]);
		return 1;
	}
	if (geteuid() == 0) {
		if (umount2(path, lazy ? MNT_DETACH : 0) == 0)
			return 0;
		cli_error("%s: %s", argv[optind],
		          errno == EBUSY ? "busy (a process uses it; try --lazy)"
		                         : strerror(errno));
		return 1;
	}
	rc = run_fusermount(path, lazy);
	if (rc == 0)
		return 0;
	cli_error("%s: fusermount3 could not unmount it%s", argv[optind],
	          rc == 127 ? " (is fuse3 installed?)" : " (busy? try --lazy)");
	return 1;
}
