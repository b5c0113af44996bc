/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame_seek.h"
#include "gzip_seek.h"
#include "layer.h"
#include "spanlib.h"
#include "testlib.h"

static uint32_t spans_count(const void *owner)
{
	return (uint32_t)((const struct tl_spans *)owner)->m.hdr->n_checkpoints;
}

static size_t spans_len(const void *owner, uint32_t span)
{
	return (size_t)fs_gz_span_len(&((const struct tl_spans *)owner)->m, span);
}

static bool is_gzip(const struct tl_spans *k)
{
	return k->m.hdr->compression == IX_COMP_GZIP;
}

static int spans_extend(const void *owner, uint32_t span, void **dec, unsigned char *data,
                        size_t have, size_t want, size_t *now)
{
	struct tl_spans *k = (struct tl_spans *)owner;
	int rc;

	if (!*dec)
		__atomic_add_fetch(&k->starts, 1, __ATOMIC_RELAXED);
	rc = is_gzip(k) ? fs_gz_span_extend(k->fd, &k->m, span, (struct fs_gz_decoder **)dec, data,
	                                    have, want, now)
	                : fs_frame_span_extend(k->fd, &k->m, span, dec, data, have, want, now);
	if (rc == 0)
		__atomic_add_fetch(&k->decoded, *now - have, __ATOMIC_RELAXED);
	return rc;
}

static void gz_free(void *dec)
{
	fs_gz_decoder_free(dec);
}

static const struct span_ops gz_ops = {spans_count, spans_len, spans_extend, gz_free,
                                       GZ_DECODER_SIZE};
static const struct span_ops frame_ops = {spans_count, spans_len, spans_extend,
                                          fs_frame_decoder_free, ZSTD_DECODER_SIZE};

void tl_spans_read(struct tl_spans *k, const uint8_t *plain, uint64_t off, size_t len, size_t step)
{
	while (len) {
		uint32_t span = fs_gz_span_at(&k->m, off);
		size_t in_span = (size_t)(off - k->m.checkpoints[span].out);
		size_t n = (size_t)fs_gz_span_len(&k->m, span) - in_span;
		struct span_ref *ref;

		if (n > len)
			n = len;
		if (n > step)
			n = step;
		ck_assert_int_eq(
		    fs_span_get(k, is_gzip(k) ? &gz_ops : &frame_ops, span, in_span + n, &ref), 0);
		ck_assert_msg(memcmp(fs_span_data(ref) + in_span, plain + off, n) == 0,
		              "bytes at %llu", (unsigned long long)off);
		fs_span_put(ref);
		off += n;
		len -= n;
	}
}

void tl_spans_open(struct tl_spans *k, const char *blob, const char *cache)
{
	struct strata_layer_info info;
	struct strata_error err;

	memset(k, 0, sizeof(*k));
	k->layer = tl_open_layer(blob, cache, NULL);
	strata_layer_info(k->layer, &info);
	ck_assert(info.seekable);
	ck_assert_int_eq(fs_ix_map_open(info.index_path, NULL, &k->m, &err), 0);
	k->fd = open(blob, O_RDONLY);
	ck_assert_int_ge(k->fd, 0);
}

void tl_seek_tar_make(struct tl_seek_tar *t, const char *what)
{
	static char text[3 << 20];
	struct tl_entry ents[] = {
	    {.type = 'd', .name = "d"},
	    {.type = 'f', .name = "d/random1", .size = 2500000},
	    {.type = 'f', .name = "d/text", .data = text, .size = sizeof(text)},
	    {.type = 'f', .name = "d/random2", .size = 1700000},
	    {.type = 'f', .name = "small", .size = 3},
	};

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "strata layers, served in place\n"[i % 31] ^ (char)((i / 4096) & 1);
	t->dir = tl_mkdtemp(what);
	t->cache = tl_path(t->dir, "cache");
	t->tar = tl_path(t->dir, "layer.tar");
	tl_write_layer(t->tar, TL_PAX, TL_NONE, ents, sizeof(ents) / sizeof(ents[0]));
	t->plain = tl_read_file(t->tar, &t->plain_len);
}

void tl_spans_close(struct tl_spans *k)
{
	fs_span_cache_drop(k);
	fs_ix_map_close(&k->m);
	close(k->fd);
	strata_layer_close(k->layer);
}
