/* SPDX-License-Identifier: MIT */
/*
 * Random access into a zstd or xz layer (frame_seek.h): a span is decoded
 * from its first frame's start by the format's codec, as far as readers
 * need, in whole chunks each checked against the index's CRC before anyone
 * sees a byte (the formats' own checks are per frame or block, and zstd's
 * is optional: a damaged blob must give EIO, never other bytes).  At a
 * span's end the decoder stands at the next span's first frame, so a
 * sequential reader decodes each byte once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "frame_seek.h"
#include "gzip_seek.h"

struct frame_decoder {
	const struct frame_codec *codec;
	void *st;
};

const struct frame_codec *fs_frame_codec(uint32_t compression)
{
	if (compression == IX_COMP_ZSTD)
		return &fs_zstd_codec;
	if (compression == IX_COMP_XZ)
		return &fs_xz_codec;
	return NULL;
}

void fs_frame_decoder_free(void *dec)
{
	struct frame_decoder *d = dec;

	if (d)
		d->codec->free(d->st);
	free(d);
}

/* The span's compressed bytes, asked of the disk at once: a cold read then
 * waits for one I/O, not for one per buffer the decoder fills. */
static void prefetch(int fd, const struct ix_map *m, uint32_t i)
{
	uint64_t in = m->checkpoints[i].in;
	uint64_t end = i + 1 < m->hdr->n_checkpoints ? m->checkpoints[i + 1].in : m->hdr->src_size;

	if (end > in)
		posix_fadvise(fd, (off_t)in, (off_t)(end - in), POSIX_FADV_WILLNEED);
}

static int decoder_open(int fd, const struct ix_map *m, uint32_t i, void **dec)
{
	const struct frame_codec *c = fs_frame_codec(m->hdr->compression);
	struct frame_decoder *d;
	int rc;

	if (!c)
		return EINVAL;
	if (!(d = malloc(sizeof(*d))))
		return ENOMEM;
	d->codec = c;
	prefetch(fd, m, i);
	if ((rc = c->open(fd, m->checkpoints[i].in, &d->st))) {
		free(d);
		return rc;
	}
	*dec = d;
	return 0;
}

static int frame_decode(void *dec, unsigned char *out, size_t len)
{
	struct frame_decoder *d = dec;

	return d->codec->decode(d->st, out, len);
}

static const struct span_codec frame_codec = {decoder_open, frame_decode, fs_frame_decoder_free};

int fs_frame_span_extend(int fd, const struct ix_map *m, uint32_t i, void **dec,
                         unsigned char *data, size_t have, size_t want, size_t *now)
{
	return fs_span_extend(&frame_codec, fd, m, i, dec, data, have, want, now);
}

int fs_frame_span_decode(int fd, const struct ix_map *m, uint32_t i, unsigned char *out, size_t len)
{
	void *d = NULL;
	size_t now;
	int rc = fs_frame_span_extend(fd, m, i, &d, out, 0, len, &now);

	fs_frame_decoder_free(d);
	return rc == 0 && now != len ? EIO : rc;
}
