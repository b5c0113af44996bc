/* SPDX-License-Identifier: MIT */
/*
 * A store in a temp directory with images made of tl_entry layers and
 * containers made by hand, for the suites of the store's container, source,
 * diff and commit modules.  Every helper fails the test on error.
 */
#ifndef STRATA_STORE_FIXTURE_H
#define STRATA_STORE_FIXTURE_H

#include "strata-store.h"
#include "testlib.h"

struct sfx {
	char *dir; /* the store's root */
	char *tmp; /* scratch space for layer tars */
	struct store *s;
};

void sfx_open(struct sfx *f, const char *tag);
void sfx_close(struct sfx *f);

/* An image of one layer made of @ents, tagged @tag; its digest in @digest. */
void sfx_image(struct sfx *f, const char *tag, const struct tl_entry *ents, size_t n,
               char digest[STORE_DIGEST_MAX]);
/* sfx_image, created at @created (seconds): another config, another
 * manifest digest for the same layer. */
void sfx_image_at(struct sfx *f, const char *tag, const struct tl_entry *ents, size_t n,
                  long long created, char digest[STORE_DIGEST_MAX]);
/* Image @base with a layer made of @ents on top, tagged @tag. */
void sfx_stack(struct sfx *f, const char *base, const char *tag, const struct tl_entry *ents,
               size_t n, char digest[STORE_DIGEST_MAX]);
/* A stopped container @name of image @digest (named @image in its record),
 * with an empty upper.  Its directory, malloc'd. */
char *sfx_container(struct sfx *f, const char *name, const char *image, const char *digest);
/* mkdir @dir, and its parent when missing. */
void sfx_make_dir(const char *dir);
/* "<dir>/upper/<rel>", malloc'd. */
char *sfx_upper(const char *dir, const char *rel);
/* Opens @ref as one of @allowed. */
void sfx_source(struct sfx *f, const char *ref, unsigned allowed, struct store_source *out);
/* The digest of @len bytes, "sha256:<hex>". */
void sfx_sha256(const void *buf, size_t len, char out[STORE_DIGEST_MAX]);

#endif
