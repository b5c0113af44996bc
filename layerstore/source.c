/* SPDX-License-Identifier: MIT */
/* What a SOURCE names: a container, an image or a layer, opened as a stack
 * of layers (strata-store.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto_dl.h"
#include "store.h"

/* @ref ("sha256:" optional) is a prefix of at least 4 hex digits of
 * @digest: fewer would match half the store. */
static bool hex_prefix_of(const char *ref, const char *digest)
{
	const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
	size_t n = strlen(hex);

	return n >= 4 && n <= 64 && strspn(hex, "0123456789abcdef") == n &&
	       strncmp(digest + 7, hex, n) == 0;
}

/* The same layer (by diff-id) in two images, or in two compressions, is
 * one answer; two different layers make the prefix ambiguous. */
static bool same_layer(const struct store_source *found, const struct store_layer *l)
{
	return strcmp(found->img->layers[found->layer_index].diff_id, l->diff_id) == 0;
}

/* Looks for @ref among the layers of @img: 1 when it takes @img (as
 * out->img), 0 when not, -1 when ambiguous. */
static int match_layers(struct store_image *img, const char *ref, struct store_source *out)
{
	for (size_t k = 0; k < img->n_layers; k++) {
		if (!hex_prefix_of(ref, img->layers[k].digest) &&
		    !hex_prefix_of(ref, img->layers[k].diff_id))
			continue;
		if (out->img)
			return same_layer(out, &img->layers[k]) ? 0 : -1;
		out->img = img;
		out->layer_index = k;
		return 1;
	}
	return 0;
}

/* A layer of any image in the store, by digest or diff-id: 0 when found,
 * 1 when not, -1 (with @err) when the store cannot be listed or the prefix
 * names two layers. */
static int find_layer(struct store *s, const char *ref, struct store_source *out,
                      struct strata_error *err)
{
	struct strata_error ignored;
	struct store_entry *v;
	size_t n;
	int rc = 0;

	if (store_list(s, &v, &n, err))
		return -1;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		struct store_image *img;

		if (store_resolve(s, v[i].digest, &img, &ignored))
			continue;
		rc = match_layers(img, ref, out);
		if (rc <= 0)
			store_image_free(img);
	}
	store_entries_free(v, n);
	if (rc < 0)
		return strata_fail(err, STRATA_ERR_USAGE, 0, "%s: more than one layer matches",
		                   ref);
	return out->img ? 0 : 1;
}

static int open_image(struct store *s, const struct strata_layer_options *lo,
                      struct store_source *out, struct strata_error *err)
{
	out->kind = STORE_SOURCE_IMAGE;
	if (store_open_layers(s, out->img, lo, &out->layers, err))
		return -1;
	out->n_layers = out->img->n_layers;
	return 0;
}

static int open_layer(struct store *s, const struct strata_layer_options *lo,
                      struct store_source *out, struct strata_error *err)
{
	out->kind = STORE_SOURCE_LAYER;
	out->layers = calloc(1, sizeof(*out->layers));
	if (!out->layers)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (store_open_layer(s, &out->img->layers[out->layer_index], lo, &out->layers[0], err))
		return -1;
	out->n_layers = 1;
	return 0;
}

static const char *kinds_named(unsigned allowed)
{
	return allowed == STORE_SOURCE_IMAGE       ? "image"
	       : allowed == STORE_SOURCE_CONTAINER ? "container"
	                                           : "image, layer or container";
}

static int open_source(struct store *s, const char *ref, unsigned allowed, strata_warn_fn warn,
                       struct store_source *out, struct strata_error *err)
{
	struct strata_layer_options lo = {.warn = warn};
	struct strata_error not_image;
	char dir[PATH_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	out->ref = ref;
	/* Resolving an image rehashes its manifest and config, and any failure
	 * there reads below as "no such image": say this one here. */
	if (dl_crypto_load(err))
		return -1;
	if ((allowed & STORE_SOURCE_CONTAINER) &&
	    store_container_path(s, ref, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0)
		return store_container_source_open(s, dir, &lo, out, err);
	if ((allowed & STORE_SOURCE_IMAGE) && store_resolve(s, ref, &out->img, &not_image) == 0)
		return open_image(s, &lo, out, err);
	/* A prefix of two images' digests is no answer, and no layer's either:
	 * say so rather than "no such". */
	if ((allowed & STORE_SOURCE_IMAGE) && not_image.code == STRATA_ERR_USAGE &&
	    not_image.sys_errno == 0)
		return strata_fail(err, not_image.code, 0, "%s", not_image.msg);
	if ((allowed & STORE_SOURCE_LAYER) && (rc = find_layer(s, ref, out, err)) <= 0)
		return rc < 0 ? -1 : open_layer(s, &lo, out, err);
	return strata_fail(err, STRATA_ERR_USAGE, ENOENT, "%s: no such %s", ref,
	                   kinds_named(allowed));
}

int store_source_open(struct store *s, const char *ref, unsigned allowed, strata_warn_fn warn,
                      struct store_source *out, struct strata_error *err)
{
	int rc = open_source(s, ref, allowed, warn, out, err);

	/* Whatever was opened on the way goes: nothing for the caller to close. */
	if (rc)
		store_source_close(out);
	return rc;
}

void store_source_close(struct store_source *src)
{
	for (size_t i = 0; i < src->n_layers; i++)
		strata_layer_close(src->layers[i]);
	free(src->layers);
	store_image_free(src->img);
	free(src->container_dir);
	memset(src, 0, sizeof(*src));
}
