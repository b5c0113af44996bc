/* SPDX-License-Identifier: MIT */
/* strata fsck: every blob rehashed, every reference followed. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

static const char fsck_usage[] =
    "Usage: strata fsck [--adopted] [--root DIR]\n"
    "\n"
    "Rehash every blob, follow every reference from index.json through\n"
    "manifests and configs to the layers, and check every layer index.\n"
    "Layers whose index a pull adopted from the registry's index artifact are\n"
    "verified first: indexed again from their blob and their diff-id checked.\n"
    "Prints one line per problem; exit status 1 when there is any.\n"
    "\n"
    "Options:\n"
    "      --adopted    only verify the layers whose index a pull adopted (what\n"
    "                   `strata pull` starts in the background at idle priority)\n"
    "      --root DIR   the store (default $STRATA_ROOT, /var/lib/strata as root,\n"
    "                   else $XDG_DATA_HOME/strata)\n"
    "  -h, --help       show this help\n";

static int verify_adopted(struct store *s)
{
	struct store_verify_options o = {.warn = cli_warn, .warn_failed = true};
	struct store_verify_result res;
	struct strata_error err;

	if (store_verify_adopted(s, &o, &res, &err))
		return cli_fail(&err);
	if (res.failed) {
		cli_error("fsck: %zu layer%s failed verification", res.failed,
		          res.failed == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	enum { OPT_ROOT = 256, OPT_ADOPTED };
	static const struct option longopts[] = {
	    {"adopted", no_argument, NULL, OPT_ADOPTED},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *root = NULL;
	bool adopted = false;
	struct strata_error err;
	struct store *s;
	long problems;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_ROOT)
			root = optarg;
		else if (c == OPT_ADOPTED)
			adopted = true;
		else
			return cli_other_option(c, "fsck", fsck_usage, argv);
	}
	if (optind != argc)
		return cli_usage_error("fsck", "no arguments expected");
	if (cli_open_store(root, false, &s))
		return 1;
	if (adopted) {
		c = verify_adopted(s);
		store_close(s);
		return c;
	}
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
