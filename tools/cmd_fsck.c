/* SPDX-License-Identifier: MIT */
/* strata fsck: every blob rehashed, every reference followed. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

int cmd_fsck(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata fsck [--root DIR]\n"
	    "\n"
	    "Rehash every blob, follow every reference from index.json through\n"
	    "manifests and configs to the layers, and check every layer index.\n"
	    "Prints one line per problem; exit status 1 when there is any.\n";
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	long problems;
	int rc = cli_parse_no_args(argc, argv, "fsck", usage, &root);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
	problems = store_fsck(s, stdout, &err);
	store_close(s);
	if (problems < 0)
		return cli_fail(&err);
	if (problems > 0) {
		cli_error("fsck: %ld problem%s", problems, problems == 1 ? "" : "s");
		return 1;
	}
	return 0;
}
