/* SPDX-License-Identifier: MIT */
/*
 * strata pull --lazy: the layers an index artifact describes (docs/
 * index-artifact.md) are not downloaded: their index goes into the layer
 * cache (adopted: validated whole) and their chunk table beside a sparse
 * copy of the blob (lazy_blob.c), which reads fill.  Layers it does not
 * describe are pulled whole, as without --lazy.
 *
 * The artifact is found from the image's manifest digest: the referrers
 * API, else the sha256-<hex> tag.  Its manifest is checked against the
 * digest the list gives, and must name the image as its subject; each of
 * its blobs is checked against its digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index_artifact.h"
#include "lazy_blob.h"
#include "sys.h"

/* The digest of strata's artifact in the referrers list @list, or NULL. */
static const char *artifact_in(json_t *list)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(list, "manifests"), i, d)
	{
		const char *at = store_json_str(d, "artifactType");

		if (at && strcmp(at, AT_STRATA_INDEX) == 0 &&
		    store_digest_valid(store_json_str(d, "digest")))
			return store_json_str(d, "digest");
	}
	return NULL;
}

/* GET @path as an image index: the parsed list, or NULL (*@status says
 * what the registry answered; -1: no answer, @err says why). */
static json_t *get_list(struct reg_client *c, const char *path, const char *scope, long *status,
                        struct strata_error *err)
{
	struct reg_request rq = {.method = "GET",
	                         .path = path,
	                         .scope = scope,
	                         .accept = MT_OCI_INDEX,
	                         .max_body = JSON_BLOB_MAX};
	struct reg_response rs;
	json_t *j = NULL;

	*status = -1;
	if (store_reg_request(c, &rq, &rs, err))
		return NULL;
	*status = rs.status;
	if (rs.status == 200)
		j = store_json_parse(rs.body, rs.len, path, err);
	store_reg_response_free(&rs);
	return j;
}

/* The artifact's digest for image @digest of @repo: 1 found, 0 none, -1. */
static int find_artifact(struct reg_client *c, const char *repo, const char *digest,
                         char out[STORE_DIGEST_MAX], struct strata_error *err)
{
	char path[1024], scope[600];
	const char *found;
	json_t *list;
	long status;

	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s?artifactType=%s", repo, digest,
	         AT_STRATA_INDEX);
	list = get_list(c, path, scope, &status, err);
	if (!list && status < 0)
		return -1;
	if (!list) { /* no referrers API (404 and others): the tag */
		snprintf(path, sizeof(path), "/v2/%s/manifests/sha256-%s", repo,
		         digest_hex(digest));
		list = get_list(c, path, scope, &status, err);
		if (!list)
			return status == 404 ? 0 : -1;
	}
	found = artifact_in(list);
	if (found)
		snprintf(out, STORE_DIGEST_MAX, "%s", found);
	json_decref(list);
	return found ? 1 : 0;
}

/* The artifact manifest, checked: its digest, type and subject. */
static json_t *get_artifact(struct reg_client *c, struct store *s, const char *repo,
                            const char *digest, const char *image, struct strata_error *err)
{
	struct reg_manifest m;
	json_t *j;
	const char *at, *subject;

	if (store_reg_get_manifest(c, s, repo, digest, NULL, &m, &j, err))
		return NULL;
	store_reg_manifest_free(&m);
	at = store_json_str(j, "artifactType");
	subject = store_json_str(json_object_get(j, "subject"), "digest");
	if (!at || strcmp(at, AT_STRATA_INDEX) != 0 || !subject || strcmp(subject, image) != 0) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0,
		            "%s: index artifact %.19s: not strata's index of image %.19s",
		            c->registry, digest, image);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The descriptor of @mt for layer @layer in artifact @a, or NULL. */
static json_t *blob_for(json_t *a, const char *layer, const char *mt)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(a, "layers"), i, d)
	{
		const char *l = store_json_str(json_object_get(d, "annotations"), ANNOTATION_LAYER);
		const char *m = store_json_str(d, "mediaType");

		if (l && m && strcmp(l, layer) == 0 && strcmp(m, mt) == 0 &&
		    json_is_integer(json_object_get(d, "size")) &&
		    store_digest_valid(store_json_str(d, "digest")))
			return d;
	}
	return NULL;
}

static char *get_described(struct reg_client *c, const char *repo, json_t *d, uint64_t max,
                           size_t *len, struct strata_error *err)
{
	json_int_t size = json_integer_value(json_object_get(d, "size"));

	if (size < 0 || (uint64_t)size > max) {
		strata_fail(err, STRATA_ERR_CORRUPT, EFBIG, "%s: blob %.19s: %lld bytes: refused",
		            c->registry, store_json_str(d, "digest"), (long long)size);
		return NULL;
	}
	return store_reg_get_blob_mem(c, repo, store_json_str(d, "digest"), (uint64_t)size, len,
	                              err);
}

int store_layer_adopt_index(struct store *s, const char *path, const char *digest,
                            const char *diff_id, const char *index, size_t len,
                            struct strata_error *err)
{
	struct strata_layer_options lo = {.cache_dir = s->layer_cache, .name = digest};
	char key[LAYER_KEY_MAX];
	int fd, rc;

	fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || sys_write_all(fd, index, len) < 0) {
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s/strata/tmp: %s", s->root,
		                 strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	store_layer_cache_key(diff_id, digest, key);
	lo.cache_key = key;
	rc = strata_layer_index_adopt(path, &lo, fd, err);
	close(fd);
	return rc;
}

int store_lazy_adopt_index(struct store *s, const char *digest, const char *diff_id,
                           const char *index, size_t len, struct strata_error *err)
{
	char key[LAYER_KEY_MAX], path[PATH_MAX];
	int lock, rc;

	store_lazy_path(s, digest, "", path, sizeof(path));
	store_layer_cache_key(diff_id, digest, key);
	lock = store_layer_cache_lock(s, key);
	rc = store_layer_adopt_index(s, path, digest, diff_id, index, len, err);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* Layer @l made lazy from artifact @a: 1 done, 0 not described, -1. */
static int make_lazy(struct reg_client *c, struct store *s, const struct store_pull_source *src,
                     json_t *a, const struct pull_layer *l, bool insecure, struct strata_error *err)
{
	json_t *di = blob_for(a, l->digest, MT_STRATA_INDEX);
	json_t *dc = blob_for(a, l->digest, MT_STRATA_CHUNKS);
	char *index = NULL, *table = NULL;
	size_t index_len, table_len;
	int rc = -1;

	if (!di || !dc)
		return 0;
	struct store_lazy_source from = {src->registry, src->repository, insecure,
	                                 store_json_str(di, "digest"),
	                                 (uint64_t)json_integer_value(json_object_get(di, "size"))};

	if (!(table = get_described(c, src->repository, dc, JSON_BLOB_MAX, &table_len, err)) ||
	    !(index =
	          get_described(c, src->repository, di, STORE_LAZY_INDEX_MAX, &index_len, err)) ||
	    store_lazy_create(s, l->digest, l->size, table, table_len, &from, err))
		goto out;
	rc = store_lazy_adopt_index(s, l->digest, l->diff_id, index, index_len, err) ? -1 : 1;
	if (rc < 0)
		store_lazy_remove(s, l->digest); /* started over by the next pull */
out:
	free(index);
	free(table);
	return rc;
}

int store_pull_lazy_layers(struct reg_client *c, struct store *s,
                           const struct store_pull_source *src, const char *image,
                           struct pull_layer *layers, size_t *n, bool insecure,
                           struct strata_error *err)
{
	char digest[STORE_DIGEST_MAX];
	size_t k = 0;
	json_t *a;
	int rc = find_artifact(c, src->repository, image, digest, err);

	if (rc <= 0)
		return rc;
	if (!(a = get_artifact(c, s, src->repository, digest, image, err)))
		return -1;
	for (size_t i = 0; i < *n; i++) {
		/* One found bad before (its artifact lied) is pulled whole. */
		if (store_lazy_exists(s, layers[i].digest))
			rc = 1;
		else if (store_lazy_is_bad(s, layers[i].digest, NULL, 0))
			rc = 0;
		else
			rc = make_lazy(c, s, src, a, &layers[i], insecure, err);
		if (rc < 0)
			break;
		if (rc == 0) /* pulled whole */
			layers[k++] = layers[i];
	}
	json_decref(a);
	if (rc < 0)
		return -1;
	*n = k;
	return 0;
}

void store_pull_artifact_indexes(struct reg_client *c, struct store *s,
                                 const struct store_pull_source *src, const char *image,
                                 struct pull_layer *layers, size_t n,
                                 const struct store_pull_options *o)
{
	char digest[STORE_DIGEST_MAX], msg[sizeof(((struct strata_error *)0)->msg) + 128];
	struct strata_error err;
	json_t *a = NULL;
	int rc = n ? find_artifact(c, src->repository, image, digest, &err) : 0;

	if (rc > 0 && !(a = get_artifact(c, s, src->repository, digest, image, &err)))
		rc = -1;
	for (size_t i = 0; rc > 0 && i < n; i++) {
		json_t *di = blob_for(a, layers[i].digest, MT_STRATA_INDEX);

		/* A layer whose artifact lied before is indexed here. */
		if (!di || store_lazy_is_bad(s, layers[i].digest, NULL, 0))
			continue;
		layers[i].index = get_described(c, src->repository, di, STORE_LAZY_INDEX_MAX,
		                                &layers[i].index_len, &err);
		if (!layers[i].index)
			rc = -1;
	}
	json_decref(a);
	/* A registry that cannot be reached says so at the blobs; what is
	 * said here is an artifact that is not right. */
	if (rc < 0 && o->warn &&
	    (err.code == STRATA_ERR_CORRUPT || err.code == STRATA_ERR_INDEX ||
	     err.code == STRATA_ERR_UNSUPPORTED)) {
		snprintf(msg, sizeof(msg),
		         "%s: index artifact: %s; indexing as the layers download", src->registry,
		         err.msg);
		o->warn(o->warn_ctx, msg);
	}
}
