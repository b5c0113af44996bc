/* SPDX-License-Identifier: MIT */
/*
 * strata umount: unmount a strata mount and wait until the daemon that served
 * it has exited (so its upper is no longer written), unless --lazy
 * (strata_unmount, fs/unmount.c).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cmd_umount(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"lazy", no_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct strata_unmount_options o = {.timeout = 10};
	struct strata_error err;
	char path[PATH_MAX];
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+lt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o.lazy = true;
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
			o.timeout = (unsigned)v;
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
	o.name = argv[optind];
	rc = strata_unmount(path, &o, &err);
	if (rc < 0)
		return cli_fail(&err);
	if (rc == 1)
		fprintf(stderr,
		        "strata: umount: %s: it was still mounted in another mount namespace; "
		        "its daemon was told to end\n",
		        argv[optind]);
	return 0;
}
