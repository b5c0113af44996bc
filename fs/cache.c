/* SPDX-License-Identifier: MIT */
/*
 * Where a layer's index and decompressed copy are cached.  Entries are named
 * by the SHA-256 of the layer's canonical path: two paths to one file share
 * an entry, and the index header says which version of the file it describes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "index.h"
#include "sha256.h"
#include "sys.h"

int strata_default_cache_dir(char **out, struct strata_error *err)
{
	const char *env = getenv("STRATA_CACHE_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int rc;

	*out = NULL;
	if (env && *env)
		rc = (*out = strdup(env)) ? 0 : -1;
	else if (geteuid() == 0)
		rc = (*out = strdup("/var/cache/strata")) ? 0 : -1;
	else if (xdg && *xdg && xdg[0] == '/')
		rc = asprintf(out, "%s/strata", xdg) < 0 ? -1 : 0;
	else
		rc = asprintf(out, "%s/.cache/strata", home && *home ? home : "/tmp") < 0 ? -1 : 0;
	if (rc < 0) {
		*out = NULL;
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "cache directory: out of memory");
	}
	return 0;
}

static bool valid_key(const char *key)
{
	size_t n = strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	return n > 0 && n <= 128 && key[n] == '\0';
}

int fs_cache_paths_keyed(const char *cache_dir, const char *key, struct fs_cache_paths *out,
                         struct strata_error *err)
{
	if (!valid_key(key))
		return strata_fail(err, STRATA_ERR_USAGE, EINVAL,
		                   "cache key '%s': not a plain name", key);
	if (sys_mkdir_p(cache_dir) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "cache directory %s: %s", cache_dir,
		                   strerror(errno));
	if (snprintf(out->index, sizeof(out->index), "%s/%s.idx", cache_dir, key) >=
	        (int)sizeof(out->index) ||
	    snprintf(out->copy, sizeof(out->copy), "%s/%s.tar", cache_dir, key) >=
	        (int)sizeof(out->copy))
		return strata_fail(err, STRATA_ERR_SYS, ENAMETOOLONG, "cache directory %s: %s",
		                   cache_dir, strerror(ENAMETOOLONG));
	return 0;
}

int fs_cache_paths(const char *cache_dir, const char *layer_path, struct fs_cache_paths *out,
                   struct strata_error *err)
{
	unsigned char md[SHA256_SIZE];
	char hex[2 * 20 + 1];
	char *real;

	real = realpath(layer_path, NULL);
	if (!real)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", layer_path,
		                   strerror(errno));
	if (sha256_buffer(real, strlen(real), md, err) < 0) {
		free(real);
		return -1;
	}
	free(real);
	/* 160 bits of the digest name the entry: ample against collisions. */
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return fs_cache_paths_keyed(cache_dir, hex, out, err);
}

int fs_cache_layer_index(const char *path, const struct strata_layer_options *opts,
                         struct fs_cache_paths *paths, struct ix_source_id *src,
                         struct strata_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	*src = (struct ix_source_id){(uint64_t)st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	                             (uint64_t)st.st_ino};
	return opts->cache_key ? fs_cache_paths_keyed(opts->cache_dir, opts->cache_key, paths, err)
	                       : fs_cache_paths(opts->cache_dir, path, paths, err);
}
