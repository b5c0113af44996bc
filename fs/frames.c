/* SPDX-License-Identifier: MIT */
/*
 * The checkpoints of a zstd or xz layer (frame_seek.h): its frame starts
 * grouped into spans, and the CRC of every GZ_CHUNK of each span, read back
 * from the copy the indexing pass wrote (the spans are only known once the
 * pass has seen every frame).
 */
#include <errno.h>
#include <isa-l/crc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame_seek.h"

int fs_frames_add(struct frame_list *f, uint64_t in, uint64_t out)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct frame_start *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -1;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = (struct frame_start){in, out};
	return 0;
}

void fs_frames_free(struct frame_list *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* Frames with output, and none too big: a frame that starts where the next
 * one does (a skippable frame, an empty one) is no frame of the stream. */
static bool frames_seekable(const struct frame_list *f, uint64_t stream_size)
{
	size_t real = 0;

	for (size_t i = 0; i < f->n; i++) {
		uint64_t end = i + 1 < f->n ? f->v[i + 1].out : stream_size;

		if (end < f->v[i].out || end - f->v[i].out > FRAME_MAX)
			return false;
		real += end > f->v[i].out;
	}
	return real > 1 && f->v[0].out == 0;
}

static int add_point(struct gz_points *p, const struct frame_start *s)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct gz_point *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct gz_point){.out = s->out, .in = s->in};
	return 0;
}

/* The CRC of each chunk of [from, to) of the copy, appended to @p. */
static int span_crcs(struct gz_points *p, int copy_fd, uint64_t from, uint64_t to,
                     unsigned char *buf)
{
	size_t n = (size_t)((to - from + GZ_CHUNK - 1) / GZ_CHUNK);
	uint32_t *v;

	if (p->n_crcs + n > p->crcs_cap) {
		size_t cap = (p->n_crcs + n) * 2;

		if (!(v = realloc(p->crcs, cap * sizeof(*v))))
			return ENOMEM;
		p->crcs = v;
		p->crcs_cap = cap;
	}
	for (uint64_t off = from; off < to; off += GZ_CHUNK) {
		size_t len = to - off < GZ_CHUNK ? (size_t)(to - off) : GZ_CHUNK;
		ssize_t got = pread(copy_fd, buf, len, (off_t)off);

		if (got != (ssize_t)len)
			return got < 0 ? errno : EIO;
		p->crcs[p->n_crcs++] = crc32_gzip_refl(0, buf, len);
	}
	return 0;
}

/* Spans: a frame starts a new one once the current holds FRAME_SPAN. */
static int group(const struct frame_list *f, uint64_t stream_size, struct gz_points *p)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct frame_start *s = &f->v[i];

		if (s->out >= stream_size && i > 0)
			break;
		if (p->n == 0 || s->out - p->v[p->n - 1].out >= FRAME_SPAN)
			if (add_point(p, s))
				return ENOMEM;
	}
	return 0;
}

int fs_frames_points(const struct frame_list *f, uint64_t stream_size, int copy_fd,
                     struct gz_points *p, struct strata_error *err)
{
	unsigned char *buf;
	int rc;

	if (!frames_seekable(f, stream_size))
		return 1;
	buf = malloc(GZ_CHUNK);
	if (!buf)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = group(f, stream_size, p);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		uint64_t end = i + 1 < p->n ? p->v[i + 1].out : stream_size;

		p->v[i].crc_first = (uint32_t)p->n_crcs;
		rc = span_crcs(p, copy_fd, p->v[i].out, end, buf);
	}
	free(buf);
	if (rc)
		return strata_fail(err, rc == ENOMEM ? STRATA_ERR_NOMEM : STRATA_ERR_SYS, rc,
		                   "reading the copy back: %s", strerror(rc));
	return 0;
}
