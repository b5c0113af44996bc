/* SPDX-License-Identifier: MIT */
/*
 * An image's index artifact into its repository (distribution spec 1.1,
 * "pushing manifests with subject"): its blobs as any push sends them
 * (only what the registry lacks), then its manifest by digest.  A registry
 * with the referrers API answers that PUT with OCI-Subject and lists the
 * artifact among the subject's referrers itself.  One without it (Debian's
 * docker-registry 2.8) gets the fallback the spec gives clients: the tag
 * "sha256-<hex of the subject>" names an image index of the subject's
 * referrers, which the client reads, extends and puts back.  An older
 * strata index of the same subject is dropped from that list; other
 * referrers (signatures, SBOMs) are kept as they were.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_artifact.h"

static int push_blobs(struct reg_client *c, const char *repo, const char *from,
                      const struct store_index_artifact *a, struct strata_error *err)
{
	for (size_t i = 0; i < a->n_blobs; i++) {
		struct push_blob b = {.size = a->blobs[i].size, .fd = a->blobs[i].fd};
		struct push_progress none = {0};
		enum push_blob_result how;

		snprintf(b.digest, sizeof(b.digest), "%s", a->blobs[i].digest);
		if (store_push_blob(c, NULL, repo, from, &b, &none, &how, err))
			return -1;
	}
	return 0;
}

/* The referrers index the fallback tag names now, or a new empty one. */
static json_t *tag_index(struct reg_client *c, const char *repo, const char *tag,
                         struct strata_error *err)
{
	/* Every manifest type: docker-registry answers 404 for a manifest of a
	 * type not accepted, which must not pass for "no such tag". */
	struct reg_request rq = {.method = "GET",
	                         .accept = MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST
	                                                ", " MT_DOCKER_MANIFEST,
	                         .max_body = JSON_BLOB_MAX};
	struct reg_response rs;
	char path[1024], scope[600], what[700];
	json_t *j = NULL;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, tag);
	snprintf(scope, sizeof(scope), "repository:%s:push,pull", repo);
	snprintf(what, sizeof(what), "%s:%s", repo, tag);
	rq.path = path;
	rq.scope = scope;
	if (store_reg_request(c, &rq, &rs, err))
		return NULL;
	if (rs.status == 404)
		j = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
		              "manifests");
	else if (rs.status != 200)
		store_reg_status_error(c, what, &rs, err);
	else if ((j = store_json_parse(rs.body, rs.len, what, err)) &&
	         (!json_is_array(json_object_get(j, "manifests")) ||
	          !store_json_str(j, "mediaType") ||
	          strcmp(store_json_str(j, "mediaType"), MT_OCI_INDEX) != 0)) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0,
		            "%s: %s: the tag holds no image index, so it cannot list referrers",
		            c->registry, what);
		json_decref(j);
		j = NULL;
	}
	if (rs.status == 404 && !j)
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	store_reg_response_free(&rs);
	return j;
}

/* @list without strata indexes other than @digest, and with it. */
static int list_artifact(json_t *list, const struct store_index_artifact *a)
{
	json_t *m = json_object_get(list, "manifests"), *d;
	size_t i = 0;

	while (i < json_array_size(m)) {
		const char *at = store_json_str(json_array_get(m, i), "artifactType");

		if (at && strcmp(at, AT_STRATA_INDEX) == 0)
			json_array_remove(m, i);
		else
			i++;
	}
	d = json_pack("{s:s, s:s, s:I, s:s}", "mediaType", MT_OCI_MANIFEST, "digest", a->digest,
	              "size", (json_int_t)a->manifest_len, "artifactType", AT_STRATA_INDEX);
	return json_array_append_new(m, d);
}

static int update_tag(struct reg_client *c, const char *repo, const struct store_index_artifact *a,
                      const struct index_artifact_subject *subject, struct strata_error *err)
{
	char tag[STORE_DIGEST_MAX], *text = NULL;
	json_t *list;
	int rc = -1;

	snprintf(tag, sizeof(tag), "sha256-%s", digest_hex(subject->digest));
	list = tag_index(c, repo, tag, err);
	if (!list)
		return -1;
	if (list_artifact(list, a) ||
	    !(text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	else
		rc = store_reg_put_manifest(c, repo, tag, text, strlen(text), MT_OCI_INDEX, NULL,
		                            err);
	free(text);
	json_decref(list);
	return rc;
}

int store_index_artifact_push(struct reg_client *c, const char *repo, const char *from,
                              const struct store_index_artifact *a,
                              const struct index_artifact_subject *subject,
                              struct strata_error *err)
{
	bool has_referrers = false;

	if (push_blobs(c, repo, from, a, err) ||
	    store_reg_put_manifest(c, repo, a->digest, a->manifest, a->manifest_len,
	                           MT_OCI_MANIFEST, &has_referrers, err))
		return -1;
	return has_referrers ? 0 : update_tag(c, repo, a, subject, err);
}
