/* SPDX-License-Identifier: MIT */
/*
 * Layer blobs pulled lazily (lazy_blob.c): fetched piece by piece from
 * their registry as reads need them, each piece checked against the index
 * artifact's chunk table (docs/index-artifact.md).
 */
#ifndef STRATA_LAZY_BLOB_H
#define STRATA_LAZY_BLOB_H

#include "registry.h"

/* An index blob this large is refused (a million entries take ~45 MB). */
#define STORE_LAZY_INDEX_MAX ((uint64_t)1 << 30)

/* Where a lazy blob's pieces come from, and its index blob (from the
 * same artifact; fetched again when the layer cache lost it). */
struct store_lazy_source {
	const char *registry, *repository;
	bool insecure;
	const char *index;
	uint64_t index_size;
};

struct store_lazy_blob;

/* "<root>/strata/lazy/<hex><suffix>": the blob as fetched so far (""),
 * its pieces present (".have"), its chunk table and source (".json").
 * 0, or -1 when it does not fit in @size. */
int store_lazy_path(struct store *s, const char *digest, const char *suffix, char *out,
                    size_t size);
/* Whether blob @digest is in the store lazily (not whole yet). */
bool store_lazy_exists(struct store *s, const char *digest);
/* Makes blob @digest (@size bytes) lazy: its chunk table @table (checked
 * to describe it), its sparse file and piece map (kept when there from an
 * earlier pull), fetched from @src. */
int store_lazy_create(struct store *s, const char *digest, uint64_t size, const char *table,
                      size_t table_len, const struct store_lazy_source *src,
                      struct strata_error *err);
/* Opens it for reading: store_lazy_fetch() gives what a layer opened on
 * its file (store_lazy_path, "") asks for bytes, and the layer, once
 * open, closes it; why a fetch failed goes to @warn.  It outlives @s. */
int store_lazy_open(struct store *s, const char *digest, strata_warn_fn warn, void *warn_ctx,
                    struct store_lazy_blob **out, struct strata_error *err);
const struct strata_fetch *store_lazy_fetch(const struct store_lazy_blob *b);
/* The layer's index blob fetched from the registry (checked against its
 * digest), into *@buf (malloc'd, *@len bytes). */
int store_lazy_get_index(struct store_lazy_blob *b, char **buf, size_t *len,
                         struct strata_error *err);
/* Index blob @index (@len bytes, portable form) adopted as the index of
 * the layer file @path of blob @digest and @diff_id, in the layer cache
 * (validated whole, made to name @path's identity).  The caller holds the
 * layer's cache lock (store_layer_cache_lock). */
int store_layer_adopt_index(struct store *s, const char *path, const char *digest,
                            const char *diff_id, const char *index, size_t len,
                            struct strata_error *err);
/* The same for a lazy blob's sparse copy. */
int store_lazy_adopt_index(struct store *s, const char *digest, const char *diff_id,
                           const char *index, size_t len, struct strata_error *err);
/* Records that blob @digest's index was adopted and its diff-id, which
 * must be @diff_id, is not checked yet (verify.c). */
int store_adopted_mark(struct store *s, const char *digest, const char *diff_id,
                       struct strata_error *err);
/* Bytes not fetched yet. */
int store_lazy_missing(const struct store_lazy_blob *b, uint64_t *missing);
void store_lazy_close(struct store_lazy_blob *b);
/* Checks each piece marked fetched against its digest (fsck): the bytes
 * that check out in *@fetched, the pieces that do not in *@bad. */
int store_lazy_check(struct store *s, const char *digest, uint64_t *fetched, size_t *bad,
                     struct strata_error *err);
/* Fetches what is missing, checks the whole blob's digest, and moves it
 * into blobs/: from then on an ordinary blob. */
int store_lazy_complete(struct store *s, const char *digest, struct strata_error *err);
/* store_lazy_complete, then strata's own index built from the whole blob
 * (replacing the one adopted) and its diff-id checked. */
int store_lazy_complete_layer(struct store *s, const char *digest, const char *diff_id,
                              struct strata_error *err);
/* Every lazy layer of @img completed: what reads a layer's blob whole
 * (push, export) calls it first. */
int store_lazy_complete_image(struct store *s, const struct store_image *img,
                              struct strata_error *err);
/* Forgets the lazy files of @digest (after completing, or to start over). */
void store_lazy_remove(struct store *s, const char *digest);

/* strata/lazy/<hex>@suffix: small files that say something of a blob
 * (.bad, .unverified, .failed), written atomically and read back. */
int store_lazy_write_mark(struct store *s, const char *digest, const char *suffix, const char *text,
                          struct strata_error *err);
/* Whether it is there; its text (up to @size - 1 bytes) into @text. */
bool store_lazy_read_mark(struct store *s, const char *digest, const char *suffix, char *text,
                          size_t size);
/* lazy_bad.c: blob @digest, whole, found not to be itself (its chunk
 * table lied): marked bad with @why, its other lazy files removed.  While
 * the blob is not in blobs/, opening it fails with @why; reads of it in
 * mounts that have it open fail within a second (the mark stays after a
 * pull got it whole, for them); `pull --lazy` takes it whole. */
int store_lazy_mark_bad(struct store *s, const char *digest, const char *why,
                        struct strata_error *err);
/* Whether blob @digest is marked bad; why into @why (@size bytes, may be
 * NULL). */
bool store_lazy_is_bad(struct store *s, const char *digest, char *why, size_t size);

#endif
