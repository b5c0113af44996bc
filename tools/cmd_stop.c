/* SPDX-License-Identifier: MIT */
/* strata stop: the stop signal, then SIGKILL after a timeout. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static int parse(int argc, char **argv, const char **root, double *timeout)
{
	static const char usage[] =
	    "Usage: strata stop [-t SECONDS] [--root DIR] CONTAINER\n"
	    "\n"
	    "Stop a running container: its image's StopSignal (SIGTERM when it has none)\n"
	    "to its command, then SIGKILL to all of it when it is still running after\n"
	    "SECONDS.  A stopped container is no error.\n"
	    "\n"
	    "  -t, --time SECONDS    before the SIGKILL (default 10; 0: at once)\n";
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"time", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+t:h", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 't') {
			*timeout = strtod(optarg, &end);
			if (end == optarg || *end || *timeout < 0 || *timeout > 86400)
				return cli_usage_error("stop", "-t %s: seconds, 0 to 86400",
				                       optarg);
		} else
			return cli_other_option(c, "stop", usage, argv);
	if (optind != argc - 1)
		return cli_usage_error("stop", "one container expected");
	return -1;
}

int cmd_stop(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	double timeout = 10;
	struct store *s;
	int rc = parse(argc, argv, &root, &timeout);

	if (rc >= 0)
		return rc;
	if (ctr_open(root, "stop", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	rc = ctr_stop(dir, argv[optind], 0, timeout) < 0 ? 1 : 0;
	store_close(s);
	if (rc == 0)
		printf("%s\n", argv[optind]);
	return rc;
}
