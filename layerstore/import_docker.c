/* SPDX-License-Identifier: MIT */
/*
 * Importing a docker-archive (`docker save`, `podman save`): manifest.json
 * lists, per image, a config file, its RepoTags and its layer files, either
 * legacy "<id>/layer.tar" paths or docker 25's "blobs/sha256/<hex>".  The
 * config is kept byte for byte (its digest is the image ID); the manifest
 * is made here, in OCI form, deterministically, so the same archive always
 * yields the same image digest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* Docker 25 names blobs "blobs/sha256/<hex>" and configs "<hex>.json": a
 * name that is a digest must be the digest of the content. */
static int check_named_digest(struct importer *im, const char *path, const struct member *m)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strspn(base, "0123456789abcdef");

	if (n != 64 || (base[64] && strcmp(base + 64, ".json") != 0))
		return 0;
	if (strncmp(base, digest_hex(m->blob.digest), 64) != 0)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: %s: digest mismatch (content is %s)", im->what, path,
		                   m->blob.digest);
	return 0;
}

static int import_one(struct importer *im, json_t *item, size_t n)
{
	const char *config_path = store_json_str(item, "Config");
	json_t *tags = json_object_get(item, "RepoTags"), *files = json_object_get(item, "Layers");
	json_t *config, *diff_ids, *layers = NULL, *f, *tag;
	char digest[STORE_DIGEST_MAX];
	struct member *cm;
	uint64_t size;
	size_t i;
	int rc = -1;

	if (!config_path || !json_is_array(files))
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: manifest.json: image %zu has no Config or Layers", im->what,
		                   n);
	if (!(cm = store_member_get(im, config_path)) || check_named_digest(im, config_path, cm) ||
	    !(config = store_member_json(im, cm, config_path)))
		return -1;
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != json_array_size(files)) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		            "%s: %s: rootfs.diff_ids do not match the %zu layers in manifest.json",
		            im->what, config_path, json_array_size(files));
		goto out;
	}
	layers = json_array();
	if (!layers) {
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(files, i, f)
	{
		const char *path = json_string_value(f), *mt = NULL;
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		struct member *lm;

		if (!store_digest_valid(diff_id)) {
			strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: %s: bad diff_id %zu",
			            im->what, config_path, i);
			goto out;
		}
		if (!path || !(lm = store_member_get(im, path)) || check_named_digest(im, path, lm))
			goto out;
		if (store_import_layer_blob(im, lm, NULL, UINT64_MAX, diff_id, &mt))
			goto out;
		if (json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", mt,
		                                            "digest", lm->blob.digest, "size",
		                                            (json_int_t)lm->blob.size))) {
			strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
			goto out;
		}
	}
	if (store_import_json_blob(im, cm, NULL, UINT64_MAX) ||
	    store_import_make_manifest(im, cm->blob.digest, cm->blob.size, layers, digest, &size))
		goto out;
	rc = 0;
	if (!json_is_array(tags) || json_array_size(tags) == 0)
		rc = store_import_add_image(im, digest, size, NULL, MT_OCI_MANIFEST);
	json_array_foreach(tags, i, tag)
	{
		if (rc == 0 && json_is_string(tag))
			rc = store_import_add_image(im, digest, size, json_string_value(tag),
			                            MT_OCI_MANIFEST);
	}
out:
	json_decref(layers);
	json_decref(config);
	return rc;
}

int store_import_docker(struct importer *im)
{
	struct member *m = store_member_get(im, "manifest.json");
	json_error_t jerr;
	json_t *list, *item;
	char *text;
	size_t i;
	int rc = 0;

	if (!m || !(text = store_member_read(im, m, "manifest.json")))
		return -1;
	list = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_array(list)) {
		json_decref(list);
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: manifest.json: not a JSON array%s%s", im->what,
		                   list ? "" : ": ", list ? "" : jerr.text);
	}
	json_array_foreach(list, i, item)
	{
		if ((rc = import_one(im, item, i)))
			break;
	}
	json_decref(list);
	return rc;
}
