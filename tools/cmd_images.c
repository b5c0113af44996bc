/* SPDX-License-Identifier: MIT */
/* strata images: the images in the store. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
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
	if (arr)
		cli_print_json(arr);
	store_entries_free(v, n);
	store_close(s);
	return rc;
}
