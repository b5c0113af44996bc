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

#endif
