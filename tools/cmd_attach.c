/* SPDX-License-Identifier: MIT */
/* strata attach: our terminal to a running -d container. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata attach [OPTIONS] CONTAINER\n"
    "\n"
    "Attach our terminal to CONTAINER, run detached: its output on ours from now on,\n"
    "our input to its command when it was run interactive, our window size to its\n"
    "pty when it has one (our terminal in raw mode then).  The exit status is the\n"
    "container's when it ends; on the detach keys we leave, exit 0, and it runs on.\n"
    "Other clients may be attached at the same time.\n"
    "\n"
    "Options:\n"
    "      --detach-keys KEYS  the keys to detach with: comma-separated ctrl-X (X in\n"
    "                          a-z @ [ \\ ] ^ _) or single characters; \"\" for none\n"
    "                          (default ctrl-p,ctrl-q)\n"
    "      --no-stdin          output only: our input is not read\n"
    "      --sig-proxy[=BOOL]  pass SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and\n"
    "                          SIGUSR2 on to the container's command (default true)\n"
    "      --root DIR          the image store\n"
    "  -h, --help              show this help\n";

static int parse(int argc, char **argv, const char **root, struct ctr_attach_opts *o)
{
	enum { OPT_ROOT = 256, OPT_KEYS, OPT_NO_STDIN, OPT_SIG_PROXY };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"detach-keys", required_argument, NULL, OPT_KEYS},
	    {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
	    {"sig-proxy", optional_argument, NULL, OPT_SIG_PROXY},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c == OPT_ROOT)
			*root = optarg;
		else if (c == OPT_KEYS && (rc = cli_detach_keys_option("attach", optarg, &o->keys)))
			return rc;
		else if (c == OPT_NO_STDIN)
			o->no_stdin = true;
		else if (c == OPT_SIG_PROXY &&
		         (rc = cli_bool_option("attach", "--sig-proxy", optarg, &o->sig_proxy)))
			return rc;
		else if (c != OPT_KEYS && c != OPT_SIG_PROXY)
			return cli_other_option(c, "attach", usage, argv);
	}
	if (optind != argc - 1)
		return cli_usage_error("attach", "one container expected");
	return -1;
}

int cmd_attach(int argc, char **argv)
{
	struct ctr_attach_opts o = {.sig_proxy = true};
	const char *root = NULL;
	char dir[PATH_MAX];
	struct store *s;
	int rc;

	detach_keys_parse(DETACH_KEYS_DEFAULT, &o.keys);
	if ((rc = parse(argc, argv, &root, &o)) >= 0)
		return rc;
	if (ctr_open(root, "attach", argv[optind], &s, dir, sizeof(dir)))
		return 1;
	store_close(s);
	return ctr_attach(dir, argv[optind], &o);
}
