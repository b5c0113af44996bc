/* SPDX-License-Identifier: MIT */
/* strata gc and strata fsck: keeping the store clean and checking it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "strata-store.h"

/* --root and --help, and no arguments. */
static int parse_root(int argc, char **argv, const char *cmd, const char *usage, const char **root)
{
	int rc = cli_parse_store_opts(argc, argv, cmd, usage, root, NULL);

	if (rc < 0 && optind != argc)
		return cli_usage_error(cmd, "no arguments expected");
	return rc;
}

int cmd_gc(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata gc [--root DIR]\n"
	    "\n"
	    "Remove the blobs no image name and no live mount uses, the layer indexes\n"
	    "and decompressed copies of layers no image uses, and what interrupted\n"
	    "imports left.  Waits for imports in progress to finish.\n";
	struct store_gc_result r;
	char b[32], c[32], t[32];
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = parse_root(argc, argv, "gc", usage, &root);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
	rc = store_gc(s, &r, &err);
	store_close(s);
	if (rc)
		return cli_fail(&err);
	cli_human_size(r.blob_bytes, b, sizeof(b));
	cli_human_size(r.cache_bytes, c, sizeof(c));
	cli_human_size(r.temp_bytes, t, sizeof(t));
	printf("removed %llu blobs (%s), %llu cache files (%s), %llu temp files (%s)\n",
	       (unsigned long long)r.blobs, b, (unsigned long long)r.caches, c,
	       (unsigned long long)r.temps, t);
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata fsck [--root DIR]\n"
	    "\n"
	    "Rehash every blob, follow every reference from index.json through\n"
	    "manifests and configs to the layers, and check every layer index.\n"
	    "Prints one line per problem; exit status 1 when there is any.\n";
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	long problems;
	int rc = parse_root(argc, argv, "fsck", usage, &root);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
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
