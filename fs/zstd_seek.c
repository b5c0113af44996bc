/* SPDX-License-Identifier: MIT */
/*
 * zstd layers: decoded by libzstd in the indexing pass, which notes where
 * each frame starts, and decoded again from a frame start for a read.
 * ZSTD_decompressStream never consumes input past the frame it finishes
 * (it returns 0 there, with the next frame's first byte still unread), so
 * the bytes consumed so far are the next frame's offset in the blob.  It
 * goes on into the next frame by itself and passes skippable frames over
 * (zstd:chunked keeps its table of contents in one at the end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "frame_seek.h"

#define IN_SIZE  (128 * 1024)
#define OUT_SIZE (256 * 1024)

struct zst_reader {
	ZSTD_DCtx *dctx;
	int fd;
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *read_ctx;
	struct frame_list *frames;
	ZSTD_inBuffer in;
	uint64_t in_total;  /* bytes read from the blob */
	uint64_t out_total; /* bytes given */
	bool in_frame;      /* a frame started and not yet finished */
	unsigned char inbuf[IN_SIZE];
	unsigned char out[OUT_SIZE];
};

struct zst_reader *fs_zst_reader_new(int fd, ssize_t (*read)(void *ctx, void *buf, size_t len),
                                     void *ctx, struct frame_list *frames)
{
	struct zst_reader *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	if (!(z->dctx = ZSTD_createDCtx())) {
		free(z);
		return NULL;
	}
	z->fd = fd;
	z->read = read;
	z->read_ctx = ctx;
	z->frames = frames;
	z->in.src = z->inbuf;
	return z;
}

void fs_zst_reader_free(struct zst_reader *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

static int fill(struct zst_reader *z, struct strata_error *err)
{
	ssize_t n;

	do
		n = z->read ? z->read(z->read_ctx, z->inbuf, IN_SIZE)
		            : read(z->fd, z->inbuf, IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
	z->in.size = (size_t)n;
	z->in.pos = 0;
	z->in_total += (uint64_t)n;
	return 0;
}

int fs_zst_reader_next(struct zst_reader *z, const void **buf, size_t *size,
                       struct strata_error *err)
{
	ZSTD_outBuffer out = {z->out, OUT_SIZE, 0};

	while (out.pos == 0) {
		size_t r;

		if (z->in.pos == z->in.size) {
			if (fill(z, err))
				return -1;
			if (z->in.size == 0) {
				if (z->in_frame)
					return strata_fail(
					    err, STRATA_ERR_CORRUPT, 0,
					    "zstd: truncated (unexpected end of file)");
				break;
			}
		}
		if (!z->in_frame && z->frames &&
		    fs_frames_add(z->frames, z->in_total - (z->in.size - z->in.pos), z->out_total))
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		r = ZSTD_decompressStream(z->dctx, &out, &z->in);
		if (ZSTD_isError(r))
			return strata_fail(err, STRATA_ERR_CORRUPT, 0, "zstd: %s",
			                   ZSTD_getErrorName(r));
		z->in_frame = r != 0;
	}
	z->out_total += out.pos;
	*buf = z->out;
	*size = out.pos;
	return 0;
}

/* ---- will a blob be read in place? its headers say ---- */

/* The most output a block may have (zstd's format: 128 KiB). */
#define ZST_BLOCK_MAX ((uint64_t)128 * 1024)

/* A frame's header (the format's RFC 8878, 3.1.1.1): its size, whether a
 * checksum follows the blocks, and its content size (or UINT64_MAX). */
struct zst_header {
	uint64_t size, content;
	bool checksum;
};

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* -1 when @h is not a frame's header. */
static int parse_header(const uint8_t *h, size_t n, struct zst_header *out)
{
	static const uint8_t dict_bytes[4] = {0, 1, 2, 4}, fcs_bytes[4] = {0, 2, 4, 8};
	uint8_t fhd;
	size_t fcs, pos;

	if (n < 6 || le(h, 4) != 0xFD2FB528u)
		return -1;
	fhd = h[4];
	fcs = fcs_bytes[fhd >> 6] ? fcs_bytes[fhd >> 6] : (fhd & 0x20) ? 1 : 0;
	pos = 5 + !(fhd & 0x20) + dict_bytes[fhd & 3];
	if (pos + fcs > n || (fhd & 0x08))
		return -1;
	out->size = pos + fcs;
	out->checksum = fhd & 0x04;
	out->content = fcs ? le(h + pos, fcs) + (fcs == 2 ? 256 : 0) : UINT64_MAX;
	return 0;
}

/* The frame at @off: its size in the blob, and at most how much output it
 * has (its content size when its header says, else its blocks').  0, or -1
 * when it is not a frame this can walk. */
static int frame_extent(int fd, uint64_t off, uint64_t size, uint64_t *len, uint64_t *out)
{
	uint8_t head[18];
	struct zst_header fh;
	ssize_t n = pread(fd, head, sizeof(head), (off_t)off);
	uint64_t pos, bound = 0;

	if (n >= 8 && (le(head, 4) & ~0xFull) == 0x184D2A50u) { /* skippable */
		*len = 8 + le(head + 4, 4);
		*out = 0;
		return *len <= size - off ? 0 : -1;
	}
	if (n <= 0 || parse_header(head, (size_t)n, &fh))
		return -1;
	for (pos = off + fh.size;;) {
		uint8_t b[3];
		uint32_t h, bsize;

		if (pos + 3 > size || pread(fd, b, 3, (off_t)pos) != 3)
			return -1;
		h = (uint32_t)le(b, 3);
		bsize = h >> 3;
		if (((h >> 1) & 3) == 3)
			return -1; /* reserved */
		/* raw: bsize bytes; RLE: one byte, bsize times; compressed:
		 * bsize bytes, at most a block's most of output. */
		pos += 3 + (((h >> 1) & 3) == 1 ? 1 : bsize);
		bound += ((h >> 1) & 3) == 2 ? ZST_BLOCK_MAX : bsize;
		if (h & 1)
			break;
	}
	*len = pos + (fh.checksum ? 4 : 0) - off;
	*out = fh.content != UINT64_MAX ? fh.content : bound;
	return *len <= size - off ? 0 : -1;
}

bool fs_zst_frames_fit(int fd, uint64_t size)
{
	size_t with_output = 0;

	for (uint64_t off = 0, len, out; off < size; off += len) {
		if (frame_extent(fd, off, size, &len, &out) || out > FRAME_MAX)
			return false;
		with_output += out > 0;
	}
	return with_output > 1;
}

/* ---- a decoder entered at a frame start, for reads ---- */

struct zst_dec {
	ZSTD_DCtx *dctx;
	int fd;
	uint64_t pos; /* blob offset of the next read */
	ZSTD_inBuffer in;
	unsigned char inbuf[64 * 1024];
};

static void zst_free(void *st)
{
	struct zst_dec *d = st;

	if (d)
		ZSTD_freeDCtx(d->dctx);
	free(d);
}

static int zst_open(int fd, uint64_t in, void **st)
{
	struct zst_dec *d = calloc(1, sizeof(*d));

	if (!d)
		return ENOMEM;
	if (!(d->dctx = ZSTD_createDCtx())) {
		free(d);
		return ENOMEM;
	}
	d->fd = fd;
	d->pos = in;
	d->in.src = d->inbuf;
	*st = d;
	return 0;
}

static int zst_refill(struct zst_dec *d)
{
	ssize_t n;

	do
		n = pread(d->fd, d->inbuf, sizeof(d->inbuf), (off_t)d->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	if (n == 0)
		return EIO; /* the blob ends before the span does */
	d->pos += (uint64_t)n;
	d->in.size = (size_t)n;
	d->in.pos = 0;
	return 0;
}

static int zst_decode(void *st, unsigned char *out, size_t len)
{
	struct zst_dec *d = st;
	ZSTD_outBuffer o = {out, len, 0};

	while (o.pos < len) {
		int rc;

		if (d->in.pos == d->in.size && (rc = zst_refill(d)))
			return rc;
		if (ZSTD_isError(ZSTD_decompressStream(d->dctx, &o, &d->in)))
			return EIO;
	}
	return 0;
}

const struct frame_codec fs_zstd_codec = {zst_open, zst_decode, zst_free};
