/* SPDX-License-Identifier: MIT */
/*
 * The index pass's gzip decoder: ISA-L's inflate, 3-4x zlib's here.  Unlike
 * zlib's (Z_BLOCK), it cannot be told to stop at a deflate block boundary,
 * which checkpoints need (gzip.h).  It stops where its input ends, though,
 * and when that is inside a block's header it puts the header aside
 * (block_state ISAL_BLOCK_HDR: the bits before the header's first in
 * read_in, the header's bytes so far in tmp_in_buffer, all the output
 * before it given): that is a block boundary, with all a checkpoint needs.
 * So once a checkpoint is due (a span after the last), input goes in
 * slices of HUNT_SLICE bytes, shorter than most dynamic blocks' headers,
 * until a call ends in one; in a stored block, whose end is known, the
 * slice ends there.  The window is the member's last 32 KiB of
 * output, kept here.  Members are read as ISA-L's gzip (header, CRC-32 and
 * length checked by it); a member's header's end is a checkpoint with no
 * window, as with zlib.
 */
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip.h"

/* Input per call while a checkpoint is due.  A dynamic block's header is
 * 40-100 bytes, so many are cut by a slice's end; each call costs ISA-L a
 * 32 KiB move of its history, so not much shorter (16 and 32 cost more
 * calls for the same checkpoints on the bench's Debian layer). */
#define HUNT_SLICE 64
/* ... but where a byte of input makes more output, blocks are fewer and
 * longer (a span of repeated text may be one block of megabytes), calls
 * per input byte cost less, and short headers are worth catching:
 * slices go down to MIN_SLICE where the last call made 32 bytes a byte. */
#define MIN_SLICE 8
/* Room kept free in the input buffer: at a member's end, bytes ISA-L
 * holds in its bit buffer go back before next_in. */
#define GIVE_BACK 8
/* An output buffer with less room than this goes to the reader; while
 * hunting, with less than HUNT_ROOM, more than a slice can make (258
 * bytes a bit), so that a boundary never waits with output undelivered. */
#define MIN_ROOM  (64 * 1024)
#define HUNT_ROOM (200 * 1024)

struct gz_isal {
	struct inflate_state st;
	struct isal_gzip_header hdr;
	bool in_header;                /* reading a member's header */
	size_t left;                   /* bytes of g->in after the slice given to ISA-L */
	unsigned char hist[GZ_WINDOW]; /* the member's last output, a ring */
	size_t hist_len, hist_pos;
	size_t slice; /* the next hunting slice */
	unsigned char win[GZ_WINDOW];
};

static int corrupt(struct strata_error *err, const char *why)
{
	return strata_fail(err, STRATA_ERR_CORRUPT, 0, "gzip: %s", why);
}

static int nomem(struct strata_error *err)
{
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

int fs_gz_reader_init(struct gz_reader *g, int fd, struct strata_error *err)
{
	g->fd = fd;
	g->read = NULL;
	g->in_member = g->saw_padding = g->eof = false;
	g->points = NULL;
	g->in_total = g->out_total = 0;
	g->isal = calloc(1, sizeof(*g->isal));
	if (!g->isal)
		return nomem(err);
	isal_inflate_init(&g->isal->st);
	g->isal->slice = HUNT_SLICE;
	return 0;
}

void fs_gz_reader_end(struct gz_reader *g)
{
	free(g->isal);
	g->isal = NULL;
}

/* Where st.next_in is in the compressed file. */
static uint64_t next_in_pos(const struct gz_reader *g)
{
	return g->in_total - g->isal->st.avail_in - g->isal->left;
}

static void hist_add(struct gz_isal *z, const unsigned char *b, size_t n)
{
	if (n >= GZ_WINDOW) {
		memcpy(z->hist, b + n - GZ_WINDOW, GZ_WINDOW);
		z->hist_pos = 0;
		z->hist_len = GZ_WINDOW;
		return;
	}
	while (n) {
		size_t k = GZ_WINDOW - z->hist_pos < n ? GZ_WINDOW - z->hist_pos : n;

		memcpy(z->hist + z->hist_pos, b, k);
		z->hist_pos = (z->hist_pos + k) % GZ_WINDOW;
		z->hist_len = z->hist_len + k > GZ_WINDOW ? GZ_WINDOW : z->hist_len + k;
		b += k;
		n -= k;
	}
}

/* The window into z->win, oldest byte first. */
static void hist_get(struct gz_isal *z)
{
	size_t start = (z->hist_pos + GZ_WINDOW - z->hist_len) % GZ_WINDOW;
	size_t k = GZ_WINDOW - start < z->hist_len ? GZ_WINDOW - start : z->hist_len;

	memcpy(z->win, z->hist + start, k);
	memcpy(z->win + k, z->hist, z->hist_len - k);
}

/* A whole buffer, unless the file ends: reads of any size (a download's)
 * then end the same calls, so the same blob gets the same checkpoints from
 * a file and from a stream (its index is pushed as an artifact). */
static int fill(struct gz_reader *g, struct strata_error *err)
{
	struct gz_isal *z = g->isal;
	size_t room = sizeof(g->in) - GIVE_BACK, have = 0;

	while (have < room) {
		ssize_t n = g->read ? g->read(g->read_ctx, g->in + have, room - have)
		                    : read(g->fd, g->in + have, room - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_fail(err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
		if (n == 0)
			break;
		have += (size_t)n;
	}
	z->st.next_in = g->in;
	z->st.avail_in = 0;
	z->left = have;
	g->in_total += have;
	if (g->points->pending && !fs_gz_keep_input(g->points, g->in, have))
		return nomem(err);
	return 0;
}

/* The output so far, with what ISA-L decoded but has not given. */
static uint64_t out_now(const struct gz_reader *g)
{
	const struct inflate_state *st = &g->isal->st;

	return g->out_total + (uint64_t)(st->tmp_out_valid - st->tmp_out_processed);
}

/* Output before a checkpoint is due (0: it is). */
static uint64_t until_due(const struct gz_reader *g)
{
	const struct gz_points *p = g->points;
	uint64_t since = p->n ? out_now(g) - p->v[p->n - 1].out : GZ_SPAN;

	return since >= GZ_SPAN ? 0 : GZ_SPAN - since;
}

/* The input ISA-L is given, from all there is in the buffer: all of it,
 * or while a checkpoint is due (@hunt) a slice, or a stored block's rest,
 * whose end is known.  What it is not given stays for later. */
static void give(struct gz_reader *g, bool hunt)
{
	struct gz_isal *z = g->isal;
	size_t all = z->st.avail_in + z->left, k = all;

	if (hunt && z->st.block_state == ISAL_BLOCK_TYPE0) {
		int64_t to_end = (int64_t)z->st.type0_block_len - z->st.read_in_length / 8;

		k = to_end <= 0 ? 0 : (uint64_t)to_end < k ? (size_t)to_end : k;
	} else if (hunt && k > z->slice) {
		k = z->slice;
	}
	z->st.avail_in = (uint32_t)k;
	z->left = all - k;
}

/* Between members: zero padding may follow (tape-blocked archives), or
 * another member.  Anything else is damage. */
static int start_member(struct gz_reader *g, struct strata_error *err)
{
	struct gz_isal *z = g->isal;

	give(g, false);
	while (z->st.avail_in > 0 && z->st.next_in[0] == 0) {
		z->st.next_in++;
		z->st.avail_in--;
		g->saw_padding = true;
	}
	if (z->st.avail_in == 0)
		return 0;
	if (g->saw_padding)
		return corrupt(err, "data after the trailing padding");
	isal_inflate_reset(&z->st); /* keeps next_in, next_out */
	z->st.crc_flag = ISAL_GZIP;
	isal_gzip_header_init(&z->hdr);
	z->in_header = true;
	z->hist_len = z->hist_pos = 0;
	g->in_member = true;
	return 0;
}

/* A member's header; its end is a checkpoint with no window. */
static int read_header(struct gz_reader *g, struct strata_error *err)
{
	struct gz_isal *z = g->isal;
	int r = isal_read_gzip_header(&z->st, &z->hdr);

	if (r == ISAL_END_INPUT)
		return 0;
	if (r == ISAL_UNSUPPORTED_METHOD)
		return corrupt(err, "unknown compression method");
	if (r != ISAL_DECOMP_OK)
		return corrupt(err, "incorrect header check");
	z->in_header = false;
	if (fs_gz_point_due(g) && fs_gz_point_add(g, next_in_pos(g), 0, NULL, 0, 0))
		return nomem(err);
	/* The rest goes back: a checkpoint may be due at once (a span after
	 * the last, which was in an earlier member). */
	z->left += z->st.avail_in;
	z->st.avail_in = 0;
	return 0;
}

/* After a call: at a block boundary with all output given, a checkpoint
 * if one is due.  The header starts read_in_length bits before the bytes
 * put aside in tmp_in_buffer, which start where st.next_in is now less
 * their number. */
static int at_boundary(struct gz_reader *g)
{
	struct gz_isal *z = g->isal;
	struct inflate_state *st = &z->st;
	unsigned rl = (unsigned)st->read_in_length, bits = rl % 8, q = rl / 8;
	unsigned char bytes[8 + ISAL_DEF_MAX_HDR_SIZE];
	size_t nb = 0;

	if ((st->block_state != ISAL_BLOCK_HDR && st->block_state != ISAL_BLOCK_NEW_HDR) ||
	    st->tmp_out_valid != st->tmp_out_processed || !fs_gz_point_due(g))
		return 0;
	hist_get(z);
	/* The byte before: only its top @bits bits, read_in's next ones,
	 * are read (gzip_seek.c's prime()). */
	if (fs_gz_point_add(g, next_in_pos(g) - (uint64_t)st->tmp_in_size - q, bits, z->win,
	                    z->hist_len,
	                    (unsigned char)((st->read_in & ((1u << bits) - 1)) << (8 - bits))))
		return -1;
	if (!g->points->pending)
		return 0;
	for (unsigned i = 0; i < q; i++)
		bytes[nb++] = (unsigned char)(st->read_in >> (bits + 8 * i));
	memcpy(bytes + nb, st->tmp_in_buffer, (size_t)st->tmp_in_size);
	nb += (size_t)st->tmp_in_size;
	return fs_gz_keep_input(g->points, bytes, nb) &&
	               fs_gz_keep_input(g->points, st->next_in, st->avail_in + z->left)
	           ? 0
	           : -1;
}

/* A member ended: whole bytes still in ISA-L's bit buffer are the next
 * member's (or padding): back in the buffer, before next_in. */
static void give_back(struct gz_reader *g)
{
	struct gz_isal *z = g->isal;
	unsigned k = (unsigned)z->st.read_in_length / 8, skip = (unsigned)z->st.read_in_length % 8;
	size_t rest = z->st.avail_in + z->left;

	if (k > 0) {
		if ((size_t)(z->st.next_in - g->in) < k) { /* they came with an earlier fill */
			memmove(g->in + k, z->st.next_in, rest);
			z->st.next_in = g->in + k;
		}
		z->st.next_in -= k;
		for (unsigned i = 0; i < k; i++)
			z->st.next_in[i] = (unsigned char)(z->st.read_in >> (skip + 8 * i));
		z->st.avail_in += k;
	}
	z->st.read_in = 0;
	z->st.read_in_length = 0;
}

static const char *isal_why(int r)
{
	if (r == ISAL_INCORRECT_CHECKSUM)
		return "incorrect data check";
	if (r == ISAL_INVALID_BLOCK || r == ISAL_INVALID_SYMBOL || r == ISAL_INVALID_LOOKBACK)
		return "invalid compressed data";
	return "corrupt data";
}

/* One ISA-L call on a member's deflate data, and what it means. */
static int decode(struct gz_reader *g, struct strata_error *err)
{
	struct gz_isal *z = g->isal;
	unsigned char *start = z->st.next_out;
	uint32_t in = z->st.avail_in;
	uint64_t out = out_now(g);
	size_t n;
	int r = isal_inflate(&z->st);

	n = (size_t)(z->st.next_out - start);
	in -= z->st.avail_in;
	if (in > 0) { /* bytes of output a byte of input made */
		uint64_t ratio = (out_now(g) + n - out) / in;

		z->slice = ratio >= 32 ? MIN_SLICE : ratio >= 8 ? 2 * MIN_SLICE : HUNT_SLICE;
	}
	hist_add(z, start, n);
	if (fs_gz_account(g, start, n))
		return nomem(err);
	if (r < 0)
		return corrupt(err, isal_why(r));
	if (z->st.block_state == ISAL_BLOCK_FINISH) { /* trailer checked */
		give_back(g);
		g->in_member = false;
		return fs_gz_settle_window(g, true) ? nomem(err) : 0;
	}
	return fs_gz_settle_window(g, false) || at_boundary(g) ? nomem(err) : 0;
}

/* Input for the next step: 1 at the end of the file. */
static int need_input(struct gz_reader *g, bool hunt, struct strata_error *err)
{
	struct gz_isal *z = g->isal;

	bool held = g->in_member && !z->in_header && z->st.tmp_out_valid > z->st.tmp_out_processed;

	if (z->st.avail_in == 0 && z->left == 0 && !held) {
		if (fill(g, err))
			return -1;
		if (z->left == 0)
			return 1;
	}
	give(g, hunt);
	return 0;
}

static int step(struct gz_reader *g, bool hunt, struct strata_error *err)
{
	struct gz_isal *z = g->isal;
	int rc = need_input(g, hunt, err);

	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (g->in_member)
			return corrupt(err, "truncated (unexpected end of file)");
		g->eof = true;
		return fs_gz_end_chunk(g->points) || fs_gz_settle_window(g, true) ? nomem(err) : 0;
	}
	if (!g->in_member)
		return start_member(g, err);
	if (z->in_header)
		return read_header(g, err);
	return decode(g, err);
}

int fs_gz_reader_next(struct gz_reader *g, const void **buf, size_t *size, struct strata_error *err)
{
	struct gz_isal *z = g->isal;
	unsigned char *end = g->out + sizeof(g->out);

	z->st.next_out = g->out;
	while (!g->eof) {
		uint64_t room = (uint64_t)(end - z->st.next_out), lim = until_due(g);
		bool hunt = g->in_member && !z->in_header && lim == 0;

		if (room < (hunt ? HUNT_ROOM : MIN_ROOM))
			break;
		/* Output stops where a checkpoint falls due: the hunt for a
		 * block boundary starts there, not a buffer later. */
		z->st.avail_out = (uint32_t)(lim && lim < room ? lim : room);
		if (step(g, hunt, err))
			return -1;
	}
	*buf = g->out;
	*size = (size_t)(z->st.next_out - g->out);
	return 0;
}
