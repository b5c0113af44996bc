/* SPDX-License-Identifier: MIT */
/*
 * The store's containers (layerstore/container*.c) and what a SOURCE names
 * (layerstore/source*.c): records, locks, listing, removal, containers'
 * images as gc roots and rmi's guard; then the resolution order (container,
 * image, layer) and the prefix rules.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.h"

static const struct tl_entry base_ents[] = {
    {.type = 'd', .name = "etc"},
    {.type = 'f', .name = "etc/hostname", .data = "box\n", .size = 4},
};
#define N_BASE (sizeof(base_ents) / sizeof(base_ents[0]))

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static bool store_blob_exists(struct sfx *f, const char *digest)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->dir, digest + 7);
	return access(path, F_OK) == 0;
}

/* ---- containers ---- */

START_TEST(test_container_path)
{
	struct sfx f;
	char dir[4096], want[4096];

	sfx_open(&f, "path");
	snprintf(want, sizeof(want), "%s/strata/containers/web-1", f.dir);
	ck_assert_int_eq(store_container_path(f.s, "web-1", dir, sizeof(dir)), 0);
	ck_assert_str_eq(dir, want);
	errno = 0;
	ck_assert_int_eq(store_container_path(f.s, "a/b", dir, sizeof(dir)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(store_container_path(f.s, ".hidden", dir, sizeof(dir)), -1);
	ck_assert_int_eq(store_container_path(f.s, "..", dir, sizeof(dir)), -1);
	ck_assert_int_eq(store_container_path(f.s, "", dir, sizeof(dir)), -1);
	errno = 0;
	ck_assert_int_eq(store_container_path(f.s, "web", dir, 8), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	sfx_close(&f);
}
END_TEST

START_TEST(test_begin_lock_running_end)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], *dir, *d, *argv[] = {"echo", "hi", NULL};
	struct sfx f;
	int lock, again;

	sfx_open(&f, "begin");
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	dir = sfx_container(&f, "c1", "base", digest);
	ck_assert(!store_container_running(dir));
	lock = store_container_begin(dir, "c1", "base", digest, argv, NULL, &err);
	ck_assert_msg(lock >= 0, "%s", err.msg);
	ck_assert(store_container_running(dir));
	/* A second run, and anything that needs it stopped, is refused. */
	ck_assert_int_eq(store_container_begin(dir, "c1", "base", digest, argv, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "container c1: already running");
	ck_assert_int_eq(store_container_lock(dir, &err), -1);
	ck_assert_str_eq(err.msg, "still running");
	store_container_end(dir, 3, false);
	close(lock);
	ck_assert(!store_container_running(dir));
	d = store_container_image_digest(dir);
	ck_assert_str_eq(d, digest);
	free(d);
	again = store_container_lock(dir, &err);
	ck_assert_msg(again >= 0, "%s", err.msg);
	ck_assert(store_container_running(dir)); /* held: cannot start */
	close(again);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_create)
{
	struct strata_error err = {0};
	char *dir, *again, want[4096];
	struct stat st;
	bool fresh = false;
	struct sfx f;

	sfx_open(&f, "create");
	dir = store_container_create(f.s, "new", &fresh, &err);
	ck_assert_msg(dir != NULL, "%s", err.msg);
	snprintf(want, sizeof(want), "%s/strata/containers/new", f.dir);
	ck_assert_str_eq(dir, want);
	ck_assert(fresh);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	again = store_container_create(f.s, "new", &fresh, &err);
	ck_assert_str_eq(again, dir);
	ck_assert(!fresh);
	ck_assert_ptr_null(store_container_create(f.s, "a/b", &fresh, &err));
	free(again);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_records)
{
	char digest[STORE_DIGEST_MAX], *dir, *file, *text;
	size_t len;
	struct sfx f;

	sfx_open(&f, "records");
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	dir = sfx_container(&f, "c1", "base", digest);
	store_container_add_mount_points(dir, "etc/hosts\ndev\n");
	store_container_add_mount_points(dir, "dev\netc/hosts\nproc\nde\n");
	file = tl_path(dir, "mountpoints");
	text = (char *)tl_read_file(file, &len);
	/* Each once, in the order first seen; "de" is not "dev". */
	ck_assert_int_eq((int)len, (int)strlen("etc/hosts\ndev\nproc\nde\n"));
	ck_assert(memcmp(text, "etc/hosts\ndev\nproc\nde\n", len) == 0);
	free(text);
	free(file);
	/* Root's maps are the identity: no files, and stale ones go. */
	if (getuid() == 0) {
		file = tl_path(dir, "uid_map");
		tl_write_file(file, "0 1000 1\n", 9);
		store_container_save_id_maps(dir, getpid());
		ck_assert_int_eq(access(file, F_OK), -1);
		free(file);
	}
	free(dir);
	sfx_close(&f);
}
END_TEST

static const struct store_container *find(const struct store_container *v, size_t n,
                                          const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

START_TEST(test_list)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], *dir, *bare, *argv[] = {"sh", NULL};
	const struct store_container *c;
	struct store_container *v;
	struct sfx f;
	size_t n;
	int lock;

	sfx_open(&f, "list");
	ck_assert_int_eq(store_container_list(f.s, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	store_containers_free(v, n);
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	free(sfx_container(&f, "stopped", "base", digest));
	dir = sfx_container(&f, "live", "base:latest", digest);
	lock = store_container_begin(dir, "live", "base:latest", digest, argv, NULL, &err);
	ck_assert_int_ge(lock, 0);
	/* A directory without a record lists, with no image. */
	ck_assert(asprintf(&bare, "%s/strata/containers/bare", f.dir) > 0);
	ck_assert_int_eq(mkdir(bare, 0755), 0);
	ck_assert_int_eq(store_container_list(f.s, &v, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	c = find(v, n, "stopped");
	ck_assert_ptr_nonnull(c);
	ck_assert(!c->running && c->has_exit_code && c->exit_code == 0);
	ck_assert_str_eq(c->image, "base");
	ck_assert_str_eq(c->digest, digest);
	ck_assert_ptr_nonnull(c->created);
	ck_assert(contains(c->state_json, "\"exited\""));
	c = find(v, n, "live");
	ck_assert(c && c->running && !c->has_exit_code);
	ck_assert(contains(c->state_json, "\"running\""));
	c = find(v, n, "bare");
	ck_assert(c && !c->digest && !c->image);
	ck_assert_str_eq(c->state_json, "{}");
	store_containers_free(v, n);
	close(lock);
	free(bare);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_remove)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], *dir, *file;
	struct sfx f;
	int lock;

	sfx_open(&f, "remove");
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	dir = sfx_container(&f, "c1", "base", digest);
	file = sfx_upper(dir, "deep");
	ck_assert_int_eq(mkdir(file, 0755), 0);
	free(file);
	/* A held lock (a run, or a commit reading the upper) blocks removal. */
	lock = store_container_lock(dir, &err);
	ck_assert_int_ge(lock, 0);
	ck_assert_int_eq(store_container_remove(f.s, "c1", NULL, &err), -1);
	ck_assert_str_eq(err.msg, "c1: still running");
	ck_assert_int_eq(access(dir, F_OK), 0);
	close(lock);
	ck_assert_msg(store_container_remove(f.s, "c1", NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(access(dir, F_OK), -1);
	ck_assert_int_eq(store_container_remove(f.s, "c1", NULL, &err), -1);
	ck_assert_str_eq(err.msg, "c1: no such container");
	ck_assert_int_eq(store_container_remove(f.s, "../x", NULL, &err), -1);
	ck_assert_str_eq(err.msg, "../x: not a container name");
	free(dir);
	sfx_close(&f);
}
END_TEST

static int fallback_calls;
static int fallback_rm(const char *path)
{
	fallback_calls++;
	return path ? 0 : -1;
}

START_TEST(test_remove_tree)
{
	char *dir = tl_mkdtemp("tree"), *sub = tl_path(dir, "a"), *file = tl_path(sub, "f");

	ck_assert_int_eq(mkdir(sub, 0755), 0);
	tl_write_file(file, "x", 1);
	fallback_calls = 0;
	ck_assert_int_eq(store_remove_tree(dir, fallback_rm), 0);
	ck_assert_int_eq(access(dir, F_OK), -1);
	/* What the caller could remove needs no help. */
	ck_assert_int_eq(fallback_calls, 0);
	ck_assert_int_eq(store_remove_tree(dir, NULL), 0); /* gone is removed */
	free(file);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_mount_points)
{
	struct strata_error err = {0};
	struct sfx f;
	struct stat st;
	char *dir, *again, *p;

	sfx_open(&f, "mps");
	dir = store_container_mount_points(f.s, &err);
	ck_assert_msg(dir != NULL, "%s", err.msg);
	p = tl_path(dir, "etc/hosts");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644);
	free(p);
	p = tl_path(dir, "proc");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0555);
	free(p);
	again = store_container_mount_points(f.s, &err);
	ck_assert_str_eq(again, dir);
	free(again);
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_gc_keeps_containers_images)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX];
	struct store_gc_result r;
	struct sfx f;

	sfx_open(&f, "gc");
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	free(sfx_container(&f, "c1", "base", digest));
	ck_assert_msg(store_untag(f.s, "base", &err) == 0, "%s", err.msg);
	ck_assert_msg(store_gc_containers(f.s, &r, &err) == 0, "%s", err.msg);
	ck_assert(store_blob_exists(&f, digest));
	ck_assert_int_eq(store_container_remove(f.s, "c1", NULL, &err), 0);
	ck_assert_msg(store_gc_containers(f.s, &r, &err) == 0, "%s", err.msg);
	ck_assert(!store_blob_exists(&f, digest));
	ck_assert_uint_ge(r.blobs, 2);
	sfx_close(&f);
}
END_TEST

START_TEST(test_untag_unused)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], other[STORE_DIGEST_MAX];
	struct store_image *img = NULL;
	struct sfx f;

	sfx_open(&f, "rmi");
	sfx_image(&f, "base", base_ents, N_BASE, digest);
	sfx_image(&f, "free", base_ents, 1, other);
	free(sfx_container(&f, "holder", "base", digest));
	/* An image no container uses goes as before. */
	ck_assert_msg(store_untag_unused(f.s, "free", false, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_resolve(f.s, "free", &img, &err), -1);
	ck_assert_int_eq(store_untag_unused(f.s, "base", false, &err), -1);
	ck_assert_msg(contains(err.msg, "rmi: base: the image of container holder"), "%s", err.msg);
	/* A second name can go: the image keeps the first. */
	ck_assert_int_eq(store_tag(f.s, "base", "alias", &err), 0);
	ck_assert_msg(store_untag_unused(f.s, "alias", false, &err) == 0, "%s", err.msg);
	/* Forced, the image stays, unnamed, found by digest. */
	ck_assert_msg(store_untag_unused(f.s, "base", true, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_resolve(f.s, "base", &img, &err), -1);
	ck_assert_msg(store_resolve(f.s, digest, &img, &err) == 0, "%s", err.msg);
	store_image_free(img);
	sfx_close(&f);
}
END_TEST

/* ---- sources ---- */

START_TEST(test_source_kinds)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], *dir;
	struct store_source src;
	struct sfx f;

	sfx_open(&f, "kinds");
	sfx_image(&f, "box", base_ents, N_BASE, digest);
	sfx_source(&f, "box", STORE_SOURCE_ANY, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_IMAGE);
	ck_assert_uint_eq(src.n_layers, 1);
	ck_assert_str_eq(src.img->digest, digest);
	store_source_close(&src);
	/* A container of the same name shadows the image... */
	dir = sfx_container(&f, "box", "box", digest);
	sfx_source(&f, "box", STORE_SOURCE_ANY, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_CONTAINER);
	ck_assert_uint_eq(src.n_layers, 2); /* the image's layer and the upper */
	ck_assert_str_eq(src.container_dir, dir);
	ck_assert_str_eq(src.img->digest, digest);
	store_source_close(&src);
	/* ...unless only an image will do. */
	sfx_source(&f, "box", STORE_SOURCE_IMAGE, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_IMAGE);
	store_source_close(&src);
	ck_assert_int_eq(store_source_open(f.s, "nothing", STORE_SOURCE_ANY, NULL, &src, &err), -1);
	ck_assert_str_eq(err.msg, "nothing: no such image, layer or container");
	ck_assert_int_eq(
	    store_source_open(f.s, "nothing", STORE_SOURCE_CONTAINER, NULL, &src, &err), -1);
	ck_assert_str_eq(err.msg, "nothing: no such container");
	ck_assert_int_eq(store_source_open(f.s, "nothing", STORE_SOURCE_IMAGE, NULL, &src, &err),
	                 -1);
	ck_assert_str_eq(err.msg, "nothing: no such image");
	free(dir);
	sfx_close(&f);
}
END_TEST

START_TEST(test_source_container_without_record)
{
	struct strata_error err = {0};
	struct store_source src;
	struct sfx f;
	char dir[4096];

	sfx_open(&f, "norecord");
	ck_assert_int_eq(store_container_path(f.s, "ghost", dir, sizeof(dir)), 0);
	sfx_make_dir(dir);
	ck_assert_int_eq(store_source_open(f.s, "ghost", STORE_SOURCE_ANY, NULL, &src, &err), -1);
	ck_assert_str_eq(err.msg, "ghost: container has no state.json");
	sfx_close(&f);
}
END_TEST

START_TEST(test_source_layer_prefix)
{
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], ref[80];
	struct store_image *img = NULL;
	struct store_source src;
	const char *layer;
	struct sfx f;

	sfx_open(&f, "prefix");
	sfx_image(&f, "box", base_ents, N_BASE, digest);
	ck_assert_int_eq(store_resolve(f.s, "box", &img, &err), 0);
	layer = img->layers[0].digest;
	/* 4 hex digits are enough, with or without "sha256:"... */
	snprintf(ref, sizeof(ref), "%.4s", layer + 7);
	sfx_source(&f, ref, STORE_SOURCE_ANY, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_LAYER);
	ck_assert_uint_eq(src.n_layers, 1);
	ck_assert_uint_eq(src.layer_index, 0);
	store_source_close(&src);
	snprintf(ref, sizeof(ref), "sha256:%.10s", layer + 7);
	sfx_source(&f, ref, STORE_SOURCE_LAYER, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_LAYER);
	store_source_close(&src);
	/* ...3 are not, and nor is anything not hex. */
	snprintf(ref, sizeof(ref), "%.3s", layer + 7);
	ck_assert_int_eq(store_source_open(f.s, ref, STORE_SOURCE_LAYER, NULL, &src, &err), -1);
	ck_assert(contains(err.msg, "no such"));
	snprintf(ref, sizeof(ref), "%.4sg", layer + 7);
	ck_assert_int_eq(store_source_open(f.s, ref, STORE_SOURCE_LAYER, NULL, &src, &err), -1);
	/* The image's own digest prefix names the image, before any layer. */
	snprintf(ref, sizeof(ref), "%.6s", digest + 7);
	sfx_source(&f, ref, STORE_SOURCE_ANY, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_IMAGE);
	store_source_close(&src);
	store_image_free(img);
	sfx_close(&f);
}
END_TEST

/* Layers whose digests share their first 4 hex digits: found by trying
 * contents until two collide (about 300 tries). */
static void colliding_layers(struct sfx *f, struct tl_entry ents[2], char data[2][16])
{
	static char seen[65536][16];
	char *path = tl_path(f->tmp, "try.tar"), d[STORE_DIGEST_MAX];
	static bool used[65536];

	memset(used, 0, sizeof(used));
	for (unsigned i = 0; i < 100000; i++) {
		struct tl_entry e = {.type = 'f', .name = "x"};
		char text[16];
		uint8_t *tar;
		size_t len;
		unsigned key;

		snprintf(text, sizeof(text), "%u", i);
		e.data = text;
		e.size = (int64_t)strlen(text);
		tl_write_layer(path, TL_PAX, TL_NONE, &e, 1);
		tar = tl_read_file(path, &len);
		sfx_sha256(tar, len, d);
		free(tar);
		key = (unsigned)strtoul((char[]){d[7], d[8], d[9], d[10], 0}, NULL, 16);
		if (used[key]) {
			snprintf(data[0], 16, "%s", seen[key]);
			snprintf(data[1], 16, "%s", text);
			for (int k = 0; k < 2; k++)
				ents[k] = (struct tl_entry){.type = 'f',
				                            .name = "x",
				                            .data = data[k],
				                            .size = (int64_t)strlen(data[k])};
			free(path);
			return;
		}
		used[key] = true;
		snprintf(seen[key], 16, "%s", text);
	}
	ck_abort_msg("no collision");
}

START_TEST(test_source_ambiguous_layer)
{
	struct strata_error err = {0};
	char a[STORE_DIGEST_MAX], b[STORE_DIGEST_MAX], data[2][16], ref[16];
	struct store_image *img = NULL;
	struct tl_entry ents[2];
	struct store_source src;
	struct sfx f;

	sfx_open(&f, "ambiguous");
	colliding_layers(&f, ents, data);
	sfx_image(&f, "one", &ents[0], 1, a);
	sfx_image(&f, "two", &ents[1], 1, b);
	ck_assert_int_eq(store_resolve(f.s, "one", &img, &err), 0);
	snprintf(ref, sizeof(ref), "%.4s", img->layers[0].digest + 7);
	ck_assert_int_eq(store_source_open(f.s, ref, STORE_SOURCE_LAYER, NULL, &src, &err), -1);
	ck_assert_msg(contains(err.msg, "more than one layer matches"), "%s", err.msg);
	/* One more digit settles it. */
	snprintf(ref, sizeof(ref), "%.12s", img->layers[0].digest + 7);
	sfx_source(&f, ref, STORE_SOURCE_LAYER, &src);
	ck_assert_str_eq(src.img->layers[src.layer_index].digest, img->layers[0].digest);
	store_source_close(&src);
	/* The same layer in two images is one answer. */
	sfx_image(&f, "again", &ents[0], 1, b);
	snprintf(ref, sizeof(ref), "%.12s", img->layers[0].digest + 7);
	sfx_source(&f, ref, STORE_SOURCE_LAYER, &src);
	store_source_close(&src);
	store_image_free(img);
	sfx_close(&f);
}
END_TEST

START_TEST(test_source_ambiguous_image)
{
	static char first[65536][STORE_DIGEST_MAX];
	struct strata_error err = {0};
	char digest[STORE_DIGEST_MAX], ref[16];
	struct store_source src;
	struct sfx f;
	long long t;

	sfx_open(&f, "ambimage");
	/* Untagged images of one layer, created at other times, until two
	 * manifest digests share their first 4 hex digits. */
	for (t = 1;; t++) {
		unsigned key;

		ck_assert_int_lt(t, 5000);
		sfx_image_at(&f, NULL, base_ents, N_BASE, t, digest);
		key = (unsigned)strtoul((char[]){digest[7], digest[8], digest[9], digest[10], 0},
		                        NULL, 16);
		if (first[key][0])
			break;
		snprintf(first[key], sizeof(first[key]), "%s", digest);
	}
	snprintf(ref, sizeof(ref), "%.4s", digest + 7);
	/* Said as such, not "no such" (nor some layer that shares the prefix). */
	ck_assert_int_eq(store_source_open(f.s, ref, STORE_SOURCE_ANY, NULL, &src, &err), -1);
	ck_assert_msg(contains(err.msg, "more than one image matches"), "%s", err.msg);
	snprintf(ref, sizeof(ref), "%.12s", digest + 7);
	sfx_source(&f, ref, STORE_SOURCE_ANY, &src);
	ck_assert_int_eq(src.kind, STORE_SOURCE_IMAGE);
	ck_assert_str_eq(src.img->digest, digest);
	store_source_close(&src);
	sfx_close(&f);
}
END_TEST

static Suite *container_suite(void)
{
	Suite *s = suite_create("container");
	TCase *c = tcase_create("containers");
	TCase *src = tcase_create("sources");

	tcase_set_timeout(c, 60);
	tcase_set_timeout(src, 60);
	tcase_add_test(c, test_container_path);
	tcase_add_test(c, test_create);
	tcase_add_test(c, test_records);
	tcase_add_test(c, test_begin_lock_running_end);
	tcase_add_test(c, test_list);
	tcase_add_test(c, test_remove);
	tcase_add_test(c, test_remove_tree);
	tcase_add_test(c, test_mount_points);
	tcase_add_test(c, test_gc_keeps_containers_images);
	tcase_add_test(c, test_untag_unused);
	tcase_add_test(src, test_source_kinds);
	tcase_add_test(src, test_source_container_without_record);
	tcase_add_test(src, test_source_layer_prefix);
	tcase_add_test(src, test_source_ambiguous_layer);
	tcase_add_test(src, test_source_ambiguous_image);
	suite_add_tcase(s, c);
	suite_add_tcase(s, src);
	return s;
}

int main(void)
{
	return tl_run_suite(container_suite());
}
