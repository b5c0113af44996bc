/* SPDX-License-Identifier: MIT */
/*
 * An image's layers, opened for a mount: each blob indexed once, keyed by
 * its diff-id so that every image sharing a layer shares its index; and the
 * mount records that keep store_gc() away from what a live mount uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazy_blob.h"
#include "store.h"
#include "sys.h"

void store_layer_source(struct store *s, const struct store_layer *l, char out[STORE_DIGEST_MAX])
{
	snprintf(out, STORE_DIGEST_MAX, "%s",
	         store_blob_exists(s, l->diff_id) ? l->diff_id : l->digest);
}

void store_layer_cache_key(const char *diff_id, const char *source, char out[LAYER_KEY_MAX])
{
	if (strcmp(diff_id, source) == 0)
		snprintf(out, LAYER_KEY_MAX, "%.64s", digest_hex(diff_id));
	else
		snprintf(out, LAYER_KEY_MAX, "%.64s-%.16s", digest_hex(diff_id),
		         digest_hex(source));
}

int store_layer_cache_lock(struct store *s, const char *key)
{
	char name[LAYER_KEY_MAX + 32];
	int fd;

	snprintf(name, sizeof(name), "strata/layers/%s.lock", key);
	fd = store_openat(s->root_fd, name, O_RDWR | O_CREAT);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int readopt_index(struct store *s, const struct store_layer *l, struct store_lazy_blob *b,
                         struct strata_error *err)
{
	char *index = NULL;
	size_t len;
	int rc = store_lazy_get_index(b, &index, &len, err) ||
	         store_lazy_adopt_index(s, l->digest, l->diff_id, index, len, err);

	free(index);
	return rc ? -1 : 0;
}

/* A layer pulled lazily: read from its sparse copy, fetching as it goes. */
static int open_lazy(struct store *s, const struct store_layer *l,
                     const struct strata_layer_options *opts, struct strata_layer **out,
                     struct strata_error *err)
{
	struct strata_layer_options lo = *opts;
	struct store_lazy_blob *b;
	char key[LAYER_KEY_MAX], path[PATH_MAX];

	if (store_lazy_open(s, l->digest, opts->warn, opts->warn_ctx, &b, err))
		return -1;
	store_layer_cache_key(l->diff_id, l->digest, key);
	lo.cache_key = key;
	lo.name = l->digest;
	lo.fetch = store_lazy_fetch(b);
	store_lazy_path(s, l->digest, "", path, sizeof(path));
	if (strata_layer_open_tar(path, &lo, out, err) == 0)
		return 0;
	/* The layer cache lost its index (removed by hand, or damaged): the
	 * registry has it, as the pull found it. */
	if (err->code == STRATA_ERR_INDEX && readopt_index(s, l, b, err) == 0 &&
	    strata_layer_open_tar(path, &lo, out, err) == 0)
		return 0;
	store_lazy_close(b);
	return -1;
}

/* A layer whose adopted index's verification found its diff-id not the
 * config's (verify.c): what a pull that indexed it would have refused. */
static int refuse_failed(struct store *s, const struct store_layer *l, struct strata_error *err)
{
	char why[512];

	if (!store_adopted_failed(s, l->digest, why, sizeof(why)))
		return 0;
	return strata_fail(err, STRATA_ERR_CORRUPT, 0,
	                   "layer %s failed verification: %s (remove the image; `strata pull "
	                   "--verify=now` refuses it)",
	                   l->digest, why);
}

int store_open_layers(struct store *s, const struct store_image *img,
                      const struct strata_layer_options *opts, struct strata_layer ***out,
                      struct strata_error *err)
{
	struct strata_layer **v = calloc(img->n_layers + 1, sizeof(*v));
	struct strata_layer_options lo = *opts;
	char path[PATH_MAX];
	size_t i;

	if (!v)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	lo.cache_dir = s->layer_cache;
	/* Each layer decompressed within the limit when it was imported: an
	 * index rebuilt later (a cache cleared, a new index version) may not
	 * refuse what the store holds. */
	lo.max_layer_size = 0;
	for (i = 0; i < img->n_layers; i++) {
		const struct store_layer *l = &img->layers[i];
		char source[STORE_DIGEST_MAX], key[LAYER_KEY_MAX];
		int fd, lock, rc;

		store_layer_source(s, l, source);
		if (!store_blob_exists(s, source) &&
		    (store_lazy_exists(s, l->digest) || store_lazy_is_bad(s, l->digest, NULL, 0))) {
			if (open_lazy(s, l, &lo, &v[i], err))
				goto fail;
			continue;
		}
		if (refuse_failed(s, l, err))
			goto fail;
		store_layer_cache_key(l->diff_id, source, key);
		lo.cache_key = key;
		/* The blob must be there, a regular file and no symlink, before
		 * libstrata-fs opens it by path. */
		fd = store_blob_open(s, source, NULL, err);
		if (fd < 0)
			goto fail;
		close(fd);
		if (store_blob_path(s, source, path, sizeof(path)) < 0) {
			strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", s->root, strerror(errno));
			goto fail;
		}
		lock = store_layer_cache_lock(s, key);
		rc = strata_layer_open_tar(path, &lo, &v[i], err);
		if (lock >= 0)
			close(lock);
		if (rc)
			goto fail;
	}
	*out = v;
	return 0;
fail:
	while (i-- > 0)
		strata_layer_close(v[i]);
	free(v);
	return -1;
}

int store_open_layer(struct store *s, const struct store_layer *layer,
                     const struct strata_layer_options *opts, struct strata_layer **out,
                     struct strata_error *err)
{
	struct store_image one = {.n_layers = 1, .layers = (struct store_layer *)layer};
	struct strata_layer **v;

	if (store_open_layers(s, &one, opts, &v, err))
		return -1;
	*out = v[0];
	free(v);
	return 0;
}

int store_layer_seekable(struct store *s, const struct store_layer *layer)
{
	struct strata_layer_options lo = {.cache_dir = s->layer_cache};
	char source[STORE_DIGEST_MAX], key[LAYER_KEY_MAX], path[PATH_MAX];

	store_layer_source(s, layer, source);
	store_layer_cache_key(layer->diff_id, source, key);
	lo.cache_key = key;
	if (store_blob_path(s, source, path, sizeof(path)) < 0)
		return -1;
	return strata_layer_index_seekable(path, &lo);
}

int store_layer_index_export(struct store *s, const struct store_layer *l, int fd,
                             struct strata_error *err)
{
	struct strata_layer_options lo = {.cache_dir = s->layer_cache, .name = l->digest};
	char key[LAYER_KEY_MAX], path[PATH_MAX];
	struct strata_layer *layer;
	int lock, rc;

	/* The index of the blob a registry serves, which may not be the one
	 * a mount uses (store_layer_source: an uncompressed copy). */
	store_layer_cache_key(l->diff_id, l->digest, key);
	lo.cache_key = key;
	rc = store_blob_open(s, l->digest, NULL, err);
	if (rc < 0)
		return -1;
	close(rc);
	if (store_blob_path(s, l->digest, path, sizeof(path)) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", s->root, strerror(errno));
	lock = store_layer_cache_lock(s, key);
	rc = strata_layer_open_tar(path, &lo, &layer, err);
	if (rc == 0) {
		strata_layer_close(layer);
		rc = strata_layer_index_export(path, &lo, fd, err);
	}
	if (lock >= 0)
		close(lock);
	return rc;
}

static char pin_path[PATH_MAX]; /* this process's record, for store_unpin */

void store_unpin(void)
{
	if (pin_path[0])
		unlink(pin_path);
	pin_path[0] = '\0';
}

int store_pin(struct store *s, const struct store_image *img, struct strata_error *err)
{
	char name[64], text[STORE_DIGEST_MAX + 1];
	int fd;

	snprintf(name, sizeof(name), "strata/mounts/%ld", (long)getpid());
	snprintf(pin_path, sizeof(pin_path), "%s/%s", s->root, name);
	(void)mkdirat(s->root_fd, "strata", 0755);
	(void)mkdirat(s->root_fd, "strata/mounts", 0755);
	fd = store_openat(s->root_fd, name, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", s->root, name,
		                   strerror(errno));
	/* Held, never closed: the lock lives as long as this process and
	 * whatever it forks into (the daemon). */
	if (flock(fd, LOCK_SH) < 0) {
		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", s->root, name,
		                   strerror(errno));
	}
	snprintf(text, sizeof(text), "%s\n", img->digest);
	if (sys_write_all(fd, text, strlen(text)) < 0) {
		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", s->root, name,
		                   strerror(errno));
	}
	return 0;
}
