/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <isa-l/crc.h>
#include <unistd.h>

#include "gzip.h"

static int nomem(struct strata_error *err)
{
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

int fs_gz_reader_init(struct gz_reader *g, int fd, struct strata_error *err)
{
	memset(&g->zs, 0, sizeof(g->zs));
	g->fd = fd;
	g->read = NULL;
	g->in_member = false;
	g->saw_padding = false;
	g->eof = false;
	g->points = NULL;
	g->in_total = 0;
	g->out_total = 0;
	g->own_check = false;
	g->member_crc = 0;
	g->member_len = 0;
	g->tail_len = 0;
	/* 16 + 15: gzip wrapper only, the largest window. */
	if (inflateInit2(&g->zs, 16 + 15) != Z_OK)
		return nomem(err);
	return 0;
}

void fs_gz_reader_end(struct gz_reader *g)
{
	inflateEnd(&g->zs);
}

/* Damage: "gzip: <why>". */
static int corrupt(struct strata_error *err, const char *why)
{
	return strata_fail(err, STRATA_ERR_CORRUPT, 0, "gzip: %s", why);
}

static bool grow(void **v, size_t *cap, size_t need, size_t elem);

/* The compressed bytes after a pending window's checkpoint, kept. */
static bool keep_input(struct gz_points *p, const unsigned char *in, size_t n)
{
	if (!grow((void **)&p->pend_in, &p->pend_in_cap, p->pend_in_len + n, 1))
		return false;
	memcpy(p->pend_in + p->pend_in_len, in, n);
	p->pend_in_len += n;
	return true;
}

static int fill(struct gz_reader *g, struct strata_error *err)
{
	ssize_t n;

	if (g->zs.next_in && g->zs.next_in > g->in) {
		size_t used = (size_t)(g->zs.next_in - g->in), keep = used < 8 ? used : 8;

		g->last_in = g->zs.next_in[-1];
		/* The last 8 bytes read: those of the buffer, after what is left
		 * of the tail before it. */
		if (keep < 8) {
			unsigned old = g->tail_len + keep > 8 ? 8 - (unsigned)keep : g->tail_len;

			memmove(g->tail, g->tail + g->tail_len - old, old);
			g->tail_len = old;
		} else {
			g->tail_len = 0;
		}
		memcpy(g->tail + g->tail_len, g->zs.next_in - keep, keep);
		g->tail_len += (unsigned)keep;
	}
	do
		n = g->read ? g->read(g->read_ctx, g->in, sizeof(g->in))
		            : read(g->fd, g->in, sizeof(g->in));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
	g->zs.next_in = g->in;
	g->zs.avail_in = (uInt)n;
	g->in_total += (uint64_t)n;
	if (g->points && g->points->pending && !keep_input(g->points, g->in, (size_t)n))
		return nomem(err);
	return 0;
}

void fs_gz_points_free(struct gz_points *p)
{
	free(p->v);
	free(p->windows);
	free(p->crcs);
	free(p->pend_win);
	free(p->pend_in);
	memset(p, 0, sizeof(*p));
}

static bool grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *nv;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return true;
	nv = realloc(*v, n * elem);
	if (!nv)
		return false;
	*v = nv;
	*cap = n;
	return true;
}

/* The last checkpoint's window, trimmed to what its span reads when that
 * is known, deflated at the end of p->windows. */
static int store_window(struct gz_points *p, bool trim)
{
	struct gz_point *pt = &p->v[p->n - 1];
	uLongf len = compressBound(GZ_WINDOW);
	unsigned char *in = p->pend_in;
	size_t in_len = p->pend_in_len;

	p->pending = false;
	p->pend_in_len = 0;
	if (trim && pt->bits == 0 && in_len) {
		in++; /* no bits of the byte before: it was only kept in case */
		in_len--;
	}
	if (trim)
		fs_gz_window_trim(in, in_len, pt->bits, p->pend_win, pt->win_size);
	if (!grow((void **)&p->windows, &p->windows_cap, p->windows_len + len, 1) ||
	    compress2(p->windows + p->windows_len, &len, p->pend_win, pt->win_size,
	              Z_DEFAULT_COMPRESSION) != Z_OK)
		return -1;
	pt->win_off = p->windows_len;
	pt->win_len = (uint32_t)len;
	p->windows_len += len;
	return 0;
}

/* A new checkpoint's window waits for its span's first 32 KiB (see
 * gzip.h), with the compressed bytes from the one holding its bits on. */
static int hold_window(struct gz_reader *g, struct gz_point *pt)
{
	struct gz_points *p = g->points;
	uInt size = 0;
	unsigned char before = g->zs.next_in > g->in ? g->zs.next_in[-1] : g->last_in;

	if (!p->pend_win && !(p->pend_win = malloc(GZ_WINDOW)))
		return -1;
	if (inflateGetDictionary(&g->zs, p->pend_win, &size) != Z_OK || size > GZ_WINDOW)
		return -1;
	pt->win_size = size;
	if (size == 0)
		return 0;
	p->pending = true;
	p->pend_in_len = 0;
	return keep_input(p, &before, 1) && keep_input(p, g->zs.next_in, g->zs.avail_in) ? 0 : -1;
}

/* After an inflate call: the pending window is stored once its span has
 * 32 KiB of output, or its member ended, or @end (the stream's end). */
static int settle_window(struct gz_reader *g, bool end)
{
	struct gz_points *p = g->points;

	if (!p || !p->pending)
		return 0;
	if (!end && g->out_total - p->v[p->n - 1].out < GZ_WINDOW && p->pend_in_len < 4 * GZ_SPAN)
		return 0;
	return store_window(p, true);
}

/* The current chunk ends (a full one, the end of a span, or of the stream). */
static int end_chunk(struct gz_points *p)
{
	if (p->chunk_fill == 0)
		return 0;
	if (!grow((void **)&p->crcs, &p->crcs_cap, p->n_crcs + 1, sizeof(*p->crcs)))
		return -1;
	p->crcs[p->n_crcs++] = p->crc;
	p->crc = 0;
	p->chunk_fill = 0;
	return 0;
}

/* At a block boundary (or right after a member's header): a checkpoint when
 * the last is a span behind.  0, or -1 out of memory. */
static int maybe_checkpoint(struct gz_reader *g)
{
	struct gz_points *p = g->points;
	struct gz_point pt = {.out = g->out_total, .in = g->in_total - g->zs.avail_in};

	if (!(g->zs.data_type & 128) || (g->zs.data_type & 64))
		return 0;
	if (p->n > 0 && g->out_total - p->v[p->n - 1].out < GZ_SPAN)
		return 0;
	pt.bits = (uint32_t)g->zs.data_type & 7;
	if ((p->pending && store_window(p, false)) ||
	    !grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v)) || hold_window(g, &pt) ||
	    end_chunk(p))
		return -1;
	pt.crc_first = (uint32_t)p->n_crcs;
	p->v[p->n++] = pt;
	return 0;
}

/* Counts what one inflate call gave, and checksums it chunk by chunk.
 * 0, or -1 out of memory. */
static int account(struct gz_reader *g, const unsigned char *start, size_t n)
{
	struct gz_points *p = g->points;

	g->out_total += n;
	g->member_len += (uint32_t)n;
	while (p && n) {
		size_t k = GZ_CHUNK - p->chunk_fill < n ? GZ_CHUNK - p->chunk_fill : n;

		p->crc = crc32_gzip_refl(p->crc, start, k); /* zlib's crc32(), faster */
		if (g->own_check)
			g->member_crc = crc32_gzip_refl(g->member_crc, start, k); /* in cache */
		p->chunk_fill += k;
		start += k;
		n -= k;
		if (p->chunk_fill == GZ_CHUNK && end_chunk(p))
			return -1;
	}
	return 0;
}

/*
 * Between members: more members may follow (concatenated gzip is valid),
 * and so may zero padding, as tape-blocked archives have.  Anything else is
 * damage: a member whose magic was hit must not read as the end.
 */
static int start_member(struct gz_reader *g, struct strata_error *err)
{
	while (g->zs.avail_in > 0 && g->zs.next_in[0] == 0) {
		g->zs.next_in++;
		g->zs.avail_in--;
		g->saw_padding = true;
	}
	if (g->zs.avail_in == 0)
		return 0;
	if (g->saw_padding)
		return corrupt(err, "data after the trailing padding");
	if (inflateReset(&g->zs) != Z_OK)
		return corrupt(err, "cannot restart");
	/* zlib's own CRC-32 of the output was a twelfth of an index build. */
	g->own_check = g->points != NULL;
	if (inflateValidate(&g->zs, !g->own_check) != Z_OK)
		return corrupt(err, "cannot restart");
	g->member_crc = 0;
	g->member_len = 0;
	g->in_member = true;
	return 0;
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A member just ended (zlib read its trailer without checking it): its
 * CRC-32 and length against the trailer, the last 8 bytes read. */
static int check_trailer(struct gz_reader *g, struct strata_error *err)
{
	size_t here = (size_t)(g->zs.next_in - g->in), from_buf = here < 8 ? here : 8;
	unsigned char t[8];

	if (!g->own_check)
		return 0; /* zlib checked it */
	if (g->tail_len < 8 - from_buf)
		return corrupt(err, "truncated trailer");
	memcpy(t, g->tail + g->tail_len - (8 - from_buf), 8 - from_buf);
	memcpy(t + 8 - from_buf, g->zs.next_in - from_buf, from_buf);
	if (le32(t) != g->member_crc)
		return corrupt(err, "incorrect data check");
	if (le32(t + 4) != g->member_len)
		return corrupt(err, "incorrect length check");
	return 0;
}

int fs_gz_reader_next(struct gz_reader *g, const void **buf, size_t *size, struct strata_error *err)
{
	g->zs.next_out = g->out;
	g->zs.avail_out = sizeof(g->out);
	while (g->zs.avail_out == sizeof(g->out) && !g->eof) {
		unsigned char *start;
		int r;

		if (g->zs.avail_in == 0) {
			if (fill(g, err))
				return -1;
			if (g->zs.avail_in == 0) {
				if (g->in_member)
					return corrupt(err, "truncated (unexpected end of file)");
				g->eof = true;
				if (g->points && (end_chunk(g->points) || settle_window(g, true)))
					return nomem(err);
				break;
			}
		}
		if (!g->in_member) {
			if (start_member(g, err))
				return -1;
			if (!g->in_member)
				continue;
		}
		start = g->zs.next_out;
		r = inflate(&g->zs, g->points ? Z_BLOCK : Z_NO_FLUSH);
		if (account(g, start, (size_t)(g->zs.next_out - start)) ||
		    settle_window(g, r == Z_STREAM_END) ||
		    (r == Z_OK && g->points && maybe_checkpoint(g)))
			return nomem(err);
		if (r == Z_STREAM_END) {
			g->in_member = false; /* CRC-32 and length checked */
			if (check_trailer(g, err))
				return -1;
		} else if (r == Z_BUF_ERROR && g->zs.avail_in == 0) {
			continue;
		} else if (r != Z_OK) {
			return corrupt(err, g->zs.msg ? g->zs.msg : "corrupt data");
		}
	}
	*buf = g->out;
	*size = sizeof(g->out) - g->zs.avail_out;
	return 0;
}
