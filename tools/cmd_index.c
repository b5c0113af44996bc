/* SPDX-License-Identifier: MIT */
/* strata index: build, or check and reuse, the index of tar layers. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void index_usage(FILE *out)
{
	fputs("Usage: strata index [OPTIONS] FILE...\n"
	      "\n"
	      "Build the index of each tar layer (or check all of its cached index,\n"
	      "and rebuild it if damaged) so a later mount starts at once, and print\n"
	      "what it holds.\n"
	      "\n"
	      "Options:\n"
	      "      --cache-dir DIR   where layer indexes are kept\n"
	      "      --check           only check each cached index in full (every\n"
	      "                        block's checksum, every reference); build none\n"
	      "      --reindex         rebuild even if the cached index is valid\n"
	      "      --max-layer-size SIZE\n"
	      "                        the most a compressed layer may decompress to\n"
	      "                        (default 256G, or 90% of the cache's free space)\n"
	      "  -h, --help            show this help\n",
	      out);
}

/* A mount checks a reused index lazily, part by part as it is used; this
 * command checks all of it first, and rebuilds it if damaged. */
static int index_one(const char *path, struct strata_layer_options *lo)
{
	struct strata_layer *layer;
	struct strata_layer_info info;
	struct strata_error err;
	bool reindex = lo->force_reindex;
	int rc = 0;

	if (!reindex && strata_layer_check_index(path, lo, &err) < 0 &&
	    err.code == STRATA_ERR_INDEX)
		lo->force_reindex = true; /* damaged or stale: built anew */
	if (strata_layer_open_tar(path, lo, &layer, &err)) {
		rc = cli_fail(&err);
	} else {
		strata_layer_info(layer, &info);
		printf("%s: %" PRIu64 " entries, %" PRIu64
		       " bytes of tar (%s, seekable: %s), index %s %s\n",
		       path, info.n_entries, info.stream_size, info.compression,
		       info.seekable ? "yes" : "no", info.index_reused ? "reused" : "built",
		       info.index_path);
		strata_layer_close(layer);
	}
	lo->force_reindex = reindex;
	return rc;
}

/* --check: the cached index in full, building nothing. */
static int check_one(const char *path, struct strata_layer_options *lo)
{
	struct strata_error err;
	int r = strata_layer_check_index(path, lo, &err);

	if (r < 0 && err.code == STRATA_ERR_INDEX) {
		fprintf(stderr, "strata: %s: its cached %s ('strata index %s' rebuilds it)\n", path,
		        err.msg, path);
		return 1;
	}
	if (r < 0)
		return cli_fail(&err);
	if (r > 0) {
		fprintf(stderr, "strata: %s: no cached index (strata index %s builds it)\n", path,
		        path);
		return 1;
	}
	printf("%s: index checked\n", path);
	return 0;
}

int cmd_index(int argc, char **argv)
{
	enum { OPT_CACHE_DIR = 256, OPT_REINDEX, OPT_MAX_LAYER_SIZE, OPT_CHECK };
	static const struct option longopts[] = {
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"reindex", no_argument, NULL, OPT_REINDEX},
	    {"max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct strata_layer_options lo;
	const char *cache_dir = NULL;
	uint64_t max_layer_size = 0;
	bool reindex = false, check = false;
	int c, rc = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case OPT_REINDEX:
			reindex = true;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_MAX_LAYER_SIZE:
			if ((rc = cli_max_layer_size_option("index", optarg, &max_layer_size)))
				return rc;
			break;
		case 'h':
			index_usage(stdout);
			return 0;
		default:
			return cli_usage_error("index", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind == argc)
		return cli_usage_error("index", "no layer files given");
	if (check && reindex)
		return cli_usage_error("index", "--check and --reindex do not go together");
	if (cli_layer_options(&lo, cache_dir, reindex, max_layer_size))
		return 1;
	for (int i = optind; i < argc; i++)
		if ((check ? check_one(argv[i], &lo) : index_one(argv[i], &lo)) != 0)
			rc = 1;
	cli_layer_options_free(&lo);
	return rc;
}
