/* SPDX-License-Identifier: MIT */
/*
 * Streaming gzip decoding with ISA-L, checking every member's CRC-32 and
 * length (libarchive 3.6 checks neither).  Private to libstrata-fs.
 *
 * The same pass records checkpoints for random access (the technique of
 * zlib's examples/zran.c): at a deflate block boundary about every
 * GZ_SPAN bytes of output, where the stream is in the compressed file, the
 * bits of the byte before it still unread, and the 32 KiB window, stored
 * deflated.  A checkpoint right after a member's header has no window.
 * Each span (one checkpoint to the next) carries the CRC-32 of every
 * GZ_CHUNK bytes of its output (the last one shorter), so a read that
 * decodes part of a span checks what it decoded and never returns bytes the
 * blob no longer holds.  gzip_seek.c decodes spans from them.
 */
#ifndef STRATA_GZIP_H
#define STRATA_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <zlib.h>

#include "strata-error.h"

/* Output between checkpoints: ~1 MiB, the unit of the span cache. */
#define GZ_SPAN   (512 * 1024)
#define GZ_WINDOW 32768
/* The unit a span's output is checked in: a read decodes whole chunks. */
#define GZ_CHUNK (64 * 1024)

struct gz_point {
	uint64_t out;       /* offset in the uncompressed stream */
	uint64_t in;        /* offset in the compressed file of the next whole byte */
	uint64_t win_off;   /* into gz_points.windows */
	uint32_t win_len;   /* deflated (zlib format) bytes of the window */
	uint32_t win_size;  /* the window's own size, at most GZ_WINDOW */
	uint32_t bits;      /* bits (0-7) of the byte at @in - 1 not yet decoded */
	uint32_t crc_first; /* index in gz_points.crcs of this span's first chunk */
};

struct gz_points {
	struct gz_point *v;
	size_t n, cap;
	unsigned char *windows;
	size_t windows_len, windows_cap;
	uint32_t *crcs; /* CRC-32 of each chunk of each span */
	size_t n_crcs, crcs_cap;
	uint32_t crc;      /* of the current chunk so far */
	size_t chunk_fill; /* its bytes */
	/* The last checkpoint's window waits, with the compressed bytes from
	 * the checkpoint on, until the span has 32 KiB of output: then the
	 * bytes of it that span reads are known (gzip_window.c). */
	bool pending;
	unsigned char *pend_win;
	unsigned char *pend_in;
	size_t pend_in_len, pend_in_cap;
};

struct gz_isal;

struct gz_reader {
	struct gz_isal *isal; /* ISA-L's inflate and what goes with it */
	int fd;
	/* When set, bytes come from here instead of @fd (a stream). */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *read_ctx;
	bool in_member;   /* between a member's header and its trailer */
	bool saw_padding; /* zero bytes after a member: only more zeros may follow */
	bool eof;
	struct gz_points *points; /* checkpoints go here: set before reading */
	uint64_t in_total;        /* compressed bytes read */
	uint64_t out_total;       /* decompressed bytes given */
	unsigned char in[128 * 1024];
	unsigned char out[256 * 1024];
};

/* gzip_isal.c.  Reads from @fd's current offset.  0, or -1 with @err
 * filled. */
int fs_gz_reader_init(struct gz_reader *g, int fd, struct strata_error *err);
void fs_gz_reader_end(struct gz_reader *g);
/* The next decompressed bytes: *size 0 at the end.  0, or -1 with @err
 * filled (STRATA_ERR_CORRUPT for damage, STRATA_ERR_SYS for a read). */
int fs_gz_reader_next(struct gz_reader *g, const void **buf, size_t *size,
                      struct strata_error *err);

/* gzip.c, for the reader.  fs_gz_account: counts and checks @n bytes of
 * output; fs_gz_settle_window: stores a pending window once its span has
 * enough output (or at @end); fs_gz_end_chunk: the current chunk's CRC
 * ends; fs_gz_point_due: the last checkpoint is a span behind;
 * fs_gz_point_add: a checkpoint at a block boundary, @in/@bits as in
 * struct gz_point, its window @win, @before the byte at @in - 1 (the
 * compressed bytes from @in on are then given to fs_gz_keep_input).  All
 * but fs_gz_point_due: 0, or -1 out of memory. */
int fs_gz_account(struct gz_reader *g, const unsigned char *start, size_t n);
int fs_gz_settle_window(struct gz_reader *g, bool end);
int fs_gz_end_chunk(struct gz_points *p);
bool fs_gz_point_due(const struct gz_reader *g);
int fs_gz_point_add(struct gz_reader *g, uint64_t in, unsigned bits, const unsigned char *win,
                    size_t win_size, unsigned char before);
bool fs_gz_keep_input(struct gz_points *p, const unsigned char *in, size_t n);

/* Frees what @p holds (not @p). */
void fs_gz_points_free(struct gz_points *p);

/* gzip_window.c: zeroes the bytes of the @win_size bytes window @win that
 * the deflate data @in (from the byte holding the checkpoint's @bits on)
 * never reads.  0, or -1 when it cannot tell (@in too short, damaged, out
 * of memory): @win is then as it was. */
int fs_gz_window_trim(const unsigned char *in, size_t in_len, unsigned bits, unsigned char *win,
                      size_t win_size);

#endif
