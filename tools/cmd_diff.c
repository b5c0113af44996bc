/* SPDX-License-Identifier: MIT */
/* strata diff: what changed between two trees, as docker diff prints it
 * (the rules are layerstore/diff.c's). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata diff [-v|--verbose] [--json] [--root DIR] FROM [TO]\n"
    "\n"
    "What changed from FROM to TO, each an image, a layer (digest or diff-id,\n"
    "or a prefix) or a container: one line per path, A added, C changed,\n"
    "D deleted, as docker diff prints them.  With only FROM, a container:\n"
    "what it changed in its image.  -v says what changed (content, mode,\n"
    "owner, xattrs, link, device, type); --json prints an array.\n";

struct diff_args {
	const char *root;
	bool json, verbose;
};

/* -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct diff_args *a)
{
	enum { OPT_ROOT = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		if (c == OPT_ROOT)
			a->root = optarg;
		else if (c == OPT_JSON)
			a->json = true;
		else if (c == 'v')
			a->verbose = true;
		else
			return cli_other_option(c, "diff", usage, argv);
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("diff", "expected FROM [TO]");
	return -1;
}

static void print_text(const struct store_change *v, size_t n, bool verbose)
{
	for (size_t i = 0; i < n; i++) {
		const char *sep = " (";

		printf("%c /%s", v[i].kind, v[i].path);
		for (unsigned b = 0; verbose && b < STORE_CHANGE_BITS; b++)
			if (v[i].what & (1u << b)) {
				printf("%s%s", sep, store_change_name(b));
				sep = ", ";
			}
		if (verbose && v[i].what)
			putchar(')');
		putchar('\n');
	}
}

static void print_json(const struct store_change *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *j =
		    json_pack("{s:s+, s:s#}", "path", "/", v[i].path, "kind", &v[i].kind, 1);
		json_t *what = json_array();

		for (unsigned b = 0; b < STORE_CHANGE_BITS; b++)
			if (v[i].what & (1u << b))
				json_array_append_new(what, json_string(store_change_name(b)));
		if (v[i].kind == 'C')
			json_object_set_new(j, "changes", what);
		else
			json_decref(what);
		json_array_append_new(arr, j);
	}
	cli_print_json(arr);
}

int cmd_diff(int argc, char **argv)
{
	struct diff_args a = {0};
	struct store_source from = {0}, to;
	struct store_change *v;
	struct strata_error err;
	struct store *s;
	size_t n;
	int rc = parse(argc, argv, &a);

	if (rc >= 0)
		return rc;
	/* With one argument, a container against its own image. */
	if (argc - optind == 1
	        ? cli_open_source(a.root, argv[optind], STORE_SOURCE_CONTAINER, &s, &to)
	        : cli_open_source(a.root, argv[optind], STORE_SOURCE_ANY, &s, &from))
		return 1;
	if (argc - optind == 2 &&
	    store_source_open(s, argv[optind + 1], STORE_SOURCE_ANY, cli_warn, &to, &err)) {
		cli_close_source(s, &from);
		return cli_fail(&err);
	}
	rc = store_diff(argc - optind == 1 ? NULL : &from, &to, &v, &n, &err);
	if (rc == 0)
		a.json ? print_json(v, n) : print_text(v, n, a.verbose);
	else
		cli_error("diff: %s", err.msg);
	store_changes_free(v, n);
	store_source_close(&to);
	cli_close_source(s, &from);
	return rc ? 1 : 0;
}
