/* SPDX-License-Identifier: MIT */
/* strata start: a stopped container again, with what it had. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static int parse(int argc, char **argv, const char **root, bool *attach, struct ctr_attach_opts *o)
{
	static const char usage[] =
	    "Usage: strata start [-a] [-i] [--detach-keys KEYS] [--root DIR] CONTAINER\n"
	    "\n"
	    "Run a stopped container again, with its writable layer, its id maps and\n"
	    "the options, image and command strata run was given, in the background:\n"
	    "its name is printed once its command has started.  With -a or -i, we are\n"
	    "attached to it as by strata attach, from its first line of output on: its\n"
	    "exit status is ours, and on the detach keys it runs on without us.\n"
	    "\n"
	    "  -a, --attach          attached to its output\n"
	    "  -i, --interactive     attached to its output and input (its input is ours\n"
	    "                        when it was run with -i)\n"
	    "      --detach-keys KEYS  as strata attach's (default ctrl-p,ctrl-q)\n";
	enum { OPT_ROOT = 256, OPT_KEYS };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"attach", no_argument, NULL, 'a'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"detach-keys", required_argument, NULL, OPT_KEYS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+aih", longopts, NULL)) != -1)
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == 'a' || c == 'i')
			/* podman's start -a alone attaches the output only. */
			*attach = true, o->no_stdin = o->no_stdin && c == 'a';
		else if (c == OPT_KEYS && (rc = cli_detach_keys_option("start", optarg, &o->keys)))
			return rc;
		else if (c != OPT_KEYS)
			return cli_other_option(c, "start", usage, argv);
	if (optind != argc - 1)
		return cli_usage_error("start", "one container expected");
	return -1;
}

int cmd_start(int argc, char **argv)
{
	const char *root = NULL;
	char dir[PATH_MAX];
	struct ctr_attach_opts o = {.no_stdin = true, .sig_proxy = true};
	bool attach = false;
	struct store *s;
	int rc;

	detach_keys_parse(DETACH_KEYS_DEFAULT, &o.keys);
	if ((rc = parse(argc, argv, &root, &attach, &o)) >= 0)
		return rc;
	if (ctr_open(root, "start", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	store_close(s);
	/* Only on failure: it runs strata run in its place. */
	return ctr_start(dir, argv[optind], root, attach ? &o : NULL);
}
