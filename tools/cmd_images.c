/* SPDX-License-Identifier: MIT */
/* strata images, tag, rmi: the names in the store. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "container.h"
#include "strata-store.h"

static const char images_usage[] =
    "Usage: strata images [--json] [--root DIR]\n"
    "\n"
    "List the images in the store: NAME, DIGEST (of the manifest, shortened),\n"
    "LAYERS, SIZE (of the stored blobs) and CREATED.  --json prints an array of\n"
    "objects with the full digests and sizes in bytes.\n";

static void print_row(const struct store_entry *e, const struct store_image *img, json_t *arr)
{
	uint64_t size = img->config_size;
	char human[32], created[17] = "";

	for (size_t i = 0; i < img->n_layers; i++)
		size += img->layers[i].size;
	if (arr) {
		json_array_append_new(
		    arr, json_pack("{s:s?, s:s, s:i, s:I, s:s?, s:s?, s:s?}", "name", e->name,
		                   "digest", img->digest, "layers", (int)img->n_layers, "size",
		                   (json_int_t)size, "created", img->created, "os", img->os,
		                   "architecture", img->architecture));
		return;
	}
	cli_human_size(size, human, sizeof(human));
	if (img->created) {
		snprintf(created, sizeof(created), "%s", img->created);
		if (strlen(created) > 10)
			created[10] = ' ';
	}
	printf("%-30s %-12.12s %6zu %10s  %s\n", e->name ? e->name : "<none>", img->digest + 7,
	       img->n_layers, human, created[0] ? created : "-");
}

int cmd_images(int argc, char **argv)
{
	const char *root = NULL;
	struct store_entry *v = NULL;
	struct strata_error err;
	json_t *arr = NULL;
	struct store *s;
	bool json = false;
	size_t n = 0;
	int rc = cli_parse_store_opts(argc, argv, "images", images_usage, &root, &json);

	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cli_usage_error("images", "no arguments expected");
	if (cli_open_store(root, false, &s))
		return 1;
	if (store_list(s, &v, &n, &err)) {
		store_close(s);
		return cli_fail(&err);
	}
	if (json)
		arr = json_array();
	else
		printf("%-30s %-12s %6s %10s  %s\n", "NAME", "DIGEST", "LAYERS", "SIZE", "CREATED");
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_image *img;

		if (store_resolve(s, v[i].digest, &img, &err)) {
			/* Go on listing; the damage is for fsck to report. */
			cli_error("%s: %s", v[i].name ? v[i].name : v[i].digest, err.msg);
			rc = 1;
			continue;
		}
		print_row(&v[i], img, arr);
		store_image_free(img);
	}
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	}
	store_entries_free(v, n);
	store_close(s);
	return rc;
}

static const char tag_usage[] = "Usage: strata tag [--root DIR] IMAGE NAME\n"
                                "\n"
                                "Give IMAGE (a name, digest or digest prefix) the name NAME;\n"
                                "NAME moves from any image that had it.\n";

int cmd_tag(int argc, char **argv)
{
	const char *root = NULL;
	struct strata_error err;
	struct store *s;
	int rc = cli_parse_store_opts(argc, argv, "tag", tag_usage, &root, NULL);

	if (rc >= 0)
		return rc;
	if (argc - optind != 2)
		return cli_usage_error("tag", "expected IMAGE and NAME");
	if (!store_valid_tag(argv[optind + 1]))
		return cli_usage_error("tag", "'%s' is not a valid image name", argv[optind + 1]);
	if (cli_open_store(root, false, &s))
		return 1;
	rc = store_tag(s, argv[optind], argv[optind + 1], &err) ? cli_fail(&err) : 0;
	store_close(s);
	return rc;
}

static const char rmi_usage[] =
    "Usage: strata rmi [--root DIR] [--force] IMAGE...\n"
    "\n"
    "Remove each name; given a digest, every name of that image.\n"
    "The blobs stay until 'strata gc' finds nothing uses them.\n"
    "An image a container was made from keeps its last name unless --force\n"
    "(gc keeps its blobs either way, as long as the container exists).\n"
    "\n"
    "  -f, --force  remove the name even when containers use the image\n";

/* Whether removing @ref takes the last name of the image @digest: it does
 * when @ref is not one of the names (a digest or a prefix of one) or when
 * the image has no other.  Unsure (a name given in another spelling) counts
 * as the last: refusing is the safe side. */
static bool removes_last_name(const struct store_entry *e, size_t n, const char *ref,
                              const char *digest)
{
	size_t names = 0;
	bool is_name = false;

	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (strcmp(e[i].digest, digest) != 0 || !e[i].name)
			continue;
		names++;
		len = strlen(ref);
		if (strcmp(e[i].name, ref) == 0 ||
		    (strncmp(e[i].name, ref, len) == 0 && strcmp(e[i].name + len, ":latest") == 0))
			is_name = true;
	}
	return !is_name || names <= 1;
}

/* The containers made from @digest, as "a, b", or NULL when none. */
static char *users_of(const struct container_image *cs, size_t n_cs, const char *digest)
{
	char *out = NULL;

	for (size_t i = 0; i < n_cs; i++) {
		char *more;

		if (strcmp(cs[i].digest, digest) != 0)
			continue;
		if (asprintf(&more, "%s%s%s", out ? out : "", out ? ", " : "", cs[i].name) < 0)
			break;
		free(out);
		out = more;
	}
	return out;
}

/* Whether removing @ref would take the last name of an image containers
 * were made from: then 1 after saying so (unless @force), else 0.  An
 * unknown @ref is left to store_untag to report. */
static int last_name_of_used(struct store *s, const char *ref, const struct container_image *cs,
                             size_t n_cs, bool force)
{
	struct store_entry *e = NULL;
	struct store_image *img = NULL;
	struct strata_error err;
	char *users = NULL;
	size_t n = 0;
	int rc = 0;

	if (n_cs == 0 || store_resolve(s, ref, &img, &err) || store_list(s, &e, &n, &err))
		goto out;
	users = users_of(cs, n_cs, img->digest);
	if (users && removes_last_name(e, n, ref, img->digest)) {
		rc = 1;
		if (!force)
			cli_error("rmi: %s: the image of container%s %s ('strata rm' %s first, or "
			          "--force)",
			          ref, strchr(users, ',') ? "s" : "", users,
			          strchr(users, ',') ? "them" : "it");
	}
out:
	free(users);
	store_entries_free(e, n);
	store_image_free(img);
	return rc;
}

int cmd_rmi(int argc, char **argv)
{
	enum { OPT_ROOT = 256 };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct container_image *cs = NULL;
	const char *root = NULL;
	struct strata_error err;
	bool force = false;
	struct store *s;
	size_t n_cs = 0;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			root = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(rmi_usage, stdout);
			return 0;
		default:
			return cli_usage_error("rmi", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind == argc)
		return cli_usage_error("rmi", "no image given");
	if (cli_open_store(root, false, &s))
		return 1;
	if (container_images(store_root(s), &cs, &n_cs) < 0) {
		cli_error("rmi: %s/strata/containers: %s", store_root(s), strerror(errno));
		store_close(s);
		return 1;
	}
	rc = 0;
	for (int i = optind; i < argc; i++) {
		int used = last_name_of_used(s, argv[i], cs, n_cs, force);

		/* Forced, the image stays unnamed (strata images shows it by its
		 * digest), and its containers run on by that digest. */
		if (used && !force)
			rc = 1;
		else if ((used ? store_untag_keep_image : store_untag)(s, argv[i], &err))
			rc = cli_fail(&err);
	}
	container_images_free(cs, n_cs);
	store_close(s);
	return rc;
}
