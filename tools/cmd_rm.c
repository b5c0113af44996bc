/* SPDX-License-Identifier: MIT */
/* strata rm: stopped containers and their writable layers go. */
#include <getopt.h>
#include <stdio.h>

#include "cgroup.h"
#include "cli.h"
#include "strata-store.h"
#include "run.h"

/* A container killed with its launcher leaves cgroups behind: they go
 * before its record does. */
static void reap_dead(struct store *s)
{
	struct store_container *cs;
	struct strata_error err;
	size_t n;

	if (store_container_list(s, &cs, &n, &err) == 0) {
		cg_reap_dead(s, cs, n);
		store_containers_free(cs, n);
	}
}

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
	reap_dead(s);
	rc = 0;
	for (int i = optind; i < argc; i++)
		if (store_container_remove(s, argv[i], run_remove_in_userns, &err)) {
			cli_error("rm: %s", err.msg);
			rc = 1;
		}
	store_close(s);
	return rc;
}
