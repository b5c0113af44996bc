/* SPDX-License-Identifier: MIT */
/* Internals of libstrata-store, shared between its modules. */
#ifndef STRATA_STORE_INTERNAL_H
#define STRATA_STORE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sha256.h"
#include "strata-store.h"

#define MT_OCI_LAYOUT_VERSION "1.0.0"
#define MT_OCI_INDEX          "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST       "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG         "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER          "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP     "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD     "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST    "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST        "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG      "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP  "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define ANNOTATION_REF_NAME   "org.opencontainers.image.ref.name"

/* Manifests and configs are small; anything bigger is not one. */
#define JSON_BLOB_MAX (4u << 20)

struct store {
	char *root;
	int root_fd;        /* the layout directory */
	int blobs_fd;       /* blobs/sha256 */
	int tmp_fd;         /* strata/tmp: unnamed temp files for blobs in progress */
	int import_lock_fd; /* strata/gc.lock, shared while importing */
	char *layer_cache;
	bool trust_blobs; /* store_trust_blobs() */
};

/* ---- digests (digest.c) ---- */

/* "sha256:<64 lowercase hex>"? */
bool store_digest_valid(const char *d);
/* The hex part of a valid digest. */
static inline const char *digest_hex(const char *d)
{
	return d + 7;
}
void store_digest_format(const unsigned char md[32], char out[STORE_DIGEST_MAX]);
/* sha256 of @buf.  0, or -1 (errno ELIBACC: libcrypto cannot be loaded). */
int store_digest_buffer(const void *buf, size_t len, char out[STORE_DIGEST_MAX]);

/* ---- blobs (blob.c) ---- */

/* openat2 that stays beneath @dirfd and follows no symlink (O_CLOEXEC
 * added).  An fd, or -1 with errno. */
int store_openat(int dirfd, const char *path, int flags);

/* A blob being written: an unnamed temp file, hashed as it grows. */
struct blob_writer {
	struct store *store;
	int fd;
	struct sha256 *sha;
	uint64_t size;
	char digest[STORE_DIGEST_MAX]; /* set by store_blob_writer_finish */
	int stored; /* store_blob_stored()'s answer, once known: 1 yes, -1 no, 0 not asked */
};

int store_blob_writer_start(struct store *s, struct blob_writer *w, struct strata_error *err);
int store_blob_writer_write(struct blob_writer *w, const void *buf, size_t len,
                            struct strata_error *err);
/* Computes the digest (no linking yet). */
int store_blob_writer_finish(struct blob_writer *w, struct strata_error *err);
/* fsyncs and links the finished blob under its digest; a blob already
 * there is kept (same digest, same bytes). */
int store_blob_writer_commit(struct blob_writer *w, struct strata_error *err);
void store_blob_writer_abort(struct blob_writer *w);
/* A blob with @w's digest, size and bytes (rehashed once) is already in the
 * store.  A damaged copy is not, and the commit replaces it. */
bool store_blob_stored(struct store *s, struct blob_writer *w);
/* sha256 of what @fd holds from its start.  0, or -1 with errno (ELIBACC:
 * libcrypto cannot be loaded). */
int store_digest_fd(int fd, char out[STORE_DIGEST_MAX]);

/* Stores @len bytes of memory as a blob. */
int store_blob_put(struct store *s, const void *buf, size_t len, char digest[STORE_DIGEST_MAX],
                   struct strata_error *err);
/* Opens blob @digest for reading: a regular file inside blobs/sha256, never
 * through a symlink.  Returns the fd (size in *size) or -1. */
int store_blob_open(struct store *s, const char *digest, uint64_t *size, struct strata_error *err);
bool store_blob_exists(struct store *s, const char *digest);
/* Reads a small blob (a manifest or config) whole, checks its digest and,
 * when @expect_size is not UINT64_MAX, its size.  NUL-terminated. */
char *store_blob_read_json(struct store *s, const char *digest, uint64_t expect_size, size_t *len,
                           struct strata_error *err);
/* The path of blob @digest (for libstrata-fs, which opens layers by path). */
int store_blob_path(struct store *s, const char *digest, char *out, size_t size);

/* The diff-id of the layer in @fd, decompressing it (layer_digest.c). */
int store_layer_diff_id(int fd, char out[STORE_DIGEST_MAX], struct strata_error *err);
/* The blob a layer is served from: the uncompressed blob of the same
 * diff-id when the store has one (two images sharing a layer in different
 * compressions then share one index and no decompressed copy), else its own.
 * Writes the digest to @out. */
void store_layer_source(struct store *s, const struct store_layer *l, char out[STORE_DIGEST_MAX]);
/* The cache entry (index, decompressed copy) of a layer served from blob
 * @source: "<diff-id hex>" for the uncompressed blob, else
 * "<diff-id hex>-<16 hex of the blob>": one layer in two compressions has
 * two entries, never one that each use rebuilds. */
#define LAYER_KEY_MAX (64 + 1 + 16 + 1)
void store_layer_cache_key(const char *diff_id, const char *source, char out[LAYER_KEY_MAX]);
/* Serializes building one cache entry across processes (two imports or
 * mounts of one new layer): an fd to close when done, or -1 (then go on
 * unlocked: the result is still right, only built twice). */
int store_layer_cache_lock(struct store *s, const char *key);
/* The portable index of @l's blob (as a registry serves it) into @fd,
 * built first if the cache has none (strata_layer_index_export). */
int store_layer_index_export(struct store *s, const struct store_layer *l, int fd,
                             struct strata_error *err);

/* ---- index.json and locks (layout.c) ---- */

/* Takes the index.json lock, loads it; store_index_save writes it back and
 * store_index_unlock releases the lock either way. */
int store_index_lock(struct store *s, json_t **index, struct strata_error *err);
int store_index_save(struct store *s, json_t *index, struct strata_error *err);
void store_index_unlock(struct store *s, json_t *index);
/* index.json read without the lock (it is replaced atomically). */
int store_index_load(struct store *s, json_t **index, struct strata_error *err);
/* Adds a manifest descriptor to @index, tagged @name (may be NULL); a tag
 * moves from whatever it named before. */
int store_index_add(json_t *index, const char *digest, uint64_t size, const char *media_type,
                    const char *name, struct strata_error *err);

/* Imports hold the import lock shared; gc takes it exclusive. */
int store_import_lock(struct store *s, bool exclusive, struct strata_error *err);
void store_import_unlock(struct store *s);

/* Tags and references: "debian" means "debian:latest"; "docker.io/library/x"
 * and "x" are one name. */
char *store_ref_normalize(const char *ref);

/* ---- images (image.c) ---- */

/* Parses manifest @digest (already stored) and its config into @img. */
int store_image_load(struct store *s, const char *digest, uint64_t size, struct store_image **out,
                     struct strata_error *err);
/* A layer media type strata can serve, and its compression ("" for none). */
bool store_layer_media_type_known(const char *mt);
/* An image index (OCI index, Docker manifest list), or one image's manifest. */
bool store_media_type_is_index(const char *mt);
bool store_media_type_is_manifest(const char *mt);
/* The descriptor of image index @index for @platform ("os/arch[/variant]";
 * NULL: this machine's, linux/<arch>), or NULL, with @want set to the
 * platform looked for and @seen to those the index has ("linux/amd64,
 * linux/arm64"), for the message. */
json_t *store_platform_pick(json_t *index, const char *platform, char want[256], char seen[1024]);
/* The host's platform in OCI terms ("amd64", "arm64", ...). */
const char *store_host_architecture(void);

/* ---- sources (source.c, source_container.c) ---- */

/* Opens the container in @dir (its image's layers, its upper on top) into
 * @out, whose ref is set.  On failure @out holds what to close. */
int store_container_source_open(struct store *s, const char *dir,
                                const struct strata_layer_options *lo, struct store_source *out,
                                struct strata_error *err);

/* What the launcher recorded in the container's directory @dir: its id
 * maps and the mount points its init made (container_files.c).  Free
 * with store_container_dir_options_free. */
void store_container_dir_options(const char *dir, struct strata_dir_options *o);
void store_container_dir_options_free(struct strata_dir_options *o);

/* ---- errors (error.c) ---- */

/* Rewrites @err's message as @fmt with @what and the old message (two %s):
 * "%s: %s" names what failed before why.  Returns -1. */
int store_fail_prefix(struct strata_error *err, const char *fmt, const char *what)
    __attribute__((format(printf, 2, 0)));

/* ---- JSON helpers (json.c) ---- */

const char *store_json_str(json_t *obj, const char *key);
/* Parses @buf or fails naming @what. */
json_t *store_json_parse(const char *buf, size_t len, const char *what, struct strata_error *err);
/* Canonical bytes for a blob: keys sorted, compact. malloc'd. */
char *store_json_blob(json_t *v, size_t *len);

/* ---- strata commit --change (commit_change.c) ---- */

/* Applies the Dockerfile instruction @line (CMD, ENTRYPOINT, ENV, EXPOSE,
 * LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR) to an image config's "config"
 * object @cfg.  0, or -1 with @err saying why. */
int store_commit_change(json_t *cfg, const char *line, struct strata_error *err);

#endif
