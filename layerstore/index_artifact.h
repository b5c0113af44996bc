/* SPDX-License-Identifier: MIT */
/*
 * Index artifacts (index_artifact.c, push_index.c; the format in
 * docs/index-artifact.md): what a lazy pull needs of an image's layers,
 * attached to the image in its registry.
 */
#ifndef STRATA_INDEX_ARTIFACT_H
#define STRATA_INDEX_ARTIFACT_H

#include "registry.h"

#define AT_STRATA_INDEX  "application/vnd.dev.strata.layer-index.v1"
#define MT_STRATA_INDEX  "application/vnd.dev.strata.layer.index.v6"
#define MT_STRATA_CHUNKS "application/vnd.dev.strata.layer.chunks.v1+json"
#define MT_OCI_EMPTY     "application/vnd.oci.empty.v1+json"
#define ANNOTATION_LAYER "dev.strata.layer"
/* The blob is hashed in pieces of this size: a lazy read fetches and
 * checks whole pieces. */
#define INDEX_CHUNK ((size_t)256 << 10)

/* The image manifest an artifact is attached to. */
struct index_artifact_subject {
	const char *media_type;
	const char *digest;
	uint64_t size;
};

struct index_artifact_blob {
	char digest[STORE_DIGEST_MAX];
	uint64_t size;
	int fd; /* an unnamed temp file holding it */
	const char *media_type;
	char layer[STORE_DIGEST_MAX]; /* the layer blob it describes; "" for the config */
};

struct store_index_artifact {
	struct index_artifact_blob *blobs; /* the empty config first */
	size_t n_blobs;
	char *manifest;
	size_t manifest_len;
	char digest[STORE_DIGEST_MAX];
	size_t n_layers;  /* layers it describes */
	size_t n_skipped; /* layers read from a decompressed copy: pulled whole */
};

/* The artifact of @img, pushed as @subject: each layer indexed if it is
 * not yet (that reads it once). */
int store_index_artifact_build(struct store *s, const struct store_image *img,
                               const struct index_artifact_subject *subject,
                               struct store_index_artifact *out, struct strata_error *err);
void store_index_artifact_free(struct store_index_artifact *a);

/* Pushes @a to @repo (blobs, mounted from @from when it has them, then the
 * manifest by digest) and makes it
 * findable from its subject: the referrers API when the registry has it
 * (it says so with OCI-Subject), else the tag "sha256-<hex of subject>",
 * an index of the subject's referrers, updated (distribution spec 1.1). */
int store_index_artifact_push(struct reg_client *c, const char *repo, const char *from,
                              const struct store_index_artifact *a,
                              const struct index_artifact_subject *subject,
                              struct strata_error *err);

#endif
