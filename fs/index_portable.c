/* SPDX-License-Identifier: MIT */
/*
 * A layer's index as it travels between machines (the lazy pull's index
 * artifacts, docs/index-artifact.md): the cached index with the local
 * file's identity taken out of its header, and, on the way in, put back
 * for the blob it now describes.
 *
 * Only the header's src_mtime and src_ino are local: everything else is a
 * function of the layer's bytes (src_size is the blob's size, which its
 * digest fixes).  An index coming in is untrusted input: it is validated
 * whole, every block's CRC and every reference, before it is renamed into
 * the cache, as any index strata built itself would be at a full check.
 * What validation cannot tell is whether it describes the blob truly;
 * docs/index-artifact.md says what a lazy image trusts until it is whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cache.h"
#include "index.h"
#include "sys.h"

/* The header's CRC after its source fields changed. */
static void reseal(struct ix_header *h)
{
	h->header_crc = 0;
	h->header_crc = (uint32_t)crc32_z(0, (const Bytef *)h, sizeof(*h));
}

static bool read_in_place(const struct ix_header *h)
{
	return !(h->flags & IXH_DATA_COPY) &&
	       (h->compression == IX_COMP_NONE || h->n_checkpoints > 0);
}

int strata_layer_index_export(const char *path, const struct strata_layer_options *opts, int fd,
                              struct strata_error *err)
{
	struct fs_cache_paths paths;
	struct ix_source_id src;
	struct ix_header h;
	struct ix_map map;
	int rc = 0;

	if (fs_cache_layer_index(path, opts, &paths, &src, err) ||
	    fs_ix_map_open(paths.index, &src, &map, err))
		return -1;
	h = *map.hdr;
	if (!read_in_place(&h))
		rc = strata_fail(
		    err, STRATA_ERR_UNSUPPORTED, 0,
		    "%s: a %s layer read from a decompressed copy has no portable index",
		    opts->name ? opts->name : path, fs_ix_compression_name(h.compression));
	h.src_mtime_sec = h.src_mtime_nsec = 0;
	h.src_ino = 0;
	reseal(&h);
	if (rc == 0 && (sys_write_all(fd, &h, sizeof(h)) < 0 ||
	                sys_write_all(fd, (const char *)map.hdr + sizeof(h),
	                              (size_t)(h.total_size - sizeof(h))) < 0))
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "writing an index: %s",
		                 strerror(errno));
	fs_ix_map_close(&map);
	return rc;
}

/* Copies @in (from its start) to @out, with @h, already checked and made
 * local, as its first bytes. */
static int copy_index(int in, int out, const struct ix_header *h)
{
	char buf[65536];
	uint64_t off = sizeof(*h);

	if (sys_write_all(out, h, sizeof(*h)) < 0)
		return -1;
	while (off < h->total_size) {
		size_t want =
		    h->total_size - off < sizeof(buf) ? (size_t)(h->total_size - off) : sizeof(buf);
		ssize_t r = pread(in, buf, want, (off_t)off);

		if (r <= 0) {
			errno = r < 0 ? errno : EPIPE; /* shorter than its header says */
			return -1;
		}
		if (sys_write_all(out, buf, (size_t)r) < 0)
			return -1;
		off += (uint64_t)r;
	}
	return fsync(out);
}

/* The header of an index coming in, checked as far as the header alone
 * can be, and made to describe @src. */
static int incoming_header(int fd, const struct ix_source_id *src, struct ix_header *h,
                           struct strata_error *err)
{
	struct ix_header want;

	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
		return strata_fail(err, STRATA_ERR_INDEX, 0, "an index shorter than its header");
	want = *h;
	reseal(&want);
	if (memcmp(h->magic, IX_MAGIC, sizeof(h->magic)) != 0 || h->version != IX_VERSION ||
	    h->header_size != sizeof(*h) || want.header_crc != h->header_crc)
		return strata_fail(err, STRATA_ERR_INDEX, 0,
		                   "not a strata index of version %d, or damaged", IX_VERSION);
	if (h->src_size != src->size)
		return strata_fail(err, STRATA_ERR_INDEX, 0,
		                   "an index of a %llu-byte layer, not of this one (%llu bytes)",
		                   (unsigned long long)h->src_size, (unsigned long long)src->size);
	if (!read_in_place(h))
		return strata_fail(err, STRATA_ERR_INDEX, 0, "an index that needs a local copy");
	h->src_mtime_sec = src->mtime_sec;
	h->src_mtime_nsec = src->mtime_nsec;
	h->src_ino = src->ino;
	reseal(h);
	return 0;
}

int strata_layer_index_adopt(const char *path, const struct strata_layer_options *opts, int fd,
                             struct strata_error *err)
{
	struct fs_cache_paths paths;
	struct ix_source_id src;
	struct ix_header h;
	struct ix_map map;
	char *tmp = NULL;
	int out, rc = -1;

	if (fs_cache_layer_index(path, opts, &paths, &src, err) ||
	    incoming_header(fd, &src, &h, err))
		return -1;
	out = sys_tmpfile_beside(paths.index, &tmp);
	if (out < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", paths.index,
		                   strerror(errno));
	if (copy_index(fd, out, &h) < 0 || fchmod(out, 0644) < 0)
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", paths.index,
		            errno == EPIPE ? "the index is shorter than it says" : strerror(errno));
	else if (fs_ix_map_open(tmp, &src, &map, err) == 0) {
		fs_ix_map_close(&map);
		rc = rename(tmp, paths.index) < 0
		         ? strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", paths.index,
		                       strerror(errno))
		         : 0;
	}
	close(out);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}
