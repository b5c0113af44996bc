/* SPDX-License-Identifier: MIT */
/* strata rm: stopped containers and their writable layers go. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"
#include "run.h"

int cmd_rm(int argc, char **argv)
{
	static const char usage[] = "Usage: strata rm [--root DIR] NAME...\n"
	                            "\n"
	                            "Remove stopped containers and their writable layers.\n";
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = cli_parse_store_opts(argc, argv, "rm", usage, &root, NULL);

	if (rc >= 0)
		return rc;
	if (optind == argc)
		return cli_usage_error("rm", "no container given");
	if (cli_open_store(root, false, &s))
		return 1;
	rc = 0;
	for (int i = optind; i < argc; i++)
		if (store_container_remove(s, argv[i], run_remove_in_userns, &err)) {
			cli_error("rm: %s", err.msg);
			rc = 1;
		}
	store_close(s);
	return rc;
}
