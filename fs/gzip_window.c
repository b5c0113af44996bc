/* SPDX-License-Identifier: MIT */
/*
 * Sparse windows: which bytes of a checkpoint's 32 KiB window the span
 * after it reads.  A deflate back-reference reaches at most 32 KiB back,
 * so only the span's first 32 KiB of output can copy from the window, and
 * each byte they copy from it comes from one window position (directly or
 * through a chain of copies).  The rest of the window is never read: it is
 * stored as zeros, which deflate to almost nothing.  On data that is partly
 * incompressible (binaries, media, already compressed files), much of a
 * window is never referenced, and the windows are most of the index.
 *
 * Finding the positions with a stock decoder (ISA-L's; we write no inflate
 * of our own): the span's start is decoded with windows of all 0x00 and all
 * 0xFF bytes, and the output bytes that differ are the window's; then with
 * window byte q set to the low byte of q, and then to its high byte: each
 * window-copied output byte is the window byte it came from, so the two
 * decodes spell out its position.  4 decodes of up to 32 KiB a
 * checkpoint (it was 17, with a plane per bit of the position: 17 % of a
 * 1M-entry layer's index build).
 * Reads check every chunk's CRC, so a wrong trim would be EIO, not other
 * bytes; the unit tests decode every span of several compressors with it.
 */
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gzip.h"

/* Window byte q of plane 0 is q's low byte, of plane 1 its high byte
 * (GZ_WINDOW is 32 KiB: two bytes hold a position): made once. */
static unsigned char planes[2][GZ_WINDOW];
static pthread_once_t planes_once = PTHREAD_ONCE_INIT;

static void make_planes(void)
{
	for (size_t q = 0; q < GZ_WINDOW; q++) {
		planes[0][q] = (unsigned char)(q & 0xff);
		planes[1][q] = (unsigned char)(q >> 8);
	}
}

struct trim {
	struct inflate_state st;
	unsigned char dict[GZ_WINDOW];
	unsigned char zero[GZ_WINDOW], ones[GZ_WINDOW], out[GZ_WINDOW];
	uint16_t copied[GZ_WINDOW]; /* the output bytes copied from the window */
	uint16_t from[GZ_WINDOW];   /* and the window position each comes from */
	size_t n_copied;
	size_t copied_end; /* past the last of them */
};

/* The span's first bytes (at most @limit) with @dict as its window, into
 * @out; their number, or -1 if @in ends before they are known. */
static long decode_start(struct trim *t, const unsigned char *dict, const unsigned char *in,
                         size_t in_len, unsigned bits, size_t win_size, unsigned char *out,
                         size_t limit)
{
	isal_inflate_init(&t->st);
	t->st.crc_flag = ISAL_DEFLATE;
	if (isal_inflate_set_dict(&t->st, (uint8_t *)dict, (uint32_t)win_size) != COMP_OK)
		return -1;
	if (bits) {
		t->st.read_in = in[0] >> (8 - bits);
		t->st.read_in_length = (int32_t)bits;
		in++;
		in_len--;
	}
	t->st.next_in = (uint8_t *)in;
	t->st.avail_in = (uint32_t)in_len;
	t->st.next_out = out;
	t->st.avail_out = (uint32_t)limit;
	if (isal_inflate(&t->st) != ISAL_DECOMP_OK)
		return -1;
	if (t->st.avail_out && t->st.block_state != ISAL_BLOCK_FINISH)
		return -1; /* ran out of input: what follows is unknown */
	return (long)(limit - t->st.avail_out);
}

/* Which output bytes come from the window: those that differ between an
 * all-0x00 and an all-0xFF window. */
static bool find_copied(struct trim *t, const unsigned char *in, size_t in_len, unsigned bits,
                        size_t win_size)
{
	long n;

	memset(t->dict, 0x00, win_size);
	if ((n = decode_start(t, t->dict, in, in_len, bits, win_size, t->zero, GZ_WINDOW)) < 0)
		return false;
	memset(t->dict, 0xff, win_size);
	if (decode_start(t, t->dict, in, in_len, bits, win_size, t->ones, GZ_WINDOW) != n)
		return false;
	t->n_copied = 0;
	for (size_t p = 0; p < (size_t)n; p++) {
		uint64_t a, b;

		/* Most output is literals, the same in both: 8 bytes a step. */
		if (p % 8 == 0 && p + 8 <= (size_t)n) {
			memcpy(&a, t->zero + p, 8);
			memcpy(&b, t->ones + p, 8);
			if (a == b) {
				p += 7;
				continue;
			}
		}
		if (t->zero[p] != t->ones[p]) {
			t->from[t->n_copied] = 0;
			t->copied[t->n_copied++] = (uint16_t)p;
		}
	}
	t->copied_end = t->n_copied ? t->copied[t->n_copied - 1] + 1u : 0;
	return true;
}

/* Byte @k (0 low, 1 high) of the window position each copied byte comes
 * from. */
static bool spell_byte(struct trim *t, const unsigned char *in, size_t in_len, unsigned bits,
                       size_t win_size, unsigned k)
{
	if (decode_start(t, planes[k], in, in_len, bits, win_size, t->out, t->copied_end) !=
	    (long)t->copied_end)
		return false;
	for (size_t i = 0; i < t->n_copied; i++)
		t->from[i] |= (uint16_t)(t->out[t->copied[i]] << (8 * k));
	return true;
}

int fs_gz_window_trim(const unsigned char *in, size_t in_len, unsigned bits, unsigned char *win,
                      size_t win_size)
{
	struct trim *t = malloc(sizeof(*t));
	unsigned char *keep = NULL;
	int rc = -1;

	pthread_once(&planes_once, make_planes);
	if (!t || win_size == 0 || win_size > GZ_WINDOW || in_len < (bits ? 2u : 1u) ||
	    !find_copied(t, in, in_len, bits, win_size))
		goto out;
	for (unsigned k = 0; t->copied_end && k < 2; k++)
		if (!spell_byte(t, in, in_len, bits, win_size, k))
			goto out;
	if (!(keep = calloc(1, win_size)))
		goto out;
	for (size_t i = 0; i < t->n_copied; i++) {
		if (t->from[i] >= win_size)
			goto out;
		keep[t->from[i]] = 1;
	}
	for (size_t q = 0; q < win_size; q++) /* branch-free: vectorized */
		win[q] &= (unsigned char)-keep[q];
	rc = 0;
out:
	free(keep);
	free(t);
	return rc;
}
