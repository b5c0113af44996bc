/* SPDX-License-Identifier: MIT */
/*
 * zstd and xz layers read in place (issue 15): a blob of several zstd
 * frames, or an xz stream of several blocks, can be entered at any frame
 * (block) start with a fresh decoder, because nothing before it is needed
 * to decode it.  Indexing records those starts; frames.c groups them into
 * spans of about FRAME_SPAN of output and writes them as the index's
 * checkpoints (no window, no bits), with the same per-GZ_CHUNK CRCs as
 * gzip, so the index reader's checks and the span cache serve them as they
 * do gzip.  A single frame (block) can only be decoded from its start: such
 * a layer keeps its decompressed copy.  Private to libstrata-fs.
 */
#ifndef STRATA_FRAME_SEEK_H
#define STRATA_FRAME_SEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gzip.h"
#include "index.h"
#include "strata-error.h"

/* Frames are grouped into spans of at least this much output... */
#define FRAME_SPAN ((uint64_t)1 << 20)
/* ...and a frame bigger than this makes the layer keep its copy: a read
 * would wait for, and the span cache hold, all of it. */
#define FRAME_MAX ((uint64_t)64 << 20)

/* ---- indexing (frames.c) ---- */

/* Where frames (blocks) start, in order: in the blob and in the stream. */
struct frame_list {
	struct frame_start {
		uint64_t in, out;
	} * v;
	size_t n, cap;
};

/* 0, or -1 out of memory. */
int fs_frames_add(struct frame_list *f, uint64_t in, uint64_t out);
void fs_frames_free(struct frame_list *f);
/* The checkpoints of a layer of @f's frames whose @stream_size bytes of
 * uncompressed stream are in @copy_fd (the copy the same pass wrote, read
 * back for the chunk CRCs) into @p.  0; 1 when the layer cannot be read in
 * place (one frame, or one too big); -1 with @err filled. */
int fs_frames_points(const struct frame_list *f, uint64_t stream_size, int copy_fd,
                     struct gz_points *p, struct strata_error *err);

/* The spans' CRCs computed in the indexing pass itself, when the layer is
 * known to be read in place before it (fd mode: xz's index and zstd's
 * frame headers say so), so no copy is written.  The points are in @p
 * ahead (xz), or come as frames start (zstd: fs_frame_crcs_start, at the
 * accountant's position); @out is how much was fed. */
struct frame_crcs {
	struct gz_points *p;
	uint64_t out;
	uint32_t crc;
	size_t fill; /* bytes of the current chunk */
	size_t next; /* the first span of p->v not yet reached */
	/* What the starts so far say: distinct - 1 frames with output are
	 * whole, and whether one of them is over FRAME_MAX. */
	uint64_t last_start;
	size_t distinct;
	bool too_big;
	bool copy_dropped; /* the pass stopped writing a copy (index_build.c) */
};

/* Whether a layer of @f's frames is read in place: more than one frame
 * with output, none over FRAME_MAX. */
bool fs_frames_seekable(const struct frame_list *f, uint64_t stream_size);
/* Spans of @f as fs_frames_points makes them, CRCs not yet: 0, 1 when
 * the layer cannot be read in place, or -1 out of memory. */
int fs_frames_group(const struct frame_list *f, uint64_t stream_size, struct gz_points *p);
int fs_frame_crcs_start(struct frame_crcs *a, const struct frame_start *s);
int fs_frame_crcs_feed(struct frame_crcs *a, const unsigned char *buf, size_t n);
int fs_frame_crcs_end(struct frame_crcs *a);

/* Whether the zstd blob @fd (@size bytes) will be read in place, from its
 * frame and block headers alone: several frames, none of more than
 * FRAME_MAX of output.  Anything unexpected: false (the copy is made). */
bool fs_zst_frames_fit(int fd, uint64_t size);

/* A zstd blob decoded in the indexing pass, recording where frames start
 * (ZSTD_decompressStream returns 0 at a frame's end; skippable frames are
 * frames too, with no output). */
struct zst_reader;
/* Reads @fd from its current offset, or @read(@ctx) when @read is set. */
struct zst_reader *fs_zst_reader_new(int fd, ssize_t (*read)(void *ctx, void *buf, size_t len),
                                     void *ctx, struct frame_list *frames);
void fs_zst_reader_free(struct zst_reader *z);
/* The next decompressed bytes, *size 0 at the end; 0, or -1 with @err
 * filled (STRATA_ERR_CORRUPT for damage, STRATA_ERR_SYS for a read). */
int fs_zst_reader_next(struct zst_reader *z, const void **buf, size_t *size,
                       struct strata_error *err);

/* The blocks of the xz blob @path (or @fd when >= 0), from its index at
 * the end of the file, into @f, and its uncompressed size into *@total.
 * 0; 1 when it has other than one stream (several concatenated streams
 * keep the copy); -1 with @err filled. */
int fs_xz_blocks(int fd, const char *path, struct frame_list *f, uint64_t *total,
                 struct strata_error *err);

/* ---- reading (frame_seek.c) ---- */

/* How one format decodes from a frame start: open at blob offset @in, the
 * next @len bytes of output, free.  Errors are positive errnos. */
struct frame_codec {
	int (*open)(int fd, uint64_t in, void **st);
	int (*decode)(void *st, unsigned char *out, size_t len);
	void (*free)(void *st);
};

extern const struct frame_codec fs_zstd_codec, fs_xz_codec;

/* What a kept decoder costs: mostly the history window (zstd's default
 * levels use 2-8 MiB, xz's presets 1-8 MiB; the bound is a guess). */
#define ZSTD_DECODER_SIZE ((size_t)8 << 20)
#define XZ_DECODER_SIZE   ((size_t)9 << 20)

/* The codec of an index's compression, or NULL (gzip, none, others). */
const struct frame_codec *fs_frame_codec(uint32_t compression);
/* As fs_gz_span_extend (gzip_seek.h), for a frame layer: span @i decoded on
 * to @want, whole chunks checked; *@dec goes on at the next span's start. */
int fs_frame_span_extend(int fd, const struct ix_map *m, uint32_t i, void **dec,
                         unsigned char *data, size_t have, size_t want, size_t *now);
void fs_frame_decoder_free(void *dec);
/* All of span @i into @out, with a decoder of its own. */
int fs_frame_span_decode(int fd, const struct ix_map *m, uint32_t i, unsigned char *out,
                         size_t len);

#endif
