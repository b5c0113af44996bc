/* SPDX-License-Identifier: MIT */
/*
 * The builder's tree into an index file: entries numbered breadth-first,
 * each directory's children contiguous and sorted, then one buffer with
 * its checksums written through a temp file and renamed into place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "index_tree.h"
#include "sys.h"

static int cmp_names(const struct builder *b, uint32_t x, uint32_t y)
{
	const struct ix_entry *ex = &b->nodes[x].e, *ey = &b->nodes[y].e;
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

/* Numbers entries breadth-first with each directory's children sorted. */
static uint32_t number_entries(struct builder *b, uint32_t *order)
{
	uint32_t count = 1;

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
		d->e.first_child = first;
		d->e.n_children = count - first;
		d->e.nlink = 2 + subdirs;
	}
	return count;
}

static void copy_checkpoints(const struct gz_points *p, uint8_t *buf, const struct ix_header *h)
{
	struct ix_checkpoint *cp = (struct ix_checkpoint *)(buf + h->checkpoints_off);

	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		cp[i] = (struct ix_checkpoint){p->v[i].out,      p->v[i].in,       p->v[i].win_off,
		                               p->v[i].win_len,  p->v[i].win_size, p->v[i].bits,
		                               p->v[i].crc_first};
	if (p->windows_len)
		memcpy(buf + h->windows_off, p->windows, p->windows_len);
	if (p->n_crcs)
		memcpy(buf + h->crcs_off, p->crcs, p->n_crcs * sizeof(*p->crcs));
}

int fs_builder_write(struct builder *b, const struct ix_source_id *src, uint32_t compression,
                     bool has_copy, const char *path)
{
	uint32_t *order = malloc((size_t)b->n_nodes * sizeof(*order));
	struct ix_header h = {0};
	struct ix_entry *entries;
	uint8_t *buf = NULL;
	uint32_t count;
	size_t size;
	int rc = -1;

	if (!order)
		return fs_builder_nomem(b);
	mark_live(b, order);
	count_links(b);
	count = number_entries(b, order);

	memcpy(h.magic, IX_MAGIC, 8);
	h.version = IX_VERSION;
	h.header_size = sizeof(h);
	h.src_size = src->size;
	h.src_mtime_sec = src->mtime_sec;
	h.src_mtime_nsec = src->mtime_nsec;
	h.src_ino = src->ino;
	h.stream_size = b->stream_size;
	h.compression = compression;
	h.flags = has_copy ? IXH_DATA_COPY : 0;
	h.n_entries = count;
	h.entries_off = sizeof(h);
	h.n_xattrs = b->n_xattrs;
	h.xattrs_off = h.entries_off + (uint64_t)count * sizeof(struct ix_entry);
	h.n_extents = b->n_extents;
	h.extents_off = h.xattrs_off + b->n_xattrs * sizeof(struct ix_xattr);
	h.n_checkpoints = b->points ? b->points->n : 0;
	h.checkpoints_off = h.extents_off + b->n_extents * sizeof(struct ix_extent);
	h.windows_off = h.checkpoints_off + h.n_checkpoints * sizeof(struct ix_checkpoint);
	h.windows_size = b->points ? b->points->windows_len : 0;
	h.n_crcs = b->points ? b->points->n_crcs : 0;
	h.crcs_off = (h.windows_off + h.windows_size + 3) & ~(uint64_t)3;
	/* Strings are bytes: the sections before them stay aligned. */
	h.strings_off = h.crcs_off + h.n_crcs * sizeof(uint32_t);
	h.strings_size = b->n_strings;
	h.total_data = b->total_data;
	size = h.strings_off + h.strings_size;
	h.total_size = size;

	buf = calloc(1, size);
	if (!buf) {
		rc = fs_builder_nomem(b);
		goto out;
	}
	entries = (struct ix_entry *)(buf + h.entries_off);
	for (uint32_t i = 0; i < count; i++) {
		struct bnode *nd = &b->nodes[order[i]];

		entries[i] = nd->e;
		entries[i].parent = i == 0 ? 0 : b->nodes[nd->parent].final;
		if (nd->e.flags & IXE_HARDLINK)
			entries[i].link = b->nodes[nd->e.link].final;
		if (!is_dir(nd))
			entries[i].first_child = entries[i].n_children = 0;
	}
	if (b->n_xattrs)
		memcpy(buf + h.xattrs_off, b->xattrs, b->n_xattrs * sizeof(struct ix_xattr));
	if (b->n_extents)
		memcpy(buf + h.extents_off, b->extents, b->n_extents * sizeof(struct ix_extent));
	copy_checkpoints(b->points, buf, &h);
	if (b->n_strings)
		memcpy(buf + h.strings_off, b->strings, b->n_strings);
	h.body_crc = (uint32_t)crc32_z(0, buf + sizeof(h), size - sizeof(h));
	h.header_crc = (uint32_t)crc32_z(0, (const Bytef *)&h, sizeof(h));
	memcpy(buf, &h, sizeof(h));

	if (sys_write_file_atomic(path, buf, size) < 0)
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	else
		rc = 0;
out:
	free(buf);
	free(order);
	return rc;
}
