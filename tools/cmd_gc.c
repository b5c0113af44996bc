/* SPDX-License-Identifier: MIT */
/* strata gc and strata fsck: keeping the store clean and checking it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "container.h"
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
	    "Remove the blobs no image name, no container and no live mount uses,\n"
	    "the layer indexes and decompressed copies of layers no image uses, and\n"
	    "what interrupted imports left.  Waits for imports in progress to finish.\n";
	struct store_gc_result r;
	struct container_image *cs;
	const char **keep;
	size_t n_cs;
	char b[32], c[32], t[32];
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = parse_root(argc, argv, "gc", usage, &root);

	if (rc >= 0)
		return rc;
	if (cli_open_store(root, false, &s))
		return 1;
	/* A container, even stopped, needs its image: its writable layer only
	 * makes sense on it, and a named one runs again on it. */
	if (container_images(store_root(s), &cs, &n_cs) < 0) {
		cli_error("gc: %s/strata/containers: %s", store_root(s), strerror(errno));
		store_close(s);
		return 1;
	}
	keep = calloc(n_cs + 1, sizeof(*keep));
	for (size_t i = 0; keep && i < n_cs; i++)
		keep[i] = cs[i].digest;
	rc = keep ? store_gc_keeping(s, keep, n_cs, &r, &err)
	          : strata_fail(&err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	free(keep);
	container_images_free(cs, n_cs);
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
