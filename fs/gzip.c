/* SPDX-License-Identifier: MIT */
/*
 * A gzip layer's checkpoints, as the index pass (gzip_isal.c) finds them:
 * where they are, their windows (trimmed, deflated), and the CRC-32 of
 * every chunk of output.
 */
#include <stdlib.h>
#include <string.h>
#include <isa-l/crc.h>

#include "gzip.h"

static bool grow(void **v, size_t *cap, size_t need, size_t elem);

/* The compressed bytes after a pending window's checkpoint, kept. */
bool fs_gz_keep_input(struct gz_points *p, const unsigned char *in, size_t n)
{
	if (!grow((void **)&p->pend_in, &p->pend_in_cap, p->pend_in_len + n, 1))
		return false;
	memcpy(p->pend_in + p->pend_in_len, in, n);
	p->pend_in_len += n;
	return true;
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
	/* zlib's fastest level: 0.14 s less of the index pass of the bench's
	 * 93 MB layer than its default, for 17 % more window bytes (784 KB). */
	if (!grow((void **)&p->windows, &p->windows_cap, p->windows_len + len, 1) ||
	    compress2(p->windows + p->windows_len, &len, p->pend_win, pt->win_size, Z_BEST_SPEED) !=
	        Z_OK)
		return -1;
	pt->win_off = p->windows_len;
	pt->win_len = (uint32_t)len;
	p->windows_len += len;
	return 0;
}

/* After an inflate call: the pending window is stored once its span has
 * 32 KiB of output, or its member ended, or @end (the stream's end). */
int fs_gz_settle_window(struct gz_reader *g, bool end)
{
	struct gz_points *p = g->points;

	if (!p || !p->pending)
		return 0;
	if (!end && g->out_total - p->v[p->n - 1].out < GZ_WINDOW && p->pend_in_len < 4 * GZ_SPAN)
		return 0;
	return store_window(p, true);
}

/* The current chunk ends (a full one, the end of a span, or of the stream). */
int fs_gz_end_chunk(struct gz_points *p)
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

bool fs_gz_point_due(const struct gz_reader *g)
{
	const struct gz_points *p = g->points;

	return p->n == 0 || g->out_total - p->v[p->n - 1].out >= GZ_SPAN;
}

int fs_gz_point_add(struct gz_reader *g, uint64_t in, unsigned bits, const unsigned char *win,
                    size_t win_size, unsigned char before)
{
	struct gz_points *p = g->points;
	struct gz_point pt = {
	    .out = g->out_total, .in = in, .bits = bits, .win_size = (uint32_t)win_size};

	if ((p->pending && store_window(p, false)) ||
	    !grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v)) || fs_gz_end_chunk(p))
		return -1;
	if (win_size) {
		if (!p->pend_win && !(p->pend_win = malloc(GZ_WINDOW)))
			return -1;
		memcpy(p->pend_win, win, win_size);
		p->pending = true;
		p->pend_in_len = 0;
		if (!fs_gz_keep_input(p, &before, 1))
			return -1;
	}
	pt.crc_first = (uint32_t)p->n_crcs;
	p->v[p->n++] = pt;
	return 0;
}

/* Counts what one inflate call gave, and checksums it chunk by chunk.
 * 0, or -1 out of memory. */
int fs_gz_account(struct gz_reader *g, const unsigned char *start, size_t n)
{
	struct gz_points *p = g->points;

	g->out_total += n;
	while (p && n) {
		size_t k = GZ_CHUNK - p->chunk_fill < n ? GZ_CHUNK - p->chunk_fill : n;

		p->crc = crc32_gzip_refl(p->crc, start, k); /* zlib's crc32(), faster */
		p->chunk_fill += k;
		start += k;
		n -= k;
		if (p->chunk_fill == GZ_CHUNK && fs_gz_end_chunk(p))
			return -1;
	}
	return 0;
}
