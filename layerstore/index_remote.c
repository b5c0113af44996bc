/* SPDX-License-Identifier: MIT */
/*
 * strata index --push: the index artifact of an image already in a
 * registry (pushed there by another tool), attached there.  Each layer is
 * read once: the image is pulled into the store, which indexes every layer
 * as it downloads (a layer the store holds is not downloaded again), and
 * the artifact is built from those indexes and pushed to the image's own
 * repository, with the registry's manifest, byte for byte, as its subject.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_artifact.h"

/* The image's own repository: where the reference names, not a mirror. */
static int target(const char *ref, struct store_reference *q, struct strata_error *err)
{
	struct store_reference r;
	int rc;

	if (store_reference_parse(ref, &r, err))
		return -1;
	if (!r.registry) {
		store_reference_free(&r);
		return strata_fail(err, STRATA_ERR_OPTION, EINVAL,
		                   "%s: name the registry (an index goes where the image is)", ref);
	}
	rc = store_reference_qualify(&r, r.registry, q, err);
	store_reference_free(&r);
	return rc;
}

static int attach(struct store *s, const struct store_reference *q, const struct store_image *img,
                  const struct store_index_push_options *o, struct store_pushed *out,
                  struct strata_error *err)
{
	struct index_artifact_subject sub = {.media_type = img->manifest_media_type,
	                                     .digest = img->digest,
	                                     .size = img->manifest_size};
	struct store_pull_source t = {0};
	struct store_index_artifact a;
	struct reg_client *c = NULL;
	int rc;

	if (store_push_target(q, &t, err))
		return -1;
	if (store_index_artifact_build(s, img, &sub, &a, err)) {
		free(t.registry);
		free(t.repository);
		return -1;
	}
	rc = a.n_layers ? 0
	                : strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
	                              "%s: no layer of it is read in place: no index to push",
	                              img->digest);
	if (rc == 0)
		rc = store_reg_client_new(t.registry, t.insecure || o->tls_verify_off, 0, &c, err);
	if (rc == 0)
		rc = store_index_artifact_push(c, t.repository, NULL, &a, &sub, err);
	if (rc == 0) {
		snprintf(out->digest, sizeof(out->digest), "%s", img->digest);
		snprintf(out->index_digest, sizeof(out->index_digest), "%s", a.digest);
		out->n_indexed = a.n_layers;
	}
	store_reg_client_free(c);
	store_index_artifact_free(&a);
	free(t.registry);
	free(t.repository);
	return rc;
}

int store_index_push(struct store *s, const char *ref, const struct store_index_push_options *o,
                     struct store_pushed *out, struct strata_error *err)
{
	struct store_pull_options po = {.platform = o->platform,
	                                .tls_verify_off = o->tls_verify_off,
	                                .max_layer_size = o->max_layer_size,
	                                .progress = o->progress,
	                                .progress_ctx = o->progress_ctx};
	struct store_reference q;
	struct store_pulled pulled;
	struct store_image *img = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (target(ref, &q, err))
		return -1;
	rc = store_pull(s, ref, &po, &pulled, err);
	if (rc == 0)
		rc = store_resolve(s, pulled.digest, &img, err);
	if (rc == 0)
		rc = attach(s, &q, img, o, out, err);
	store_image_free(img);
	store_pulled_free(&pulled);
	store_reference_free(&q);
	return rc;
}
