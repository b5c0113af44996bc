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
/* Span @i (fs_gz_span_len bytes) from the layer file @fd into @out,
 * checked against its CRC-32.  0, ENOMEM, an errno of pread, or EIO. */
int fs_gz_span_decode(int fd, const struct ix_map *m, uint32_t i, unsigned char *out, size_t len);

/* ---- the span cache: shared by every layer of the process, LRU ---- */

#define SPAN_CACHE_DEFAULT ((size_t)64 << 20)

struct span_ref;
/* Fills a span's @len bytes: 0 or a positive errno. */
typedef int (*span_fill_fn)(void *ctx, unsigned char *buf, size_t len);

/* The span (@owner, @span) of @len bytes, filled by @fill when not cached;
 * concurrent callers for one span wait for one fill.  0 with *@ref to give
 * back with fs_span_put, or the fill's errno. */
int fs_span_get(const void *owner, uint32_t span, size_t len, span_fill_fn fill, void *ctx,
                struct span_ref **ref);
const unsigned char *fs_span_data(const struct span_ref *ref);
void fs_span_put(struct span_ref *ref);
/* Forgets @owner's spans (a layer closing: none may be in use). */
void fs_span_cache_drop(const void *owner);
/* The most bytes cached spans not in use may hold. */
void fs_span_cache_set_limit(size_t bytes);

#endif
