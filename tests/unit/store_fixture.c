/* SPDX-License-Identifier: MIT */
/* Stores, images and containers for the store's unit suites (store_fixture.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.h"

void sfx_open(struct sfx *f, const char *tag)
{
	struct strata_error err = {0};

	memset(f, 0, sizeof(*f));
	f->dir = tl_mkdtemp(tag);
	f->tmp = tl_mkdtemp("tars");
	ck_assert_msg(store_open(f->dir, true, &f->s, &err) == 0, "%s", err.msg);
}

void sfx_close(struct sfx *f)
{
	store_close(f->s);
	tl_rmrf(f->dir);
	tl_rmrf(f->tmp);
	free(f->dir);
	free(f->tmp);
}

void sfx_sha256(const void *buf, size_t len, char out[STORE_DIGEST_MAX])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	ck_assert(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) == 1);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* The layer made of @ents, stored as an uncompressed blob. */
static void put_layer(struct sfx *f, const struct tl_entry *ents, size_t n, struct store_layer *out)
{
	struct strata_error err = {0};
	struct store_layer_writer *w;
	char *path = tl_path(f->tmp, "layer.tar");
	size_t len;
	uint8_t *tar;

	tl_write_layer(path, TL_PAX, TL_NONE, ents, n);
	tar = tl_read_file(path, &len);
	ck_assert_msg(store_layer_begin(f->s, STORE_COMPRESS_NONE, &w, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_layer_write(w, tar, len, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_layer_finish(w, out, &err) == 0, "%s", err.msg);
	store_layer_abort(w);
	free(tar);
	unlink(path);
	free(path);
}

static void commit_on(struct sfx *f, const struct store_image *base, const char *tag,
                      const struct tl_entry *ents, size_t n, long long created,
                      char digest[STORE_DIGEST_MAX])
{
	struct store_commit_options co = {.tag = tag, .created_by = "test", .created = created};
	struct strata_error err = {0};
	struct store_layer layer = {0};

	put_layer(f, ents, n, &layer);
	ck_assert_msg(store_commit_image(f->s, base, &layer, &co, digest, &err) == 0, "%s",
	              err.msg);
	free(layer.media_type);
}

void sfx_image(struct sfx *f, const char *tag, const struct tl_entry *ents, size_t n,
               char digest[STORE_DIGEST_MAX])
{
	sfx_image_at(f, tag, ents, n, 0, digest);
}

void sfx_image_at(struct sfx *f, const char *tag, const struct tl_entry *ents, size_t n,
                  long long created, char digest[STORE_DIGEST_MAX])
{
	static const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\","
	                             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct store_image empty = {.config_json = (char *)config};

	commit_on(f, &empty, tag, ents, n, created, digest);
}

void sfx_stack(struct sfx *f, const char *base, const char *tag, const struct tl_entry *ents,
               size_t n, char digest[STORE_DIGEST_MAX])
{
	struct strata_error err = {0};
	struct store_image *img = NULL;

	ck_assert_msg(store_resolve(f->s, base, &img, &err) == 0, "%s", err.msg);
	commit_on(f, img, tag, ents, n, 0, digest);
	store_image_free(img);
}

char *sfx_container(struct sfx *f, const char *name, const char *image, const char *digest)
{
	struct strata_error err = {0};
	char dir[4096], *argv[] = {"sh", NULL}, *upper;
	int lock;

	ck_assert(store_container_path(f->s, name, dir, sizeof(dir)) == 0);
	upper = sfx_upper(dir, "");
	sfx_make_dir(dir);
	ck_assert_int_eq(mkdir(upper, 0755), 0);
	free(upper);
	lock = store_container_begin(dir, name, image, digest, argv, NULL, &err);
	ck_assert_msg(lock >= 0, "%s", err.msg);
	store_container_end(dir, 0, false);
	close(lock);
	return strdup(dir);
}

void sfx_make_dir(const char *dir)
{
	char *parent = strdup(dir), *slash = strrchr(parent, '/');

	*slash = '\0';
	/* <root>/strata/containers comes with the first container. */
	if (access(parent, F_OK) < 0)
		ck_assert_msg(mkdir(parent, 0755) == 0, "%s: %s", parent, strerror(errno));
	ck_assert_msg(mkdir(dir, 0755) == 0, "%s: %s", dir, strerror(errno));
	free(parent);
}

char *sfx_upper(const char *dir, const char *rel)
{
	char *p;

	ck_assert(asprintf(&p, "%s/upper%s%s", dir, *rel ? "/" : "", rel) > 0);
	return p;
}

void sfx_source(struct sfx *f, const char *ref, unsigned allowed, struct store_source *out)
{
	struct strata_error err = {0};

	ck_assert_msg(store_source_open(f->s, ref, allowed, NULL, out, &err) == 0, "%s: %s", ref,
	              err.msg);
}
