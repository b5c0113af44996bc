/* SPDX-License-Identifier: MIT */
/*
 * Images: finding one by reference, and reading its manifest and config
 * (each checked against its digest) into a struct store_image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char *const layer_types[] = {
    MT_OCI_LAYER,
    MT_OCI_LAYER_GZIP,
    MT_OCI_LAYER_ZSTD,
    MT_DOCKER_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

bool store_layer_media_type_known(const char *mt)
{
	for (size_t i = 0; mt && i < sizeof(layer_types) / sizeof(layer_types[0]); i++)
		if (strcmp(mt, layer_types[i]) == 0)
			return true;
	return false;
}

void store_image_free(struct store_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_layers; i++)
		free(img->layers[i].media_type);
	free(img->layers);
	free(img->manifest_media_type);
	free(img->config_json);
	free(img->created);
	free(img->os);
	free(img->architecture);
	free(img->variant);
	free(img);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int parse_config(struct store_image *img, json_t *config, const char *what,
                        struct strata_error *err)
{
	json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");

	img->created = dup_or_null(store_json_str(config, "created"));
	img->os = dup_or_null(store_json_str(config, "os"));
	img->architecture = dup_or_null(store_json_str(config, "architecture"));
	img->variant = dup_or_null(store_json_str(config, "variant"));
	if (!json_is_array(diff_ids))
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: config has no rootfs.diff_ids",
		                   what);
	if (json_array_size(diff_ids) != img->n_layers)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0,
		                   "%s: config lists %zu diff_ids for %zu layers", what,
		                   json_array_size(diff_ids), img->n_layers);
	for (size_t i = 0; i < img->n_layers; i++) {
		const char *d = json_string_value(json_array_get(diff_ids, i));

		if (!store_digest_valid(d))
			return strata_fail(err, STRATA_ERR_CORRUPT, 0,
			                   "%s: diff_id %zu: '%s' is not a sha256 digest", what, i,
			                   d ? d : "");
		memcpy(img->layers[i].diff_id, d, STORE_DIGEST_MAX);
	}
	return 0;
}

static int parse_layers(struct store_image *img, json_t *layers, const char *what,
                        struct strata_error *err)
{
	size_t i;
	json_t *l;

	if (!json_is_array(layers))
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: manifest has no layers", what);
	img->layers = calloc(json_array_size(layers) + 1, sizeof(*img->layers));
	if (!img->layers)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	json_array_foreach(layers, i, l)
	{
		const char *d = store_json_str(l, "digest"), *mt = store_json_str(l, "mediaType");
		json_t *size = json_object_get(l, "size");

		if (!store_digest_valid(d))
			return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: layer %zu: bad digest",
			                   what, i);
		if (!store_layer_media_type_known(mt))
			return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
			                   "%s: layer %s: unknown media type '%s'", what, d,
			                   mt ? mt : "");
		if (!json_is_integer(size) || json_integer_value(size) < 0)
			return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: layer %s: bad size",
			                   what, d);
		memcpy(img->layers[i].digest, d, STORE_DIGEST_MAX);
		img->layers[i].size = (uint64_t)json_integer_value(size);
		img->layers[i].media_type = strdup(mt);
		img->n_layers = i + 1;
		if (!img->layers[i].media_type)
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	return 0;
}

static int load_config(struct store *s, struct store_image *img, json_t *desc, const char *what,
                       struct strata_error *err)
{
	const char *d = store_json_str(desc, "digest"), *mt = store_json_str(desc, "mediaType");
	json_t *size = json_object_get(desc, "size"), *config;
	size_t len;
	int rc;

	if (!store_digest_valid(d) || !json_is_integer(size))
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: bad config descriptor", what);
	if (!mt || (strcmp(mt, MT_OCI_CONFIG) && strcmp(mt, MT_DOCKER_CONFIG)))
		return strata_fail(err, STRATA_ERR_UNSUPPORTED, 0,
		                   "%s: config: unknown media type '%s'", what, mt ? mt : "");
	memcpy(img->config_digest, d, STORE_DIGEST_MAX);
	img->config_size = (uint64_t)json_integer_value(size);
	img->config_json = store_blob_read_json(s, d, img->config_size, &len, err);
	if (!img->config_json)
		return -1;
	config = store_json_parse(img->config_json, len, d, err);
	if (!config)
		return -1;
	rc = parse_config(img, config, what, err);
	json_decref(config);
	return rc;
}

int store_image_load(struct store *s, const char *digest, uint64_t size, struct store_image **out,
                     struct strata_error *err)
{
	struct store_image *img = calloc(1, sizeof(*img));
	json_t *manifest = NULL;
	const char *mt;
	char *text;
	size_t len;
	int rc = -1;

	if (!img)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	memcpy(img->digest, digest, STORE_DIGEST_MAX);
	text = store_blob_read_json(s, digest, size, &len, err);
	if (!text)
		goto out;
	img->manifest_size = len;
	manifest = store_json_parse(text, len, digest, err);
	free(text);
	if (!manifest)
		goto out;
	mt = store_json_str(manifest, "mediaType");
	if (mt && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST)) {
		strata_fail(err, STRATA_ERR_UNSUPPORTED, 0, "%s: not an image manifest but '%s'",
		            digest, mt);
		goto out;
	}
	img->manifest_media_type = strdup(mt ? mt : MT_OCI_MANIFEST);
	if (!img->manifest_media_type) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (parse_layers(img, json_object_get(manifest, "layers"), digest, err) ||
	    load_config(s, img, json_object_get(manifest, "config"), digest, err))
		goto out;
	*out = img;
	img = NULL;
	rc = 0;
out:
	json_decref(manifest);
	store_image_free(img);
	return rc;
}

/* ---- references ---- */

static bool is_hex_prefix(const char *p)
{
	size_t n = strlen(p);

	return n >= 4 && n <= 64 && strspn(p, "0123456789abcdef") == n;
}

/* The index.json entry @ref names: its position, or -1 (with @err set). */
static long find_entry(json_t *index, const char *ref, struct strata_error *err)
{
	json_t *manifests = json_object_get(index, "manifests"), *m;
	const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
	char *norm = store_ref_normalize(ref);
	long found = -1, by_prefix = -1;
	bool ambiguous = false;
	size_t i;

	if (!norm)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	json_array_foreach(manifests, i, m)
	{
		const char *name =
		    store_json_str(json_object_get(m, "annotations"), ANNOTATION_REF_NAME);
		const char *d = store_json_str(m, "digest");
		char *n = name ? store_ref_normalize(name) : NULL;
		bool match = (name && strcmp(name, ref) == 0) || (n && strcmp(n, norm) == 0);

		free(n);
		if (match && (found < 0 || strcmp(name, ref) == 0))
			found = (long)i;
		if (store_digest_valid(d) && is_hex_prefix(hex) &&
		    strncmp(d + 7, hex, strlen(hex)) == 0) {
			if (by_prefix >= 0 &&
			    strcmp(store_json_str(json_array_get(manifests, (size_t)by_prefix),
			                          "digest"),
			           d))
				ambiguous = true;
			by_prefix = (long)i;
		}
	}
	free(norm);
	if (found >= 0)
		return found;
	if (ambiguous)
		return strata_fail(err, STRATA_ERR_USAGE, 0, "%s: more than one image matches",
		                   ref);
	if (by_prefix >= 0)
		return by_prefix;
	return strata_fail(err, STRATA_ERR_USAGE, ENOENT, "%s: no such image", ref);
}

int store_resolve(struct store *s, const char *ref, struct store_image **out,
                  struct strata_error *err)
{
	json_t *index, *m, *size;
	long i;
	int rc;

	if (store_index_load(s, &index, err))
		return -1;
	i = find_entry(index, ref, err);
	if (i < 0) {
		json_decref(index);
		return -1;
	}
	m = json_array_get(json_object_get(index, "manifests"), (size_t)i);
	size = json_object_get(m, "size");
	if (!store_digest_valid(store_json_str(m, "digest")) || !json_is_integer(size)) {
		json_decref(index);
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: bad descriptor in index.json",
		                   ref);
	}
	rc = store_image_load(s, store_json_str(m, "digest"), (uint64_t)json_integer_value(size),
	                      out, err);
	json_decref(index);
	return rc;
}

int store_tag(struct store *s, const char *ref, const char *name, struct strata_error *err)
{
	json_t *index, *m;
	long i;
	int rc = -1;

	if (!store_valid_tag(name))
		return strata_fail(err, STRATA_ERR_OPTION, 0, "'%s': not a valid image name", name);
	if (store_index_lock(s, &index, err))
		return -1;
	i = find_entry(index, ref, err);
	if (i >= 0) {
		m = json_array_get(json_object_get(index, "manifests"), (size_t)i);
		m = json_deep_copy(m);
		if (!m) {
			strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		} else {
			rc = store_index_add(
			    index, store_json_str(m, "digest"),
			    (uint64_t)json_integer_value(json_object_get(m, "size")),
			    store_json_str(m, "mediaType") ?: MT_OCI_MANIFEST, name, err);
			json_decref(m);
		}
	}
	if (rc == 0)
		rc = store_index_save(s, index, err);
	store_index_unlock(s, index);
	return rc;
}

static int untag(struct store *s, const char *ref, bool keep_image, struct strata_error *err);

int store_untag(struct store *s, const char *ref, struct strata_error *err)
{
	return untag(s, ref, false, err);
}

int store_untag_keep_image(struct store *s, const char *ref, struct strata_error *err)
{
	return untag(s, ref, true, err);
}

static int untag(struct store *s, const char *ref, bool keep_image, struct strata_error *err)
{
	json_t *index, *manifests;
	char digest[STORE_DIGEST_MAX];
	bool by_digest;
	long i;
	int rc = -1;

	if (store_index_lock(s, &index, err))
		return -1;
	manifests = json_object_get(index, "manifests");
	i = find_entry(index, ref, err);
	if (i < 0)
		goto out;
	snprintf(digest, sizeof(digest), "%s",
	         store_json_str(json_array_get(manifests, (size_t)i), "digest"));
	/* A name removes that tag; a digest (or its prefix) the whole image.
	 * find_entry() prefers names, so a match by name is a name. */
	{
		const char *name = store_json_str(
		    json_object_get(json_array_get(manifests, (size_t)i), "annotations"),
		    ANNOTATION_REF_NAME);
		char *a = name ? store_ref_normalize(name) : NULL, *b = store_ref_normalize(ref);

		by_digest = !name || !a || !b || (strcmp(name, ref) != 0 && strcmp(a, b) != 0);
		free(a);
		free(b);
	}
	size_t left = 0;
	json_t *gone = NULL;

	for (size_t k = json_array_size(manifests); k-- > 0;) {
		json_t *m = json_array_get(manifests, k);

		if (by_digest ? strcmp(store_json_str(m, "digest") ?: "", digest) == 0
		              : k == (size_t)i) {
			if (keep_image && !gone)
				gone = json_deep_copy(m);
			json_array_remove(manifests, k);
		} else if (strcmp(store_json_str(m, "digest") ?: "", digest) == 0) {
			left++;
		}
	}
	/* The image stays, unnamed, when this took its last entry. */
	if (keep_image && left == 0) {
		if (!gone) {
			strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
			goto out;
		}
		json_object_del(gone, "annotations");
		if (json_array_append_new(manifests, gone)) {
			strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
			goto out;
		}
		gone = NULL;
	}
	json_decref(gone);
	rc = store_index_save(s, index, err);
out:
	store_index_unlock(s, index);
	return rc;
}

bool store_media_type_is_index(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool store_media_type_is_manifest(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

static bool platform_matches(json_t *p, const char *want)
{
	char have[256];
	const char *variant = store_json_str(p, "variant");

	if (!json_is_object(p))
		return false;
	snprintf(have, sizeof(have), "%s/%s", store_json_str(p, "os") ?: "",
	         store_json_str(p, "architecture") ?: "");
	if (strcmp(have, want) == 0)
		return true;
	if (!variant)
		return false;
	snprintf(have, sizeof(have), "%s/%s/%s", store_json_str(p, "os") ?: "",
	         store_json_str(p, "architecture") ?: "", variant);
	return strcmp(have, want) == 0;
}

json_t *store_platform_pick(json_t *index, const char *platform, char want[256], char seen[1024])
{
	json_t *d;
	size_t i;

	if (platform)
		snprintf(want, 256, "%s", platform);
	else
		snprintf(want, 256, "linux/%s", store_host_architecture());
	seen[0] = '\0';
	json_array_foreach(json_object_get(index, "manifests"), i, d)
	{
		json_t *p = json_object_get(d, "platform");

		if (platform_matches(p, want))
			return d;
		if (json_is_object(p) && strlen(seen) < 1024 - 64)
			snprintf(seen + strlen(seen), 1024 - strlen(seen), "%s%s/%s",
			         seen[0] ? ", " : "", store_json_str(p, "os") ?: "?",
			         store_json_str(p, "architecture") ?: "?");
	}
	return NULL;
}
