/* SPDX-License-Identifier: MIT */
/* A container as a source: its image's layers with its upper on top, read
 * as the launcher wrote it (owners through its id maps, the mount points
 * the init made left out). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* The image's layers with one slot more, for the upper. */
static int open_image_layers(struct store *s, const struct strata_layer_options *lo,
                             struct store_source *out, struct strata_error *err)
{
	struct strata_layer **v = NULL, **bigger;

	if (store_open_layers(s, out->img, lo, &v, err))
		return -1;
	bigger = realloc(v, (out->img->n_layers + 1) * sizeof(*v));
	if (!bigger) {
		for (size_t i = 0; i < out->img->n_layers; i++)
			strata_layer_close(v[i]);
		free(v);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	out->layers = bigger;
	out->n_layers = out->img->n_layers;
	return 0;
}

int store_container_source_open(struct store *s, const char *dir,
                                const struct strata_layer_options *lo, struct store_source *out,
                                struct strata_error *err)
{
	char *digest = store_container_image_digest(dir), upper[PATH_MAX + 8];
	struct strata_dir_options opts = {0};
	int rc;

	out->kind = STORE_SOURCE_CONTAINER;
	out->container_dir = strdup(dir);
	if (!out->container_dir) {
		free(digest);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	if (!digest)
		return strata_fail(err, STRATA_ERR_USAGE, ENOENT, "%s: container has no state.json",
		                   out->ref);
	if (store_resolve(s, digest, &out->img, err)) {
		char what[256];

		snprintf(what, sizeof(what), "%.200s: its image %.19s", out->ref, digest);
		free(digest);
		return store_fail_prefix(err, "%s: %s", what);
	}
	free(digest);
	if (open_image_layers(s, lo, out, err))
		return -1;
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	store_container_dir_options(dir, &opts);
	opts.below = out->layers;
	opts.n_below = out->n_layers;
	rc = strata_layer_open_dir(upper, &opts, &out->layers[out->n_layers], err);
	store_container_dir_options_free(&opts);
	if (rc)
		return -1;
	out->n_layers++;
	return 0;
}
