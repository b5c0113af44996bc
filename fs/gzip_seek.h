/* SPDX-License-Identifier: MIT */
/*
 * Spans of a gzip layer decoded from its index's checkpoints (gzip_seek.c),
 * and the bounded cache that keeps them (span_cache.c).  Private to
 * libstrata-fs.  Errors are positive errnos: these serve FUSE reads.
 */
#ifndef STRATA_GZIP_SEEK_H
#define STRATA_GZIP_SEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "index.h"

/* The span holding stream offset @off, and a span's length. */
uint32_t fs_gz_span_at(const struct ix_map *m, uint64_t off);
uint64_t fs_gz_span_len(const struct ix_map *m, uint32_t i);

/* A decoder somewhere in a span, kept between reads of it. */
struct fs_gz_decoder;
/* What one costs in memory (ISA-L's state is most of it). */
#define GZ_DECODER_SIZE ((size_t)128 * 1024)
void fs_gz_decoder_free(struct fs_gz_decoder *d);
/* Span @i of the layer file @fd, whose first @have bytes are in @data
 * already (a multiple of GZ_CHUNK, or the span's length), decoded on to at
 * least @want: whole chunks, each checked, or the span's end.  *@dec is the
 * decoder to go on with (NULL: from the checkpoint); at the span's end it
 * stands at the next span's start (NULL after the last).  0 with *@now the
 * bytes @data holds, or ENOMEM, an errno of pread, or EIO (*@dec is then
 * freed). */
int fs_gz_span_extend(int fd, const struct ix_map *m, uint32_t i, struct fs_gz_decoder **dec,
                      unsigned char *data, size_t have, size_t want, size_t *now);
/* How a format's decoder starts at span @i's checkpoint, goes on, ends
 * (gzip here, zstd and xz in frame_seek.c). */
struct span_codec {
	int (*open)(int fd, const struct ix_map *m, uint32_t i, void **dec);
	int (*decode)(void *dec, unsigned char *out, size_t len);
	void (*free)(void *dec);
};
/* fs_gz_span_extend for any format: the chunks and their CRCs, the
 * decoder kept or freed, are the same for all. */
int fs_span_extend(const struct span_codec *c, int fd, const struct ix_map *m, uint32_t i,
                   void **dec, unsigned char *data, size_t have, size_t want, size_t *now);
/* All of span @i (fs_gz_span_len bytes) into @out, with a decoder of its own. */
int fs_gz_span_decode(int fd, const struct ix_map *m, uint32_t i, unsigned char *out, size_t len);

/* ---- the span cache: shared by every layer of the process, LRU ---- */

#define SPAN_CACHE_DEFAULT ((size_t)64 << 20)

/* How an owner (a layer) makes its spans: their number and lengths, and
 * extend(), which goes on decoding span @span as fs_gz_span_extend does
 * with its opaque decoder *@dec (freed by free_dec); dec_size is what a
 * kept decoder costs, counted against the cache's bound. */
struct span_ops {
	uint32_t (*count)(const void *owner);
	size_t (*len)(const void *owner, uint32_t span);
	int (*extend)(const void *owner, uint32_t span, void **dec, unsigned char *data,
	              size_t have, size_t want, size_t *now);
	void (*free_dec)(void *dec);
	size_t dec_size;
};

struct span_ref;
/* Span @span of @owner, with at least its first @need bytes decoded;
 * concurrent callers wait for one decoder rather than decoding it twice.
 * 0 with *@ref to give back with fs_span_put, or extend's errno. */
int fs_span_get(const void *owner, const struct span_ops *ops, uint32_t span, size_t need,
                struct span_ref **ref);
const unsigned char *fs_span_data(const struct span_ref *ref);
void fs_span_put(struct span_ref *ref);
/* Forgets @owner's spans (a layer closing: none may be in use). */
void fs_span_cache_drop(const void *owner);
/* The most bytes cached spans not in use may hold. */
void fs_span_cache_set_limit(size_t bytes);

#endif
