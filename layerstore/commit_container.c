/* SPDX-License-Identifier: MIT */
/* strata commit: a stopped container's changes as a new image. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int store_commit_container(struct store *s, const char *name, const struct store_layer_options *lo,
                           const struct store_commit_options *co, char digest[STORE_DIGEST_MAX],
                           struct strata_error *err)
{
	struct store_layer layer = {0};
	struct store_source src;
	int lock = lock_container(s, name, err), rc;

	if (lock == -1)
		return -1;
	rc = store_source_open(s, name, STORE_SOURCE_CONTAINER, lo->warn, &src, err);
	if (rc == 0) {
		rc = store_commit_layer(s, &src, lo, &layer, err) ||
		             store_commit_image(s, src.img, &layer, co, digest, err)
		         ? -1
		         : 0;
		free(layer.media_type);
		store_source_close(&src);
	}
	if (lock >= 0)
		close(lock);
	return rc;
}
