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
		char *copy = strdup(line);

		if (!v || !copy) {
			free(copy);
			if (v)
				o->hide = v;
			break;
		}
		o->hide = v;
		o->hide[o->n_hide++] = copy;
	}
	free(mps);
}

static void container_files_free(struct strata_dir_options *o)
{
	free((char *)o->uid_map);
	free((char *)o->gid_map);
	for (size_t i = 0; i < o->n_hide; i++)
		free(o->hide[i]);
	free(o->hide);
}

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

int container_source_open(struct store *s, const char *dir, const struct strata_layer_options *lo,
                          struct store_source *out, struct strata_error *err)
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
	read_container_files(dir, &opts);
	rc = strata_layer_open_dir(upper, &opts, &out->layers[out->n_layers], err);
	container_files_free(&opts);
	if (rc)
		return -1;
	out->n_layers++;
	return 0;
}
