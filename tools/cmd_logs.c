/* SPDX-License-Identifier: MIT */
/* strata logs: what a detached container wrote. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "ctr.h"
#include "ctr_log.h"
#include "strata-store.h"

static int parse(int argc, char **argv, const char **root, struct ctr_logs_opts *o)
{
	static const char usage[] =
	    "Usage: strata logs [-f] [--tail N] [-t] [--since TIME] [--root DIR] CONTAINER\n"
	    "\n"
	    "Print what a detached container wrote, stdout to stdout and stderr to\n"
	    "stderr, from its log (podman's k8s-file format, in the container's directory).\n"
	    "\n"
	    "  -f, --follow          go on printing what comes, until the container stops\n"
	    "      --tail N          only the last N lines\n"
	    "  -t, --timestamps      each line after the time it was written (RFC 3339)\n"
	    "      --since TIME      only lines written since TIME: RFC 3339\n"
	    "                        (2026-12-07T10:00:00Z), Unix seconds, or a duration\n"
	    "                        before now (10s, 5m, 1h30m)\n";
	enum { OPT_ROOT = 256, OPT_TAIL, OPT_SINCE };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"follow", no_argument, NULL, 'f'},
	    {"tail", required_argument, NULL, OPT_TAIL},
	    {"timestamps", no_argument, NULL, 't'},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fth", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 'f')
			o->follow = true;
		else if (c == 't')
			o->timestamps = true;
		else if (c == OPT_TAIL) {
			o->tail = strtol(optarg, &end, 10);
			if (end == optarg || *end || o->tail < -1)
				return cli_usage_error("logs", "--tail %s: a number of lines",
				                       optarg);
		} else if (c == OPT_SINCE) {
			if (ctr_since_parse(optarg, &o->since) < 0)
				return cli_usage_error("logs", "--since %s: not a time or duration",
				                       optarg);
			o->since_set = true;
		} else
			return cli_other_option(c, "logs", usage, argv);
	if (optind != argc - 1)
		return cli_usage_error("logs", "one container expected");
	return -1;
}

int cmd_logs(int argc, char **argv)
{
	struct ctr_logs_opts o = {.tail = -1};
	const char *root = NULL;
	char dir[PATH_MAX];
	struct store *s;
	int rc = parse(argc, argv, &root, &o);

	if (rc >= 0)
		return rc;
	if (ctr_open(root, "logs", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	rc = ctr_logs(dir, argv[optind], &o);
	store_close(s);
	return rc;
}
