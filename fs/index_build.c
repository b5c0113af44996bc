/* SPDX-License-Identifier: MIT */
/*
 * Builds a layer index in one streaming pass over a tar layer.
 *
 * libarchive parses the tar (ustar, pax, GNU, with long names and sparse
 * files).  The offset of an entry's data in the uncompressed stream is the
 * position of libarchive's innermost read filter right after the header: the
 * tar reader consumes every header block (pax, GNU long name, GNU sparse
 * maps) before it returns, and has consumed none of the data yet.  For sparse
 * files the position after each data block gives that block's offset.  Tests
 * check every recorded offset against what libarchive reads for the entry.
 *
 * Compressed layers are read by a second, "raw" libarchive reader that only
 * decompresses; the tar reader pulls from it through tee_read(), which also
 * writes the uncompressed stream to the cached copy.  So each layer is
 * decompressed exactly once.  gzip is decoded by ISA-L instead, which records
 * checkpoints on the way (gzip.h): a gzip layer is read in place, with no
 * copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "archive_dl.h"
#include "crypto_dl.h"
#include "sha256.h"
#include "frame_seek.h"
#include "gzip.h"
#include "index_pipe.h"
#include "index_tree.h"
#include "sys.h"

/* The decompressor the tar reader pulls from: ISA-L for gzip (it checks
 * every member's trailer), libzstd for zstd (it notes where frames start),
 * libarchive's raw reader for the rest. */
struct tee {
	struct archive *raw;
	struct gz_reader *gz;
	struct zst_reader *zst;
	struct frame_list *frames; /* zstd's frame starts, as they come */
	size_t frames_seen;
	struct frame_crcs *crcs; /* read in place, known ahead: the spans' CRCs */
	int copy_fd;
	struct sha256 *sha; /* the diff-id, when asked for */
	/* The diff-id is hashed by the tar reader's thread, not the
	 * decompressor's: that one sets the pace of a compressed layer. */
	bool sha_by_reader;
	uint64_t total;
	uint64_t max;    /* the most bytes it may give; 0: no limit */
	bool too_big;    /* it would have given more */
	bool failed;     /* the decompressor failed, not the tar */
	int write_errno; /* writing the copy failed (a full disk, say) */
	/* The fields above are the producer's while the pipe runs. */
	struct ix_pipe *pipe;
};

/* The decompressor's next bytes: 0, or an errno with @msg. */
static int decompress_next(struct tee *t, const void **buf, size_t *size, char *msg,
                           size_t msg_size)
{
	la_int64_t offset;
	int r;

	if (t->gz || t->zst) {
		struct strata_error err;

		if ((t->gz ? fs_gz_reader_next(t->gz, buf, size, &err)
		           : fs_zst_reader_next(t->zst, buf, size, &err)) == 0)
			return 0;
		snprintf(msg, msg_size, "%s", err.msg);
		return EIO;
	}
	r = sym_archive_read_data_block(t->raw, buf, size, &offset);
	if (r == ARCHIVE_EOF) {
		*size = 0;
		return 0;
	}
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 0;
	snprintf(msg, msg_size, "%s", sym_archive_error_string(t->raw));
	return sym_archive_errno(t->raw) ? sym_archive_errno(t->raw) : EIO;
}

/* The spans' CRCs: frames that started before these bytes (zstd's, which
 * always start a buffer) may start spans.  0, or -1 out of memory. */
static int tee_crcs(struct tee *t, const void *buf, size_t size)
{
	for (; t->frames && t->frames_seen < t->frames->n; t->frames_seen++)
		if (fs_frame_crcs_start(t->crcs, &t->frames->v[t->frames_seen]))
			return -1;
	/* Two whole frames with output, none too big: the layer will be read
	 * in place unless a later frame is too big (the copy is then made
	 * again from the file), so the copy stops here. */
	if (t->copy_fd >= 0 && t->frames && t->crcs->distinct >= 3 && !t->crcs->too_big &&
	    ftruncate(t->copy_fd, 0) == 0) {
		t->copy_fd = -1;
		t->crcs->copy_dropped = true;
	}
	return fs_frame_crcs_feed(t->crcs, buf, size);
}

/* The next uncompressed bytes, with all that goes with them: the size
 * limit, the copy, the diff-id, the spans' CRCs (an ix_produce_fn: it runs
 * in the pipe's thread when there is one). */
static int tee_produce(void *ctx, const void **buf, size_t *size, char *msg, size_t msg_size)
{
	struct tee *t = ctx;
	int en;

	if ((en = decompress_next(t, buf, size, msg, msg_size))) {
		t->failed = true;
		return en;
	}
	/* Checked before the copy grows: a bomb leaves nothing behind. */
	if (t->max && *size > t->max - t->total) {
		snprintf(msg, msg_size, "over the size limit");
		t->too_big = true;
		return EFBIG;
	}
	if (*size && t->copy_fd >= 0 && sys_write_all(t->copy_fd, *buf, *size) < 0) {
		en = errno;
		snprintf(msg, msg_size, "writing the uncompressed copy: %s", strerror(en));
		t->write_errno = en;
		return en;
	}
	if ((*size && t->sha && !t->sha_by_reader && sha256_update(t->sha, *buf, *size) < 0) ||
	    (t->crcs && tee_crcs(t, *buf, *size))) {
		snprintf(msg, msg_size, "out of memory");
		return ENOMEM;
	}
	t->total += *size;
	return 0;
}

/* The tar reader's input: from the pipe's thread, or made here. */
static la_ssize_t tee_read(struct archive *a, void *ctx, const void **buf)
{
	struct tee *t = ctx;
	char msg[256];
	size_t size;
	int en = t->pipe ? fs_ix_pipe_next(t->pipe, buf, &size, msg, sizeof(msg))
	                 : tee_produce(t, buf, &size, msg, sizeof(msg));

	if (!en && size && t->sha_by_reader && sha256_update(t->sha, *buf, size) < 0) {
		snprintf(msg, sizeof(msg), "out of memory");
		en = ENOMEM;
	}
	if (en) {
		sym_archive_set_error(a, en, "%s", msg);
		return -1;
	}
	return (la_ssize_t)size;
}

static enum ix_compression compression_of(int filter_code)
{
	switch (filter_code) {
	case ARCHIVE_FILTER_NONE:
		return IX_COMP_NONE;
	case ARCHIVE_FILTER_GZIP:
		return IX_COMP_GZIP;
	case ARCHIVE_FILTER_ZSTD:
		return IX_COMP_ZSTD;
	case ARCHIVE_FILTER_XZ:
	case ARCHIVE_FILTER_LZMA:
		return IX_COMP_XZ;
	case ARCHIVE_FILTER_BZIP2:
		return IX_COMP_BZIP2;
	case ARCHIVE_FILTER_LZ4:
		return IX_COMP_LZ4;
	default:
		return IX_COMP_OTHER;
	}
}

const char *fs_ix_compression_name(uint32_t c)
{
	static const char *const names[] = {"none", "gzip", "zstd", "xz", "bzip2", "lz4", "other"};

	return c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

static int read_entries(struct builder *b, struct archive *a)
{
	struct archive_entry *ae;
	bool any = false;
	int r;

	while ((r = sym_archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		any = true;
		if (fs_builder_add_entry(b, a, ae))
			return -1;
	}
	fs_builder_warn_summary(b);
	/* libarchive says EILSEQ both for "not a tar" and for a header cut
	 * short; after a good member it can only be damage. */
	if (r != ARCHIVE_EOF)
		return fs_builder_archive_failed(b, a,
		                                 !any && sym_archive_errno(a) == EILSEQ
		                                     ? STRATA_ERR_FORMAT
		                                     : STRATA_ERR_CORRUPT);
	return 0;
}

static struct archive *tar_reader(void)
{
	struct archive *a = sym_archive_read_new();

	if (a)
		sym_archive_read_support_format_tar(a);
	return a;
}

static int index_plain(struct builder *b, int fd)
{
	struct archive *a = tar_reader();
	int rc;

	if (!a)
		return fs_builder_nomem(b);
	if (lseek(fd, 0, SEEK_SET) < 0 ||
	    sym_archive_read_open_fd(a, fd, 128 * 1024) != ARCHIVE_OK) {
		rc = fs_builder_archive_failed(b, a, STRATA_ERR_FORMAT);
		goto out;
	}
	rc = read_entries(b, a);
out:
	sym_archive_read_free(a);
	return rc;
}

/* What the user reads when a layer decompresses to more than the limit:
 * the layer, the limit, and how to raise it. */
static int too_big(struct builder *b)
{
	char limit[64];

	strata_size_text(b->opts->max_stream, limit, sizeof(limit));
	return strata_fail(b->err, STRATA_ERR_UNSUPPORTED, EFBIG,
	                   "%s: decompresses to more than %s (the limit; raise it with "
	                   "--max-layer-size)",
	                   b->opts->layer_name, limit);
}

static ssize_t stream_read(void *ctx, void *buf, size_t len);

/* The gzip reader (gzip_isal.c) from the start of @fd, or of the stream @in. */
static struct gz_reader *gz_open(int fd, struct ix_stream *in)
{
	struct gz_reader *gz = malloc(sizeof(*gz));

	if (!gz)
		return NULL;
	if ((!in && lseek(fd, 0, SEEK_SET) < 0) || fs_gz_reader_init(gz, fd, NULL)) {
		free(gz);
		return NULL;
	}
	if (in) {
		gz->read = stream_read;
		gz->read_ctx = in;
	}
	return gz;
}

/* libzstd's reader from the start of @fd, or of the stream @in. */
static struct zst_reader *zst_open(int fd, struct ix_stream *in, struct frame_list *frames)
{
	if (!in && lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	return fs_zst_reader_new(fd, in ? stream_read : NULL, in, frames);
}

/* A gzip layer is decoded by ISA-L from the start of @fd (or the stream),
 * a zstd one by libzstd when @frames is set (their starts go there);
 * others by @raw. */
static int index_through_tee(struct builder *b, int fd, struct archive *raw, bool gzip, int copy_fd,
                             struct frame_list *frames, struct frame_crcs *crcs)
{
	struct tee t = {.raw = raw,
	                .copy_fd = copy_fd,
	                .max = b->opts->max_stream,
	                .frames = raw ? NULL : frames,
	                .crcs = crcs};
	struct ix_stream *in = b->opts->stream;
	struct archive *a = NULL;
	const void *buf;
	int rc;

	if (gzip && !(t.gz = gz_open(fd, in)))
		return fs_builder_nomem(b);
	if (frames && !raw && !(t.zst = zst_open(fd, in, frames)))
		return fs_builder_nomem(b);
	if (t.gz)
		t.gz->points = b->points;
	if (b->opts->stream_sha256) {
		t.sha = sha256_new(b->err);
		if (!t.sha) {
			rc = -1;
			goto out;
		}
	}
	a = tar_reader();
	if (!a) {
		rc = fs_builder_nomem(b);
		goto out;
	}
	t.sha_by_reader = t.sha != NULL;
	t.pipe = fs_ix_pipe_start(tee_produce, &t); /* NULL: all in this thread */
	if (!t.pipe)
		t.sha_by_reader = false;
	if (sym_archive_read_open(a, &t, NULL, tee_read, NULL) != ARCHIVE_OK) {
		rc = fs_builder_archive_failed(b, a, STRATA_ERR_FORMAT);
		goto out;
	}
	rc = read_entries(b, a);
	if (rc == 0) {
		/* Decompress to the very end: the copy must be whole, and a
		 * damaged trailer (gzip CRC, zstd checksum) must still fail. */
		la_ssize_t n;

		while ((n = tee_read(a, &t, &buf)) > 0)
			;
		if (n < 0)
			rc = fs_builder_archive_failed(b, a, STRATA_ERR_CORRUPT);
	}
out:
	fs_ix_pipe_end(t.pipe); /* from here on, t is this thread's again */
	if (rc == 0 && t.sha && sha256_final(t.sha, b->opts->stream_sha256) < 0)
		rc = fs_builder_nomem(b);
	b->stream_size = t.total;
	/* A stream that stopped decompressing is damage, whatever the tar
	 * reader made of the missing bytes. */
	if (rc && t.failed && b->err && b->err->code == STRATA_ERR_FORMAT)
		b->err->code = STRATA_ERR_CORRUPT;
	/* The tar reader only saw its input stop ("Truncated input file"):
	 * the cause is the cache's, and the message says so (a full disk is
	 * not a corrupt layer). */
	if (rc && t.write_errno)
		strata_fail(b->err, STRATA_ERR_SYS, t.write_errno,
		            "%s: writing its uncompressed copy to the cache %s: %s",
		            b->opts->layer_name, b->opts->copy_path, strerror(t.write_errno));
	if (rc && t.too_big)
		too_big(b);
	if (a)
		sym_archive_read_free(a);
	sha256_free(t.sha);
	if (t.gz) {
		fs_gz_reader_end(t.gz);
		free(t.gz);
	}
	fs_zst_reader_free(t.zst);
	return rc;
}

/* ---- a layer read as a stream ---- */

static ssize_t stream_read(void *ctx, void *buf, size_t len)
{
	struct ix_stream *in = ctx;
	ssize_t n;

	if (in->head_pos < in->head_len) {
		size_t k = in->head_len - in->head_pos < len ? in->head_len - in->head_pos : len;

		memcpy(buf, in->head + in->head_pos, k);
		in->head_pos += k;
		return (ssize_t)k;
	}
	do
		n = in->read(in->ctx, buf, len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		in->total += (uint64_t)n;
	return n;
}

static la_ssize_t stream_archive_read(struct archive *a, void *ctx, const void **buf)
{
	struct ix_stream *in = ctx;
	ssize_t n = stream_read(in, in->buf, sizeof(in->buf));

	if (n < 0) {
		sym_archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	*buf = in->buf;
	return n;
}

/* The first bytes, to tell gzip (gzip_isal.c reads it) from the rest. */
static int stream_peek(struct builder *b, struct ix_stream *in)
{
	while (in->head_len < sizeof(in->head)) {
		ssize_t n =
		    in->read(in->ctx, in->head + in->head_len, sizeof(in->head) - in->head_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s",
			                   b->opts->layer_name, strerror(errno));
		if (n == 0)
			break;
		in->head_len += (size_t)n;
		in->total += (uint64_t)n;
	}
	return 0;
}

/* The identity of the file the stream went to, now that it is whole. */
static int stream_identity(struct builder *b, struct ix_source_id *src)
{
	struct ix_stream *in = b->opts->stream;
	struct stat st;

	if (stat(in->path, &st) < 0)
		return strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", in->path,
		                   strerror(errno));
	if ((uint64_t)st.st_size != in->total)
		return strata_fail(b->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: %llu bytes came, the file holds %llu", b->opts->layer_name,
		                   (unsigned long long)in->total, (unsigned long long)st.st_size);
	*src = (struct ix_source_id){(uint64_t)st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	                             (uint64_t)st.st_ino};
	return 0;
}

/* Opens the raw reader: decompression only, to learn the compression and to
 * feed the tar reader for compressed layers. */
static int open_raw(struct builder *b, int fd, struct archive **out, int *filter)
{
	struct archive *raw = sym_archive_read_new();
	struct archive_entry *ae;
	int r;

	if (!raw)
		return fs_builder_nomem(b);
	sym_archive_read_support_filter_all(raw);
	sym_archive_read_support_format_raw(raw);
	if ((b->opts->stream
	         ? sym_archive_read_open(raw, b->opts->stream, NULL, stream_archive_read, NULL)
	         : sym_archive_read_open_fd(raw, fd, 128 * 1024)) != ARCHIVE_OK ||
	    ((r = sym_archive_read_next_header(raw, &ae)) != ARCHIVE_OK && r != ARCHIVE_WARN)) {
		r = fs_builder_archive_failed(b, raw, STRATA_ERR_FORMAT);
		sym_archive_read_free(raw);
		return r;
	}
	*filter = sym_archive_filter_code(raw, 0);
	*out = raw;
	return 0;
}

/* A gzip layer: indexed with its checkpoints, read in place.  A copy an
 * older strata left in the cache goes now. */
static int index_gzip(struct builder *b, int fd, const struct ix_source_id *src,
                      const char *index_path)
{
	struct ix_source_id from_stream;
	struct gz_points points = {0};
	int rc;

	b->points = &points;
	rc = index_through_tee(b, fd, NULL, true, -1, NULL, NULL);
	if (rc == 0 && !src && (rc = stream_identity(b, &from_stream)) == 0)
		src = &from_stream;
	if (rc == 0)
		rc = fs_builder_write(b, src, IX_COMP_GZIP, false, index_path);
	if (rc == 0 && b->opts->copy_path)
		(void)unlink(b->opts->copy_path);
	b->points = NULL;
	fs_gz_points_free(&points);
	return rc;
}

/* An xz layer of several blocks: their starts become checkpoints in @p,
 * their CRCs read back from the copy, and it is read in place.  Anything
 * else, or any failure here, keeps the copy. */
static bool frame_points(struct builder *b, int fd, int filter, struct frame_list *frames,
                         int copy_fd, struct gz_points *p)
{
	struct strata_error ignored;

	uint64_t total;

	if (filter != ARCHIVE_FILTER_XZ ||
	    fs_xz_blocks(fd, b->opts->stream ? b->opts->stream->path : NULL, frames, &total,
	                 &ignored))
		return false;
	return fs_frames_points(frames, b->stream_size, copy_fd, p, &ignored) == 0;
}

/* Indexed in place: the copy the pass wrote (for the CRCs) goes, and so
 * does one an older strata left. */
static int write_in_place(struct builder *b, const struct ix_source_id *src, int filter,
                          struct gz_points *p, const char *index_path)
{
	int rc;

	b->points = p;
	rc = fs_builder_write(b, src, compression_of(filter), false, index_path);
	b->points = NULL;
	if (rc == 0)
		(void)unlink(b->opts->copy_path);
	return rc;
}

/* A layer file whose zstd frame headers, or xz index, say it will be read
 * in place: indexed with no copy at all, the spans' CRCs taken in the pass.
 * 1 when it is not such a layer (index_compressed then). */
static int index_frames_in_place(struct builder *b, int fd, struct archive *raw, int filter,
                                 const struct ix_source_id *src, const char *index_path)
{
	struct frame_list frames = {0};
	struct gz_points points = {0};
	struct frame_crcs crcs = {.p = &points};
	struct strata_error ignored;
	bool zstd = filter == ARCHIVE_FILTER_ZSTD;
	uint64_t total = 0;
	int rc = 1;

	if (zstd ? !fs_zst_frames_fit(fd, src->size)
	         : filter != ARCHIVE_FILTER_XZ ||
	               fs_xz_blocks(fd, NULL, &frames, &total, &ignored) ||
	               fs_frames_group(&frames, total, &points))
		goto out;
	rc = index_through_tee(b, fd, zstd ? NULL : raw, false, -1, zstd ? &frames : NULL, &crcs);
	if (rc == 0 && fs_frame_crcs_end(&crcs))
		rc = fs_builder_nomem(b);
	if (rc == 0 && !zstd && b->stream_size != total)
		rc = strata_fail(b->err, STRATA_ERR_CORRUPT, 0,
		                 "%s: xz: its index says %llu bytes, its blocks gave %llu",
		                 b->opts->layer_name, (unsigned long long)total,
		                 (unsigned long long)b->stream_size);
	if (rc == 0)
		rc = write_in_place(b, src, filter, &points, index_path);
out:
	fs_frames_free(&frames);
	fs_gz_points_free(&points);
	return rc;
}

/* The copy again, from the whole layer file: the pass stopped writing it,
 * and a frame after that turned out too big to be read in place. */
static int remake_copy(struct builder *b, int fd, int copy_fd)
{
	int in = fd >= 0 ? fd : open(b->opts->stream->path, O_RDONLY | O_CLOEXEC);
	struct zst_reader *z = NULL;
	struct strata_error err = {0};
	const void *buf;
	size_t n = 1;
	int rc = 0;

	if (in < 0 || lseek(in, 0, SEEK_SET) < 0 || ftruncate(copy_fd, 0) < 0 ||
	    lseek(copy_fd, 0, SEEK_SET) < 0 || !(z = fs_zst_reader_new(in, NULL, NULL, NULL)))
		rc = strata_fail(&err, STRATA_ERR_SYS, errno, "%s",
		                 strerror(errno ? errno : ENOMEM));
	while (rc == 0 && n > 0 && (rc = fs_zst_reader_next(z, &buf, &n, &err)) == 0)
		if (n && sys_write_all(copy_fd, buf, n) < 0)
			rc = strata_fail(&err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
	fs_zst_reader_free(z);
	if (in >= 0 && in != fd)
		close(in);
	return rc ? strata_fail(b->err, err.code, err.sys_errno, "%s: writing its copy again: %s",
	                        b->opts->layer_name, err.msg)
	          : 0;
}

/* A compressed layer: indexed while its uncompressed stream is written to
 * the cache's copy, which stays unless the layer can be read in place: a
 * zstd one of several frames (their starts and CRCs taken in the pass,
 * the copy stopped once that is clear), an xz one of several blocks
 * (frame_points).  @src NULL: the stream's file, once it is whole. */
static int index_compressed(struct builder *b, int fd, struct archive *raw, int filter,
                            const struct ix_source_id *src, const char *index_path)
{
	struct ix_source_id from_stream;
	struct frame_list frames = {0};
	struct gz_points points = {0};
	struct frame_crcs crcs = {.p = &points};
	bool zstd = filter == ARCHIVE_FILTER_ZSTD;
	char *copy_tmp = NULL;
	int copy_fd, rc;

	if (!b->opts->copy_path)
		return strata_fail(b->err, STRATA_ERR_USAGE, 0,
		                   "%s: compressed layer needs a cache", b->opts->layer_name);
	copy_fd = sys_tmpfile_beside(b->opts->copy_path, &copy_tmp);
	if (copy_fd < 0)
		return strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->copy_path,
		                   strerror(errno));
	rc = index_through_tee(b, fd, zstd ? NULL : raw, false, copy_fd, zstd ? &frames : NULL,
	                       zstd ? &crcs : NULL);
	if (rc == 0 && !src && (rc = stream_identity(b, &from_stream)) == 0)
		src = &from_stream;
	if (rc == 0 && zstd && fs_frame_crcs_end(&crcs))
		rc = fs_builder_nomem(b);
	if (rc == 0 && (zstd ? fs_frames_seekable(&frames, b->stream_size)
	                     : frame_points(b, fd, filter, &frames, copy_fd, &points))) {
		rc = write_in_place(b, src, filter, &points, index_path);
		goto out;
	}
	if (rc == 0 && crcs.copy_dropped)
		rc = remake_copy(b, fd, copy_fd);
	if (rc == 0 && rename(copy_tmp, b->opts->copy_path) < 0)
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->copy_path,
		                 strerror(errno));
	if (rc == 0) {
		free(copy_tmp);
		copy_tmp = NULL;
		rc = fs_builder_write(b, src, compression_of(filter), true, index_path);
	}
out:
	close(copy_fd);
	if (copy_tmp) {
		unlink(copy_tmp);
		free(copy_tmp);
	}
	fs_frames_free(&frames);
	fs_gz_points_free(&points);
	return rc;
}

static int build_stream(struct builder *b, int fd, const struct ix_source_id *src,
                        const char *index_path)
{
	struct archive *raw = NULL;
	int filter = ARCHIVE_FILTER_NONE, rc;

	/* A 0-byte file is an empty layer (GNU tar would refuse it, but an empty
	 * layer is what an image that adds nothing means). */
	if (src->size == 0)
		return fs_builder_write(b, src, IX_COMP_NONE, false, index_path);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->layer_name,
		                   strerror(errno));
	if (open_raw(b, fd, &raw, &filter))
		return -1;
	if (filter == ARCHIVE_FILTER_NONE) {
		sym_archive_read_free(raw);
		b->stream_size = src->size;
		rc = index_plain(b, fd);
		return rc ? rc : fs_builder_write(b, src, IX_COMP_NONE, false, index_path);
	}
	if (filter == ARCHIVE_FILTER_GZIP) {
		sym_archive_read_free(raw);
		return index_gzip(b, fd, src, index_path);
	}
	rc = index_frames_in_place(b, fd, raw, filter, src, index_path);
	if (rc == 1)
		rc = index_compressed(b, fd, raw, filter, src, index_path);
	sym_archive_read_free(raw);
	return rc;
}

/* The same from a stream: gzip goes to ISA-L straight away (the raw reader
 * would consume what it must see), zstd to libzstd; the rest through the raw reader, which
 * passes a plain tar through as it is (no copy: the blob is the data). */
static int build_from_stream(struct builder *b, const char *index_path)
{
	static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
	struct ix_stream *in = b->opts->stream;
	struct archive *raw = NULL;
	struct ix_source_id src;
	int filter = ARCHIVE_FILTER_GZIP, rc;

	if (stream_peek(b, in))
		return -1;
	if (in->head_len == 0) {
		/* SHA-256 of nothing: an empty layer's diff-id. */
		static const unsigned char empty[32] = {
		    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

		if (b->opts->stream_sha256)
			memcpy(b->opts->stream_sha256, empty, sizeof(empty));
		return stream_identity(b, &src)
		           ?: fs_builder_write(b, &src, IX_COMP_NONE, false, index_path);
	}
	/* A frame, or a skippable frame (magic 0x184D2A5?), which libarchive
	 * knows too: its raw reader must not consume what libzstd must see. */
	if (in->head_len >= 4 &&
	    (!memcmp(in->head, zstd_magic, 4) ||
	     ((in->head[0] & 0xf0) == 0x50 && !memcmp(in->head + 1, "\x2a\x4d\x18", 3))))
		filter = ARCHIVE_FILTER_ZSTD;
	else if (!(in->head_len >= 2 && in->head[0] == 0x1f && in->head[1] == 0x8b) &&
	         open_raw(b, -1, &raw, &filter))
		return -1;
	if (filter == ARCHIVE_FILTER_GZIP) {
		rc = index_gzip(b, -1, NULL, index_path);
	} else if (filter != ARCHIVE_FILTER_NONE) {
		rc = index_compressed(b, -1, raw, filter, NULL, index_path);
	} else {
		rc = index_through_tee(b, -1, raw, false, -1, NULL, NULL);
		if (rc == 0)
			rc = stream_identity(b, &src)
			         ?: fs_builder_write(b, &src, IX_COMP_NONE, false, index_path);
	}
	if (raw)
		sym_archive_read_free(raw);
	return rc;
}

int fs_ix_build(int fd, const struct ix_source_id *src, const char *index_path,
                const struct ix_build_options *opts, struct strata_error *err)
{
	struct builder b;
	locale_t utf8, old = (locale_t)0;
	int rc;

	/* Said before any work: a layer is not half indexed for nothing. */
	if (dl_archive_load(err) || (opts->stream_sha256 && dl_crypto_load(err)))
		return -1;
	/* libarchive converts pax (UTF-8) names to the current locale's charset;
	 * in the C locale that mangles non-ASCII names.  Use UTF-8 for this
	 * thread only, so names pass through byte for byte. */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8)
		old = uselocale(utf8);
	rc = fs_builder_init(&b, opts, err);
	if (rc == 0)
		rc = opts->stream ? build_from_stream(&b, index_path)
		                  : build_stream(&b, fd, src, index_path);
	fs_builder_free(&b);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	return rc;
}
