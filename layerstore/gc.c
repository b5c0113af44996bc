/* SPDX-License-Identifier: MIT */
/*
 * Garbage collection: mark every blob reachable from index.json and from
 * live mount records, sweep the rest, with the caches of layers no image
 * uses and the leftovers of interrupted imports.  It runs with the import
 * lock held exclusively, so no import is between writing its blobs and
 * tagging them.
 */
#include <dirent.h>
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
#include "vec.h"

struct digest_set {
	char (*v)[STORE_DIGEST_MAX];
	size_t n, cap;
};

/* What the sweep must keep, and the layers whose indexes it then checks. */
struct marks {
	struct digest_set blobs, diff_ids;
	struct digest_set layer_digests; /* parallel to layer_diff_ids */
	struct digest_set layer_diff_ids;
};

static int set_append(struct digest_set *set, const char *d)
{
	if (VEC_RESERVE(set->v, set->cap, set->n + 1) < 0)
		return -1;
	snprintf(set->v[set->n++], STORE_DIGEST_MAX, "%s", d);
	return 0;
}

static int set_add(struct digest_set *set, const char *d)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i], d) == 0)
			return 0;
	return set_append(set, d);
}

static bool set_has_hex(const struct digest_set *set, const char *hex, size_t len)
{
	for (size_t i = 0; i < set->n; i++)
		if (strncmp(set->v[i] + 7, hex, len) == 0 && len == 64)
			return true;
	return false;
}

/* Marks a manifest and all it names.  A root we cannot read stops gc:
 * sweeping without knowing what it needs could delete live data. */
static int mark_image(struct store *s, const char *digest, uint64_t size, struct marks *mk,
                      struct strata_error *err)
{
	struct store_image *img;
	int rc = 0;

	if (store_image_load(s, digest, size, &img, err))
		return -1;
	rc |= set_add(&mk->blobs, img->digest) | set_add(&mk->blobs, img->config_digest);
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct store_layer *l = &img->layers[i];

		/* An uncompressed twin no image names goes: its space matters more
		 * than one decompression at the next mount. */
		rc |= set_add(&mk->blobs, l->digest) | set_add(&mk->diff_ids, l->diff_id);
		if (!set_has_hex(&mk->layer_digests, digest_hex(l->digest), 64))
			rc |= set_append(&mk->layer_digests, l->digest) |
			      set_append(&mk->layer_diff_ids, l->diff_id);
	}
	store_image_free(img);
	return rc ? strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory") : 0;
}

/* Mount records whose process still holds the lock are roots; the others
 * are stale and go. */
static int mark_mounts(struct store *s, struct marks *mk, struct strata_error *err)
{
	int dfd = store_openat(s->root_fd, "strata/mounts", O_RDONLY | O_DIRECTORY);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d))) {
		char text[STORE_DIGEST_MAX + 1] = "";
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
		} else if (sys_pread_full(fd, text, STORE_DIGEST_MAX - 1, 0) > 0) {
			text[strcspn(text, "\n")] = '\0';
			if (store_digest_valid(text) && store_blob_exists(s, text))
				rc = mark_image(s, text, UINT64_MAX, mk, err);
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

static void remove_at(int dfd, const char *name, uint64_t *count, uint64_t *bytes)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
		return;
	if (unlinkat(dfd, name, 0) == 0) {
		(*count)++;
		*bytes += (uint64_t)st.st_size;
	}
}

static void sweep_dir(int dfd, bool (*keep)(const char *name, void *ctx), void *ctx,
                      uint64_t *count, uint64_t *bytes)
{
	/* A fresh open, not dup(): a dup shares the read position. */
	DIR *d = sys_opendir_at(dfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if ((de->d_name[0] == '.' && strncmp(de->d_name, ".tmp", 4) != 0) ||
		    keep(de->d_name, ctx))
			continue;
		/* Lock files are empty bookkeeping, not worth a count. */
		if (len > 5 && strcmp(de->d_name + len - 5, ".lock") == 0)
			unlinkat(dfd, de->d_name, 0);
		else
			remove_at(dfd, de->d_name, count, bytes);
	}
	closedir(d);
}

static bool keep_blob(const char *name, void *ctx)
{
	return set_has_hex(ctx, name, strlen(name));
}

struct keys {
	char (*v)[LAYER_KEY_MAX];
	size_t n;
};

static bool keep_cache(const char *name, void *ctx)
{
	const struct keys *k = ctx;
	size_t n = strcspn(name, ".");

	/* "<key>.idx.tmp.XXXXXX" is an index a pinned mount is building. */
	if (strcmp(name + n, ".idx") && strcmp(name + n, ".tar") && strcmp(name + n, ".lock") &&
	    strncmp(name + n, ".idx.tmp.", 9) && strncmp(name + n, ".tar.tmp.", 9))
		return false;
	for (size_t i = 0; i < k->n; i++)
		if (strlen(k->v[i]) == n && strncmp(k->v[i], name, n) == 0)
			return true;
	return false;
}

/* strata/lazy: "<hex>", "<hex>.have", "<hex>.json", "<hex>.bad" of blobs still used. */
static bool keep_lazy(const char *name, void *ctx)
{
	return set_has_hex(ctx, name, strcspn(name, "."));
}

static bool keep_nothing(const char *name, void *ctx)
{
	(void)name;
	(void)ctx;
	return false;
}

static bool keep_layout(const char *name, void *ctx)
{
	(void)ctx;
	/* Only index.json's temp files, left by a crash mid-update. */
	return strncmp(name, "index.json.tmp.", 15) != 0;
}

/* The cache entries live layers use, from the blobs that remain: a layer
 * whose uncompressed twin was just removed is served from its own blob now,
 * and its old entry goes with the sweep. */
static int live_keys(struct store *s, const struct marks *mk, struct keys *out)
{
	out->v = calloc(mk->layer_digests.n + 1, sizeof(*out->v));
	out->n = 0;
	if (!out->v)
		return -1;
	for (size_t i = 0; i < mk->layer_digests.n; i++) {
		struct store_layer l = {.media_type = NULL};
		char source[STORE_DIGEST_MAX];

		memcpy(l.digest, mk->layer_digests.v[i], STORE_DIGEST_MAX);
		memcpy(l.diff_id, mk->layer_diff_ids.v[i], STORE_DIGEST_MAX);
		store_layer_source(s, &l, source);
		store_layer_cache_key(l.diff_id, source, out->v[out->n++]);
	}
	return 0;
}

/* An index that describes another file than its layer's blob (a store
 * copied without keeping inodes, say) goes: the next mount builds it. */
static void drop_stale_indexes(struct store *s, const struct marks *mk, const struct keys *k,
                               int cache_fd, struct store_gc_result *res)
{
	for (size_t i = 0; i < k->n; i++) {
		struct strata_layer_options lo = {.cache_dir = s->layer_cache,
		                                  .cache_key = k->v[i]};
		char source[STORE_DIGEST_MAX], path[PATH_MAX], name[LAYER_KEY_MAX + 8];
		struct store_layer l = {.media_type = NULL};
		struct strata_error ignored;

		memcpy(l.digest, mk->layer_digests.v[i], STORE_DIGEST_MAX);
		memcpy(l.diff_id, mk->layer_diff_ids.v[i], STORE_DIGEST_MAX);
		store_layer_source(s, &l, source);
		/* A lazy layer's index was adopted, not built from its file. */
		if (!store_blob_exists(s, source) && store_lazy_exists(s, l.digest))
			continue;
		if (store_blob_path(s, source, path, sizeof(path)) < 0 ||
		    strata_layer_check_index(path, &lo, &ignored) >= 0)
			continue;
		snprintf(name, sizeof(name), "%s.idx", k->v[i]);
		remove_at(cache_fd, name, &res->caches, &res->cache_bytes);
		snprintf(name, sizeof(name), "%s.tar", k->v[i]);
		remove_at(cache_fd, name, &res->caches, &res->cache_bytes);
	}
}

int store_gc(struct store *s, struct store_gc_result *res, struct strata_error *err)
{
	return store_gc_keeping(s, NULL, 0, res, err);
}

int store_gc_keeping(struct store *s, const char *const *keep, size_t n_keep,
                     struct store_gc_result *res, struct strata_error *err)
{
	struct marks mk = {0};
	json_t *index, *m;
	size_t i;
	int rc = 0, fd;

	memset(res, 0, sizeof(*res));
	if (store_import_lock(s, true, err))
		return -1;
	if (store_index_lock(s, &index, err)) {
		store_import_unlock(s);
		return -1;
	}
	json_array_foreach(json_object_get(index, "manifests"), i, m)
	{
		const char *d = store_json_str(m, "digest");
		json_t *size = json_object_get(m, "size");

		if (rc == 0)
			rc = mark_image(s, d ? d : "",
			                json_is_integer(size) ? (uint64_t)json_integer_value(size)
			                                      : UINT64_MAX,
			                &mk, err);
	}
	if (rc == 0)
		rc = mark_mounts(s, &mk, err);
	/* The caller's roots (containers' images): one already gone has
	 * nothing left to keep. */
	for (i = 0; rc == 0 && i < n_keep; i++)
		if (store_digest_valid(keep[i]) && store_blob_exists(s, keep[i]))
			rc = mark_image(s, keep[i], UINT64_MAX, &mk, err);
	if (rc == 0) {
		struct keys keys = {0};

		sweep_dir(s->blobs_fd, keep_blob, &mk.blobs, &res->blobs, &res->blob_bytes);
		fd = store_openat(s->root_fd, "strata/layers", O_RDONLY | O_DIRECTORY);
		if (fd >= 0 && live_keys(s, &mk, &keys) == 0) {
			sweep_dir(fd, keep_cache, &keys, &res->caches, &res->cache_bytes);
			drop_stale_indexes(s, &mk, &keys, fd, res);
		}
		if (fd >= 0)
			close(fd);
		free(keys.v);
		if (s->tmp_fd >= 0)
			sweep_dir(s->tmp_fd, keep_nothing, NULL, &res->temps, &res->temp_bytes);
		fd = store_openat(s->root_fd, "strata/lazy", O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			sweep_dir(fd, keep_lazy, &mk.blobs, &res->caches, &res->cache_bytes);
			close(fd);
		}
		sweep_dir(s->root_fd, keep_layout, NULL, &res->temps, &res->temp_bytes);
		if (res->blobs)
			fsync(s->blobs_fd);
	}
	store_index_unlock(s, index);
	store_import_unlock(s);
	free(mk.blobs.v);
	free(mk.diff_ids.v);
	free(mk.layer_digests.v);
	free(mk.layer_diff_ids.v);
	return rc;
}
