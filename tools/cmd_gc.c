/* SPDX-License-Identifier: MIT */
/* strata gc: what nothing uses goes. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "strata-store.h"

int cmd_gc(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata gc [--root DIR]\n"
	    "\n"
	    "Remove the blobs no image name, no container and no live mount uses,\n"
	    "the layer indexes and decompressed copies of layers no image uses, and\n"
	    "what interrupted imports left.  Waits for imports in progress to finish.\n";
	struct store_gc_result r;
	char b[32], c[32], t[32];
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = cli_parse_no_args(argc, argv, "gc", usage, &root);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
	rc = store_gc_containers(s, &r, &err);
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
