/* SPDX-License-Identifier: MIT */
/*
 * Random access into a gzip layer: one span, from a checkpoint the index
 * recorded (gzip.h) to the next, decoded from the layer file itself.
 * Decoding starts as raw deflate, primed with the bits of the byte before
 * the checkpoint and its window; where a member ends, its trailer and any
 * zero padding are skipped and the next member is decoded as gzip.  The
 * span's CRC-32 is checked before anyone sees a byte: a blob changed under
 * its index gives EIO, never other bytes.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "gzip_seek.h"

struct span_in {
	z_stream zs;
	int fd;
	uint64_t pos;  /* file offset of the next read */
	uint32_t skip; /* trailer bytes still to skip */
	bool raw;      /* in a member entered at a checkpoint: its trailer is ours to skip */
	bool between;  /* after a member's end: padding, or the next member */
	unsigned char buf[64 * 1024];
};

static int refill(struct span_in *s)
{
	ssize_t n;

	do
		n = pread(s->fd, s->buf, sizeof(s->buf), (off_t)s->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	if (n == 0)
		return EIO; /* the file ends inside the span */
	s->pos += (uint64_t)n;
	s->zs.next_in = s->buf;
	s->zs.avail_in = (uInt)n;
	return 0;
}

/* Where the stream starts at @cp: primed with its bits and window. */
static int prime(struct span_in *s, const struct ix_map *m, const struct ix_checkpoint *cp)
{
	unsigned char win[32768];
	uLongf size = sizeof(win);
	int rc;

	s->pos = cp->in - (cp->bits ? 1 : 0);
	if (cp->bits) {
		if ((rc = refill(s)))
			return rc;
		if (inflatePrime(&s->zs, (int)cp->bits, s->zs.next_in[0] >> (8 - cp->bits)) != Z_OK)
			return EIO;
		s->zs.next_in++;
		s->zs.avail_in--;
	}
	if (cp->win_len == 0)
		return 0;
	if (uncompress(win, &size, m->windows + cp->win_off, cp->win_len) != Z_OK ||
	    size != cp->win_size)
		return EIO;
	return inflateSetDictionary(&s->zs, win, (uInt)size) == Z_OK ? 0 : EIO;
}

/* Past a member's end: its trailer (when we entered it raw), padding, then
 * the next member, as gzip.  0, EAGAIN for more input, or EIO. */
static int next_member(struct span_in *s)
{
	while (s->skip && s->zs.avail_in) {
		s->zs.next_in++;
		s->zs.avail_in--;
		s->skip--;
	}
	while (!s->skip && s->zs.avail_in && s->zs.next_in[0] == 0) {
		s->zs.next_in++;
		s->zs.avail_in--;
	}
	if (s->skip || s->zs.avail_in == 0)
		return EAGAIN;
	if (inflateReset2(&s->zs, 16 + 15) != Z_OK)
		return EIO;
	s->between = false;
	return 0;
}

static int inflate_span(struct span_in *s, unsigned char *out, size_t len)
{
	s->zs.next_out = out;
	s->zs.avail_out = (uInt)len;
	while (s->zs.avail_out > 0) {
		int r, rc;

		if (s->zs.avail_in == 0 && (rc = refill(s)))
			return rc;
		if (s->between) {
			rc = next_member(s);
			if (rc == EAGAIN)
				continue;
			if (rc)
				return rc;
		}
		r = inflate(&s->zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			s->between = true;
			s->skip = s->raw ? 8 : 0;
			s->raw = false;
		} else if (r != Z_OK && !(r == Z_BUF_ERROR && s->zs.avail_in == 0)) {
			return EIO;
		}
	}
	return 0;
}

int fs_gz_span_decode(int fd, const struct ix_map *m, uint32_t i, unsigned char *out, size_t len)
{
	const struct ix_checkpoint *cp = &m->checkpoints[i];
	struct span_in *s = malloc(sizeof(*s));
	int rc;

	if (!s)
		return ENOMEM;
	memset(&s->zs, 0, sizeof(s->zs));
	s->fd = fd;
	s->skip = 0;
	s->raw = true;
	s->between = false;
	if (inflateInit2(&s->zs, -15) != Z_OK) {
		free(s);
		return ENOMEM;
	}
	rc = prime(s, m, cp);
	if (rc == 0)
		rc = inflate_span(s, out, len);
	if (rc == 0 && (uint32_t)crc32_z(0, out, len) != cp->span_crc)
		rc = EIO;
	inflateEnd(&s->zs);
	free(s);
	return rc;
}

uint64_t fs_gz_span_len(const struct ix_map *m, uint32_t i)
{
	uint64_t end =
	    i + 1 < m->hdr->n_checkpoints ? m->checkpoints[i + 1].out : m->hdr->stream_size;

	return end - m->checkpoints[i].out;
}

uint32_t fs_gz_span_at(const struct ix_map *m, uint64_t off)
{
	uint32_t lo = 0, hi = (uint32_t)m->hdr->n_checkpoints;

	/* The last checkpoint at or before @off (the first is at 0). */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->checkpoints[mid].out <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
