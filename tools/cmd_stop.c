/* SPDX-License-Identifier: MIT */
/* strata stop: the stop signal, then SIGKILL after a timeout; and strata
 * restart: the same, then strata start. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static const char stop_usage[] =
    "Usage: strata stop [-t SECONDS] [--root DIR] CONTAINER\n"
    "\n"
    "Stop a running container: its image's StopSignal (SIGTERM when it has none)\n"
    "to its command, then SIGKILL to all of it when it is still running after\n"
    "SECONDS.  A stopped container is no error.\n"
    "\n"
    "  -t, --time SECONDS    before the SIGKILL (default 10; 0: at once)\n";

static const char restart_usage[] =
    "Usage: strata restart [-t SECONDS] [--root DIR] CONTAINER\n"
    "\n"
    "Stop the container when it runs (as strata stop), then run it again in the\n"
    "background (as strata start): its name is printed once its command has\n"
    "started.\n"
    "\n"
    "  -t, --time SECONDS    before the SIGKILL (default 10; 0: at once)\n";

static int parse(int argc, char **argv, const char *cmd, const char *usage, const char **root,
                 double *timeout)
{
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
				return cli_usage_error(cmd, "-t %s: seconds, 0 to 86400", optarg);
		} else
			return cli_other_option(c, cmd, usage, argv);
	if (optind != argc - 1)
		return cli_usage_error(cmd, "one container expected");
	return -1;
}

/* Stops the container named last in @argv: 0 (stopped), or an exit status. */
static int stop(int argc, char **argv, const char *cmd, const char *usage, const char **root,
                char *dir)
{
	double timeout = 10;
	struct store *s;
	int rc = parse(argc, argv, cmd, usage, root, &timeout);

	if (rc >= 0)
		return rc ? rc : -1; /* --help: done */
	if (ctr_open(*root, cmd, argv[optind], &s, dir, PATH_MAX))
		return 1;
	rc = ctr_stop(dir, argv[optind], 0, timeout) < 0 ? 1 : 0;
	store_close(s);
	return rc;
}

int cmd_stop(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	int rc = stop(argc, argv, "stop", stop_usage, &root, dir);

	if (rc == 0)
		printf("%s\n", argv[optind]);
	return rc < 0 ? 0 : rc;
}

int cmd_restart(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	int rc = stop(argc, argv, "restart", restart_usage, &root, dir);

	/* ctr_start returns only on failure: it runs strata run in its place. */
	return rc < 0 ? 0 : rc ? rc : ctr_start(dir, argv[optind], root, false);
}
