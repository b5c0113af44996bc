/* SPDX-License-Identifier: MIT */
/*
 * gzip layers read in place (issue 15): every checkpoint of the index
 * reproduces exactly the bytes a sequential decompression gives, for gzip
 * made by zlib in one member and in several (with padding), by GNU gzip,
 * by Python's zlib and by pigz when they are installed, and with every kind
 * of deflate block (the index pass, ISA-L's, finds boundaries in each, and
 * a stream read in odd pieces gets the same checkpoints); a damaged window is
 * caught by the index checksum; a blob changed under its index reads as
 * EIO, never as other bytes.
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
#include <zlib.h>

#include "gzip.h"
#include "gzip_seek.h"
#include "layer.h"
#include "spanlib.h"
#include "testlib.h"

struct seek_case {
	char *dir, *cache, *tar, *gz;
	uint8_t *plain;
	size_t plain_len;
};

/* The shared test layer (spanlib.c), and where its gzip goes. */
static void make_tar(struct seek_case *c)
{
	struct tl_seek_tar t;

	tl_seek_tar_make(&t, "seek");
	*c = (struct seek_case){t.dir,   t.cache,    t.tar, tl_path(t.dir, "layer.tar.gz"),
	                        t.plain, t.plain_len};
}

static void free_case(struct seek_case *c)
{
	free(c->plain);
	free(c->dir);
	free(c->cache);
	free(c->tar);
	free(c->gz);
}

/* Members of zlib's deflate at varied levels, cut at @cuts, then zeros. */
static void write_members(const char *path, const uint8_t *buf, size_t len, const size_t *cuts,
                          size_t n_cuts, size_t padding)
{
	FILE *f = fopen(path, "wb");
	size_t start = 0;

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		uLong cap = compressBound(end - start) + 64;
		uint8_t *out = malloc(cap);
		z_stream zs = {0};

		ck_assert_int_eq(
		    deflateInit2(&zs, (int)(1 + i * 4 % 9), Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY),
		    Z_OK);
		zs.next_in = (Bytef *)buf + start;
		zs.avail_in = (uInt)(end - start);
		zs.next_out = out;
		zs.avail_out = (uInt)cap;
		ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
		ck_assert_uint_eq(fwrite(out, 1, zs.total_out, f), zs.total_out);
		deflateEnd(&zs);
		free(out);
		start = end;
	}
	for (size_t i = 0; i < padding; i++)
		fputc(0, f);
	ck_assert_int_eq(fclose(f), 0);
}

static bool have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static void run(const char *fmt, const struct seek_case *c)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), fmt, c->tar, c->gz);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

/* Every span, decoded alone from its checkpoint, is the plain tar's bytes;
 * and reads at odd offsets through the layer too. */
static void check_spans(const struct seek_case *c, size_t min_points)
{
	struct strata_layer *l = tl_open_layer(c->gz, c->cache, NULL);
	struct strata_layer_info info;
	struct strata_error err;
	struct ix_map m;
	int fd = open(c->gz, O_RDONLY);
	uint8_t *buf = malloc(c->plain_len + 1);

	strata_layer_info(l, &info);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), 0);
	ck_assert_uint_eq(m.hdr->stream_size, c->plain_len);
	ck_assert_uint_ge(m.hdr->n_checkpoints, min_points);
	for (uint32_t i = 0; i < m.hdr->n_checkpoints; i++) {
		uint64_t off = m.checkpoints[i].out, len = fs_gz_span_len(&m, i);

		ck_assert_int_eq(fs_gz_span_decode(fd, &m, i, buf, len), 0);
		ck_assert_msg(memcmp(buf, c->plain + off, len) == 0, "span %u differs", i);
	}
	for (uint64_t k = 0, off = 7; k < 200; k++, off = (off * 7919 + 4093) % c->plain_len) {
		size_t len = (size_t)((k * 104729) % 300000);

		if (len > c->plain_len - off)
			len = c->plain_len - off;
		ck_assert_int_eq(l->ops->read(l, off, buf, len), 0);
		ck_assert_msg(memcmp(buf, c->plain + off, len) == 0, "read at %llu",
		              (unsigned long long)off);
	}
	/* No decompressed copy beside the index. */
	{
		char *copy = strdup(info.index_path);

		memcpy(copy + strlen(copy) - 4, ".tar", 4);
		ck_assert_int_eq(access(copy, F_OK), -1);
		free(copy);
	}
	fs_ix_map_close(&m);
	strata_layer_close(l);
	close(fd);
	free(buf);
}

START_TEST(test_zlib_one_member)
{
	struct seek_case c;

	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, NULL, 0, 0);
	check_spans(&c, 5);
	free_case(&c);
}
END_TEST

START_TEST(test_zlib_members_and_padding)
{
	struct seek_case c;
	size_t cuts[4];

	make_tar(&c);
	/* A tiny member, cuts inside files, and tape padding at the end. */
	cuts[0] = 100;
	cuts[1] = 1500000;
	cuts[2] = 1500001;
	cuts[3] = 4000000;
	write_members(c.gz, c.plain, c.plain_len, cuts, 4, 10240);
	check_spans(&c, 5);
	free_case(&c);
}
END_TEST

/* One member with every kind of deflate block: dynamic, stored (level 0),
 * fixed Huffman, Huffman only, run-length, with full flushes (empty stored
 * blocks, byte-aligned boundaries) between some. */
static void write_block_kinds(const char *path, const uint8_t *buf, size_t len)
{
	static const int params[][2] = {{9, Z_DEFAULT_STRATEGY},
	                                {0, Z_DEFAULT_STRATEGY},
	                                {6, Z_FIXED},
	                                {1, Z_HUFFMAN_ONLY},
	                                {6, Z_RLE}};
	uLong cap = compressBound(len) + (len / 1000 + 64) * 64;
	uint8_t *out = malloc(cap);
	z_stream zs = {0};
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (size_t off = 0, k = 0; off < len; k++) {
		size_t n = len - off < 300000 ? len - off : 300000;

		ck_assert_int_eq(deflateParams(&zs, params[k % 5][0], params[k % 5][1]), Z_OK);
		zs.next_in = (Bytef *)buf + off;
		zs.avail_in = (uInt)n;
		ck_assert_int_eq(deflate(&zs, k % 3 == 0 ? Z_FULL_FLUSH : Z_NO_FLUSH), Z_OK);
		ck_assert_uint_eq(zs.avail_in, 0);
		off += n;
	}
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(fwrite(out, 1, zs.total_out, f), zs.total_out);
	ck_assert_int_eq(fclose(f), 0);
	deflateEnd(&zs);
	free(out);
}

struct odd_reads {
	int fd;
	uint64_t off;
};

/* Reads of 1 to 1499 bytes, as a download gives them. */
static ssize_t odd_read(void *ctx, void *buf, size_t len)
{
	struct odd_reads *r = ctx;
	size_t want = 1 + (size_t)(r->off * 2654435761u % 1499);
	ssize_t n = pread(r->fd, buf, want < len ? want : len, (off_t)r->off);

	if (n > 0)
		r->off += (uint64_t)n;
	return n;
}

static void map_layer_index(struct strata_layer *l, struct ix_map *m)
{
	struct strata_layer_info info;
	struct strata_error err;

	strata_layer_info(l, &info);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, m, &err), 0);
}

START_TEST(test_block_kinds)
{
	struct seek_case c;
	struct strata_layer_options lo = {.cache_key = "streamed"};
	struct odd_reads r = {.off = 0};
	struct strata_layer *file_l, *stream_l;
	struct strata_error err;
	struct ix_map a, b;
	char diff_id[72];

	make_tar(&c);
	write_block_kinds(c.gz, c.plain, c.plain_len);
	check_spans(&c, 10);
	/* The same checkpoints, windows and CRCs from a stream. */
	lo.cache_dir = tl_path(c.dir, "stream-cache");
	ck_assert_int_eq(mkdir(lo.cache_dir, 0755), 0);
	r.fd = open(c.gz, O_RDONLY);
	ck_assert_msg(strata_layer_index_stream(c.gz, odd_read, &r, &lo, diff_id, &err) == 0, "%s",
	              err.msg);
	close(r.fd);
	ck_assert_int_eq(strata_layer_open_tar(c.gz, &lo, &stream_l, &err), 0);
	file_l = tl_open_layer(c.gz, c.cache, NULL);
	map_layer_index(stream_l, &a);
	map_layer_index(file_l, &b);
	ck_assert_uint_eq(a.hdr->n_checkpoints, b.hdr->n_checkpoints);
	ck_assert_int_eq(
	    memcmp(a.checkpoints, b.checkpoints, a.hdr->n_checkpoints * sizeof(*a.checkpoints)), 0);
	ck_assert_uint_eq(a.hdr->windows_size, b.hdr->windows_size);
	ck_assert_int_eq(memcmp(a.windows, b.windows, a.hdr->windows_size), 0);
	fs_ix_map_close(&a);
	fs_ix_map_close(&b);
	strata_layer_close(stream_l);
	strata_layer_close(file_l);
	free((char *)lo.cache_dir);
	free_case(&c);
}
END_TEST

START_TEST(test_gnu_gzip)
{
	struct seek_case c;

	if (!have("gzip"))
		return;
	make_tar(&c);
	run("gzip -9 -c %s > %s", &c);
	check_spans(&c, 5);
	free_case(&c);
}
END_TEST

START_TEST(test_python_zlib)
{
	struct seek_case c;

	if (!have("python3"))
		return;
	make_tar(&c);
	run("python3 -c 'import sys, zlib; o = zlib.compressobj(6, zlib.DEFLATED, 31); "
	    "d = open(sys.argv[1], \"rb\").read(); "
	    "open(sys.argv[2], \"wb\").write(o.compress(d) + o.flush())' %s %s",
	    &c);
	check_spans(&c, 5);
	free_case(&c);
}
END_TEST

START_TEST(test_pigz)
{
	struct seek_case c;

	if (!have("pigz"))
		return;
	make_tar(&c);
	run("pigz -p 2 -b 256 -c %s > %s", &c);
	check_spans(&c, 5);
	free_case(&c);
}
END_TEST

/* Flips one byte of @path at @off. */
static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* A damaged window fails the index checksum: the index is rebuilt, and
 * reads are right. */
START_TEST(test_damaged_window_rebuilds)
{
	struct seek_case c;
	struct strata_layer *l;
	struct strata_layer_info info;
	struct strata_error err;
	struct ix_map m;
	uint64_t at;

	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, NULL, 0, 0);
	l = tl_open_layer(c.gz, c.cache, NULL);
	strata_layer_info(l, &info);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), 0);
	ck_assert_uint_gt(m.hdr->windows_size, 100);
	at = m.hdr->windows_off + m.hdr->windows_size / 2;
	fs_ix_map_close(&m);
	flip(info.index_path, at);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &m, &err), -1);
	strata_layer_close(l);
	check_spans(&c, 5); /* opens it again: rebuilt */
	l = tl_open_layer(c.gz, c.cache, NULL);
	strata_layer_info(l, &info);
	ck_assert(info.index_reused);
	strata_layer_close(l);
	free_case(&c);
}
END_TEST

/* The blob changed under a valid index (its identity kept): EIO. */
START_TEST(test_damaged_blob_eio)
{
	struct seek_case c;
	struct strata_layer *l;
	struct strata_layer_info info;
	struct stat st;
	struct timespec ts[2];
	uint8_t *buf;

	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, NULL, 0, 0);
	l = tl_open_layer(c.gz, c.cache, NULL);
	strata_layer_close(l);
	ck_assert_int_eq(stat(c.gz, &st), 0);
	flip(c.gz, (uint64_t)st.st_size / 2);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, c.gz, ts, 0), 0);
	l = tl_open_layer(c.gz, c.cache, NULL);
	strata_layer_info(l, &info);
	ck_assert(info.index_reused);
	buf = malloc(c.plain_len);
	ck_assert_int_eq(l->ops->read(l, 0, buf, c.plain_len), EIO);
	/* The spans before the damage still read, and right. */
	ck_assert_int_eq(l->ops->read(l, 0, buf, 4096), 0);
	ck_assert_int_eq(memcmp(buf, c.plain, 4096), 0);
	free(buf);
	strata_layer_close(l);
	free_case(&c);
}
END_TEST

/* A cache smaller than a span still serves reads, and stays bounded. */
START_TEST(test_tiny_span_cache)
{
	struct seek_case c;

	fs_span_cache_set_limit(1);
	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, NULL, 0, 0);
	check_spans(&c, 5);
	fs_span_cache_set_limit(SPAN_CACHE_DEFAULT);
	free_case(&c);
}
END_TEST

/* A sequential reader starts one decoder for the whole layer and decodes
 * each byte once; a small read decodes one chunk, not its span; a read
 * further into a span goes on from where the last one stopped. */
START_TEST(test_decode_once)
{
	struct seek_case c;
	struct tl_spans k;
	uint64_t span1;

	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, (size_t[]){2000000}, 1, 0);
	tl_spans_open(&k, c.gz, c.cache);
	ck_assert_uint_ge(k.m.hdr->n_checkpoints, 4);
	tl_spans_read(&k, c.plain, 0, c.plain_len, 131072);
	ck_assert_uint_eq(k.starts, 1);
	ck_assert_uint_eq(k.decoded, c.plain_len);
	fs_span_cache_drop(&k);

	k.starts = 0;
	k.decoded = 0;
	span1 = k.m.checkpoints[1].out;
	tl_spans_read(&k, c.plain, span1 + 10, 4096, 4096);
	ck_assert_uint_eq(k.starts, 1);
	ck_assert_uint_eq(k.decoded, GZ_CHUNK);
	tl_spans_read(&k, c.plain, span1 + 3 * GZ_CHUNK + 5, 100, 100);
	ck_assert_uint_eq(k.starts, 1);
	ck_assert_uint_eq(k.decoded, 4 * GZ_CHUNK);
	tl_spans_read(&k, c.plain, span1 + 100, 100, 100); /* decoded already */
	ck_assert_uint_eq(k.decoded, 4 * GZ_CHUNK);
	tl_spans_close(&k);
	free_case(&c);
}
END_TEST

struct reader_arg {
	struct tl_spans *k;
	const struct seek_case *c;
	unsigned seed;
};

static void *random_reader(void *p)
{
	struct reader_arg *a = p;

	for (int i = 0; i < 150; i++) {
		uint64_t off = (uint64_t)rand_r(&a->seed) % a->c->plain_len;
		size_t len = (size_t)rand_r(&a->seed) % 200000;

		tl_spans_read(a->k, a->c->plain, off,
		              len > a->c->plain_len - off ? a->c->plain_len - off : len, len + 1);
	}
	return NULL;
}

/* Readers at once, at random, with a cache smaller than the layer: every
 * byte right (run under ASan in CI). */
START_TEST(test_concurrent_readers)
{
	struct seek_case c;
	struct tl_spans k;
	pthread_t t[4];
	struct reader_arg a[4];

	fs_span_cache_set_limit(3 << 20);
	make_tar(&c);
	write_members(c.gz, c.plain, c.plain_len, (size_t[]){3000000}, 1, 0);
	tl_spans_open(&k, c.gz, c.cache);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){&k, &c, 15 + i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, random_reader, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	tl_spans_close(&k);
	fs_span_cache_set_limit(SPAN_CACHE_DEFAULT);
	free_case(&c);
}
END_TEST

/* A window the span after it reads only in part: the bytes it copies are
 * kept, the rest zeroed, and the span decodes the same with it. */
START_TEST(test_window_trim)
{
	static uint8_t a[GZ_WINDOW + 8192], b[40000], z[sizeof(a) + sizeof(b)], win[GZ_WINDOW],
	    out[sizeof(b)];
	z_stream zs = {0};
	size_t before, kept = 0;
	unsigned seed = 15;

	for (size_t i = 0; i < sizeof(a); i++) /* random bytes; its last 8 KiB, */
		a[i] = (uint8_t)rand_r(&seed);
	for (size_t i = 0; i < sizeof(b); i++) /* new ones, then those 8 KiB again */
		b[i] = i < 20000 ? (uint8_t)rand_r(&seed) : a[GZ_WINDOW + (i - 20000) % 8192];
	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = a;
	zs.avail_in = sizeof(a);
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK); /* a byte-aligned checkpoint */
	before = sizeof(z) - zs.avail_out;
	zs.next_in = b;
	zs.avail_in = sizeof(b);
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	memcpy(win, a + sizeof(a) - GZ_WINDOW, GZ_WINDOW);
	ck_assert_int_eq(fs_gz_window_trim(z + before, zs.total_out - before, 0, win, GZ_WINDOW),
	                 0);
	deflateEnd(&zs);
	for (size_t q = 0; q < GZ_WINDOW; q++)
		kept += win[q] != 0;
	ck_assert_uint_le(kept, 8192 + 256); /* the 8 KiB copied, about */
	ck_assert_uint_ge(kept, 8000);

	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, -15), Z_OK);
	ck_assert_int_eq(inflateSetDictionary(&zs, win, GZ_WINDOW), Z_OK);
	zs.next_in = z + before;
	zs.avail_in = (uInt)(sizeof(z) - before);
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	ck_assert_int_eq(memcmp(out, b, sizeof(b)), 0);
	inflateEnd(&zs);
}
END_TEST

/* A stream handed out a few bytes at a time, as a pipe might. */
struct trickle {
	const uint8_t *b;
	size_t len, off, step;
};

static ssize_t trickle_read(void *ctx, void *buf, size_t len)
{
	struct trickle *t = ctx;
	size_t n = t->len - t->off < t->step ? t->len - t->off : t->step;

	if (n > len)
		n = len;
	memcpy(buf, t->b + t->off, n);
	t->off += n;
	return (ssize_t)n;
}

/* @z (@zlen bytes of gzip) read through the checkpointing reader in reads
 * of @step bytes: 0 and the bytes out in *@out_len, or -1. */
static int read_checked(const uint8_t *z, size_t zlen, size_t step, size_t *out_len)
{
	struct trickle t = {z, zlen, 0, step};
	struct gz_points pts = {0};
	struct strata_error err;
	struct gz_reader *g = malloc(sizeof(*g));
	const void *buf;
	size_t size;
	int rc;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(fs_gz_reader_init(g, -1, &err), 0);
	g->read = trickle_read;
	g->read_ctx = &t;
	g->points = &pts;
	*out_len = 0;
	while ((rc = fs_gz_reader_next(g, &buf, &size, &err)) == 0 && size)
		*out_len += size;
	fs_gz_reader_end(g);
	fs_gz_points_free(&pts);
	free(g);
	return rc;
}

/* The checkpointing reader checks each member's trailer itself (zlib's
 * CRC-32 is off there): members of every size, trailers split across
 * reads of 1 to 13 bytes, and a changed CRC or length is caught. */
START_TEST(test_trailer_checked_across_reads)
{
	static uint8_t data[70000], z[3 * sizeof(data)];
	size_t zlen = 0, total = 0, got;
	unsigned seed = 7;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(rand_r(&seed) % 7 + 'a');
	for (size_t m = 0; m < 3; m++) { /* members of 70000, 3 and 1234 bytes */
		size_t n = m == 0 ? sizeof(data) : m == 1 ? 3 : 1234;
		z_stream zs = {0};

		ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY),
		                 Z_OK);
		zs.next_in = data;
		zs.avail_in = (uInt)n;
		zs.next_out = z + zlen;
		zs.avail_out = (uInt)(sizeof(z) - zlen);
		ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
		zlen += zs.total_out;
		total += n;
		deflateEnd(&zs);
	}
	for (size_t step = 1; step <= 13; step++) {
		ck_assert_int_eq(read_checked(z, zlen, step, &got), 0);
		ck_assert_uint_eq(got, total);
	}
	ck_assert_int_eq(read_checked(z, zlen, 100000, &got), 0);
	z[zlen - 8] ^= 0x10; /* the last member's CRC-32 */
	for (size_t step = 1; step <= 9; step += 4)
		ck_assert_int_eq(read_checked(z, zlen, step, &got), -1);
	z[zlen - 8] ^= 0x10;
	z[zlen - 1] ^= 0x01; /* its length */
	ck_assert_int_eq(read_checked(z, zlen, 5, &got), -1);
}
END_TEST

static Suite *seek_suite(void)
{
	Suite *s = suite_create("seek");
	TCase *tc = tcase_create("gzip");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_zlib_one_member);
	tcase_add_test(tc, test_zlib_members_and_padding);
	tcase_add_test(tc, test_block_kinds);
	tcase_add_test(tc, test_gnu_gzip);
	tcase_add_test(tc, test_python_zlib);
	tcase_add_test(tc, test_pigz);
	tcase_add_test(tc, test_damaged_window_rebuilds);
	tcase_add_test(tc, test_damaged_blob_eio);
	tcase_add_test(tc, test_tiny_span_cache);
	tcase_add_test(tc, test_decode_once);
	tcase_add_test(tc, test_window_trim);
	tcase_add_test(tc, test_trailer_checked_across_reads);
	tcase_add_test(tc, test_concurrent_readers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(seek_suite());
}
