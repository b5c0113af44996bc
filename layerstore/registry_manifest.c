/* SPDX-License-Identifier: MIT */
/*
 * Manifests from a registry: by tag or digest, HEAD first (it costs no
 * pull on rate-limited registries, and a manifest the store already holds
 * is not fetched again), then GET with the media types strata reads.  Every
 * manifest is hashed and checked: against the digest asked for, else the
 * one the registry says it served.  An image index resolves to the
 * manifest for the platform wanted, as import resolves it.  Small blobs
 * (configs) come through here too, checked the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_dl.h"
#include "registry.h"

#define ACCEPT MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

void store_reg_manifest_free(struct reg_manifest *m)
{
	free(m->body);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

static bool is_schema1(const char *mt, json_t *j)
{
	json_t *v = json_object_get(j, "schemaVersion");

	return (mt && strstr(mt, "distribution.manifest.v1")) ||
	       (json_is_integer(v) && json_integer_value(v) == 1);
}

/* Checks @body against @want (or, when NULL, @said by the registry), and
 * sets @out->digest. */
static int check_digest(struct reg_client *c, const char *what, const char *body, size_t len,
                        const char *want, const char *said, char out[STORE_DIGEST_MAX],
                        struct strata_error *err)
{
	if (store_digest_buffer(body, len, out))
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	if (want && strcmp(want, out) != 0)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "%s: %s: digest mismatch: asked for %s, got %s", c->registry,
		                   what, want, out);
	if (!want && said && store_digest_valid(said) && strcmp(said, out) != 0)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "%s: %s: digest mismatch: the registry says %s, content is %s",
		                   c->registry, what, said, out);
	return 0;
}

/* HEAD: the digest the reference stands for, when the registry says. */
static void head_digest(struct reg_client *c, const char *path, const char *scope,
                        char out[STORE_DIGEST_MAX])
{
	struct reg_request rq = {.method = "HEAD", .path = path, .scope = scope, .accept = ACCEPT};
	struct reg_response rs;
	struct strata_error ignored;

	out[0] = '\0';
	if (store_reg_request(c, &rq, &rs, &ignored))
		return; /* the GET says why, if it fails too */
	if (rs.status == 200 && store_digest_valid(rs.digest))
		snprintf(out, STORE_DIGEST_MAX, "%s", rs.digest);
	store_reg_response_free(&rs);
}

/* The manifest @reference (tag or digest) of @repo, as stored bytes. */
static int get_one(struct reg_client *c, struct store *s, const char *repo, const char *reference,
                   struct reg_manifest *out, struct strata_error *err)
{
	char path[1024], scope[600], what[700], known[STORE_DIGEST_MAX];
	const char *want = store_digest_valid(reference) ? reference : NULL;
	struct reg_request rq = {.method = "GET", .accept = ACCEPT, .max_body = JSON_BLOB_MAX};
	struct reg_response rs;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, reference);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	snprintf(what, sizeof(what), "manifest %s:%s", repo, reference);
	rq.path = path;
	rq.scope = scope;
	head_digest(c, path, scope, known);
	if (want && known[0] && strcmp(known, want) != 0)
		known[0] = '\0';
	if (known[0] && store_blob_exists(s, known)) {
		/* Already here: read back (and rehashed) from the store. */
		out->body = store_blob_read_json(s, known, UINT64_MAX, &out->len, err);
		if (!out->body)
			return -1;
		snprintf(out->digest, STORE_DIGEST_MAX, "%s", known);
		return 0;
	}
	if (store_reg_request(c, &rq, &rs, err))
		return -1;
	if (rs.status != 200) {
		int rc = store_reg_status_error(c, what, &rs, err);

		store_reg_response_free(&rs);
		return rc;
	}
	if (check_digest(c, what, rs.body ? rs.body : "", rs.len, want, rs.digest, out->digest,
	                 err)) {
		store_reg_response_free(&rs);
		return -1;
	}
	out->body = rs.body ? rs.body : strdup("");
	out->len = rs.len;
	out->media_type = rs.content_type;
	rs.body = rs.content_type = NULL;
	store_reg_response_free(&rs);
	return out->body ? 0 : strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

/* The media type a manifest says it has, or the Content-Type it came with. */
static int classify(struct reg_client *c, struct reg_manifest *m, json_t **json,
                    struct strata_error *err)
{
	const char *mt;

	*json = json_loadb(m->body, m->len, 0, NULL);
	if (!json_is_object(*json)) {
		json_decref(*json);
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: manifest %s: not a JSON object",
		                   c->registry, m->digest);
	}
	mt = store_json_str(*json, "mediaType");
	/* OCI makes mediaType optional: what the manifest holds tells. */
	if (!mt && !m->media_type)
		mt = json_object_get(*json, "manifests") ? MT_OCI_INDEX
		     : json_object_get(*json, "layers")  ? MT_OCI_MANIFEST
		                                         : NULL;
	if (mt) {
		free(m->media_type);
		m->media_type = strdup(mt);
	}
	if (is_schema1(m->media_type, *json)) {
		json_decref(*json);
		return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		                   "%s: manifest %s: Docker schema 1, which strata does not read "
		                   "(convert it: skopeo copy --format v2s2)",
		                   c->registry, m->digest);
	}
	if (!m->media_type || (!store_media_type_is_index(m->media_type) &&
	                       !store_media_type_is_manifest(m->media_type))) {
		json_decref(*json);
		return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		                   "%s: manifest %s: unknown media type '%s'", c->registry,
		                   m->digest, m->media_type ? m->media_type : "");
	}
	return 0;
}

int store_reg_get_manifest(struct reg_client *c, struct store *s, const char *repo,
                           const char *reference, const char *platform, struct reg_manifest *out,
                           json_t **json, struct strata_error *err)
{
	char want[256], seen[1024];
	const char *digest;
	json_t *d;

	memset(out, 0, sizeof(*out));
	if (dl_crypto_load(err) || get_one(c, s, repo, reference, out, err) ||
	    classify(c, out, json, err))
		goto fail;
	if (!store_media_type_is_index(out->media_type))
		return 0;
	d = store_platform_pick(*json, platform, want, seen);
	digest = store_json_str(d, "digest");
	if (!d || !store_digest_valid(digest)) {
		strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		            "%s/%s:%s: no image for %s (it has: %s); see --platform", c->registry,
		            repo, reference, want, seen[0] ? seen : "none");
		json_decref(*json);
		goto fail;
	}
	digest = strdup(digest);
	json_decref(*json);
	store_reg_manifest_free(out);
	if (!digest)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (get_one(c, s, repo, digest, out, err) || classify(c, out, json, err)) {
		free((char *)digest);
		goto fail;
	}
	free((char *)digest);
	if (store_media_type_is_manifest(out->media_type))
		return 0;
	json_decref(*json);
	strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: an index in an index: refused", c->registry);
fail:
	store_reg_manifest_free(out);
	*json = NULL;
	return -1;
}

char *store_reg_get_blob_small(struct reg_client *c, const char *repo, const char *digest,
                               uint64_t size, size_t *len, struct strata_error *err)
{
	if (size > JSON_BLOB_MAX) {
		strata_fail(err, STRATA_ERR_CORRUPT, EFBIG,
		            "%s: blob %s: %llu bytes, too big for JSON", c->registry, digest,
		            (unsigned long long)size);
		return NULL;
	}
	return store_reg_get_blob_mem(c, repo, digest, size, len, err);
}

char *store_reg_get_blob_mem(struct reg_client *c, const char *repo, const char *digest,
                             uint64_t size, size_t *len, struct strata_error *err)
{
	char path[1024], scope[600], what[200], got[STORE_DIGEST_MAX];
	/* Not a byte more than the descriptor says. */
	struct reg_request rq = {.method = "GET", .max_body = size ? (size_t)size : 1};
	struct reg_response rs;
	char *body;

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	snprintf(what, sizeof(what), "blob %s", digest);
	rq.path = path;
	rq.scope = scope;
	if (store_reg_request(c, &rq, &rs, err))
		return NULL;
	if (rs.status != 200) {
		store_reg_status_error(c, what, &rs, err);
		store_reg_response_free(&rs);
		return NULL;
	}
	if (check_digest(c, what, rs.body ? rs.body : "", rs.len, digest, NULL, got, err) ||
	    (rs.len != size &&
	     strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: %s: %zu bytes, the manifest says %llu",
	                 c->registry, what, rs.len, (unsigned long long)size))) {
		store_reg_response_free(&rs);
		return NULL;
	}
	body = rs.body ? rs.body : strdup("");
	*len = rs.len;
	rs.body = NULL;
	store_reg_response_free(&rs);
	return body;
}
