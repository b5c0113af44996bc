/* SPDX-License-Identifier: MIT */
/* strata start: a stopped container again, with what it had. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static int parse(int argc, char **argv, const char **root, bool *attach)
{
	static const char usage[] =
	    "Usage: strata start [-a] [--root DIR] CONTAINER\n"
	    "\n"
	    "Run a stopped container again, with its writable layer, its id maps and\n"
	    "the options, image and command strata run was given: in the background\n"
	    "(detached: its name is printed once its command has started), or with -a\n"
	    "in the foreground, its output on ours and its exit status ours.\n"
	    "\n"
	    "  -a, --attach          in the foreground\n";
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"attach", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ah", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 'a')
			*attach = true;
		else
			return cli_other_option(c, "start", usage, argv);
	if (optind != argc - 1)
		return cli_usage_error("start", "one container expected");
	return -1;
}

int cmd_start(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	bool attach = false;
	struct store *s;
	int rc = parse(argc, argv, &root, &attach);

	if (rc >= 0)
		return rc;
	if (ctr_open(root, "start", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	store_close(s);
	/* Only on failure: it runs strata run in its place. */
	return ctr_start(dir, argv[optind], root, attach);
}
