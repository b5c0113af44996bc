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
bool fs_frames_seekable(const struct frame_list *f, uint64_t stream_size)
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
	struct frame_crcs a = {.p = p};
	unsigned char *buf;
	int rc = fs_frames_group(f, stream_size, p);

	if (rc)
		return rc > 0 ? 1 : strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (!(buf = malloc(GZ_CHUNK)))
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	while (rc == 0 && a.out < stream_size) {
		size_t len =
		    stream_size - a.out < GZ_CHUNK ? (size_t)(stream_size - a.out) : GZ_CHUNK;
		ssize_t got = pread(copy_fd, buf, len, (off_t)a.out);

		if (got != (ssize_t)len)
			rc = got < 0 ? errno : EIO;
		else if (fs_frame_crcs_feed(&a, buf, len))
			rc = ENOMEM;
	}
	if (rc == 0 && fs_frame_crcs_end(&a))
		rc = ENOMEM;
	free(buf);
	if (rc)
		return strata_fail(err, rc == ENOMEM ? STRATA_ERR_NOMEM : STRATA_ERR_SYS, rc,
		                   "reading the copy back: %s", strerror(rc));
	return 0;
}

/* ---- the same in the indexing pass, with no copy ---- */

int fs_frames_group(const struct frame_list *f, uint64_t stream_size, struct gz_points *p)
{
	if (!fs_frames_seekable(f, stream_size))
		return 1;
	return group(f, stream_size, p) ? -1 : 0;
}

/* A frame starts at the accountant's position: a span too, once the
 * current one holds FRAME_SPAN.  0, or -1 out of memory. */
int fs_frame_crcs_start(struct frame_crcs *a, const struct frame_start *s)
{
	struct gz_points *p = a->p;

	if (a->distinct == 0 || s->out != a->last_start) {
		a->too_big |= a->distinct > 0 && s->out - a->last_start > FRAME_MAX;
		a->distinct++;
		a->last_start = s->out;
	}
	if (p->n > 0 && s->out - p->v[p->n - 1].out < FRAME_SPAN)
		return 0;
	return add_point(p, s);
}

static int end_chunk(struct frame_crcs *a)
{
	struct gz_points *p = a->p;

	if (a->fill == 0)
		return 0;
	if (p->n_crcs == p->crcs_cap) {
		size_t cap = p->crcs_cap ? p->crcs_cap * 2 : 256;
		uint32_t *v = realloc(p->crcs, cap * sizeof(*v));

		if (!v)
			return -1;
		p->crcs = v;
		p->crcs_cap = cap;
	}
	p->crcs[p->n_crcs++] = a->crc;
	a->crc = 0;
	a->fill = 0;
	return 0;
}

/* Where the spans begin (p->v), each chunk ends at GZ_CHUNK or at the next
 * span's start, whose first CRC comes next. */
int fs_frame_crcs_feed(struct frame_crcs *a, const unsigned char *buf, size_t n)
{
	struct gz_points *p = a->p;

	for (;;) {
		uint64_t limit = a->next < p->n ? p->v[a->next].out : UINT64_MAX;
		size_t k = GZ_CHUNK - a->fill;

		if (a->out == limit) {
			if (end_chunk(a))
				return -1;
			p->v[a->next++].crc_first = (uint32_t)p->n_crcs;
			continue;
		}
		if (n == 0)
			return 0;
		if (k > n)
			k = n;
		if (k > limit - a->out)
			k = (size_t)(limit - a->out);
		a->crc = crc32_gzip_refl(a->crc, buf, k);
		a->fill += k;
		a->out += k;
		buf += k;
		n -= k;
		if (a->fill == GZ_CHUNK && end_chunk(a))
			return -1;
	}
}

int fs_frame_crcs_end(struct frame_crcs *a)
{
	/* A frame that started at the very end (a skippable one) starts no
	 * span: spans have output. */
	while (a->p->n > 1 && a->p->v[a->p->n - 1].out >= a->out)
		a->p->n--;
	return end_chunk(a);
}
