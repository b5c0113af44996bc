/* SPDX-License-Identifier: MIT */
/*
 * Maps a layer index and checks it, so the hot paths (lookup, readdir,
 * getattr, read) can follow its numbers without checks of their own.  An
 * index is a cache: anything wrong with it means "rebuild", never "trust".
 *
 * Two ways to check.  In full (strata index --check, fsck, a fresh index):
 * every block's CRC and every reference, at open.  Lazily (a mount of an
 * index it has used before): the header, the block CRC table, the root and
 * the checkpoints at open, then each block's CRC before its first use and
 * each directory's children before the first of them is handed out, so a
 * mount of a million entries costs what a mount of ten does.  Damage found
 * late makes fs_ix_ready() false; the layer answers EIO from then on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <isa-l/crc.h>
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

/* ---- blocks ---- */

static const uint32_t *block_crcs(const struct ix_map *m)
{
	return (const uint32_t *)(m->base + m->hdr->blocks_off);
}

static bool block_ok(const struct ix_map *m, uint64_t b)
{
	uint64_t from = m->hdr->header_size + b * IX_BLOCK;
	uint64_t len = m->hdr->blocks_off - from < IX_BLOCK ? m->hdr->blocks_off - from : IX_BLOCK;

	/* ISA-L's CRC-32 is zlib's crc32(), several times faster. */
	return crc32_gzip_refl(0, m->base + from, len) == block_crcs(m)[b];
}

static bool touch_slow(const struct ix_map *m, uint64_t off, uint64_t len);

/* Bytes [off, off+len) of the file: their blocks' CRCs match (each block
 * checked once).  Always true for a map checked in full at open.  Inline
 * for the common case, a few bytes in a block already checked: a cold
 * walk of a million entries asks some ten million times. */
static inline bool touch(const struct ix_map *m, uint64_t off, uint64_t len)
{
	uint64_t hs = m->hdr->header_size, b;

	if (!m->lazy || len == 0)
		return true;
	b = (off - hs) / IX_BLOCK;
	if (off >= hs && (off + len - 1 - hs) / IX_BLOCK == b &&
	    (atomic_load_explicit(&m->lazy->blocks[b / 64], memory_order_acquire) >> (b % 64)) & 1)
		return true;
	return touch_slow(m, off, len);
}

static bool touch_slow(const struct ix_map *m, uint64_t off, uint64_t len)
{
	uint64_t hs = m->hdr->header_size;

	if (off + len <= hs)
		return true;
	if (off < hs) {
		len -= hs - off;
		off = hs;
	}
	for (uint64_t b = (off - hs) / IX_BLOCK; b <= (off + len - 1 - hs) / IX_BLOCK; b++) {
		_Atomic uint64_t *w = &m->lazy->blocks[b / 64];
		uint64_t bit = (uint64_t)1 << (b % 64);

		if (atomic_load_explicit(w, memory_order_acquire) & bit)
			continue;
		if (!block_ok(m, b))
			return false;
		atomic_fetch_or_explicit(w, bit, memory_order_release);
	}
	return true;
}

#define TOUCH(m, p, n) touch((m), (uint64_t)((const uint8_t *)(p) - (m)->base), (n))

/* ---- the header ---- */

static bool sections_ok(const struct ix_header *h, uint64_t size)
{
	return range_ok(h->entries_off, h->n_entries, sizeof(struct ix_entry), h->blocks_off) &&
	       range_ok(h->dirs_off, h->n_dirs, sizeof(struct ix_dir), h->blocks_off) &&
	       range_ok(h->attrs_off, h->n_attrs, sizeof(struct ix_attr), h->blocks_off) &&
	       range_ok(h->xattrs_off, h->n_xattrs, sizeof(struct ix_xattr), h->blocks_off) &&
	       range_ok(h->extents_off, h->n_extents, sizeof(struct ix_extent), h->blocks_off) &&
	       range_ok(h->checkpoints_off, h->n_checkpoints, sizeof(struct ix_checkpoint),
	                h->blocks_off) &&
	       range_ok(h->crcs_off, h->n_crcs, sizeof(uint32_t), h->blocks_off) &&
	       range_ok(h->windows_off, h->windows_size, 1, h->blocks_off) &&
	       range_ok(h->strings_off, h->strings_size, 1, h->blocks_off) &&
	       h->entries_off >= h->header_size && h->dirs_off >= h->header_size &&
	       h->attrs_off >= h->header_size && h->xattrs_off >= h->header_size &&
	       h->extents_off >= h->header_size && h->checkpoints_off >= h->header_size &&
	       h->crcs_off >= h->header_size && h->windows_off >= h->header_size &&
	       h->strings_off >= h->header_size && h->entries_off % 8 == 0 &&
	       h->dirs_off % 4 == 0 && h->attrs_off % 8 == 0 && h->xattrs_off % 4 == 0 &&
	       h->extents_off % 8 == 0 && h->checkpoints_off % 8 == 0 && h->crcs_off % 4 == 0 &&
	       h->blocks_off % 4 == 0 && h->blocks_off >= h->header_size &&
	       h->n_blocks == (h->blocks_off - h->header_size + IX_BLOCK - 1) / IX_BLOCK &&
	       range_ok(h->blocks_off, h->n_blocks, 4, size) &&
	       h->blocks_off + h->n_blocks * 4 == size && h->n_entries > 0 && h->n_dirs > 0 &&
	       h->n_attrs > 0 && h->strings_size > 0;
}

static int validate_header(struct ix_map *m, struct strata_error *err)
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
	if (!sections_ok(hp, m->size))
		return bad(err, "section out of bounds");
	m->hdr = hp;
	if (crc32_gzip_refl(0, (const unsigned char *)block_crcs(m), hp->n_blocks * 4) !=
	    hp->blocks_crc)
		return bad(err, "block checksum table mismatch");
	m->entries = (const void *)(m->base + hp->entries_off);
	m->dirs = (const void *)(m->base + hp->dirs_off);
	m->attrs = (const void *)(m->base + hp->attrs_off);
	m->xattrs = (const void *)(m->base + hp->xattrs_off);
	m->extents = (const void *)(m->base + hp->extents_off);
	m->checkpoints = (const void *)(m->base + hp->checkpoints_off);
	m->windows = m->base + hp->windows_off;
	m->crcs = (const void *)(m->base + hp->crcs_off);
	m->strings = (const char *)(m->base + hp->strings_off);
	return 0;
}

/* ---- checkpoints ---- */

/* Checkpoints start at 0, go up, stay in the stream and the file, their
 * windows in their section, and each span has one CRC per GZ_CHUNK of its
 * output; a gzip layer without a copy has them.  zstd and xz ones start at
 * a frame (frame_seek.h): no window, no bits.  Windows are not checked
 * here: what a span decodes is checked against its chunk CRCs. */
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
	    !TOUCH(m, m->checkpoints, h->n_checkpoints * sizeof(struct ix_checkpoint)) ||
	    !TOUCH(m, m->crcs, h->n_crcs * 4) || m->checkpoints[0].out != 0 ||
	    (frames && h->windows_size))
		return false;
	for (uint32_t i = 0; i < h->n_checkpoints; i++) {
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

/* ---- entries ---- */

/* A string of the table, followed by the NUL readers rely on. */
static bool string_ok(const struct ix_map *m, uint64_t off, uint64_t len)
{
	return off < m->hdr->strings_size && len < m->hdr->strings_size - off &&
	       TOUCH(m, m->strings + off, len + 1) && m->strings[off + len] == '\0';
}

static bool attr_ok(const struct ix_map *m, const struct ix_entry *e)
{
	return e->attr < m->hdr->n_attrs && TOUCH(m, &m->attrs[e->attr], sizeof(struct ix_attr));
}

static bool dir_rec_ok(const struct ix_map *m, uint64_t k)
{
	return k < m->hdr->n_dirs && TOUCH(m, &m->dirs[k], sizeof(struct ix_dir));
}

static bool sparse_ok(const struct ix_map *m, const struct ix_entry *e)
{
	uint32_t first = ix_ext_first(e), n = ix_n_ext(e);
	uint64_t stream = m->hdr->stream_size;
	const struct ix_extent *x;

	if (e->size > IX_SPARSE_MAX || !range_ok(first, n, 1, m->hdr->n_extents))
		return false;
	x = m->extents + first;
	if (!TOUCH(m, x, (uint64_t)n * sizeof(*x)))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (x[i].stream_off > stream || x[i].len > stream - x[i].stream_off ||
		    x[i].logical > e->size || x[i].len > e->size - x[i].logical)
			return false;
		/* Readers binary-search the runs: sorted, not overlapping. */
		if (i > 0 && x[i].logical < x[i - 1].logical + x[i - 1].len)
			return false;
	}
	return true;
}

static bool xattrs_ok(const struct ix_map *m, const struct ix_entry *e)
{
	const struct ix_xattr *x;

	if (e->n_xattrs == 0)
		return true;
	if (!range_ok(e->xattr_first, e->n_xattrs, 1, m->hdr->n_xattrs))
		return false;
	x = m->xattrs + e->xattr_first;
	if (!TOUCH(m, x, (uint64_t)e->n_xattrs * sizeof(*x)))
		return false;
	for (uint32_t i = 0; i < e->n_xattrs; i++)
		if (!string_ok(m, x[i].name_off, x[i].name_len) ||
		    !string_ok(m, x[i].value_off, x[i].value_len))
			return false;
	return true;
}

/* A hard link's target: a canonical non-directory of the same type. */
static bool link_ok(const struct ix_map *m, const struct ix_entry *e)
{
	const struct ix_entry *t;

	if (e->ref >= m->hdr->n_entries)
		return false;
	t = m->entries + e->ref;
	return TOUCH(m, t, sizeof(*t)) && attr_ok(m, t) && !S_ISDIR(ix_mode(m, t)) &&
	       (ix_mode(m, t) & S_IFMT) == (ix_mode(m, e) & S_IFMT) &&
	       !(t->flags & (IXE_HARDLINK | IXE_WHITEOUT)) && e->n_xattrs == 0;
}

/* What entry @i's type says its fields hold. */
static bool content_ok(const struct ix_map *m, uint32_t i, const struct ix_entry *e)
{
	uint32_t mode = ix_mode(m, e);

	if (e->flags & IXE_WHITEOUT)
		return mode == 0;
	if (e->flags & IXE_HARDLINK)
		return link_ok(m, e);
	if ((e->flags & IXE_SPARSE) && !S_ISREG(mode))
		return false;
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return dir_rec_ok(m, e->ref) && m->dirs[e->ref].entry == i;
	case S_IFREG:
		if (e->flags & IXE_SPARSE)
			return sparse_ok(m, e);
		return e->ref <= m->hdr->stream_size && e->size <= m->hdr->stream_size - e->ref;
	case S_IFLNK:
		return string_ok(m, e->ref, e->size);
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

static int cmp_names(const struct ix_map *m, const struct ix_entry *a, const struct ix_entry *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(ix_name(m, a), ix_name(m, b), n);

	return c ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* Entry @i, a child (@prev: the sibling before it, or NULL). */
static bool child_ok(const struct ix_map *m, uint32_t i, const struct ix_entry *prev)
{
	const struct ix_entry *e = &m->entries[i];

	return TOUCH(m, e, sizeof(*e)) && e->name_len > 0 && !(e->flags & ~IXE_ALL) &&
	       string_ok(m, e->name_off, e->name_len) && attr_ok(m, e) && xattrs_ok(m, e) &&
	       content_ok(m, i, e) && (!prev || cmp_names(m, prev, e) < 0);
}

/* Directory record @k and the children it lists.  Breadth-first: children
 * come after their directory, so walking up by parents ends at the root. */
static bool group_ok(const struct ix_map *m, uint32_t k)
{
	const struct ix_dir *d = &m->dirs[k];
	uint32_t n = m->hdr->n_entries;

	if (!dir_rec_ok(m, k) || d->entry >= n ||
	    !TOUCH(m, &m->entries[d->entry], sizeof(struct ix_entry)) ||
	    m->entries[d->entry].ref != k || !attr_ok(m, &m->entries[d->entry]) ||
	    !S_ISDIR(ix_mode(m, &m->entries[d->entry])) || d->first_child <= d->entry ||
	    !range_ok(d->first_child, d->n_children, 1, n))
		return false;
	for (uint32_t j = 0; j < d->n_children; j++)
		if (!child_ok(m, d->first_child + j,
		              j ? &m->entries[d->first_child + j - 1] : NULL))
			return false;
	return true;
}

static bool root_ok(const struct ix_map *m)
{
	const struct ix_entry *r = &m->entries[0];

	return TOUCH(m, r, sizeof(*r)) && r->name_len == 0 && !(r->flags & ~IXE_ALL) &&
	       !(r->flags & (IXE_WHITEOUT | IXE_HARDLINK | IXE_SPARSE)) &&
	       string_ok(m, r->name_off, 0) && attr_ok(m, r) && S_ISDIR(ix_mode(m, r)) &&
	       xattrs_ok(m, r) && r->ref == 0 && dir_rec_ok(m, 0) && m->dirs[0].entry == 0;
}

/* The directory record listing entry @i > 0: the last with first_child <=
 * @i; false when it does not list @i (or damage on the way). */
static bool find_group(const struct ix_map *m, uint32_t i, uint32_t *k)
{
	uint32_t lo = 0, hi = m->hdr->n_dirs;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (!dir_rec_ok(m, mid))
			return false;
		if (m->dirs[mid].first_child <= i)
			lo = mid;
		else
			hi = mid;
	}
	*k = lo;
	return dir_rec_ok(m, lo) && m->dirs[lo].first_child <= i &&
	       i - m->dirs[lo].first_child < m->dirs[lo].n_children;
}

/* ---- full check ---- */

/* The directories' children cover entries 1 .. n-1 once each, in order. */
static bool groups_tile(const struct ix_map *m)
{
	uint64_t next = 1;

	for (uint32_t k = 0; k < m->hdr->n_dirs; k++) {
		if (m->dirs[k].first_child != next ||
		    (k > 0 && m->dirs[k].entry <= m->dirs[k - 1].entry))
			return false;
		next += m->dirs[k].n_children;
	}
	return next == m->hdr->n_entries;
}

static int validate_all(const struct ix_map *m, struct strata_error *err)
{
	char why[64];

	for (uint64_t b = 0; b < m->hdr->n_blocks; b++)
		if (!block_ok(m, b)) {
			snprintf(why, sizeof(why), "checksum mismatch in block %llu",
			         (unsigned long long)b);
			return bad(err, why);
		}
	if (!groups_tile(m))
		return bad(err, "directories do not list every entry once");
	for (uint32_t k = 0; k < m->hdr->n_dirs; k++)
		if (!group_ok(m, k)) {
			snprintf(why, sizeof(why), "directory %u (entry %u) is inconsistent", k,
			         m->dirs[k].entry);
			return bad(err, why);
		}
	return 0;
}

/* All but the header, checked already: in full, or (lazy) what the
 * mount needs before any lookup. */
static int validate_body(struct ix_map *m, const struct ix_source_id *src, unsigned flags,
                         struct strata_error *err)
{
	if (src && (m->hdr->src_size != src->size || m->hdr->src_mtime_sec != src->mtime_sec ||
	            m->hdr->src_mtime_nsec != src->mtime_nsec || m->hdr->src_ino != src->ino))
		return strata_fail(err, STRATA_ERR_INDEX, 0, "index: stale (the layer changed)");
	if (!(flags & IX_MAP_LAZY) && validate_all(m, err))
		return -1;
	if (!TOUCH(m, m->strings + m->hdr->strings_size - 1, 1) ||
	    m->strings[m->hdr->strings_size - 1] != '\0')
		return bad(err, "string table not terminated");
	if (!root_ok(m))
		return bad(err, "the root is inconsistent");
	if (!checkpoints_ok(m))
		return bad(err, "gzip checkpoints are inconsistent");
	return 0;
}

int fs_ix_map_validate(struct ix_map *m, const struct ix_source_id *src, struct strata_error *err)
{
	return validate_header(m, err) ? -1 : validate_body(m, src, 0, err);
}

/* ---- lazy checks ---- */

static void lazy_free(struct ix_lazy *z)
{
	if (!z)
		return;
	free(z->ready);
	free(z->blocks);
	free(z);
}

static struct ix_lazy *lazy_new(uint64_t n_entries, uint64_t n_blocks)
{
	struct ix_lazy *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	/* calloc of large arrays maps fresh zero pages: only used bits cost. */
	z->ready = calloc((n_entries + 63) / 64, sizeof(*z->ready));
	z->blocks = calloc((n_blocks + 63) / 64 + 1, sizeof(*z->blocks));
	if (!z->ready || !z->blocks) {
		lazy_free(z);
		return NULL;
	}
	atomic_store(&z->ready[0], 1); /* the root, checked at open */
	return z;
}

static bool damaged(const struct ix_map *m, const char *why)
{
	const char *none = NULL;

	atomic_compare_exchange_strong(&m->lazy->damage, &none, why);
	return false;
}

bool fs_ix_ready_slow(const struct ix_map *m, uint32_t i)
{
	uint32_t k;

	if (!m->lazy || i >= m->hdr->n_entries)
		return false;
	if (atomic_load(&m->lazy->damage))
		return false;
	if (i == 0)
		return true;
	if (!find_group(m, i, &k))
		return damaged(m, "an entry no directory lists, or a damaged directory table");
	if (!group_ok(m, k))
		return damaged(m, "a directory's entries are damaged");
	for (uint32_t j = m->dirs[k].first_child, end = j + m->dirs[k].n_children; j < end; j++)
		atomic_fetch_or_explicit(&m->lazy->ready[j / 64], (uint64_t)1 << (j % 64),
		                         memory_order_release);
	return true;
}

bool fs_ix_damaged(const struct ix_map *m)
{
	return m->lazy && atomic_load(&m->lazy->damage) != NULL;
}

const char *fs_ix_damage_reason(const struct ix_map *m)
{
	const char *why = m->lazy ? atomic_load(&m->lazy->damage) : NULL;

	return why ? why : "no damage";
}

uint32_t fs_ix_parent(const struct ix_map *m, uint32_t i)
{
	uint32_t k;

	if (i == 0 || !find_group(m, i, &k))
		return 0;
	return m->dirs[k].entry;
}

/* ---- open and close ---- */

void fs_ix_map_prefetch_seek(const struct ix_map *m)
{
	const struct ix_header *h = m->hdr;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = (uintptr_t)(m->base + h->checkpoints_off) & ~(page - 1);
	uintptr_t to = (uintptr_t)(m->base + h->windows_off + h->windows_size);

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
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	if (validate_header(m, err)) {
		fs_ix_map_close(m);
		return -1;
	}
	if ((flags & IX_MAP_LAZY) && !(m->lazy = lazy_new(m->hdr->n_entries, m->hdr->n_blocks))) {
		fs_ix_map_close(m);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "%s: out of memory", path);
	}
	if (validate_body(m, src, flags, err)) {
		fs_ix_map_close(m);
		return -1;
	}
	return 0;
}

void fs_ix_map_close(struct ix_map *m)
{
	if (m->base)
		munmap((void *)m->base, m->size);
	lazy_free(m->lazy);
	memset(m, 0, sizeof(*m));
}

int64_t fs_ix_lookup(const struct ix_map *m, uint32_t dir, const char *name, size_t len)
{
	const struct ix_entry *de = &m->entries[dir];
	const struct ix_dir *d;
	uint32_t lo, hi;

	if ((de->flags & (IXE_HARDLINK | IXE_WHITEOUT)) || !ix_is_dir(m, de))
		return -1; /* a file has no children */
	d = ix_dir_of(m, de);
	lo = d->first_child;
	hi = d->first_child + d->n_children;

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
