/* SPDX-License-Identifier: MIT */
/* strata import: bring an image archive, OCI layout or layer tar into the store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "strata-store.h"

static void import_usage(FILE *out)
{
	fputs("Usage: strata import [OPTIONS] PATH\n"
	      "\n"
	      "Import PATH into the store: a docker-archive (docker save, podman save),\n"
	      "an oci-archive, an OCI layout directory, or a bare layer tar (plain, gzip,\n"
	      "zstd, xz, bzip2), told apart by content.  Every image in PATH is imported\n"
	      "and tagged with the names it carries; a bare layer becomes a one-layer\n"
	      "image named after the file.  Each blob is checked against its digest and\n"
	      "each layer against its config diff-id, and indexed for mounting.\n"
	      "\n"
	      "Options:\n"
	      "  -t, --tag NAME        name the image NAME (one image only)\n"
	      "      --ref NAME        OCI layout/archive: import only the image NAME\n"
	      "      --platform P      os/arch[/variant] of a multi-platform image\n"
	      "                        (default: this machine's)\n"
	      "      --max-layer-size SIZE\n"
	      "                        the most a layer may decompress to (default 256G,\n"
	      "                        or 90% of the store's free space)\n"
	      "  -q, --quiet           no progress line\n"
	      "      --root DIR        the store (default $STRATA_ROOT, /var/lib/strata as\n"
	      "                        root, else $XDG_DATA_HOME/strata)\n"
	      "  -h, --help            show this help\n",
	      out);
}

struct progress {
	struct timespec start, last;
	bool shown;
};

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* One line, redrawn at most 10 times a second: done/total, rate, ETA. */
static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	char d[32], t[32], r[32];
	struct timespec now;
	double secs, rate;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (p->shown && since(&p->last, &now) < 0.1 && done < total)
		return;
	p->last = now;
	p->shown = true;
	secs = since(&p->start, &now);
	rate = secs > 0 ? (double)done / secs : 0;
	cli_human_size(done, d, sizeof(d));
	cli_human_size(total, t, sizeof(t));
	cli_human_size((uint64_t)rate, r, sizeof(r));
	if (total && done <= total && rate > 0)
		fprintf(stderr, "\r\033[Kimporting: %s / %s  %s/s  ETA %.0fs", d, t, r,
		        (double)(total - done) / rate);
	else
		fprintf(stderr, "\r\033[Kimporting: %s  %s/s", d, r);
}

struct import_args {
	struct store_import_options opts;
	const char *root;
	bool quiet;
};

/* -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct import_args *a)
{
	enum { OPT_REF = 256, OPT_PLATFORM, OPT_ROOT, OPT_MAX_LAYER_SIZE };
	static const struct option longopts[] = {
	    {"tag", required_argument, NULL, 't'},
	    {"ref", required_argument, NULL, OPT_REF},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"quiet", no_argument, NULL, 'q'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:qh", longopts, NULL)) != -1) {
		if (c == 't' && !store_valid_tag(optarg))
			return cli_usage_error("import", "'%s' is not a valid image name", optarg);
		else if (c == 't')
			a->opts.tag = optarg;
		else if (c == OPT_REF)
			a->opts.ref = optarg;
		else if (c == OPT_PLATFORM)
			a->opts.platform = optarg;
		else if (c == 'q')
			a->quiet = true;
		else if (c == OPT_ROOT)
			a->root = optarg;
		else if (c == OPT_MAX_LAYER_SIZE) {
			rc = cli_max_layer_size_option("import", optarg, &a->opts.max_layer_size);
			if (rc)
				return rc;
		} else if (c == 'h')
			return import_usage(stdout), 0;
		else
			return cli_usage_error("import", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("import",
		                       optind == argc ? "no file given" : "one file at a time");
	return -1;
}

int cmd_import(int argc, char **argv)
{
	struct import_args a = {.opts = {.warn = cli_warn}};
	struct store_imported *images = NULL;
	struct progress prog = {0};
	struct strata_error err;
	struct store *s;
	size_t n = 0;
	int rc = parse(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (!a.quiet && isatty(STDERR_FILENO)) {
		clock_gettime(CLOCK_MONOTONIC, &prog.start);
		a.opts.progress = show_progress;
		a.opts.progress_ctx = &prog;
	}
	if (cli_open_store(a.root, true, &s))
		return 1;
	if (!a.opts.max_layer_size)
		a.opts.max_layer_size = cli_default_max_layer_size(store_root(s));
	rc = store_import(s, argv[optind], &a.opts, &images, &n, &err);
	if (prog.shown)
		fputs("\r\033[K", stderr);
	if (rc) {
		rc = cli_fail(&err);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", images[i].digest,
			       images[i].name ? images[i].name : "<none>");
	}
	store_imported_free(images, n);
	store_close(s);
	return rc;
}
