/* SPDX-License-Identifier: MIT */
/*
 * The builder's tree into an index file (docs/index-format.md): entries
 * numbered breadth-first, each directory's children contiguous and
 * sorted, written section by section through a buffer to a temp file
 * (never the whole index in memory), with a CRC per IX_BLOCK of the body,
 * then renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <isa-l/crc.h>
#include <zlib.h>

#include "index_tree.h"
#include "sys.h"
#include "vec.h"

static int cmp_names(const struct builder *b, uint32_t x, uint32_t y)
{
	const struct bentry *ex = &b->nodes[x].e, *ey = &b->nodes[y].e;
	size_t n = ex->name_len < ey->name_len ? ex->name_len : ey->name_len;
	int c = memcmp(b->strings + ex->name_off, b->strings + ey->name_off, n);

	if (c)
		return c;
	return (ex->name_len > ey->name_len) - (ex->name_len < ey->name_len);
}

static int cmp_children(const void *x, const void *y, void *b)
{
	return cmp_names(b, *(const uint32_t *)x, *(const uint32_t *)y);
}

/* Marks what is reachable from the root; drops hard links whose target is not. */
static void mark_live(struct builder *b, uint32_t *queue)
{
	uint32_t head = 0, tail = 0;

	queue[tail++] = 0;
	b->nodes[0].live = 1;
	while (head < tail) {
		uint32_t d = queue[head++];

		for (uint32_t c = b->nodes[d].first_child; c != NO_NODE;
		     c = b->nodes[c].next_sibling) {
			if (b->nodes[c].removed)
				continue;
			b->nodes[c].live = 1;
			if (is_dir(&b->nodes[c]))
				queue[tail++] = c;
		}
	}
	/* A hard link whose target went with a replaced directory keeps the
	 * file, as extraction would: the first such link takes it over.
	 * (`final` is free until numbering; it names the heir meanwhile.) */
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];
		uint32_t t = nd->e.link;

		if (!nd->live || !(nd->e.flags & IXE_HARDLINK) || b->nodes[t].live)
			continue;
		if (b->nodes[t].final != NO_NODE) {
			nd->e.link = b->nodes[t].final;
		} else {
			fs_builder_take_over(b, i, t);
			b->nodes[t].final = i;
		}
	}
	for (uint32_t i = 0; i < b->n_nodes; i++)
		b->nodes[i].final = NO_NODE;
}

/* Link counts and statfs' data total, from what survived. */
static void count_links(struct builder *b)
{
	b->total_data = 0;
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (!nd->live || is_dir(nd) || (nd->e.flags & IXE_HARDLINK))
			continue;
		nd->e.nlink = 1;
		if (S_ISREG(nd->e.mode))
			b->total_data += nd->e.size;
	}
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (nd->live && (nd->e.flags & IXE_HARDLINK))
			b->nodes[nd->e.link].e.nlink++;
	}
}

/* Numbers entries breadth-first with each directory's children sorted;
 * fills @dirs (one per directory, in entry order).  Returns the count. */
static uint32_t number_entries(struct builder *b, uint32_t *order, struct ix_dir *dirs,
                               uint32_t *n_dirs)
{
	uint32_t count = 1, k = 0;

	order[0] = 0;
	b->nodes[0].final = 0;
	for (uint32_t qi = 0; qi < count; qi++) {
		struct bnode *d = &b->nodes[order[qi]];
		uint32_t first = count, subdirs = 0;

		if (!is_dir(d))
			continue;
		for (uint32_t c = d->first_child; c != NO_NODE; c = b->nodes[c].next_sibling) {
			if (!b->nodes[c].live)
				continue;
			order[count++] = c;
			subdirs += is_dir(&b->nodes[c]);
		}
		qsort_r(order + first, count - first, sizeof(*order), cmp_children, b);
		for (uint32_t i = first; i < count; i++)
			b->nodes[order[i]].final = i;
		dirs[k++] = (struct ix_dir){qi, first, count - first, 2 + subdirs};
	}
	*n_dirs = k;
	return count;
}

/* ---- the output: a buffered writer that checksums each block ---- */

struct ix_out {
	int fd;
	uint64_t off; /* of buf[0] in the file */
	size_t len;   /* bytes in buf */
	int err;      /* errno of the first failure, 0 */
	uint32_t *blocks;
	size_t n_blocks, cap_blocks;
	unsigned char buf[64 * IX_BLOCK];
};

/* Writes out the buffer: its blocks are whole but at the very end. */
static void out_flush(struct ix_out *o)
{
	if (o->err || o->len == 0)
		return;
	for (size_t at = 0; at < o->len; at += IX_BLOCK) {
		size_t n = o->len - at < IX_BLOCK ? o->len - at : IX_BLOCK;

		if (VEC_RESERVE(o->blocks, o->cap_blocks, o->n_blocks + 1) < 0) {
			o->err = ENOMEM;
			return;
		}
		o->blocks[o->n_blocks++] = crc32_gzip_refl(0, o->buf + at, n);
	}
	if (sys_write_all(o->fd, o->buf, o->len) < 0)
		o->err = errno;
	o->off += o->len;
	o->len = 0;
}

static void out_put(struct ix_out *o, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n > 0 && !o->err) {
		size_t take = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len : n;

		memcpy(o->buf + o->len, s, take);
		o->len += take;
		s += take;
		n -= take;
		if (o->len == sizeof(o->buf))
			out_flush(o);
	}
}

static uint64_t out_pos(const struct ix_out *o)
{
	return o->off + o->len;
}

/* Zeros up to a multiple of @align (of the file offset); the new offset. */
static uint64_t out_align(struct ix_out *o, uint64_t align)
{
	static const unsigned char zeros[8];

	out_put(o, zeros, (size_t)((align - out_pos(o) % align) % align));
	return out_pos(o);
}

/* ---- attributes, shared ---- */

struct attr_set {
	struct ix_attr *v;
	size_t n, cap;
	uint32_t *slots; /* open addressing: index + 1, 0 empty */
	size_t n_slots;
};

static uint32_t attr_hash(const struct ix_attr *a)
{
	uint64_t w[sizeof(*a) / 8], h = 0;

	memcpy(w, a, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return (uint32_t)(h >> 32);
}

static int attr_grow(struct attr_set *s)
{
	size_t n = s->n_slots ? s->n_slots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		size_t h = attr_hash(&s->v[i]) & (n - 1);

		while (slots[h])
			h = (h + 1) & (n - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(s->slots);
	s->slots = slots;
	s->n_slots = n;
	return 0;
}

/* The number of @a in the table, added if new; -1 out of memory. */
static int64_t attr_intern(struct attr_set *s, const struct ix_attr *a)
{
	size_t h;

	if ((s->n + 1) * 2 > s->n_slots && attr_grow(s) < 0)
		return -1;
	for (h = attr_hash(a) & (s->n_slots - 1); s->slots[h]; h = (h + 1) & (s->n_slots - 1))
		if (memcmp(&s->v[s->slots[h] - 1], a, sizeof(*a)) == 0)
			return s->slots[h] - 1;
	if (VEC_RESERVE(s->v, s->cap, s->n + 1) < 0)
		return -1;
	s->v[s->n] = *a;
	s->slots[h] = (uint32_t)++s->n;
	return (int64_t)s->n - 1;
}

/* ---- the sections ---- */

struct writer {
	struct builder *b;
	const uint32_t *order;
	uint32_t count;
	struct ix_out *o;
	struct attr_set attrs;
	uint64_t entry_strings; /* bytes of names and symlink targets */
	uint32_t n_xattrs, n_extents;
};

static bool is_symlink(const struct bentry *e)
{
	return S_ISLNK(e->mode) && !(e->flags & (IXE_HARDLINK | IXE_WHITEOUT));
}

static bool is_sparse(const struct bentry *e)
{
	return S_ISREG(e->mode) && (e->flags & (IXE_SPARSE | IXE_HARDLINK)) == IXE_SPARSE;
}

/* Packs node @nd (entry number @i) into an entry.  Strings, xattrs and
 * extents are renumbered in entry order, as the later sections write them. */
static int pack_entry(struct writer *w, const struct bnode *nd, uint32_t *dir_no,
                      struct ix_entry *out)
{
	const struct bentry *be = &nd->e;
	struct ix_attr a = {be->mode,      be->uid,        be->gid, is_dir(nd) ? 0 : be->nlink,
	                    be->mtime_sec, be->mtime_nsec, 0};
	int64_t attr = attr_intern(&w->attrs, &a);

	if (attr < 0)
		return fs_builder_nomem(w->b);
	*out = (struct ix_entry){.size = be->size,
	                         .name_off = (uint32_t)w->entry_strings,
	                         .attr = (uint32_t)attr,
	                         .name_len = (uint8_t)be->name_len,
	                         .flags = (uint8_t)be->flags};
	w->entry_strings += be->name_len + 1;
	if (be->n_xattrs && !(be->flags & IXE_HARDLINK)) {
		out->xattr_first = w->n_xattrs;
		out->n_xattrs = (uint16_t)be->n_xattrs;
		w->n_xattrs += be->n_xattrs;
	}
	if (be->flags & IXE_HARDLINK) {
		out->ref = w->b->nodes[be->link].final;
		out->flags &= ~IXE_SPARSE;
	} else if (is_dir(nd)) {
		out->ref = (*dir_no)++;
	} else if (is_sparse(be)) {
		out->ref = w->n_extents | (uint64_t)bentry_n_ext(be) << 32;
		w->n_extents += bentry_n_ext(be);
	} else if (S_ISREG(be->mode)) {
		out->ref = be->ref;
	} else if (is_symlink(be)) {
		out->ref = w->entry_strings;
		w->entry_strings += be->size + 1;
	} else if (S_ISCHR(be->mode) || S_ISBLK(be->mode)) {
		out->ref = be->ref;
	}
	if (!S_ISREG(be->mode) || (be->flags & IXE_HARDLINK))
		out->flags &= ~IXE_SPARSE;
	return 0;
}

static int write_entries(struct writer *w)
{
	uint32_t dir_no = 0;

	for (uint32_t i = 0; i < w->count; i++) {
		struct ix_entry e;

		if (pack_entry(w, &w->b->nodes[w->order[i]], &dir_no, &e))
			return -1;
		out_put(w->o, &e, sizeof(e));
	}
	if (w->entry_strings > UINT32_MAX)
		return strata_fail(w->b->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: more than 4 GiB of names and link targets",
		                   w->b->opts->layer_name);
	return 0;
}

/* Xattr records in entry order; their strings follow the entries' ones. */
static void write_xattrs(struct writer *w)
{
	uint64_t off = w->entry_strings;

	for (uint32_t i = 0; i < w->count; i++) {
		const struct bentry *be = &w->b->nodes[w->order[i]].e;

		if (be->flags & IXE_HARDLINK)
			continue;
		for (uint32_t k = 0; k < be->n_xattrs; k++) {
			const struct ix_xattr *x = &w->b->xattrs[be->xattr_first + k];
			struct ix_xattr r = {(uint32_t)off, x->name_len, 0, x->value_len};

			off += x->name_len + 1;
			r.value_off = (uint32_t)off;
			off += x->value_len + 1;
			out_put(w->o, &r, sizeof(r));
		}
	}
}

static void write_extents(struct writer *w)
{
	for (uint32_t i = 0; i < w->count; i++) {
		const struct bentry *be = &w->b->nodes[w->order[i]].e;

		if (is_sparse(be))
			out_put(w->o, &w->b->extents[bentry_ext_first(be)],
			        bentry_n_ext(be) * sizeof(struct ix_extent));
	}
}

static void put_string(struct ix_out *o, const char *s, size_t len)
{
	out_put(o, s, len);
	out_put(o, "", 1);
}

/* The string table, in the order pack_entry and write_xattrs counted. */
static uint64_t write_strings(struct writer *w)
{
	const struct builder *b = w->b;
	uint64_t start = out_pos(w->o);

	for (uint32_t i = 0; i < w->count; i++) {
		const struct bentry *be = &b->nodes[w->order[i]].e;

		put_string(w->o, b->strings + be->name_off, be->name_len);
		if (is_symlink(be))
			put_string(w->o, b->strings + be->link, (size_t)be->size);
	}
	for (uint32_t i = 0; i < w->count; i++) {
		const struct bentry *be = &b->nodes[w->order[i]].e;

		for (uint32_t k = 0; k < be->n_xattrs && !(be->flags & IXE_HARDLINK); k++) {
			const struct ix_xattr *x = &b->xattrs[be->xattr_first + k];

			put_string(w->o, b->strings + x->name_off, x->name_len);
			put_string(w->o, b->strings + x->value_off, x->value_len);
		}
	}
	return out_pos(w->o) - start;
}

static void write_checkpoints(struct writer *w, struct ix_header *h)
{
	const struct gz_points *p = w->b->points;

	h->checkpoints_off = out_pos(w->o);
	for (size_t i = 0; p && i < p->n; i++) {
		struct ix_checkpoint c = {p->v[i].out,      p->v[i].in,       p->v[i].win_off,
		                          p->v[i].win_len,  p->v[i].win_size, p->v[i].bits,
		                          p->v[i].crc_first};

		out_put(w->o, &c, sizeof(c));
	}
	h->n_checkpoints = p ? (uint32_t)p->n : 0;
	h->crcs_off = out_pos(w->o);
	h->n_crcs = p ? p->n_crcs : 0;
	if (h->n_crcs)
		out_put(w->o, p->crcs, p->n_crcs * sizeof(*p->crcs));
	h->windows_off = out_pos(w->o);
	h->windows_size = p ? p->windows_len : 0;
	if (h->windows_size)
		out_put(w->o, p->windows, p->windows_len);
}

/* Every section after the header, in the order docs/index-format.md gives. */
static int write_body(struct writer *w, struct ix_header *h, const struct ix_dir *dirs)
{
	h->entries_off = out_pos(w->o);
	if (write_entries(w))
		return -1;
	h->dirs_off = out_pos(w->o);
	out_put(w->o, dirs, h->n_dirs * sizeof(*dirs));
	h->attrs_off = out_pos(w->o);
	h->n_attrs = (uint32_t)w->attrs.n;
	out_put(w->o, w->attrs.v, w->attrs.n * sizeof(*w->attrs.v));
	h->xattrs_off = out_pos(w->o);
	h->n_xattrs = w->n_xattrs;
	write_xattrs(w);
	h->extents_off = out_pos(w->o);
	h->n_extents = w->n_extents;
	write_extents(w);
	write_checkpoints(w, h);
	h->strings_off = out_pos(w->o);
	h->strings_size = write_strings(w);
	h->blocks_off = out_align(w->o, 4);
	out_flush(w->o);
	h->n_blocks = w->o->n_blocks;
	return 0;
}

static void fill_header(struct ix_header *h, const struct builder *b,
                        const struct ix_source_id *src, uint32_t compression, bool has_copy)
{
	memcpy(h->magic, IX_MAGIC, 8);
	h->version = IX_VERSION;
	h->header_size = sizeof(*h);
	h->src_size = src->size;
	h->src_mtime_sec = src->mtime_sec;
	h->src_mtime_nsec = src->mtime_nsec;
	h->src_ino = src->ino;
	h->stream_size = b->stream_size;
	h->compression = compression;
	h->flags = has_copy ? IXH_DATA_COPY : 0;
	h->total_data = b->total_data;
}

/* The body into @fd from offset header_size, then the block table and the
 * header.  0, or -1 with errno set. */
static int write_file(struct writer *w, int fd, struct ix_header *h, const struct ix_dir *dirs)
{
	struct ix_out *o = w->o;

	o->fd = fd;
	o->off = sizeof(*h);
	if (lseek(fd, (off_t)sizeof(*h), SEEK_SET) < 0)
		return -1;
	if (write_body(w, h, dirs))
		return -2;
	if (o->err) {
		errno = o->err;
		return -1;
	}
	h->blocks_crc = (uint32_t)crc32_z(0, (const Bytef *)o->blocks, o->n_blocks * 4);
	h->total_size = h->blocks_off + o->n_blocks * 4;
	h->header_crc = 0;
	h->header_crc = (uint32_t)crc32_z(0, (const Bytef *)h, sizeof(*h));
	if (sys_write_all(fd, o->blocks, o->n_blocks * 4) < 0 ||
	    sys_write_all_at(fd, h, sizeof(*h), 0) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

int fs_builder_write(struct builder *b, const struct ix_source_id *src, uint32_t compression,
                     bool has_copy, const char *path)
{
	uint32_t *order = malloc((size_t)b->n_nodes * sizeof(*order));
	struct ix_dir *dirs = malloc((size_t)b->n_nodes * sizeof(*dirs));
	struct ix_out *o = calloc(1, sizeof(*o));
	struct ix_header h = {0};
	struct writer w = {.b = b, .order = order, .o = o};
	char *tmp = NULL;
	int fd = -1, rc = -1, wr;

	if (!order || !dirs || !o) {
		rc = fs_builder_nomem(b);
		goto out;
	}
	mark_live(b, order);
	count_links(b);
	w.count = number_entries(b, order, dirs, &h.n_dirs);
	h.n_entries = w.count;
	fill_header(&h, b, src, compression, has_copy);
	fd = sys_tmpfile_beside(path, &tmp);
	if (fd < 0) {
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	wr = write_file(&w, fd, &h, dirs);
	if (wr == -1 && (errno == ENOMEM))
		rc = fs_builder_nomem(b);
	else if (wr == -1)
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	else if (wr == 0 && rename(tmp, path) < 0)
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	else
		rc = wr == 0 ? 0 : -1;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && rc)
		unlink(tmp);
	free(tmp);
	if (o)
		free(o->blocks);
	free(o);
	free(w.attrs.v);
	free(w.attrs.slots);
	free(dirs);
	free(order);
	return rc;
}
