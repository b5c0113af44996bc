/* SPDX-License-Identifier: MIT */
/* strata rm: stopped containers and their writable layers go. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "cli.h"
#include "ctr.h"
#include "strata-store.h"
#include "run.h"

/* -f: the running ones among @names are stopped first; then the groups
 * of dead containers (a launcher killed, by us or before) go, before
 * their records do.  0, or -1 when one could not be stopped. */
static int stop_and_reap(struct store *s, bool force, char **names, int n_names)
{
	struct store_container *cs;
	struct strata_error err;
	size_t n;
	int rc = 0;

	if (store_container_list(s, &cs, &n, &err) < 0)
		return 0; /* store_container_remove says what is wrong */
	for (size_t i = 0; force && i < n; i++)
		for (int j = 0; j < n_names; j++) {
			if (!cs[i].running || strcmp(cs[i].name, names[j]) != 0)
				continue;
			if (run_stop(s, cs[i].name, cs[i].state_json) < 0)
				rc = -1;
			else
				cs[i].running = false; /* its groups are to reap now */
		}
	ctr_reap_dead(s, &cs, &n);
	store_containers_free(cs, n);
	return rc;
}

static int parse(int argc, char **argv, const char **root, bool *force)
{
	static const char usage[] =
	    "Usage: strata rm [-f] [--root DIR] NAME...\n"
	    "\n"
	    "Remove stopped containers and their writable layers.\n"
	    "\n"
	    "  -f, --force           stop running ones first (SIGKILL to their launcher)\n";
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 'f')
			*force = true;
		else
			return cli_other_option(c, "rm", usage, argv);
	if (optind == argc)
		return cli_usage_error("rm", "no container given");
	return -1;
}

int cmd_rm(int argc, char **argv)
{
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	bool force = false;
	int rc = parse(argc, argv, &root, &force);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
	rc = stop_and_reap(s, force, argv + optind, argc - optind) < 0 ? 1 : 0;
	for (int i = optind; i < argc; i++)
		if (store_container_remove(s, argv[i], run_remove_in_userns, &err)) {
			cli_error("rm: %s", err.msg);
			rc = 1;
		}
	store_close(s);
	return rc;
}
