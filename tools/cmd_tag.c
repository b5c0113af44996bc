/* SPDX-License-Identifier: MIT */
/* strata tag: another name for an image. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

static const char tag_usage[] = "Usage: strata tag [--root DIR] IMAGE NAME\n"
                                "\n"
                                "Give IMAGE (a name, digest or digest prefix) the name NAME;\n"
                                "NAME moves from any image that had it.\n";

int cmd_tag(int argc, char **argv)
{
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = cli_parse_store_opts(argc, argv, "tag", tag_usage, &root, NULL);

	if (rc >= 0)
		return rc;
	if (argc - optind != 2)
		return cli_usage_error("tag", "expected IMAGE and NAME");
	if (!store_valid_tag(argv[optind + 1]))
		return cli_usage_error("tag", "'%s' is not a valid image name", argv[optind + 1]);
	if (cli_open_store(root, false, &s))
		return 1;
	rc = store_tag(s, argv[optind], argv[optind + 1], &err) ? cli_fail(&err) : 0;
	store_close(s);
	return rc;
}
