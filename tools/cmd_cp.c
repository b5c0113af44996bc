/* SPDX-License-Identifier: MIT */
/* strata cp: files between the host and a container, running or not. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata cp [--root DIR] CONTAINER:PATH HOSTPATH\n"
    "       strata cp [--root DIR] HOSTPATH CONTAINER:PATH\n"
    "\n"
    "Copy a file or a directory tree between the host and a CONTAINER, through\n"
    "its union (whiteouts and copy-up as its processes see them): a running\n"
    "one's mount; into a stopped one, its union mounted for the copy alone,\n"
    "under its lock (it stays stopped); out of a stopped one, its tree in the\n"
    "store, as diff and commit read it.  Into an existing directory it goes\n"
    "under its own name.  What goes in belongs to the container's root, what\n"
    "comes out to the caller (the container's id map); modes and times are\n"
    "kept, devices skipped.  A host path with a ':' before any '/' is written\n"
    "./a:b.\n";

/* "NAME:PATH" with NAME a container's: the offset of PATH, else 0. */
static size_t container_part(const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return 0;
	return (size_t)(colon - arg) + 1;
}

int cmd_cp(int argc, char **argv)
{
	const char *root = NULL;
	char name[PATH_MAX], dir[PATH_MAX];
	size_t a, b;
	struct store *s;
	bool into;
	int rc = cli_parse_store_opts(argc, argv, "cp", usage, &root, NULL);

	if (rc >= 0)
		return rc;
	if (argc - optind != 2)
		return cli_usage_error("cp", "expected a source and a destination");
	a = container_part(argv[optind]);
	b = container_part(argv[optind + 1]);
	if (!a == !b)
		return cli_usage_error("cp", "one of the two must be CONTAINER:PATH");
	into = b != 0;
	const char *spec = into ? argv[optind + 1] : argv[optind];
	const char *path = spec + (into ? b : a);

	if (*path != '/')
		return cli_usage_error("cp", "%s: the container's path must be absolute", spec);
	snprintf(name, sizeof(name), "%.*s", (int)((into ? b : a) - 1), spec);
	if (ctr_open(root, "cp", name, &s, dir, sizeof(dir)))
		return 1;
	rc = ctr_cp(s, dir, name, path, into ? argv[optind] : argv[optind + 1], into);
	store_close(s);
	return rc;
}
