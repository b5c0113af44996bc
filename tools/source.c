/* SPDX-License-Identifier: MIT */
/* Opening images, layers and containers as stacks of layers (source.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "crypto_dl.h"
#include "source.h"

static bool hex_prefix_of(const char *ref, const char *digest)
{
	const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
	size_t n = strlen(hex);

	return n >= 4 && n <= 64 && strspn(hex, "0123456789abcdef") == n &&
	       strncmp(digest + 7, hex, n) == 0;
}

/* A layer of any image in the store, by digest or diff-id. */
static int find_layer(struct store *s, const char *ref, struct source *out)
{
	struct store_entry *v;
	struct strata_error err;
	size_t n;
	int found = 0;

	if (store_list(s, &v, &n, &err))
		return cli_fail(&err);
	for (size_t i = 0; i < n && !found; i++) {
		struct store_image *img;

		if (store_resolve(s, v[i].digest, &img, &err))
			continue;
		for (size_t k = 0; k < img->n_layers && !found; k++)
			if (hex_prefix_of(ref, img->layers[k].digest) ||
			    hex_prefix_of(ref, img->layers[k].diff_id)) {
				out->img = img;
				out->layer_index = k;
				found = 1;
			}
		if (!found)
			store_image_free(img);
	}
	store_entries_free(v, n);
	return found ? 0 : -1;
}

static char *read_small(const char *dir, const char *name)
{
	char path[PATH_MAX + 32], *text = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (getdelim(&text, &cap, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* What the launcher recorded: the id maps and the mount points it made. */
static void read_container_files(const char *dir, struct strata_dir_options *o)
{
	char *mps = read_small(dir, "mountpoints");

	o->uid_map = read_small(dir, "uid_map");
	o->gid_map = read_small(dir, "gid_map");
	for (char *save = NULL, *line = mps ? strtok_r(mps, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char **v = realloc(o->hide, (o->n_hide + 1) * sizeof(*v));

		if (!v)
			break;
		o->hide = v;
		o->hide[o->n_hide++] = strdup(line);
	}
	free(mps);
}

static int open_container(struct store *s, const char *dir, struct source *out)
{
	struct strata_layer_options lo = {.warn = cli_warn};
	struct strata_error err;
	char *digest = container_image_digest(dir), upper[PATH_MAX + 8];
	struct strata_dir_options opts = {0};
	struct strata_layer **v;
	int rc;

	if (!digest) {
		cli_error("%s: container has no state.json", out->ref);
		return 1;
	}
	if (store_resolve(s, digest, &out->img, &err)) {
		cli_error("%s: its image %.19s: %s", out->ref, digest, err.msg);
		free(digest);
		return 1;
	}
	free(digest);
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	read_container_files(dir, &opts);
	v = NULL;
	if (store_open_layers(s, out->img, &lo, &v, &err) ||
	    !(out->layers = realloc(v, (out->img->n_layers + 1) * sizeof(*v)))) {
		free(v);
		return cli_fail(&err);
	}
	out->n_layers = out->img->n_layers;
	rc = strata_layer_open_dir(upper, &opts, &out->layers[out->n_layers], &err);
	free((char *)opts.uid_map);
	free((char *)opts.gid_map);
	for (size_t i = 0; i < opts.n_hide; i++)
		free(opts.hide[i]);
	free(opts.hide);
	if (rc)
		return cli_fail(&err);
	out->n_layers++;
	return 0;
}

int source_open(struct store *s, const char *ref, unsigned allowed, struct source *out)
{
	struct strata_layer_options lo = {.warn = cli_warn};
	struct strata_error err;
	char dir[PATH_MAX];

	memset(out, 0, sizeof(*out));
	out->ref = ref;
	/* Resolving an image rehashes its manifest and config, and any failure
	 * there reads below as "no such image": say this one here. */
	if (crypto_dl_load(&err))
		return cli_fail(&err);
	snprintf(dir, sizeof(dir), "%s/strata/containers/%s", store_root(s), ref);
	if ((allowed & SOURCE_CONTAINER) && !strchr(ref, '/') && ref[0] != '.' &&
	    access(dir, F_OK) == 0) {
		out->kind = SOURCE_CONTAINER;
		out->container_dir = strdup(dir);
		return open_container(s, dir, out);
	}
	if ((allowed & SOURCE_IMAGE) && store_resolve(s, ref, &out->img, &err) == 0) {
		out->kind = SOURCE_IMAGE;
		if (store_open_layers(s, out->img, &lo, &out->layers, &err))
			return cli_fail(&err);
		out->n_layers = out->img->n_layers;
		return 0;
	}
	if ((allowed & SOURCE_LAYER) && find_layer(s, ref, out) == 0) {
		out->kind = SOURCE_LAYER;
		out->layers = calloc(1, sizeof(*out->layers));
		if (!out->layers || store_open_layer(s, &out->img->layers[out->layer_index], &lo,
		                                     &out->layers[0], &err))
			return out->layers ? cli_fail(&err) : 1;
		out->n_layers = 1;
		return 0;
	}
	cli_error("%s: no such %s", ref,
	          allowed == SOURCE_IMAGE       ? "image"
	          : allowed == SOURCE_CONTAINER ? "container"
	                                        : "image, layer or container");
	return 1;
}

void source_close(struct source *src)
{
	for (size_t i = 0; i < src->n_layers; i++)
		strata_layer_close(src->layers[i]);
	free(src->layers);
	store_image_free(src->img);
	free(src->container_dir);
	memset(src, 0, sizeof(*src));
}
