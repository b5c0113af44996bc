/* SPDX-License-Identifier: MIT */
/*
 * Importing from an OCI image layout (a directory, or an oci-archive's
 * members): index.json's manifests, each tagged by its ref.name
 * annotation; an image index (multi-platform) resolves to the manifest for
 * the host's platform or --platform.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

static struct member *blob_member(struct importer *im, const char *digest)
{
	char path[96];

	if (!store_digest_valid(digest)) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: '%s': not a sha256 digest",
		            im->what, digest ? digest : "(none)");
		return NULL;
	}
	snprintf(path, sizeof(path), "blobs/sha256/%s", digest_hex(digest));
	return store_member_get(im, path);
}

static int desc_size(struct importer *im, json_t *desc, uint64_t *size)
{
	json_t *v = json_object_get(desc, "size");

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: descriptor of %s: bad size",
		                   im->what, store_json_str(desc, "digest") ?: "(none)");
	*size = (uint64_t)json_integer_value(v);
	return 0;
}

/* The blob a descriptor names, checked, parsed as a JSON object. */
static json_t *desc_json(struct importer *im, json_t *desc, struct member **out)
{
	const char *digest = store_json_str(desc, "digest");
	struct member *m = blob_member(im, digest);
	uint64_t size;
	json_t *v;

	if (!m || desc_size(im, desc, &size))
		return NULL;
	if (strcmp(m->blob.digest, digest) != 0) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		            "%s: blob %s: digest mismatch (content is %s)", im->what, digest,
		            m->blob.digest);
		return NULL;
	}
	if (m->blob.size != size) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		            "%s: blob %s: size mismatch (%llu bytes, descriptor says %llu)",
		            im->what, digest, (unsigned long long)m->blob.size,
		            (unsigned long long)size);
		return NULL;
	}
	v = store_member_json(im, m, digest);
	*out = m;
	return v;
}

static int import_manifest(struct importer *im, json_t *desc, const char *name)
{
	const char *digest = store_json_str(desc, "digest"), *mt;
	json_t *manifest, *config = NULL, *layers, *diff_ids, *l;
	struct member *mm, *cm;
	uint64_t size;
	size_t i;
	int rc = -1;

	if (!(manifest = desc_json(im, desc, &mm)))
		return -1;
	mt = store_json_str(manifest, "mediaType");
	if (mt && !store_media_type_is_manifest(mt)) {
		strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
		            "%s: manifest %s: unknown media type '%s'", im->what, digest, mt);
		goto out;
	}
	if (!(config = desc_json(im, json_object_get(manifest, "config"), &cm)))
		goto out;
	mt = store_json_str(json_object_get(manifest, "config"), "mediaType");
	if (!mt || (strcmp(mt, MT_OCI_CONFIG) && strcmp(mt, MT_DOCKER_CONFIG))) {
		strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
		            "%s: config of %s: unknown media type '%s'", im->what, digest,
		            mt ? mt : "");
		goto out;
	}
	layers = json_object_get(manifest, "layers");
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_array(layers) || !json_is_array(diff_ids) ||
	    json_array_size(layers) != json_array_size(diff_ids)) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		            "%s: image %s: the config's rootfs.diff_ids do not match its layers",
		            im->what, digest);
		goto out;
	}
	json_array_foreach(layers, i, l)
	{
		const char *ld = store_json_str(l, "digest"), *lmt = store_json_str(l, "mediaType");
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		struct member *lm;

		if (!store_layer_media_type_known(lmt)) {
			strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
			            "%s: layer %s: unknown media type '%s'", im->what, ld ? ld : "",
			            lmt ? lmt : "");
			goto out;
		}
		if (!store_digest_valid(diff_id)) {
			strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: image %s: bad diff_id %zu",
			            im->what, digest, i);
			goto out;
		}
		if (!(lm = blob_member(im, ld)) || desc_size(im, l, &size))
			goto out;
		/* Plain tar media types must hold plain tar. */
		if (!strstr(lmt, "gzip") && !strstr(lmt, "zstd"))
			lmt = MT_OCI_LAYER;
		if (store_import_layer_blob(im, lm, ld, size, diff_id, &lmt))
			goto out;
	}
	if (store_import_json_blob(im, cm, cm->blob.digest, UINT64_MAX) ||
	    store_import_json_blob(im, mm, digest, UINT64_MAX))
		goto out;
	mt = store_json_str(manifest, "mediaType") ?: store_json_str(desc, "mediaType");
	rc = store_import_add_image(im, digest, mm->blob.size, name,
	                            mt && strcmp(mt, MT_DOCKER_MANIFEST) == 0 ? MT_DOCKER_MANIFEST
	                                                                      : MT_OCI_MANIFEST);
out:
	json_decref(config);
	json_decref(manifest);
	return rc;
}

/* A multi-platform image: the manifest for the wanted platform. */
static int import_index(struct importer *im, json_t *desc, const char *name)
{
	char want[256], seen[1024];
	json_t *index, *d;
	struct member *m;
	int rc = -1;

	if (!(index = desc_json(im, desc, &m)))
		return -1;
	d = store_platform_pick(index, im->opts->platform, want, seen);
	if (d)
		rc = import_manifest(im, d, name);
	else
		strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
		            "%s: no image for %s (it has: %s); see --platform", im->what, want,
		            seen[0] ? seen : "none");
	json_decref(index);
	return rc;
}

int store_import_oci(struct importer *im, json_t *index)
{
	json_t *manifests = json_object_get(index, "manifests"), *d;
	size_t i;

	if (!json_is_array(manifests))
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: index.json: no manifests",
		                   im->what);
	json_array_foreach(manifests, i, d)
	{
		const char *name =
		    store_json_str(json_object_get(d, "annotations"), ANNOTATION_REF_NAME);
		const char *mt = store_json_str(d, "mediaType");
		int rc;

		if (im->opts->ref && (!name || strcmp(name, im->opts->ref) != 0))
			continue;
		if (store_media_type_is_index(mt))
			rc = import_index(im, d, name);
		else if (store_media_type_is_manifest(mt) || !mt)
			rc = import_manifest(im, d, name);
		else
			rc = strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
			                 "%s: index.json: unknown media type '%s'", im->what, mt);
		if (rc)
			return -1;
	}
	return 0;
}
