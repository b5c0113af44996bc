/* SPDX-License-Identifier: MIT */
/* strata commit: a stopped container's changes as a new image. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "store.h"

/* The container's lock, held from before its upper is read to the end: it
 * cannot start meanwhile.  -2 when there is no such container (the source
 * says so), -1 on failure. */
static int lock_container(struct store *s, const char *name, struct strata_error *err)
{
	char dir[PATH_MAX];
	int lock;

	if (store_container_path(s, name, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
		return -2;
	lock = store_container_lock(dir, err);
	if (lock < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "commit: %s: %s", name,
		            errno == EBUSY ? "still running; stop it first, so the layer is "
		                             "a consistent snapshot"
		                           : strerror(errno));
	return lock;
}

/* --change lines are checked before the layer is written: a typo must
 * not cost a layer's blob.  0, or -1 with @err. */
static int check_changes(const struct store_commit_options *co, struct strata_error *err)
{
	json_t *scratch = json_object();
	int rc = scratch ? 0 : strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");

	for (size_t i = 0; rc == 0 && i < co->n_changes; i++)
		rc = store_commit_change(scratch, co->changes[i], err);
	json_decref(scratch);
	return rc;
}

/* The history's created_by, as podman records it: the container's
 * command (its state.json's), joined by spaces; malloc'd, or NULL. */
static char *container_command(struct store *s, const char *name)
{
	char dir[PATH_MAX], *text = NULL;
	size_t len = 0, i;
	json_t *st, *v;
	FILE *f;

	if (store_container_path(s, name, dir, sizeof(dir)) < 0 ||
	    !(st = store_container_load_state(dir)))
		return NULL;
	if ((f = open_memstream(&text, &len))) {
		json_array_foreach(json_object_get(st, "command"), i, v)
		{
			fprintf(f, "%s%s", i ? " " : "", json_string_value(v) ?: "");
		}
		fclose(f);
	}
	json_decref(st);
	if (text && !*text) {
		free(text);
		text = NULL;
	}
	return text;
}

int store_commit_container(struct store *s, const char *name, const struct store_layer_options *lo,
                           const struct store_commit_options *co, char digest[STORE_DIGEST_MAX],
                           struct strata_error *err)
{
	struct store_layer layer = {0};
	struct store_source src;
	int lock = lock_container(s, name, err), rc;

	struct store_commit_options o = *co;
	char *cmd = NULL;

	if (lock == -1)
		return -1;
	if (check_changes(co, err)) {
		if (lock >= 0)
			close(lock);
		return -1;
	}
	if (!o.created_by)
		o.created_by = cmd = container_command(s, name);
	rc = store_source_open(s, name, STORE_SOURCE_CONTAINER, lo->warn, &src, err);
	if (rc == 0) {
		rc = store_commit_layer(s, &src, lo, &layer, err) ||
		             store_commit_image(s, src.img, &layer, &o, digest, err)
		         ? -1
		         : 0;
		free(layer.media_type);
		store_source_close(&src);
	}
	if (lock >= 0)
		close(lock);
	free(cmd);
	return rc;
}
