/* SPDX-License-Identifier: MIT */
/* strata kill: a signal to a running container's command. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static int parse(int argc, char **argv, const char **root, int *sig)
{
	static const char usage[] =
	    "Usage: strata kill [-s SIGNAL] [--root DIR] CONTAINER\n"
	    "\n"
	    "Send SIGNAL to the container: its init passes it on to the command; KILL\n"
	    "ends every process of the container at once.\n"
	    "\n"
	    "  -s, --signal SIGNAL   a name, with or without SIG, or a number (default KILL)\n";
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"signal", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 's' && (*sig = ctr_signal_number(optarg)) < 0)
			return cli_usage_error("kill", "-s %s: no such signal", optarg);
		else if (c != 's')
			return cli_other_option(c, "kill", usage, argv);
	if (optind != argc - 1)
		return cli_usage_error("kill", "one container expected");
	return -1;
}

int cmd_kill(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	struct store *s;
	int sig = SIGKILL, rc = parse(argc, argv, &root, &sig);

	if (rc >= 0)
		return rc;
	if (ctr_open(root, "kill", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	rc = ctr_signal(dir, argv[optind], sig, "kill") < 0 ? 1 : 0;
	store_close(s);
	if (rc == 0)
		printf("%s\n", argv[optind]);
	return rc;
}
