/* SPDX-License-Identifier: MIT */
/*
 * zstd and xz layers read in place (issue 15): for zstd of several frames
 * (written by libzstd: even ones, uneven ones, and a zstd:chunked-like
 * layout of many small frames with skippable frames among them) and xz of
 * several blocks (`xz -T2 --block-size`), every span decoded alone from its
 * checkpoint is the plain tar's bytes, reads at random offsets are too, and
 * no decompressed copy is left; a single frame or block keeps the copy and
 * is not seekable; a blob changed under its index reads as EIO, never as
 * other bytes; a damaged checkpoint fails the index checksum and is
 * rebuilt; a layer indexed as it streams in (a pull) is read in place too;
 * readers at once, with a cache smaller than the layer, read right.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "frame_seek.h"
#include "gzip_seek.h"
#include "layer.h"
#include "spanlib.h"
#include "testlib.h"

struct fcase {
	char *dir, *cache, *tar, *blob;
	uint8_t *plain;
	size_t plain_len;
};

/* The shared test layer (spanlib.c), with @blob_name for its compressed form. */
static void make_tar(struct fcase *c, const char *blob_name)
{
	struct tl_seek_tar t;

	tl_seek_tar_make(&t, "frames");
	*c = (struct fcase){t.dir, t.cache, t.tar, tl_path(t.dir, blob_name), t.plain, t.plain_len};
}

static void free_case(struct fcase *c)
{
	tl_rmrf(c->dir);
	free(c->plain);
	free(c->dir);
	free(c->cache);
	free(c->tar);
	free(c->blob);
}

/* A skippable frame of @len bytes (its magic, its length, its bytes). */
static void skippable(FILE *f, size_t len)
{
	uint8_t head[8] = {0x5e, 0x2a, 0x4d, 0x18};

	for (int i = 0; i < 4; i++)
		head[4 + i] = (uint8_t)(len >> (8 * i));
	ck_assert_uint_eq(fwrite(head, 1, 8, f), 8);
	for (size_t i = 0; i < len; i++)
		fputc((int)(i * 7), f);
}

/* The plain tar as zstd frames of @frame bytes each (every third one
 * @frame / 3 when @uneven, and streamed: no content size), with a skippable frame before the first
 * and every @skip_every frames and after the last (none when 0). */
static void write_zstd(const struct fcase *c, size_t frame, bool uneven, size_t skip_every,
                       bool checksum)
{
	FILE *f = fopen(c->blob, "wb");
	ZSTD_CCtx *z = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(frame) + 64, k = 0;
	uint8_t *out = malloc(cap);

	ck_assert_ptr_nonnull(f);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, checksum)));
	if (skip_every)
		skippable(f, 100);
	for (size_t off = 0; off < c->plain_len; k++) {
		size_t len = uneven && k % 3 == 2 ? frame / 3 : frame, n;

		if (len > c->plain_len - off)
			len = c->plain_len - off;
		if (uneven) {
			/* Streamed, as a pipe is: no content size in the header. */
			ZSTD_inBuffer in = {c->plain + off, len, 0};
			ZSTD_outBuffer o = {out, cap, 0};

			/* Input first, the end after: the size is not known up front. */
			n = ZSTD_compressStream2(z, &o, &in, ZSTD_e_continue);
			ck_assert(!ZSTD_isError(n) && in.pos == len);
			n = ZSTD_compressStream2(z, &o, &in, ZSTD_e_end);
			ck_assert_msg(n == 0, "zstd: %s",
			              ZSTD_isError(n) ? ZSTD_getErrorName(n) : "more");
			ck_assert(ZSTD_getFrameContentSize(out, o.pos) == ZSTD_CONTENTSIZE_UNKNOWN);
			n = o.pos;
		} else {
			n = ZSTD_compress2(z, out, cap, c->plain + off, len);
		}
		ck_assert_msg(!ZSTD_isError(n), "zstd: %s", ZSTD_getErrorName(n));
		ck_assert_uint_eq(fwrite(out, 1, n, f), n);
		off += len;
		if (skip_every && (k % skip_every == 0 || off == c->plain_len))
			skippable(f, 3000);
	}
	ck_assert_int_eq(fclose(f), 0);
	free(out);
	ZSTD_freeCCtx(z);
}

static void run(const char *fmt, const struct fcase *c)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), fmt, c->tar, c->blob);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static char *copy_path(const char *index_path)
{
	char *copy = strdup(index_path);

	memcpy(copy + strlen(copy) - 4, ".tar", 4);
	return copy;
}

/* Reads at odd offsets and lengths through the layer equal the tar. */
static void random_reads(struct strata_layer *l, const struct fcase *c, uint8_t *buf)
{
	for (uint64_t k = 0, off = 7; k < 200; k++, off = (off * 7919 + 4093) % c->plain_len) {
		size_t len = (size_t)((k * 104729) % 300000);

		if (len > c->plain_len - off)
			len = c->plain_len - off;
		ck_assert_int_eq(l->ops->read(l, off, buf, len), 0);
		ck_assert_msg(memcmp(buf, c->plain + off, len) == 0, "read at %llu",
		              (unsigned long long)off);
	}
}

/* Seekable: every span alone is the tar's bytes, reads are right, and
 * there is no copy.  Not: no checkpoints, the copy holds the tar. */
static void check_layer(const struct fcase *c, bool seekable, uint64_t min_spans)
{
	struct strata_layer *l = tl_open_layer(c->blob, c->cache, NULL);
	struct strata_layer_info info;
	struct strata_error err;
	struct ix_map m;
	int fd = open(c->blob, O_RDONLY);
	uint8_t *buf = malloc(c->plain_len + 1);
	char *copy;

	strata_layer_info(l, &info);
	ck_assert_int_eq(info.seekable, seekable);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), 0);
	ck_assert_uint_eq(m.hdr->stream_size, c->plain_len);
	ck_assert_uint_ge(m.hdr->n_checkpoints, min_spans);
	for (uint32_t i = 0; i < m.hdr->n_checkpoints; i++) {
		uint64_t off = m.checkpoints[i].out, len = fs_gz_span_len(&m, i);

		ck_assert_int_eq(fs_frame_span_decode(fd, &m, i, buf, len), 0);
		ck_assert_msg(memcmp(buf, c->plain + off, len) == 0, "span %u differs", i);
	}
	copy = copy_path(info.index_path);
	if (seekable) {
		random_reads(l, c, buf);
		ck_assert_int_eq(access(copy, F_OK), -1);
	} else {
		size_t len;
		uint8_t *got = tl_read_file(copy, &len);

		ck_assert_uint_eq(m.hdr->n_checkpoints, 0);
		ck_assert_uint_eq(len, c->plain_len);
		ck_assert_int_eq(memcmp(got, c->plain, len), 0);
		free(got);
	}
	free(copy);
	fs_ix_map_close(&m);
	strata_layer_close(l);
	close(fd);
	free(buf);
}

START_TEST(test_zstd_even_frames)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 512 * 1024, false, 0, true);
	check_layer(&c, true, 5);
	free_case(&c);
}
END_TEST

/* Frames bigger than a span, and smaller, unevenly. */
START_TEST(test_zstd_uneven_frames)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 1500 * 1000, true, 0, false);
	check_layer(&c, true, 4);
	free_case(&c);
}
END_TEST

/* zstd:chunked's shape: many small frames, skippable frames among them
 * (its table of contents is one, at the end). */
START_TEST(test_zstd_chunked_like)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 20 * 1000, true, 17, true);
	check_layer(&c, true, 5);
	free_case(&c);
}
END_TEST

START_TEST(test_zstd_one_frame_keeps_copy)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, c.plain_len, false, 0, true);
	check_layer(&c, false, 0);
	free_case(&c);
}
END_TEST

/* The zstd CLI's multithreaded output is one frame however it is cut. */
START_TEST(test_zstd_cli_keeps_copy)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	run("zstd -q -T2 -B1048576 -c %s > %s", &c);
	check_layer(&c, false, 0);
	free_case(&c);
}
END_TEST

START_TEST(test_xz_blocks)
{
	struct fcase c;

	make_tar(&c, "layer.tar.xz");
	run("xz -T2 --block-size=1MiB -c %s > %s", &c);
	check_layer(&c, true, 5);
	free_case(&c);
}
END_TEST

/* Blocks of uneven size from one thread, CRC-32 checks, preset 1. */
START_TEST(test_xz_block_list)
{
	struct fcase c;

	make_tar(&c, "layer.tar.xz");
	run("xz -1 -C crc32 --block-list=300KiB,2MiB,100KiB,1MiB -c %s > %s", &c);
	check_layer(&c, true, 4);
	free_case(&c);
}
END_TEST

START_TEST(test_xz_one_block_keeps_copy)
{
	struct fcase c;

	make_tar(&c, "layer.tar.xz");
	run("xz -T1 -c %s > %s", &c);
	check_layer(&c, false, 0);
	free_case(&c);
}
END_TEST

/* Two streams, each of several blocks: kept as a copy (xz_seek.c). */
START_TEST(test_xz_two_streams_keep_copy)
{
	struct fcase c;

	make_tar(&c, "layer.tar.xz");
	run("head -c 3000000 %1$s | xz -T2 --block-size=1MiB > %2$s && "
	    "tail -c +3000001 %1$s | xz -T2 --block-size=1MiB >> %2$s",
	    &c);
	check_layer(&c, false, 0);
	free_case(&c);
}
END_TEST

/* Flips one byte of @path at @off, keeping its times. */
static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	struct timespec ts[2];
	uint8_t b;

	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ck_assert_int_eq(futimens(fd, ts), 0);
	close(fd);
}

/* The blob changed under its valid index: the damaged span is EIO, those
 * before it still read right. */
static void check_damage_eio(struct fcase *c)
{
	struct strata_layer *l = tl_open_layer(c->blob, c->cache, NULL);
	struct strata_layer_info info;
	struct stat st;
	uint8_t *buf = malloc(c->plain_len);

	strata_layer_close(l);
	ck_assert_int_eq(stat(c->blob, &st), 0);
	flip(c->blob, (uint64_t)st.st_size / 2);
	l = tl_open_layer(c->blob, c->cache, NULL);
	strata_layer_info(l, &info);
	ck_assert(info.index_reused);
	ck_assert(info.seekable);
	ck_assert_int_eq(l->ops->read(l, 0, buf, c->plain_len), EIO);
	ck_assert_int_eq(l->ops->read(l, 0, buf, 4096), 0);
	ck_assert_int_eq(memcmp(buf, c->plain, 4096), 0);
	free(buf);
	strata_layer_close(l);
}

/* No zstd checksum: only the index's chunk CRCs can tell. */
START_TEST(test_zstd_damage_eio)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 300 * 1000, false, 0, false);
	check_damage_eio(&c);
	free_case(&c);
}
END_TEST

START_TEST(test_xz_damage_eio)
{
	struct fcase c;

	make_tar(&c, "layer.tar.xz");
	run("xz -T2 --block-size=1MiB -c %s > %s", &c);
	check_damage_eio(&c);
	free_case(&c);
}
END_TEST

/* A damaged checkpoint fails the index's checksum: rebuilt, reads right. */
START_TEST(test_damaged_checkpoint_rebuilds)
{
	struct fcase c;
	struct strata_layer *l;
	struct strata_layer_info info;
	struct strata_error err;
	struct ix_map m;
	uint64_t at;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 400 * 1000, false, 0, false);
	l = tl_open_layer(c.blob, c.cache, NULL);
	strata_layer_info(l, &info);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), 0);
	ck_assert_uint_ge(m.hdr->n_checkpoints, 3);
	at = m.hdr->checkpoints_off + 2 * sizeof(struct ix_checkpoint) + 8; /* the third's in */
	fs_ix_map_close(&m);
	flip(info.index_path, at);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), -1);
	strata_layer_close(l);
	check_layer(&c, true, 3);
	free_case(&c);
}
END_TEST

/* The span cache over a frame layer: a sequential reader starts one
 * decoder, which goes from span to span. */
static void sequential_once(struct fcase *c)
{
	struct tl_spans k;

	tl_spans_open(&k, c->blob, c->cache);
	tl_spans_read(&k, c->plain, 0, c->plain_len, 100000);
	ck_assert_uint_eq(k.starts, 1);
	ck_assert_uint_eq(k.decoded, c->plain_len);
	tl_spans_close(&k);
}

START_TEST(test_sequential_decodes_once)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 200 * 1000, true, 5, true);
	sequential_once(&c);
	free_case(&c);
	make_tar(&c, "layer.tar.xz");
	run("xz -T2 --block-size=700KiB -c %s > %s", &c);
	sequential_once(&c);
	free_case(&c);
}
END_TEST

/* A pull: each read copies the next odd-sized piece of the blob to the
 * file being downloaded. */
struct trickle {
	int src, dst;
	uint64_t off;
};

static ssize_t trickle_read(void *ctx, void *buf, size_t len)
{
	struct trickle *t = ctx;
	ssize_t n;

	if (len > 7777)
		len = 7777;
	n = pread(t->src, buf, len, (off_t)t->off);
	if (n > 0) {
		ck_assert_int_eq(pwrite(t->dst, buf, (size_t)n, (off_t)t->off), n);
		t->off += (uint64_t)n;
	}
	return n;
}

static void check_streamed(struct fcase *c)
{
	struct strata_layer_options lo = {.cache_key = "pulled", .want_diff_id = true};
	struct strata_error err;
	struct strata_layer_info info;
	struct strata_layer *l;
	struct trickle t = {0};
	char diff_id[72];
	char *dst = tl_path(c->dir, "downloaded");
	uint8_t *buf = malloc(c->plain_len), *a, *b;
	size_t alen, blen;

	mkdir(c->cache, 0755);
	lo.cache_dir = c->cache;
	t.src = open(c->blob, O_RDONLY);
	t.dst = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(strata_layer_index_stream(dst, trickle_read, &t, &lo, diff_id, &err) == 0,
	              "%s", err.msg);
	close(t.src);
	close(t.dst);
	free(c->blob);
	c->blob = dst;
	{
		char *copy = tl_path(c->cache, "pulled.tar");

		ck_assert_int_eq(access(copy, F_OK), -1);
		free(copy);
	}
	/* The file open finds the streamed index, and reads through it. */
	lo.want_diff_id = false;
	ck_assert_int_eq(strata_layer_open_tar(dst, &lo, &l, &err), 0);
	strata_layer_info(l, &info);
	ck_assert(info.index_reused);
	ck_assert(info.seekable);
	random_reads(l, c, buf);
	a = tl_read_file(info.index_path, &alen);
	strata_layer_close(l);
	/* Built from the file (CRCs in the pass, no copy at all), the index
	 * is the same past its header (the stream's copy was read back). */
	lo.cache_key = "from-file";
	ck_assert_int_eq(strata_layer_open_tar(dst, &lo, &l, &err), 0);
	strata_layer_info(l, &info);
	ck_assert(!info.index_reused);
	b = tl_read_file(info.index_path, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_int_eq(memcmp(a + sizeof(struct ix_header), b + sizeof(struct ix_header),
	                        alen - sizeof(struct ix_header)),
	                 0);
	strata_layer_close(l);
	free(a);
	free(b);
	free(buf);
	check_layer(c, true, 5);
}

START_TEST(test_streamed_zstd_and_xz)
{
	struct fcase c;

	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 256 * 1024, false, 9, true);
	check_streamed(&c);
	free_case(&c);
	make_tar(&c, "layer.tar.xz");
	run("xz -T2 --block-size=1MiB -c %s > %s", &c);
	check_streamed(&c);
	free_case(&c);
}
END_TEST

/* Frames cut at @cuts (streamed: no content size in their headers). */
static void write_zstd_cuts(const struct fcase *c, const size_t *cuts, size_t n_cuts)
{
	FILE *f = fopen(c->blob, "wb");
	ZSTD_CCtx *z = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(c->plain_len) + 64, start = 0;
	uint8_t *out = malloc(cap);

	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : c->plain_len;
		ZSTD_inBuffer in = {c->plain + start, end - start, 0};
		ZSTD_outBuffer o = {out, cap, 0};

		ck_assert(!ZSTD_isError(ZSTD_compressStream2(z, &o, &in, ZSTD_e_continue)));
		ck_assert_uint_eq(ZSTD_compressStream2(z, &o, &in, ZSTD_e_end), 0);
		ck_assert_uint_eq(fwrite(out, 1, o.pos, f), o.pos);
		start = end;
	}
	ck_assert_int_eq(fclose(f), 0);
	free(out);
	ZSTD_freeCCtx(z);
}

/* Small frames, then one of more than FRAME_MAX: the pass stops writing
 * the copy after the small ones, and makes it again from the file at the
 * end, from a layer file and from a stream. */
START_TEST(test_zstd_big_frame_after_small_keeps_copy)
{
	struct strata_layer_options lo = {.cache_key = "pulled"};
	struct strata_error err;
	struct trickle t = {0};
	struct fcase c;
	struct tl_entry ents[2] = {
	    {.type = 'f', .name = "pattern", .size = 1500000},
	    {.type = 'f', .name = "zeros", .size = FRAME_MAX + (1 << 20)},
	};
	uint8_t *zeros = calloc(1, ents[1].size);
	char diff_id[72], *dst, *copy;
	uint8_t *got;
	size_t len;

	ents[1].data = zeros;
	c.dir = tl_mkdtemp("frames");
	c.cache = tl_path(c.dir, "cache");
	c.tar = tl_path(c.dir, "layer.tar");
	c.blob = tl_path(c.dir, "layer.tar.zst");
	tl_write_layer(c.tar, TL_PAX, TL_NONE, ents, 2);
	c.plain = tl_read_file(c.tar, &c.plain_len);
	write_zstd_cuts(&c, (size_t[]){400000, 800000, 1200000}, 3);
	check_layer(&c, false, 0);

	mkdir(c.cache, 0755);
	lo.cache_dir = c.cache;
	dst = tl_path(c.dir, "downloaded");
	t.src = open(c.blob, O_RDONLY);
	t.dst = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(strata_layer_index_stream(dst, trickle_read, &t, &lo, diff_id, &err) == 0,
	              "%s", err.msg);
	close(t.src);
	close(t.dst);
	copy = tl_path(c.cache, "pulled.tar");
	got = tl_read_file(copy, &len);
	ck_assert_uint_eq(len, c.plain_len);
	ck_assert_int_eq(memcmp(got, c.plain, len), 0);
	free(got);
	free(copy);
	free(dst);
	free(zeros);
	free_case(&c);
}
END_TEST

struct reader_arg {
	struct strata_layer *l;
	const struct fcase *c;
	unsigned seed;
};

static void *random_reader(void *p)
{
	struct reader_arg *a = p;
	uint8_t *buf = malloc(200000);

	for (int i = 0; i < 100; i++) {
		uint64_t off = (uint64_t)rand_r(&a->seed) % a->c->plain_len;
		size_t len = (size_t)rand_r(&a->seed) % 200000;

		if (len > a->c->plain_len - off)
			len = a->c->plain_len - off;
		ck_assert_int_eq(a->l->ops->read(a->l, off, buf, len), 0);
		ck_assert_msg(memcmp(buf, a->c->plain + off, len) == 0, "read at %llu",
		              (unsigned long long)off);
	}
	free(buf);
	return NULL;
}

static void concurrent_reads(const struct fcase *c)
{
	struct strata_layer *l = tl_open_layer(c->blob, c->cache, NULL);
	struct reader_arg a[4];
	pthread_t t[4];

	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){l, c, 15 + i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, random_reader, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	strata_layer_close(l);
}

/* Readers at once, at random, with a cache smaller than the layer: every
 * byte right (run under ASan in CI). */
START_TEST(test_concurrent_readers)
{
	struct fcase c;

	fs_span_cache_set_limit(3 << 20);
	make_tar(&c, "layer.tar.zst");
	write_zstd(&c, 300 * 1000, true, 7, false);
	concurrent_reads(&c);
	free_case(&c);
	make_tar(&c, "layer.tar.xz");
	run("xz -T2 --block-size=600KiB -c %s > %s", &c);
	concurrent_reads(&c);
	free_case(&c);
	fs_span_cache_set_limit(SPAN_CACHE_DEFAULT);
}
END_TEST

static Suite *frames_suite(void)
{
	Suite *s = suite_create("frames");
	TCase *tc = tcase_create("frames");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_zstd_even_frames);
	tcase_add_test(tc, test_zstd_uneven_frames);
	tcase_add_test(tc, test_zstd_chunked_like);
	tcase_add_test(tc, test_zstd_one_frame_keeps_copy);
	tcase_add_test(tc, test_zstd_cli_keeps_copy);
	tcase_add_test(tc, test_xz_blocks);
	tcase_add_test(tc, test_xz_block_list);
	tcase_add_test(tc, test_xz_one_block_keeps_copy);
	tcase_add_test(tc, test_xz_two_streams_keep_copy);
	tcase_add_test(tc, test_zstd_damage_eio);
	tcase_add_test(tc, test_xz_damage_eio);
	tcase_add_test(tc, test_damaged_checkpoint_rebuilds);
	tcase_add_test(tc, test_sequential_decodes_once);
	tcase_add_test(tc, test_streamed_zstd_and_xz);
	tcase_add_test(tc, test_concurrent_readers);
	tcase_add_test(tc, test_zstd_big_frame_after_small_keeps_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(frames_suite());
}
