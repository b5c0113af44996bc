/* SPDX-License-Identifier: MIT */
/* strata wait: until a container stops; its exit status. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

int cmd_wait(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata wait [--root DIR] CONTAINER\n"
	    "\n"
	    "Wait until CONTAINER stops, print its exit status and exit with it.\n";
	const char *root = NULL;
	char dir[PATH_MAX];
	struct store *s;
	int rc = cli_parse_store_opts(argc, argv, "wait", usage, &root, NULL), code;

	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return cli_usage_error("wait", "one container expected");
	if (ctr_open(root, "wait", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	code = ctr_wait(dir, argv[optind]);
	store_close(s);
	if (code < 0)
		return 1;
	printf("%d\n", code);
	return code;
}
