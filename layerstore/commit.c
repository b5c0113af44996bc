/* SPDX-License-Identifier: MIT */
/*
 * New layers and images made here (strata commit): the uncompressed tar
 * streams in, its diff-id is hashed on the way, it is compressed (gzip by
 * zlib, zstd by libzstd, or not at all) and hashed again into a blob.  One
 * pass, both digests.  The compressors are set up to be deterministic (no
 * gzip timestamp or name), so the same tar always makes the same blob.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "store.h"

struct store_layer_writer {
	struct store *store;
	enum store_compression comp;
	struct blob_writer blob;
	struct sha256 *diff_sha;
	z_stream z;
	bool z_init;
	ZSTD_CCtx *zstd;
	unsigned char out[1 << 17];
	uint64_t uncompressed;
};

static int out_write(struct store_layer_writer *w, const void *buf, size_t len,
                     struct strata_error *err)
{
	return len ? store_blob_writer_write(&w->blob, buf, len, err) : 0;
}

static int gzip_feed(struct store_layer_writer *w, const void *buf, size_t len, int flush,
                     struct strata_error *err)
{
	int r;

	w->z.next_in = (Bytef *)buf;
	w->z.avail_in = (uInt)len;
	do {
		w->z.next_out = w->out;
		w->z.avail_out = sizeof(w->out);
		r = deflate(&w->z, flush);
		if (r == Z_STREAM_ERROR)
			return strata_fail(err, STRATA_ERR_NOMEM, EIO, "gzip: %s",
			                   w->z.msg ?: "failed");
		if (out_write(w, w->out, sizeof(w->out) - w->z.avail_out, err))
			return -1;
	} while (w->z.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
	return 0;
}

static int zstd_feed(struct store_layer_writer *w, const void *buf, size_t len, bool end,
                     struct strata_error *err)
{
	ZSTD_inBuffer in = {buf, len, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {w->out, sizeof(w->out), 0};

		left = ZSTD_compressStream2(w->zstd, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return strata_fail(err, STRATA_ERR_NOMEM, EIO, "zstd: %s",
			                   ZSTD_getErrorName(left));
		if (out_write(w, w->out, out.pos, err))
			return -1;
	} while (end ? left != 0 : in.pos < in.size);
	return 0;
}

int store_layer_begin(struct store *s, enum store_compression comp, struct store_layer_writer **out,
                      struct strata_error *err)
{
	struct store_layer_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	w->store = s;
	w->comp = comp;
	w->blob.fd = -1;
	if (s->tmp_fd < 0) {
		free(w);
		return strata_fail(err, STRATA_ERR_SYS, EACCES, "store %s: cannot write to it",
		                   s->root);
	}
	/* Like an import: gc waits until the image is tagged (store_close). */
	if (store_import_lock(s, false, err)) {
		free(w);
		return -1;
	}
	if (store_blob_writer_start(s, &w->blob, err)) /* it loads libcrypto too */
		goto fail;
	if (!(w->diff_sha = sha256_new(err)))
		goto fail;
	if (comp == STORE_COMPRESS_GZIP) {
		/* windowBits 16+15: a gzip wrapper with no name and mtime 0. */
		if (deflateInit2(&w->z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto nomem;
		w->z_init = true;
	} else if (comp == STORE_COMPRESS_ZSTD) {
		w->zstd = ZSTD_createCCtx();
		if (!w->zstd ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_checksumFlag, 1)))
			goto nomem;
	}
	*out = w;
	return 0;
nomem:
	strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
fail:
	store_layer_abort(w);
	return -1;
}

int store_layer_write(struct store_layer_writer *w, const void *buf, size_t len,
                      struct strata_error *err)
{
	if (sha256_update(w->diff_sha, buf, len) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	w->uncompressed += len;
	switch (w->comp) {
	case STORE_COMPRESS_GZIP:
		return gzip_feed(w, buf, len, Z_NO_FLUSH, err);
	case STORE_COMPRESS_ZSTD:
		return zstd_feed(w, buf, len, false, err);
	default:
		return out_write(w, buf, len, err);
	}
}

int store_layer_finish(struct store_layer_writer *w, struct store_layer *out,
                       struct strata_error *err)
{
	unsigned char md[32];
	int rc = 0;

	if (w->comp == STORE_COMPRESS_GZIP)
		rc = gzip_feed(w, "", 0, Z_FINISH, err);
	else if (w->comp == STORE_COMPRESS_ZSTD)
		rc = zstd_feed(w, "", 0, true, err);
	if (rc || store_blob_writer_finish(&w->blob, err))
		return -1;
	if (sha256_final(w->diff_sha, md) < 0)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "sha256 failed");
	char diff_id[STORE_DIGEST_MAX];

	store_digest_format(md, diff_id);
	memset(out, 0, sizeof(*out));
	memcpy(out->diff_id, diff_id, STORE_DIGEST_MAX);
	memcpy(out->digest, w->blob.digest, STORE_DIGEST_MAX);
	out->size = w->blob.size;
	out->media_type = strdup(w->comp == STORE_COMPRESS_GZIP   ? MT_OCI_LAYER_GZIP
	                         : w->comp == STORE_COMPRESS_ZSTD ? MT_OCI_LAYER_ZSTD
	                                                          : MT_OCI_LAYER);
	if (!out->media_type)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	return store_blob_writer_commit(&w->blob, err);
}

void store_layer_abort(struct store_layer_writer *w)
{
	if (!w)
		return;
	store_blob_writer_abort(&w->blob);
	sha256_free(w->diff_sha);
	if (w->z_init)
		deflateEnd(&w->z);
	ZSTD_freeCCtx(w->zstd);
	free(w);
}

/* ---- the image around it ---- */

static json_t *new_config(const struct store_image *base, const struct store_layer *layer,
                          const struct store_commit_options *o, const char *created,
                          struct strata_error *err)
{
	json_t *cfg = json_loads(base->config_json, 0, NULL), *rootfs, *history, *h;

	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return NULL;
	}
	rootfs = json_object_get(cfg, "rootfs");
	if (json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(layer->diff_id)))
		goto fail;
	history = json_object_get(cfg, "history");
	if (!json_is_array(history)) {
		history = json_array();
		json_object_set_new(cfg, "history", history);
	}
	h = json_pack("{s:s, s:s}", "created", created, "created_by",
	              o->created_by ? o->created_by : "strata commit");
	if (!h)
		goto fail;
	if (o->message)
		json_object_set_new(h, "comment", json_string(o->message));
	if (o->author) {
		json_object_set_new(h, "author", json_string(o->author));
		json_object_set_new(cfg, "author", json_string(o->author));
	}
	json_array_append_new(history, h);
	json_object_set_new(cfg, "created", json_string(created));
	if (!json_is_object(json_object_get(cfg, "config")))
		json_object_set_new(cfg, "config", json_object());
	for (size_t i = 0; i < o->n_changes; i++)
		if (store_commit_change(json_object_get(cfg, "config"), o->changes[i], err))
			goto fail;
	return cfg;
fail:
	json_decref(cfg);
	return NULL;
}

/* @tag names another image than @digest in @index. */
static bool tag_taken(json_t *index, const char *tag, const char *digest)
{
	char *want = store_ref_normalize(tag);
	bool taken = false;
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(index, "manifests"), i, m)
	{
		const char *name =
		    store_json_str(json_object_get(m, "annotations"), ANNOTATION_REF_NAME);
		char *have = name ? store_ref_normalize(name) : NULL;

		if (have && want && strcmp(have, want) == 0 &&
		    strcmp(store_json_str(m, "digest") ?: "", digest) != 0)
			taken = true;
		free(have);
	}
	free(want);
	return taken;
}

int store_commit_image(struct store *s, const struct store_image *base,
                       const struct store_layer *layer, const struct store_commit_options *o,
                       char digest[STORE_DIGEST_MAX], struct strata_error *err)
{
	char created[32], cfg_digest[STORE_DIGEST_MAX];
	json_t *cfg = NULL, *layers = NULL, *manifest = NULL, *index = NULL;
	char *cfg_text = NULL, *man_text = NULL;
	size_t cfg_len, man_len;
	time_t when = o->created >= 0 ? (time_t)o->created : time(NULL);
	struct tm tm;
	int rc = -1;

	if (o->tag && !store_valid_tag(o->tag))
		return strata_fail(err, STRATA_ERR_OPTION, 0, "'%s': not a valid image name",
		                   o->tag);
	gmtime_r(&when, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	err->msg[0] = '\0';
	cfg = new_config(base, layer, o, created, err);
	if (!cfg && err->msg[0])
		return -1;
	layers = json_array();
	for (size_t i = 0; layers && i < base->n_layers; i++)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
		                                        base->layers[i].media_type, "digest",
		                                        base->layers[i].digest, "size",
		                                        (json_int_t)base->layers[i].size));
	if (!cfg || !layers ||
	    json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
	                                            layer->media_type, "digest", layer->digest,
	                                            "size", (json_int_t)layer->size)) ||
	    !(cfg_text = store_json_blob(cfg, &cfg_len))) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (store_blob_put(s, cfg_text, cfg_len, cfg_digest, err))
		goto out;
	manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
	                     MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
	                     cfg_digest, "size", (json_int_t)cfg_len, "layers", layers);
	if (!manifest || !(man_text = store_json_blob(manifest, &man_len))) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (store_blob_put(s, man_text, man_len, digest, err))
		goto out;
	/* Untagged too, the image gets its index.json entry: it is found by
	 * digest, and gc keeps it. */
	if (store_index_lock(s, &index, err))
		goto out;
	if (o->tag && !o->force && tag_taken(index, o->tag, digest)) {
		strata_fail(err, STRATA_ERR_USAGE, EEXIST,
		            "%s: already names an image (--force to move the name)", o->tag);
		goto unlock;
	}
	rc = store_index_add(index, digest, man_len, MT_OCI_MANIFEST, o->tag, err);
	if (rc == 0)
		rc = store_index_save(s, index, err);
unlock:
	store_index_unlock(s, index);
out:
	free(cfg_text);
	free(man_text);
	json_decref(manifest);
	json_decref(layers);
	json_decref(cfg);
	return rc;
}
