/* SPDX-License-Identifier: MIT */
#ifndef STRATA_CACHE_H
#define STRATA_CACHE_H

#include <limits.h>

#include "strata-fs.h"

struct fs_cache_paths {
	char index[PATH_MAX];
	char copy[PATH_MAX]; /* uncompressed stream of a compressed layer */
};

/* Names the cache entries of @layer_path in @cache_dir (created if needed). */
int fs_cache_paths(const char *cache_dir, const char *layer_path, struct fs_cache_paths *out,
                   struct strata_error *err);
/* Names them by @key instead (see strata_layer_options.cache_key). */
int fs_cache_paths_keyed(const char *cache_dir, const char *key, struct fs_cache_paths *out,
                         struct strata_error *err);

struct ix_source_id;
/* The layer file @path's identity now (@src), and where its index is
 * cached (@paths): by @opts' cache_key, else by its canonical path. */
int fs_cache_layer_index(const char *path, const struct strata_layer_options *opts,
                         struct fs_cache_paths *paths, struct ix_source_id *src,
                         struct strata_error *err);

#endif
