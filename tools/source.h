/* SPDX-License-Identifier: MIT */
/*
 * What inspect, ls, cat, diff and commit read: an image, one layer, or a
 * container (its image's layers with its upper directory on top), opened as
 * a stack of layers without mounting anything.
 */
#ifndef STRATA_SOURCE_H
#define STRATA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "strata-store.h"

enum source_kind { SOURCE_IMAGE = 1, SOURCE_LAYER = 2, SOURCE_CONTAINER = 4 };

struct source {
	enum source_kind kind;
	const char *ref;              /* as the user gave it */
	struct store_image *img;      /* an image's, or a container's image */
	struct strata_layer **layers; /* lowest first */
	size_t n_layers;
	char *container_dir; /* containers */
	size_t layer_index;  /* SOURCE_LAYER: its position in img */
};

/* Opens @ref as any of the kinds in @allowed: a container name first, then
 * an image reference, then a layer digest or diff-id (or a prefix of one of
 * at least 4 hex digits).  0, or 1 after printing why. */
int source_open(struct store *s, const char *ref, unsigned allowed, struct source *out);
void source_close(struct source *src);

#endif
