/* SPDX-License-Identifier: MIT */
/*
 * fsck: trust no name.  Every blob is rehashed, every reference in
 * index.json, manifests and configs followed, every layer's index checked
 * and every decompressed copy rehashed against its diff-id.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto_dl.h"
#include "lazy_blob.h"
#include "store.h"
#include "sys.h"

struct fsck {
	struct store *s;
	FILE *report;
	long problems;
};

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f->report, fmt, ap);
	va_end(ap);
	fputc('\n', f->report);
	f->problems++;
}

static void check_blobs(struct fsck *f)
{
	DIR *d = sys_opendir_at(f->s->blobs_fd);
	struct dirent *de;

	if (!d) {
		problem(f, "blobs/sha256: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		char want[STORE_DIGEST_MAX], have[STORE_DIGEST_MAX];
		struct stat st;
		int bfd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strlen(de->d_name) != 64 ||
		    (snprintf(want, sizeof(want), "sha256:%.64s", de->d_name),
		     !store_digest_valid(want))) {
			problem(f, "blobs/sha256/%s: not named by a digest", de->d_name);
			continue;
		}
		if (fstatat(f->s->blobs_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			problem(f, "blob %s: %s", want, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			problem(f, "blob %s: %s", want,
			        S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
			continue;
		}
		bfd = openat(f->s->blobs_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (bfd < 0 || store_digest_fd(bfd, have) < 0)
			problem(f, "blob %s: %s", want, strerror(errno));
		else if (strcmp(have, want) != 0)
			problem(f, "blob %s: content has digest %s", want, have);
		if (bfd >= 0)
			close(bfd);
	}
	closedir(d);
}

/* A layer pulled lazily: each piece fetched so far against its digest. */
static void check_lazy(struct fsck *f, const struct store_image *img, const struct store_layer *l)
{
	struct strata_error err;
	uint64_t fetched;
	size_t bad;

	if (store_lazy_check(f->s, l->digest, &fetched, &bad, &err))
		problem(f, "image %s: lazy layer %s: %s", img->digest, l->digest, err.msg);
	else if (bad)
		problem(f, "image %s: lazy layer %s: %zu pieces do not match their digests",
		        img->digest, l->digest, bad);
}

static void check_layer(struct fsck *f, const struct store_image *img, const struct store_layer *l)
{
	struct strata_layer_options lo = {.cache_dir = f->s->layer_cache};
	struct strata_error err;
	char path[PATH_MAX], have[STORE_DIGEST_MAX], source[STORE_DIGEST_MAX], key[LAYER_KEY_MAX];
	char why[256];
	uint64_t size;
	int fd, r;

	if (!store_blob_exists(f->s, l->digest) && store_lazy_exists(f->s, l->digest)) {
		check_lazy(f, img, l);
		return;
	}
	if (!store_blob_exists(f->s, l->digest) &&
	    store_lazy_is_bad(f->s, l->digest, why, sizeof(why))) {
		problem(f, "image %s: lazy layer %s is bad (%s): `strata pull` fetches it whole",
		        img->digest, l->digest, why);
		return;
	}
	fd = store_blob_open(f->s, l->digest, &size, &err);
	if (fd < 0) {
		problem(f, "image %s: %s", img->digest, err.msg);
		return;
	}
	if (store_adopted_failed(f->s, l->digest, why, sizeof(why)))
		problem(f, "image %s: layer %s failed verification: %s", img->digest, l->digest,
		        why);
	close(fd);
	if (size != l->size)
		problem(f, "image %s: layer %s: %llu bytes, manifest says %llu", img->digest,
		        l->digest, (unsigned long long)size, (unsigned long long)l->size);
	if (!strstr(l->media_type, "gzip") && !strstr(l->media_type, "zstd") &&
	    strcmp(l->digest, l->diff_id) != 0)
		problem(f, "image %s: layer %s: uncompressed, but its diff-id is %s", img->digest,
		        l->digest, l->diff_id);
	store_layer_source(f->s, l, source);
	store_layer_cache_key(l->diff_id, source, key);
	lo.cache_key = key;
	store_blob_path(f->s, source, path, sizeof(path));
	r = strata_layer_check_index(path, &lo, &err);
	if (r < 0)
		problem(f, "layer %s: %s (the next mount rebuilds it)", l->digest, err.msg);
	if (r != 0 || strcmp(source, l->diff_id) == 0)
		return;
	/* A compressed layer's decompressed copy must be its diff-id. */
	snprintf(path, sizeof(path), "%s/%s.tar", f->s->layer_cache, key);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && store_digest_fd(fd, have) == 0 && strcmp(have, l->diff_id) != 0)
		problem(f, "layer %s: decompressed copy %s has digest %s", l->digest, path, have);
	if (fd >= 0)
		close(fd);
}

/* Names given to more than one entry: another tool wrote index.json
 * without strata's lock (store.md: other tools may read, not write). */
static void check_names(struct fsck *f, json_t *manifests)
{
	json_t *a, *b;
	size_t i, k;

	json_array_foreach(manifests, i, a)
	{
		const char *name =
		    store_json_str(json_object_get(a, "annotations"), ANNOTATION_REF_NAME);
		size_t same = 1;
		bool first = true;

		json_array_foreach(manifests, k, b)
		{
			const char *other =
			    store_json_str(json_object_get(b, "annotations"), ANNOTATION_REF_NAME);

			if (!name || k == i || !other || strcmp(name, other) != 0)
				continue;
			first &= k > i;
			same++;
		}
		if (same > 1 && first)
			problem(f, "index.json: %s names %zu entries", name, same);
	}
}

static void check_images(struct fsck *f, struct strata_error *err)
{
	json_t *index, *m;
	size_t i;

	if (store_index_load(f->s, &index, err)) {
		problem(f, "%s", err->msg);
		return;
	}
	check_names(f, json_object_get(index, "manifests"));
	json_array_foreach(json_object_get(index, "manifests"), i, m)
	{
		const char *d = store_json_str(m, "digest");
		const char *name =
		    store_json_str(json_object_get(m, "annotations"), ANNOTATION_REF_NAME);
		json_t *size = json_object_get(m, "size");
		struct store_image *img;

		if (!store_digest_valid(d) || !json_is_integer(size)) {
			problem(f, "index.json: entry %zu: bad descriptor", i);
			continue;
		}
		if (store_image_load(f->s, d, (uint64_t)json_integer_value(size), &img, err)) {
			problem(f, "image %s (%s): %s", d, name ? name : "untagged", err->msg);
			continue;
		}
		for (size_t k = 0; k < img->n_layers; k++)
			check_layer(f, img, &img->layers[k]);
		store_image_free(img);
	}
	json_decref(index);
}

static void adopted_problem(void *ctx, const char *msg)
{
	problem(ctx, "%s", msg);
}

/* Layers whose index a pull adopted are verified first (verify.c). */
static void verify_adopted(struct fsck *f)
{
	struct store_verify_options o = {.warn = adopted_problem, .warn_ctx = f};
	struct store_verify_result res;
	struct strata_error err;

	if (store_verify_adopted(f->s, &o, &res, &err))
		problem(f, "%s", err.msg);
}

long store_fsck(struct store *s, FILE *report, struct strata_error *err)
{
	struct fsck f = {.s = s, .report = report};
	struct stat st;

	if (dl_crypto_load(err))
		return -1;
	if (fstatat(s->root_fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		problem(&f, "oci-layout: missing or not a file");
	check_blobs(&f);
	verify_adopted(&f);
	check_images(&f, err);
	return f.problems;
}
