/* SPDX-License-Identifier: MIT */
/* strata commit: what a stopped container changed, as a new image (the
 * layer writer is layerstore/commit_layer.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata commit [OPTIONS] CONTAINER [NAME]\n"
    "\n"
    "Save what CONTAINER changed as a new layer on top of its image, with a new\n"
    "config (diff-id and history appended) and manifest, named NAME.  The\n"
    "container must be stopped: the layer is a consistent snapshot.  A\n"
    "container that changed nothing gives an empty layer.\n"
    "\n"
    "Options:\n"
    "  -c, --change LINE     apply a Dockerfile instruction to the new config\n"
    "                        (repeatable): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,\n"
    "                        STOPSIGNAL, USER, VOLUME or WORKDIR; CMD [\"a\",\"b\"]\n"
    "                        as given, CMD a b as [\"/bin/sh\",\"-c\",\"a b\"]\n"
    "  -m, --message MSG     history comment (the history's created_by is the\n"
    "                        container's command)\n"
    "  -a, --author NAME     author in the config and history\n"
    "      --compress ALG    gzip (default), zstd or none\n"
    "      --reproducible    clamp times to $SOURCE_DATE_EPOCH (else 0): the same\n"
    "                        changes always give the same digest\n"
    "  -f, --force           move NAME from the image it names\n"
    "      --root DIR        the store\n"
    "  -h, --help            show this help\n";

struct commit_args {
	struct store_layer_options lo;
	struct store_commit_options co;
	const char *root;
	char **changes; /* points into argv */
};

static int parse_compression(const char *arg, enum store_compression *out)
{
	static const struct {
		const char *name;
		enum store_compression comp;
	} algs[] = {
	    {"gzip", STORE_COMPRESS_GZIP},
	    {"zstd", STORE_COMPRESS_ZSTD},
	    {"none", STORE_COMPRESS_NONE},
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(arg, algs[i].name) == 0) {
			*out = algs[i].comp;
			return 0;
		}
	return cli_usage_error("commit", "--compress %s: gzip, zstd or none", arg);
}

/* -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct commit_args *a)
{
	enum { OPT_COMPRESS = 256, OPT_REPRO, OPT_ROOT };
	static const struct option longopts[] = {
	    {"message", required_argument, NULL, 'm'},
	    {"change", required_argument, NULL, 'c'},
	    {"author", required_argument, NULL, 'a'},
	    {"compress", required_argument, NULL, OPT_COMPRESS},
	    {"reproducible", no_argument, NULL, OPT_REPRO},
	    {"force", no_argument, NULL, 'f'},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "m:a:c:fh", longopts, NULL)) != -1) {
		if (ch == 'c')
			a->changes[a->co.n_changes++] = optarg;
		else if (ch == 'm')
			a->co.message = optarg;
		else if (ch == 'a')
			a->co.author = optarg;
		else if (ch == OPT_COMPRESS && parse_compression(optarg, &a->lo.compression))
			return EXIT_USAGE;
		else if (ch == OPT_REPRO)
			a->lo.reproducible = true;
		else if (ch == 'f')
			a->co.force = true;
		else if (ch == OPT_ROOT)
			a->root = optarg;
		else if (ch != OPT_COMPRESS)
			return cli_other_option(ch, "commit", usage, argv);
	}
	return -1;
}

int cmd_commit(int argc, char **argv)
{
	struct commit_args a = {
	    .lo = {.compression = STORE_COMPRESS_GZIP, .warn = cli_warn},
	    .co = {.created = -1},
	    .changes = calloc((size_t)argc + 1, sizeof(char *)), /* room for each -c */
	};
	char digest[STORE_DIGEST_MAX];
	struct strata_error err;
	struct store *s;
	int rc = a.changes ? parse(argc, argv, &a) : 1;

	a.co.changes = a.changes;
	if (rc >= 0) {
		free(a.changes);
		return rc;
	}
	if (argc - optind < 1 || argc - optind > 2)
		rc = cli_usage_error("commit", "expected CONTAINER [NAME]");
	a.co.tag = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (rc < 0 && a.co.tag && !store_valid_tag(a.co.tag))
		rc = cli_usage_error("commit", "'%s' is not a valid image name", a.co.tag);
	if (rc >= 0) {
		free(a.changes);
		return rc;
	}
	if (a.lo.reproducible) {
		const char *e = getenv("SOURCE_DATE_EPOCH");

		a.lo.epoch = e ? strtoll(e, NULL, 10) : 0;
		a.co.created = a.lo.epoch;
	}
	if (cli_open_store(a.root, false, &s)) {
		free(a.changes);
		return 1;
	}
	rc = store_commit_container(s, argv[optind], &a.lo, &a.co, digest, &err);
	store_close(s);
	free(a.changes);
	if (rc)
		return cli_fail(&err);
	printf("%s%s%s\n", digest, a.co.tag ? " " : "", a.co.tag ? a.co.tag : "");
	return 0;
}
