/* SPDX-License-Identifier: MIT */
/*
 * Maps a layer index and validates all of it once, so the hot paths
 * (lookup, readdir, getattr, read) can follow its numbers without checks.
 * An index is a cache: anything wrong with it means "rebuild", never "trust".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gzip.h"
#include "index.h"

static int bad(struct strata_error *err, const char *why)
{
	return strata_fail(err, STRATA_ERR_INDEX, 0, "index: %s", why);
}

static bool range_ok(uint64_t off, uint64_t count, uint64_t elem, uint64_t limit)
{
	return off <= limit && count <= (limit - off) / (elem ? elem : 1);
}

static bool string_ok(const struct ix_map *m, uint32_t off, uint32_t len)
{
	/* Every string is followed by a NUL, which readers rely on. */
	return (uint64_t)off + len < m->hdr->strings_size && m->strings[off + len] == '\0';
}

static int cmp_entry_names(const struct ix_map *m, const struct ix_entry *a,
                           const struct ix_entry *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(ix_name(m, a), ix_name(m, b), n);

	return c ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int validate_header(struct ix_map *m, unsigned flags, struct strata_error *err)
{
	struct ix_header h;
	const struct ix_header *hp = (const void *)m->base;

	if (m->size < sizeof(h) || memcmp(hp->magic, IX_MAGIC, 8) != 0)
		return bad(err, "not a strata index");
	if (hp->version != IX_VERSION || hp->header_size != sizeof(h))
		return bad(err, "unsupported index version");
	memcpy(&h, hp, sizeof(h));
	h.header_crc = 0;
	if ((uint32_t)crc32_z(0, (const Bytef *)&h, sizeof(h)) != hp->header_crc)
		return bad(err, "header checksum mismatch");
	if (hp->total_size != m->size)
		return bad(err, "truncated");
	if (!range_ok(hp->entries_off, hp->n_entries, sizeof(struct ix_entry), m->size) ||
	    !range_ok(hp->xattrs_off, hp->n_xattrs, sizeof(struct ix_xattr), m->size) ||
	    !range_ok(hp->extents_off, hp->n_extents, sizeof(struct ix_extent), m->size) ||
	    !range_ok(hp->checkpoints_off, hp->n_checkpoints, sizeof(struct ix_checkpoint),
	              m->size) ||
	    !range_ok(hp->windows_off, hp->windows_size, 1, m->size) || hp->checkpoints_off % 8 ||
	    !range_ok(hp->crcs_off, hp->n_crcs, sizeof(uint32_t), m->size) || hp->crcs_off % 4 ||
	    !range_ok(hp->strings_off, hp->strings_size, 1, m->size) || hp->entries_off % 8 ||
	    hp->xattrs_off % 4 || hp->extents_off % 8 || hp->n_entries == 0 ||
	    hp->n_entries > UINT32_MAX || hp->n_xattrs > UINT32_MAX || hp->n_extents > UINT32_MAX)
		return bad(err, "section out of bounds");
	if (!(flags & IX_MAP_NO_BODY_CRC) &&
	    (uint32_t)crc32_z(0, m->base + sizeof(h), m->size - sizeof(h)) != hp->body_crc)
		return bad(err, "checksum mismatch");
	m->hdr = hp;
	m->entries = (const void *)(m->base + hp->entries_off);
	m->xattrs = (const void *)(m->base + hp->xattrs_off);
	m->extents = (const void *)(m->base + hp->extents_off);
	m->checkpoints = (const void *)(m->base + hp->checkpoints_off);
	m->windows = m->base + hp->windows_off;
	m->crcs = (const void *)(m->base + hp->crcs_off);
	m->strings = (const char *)(m->base + hp->strings_off);
	return 0;
}

/* Checkpoints start at 0, go up, stay in the stream and the file, their
 * windows in their section, and each span has one CRC per GZ_CHUNK of its
 * output; a gzip layer without a copy has them.  zstd and xz ones start at
 * a frame (frame_seek.h): no window, no bits. */
static bool checkpoints_ok(const struct ix_map *m)
{
	const struct ix_header *h = m->hdr;
	bool frames = h->compression == IX_COMP_ZSTD || h->compression == IX_COMP_XZ;
	uint64_t crcs = 0;

	if (h->n_checkpoints == 0)
		return (h->compression != IX_COMP_GZIP || (h->flags & IXH_DATA_COPY) ||
		        h->stream_size == 0) &&
		       h->n_crcs == 0;
	if ((h->compression != IX_COMP_GZIP && !frames) || (h->flags & IXH_DATA_COPY) ||
	    m->checkpoints[0].out != 0 || (frames && h->windows_size))
		return false;
	for (uint64_t i = 0; i < h->n_checkpoints; i++) {
		const struct ix_checkpoint *c = &m->checkpoints[i];
		uint64_t end = i + 1 < h->n_checkpoints ? c[1].out : h->stream_size;

		if (c->out > h->stream_size || c->in > h->src_size || c->bits > 7 ||
		    (c->bits && c->in == 0) || c->win_size > 32768 ||
		    (c->win_len == 0) != (c->win_size == 0) ||
		    !range_ok(c->win_off, c->win_len, 1, h->windows_size) ||
		    (i > 0 && c->out <= c[-1].out) || end < c->out || c->crc_first != crcs ||
		    (frames && (c->bits || c->win_len)))
			return false;
		crcs += (end - c->out + GZ_CHUNK - 1) / GZ_CHUNK;
	}
	return crcs == h->n_crcs;
}

static bool data_ok(const struct ix_map *m, const struct ix_entry *e)
{
	uint64_t stream = m->hdr->stream_size;

	if (!(e->flags & IXE_SPARSE))
		return e->data_off <= stream && e->size <= stream - e->data_off;
	if (e->size > IX_SPARSE_MAX || !range_ok(e->ext_first, e->n_ext, 1, m->hdr->n_extents))
		return false;
	for (uint32_t i = 0; i < e->n_ext; i++) {
		const struct ix_extent *x = &m->extents[e->ext_first + i];

		if (x->stream_off > stream || x->len > stream - x->stream_off ||
		    x->logical > e->size || x->len > e->size - x->logical)
			return false;
		/* Readers binary-search the runs: sorted, not overlapping. */
		if (i > 0 && x->logical < x[-1].logical + x[-1].len)
			return false;
	}
	return true;
}

static bool xattrs_ok(const struct ix_map *m, const struct ix_entry *e)
{
	if (!range_ok(e->xattr_first, e->n_xattrs, 1, m->hdr->n_xattrs))
		return false;
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		const struct ix_xattr *x = &m->xattrs[e->xattr_first + i];

		if (!string_ok(m, x->name_off, x->name_len) ||
		    !string_ok(m, x->value_off, x->value_len))
			return false;
	}
	return true;
}

static bool entry_ok(const struct ix_map *m, uint32_t i)
{
	const struct ix_entry *e = &m->entries[i];
	uint32_t n = (uint32_t)m->hdr->n_entries;

	if (!string_ok(m, e->name_off, e->name_len) || e->parent >= n || !xattrs_ok(m, e))
		return false;
	if (i > 0) {
		const struct ix_entry *p = &m->entries[e->parent];

		/* Breadth-first: a child comes after its parent, within its range. */
		if (!S_ISDIR(p->mode) || e->parent >= i || i < p->first_child ||
		    i - p->first_child >= p->n_children || e->name_len == 0)
			return false;
		if (i > p->first_child && cmp_entry_names(m, &m->entries[i - 1], e) >= 0)
			return false;
	}
	if (e->flags & IXE_WHITEOUT)
		return e->mode == 0;
	if (e->flags & IXE_HARDLINK) {
		const struct ix_entry *t = e->link < n ? &m->entries[e->link] : NULL;

		return t && !S_ISDIR(t->mode) && (t->mode & S_IFMT) == (e->mode & S_IFMT) &&
		       !(t->flags & (IXE_HARDLINK | IXE_WHITEOUT));
	}
	switch (e->mode & S_IFMT) {
	case S_IFDIR:
		return e->n_children == 0 ||
		       (e->first_child > i && range_ok(e->first_child, e->n_children, 1, n));
	case S_IFREG:
		return data_ok(m, e);
	case S_IFLNK:
		return string_ok(m, e->link, e->link_len);
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

static int validate(struct ix_map *m, const struct ix_source_id *src, unsigned flags,
                    struct strata_error *err)
{
	if (validate_header(m, flags, err))
		return -1;
	if (src && (m->hdr->src_size != src->size || m->hdr->src_mtime_sec != src->mtime_sec ||
	            m->hdr->src_mtime_nsec != src->mtime_nsec || m->hdr->src_ino != src->ino))
		return strata_fail(err, STRATA_ERR_INDEX, 0, "index: stale (the layer changed)");
	if (m->hdr->strings_size == 0 || m->strings[m->hdr->strings_size - 1] != '\0')
		return bad(err, "string table not terminated");
	if (!S_ISDIR(m->entries[0].mode))
		return bad(err, "root is not a directory");
	if (!checkpoints_ok(m))
		return bad(err, "gzip checkpoints are inconsistent");
	for (uint32_t i = 0; i < m->hdr->n_entries; i++)
		if (!entry_ok(m, i)) {
			char why[64];

			snprintf(why, sizeof(why), "entry %u is inconsistent", i);
			return bad(err, why);
		}
	return 0;
}

int fs_ix_map_validate(struct ix_map *m, const struct ix_source_id *src, struct strata_error *err)
{
	return validate(m, src, 0, err);
}

void fs_ix_map_prefetch_seek(const struct ix_map *m)
{
	const struct ix_header *h = m->hdr;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = (uintptr_t)(m->base + h->checkpoints_off) & ~(page - 1);
	uintptr_t to = (uintptr_t)(m->base + h->crcs_off + h->n_crcs * sizeof(uint32_t));

	if (h->n_checkpoints)
		madvise((void *)from, to - from, MADV_WILLNEED);
}

int fs_ix_map_open(const char *path, const struct ix_source_id *src, struct ix_map *m,
                   struct strata_error *err)
{
	return fs_ix_map_open_flags(path, src, 0, m, err);
}

int fs_ix_map_open_flags(const char *path, const struct ix_source_id *src, unsigned flags,
                         struct ix_map *m, struct strata_error *err)
{
	struct stat st;
	void *p;
	int fd;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strata_fail(err, errno == ENOENT ? STRATA_ERR_INDEX : STRATA_ERR_SYS, errno,
		                   "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct ix_header)) {
		close(fd);
		return bad(err, "truncated");
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: mmap: %s", path,
		                   strerror(errno));
	m->base = p;
	m->size = (size_t)st.st_size;
	if (validate(m, src, flags, err)) {
		fs_ix_map_close(m);
		return -1;
	}
	return 0;
}

void fs_ix_map_close(struct ix_map *m)
{
	if (m->base)
		munmap((void *)m->base, m->size);
	memset(m, 0, sizeof(*m));
}

int64_t fs_ix_lookup(const struct ix_map *m, uint32_t dir, const char *name, size_t len)
{
	const struct ix_entry *d = &m->entries[dir];
	uint32_t lo = d->first_child, hi = d->first_child + d->n_children;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ix_entry *e = &m->entries[mid];
		size_t n = e->name_len < len ? e->name_len : len;
		int c = memcmp(ix_name(m, e), name, n);

		if (c == 0)
			c = (e->name_len > len) - (e->name_len < len);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
