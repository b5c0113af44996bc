/* SPDX-License-Identifier: MIT */
/*
 * The index artifact of an image (docs/index-artifact.md): for each layer
 * read in place, strata's index of it and a table of the SHA-256 of every
 * INDEX_CHUNK bytes of the blob, carried by an OCI 1.1 artifact manifest
 * whose subject is the image's manifest.  A lazy pull finds it through
 * the subject, fetches the index, and then each chunk of the blob it
 * needs, checked against the table before a byte of it is used.
 *
 * Everything here is a function of the image's bytes (no time, no host):
 * pushing the same image twice gives the same artifact digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index_artifact.h"
#include "sha256.h"
#include "sys.h"

static int nomem(struct strata_error *err)
{
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

static json_t *descriptor(const char *mt, const char *digest, uint64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size",
	                 (json_int_t)size);
}

/* A new blob of @a from @fd (an unnamed temp file, rewound here). */
static int add_blob(struct store_index_artifact *a, int fd, const char *mt, const char *layer,
                    struct strata_error *err)
{
	struct index_artifact_blob *v = realloc(a->blobs, (a->n_blobs + 1) * sizeof(*v)), *b;
	off_t size = lseek(fd, 0, SEEK_END);

	if (!v) {
		close(fd);
		return nomem(err);
	}
	a->blobs = v;
	b = &v[a->n_blobs++];
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->media_type = mt;
	snprintf(b->layer, sizeof(b->layer), "%s", layer ? layer : "");
	if (size < 0 || lseek(fd, 0, SEEK_SET) < 0 || store_digest_fd(fd, b->digest) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "hashing an index: %s",
		                   strerror(errno));
	b->size = (uint64_t)size;
	return 0;
}

static int tmpfile_in(struct store *s, struct strata_error *err)
{
	int fd = openat(s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "%s/strata/tmp: %s", s->root,
		            strerror(errno));
	return fd;
}

/* The SHA-256 of each INDEX_CHUNK bytes of blob @digest, as JSON. */
static json_t *chunk_digests(struct store *s, const char *digest, struct strata_error *err)
{
	uint64_t size, off = 0;
	int fd = store_blob_open(s, digest, &size, err);
	unsigned char *buf = malloc(INDEX_CHUNK), md[SHA256_SIZE];
	json_t *chunks = json_array(), *t = NULL;
	char hex[STORE_DIGEST_MAX];

	if (fd < 0)
		goto out;
	if (!buf || !chunks) {
		nomem(err);
		goto out;
	}
	while (off < size) {
		size_t len = size - off < INDEX_CHUNK ? (size_t)(size - off) : INDEX_CHUNK;

		if (pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
			strata_fail(err, STRATA_ERR_SYS, errno ? errno : EIO, "blob %.19s: %s",
			            digest, errno ? strerror(errno) : "shorter than it was");
			goto out;
		}
		if (sha256_buffer(buf, len, md, err) < 0)
			goto out;
		store_digest_format(md, hex);
		if (json_array_append_new(chunks, json_string(hex))) {
			nomem(err);
			goto out;
		}
		off += len;
	}
	t = json_pack("{s:s, s:I, s:I, s:O}", "layer", digest, "size", (json_int_t)size,
	              "chunkSize", (json_int_t)INDEX_CHUNK, "chunks", chunks);
	if (!t)
		nomem(err);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	json_decref(chunks);
	return t;
}

/* The chunk table of blob @digest into a temp file: *@out. */
static int chunk_table(struct store *s, const char *digest, int *out, struct strata_error *err)
{
	json_t *t = chunk_digests(s, digest, err);
	char *text = t ? json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc = -1;

	if (t && !text)
		nomem(err);
	else if (text && (*out = tmpfile_in(s, err)) >= 0) {
		rc = sys_write_all(*out, text, strlen(text)) < 0
		         ? strata_fail(err, STRATA_ERR_SYS, errno, "writing an index: %s",
		                       strerror(errno))
		         : 0;
		if (rc)
			close(*out);
	}
	free(text);
	json_decref(t);
	return rc;
}

/* Layer @l's two blobs, or nothing when it is not read in place. */
static int add_layer(struct store *s, const struct store_layer *l, struct store_index_artifact *a,
                     struct strata_error *err)
{
	int fd = tmpfile_in(s, err), chunks = -1;

	if (fd < 0)
		return -1;
	if (store_layer_index_export(s, l, fd, err)) {
		close(fd);
		if (err->code != STRATA_ERR_UNSUPPORTED)
			return -1;
		a->n_skipped++; /* pulled whole, as without an artifact */
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (add_blob(a, fd, MT_STRATA_INDEX, l->digest, err) ||
	    chunk_table(s, l->digest, &chunks, err) ||
	    add_blob(a, chunks, MT_STRATA_CHUNKS, l->digest, err))
		return -1;
	a->n_layers++;
	return 0;
}

/* The empty config every artifact of OCI 1.1 without one carries. */
static int add_empty_config(struct store *s, struct store_index_artifact *a,
                            struct strata_error *err)
{
	int fd = tmpfile_in(s, err);

	if (fd < 0)
		return -1;
	if (sys_write_all(fd, "{}", 2) < 0) {
		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, errno, "writing an index: %s",
		                   strerror(errno));
	}
	return add_blob(a, fd, MT_OCI_EMPTY, NULL, err);
}

static json_t *manifest_json(const struct store_index_artifact *a, const json_t *subject)
{
	json_t *layers = json_array(), *m;

	for (size_t i = 1; layers && i < a->n_blobs; i++) {
		const struct index_artifact_blob *b = &a->blobs[i];
		json_t *d = descriptor(b->media_type, b->digest, b->size);

		if (!d ||
		    json_object_set_new(d, "annotations",
		                        json_pack("{s:s}", ANNOTATION_LAYER, b->layer)) ||
		    json_array_append_new(layers, d)) {
			json_decref(layers);
			return NULL;
		}
	}
	m = json_pack("{s:i, s:s, s:s, s:o, s:o, s:O}", "schemaVersion", 2, "mediaType",
	              MT_OCI_MANIFEST, "artifactType", AT_STRATA_INDEX, "config",
	              descriptor(MT_OCI_EMPTY, a->blobs[0].digest, a->blobs[0].size), "layers",
	              layers, "subject", subject);
	return m;
}

int store_index_artifact_build(struct store *s, const struct store_image *img,
                               const struct index_artifact_subject *subject,
                               struct store_index_artifact *out, struct strata_error *err)
{
	json_t *sub = descriptor(subject->media_type, subject->digest, subject->size), *m = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!sub)
		return nomem(err);
	if (add_empty_config(s, out, err))
		goto out;
	for (size_t i = 0; i < img->n_layers; i++) {
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			dup |= strcmp(img->layers[k].digest, img->layers[i].digest) == 0;
		if (!dup && add_layer(s, &img->layers[i], out, err))
			goto out;
	}
	if (!(m = manifest_json(out, sub)) ||
	    !(out->manifest = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		nomem(err);
		goto out;
	}
	out->manifest_len = strlen(out->manifest);
	rc =
	    store_digest_buffer(out->manifest, out->manifest_len, out->digest) < 0
	        ? strata_fail(err, STRATA_ERR_SYS, errno, "hashing a manifest: %s", strerror(errno))
	        : 0;
out:
	json_decref(sub);
	json_decref(m);
	if (rc)
		store_index_artifact_free(out);
	return rc;
}

void store_index_artifact_free(struct store_index_artifact *a)
{
	for (size_t i = 0; i < a->n_blobs; i++)
		if (a->blobs[i].fd >= 0)
			close(a->blobs[i].fd);
	free(a->blobs);
	free(a->manifest);
	memset(a, 0, sizeof(*a));
}
