/* SPDX-License-Identifier: MIT */
/* strata push: an image of the store to a registry. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "strata-store.h"

static const char push_usage[] =
    "Usage: strata push [OPTIONS] IMAGE DESTINATION\n"
    "\n"
    "Push IMAGE of the store (a name or digest) to a registry: DESTINATION is\n"
    "REGISTRY/NAME[:TAG] (localhost:5000/app:1).  Only the blobs the registry\n"
    "lacks are sent, byte for byte as stored (the digests do not change), mounted\n"
    "from another repository of the registry when the image came from there;\n"
    "the manifest goes last.  Prints the manifest digest.\n"
    "\n"
    "Then strata's index of each layer is attached to the image (an OCI\n"
    "artifact whose subject is the manifest, found through the referrers API or\n"
    "the sha256-HEX tag): what a lazy pull needs to start the image before it\n"
    "is downloaded.  A registry that refuses it still has the image.\n"
    "\n"
    "Options:\n"
    "      --format oci|docker   the manifest's media types (default: as stored);\n"
    "                            refused when the other format cannot say it all\n"
    "      --no-index            push the image alone, without its layer index\n"
    "      --from-repo NAME      a repository of the same registry that holds the\n"
    "                            blobs: mount them from it\n"
    "      --tls-verify=false    allow plain HTTP and unverified TLS\n"
    "  -q, --quiet               no progress\n"
    "      --root DIR            the store (default $STRATA_ROOT, /var/lib/strata as\n"
    "                            root, else $XDG_DATA_HOME/strata)\n"
    "  -h, --help                show this help\n";

static int parse_format(const char *arg, enum store_push_format *out)
{
	if (strcmp(arg, "oci") == 0)
		*out = STORE_PUSH_OCI;
	else if (strcmp(arg, "docker") == 0 || strcmp(arg, "v2s2") == 0)
		*out = STORE_PUSH_DOCKER;
	else
		return cli_usage_error("push", "--format takes oci or docker, not '%s'", arg);
	return 0;
}

static int push(struct store *s, const char *src, const char *dest, struct store_push_options *o,
                bool quiet)
{
	struct cli_progress *p = cli_progress_start(quiet);
	struct store_pushed out;
	struct strata_error err;
	int rc;

	if (p) {
		o->progress = cli_progress_show;
		o->progress_ctx = p;
	}
	o->warn = cli_warn;
	rc = store_push(s, src, dest, o, &out, &err);
	cli_progress_end(p);
	if (rc)
		return cli_fail(&err);
	printf("%s\n", out.digest);
	if (!quiet && out.index_digest[0])
		fprintf(stderr, "index of %zu layer%s: %s\n", out.n_indexed,
		        out.n_indexed == 1 ? "" : "s", out.index_digest);
	return 0;
}

int cmd_push(int argc, char **argv)
{
	enum { OPT_FORMAT = 256, OPT_FROM, OPT_TLS, OPT_ROOT, OPT_NO_INDEX };
	static const struct option longopts[] = {
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"from-repo", required_argument, NULL, OPT_FROM},
	    {"no-index", no_argument, NULL, OPT_NO_INDEX},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"quiet", no_argument, NULL, 'q'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct store_push_options o = {0};
	const char *root = NULL;
	bool quiet = false;
	struct store *s;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (c == OPT_FORMAT && (rc = parse_format(optarg, &o.format)))
			return rc;
		else if (c == OPT_TLS &&
		         (rc = cli_parse_tls_verify(optarg, "push", &o.tls_verify_off)) >= 0)
			return rc;
		else if (c == OPT_FROM)
			o.from_repo = optarg;
		else if (c == OPT_NO_INDEX)
			o.no_index = true;
		else if (c == 'q')
			quiet = true;
		else if (c == OPT_ROOT)
			root = optarg;
		else if (c != OPT_TLS && c != OPT_FORMAT)
			return cli_other_option(c, "push", push_usage, argv);
	}
	if (argc - optind != 2)
		return cli_usage_error("push", argc - optind < 2
		                                   ? "an image and a destination, please"
		                                   : "one image at a time");
	if (cli_open_store(root, false, &s))
		return 1;
	rc = push(s, argv[optind], argv[optind + 1], &o, quiet);
	store_close(s);
	return rc;
}
