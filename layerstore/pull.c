/* SPDX-License-Identifier: MIT */
/*
 * strata pull: an image from a registry into the store.
 *
 * The reference is resolved as podman resolves it (registries.conf: the
 * search list for an unqualified name, a [[registry]]'s location, its
 * mirrors first).  From the first source that has it: the manifest (an
 * index resolved to the platform), the config, then the layer blobs the
 * store lacks, in parallel, each hashed and indexed as it downloads
 * (pull_blob.c).  Config and manifest are stored last, then the name, in
 * one index.json update: a pull that fails or is killed leaves no name.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_dl.h"
#include "crypto_dl.h"
#include "curl_dl.h"
#include "lazy_blob.h"
#include "registry.h"

void store_pulled_free(struct store_pulled *p)
{
	free(p->name);
	p->name = NULL;
}

static void tell(const struct store_pull_options *o, const char *fmt, const char *a, const char *b)
{
	char msg[1200];

	if (!o->warn)
		return;
	snprintf(msg, sizeof(msg), fmt, a, b);
	o->warn(o->warn_ctx, msg);
}

/* The layers of @manifest with the diff-ids of @config, checked. */
static int read_layers(json_t *manifest, json_t *config, const char *digest,
                       struct pull_layer **out, size_t *n, struct strata_error *err)
{
	json_t *layers = json_object_get(manifest, "layers");
	json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids"), *l;
	size_t i;

	if (!json_is_array(layers) || !json_is_array(diff_ids) ||
	    json_array_size(layers) != json_array_size(diff_ids))
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "image %s: the config's rootfs.diff_ids do not match its layers",
		                   digest);
	*n = json_array_size(layers);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (!*out)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	json_array_foreach(layers, i, l)
	{
		const char *d = store_json_str(l, "digest"), *mt = store_json_str(l, "mediaType");
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		json_t *size = json_object_get(l, "size");

		if (!store_layer_media_type_known(mt))
			return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
			                   "layer %s: unknown media type '%s'", d ? d : "",
			                   mt ? mt : "");
		if (!store_digest_valid(d) || !store_digest_valid(diff_id) ||
		    !json_is_integer(size) || json_integer_value(size) < 0)
			return strata_fail(err, STRATA_ERR_CORRUPT, 0,
			                   "image %s: layer %zu: bad descriptor", digest, i);
		snprintf((*out)[i].digest, STORE_DIGEST_MAX, "%s", d);
		snprintf((*out)[i].diff_id, STORE_DIGEST_MAX, "%s", diff_id);
		(*out)[i].size = (uint64_t)json_integer_value(size);
	}
	return 0;
}

/* The config: from the store when it is there, else from the registry. */
static json_t *get_config(struct reg_client *c, struct store *s, const char *repo, json_t *manifest,
                          char **text, size_t *len, struct strata_error *err)
{
	json_t *desc = json_object_get(manifest, "config"), *size = json_object_get(desc, "size");
	const char *d = store_json_str(desc, "digest"), *mt = store_json_str(desc, "mediaType");
	json_t *j;

	if (!store_digest_valid(d) || !json_is_integer(size) || json_integer_value(size) < 0) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: the manifest's config: bad descriptor",
		            c->registry);
		return NULL;
	}
	if (!mt || (strcmp(mt, MT_OCI_CONFIG) && strcmp(mt, MT_DOCKER_CONFIG))) {
		strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		            "%s: config %s: media type '%s' is not an image's", c->registry, d,
		            mt ? mt : "");
		return NULL;
	}
	*text = store_blob_exists(s, d)
	            ? store_blob_read_json(s, d, (uint64_t)json_integer_value(size), len, err)
	            : store_reg_get_blob_small(c, repo, d, (uint64_t)json_integer_value(size), len,
	                                       err);
	if (!*text)
		return NULL;
	j = store_json_parse(*text, *len, "config", err);
	if (!j) {
		free(*text);
		*text = NULL;
	}
	return j;
}

/* Stores config and manifest (hashed again on the way in), then the name. */
static int name_image(struct store *s, const struct reg_manifest *m, const char *config,
                      size_t config_len, const char *name, struct strata_error *err)
{
	char digest[STORE_DIGEST_MAX];
	const char *mt =
	    strcmp(m->media_type, MT_DOCKER_MANIFEST) == 0 ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST;
	json_t *index;
	int rc;

	if (store_blob_put(s, config, config_len, digest, err) ||
	    store_blob_put(s, m->body, m->len, digest, err))
		return -1;
	if (strcmp(digest, m->digest) != 0)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "manifest %s: stored as %s",
		                   m->digest, digest);
	if (store_index_lock(s, &index, err))
		return -1;
	rc = store_index_add(index, m->digest, m->len, mt, name, err);
	if (rc == 0)
		rc = store_index_save(s, index, err);
	store_index_unlock(s, index);
	return rc;
}

/* The layers of @all the store lacks. */
static size_t missing_layers(struct store *s, struct pull_layer *all, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t d = 0; d < k; d++)
			dup |= strcmp(all[d].digest, all[i].digest) == 0;
		if (!dup && !store_blob_exists(s, all[i].digest))
			all[k++] = all[i];
	}
	return k;
}

/* --lazy: what the index artifact describes stays lazy, out of @layers. */
static int lazy_layers(struct reg_client *c, struct store *s, const struct store_pull_source *src,
                       const char *image, struct pull_layer *layers,
                       const struct store_pull_options *o, struct store_pulled *out,
                       struct strata_error *err)
{
	size_t n = out->n_fetched;

	if (store_pull_lazy_layers(c, s, src, image, layers, &n, src->insecure || o->tls_verify_off,
	                           err))
		return -1;
	out->n_lazy = out->n_fetched - n;
	out->n_fetched = n;
	return 0;
}

/* Without --lazy: layers the store holds lazily are completed, the rest
 * stays in @layers to pull. */
static int complete_layers(struct store *s, struct pull_layer *layers,
                           const struct store_pull_options *o, struct store_pulled *out,
                           struct strata_error *err)
{
	size_t k = 0;

	(void)o;
	for (size_t i = 0; i < out->n_fetched; i++) {
		if (!store_lazy_exists(s, layers[i].digest)) {
			layers[k++] = layers[i];
			continue;
		}
		if (store_lazy_complete_layer(s, layers[i].digest, layers[i].diff_id, err)) {
			/* Whole, not itself: its artifact lied.  Marked bad, its
			 * lazy files gone; the registry's blob is pulled whole
			 * (and checked) instead. */
			if (!store_lazy_is_bad(s, layers[i].digest, NULL, 0))
				return -1;
			layers[k++] = layers[i];
			continue;
		}
		out->n_completed++;
	}
	out->n_fetched = k;
	return 0;
}

static int pull_from(struct store *s, const struct store_reference *q,
                     const struct store_pull_source *src, const struct store_pull_options *o,
                     struct store_pulled *out, struct strata_error *err)
{
	struct reg_client *c = NULL;
	struct reg_manifest m = {0};
	struct pull_layer *layers = NULL;
	json_t *manifest = NULL, *config = NULL;
	char *config_text = NULL;
	size_t config_len, n = 0;
	int rc = -1;

	if (store_reg_client_new(src->registry, src->insecure || o->tls_verify_off, 0, &c, err) ||
	    store_reg_get_manifest(c, s, src->repository, q->digest ? q->digest : q->tag,
	                           o->platform, &m, &manifest, err))
		goto out;
	config = get_config(c, s, src->repository, manifest, &config_text, &config_len, err);
	if (!config || read_layers(manifest, config, m.digest, &layers, &n, err))
		goto out;
	out->n_layers = n;
	out->n_fetched = missing_layers(s, layers, n);
	if (o->lazy ? lazy_layers(c, s, src, m.digest, layers, o, out, err)
	            : complete_layers(s, layers, o, out, err))
		goto out;
	if (!o->lazy && o->verify != STORE_VERIFY_NOW)
		store_pull_artifact_indexes(c, s, src, m.digest, layers, out->n_fetched, o);
	if (store_pull_layers(c, s, src->repository, layers, out->n_fetched, o, err))
		goto out;
	for (size_t i = 0; i < out->n_fetched; i++)
		out->n_adopted += layers[i].adopted;
	if (!(out->name = store_reference_store_name(q))) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	rc = name_image(s, &m, config_text, config_len, out->name, err);
	snprintf(out->digest, STORE_DIGEST_MAX, "%s", m.digest);
out:
	for (size_t i = 0; layers && i < out->n_fetched; i++)
		free(layers[i].index);
	free(layers);
	free(config_text);
	json_decref(config);
	json_decref(manifest);
	store_reg_manifest_free(&m);
	store_reg_client_free(c);
	return rc;
}

/* Every source of one qualified reference, mirrors first. */
static int pull_qualified(struct store *s, const struct store_registries *conf,
                          const struct store_reference *q, const struct store_pull_options *o,
                          struct store_pulled *out, struct strata_error *err)
{
	struct store_pull_source *v;
	size_t n;
	int rc = -1;

	if (store_registries_sources(conf, q, &v, &n, err))
		return -1;
	for (size_t i = 0; i < n && rc; i++) {
		rc = pull_from(s, q, &v[i], o, out, err);
		if (rc && i + 1 < n)
			tell(o, "%s: %s; trying the next source", v[i].registry, err->msg);
		if (rc)
			store_pulled_free(out);
	}
	store_pull_sources_free(v, n);
	return rc;
}

static int pull_ref(struct store *s, const struct store_reference *r,
                    const struct store_pull_options *o, struct store_pulled *out,
                    struct strata_error *err)
{
	struct store_registries conf;
	const char *const *search;
	size_t n;
	int rc = -1;

	if (store_registries_load(&conf, err))
		return -1;
	n = r->registry ? 1 : store_registries_search(&conf, &search);
	if (n == 0)
		strata_fail(err, STRATA_ERR_OPTION, EINVAL,
		            "%s: a short name, and registries.conf lists no "
		            "unqualified-search-registries: name the registry",
		            r->repository);
	for (size_t i = 0; i < n && rc; i++) {
		struct store_reference q;

		if (store_reference_qualify(r, r->registry ? r->registry : search[i], &q, err))
			break;
		rc = pull_qualified(s, &conf, &q, o, out, err);
		if (rc && i + 1 < n)
			tell(o, "%s: %s", q.registry, err->msg);
		store_reference_free(&q);
	}
	store_registries_free(&conf);
	return rc;
}

int store_pull(struct store *s, const char *ref, const struct store_pull_options *o,
               struct store_pulled *out, struct strata_error *err)
{
	struct store_reference r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (s->tmp_fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, EACCES, "store %s: cannot write to it",
		                   s->root);
	if (store_reference_parse(ref, &r, err))
		return -1;
	if (dl_curl_load(err) || dl_crypto_load(err) || dl_archive_load(err) ||
	    store_import_lock(s, false, err)) {
		store_reference_free(&r);
		return -1;
	}
	rc = pull_ref(s, &r, o, out, err);
	store_import_unlock(s);
	store_reference_free(&r);
	return rc;
}
