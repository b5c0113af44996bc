/* SPDX-License-Identifier: MIT */
/*
 * xz layers: a multi-block stream (what `xz -T0` writes: each block is
 * compressed on its own, its header saying its sizes) is entered at a
 * block start.  The blocks come from the stream's index at the end of the
 * file (liblzma's file info decoder reads the footer and the index only);
 * a read decodes one block after another with lzma_block_decoder, which
 * checks each block's sizes and its check (CRC-64 by default).  Several
 * concatenated streams keep the copy: each has its own header and check
 * type, which a decoder entered at a block would have to find (rare; not
 * done).
 */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame_seek.h"

/* The index of a blob holding 10^6 blocks needs ~16 MB. */
#define XZ_INDEX_MEMLIMIT ((uint64_t)256 << 20)

static int xz_fail(struct strata_error *err, lzma_ret r)
{
	if (r == LZMA_MEM_ERROR)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	return strata_fail(err, STRATA_ERR_CORRUPT, 0, "xz: its index cannot be read (%d)", (int)r);
}

/* Runs liblzma's file info decoder over @fd into *@idx. */
static int read_index(int fd, uint64_t size, lzma_index **idx, struct strata_error *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t buf[64 * 1024];
	uint64_t pos = 0;
	lzma_ret r = lzma_file_info_decoder(&s, idx, XZ_INDEX_MEMLIMIT, size);

	while (r == LZMA_OK || r == LZMA_SEEK_NEEDED) {
		ssize_t n;

		if (r == LZMA_SEEK_NEEDED)
			pos = s.seek_pos;
		if (s.avail_in == 0) {
			n = pread(fd, buf, sizeof(buf), (off_t)pos);
			if (n < 0) {
				lzma_end(&s);
				return strata_fail(err, STRATA_ERR_SYS, errno, "%s",
				                   strerror(errno));
			}
			pos += (uint64_t)n;
			s.next_in = buf;
			s.avail_in = (size_t)n;
		}
		r = lzma_code(&s, s.avail_in ? LZMA_RUN : LZMA_FINISH);
	}
	lzma_end(&s);
	return r == LZMA_STREAM_END ? 0 : xz_fail(err, r);
}

int fs_xz_blocks(int fd, const char *path, struct frame_list *f, uint64_t *total,
                 struct strata_error *err)
{
	int own = fd < 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	lzma_index *idx = NULL;
	lzma_index_iter it;
	struct stat st;
	int rc = 1;

	if (fd < 0 && (fd = own) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
	else if (read_index(fd, (uint64_t)st.st_size, &idx, err))
		rc = -1;
	if (idx && lzma_index_stream_count(idx) == 1) {
		rc = 0;
		*total = lzma_index_uncompressed_size(idx);
		lzma_index_iter_init(&it, idx);
		while (rc == 0 && !lzma_index_iter_next(&it, LZMA_INDEX_ITER_BLOCK))
			if (fs_frames_add(f, it.block.compressed_file_offset,
			                  it.block.uncompressed_file_offset))
				rc = strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	lzma_index_end(idx, NULL);
	if (own >= 0)
		close(own);
	return rc;
}

/* ---- a decoder entered at a block start, for reads ---- */

struct xz_dec {
	lzma_stream s;
	lzma_block block;
	lzma_filter filters[LZMA_FILTERS_MAX + 1];
	lzma_check check; /* the stream's, from its header */
	bool in_block;
	int fd;
	uint64_t pos; /* blob offset of the next read */
	uint8_t in[64 * 1024];
};

static void free_filters(struct xz_dec *d)
{
	for (size_t i = 0; i < LZMA_FILTERS_MAX; i++) {
		free(d->filters[i].options);
		d->filters[i].options = NULL;
	}
}

static void xz_free(void *st)
{
	struct xz_dec *d = st;

	if (!d)
		return;
	lzma_end(&d->s);
	free_filters(d);
	free(d);
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? errno : (size_t)n == len ? 0 : EIO;
}

static int xz_open(int fd, uint64_t in, void **st)
{
	struct xz_dec *d = calloc(1, sizeof(*d));
	uint8_t head[LZMA_STREAM_HEADER_SIZE];
	lzma_stream_flags flags;
	int rc;

	if (!d)
		return ENOMEM;
	d->s = (lzma_stream)LZMA_STREAM_INIT;
	d->fd = fd;
	d->pos = in;
	/* One stream (fs_xz_blocks): its header is the file's first bytes. */
	if ((rc = read_at(fd, head, sizeof(head), 0)) == 0 &&
	    lzma_stream_header_decode(&flags, head) != LZMA_OK)
		rc = EIO;
	if (rc) {
		free(d);
		return rc;
	}
	d->check = flags.check;
	*st = d;
	return 0;
}

/* At a block's header: reads it and starts its decoder. */
static int start_block(struct xz_dec *d)
{
	uint8_t hdr[LZMA_BLOCK_HEADER_SIZE_MAX];
	int rc;

	if ((rc = read_at(d->fd, hdr, 1, d->pos)))
		return rc;
	if (hdr[0] == 0)
		return EIO; /* the index: the stream ends before the span does */
	free_filters(d);
	d->block = (lzma_block){.version = 1, .check = d->check, .filters = d->filters};
	d->block.header_size = lzma_block_header_size_decode(hdr[0]);
	if ((rc = read_at(d->fd, hdr, d->block.header_size, d->pos)))
		return rc;
	if (lzma_block_header_decode(&d->block, NULL, hdr) != LZMA_OK ||
	    lzma_block_decoder(&d->s, &d->block) != LZMA_OK)
		return EIO;
	d->pos += d->block.header_size;
	d->s.avail_in = 0;
	d->in_block = true;
	return 0;
}

static int xz_decode(void *st, unsigned char *out, size_t len)
{
	struct xz_dec *d = st;
	lzma_ret r;
	int rc;

	d->s.next_out = out;
	d->s.avail_out = len;
	while (d->s.avail_out > 0) {
		if (!d->in_block && (rc = start_block(d)))
			return rc;
		if (d->s.avail_in == 0) {
			ssize_t n = pread(d->fd, d->in, sizeof(d->in), (off_t)d->pos);

			if (n <= 0)
				return n < 0 ? errno : EIO;
			d->pos += (uint64_t)n;
			d->s.next_in = d->in;
			d->s.avail_in = (size_t)n;
		}
		r = lzma_code(&d->s, LZMA_RUN);
		if (r == LZMA_STREAM_END) {
			/* What it did not take belongs to the next block. */
			d->pos -= d->s.avail_in;
			d->s.avail_in = 0;
			d->in_block = false;
		} else if (r != LZMA_OK) {
			return EIO;
		}
	}
	return 0;
}

const struct frame_codec fs_xz_codec = {xz_open, xz_decode, xz_free};
