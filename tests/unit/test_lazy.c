/* SPDX-License-Identifier: MIT */
/*
 * Lazily fetched layers (strata_layer_options.fetch): a layer whose file
 * is a sparse copy of the blob, filled on demand by its fetch source, read
 * through an index adopted from the whole blob's (the lazy pull's path).
 * The source here copies 256 KiB pieces of the real blob into the sparse
 * one and counts them, as the layer store's registry fetcher does over
 * HTTP: reads must ask for exactly the pieces they use, see the blob's
 * bytes, and fail with EIO, not with zeros, when a piece cannot be had.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer.h"
#include "testlib.h"

#define PIECE     ((uint64_t)256 << 10)
#define N_FILES   24
#define FILE_SIZE ((int64_t)300 << 10)

struct source {
	int whole, sparse;
	uint64_t size;
	bool *have;
	uint64_t fetched;   /* pieces copied */
	uint64_t fail_from; /* pieces from here on cannot be had */
	pthread_mutex_t lock;
};

static int ensure(void *ctx, uint64_t off, uint64_t len)
{
	struct source *s = ctx;
	static char buf[PIECE];
	int rc = 0;

	ck_assert(len > 0 && off + len <= s->size);
	pthread_mutex_lock(&s->lock);
	for (uint64_t p = off / PIECE; rc == 0 && p <= (off + len - 1) / PIECE; p++) {
		uint64_t at = p * PIECE, n = s->size - at < PIECE ? s->size - at : PIECE;

		if (s->have[p])
			continue;
		if (p >= s->fail_from) {
			rc = EIO;
			break;
		}
		ck_assert_int_eq(pread(s->whole, buf, n, (off_t)at), (ssize_t)n);
		ck_assert_int_eq(pwrite(s->sparse, buf, n, (off_t)at), (ssize_t)n);
		s->have[p] = true;
		s->fetched++;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

struct lazy_case {
	char *dir, *whole, *sparse, *cache_whole, *cache_lazy;
	struct source src;
	struct strata_fetch fetch;
	struct strata_layer *l;
};

/* File @i's content: noise (xorshift), so that gzip keeps it about as
 * large, and a file is as many pieces of the blob as of the tar. */
static void content(int i, uint8_t *buf)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);

	for (int64_t k = 0; k < FILE_SIZE; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[k] = (uint8_t)x;
	}
}

static void write_layer(const char *path, enum tl_filter filt)
{
	struct tl_entry e[N_FILES];
	char names[N_FILES][16];
	uint8_t *data = malloc((size_t)FILE_SIZE * N_FILES);

	memset(e, 0, sizeof(e));
	for (int i = 0; i < N_FILES; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02d", i);
		content(i, data + (size_t)i * FILE_SIZE);
		e[i] = (struct tl_entry){.type = 'f',
		                         .name = names[i],
		                         .size = FILE_SIZE,
		                         .data = data + (size_t)i * FILE_SIZE};
	}
	tl_write_layer(path, TL_PAX, filt, e, N_FILES);
	free(data);
}

/* The blob indexed whole, its index adopted for an empty sparse copy. */
static void setup(struct lazy_case *c, enum tl_filter filt)
{
	struct strata_layer_options o = {0};
	struct strata_error err = {0};
	struct strata_layer *l;
	int fd;

	memset(c, 0, sizeof(*c));
	c->dir = tl_mkdtemp("lazy");
	c->whole = tl_path(c->dir, "whole");
	c->sparse = tl_path(c->dir, "sparse");
	c->cache_whole = tl_path(c->dir, "cache-whole");
	c->cache_lazy = tl_path(c->dir, "cache-lazy");
	write_layer(c->whole, filt);
	o.cache_dir = c->cache_whole;
	ck_assert_int_eq(strata_layer_open_tar(c->whole, &o, &l, &err), 0);
	strata_layer_close(l);
	fd = open(c->dir, O_TMPFILE | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(strata_layer_index_export(c->whole, &o, fd, &err), 0);

	c->src.whole = open(c->whole, O_RDONLY);
	c->src.size = (uint64_t)lseek(c->src.whole, 0, SEEK_END);
	c->src.sparse = open(c->sparse, O_RDWR | O_CREAT, 0600);
	ck_assert_int_eq(ftruncate(c->src.sparse, (off_t)c->src.size), 0);
	c->src.have = calloc(c->src.size / PIECE + 1, 1);
	c->src.fail_from = UINT64_MAX;
	pthread_mutex_init(&c->src.lock, NULL);
	c->fetch = (struct strata_fetch){ensure, &c->src, NULL};

	o.cache_dir = c->cache_lazy;
	ck_assert_int_eq(strata_layer_index_adopt(c->sparse, &o, fd, &err), 0);
	close(fd);
}

static void open_lazy(struct lazy_case *c)
{
	struct strata_layer_options o = {.cache_dir = c->cache_lazy, .fetch = &c->fetch};
	struct strata_error err = {0};

	ck_assert_msg(strata_layer_open_tar(c->sparse, &o, &c->l, &err) == 0, "%s", err.msg);
}

static void teardown(struct lazy_case *c)
{
	if (c->l)
		strata_layer_close(c->l);
	close(c->src.whole);
	close(c->src.sparse);
	free(c->src.have);
	pthread_mutex_destroy(&c->src.lock);
	tl_rmrf(c->dir);
	free(c->dir);
	free(c->whole);
	free(c->sparse);
	free(c->cache_whole);
	free(c->cache_lazy);
}

/* File @i's bytes as the layer serves them: 0 or the read's errno. */
static int read_file(const struct strata_layer *l, int i, uint8_t *buf)
{
	char name[16];
	uint64_t node, off = 0;

	snprintf(name, sizeof(name), "f%02d", i);
	node = l->ops->lookup(l, 0, name, strlen(name));
	ck_assert(node != LAYER_NONE);
	while (off < (uint64_t)FILE_SIZE) {
		struct layer_extent x[4];
		size_t n = l->ops->map(l, node, off, (uint64_t)FILE_SIZE - off, x, 4);

		ck_assert(n > 0);
		for (size_t k = 0; k < n; k++) {
			int rc = fs_layer_extent_read(&x[k], buf + off);

			if (rc)
				return rc;
			off += x[k].len;
		}
	}
	return 0;
}

static void check_file(const struct strata_layer *l, int i)
{
	uint8_t *got = malloc(FILE_SIZE), *want = malloc(FILE_SIZE);

	ck_assert_int_eq(read_file(l, i, got), 0);
	content(i, want);
	ck_assert_msg(memcmp(got, want, FILE_SIZE) == 0, "f%02d differs", i);
	free(got);
	free(want);
}

/* One file near the end fetches a few pieces, not the blob; then every
 * file reads right, and the blob is all fetched, each piece once. */
static void reads_fetch_what_they_use(enum tl_filter filt)
{
	struct lazy_case c;
	uint64_t pieces;

	setup(&c, filt);
	open_lazy(&c);
	pieces = (c.src.size + PIECE - 1) / PIECE;
	ck_assert_uint_eq(c.src.fetched, 0); /* opening reads no byte of it */
	check_file(c.l, N_FILES - 2);
	ck_assert_msg(c.src.fetched * 4 <= pieces, "one file fetched %llu of %llu pieces",
	              (unsigned long long)c.src.fetched, (unsigned long long)pieces);
	for (int i = 0; i < N_FILES; i++)
		check_file(c.l, i);
	ck_assert_uint_le(c.src.fetched, pieces);
	teardown(&c);
}

START_TEST(test_lazy_gzip)
{
	reads_fetch_what_they_use(TL_GZIP);
}
END_TEST

START_TEST(test_lazy_plain)
{
	reads_fetch_what_they_use(TL_NONE);
}
END_TEST

/* Pieces that cannot be had: EIO for what needs them, never zeros; what
 * was fetched before still reads. */
START_TEST(test_lazy_fetch_fails)
{
	for (int k = 0; k < 2; k++) {
		struct lazy_case c;
		uint8_t *buf = malloc(FILE_SIZE);

		setup(&c, k ? TL_GZIP : TL_NONE);
		open_lazy(&c);
		check_file(c.l, 0);
		c.src.fail_from = c.src.size / PIECE / 2;
		ck_assert_int_eq(read_file(c.l, N_FILES - 1, buf), EIO);
		check_file(c.l, 0);
		c.src.fail_from = UINT64_MAX; /* it comes back */
		check_file(c.l, N_FILES - 1);
		free(buf);
		teardown(&c);
	}
}
END_TEST

/* Without an adopted index a lazy layer does not open, and nothing reads
 * the sparse file to build one. */
START_TEST(test_lazy_needs_index)
{
	struct lazy_case c;
	struct strata_layer_options o = {0};
	struct strata_error err = {0};
	struct strata_layer *l;

	setup(&c, TL_GZIP);
	tl_rmrf(c.cache_lazy);
	o.cache_dir = c.cache_lazy;
	o.fetch = &c.fetch;
	ck_assert_int_eq(strata_layer_open_tar(c.sparse, &o, &l, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_INDEX);
	ck_assert_uint_eq(c.src.fetched, 0);
	ck_assert_int_eq(tl_count_dir(c.cache_lazy), 0);
	teardown(&c);
}
END_TEST

static Suite *lazy_suite(void)
{
	Suite *s = suite_create("lazy");
	TCase *tc = tcase_create("lazy");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lazy_gzip);
	tcase_add_test(tc, test_lazy_plain);
	tcase_add_test(tc, test_lazy_fetch_fails);
	tcase_add_test(tc, test_lazy_needs_index);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(lazy_suite());
}
