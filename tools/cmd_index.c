/* SPDX-License-Identifier: MIT */
/* strata index: build, or check and reuse, the index of tar layers. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "strata-store.h"

static void index_usage(FILE *out)
{
	fputs("Usage: strata index [OPTIONS] FILE...\n"
	      "       strata index --push [--tls-verify=false] [--root DIR] REFERENCE\n"
	      "\n"
	      "Build the index of each tar layer (or check all of its cached index,\n"
	      "and rebuild it if damaged) so a later mount starts at once, and print\n"
	      "what it holds.\n"
	      "\n"
	      "With --push, attach the layer indexes of image REFERENCE, already in a\n"
	      "registry, to it there (the index artifact strata push attaches, which a\n"
	      "lazy pull reads): the image is pulled into the store, each layer read\n"
	      "once.  Prints the manifest digest and the artifact's.\n"
	      "\n"
	      "Options:\n"
	      "      --push            attach the indexes of REFERENCE in its registry\n"
	      "      --platform P      with --push: os/arch[/variant] of a multi-platform\n"
	      "                        image (default: this machine's)\n"
	      "      --tls-verify=false  with --push: plain HTTP or unverified TLS\n"
	      "      --root DIR        with --push: the store to pull into\n"
	      "  -q, --quiet           with --push: no progress\n"
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

/* --push: the image's index artifact into its registry. */
static int push_index(const char *root, const char *ref, struct store_index_push_options *o,
                      bool quiet)
{
	struct cli_progress *p = cli_progress_start(quiet);
	struct store_pushed out;
	struct strata_error err;
	struct store *s;
	int rc;

	if (cli_open_store(root, true, &s)) {
		cli_progress_end(p);
		return 1;
	}
	if (!o->max_layer_size) /* as import's: what a layer may decompress to */
		o->max_layer_size = cli_default_max_layer_size(store_root(s));
	if (p) {
		o->progress = cli_progress_show;
		o->progress_ctx = p;
	}
	rc = store_index_push(s, ref, o, &out, &err);
	cli_progress_end(p);
	store_close(s);
	if (rc)
		return cli_fail(&err);
	printf("%s %s\n", out.digest, out.index_digest);
	return 0;
}

int cmd_index(int argc, char **argv)
{
	enum {
		OPT_CACHE_DIR = 256,
		OPT_REINDEX,
		OPT_MAX_LAYER_SIZE,
		OPT_CHECK,
		OPT_PUSH,
		OPT_TLS,
		OPT_ROOT,
		OPT_PLATFORM
	};
	static const struct option longopts[] = {
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"reindex", no_argument, NULL, OPT_REINDEX},
	    {"max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE},
	    {"push", no_argument, NULL, OPT_PUSH},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct store_index_push_options po = {0};
	struct strata_layer_options lo;
	const char *cache_dir = NULL, *root = NULL;
	uint64_t max_layer_size = 0;
	bool reindex = false, check = false, push = false, quiet = false;
	int c, rc = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PUSH:
			push = true;
			break;
		case OPT_TLS:
			if ((rc = cli_parse_tls_verify(optarg, "index", &po.tls_verify_off)) >= 0)
				return rc;
			rc = 0;
			break;
		case OPT_ROOT:
			root = optarg;
			break;
		case OPT_PLATFORM:
			po.platform = optarg;
			break;
		case 'q':
			quiet = true;
			break;
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
	if (push) {
		if (argc - optind != 1)
			return cli_usage_error("index", "--push takes one image reference");
		if (check || reindex || cache_dir)
			return cli_usage_error("index", "--push goes with no layer options");
		po.max_layer_size = max_layer_size;
		return push_index(root, argv[optind], &po, quiet);
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
