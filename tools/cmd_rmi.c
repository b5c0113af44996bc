/* SPDX-License-Identifier: MIT */
/* strata rmi: names go; the blobs stay until strata gc. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

static const char rmi_usage[] =
    "Usage: strata rmi [--root DIR] [--force] IMAGE...\n"
    "\n"
    "Remove each name; given a digest, every name of that image.\n"
    "The blobs stay until 'strata gc' finds nothing uses them.\n"
    "An image a container was made from keeps its last name unless --force\n"
    "(gc keeps its blobs either way, as long as the container exists).\n"
    "\n"
    "  -f, --force  remove the name even when containers use the image\n";

int cmd_rmi(int argc, char **argv)
{
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *root = NULL;
	struct strata_error err;
	bool force = false;
	struct store *s;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			root = optarg;
			break;
		case 'f':
			force = true;
			break;
		default:
			return cli_other_option(c, "rmi", rmi_usage, argv);
		}
	}
	if (optind == argc)
		return cli_usage_error("rmi", "no image given");
	if (cli_open_store(root, false, &s))
		return 1;
	rc = 0;
	for (int i = optind; i < argc; i++)
		if (store_untag_unused(s, argv[i], force, &err))
			rc = cli_fail(&err);
	store_close(s);
	return rc;
}
