/* SPDX-License-Identifier: MIT */
/* Shared by the importers (import*.c). */
#ifndef STRATA_IMPORT_H
#define STRATA_IMPORT_H

#include <archive.h>

#include "store.h"

/* A file of the thing being imported, hashed into an unnamed temp file. */
/* The one member of a bare layer import: the file itself. */
#define STORE_BARE_LAYER_MEMBER "(layer)"

struct member {
	char *path; /* normalized: no leading "./" or "/", no "." or ".." parts */
	char *link; /* symlink target, resolved to a member path; or NULL */
	bool captured;
	bool pending;            /* checked; linked into the store when the import succeeds */
	struct blob_writer blob; /* when captured: finished, digest known */
};

/* A cache entry this import built, removed again if the import fails. */
struct built_key {
	char key[LAYER_KEY_MAX];
	char blob[STORE_DIGEST_MAX];
};

struct importer {
	struct store *store;
	const struct store_import_options *opts;
	struct strata_error *err;
	const char *what; /* the imported path, for messages */

	/* Where members come from: an archive scanned up front, or a layout
	 * directory read on demand (dir_fd >= 0). */
	/* Pointers: a member stays where it is while more are added. */
	struct member **members;
	size_t n_members, cap_members;
	struct built_key *keys;
	size_t n_keys;
	unsigned n_made; /* blobs made here (configs, manifests) */
	int dir_fd;

	/* Images ready to be tagged, added to index.json in one go. */
	struct store_imported *images;
	char **tags; /* per image: the tag it gets, or NULL */
	uint64_t *sizes;
	const char **media_types; /* static strings */
	size_t n_images;

	uint64_t progress_done, progress_total;
};

/* The member at @path (symlinks followed), captured; NULL with err set. */
struct member *store_member_get(struct importer *im, const char *path);
/* Adds an empty member named @path (normalized), or fails on hostile names. */
struct member *store_member_add(struct importer *im, const char *path);
/* A captured member's bytes (at most JSON_BLOB_MAX), NUL-terminated. */
char *store_member_read(struct importer *im, struct member *m, const char *what);
/* A captured member that must hold a JSON object. */
json_t *store_member_json(struct importer *im, struct member *m, const char *what);
/* "a/./b/../c" → "a/c"; NULL when the path leaves its root. malloc'd. */
char *store_path_normalize(const char *base_dir, const char *path);

/* Stores a layer blob after checking it: its digest (and @size unless
 * UINT64_MAX) against the descriptor, its diff-id against @diff_id by
 * indexing it.  Returns its media type when @media_type is NULL on input. */
int store_import_layer_blob(struct importer *im, struct member *m, const char *digest,
                            uint64_t size, const char *diff_id, const char **media_type);
/* A blob made here (a generated config or manifest), stored with the rest
 * when the import succeeds.  Its digest in @digest. */
int store_import_put(struct importer *im, const void *buf, size_t len,
                     char digest[STORE_DIGEST_MAX]);
/* Notes a cache entry built for @blob (see struct built_key). */
void store_import_built_key(struct importer *im, const char *key, const char *blob);
/* Stores a config/manifest member after checking its digest and size. */
int store_import_json_blob(struct importer *im, struct member *m, const char *digest,
                           uint64_t size);
/* Queues manifest @digest (already stored) to be added to index.json. */
int store_import_add_image(struct importer *im, const char *digest, uint64_t size, const char *name,
                           const char *media_type);
/* Writes a manifest for a config and layers that came without one
 * (docker-archive, bare layers), in OCI form with sorted keys. */
int store_import_make_manifest(struct importer *im, const char *config_digest, uint64_t config_size,
                               json_t *layers, char digest[STORE_DIGEST_MAX], uint64_t *size);
void store_import_progress(struct importer *im, uint64_t add);

/* A libarchive read callback on a file, counting progress as it goes. */
struct import_reader {
	struct importer *im;
	int fd;
	char buf[1 << 16];
};
la_ssize_t store_import_read(struct archive *a, void *ctx, const void **buf);

/* Opens @m's layer to index it under cache entry @key, holding the entry's
 * lock: the stored blob when there is one (the index must name the inode
 * that stays), else the temp file.  The entry is noted, to go again if the
 * import fails; errors name the layer, not /proc/self/fd/N. */
int store_import_open_layer(struct importer *im, struct member *m, const char *key,
                            struct strata_layer **out);

/* What a layer file starts with. */
enum store_layer_magic { MAGIC_TAR, MAGIC_GZIP, MAGIC_ZSTD, MAGIC_OTHER };
enum store_layer_magic store_layer_magic(int fd);

/* The importers. */
int store_import_oci(struct importer *im, json_t *index);
int store_import_docker(struct importer *im);
int store_import_bare_layer(struct importer *im, int fd);
/* Scans an archive into members.  Returns 1 when it is not an image archive
 * (a bare layer, then), 0 when scanned, -1 on error. */
int store_archive_scan(struct importer *im, int fd);

#endif
