/* SPDX-License-Identifier: MIT */
/* strata export: an image as an archive other tools load. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "strata-store.h"

static void export_usage(FILE *out)
{
	fputs("Usage: strata export [OPTIONS] IMAGE -o FILE\n"
	      "\n"
	      "Write IMAGE as an archive: an oci-archive (the default; blobs as stored,\n"
	      "so importing it again gives the same digests) or a docker-archive\n"
	      "(uncompressed layers) that 'docker load', 'podman load' and\n"
	      "'skopeo copy docker-archive:FILE ...' read.\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output FILE     where to write ('-': standard output)\n"
	      "      --format FMT      oci (default) or docker\n"
	      "      --root DIR        the store\n"
	      "  -h, --help            show this help\n",
	      out);
}

int cmd_export(int argc, char **argv)
{
	enum { OPT_FORMAT = 256, OPT_ROOT };
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	enum store_export_format fmt = STORE_EXPORT_OCI;
	const char *root = NULL, *output = NULL;
	struct strata_error err;
	struct store *s;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "oci") == 0 || strcmp(optarg, "oci-archive") == 0)
				fmt = STORE_EXPORT_OCI;
			else if (strcmp(optarg, "docker") == 0 ||
			         strcmp(optarg, "docker-archive") == 0)
				fmt = STORE_EXPORT_DOCKER;
			else
				return cli_usage_error(
				    "export", "--format: '%s' is not oci or docker", optarg);
			break;
		case OPT_ROOT:
			root = optarg;
			break;
		case 'h':
			export_usage(stdout);
			return 0;
		default:
			return cli_usage_error("export", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("export", "expected one IMAGE");
	if (!output)
		return cli_usage_error("export", "no output file (-o FILE, or -o - for stdout)");
	if (strcmp(output, "-") == 0 && isatty(STDOUT_FILENO))
		return cli_usage_error("export", "refusing to write an archive to a terminal");
	if (cli_open_store(root, false, &s))
		return 1;
	rc = store_export(s, argv[optind], fmt, output, &err) ? cli_fail(&err) : 0;
	store_close(s);
	return rc;
}
