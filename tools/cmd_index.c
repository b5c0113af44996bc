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
	      "Build the index of each tar layer (or check that its cached index is\n"
	      "valid) so a later mount starts at once, and print what it holds.\n"
	      "\n"
	      "Options:\n"
	      "      --cache-dir DIR   where layer indexes are kept\n"
	      "      --reindex         rebuild even if the cached index is valid\n"
	      "      --max-layer-size SIZE\n"
	      "                        the most a compressed layer may decompress to\n"
	      "                        (default 256G, or 90% of the cache's free space)\n"
	      "  -h, --help            show this help\n",
	      out);
}

int cmd_index(int argc, char **argv)
{
	enum { OPT_CACHE_DIR = 256, OPT_REINDEX, OPT_MAX_LAYER_SIZE };
	static const struct option longopts[] = {
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	    {"reindex", no_argument, NULL, OPT_REINDEX},
	    {"max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct strata_layer_options lo;
	const char *cache_dir = NULL;
	uint64_t max_layer_size = 0;
	bool reindex = false;
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
	if (cli_layer_options(&lo, cache_dir, reindex, max_layer_size))
		return 1;
	for (int i = optind; i < argc; i++) {
		struct strata_layer *layer;
		struct strata_layer_info info;
		struct strata_error err;

		if (strata_layer_open_tar(argv[i], &lo, &layer, &err)) {
			rc = cli_fail(&err);
			continue;
		}
		strata_layer_info(layer, &info);
		printf("%s: %" PRIu64 " entries, %" PRIu64
		       " bytes of tar (%s, seekable: %s), index %s "
		       "%s\n",
		       argv[i], info.n_entries, info.stream_size, info.compression,
		       info.seekable ? "yes" : "no", info.index_reused ? "reused" : "built",
		       info.index_path);
		strata_layer_close(layer);
	}
	cli_layer_options_free(&lo);
	return rc;
}
