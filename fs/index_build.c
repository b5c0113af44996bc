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
 * decompressed exactly once.
 */
#include <archive.h>
#include <archive_entry.h>
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

#include "index.h"
#include "sys.h"

#define NO_NODE UINT32_MAX

struct bnode {
	struct ix_entry e; /* attributes; parent/name/link hold build ids */
	uint32_t parent;
	uint32_t next_sibling; /* children form a list, newest first */
	uint32_t first_child;
	uint32_t final; /* number in the written index */
	uint32_t hash_next;
	uint32_t hash;
	uint8_t removed;
	uint8_t live;
};

struct builder {
	const struct ix_build_options *opts;
	struct strata_error *err;

	struct bnode *nodes;
	uint32_t n_nodes;
	size_t cap_nodes;

	uint32_t *buckets; /* hash of (parent, name) → node id chain */
	uint32_t n_buckets;

	char *strings;
	size_t n_strings, cap_strings;
	struct ix_xattr *xattrs;
	size_t n_xattrs, cap_xattrs;
	struct ix_extent *extents;
	size_t n_extents, cap_extents;

	uint64_t stream_size;
	uint64_t total_data;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 256;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static int nomem(struct builder *b)
{
	return strata_fail(b->err, STRATA_ERR_NOMEM, ENOMEM, "%s: out of memory",
	                   b->opts->layer_name);
}

/* Appends bytes plus a NUL (so targets can be handed out as C strings). */
static int string_add(struct builder *b, const void *s, size_t len, uint32_t *off)
{
	if (b->n_strings + len + 1 > UINT32_MAX)
		return strata_fail(b->err, STRATA_ERR_UNSUPPORTED, 0,
		                   "%s: names and link targets exceed 4 GiB", b->opts->layer_name);
	if (grow((void **)&b->strings, &b->cap_strings, b->n_strings + len + 1, 1))
		return nomem(b);
	memcpy(b->strings + b->n_strings, s, len);
	b->strings[b->n_strings + len] = '\0';
	*off = (uint32_t)b->n_strings;
	b->n_strings += len + 1;
	return 0;
}

static uint32_t name_hash(uint32_t parent, const char *name, size_t len)
{
	uint32_t h = 2166136261u ^ parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

static int rehash(struct builder *b)
{
	uint32_t n = b->n_buckets ? b->n_buckets * 2 : 4096;
	uint32_t *nb = malloc(n * sizeof(*nb));

	if (!nb)
		return nomem(b);
	memset(nb, 0xff, n * sizeof(*nb));
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (i == 0 || nd->removed)
			continue;
		nd->hash_next = nb[nd->hash & (n - 1)];
		nb[nd->hash & (n - 1)] = i;
	}
	free(b->buckets);
	b->buckets = nb;
	b->n_buckets = n;
	return 0;
}

static uint32_t node_find(struct builder *b, uint32_t parent, const char *name, size_t len)
{
	uint32_t h = name_hash(parent, name, len);

	for (uint32_t i = b->buckets[h & (b->n_buckets - 1)]; i != NO_NODE;
	     i = b->nodes[i].hash_next) {
		struct bnode *nd = &b->nodes[i];

		if (nd->hash == h && nd->parent == parent && nd->e.name_len == len &&
		    memcmp(b->strings + nd->e.name_off, name, len) == 0)
			return i;
	}
	return NO_NODE;
}

static void node_unhash(struct builder *b, uint32_t id)
{
	uint32_t *pp = &b->buckets[b->nodes[id].hash & (b->n_buckets - 1)];

	while (*pp != id)
		pp = &b->nodes[*pp].hash_next;
	*pp = b->nodes[id].hash_next;
}

static int node_new(struct builder *b, uint32_t parent, const char *name, size_t len, uint32_t *out)
{
	struct bnode *nd;
	uint32_t id;

	if (b->n_nodes == UINT32_MAX - 1)
		return strata_fail(b->err, STRATA_ERR_UNSUPPORTED, 0, "%s: too many entries",
		                   b->opts->layer_name);
	if (grow((void **)&b->nodes, &b->cap_nodes, b->n_nodes + 1, sizeof(*nd)))
		return nomem(b);
	if (b->n_nodes + 1 > b->n_buckets / 2 && rehash(b))
		return -1;
	id = b->n_nodes++;
	nd = &b->nodes[id];
	memset(nd, 0, sizeof(*nd));
	if (string_add(b, name, len, &nd->e.name_off))
		return -1;
	nd->e.name_len = (uint32_t)len;
	nd->parent = parent;
	nd->first_child = NO_NODE;
	nd->final = NO_NODE;
	nd->e.nlink = 1;
	nd->hash = name_hash(parent, name, len);
	nd->hash_next = b->buckets[nd->hash & (b->n_buckets - 1)];
	b->buckets[nd->hash & (b->n_buckets - 1)] = id;
	nd->next_sibling = b->nodes[parent].first_child;
	b->nodes[parent].first_child = id;
	*out = id;
	return 0;
}

static void node_set_implicit_dir(struct bnode *nd)
{
	uint32_t keep = nd->e.flags & IXE_OPAQUE;

	nd->e.mode = S_IFDIR | 0755;
	nd->e.uid = nd->e.gid = 0;
	nd->e.mtime_sec = 0;
	nd->e.mtime_nsec = 0;
	nd->e.flags = IXE_IMPLICIT | keep;
}

static bool is_dir(const struct bnode *nd)
{
	return S_ISDIR(nd->e.mode);
}

/*
 * Splits a tar member name into components.  A leading "/" is dropped (as
 * GNU tar does), "." and empty components vanish, and ".." anywhere refuses
 * the member: no entry may name anything outside the layer's root.
 */
static int split_path(const char *path, const char **comp, size_t *clen, size_t max, size_t *n,
                      const char **why)
{
	const char *p = path;

	*n = 0;
	while (*p) {
		const char *s;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		if (p - s == 1 && s[0] == '.')
			continue;
		if (p - s == 2 && s[0] == '.' && s[1] == '.') {
			*why = "path contains '..'";
			return -1;
		}
		if (p - s > 255) {
			*why = "a path component is longer than 255 bytes";
			return -1;
		}
		if (*n == max) {
			*why = "path is too deep";
			return -1;
		}
		comp[*n] = s;
		clen[*n] = (size_t)(p - s);
		(*n)++;
	}
	return 0;
}

static void warn(struct builder *b, const char *name, const char *why)
{
	char msg[PATH_MAX + 256];

	if (!b->opts->warn)
		return;
	snprintf(msg, sizeof(msg), "%s: skipping '%s': %s", b->opts->layer_name, name, why);
	b->opts->warn(b->opts->warn_ctx, msg);
}

#define MAX_DEPTH 1024

/* Finds (and with @create, makes implicit) the directory holding the last
 * component.  Returns NO_NODE with *why set if a component is not a dir. */
static int walk_parents(struct builder *b, const char **comp, const size_t *clen, size_t n,
                        bool create, uint32_t *out, const char **why)
{
	uint32_t dir = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		uint32_t c = node_find(b, dir, comp[i], clen[i]);

		if (c == NO_NODE) {
			if (!create) {
				*why = "target does not exist";
				*out = NO_NODE;
				return 0;
			}
			if (node_new(b, dir, comp[i], clen[i], &c))
				return -1;
			node_set_implicit_dir(&b->nodes[c]);
		} else if (b->nodes[c].e.flags & IXE_WHITEOUT) {
			if (!create) {
				*why = "target does not exist";
				*out = NO_NODE;
				return 0;
			}
			/* "rm -r d; mkdir -p d/x" within one layer: d hides lower d. */
			node_set_implicit_dir(&b->nodes[c]);
			b->nodes[c].e.flags |= IXE_OPAQUE;
		} else if (!is_dir(&b->nodes[c])) {
			*why = "a parent is not a directory";
			*out = NO_NODE;
			return 0;
		}
		dir = c;
	}
	*out = dir;
	return 0;
}

/* libarchive's pax writer stores each xattr twice (SCHILY.xattr and
 * LIBARCHIVE.xattr) and its reader returns both: keep the first. */
static bool xattr_seen(const struct builder *b, const struct ix_entry *e, const char *name)
{
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		const struct ix_xattr *x = &b->xattrs[e->xattr_first + i];

		if (strcmp(b->strings + x->name_off, name) == 0)
			return true;
	}
	return false;
}

static int record_xattrs(struct builder *b, struct archive_entry *ae, struct ix_entry *e)
{
	const char *name;
	const void *value;
	size_t size;

	e->xattr_first = (uint32_t)b->n_xattrs;
	e->n_xattrs = 0;
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
		struct ix_xattr *x;

		if (xattr_seen(b, e, name))
			continue;
		if (grow((void **)&b->xattrs, &b->cap_xattrs, b->n_xattrs + 1, sizeof(*x)))
			return nomem(b);
		x = &b->xattrs[b->n_xattrs];
		x->name_len = (uint32_t)strlen(name);
		x->value_len = (uint32_t)size;
		if (string_add(b, name, x->name_len, &x->name_off) ||
		    string_add(b, value, size, &x->value_off))
			return -1;
		b->n_xattrs++;
		e->n_xattrs++;
	}
	return 0;
}

static int add_extent(struct builder *b, struct ix_entry *e, uint64_t logical, uint64_t stream_off,
                      uint64_t len)
{
	struct ix_extent *last = e->n_ext ? &b->extents[b->n_extents - 1] : NULL;

	if (len == 0)
		return 0;
	if (last && last->logical + last->len == logical &&
	    last->stream_off + last->len == stream_off) {
		last->len += len;
		return 0;
	}
	if (grow((void **)&b->extents, &b->cap_extents, b->n_extents + 1, sizeof(*last)))
		return nomem(b);
	b->extents[b->n_extents++] = (struct ix_extent){logical, stream_off, len};
	e->n_ext++;
	return 0;
}

static int archive_failed(struct builder *b, struct archive *a, enum strata_errcode code)
{
	const char *msg = archive_error_string(a);
	int en = archive_errno(a);

	if (en == ENOMEM)
		return nomem(b);
	return strata_fail(b->err, code, en, "%s: %s", b->opts->layer_name,
	                   msg ? msg : "damaged archive");
}

/* Reads a sparse file's data blocks to learn where each run lives. */
static int record_sparse_data(struct builder *b, struct archive *a, struct ix_entry *e)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	int r;

	e->flags |= IXE_SPARSE;
	e->ext_first = (uint32_t)b->n_extents;
	e->n_ext = 0;
	while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
		uint64_t pos = (uint64_t)archive_filter_bytes(a, 0);

		if (add_extent(b, e, (uint64_t)offset, pos, size))
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return archive_failed(b, a, STRATA_ERR_CORRUPT);
	return 0;
}

static void set_attrs(struct ix_entry *e, struct archive_entry *ae)
{
	e->mode = archive_entry_mode(ae);
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	e->mtime_sec = archive_entry_mtime(ae);
	e->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
	e->size = 0;
	e->data_off = 0;
	e->rdev = 0;
	e->n_ext = 0;
	e->link_len = 0;
	e->link = 0;
	e->flags &= IXE_OPAQUE;
}

static int add_hardlink(struct builder *b, struct bnode *nd, const char *target, const char *name,
                        bool *skipped)
{
	const char *comp[MAX_DEPTH];
	size_t clen[MAX_DEPTH], n;
	const char *why = NULL;
	uint32_t dir, t;

	*skipped = true;
	if (split_path(target, comp, clen, MAX_DEPTH, &n, &why) || n == 0) {
		warn(b, name, why ? why : "hard link to the layer root");
		return 0;
	}
	if (walk_parents(b, comp, clen, n, false, &dir, &why))
		return -1;
	t = dir == NO_NODE ? NO_NODE : node_find(b, dir, comp[n - 1], clen[n - 1]);
	if (t == NO_NODE || (b->nodes[t].e.flags & IXE_WHITEOUT)) {
		warn(b, name, "hard link to a missing target");
		return 0;
	}
	if (b->nodes[t].e.flags & IXE_HARDLINK)
		t = b->nodes[t].e.link;
	if (is_dir(&b->nodes[t])) {
		warn(b, name, "hard link to a directory");
		return 0;
	}
	if (&b->nodes[t] == nd) {
		warn(b, name, "hard link to itself");
		return 0;
	}
	nd->e.flags |= IXE_HARDLINK;
	nd->e.link = t;
	nd->e.mode = b->nodes[t].e.mode;
	b->nodes[t].e.nlink++;
	*skipped = false;
	return 0;
}

/* Fills in what only the entry type decides: data, link target, device. */
static int set_content(struct builder *b, struct archive *a, struct archive_entry *ae, uint32_t id,
                       const char *name, bool *skipped)
{
	struct ix_entry *e = &b->nodes[id].e;
	const char *hl = archive_entry_hardlink(ae);

	*skipped = false;
	if (hl)
		return add_hardlink(b, &b->nodes[id], hl, name, skipped);
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		e->size = (uint64_t)archive_entry_size(ae);
		b->total_data += e->size;
		if (archive_entry_sparse_reset(ae) > 0)
			return record_sparse_data(b, a, &b->nodes[id].e);
		e->data_off = (uint64_t)archive_filter_bytes(a, 0);
		return 0;
	case S_IFLNK: {
		const char *t = archive_entry_symlink(ae);
		size_t len;

		if (!t)
			t = archive_entry_symlink_utf8(ae);
		if (!t) {
			warn(b, name, "symlink without a target");
			*skipped = true;
			return 0;
		}
		len = strlen(t);
		if (string_add(b, t, len, &e->link))
			return -1;
		e->link_len = (uint32_t)len;
		b->nodes[id].e.size = len;
		return 0;
	}
	case S_IFCHR:
	case S_IFBLK:
		e->rdev = archive_entry_rdev(ae);
		return 0;
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	default:
		warn(b, name, "unknown file type");
		*skipped = true;
		return 0;
	}
}

/*
 * A non-directory is about to be replaced by a later entry of the same
 * path.  As when GNU tar extracts it, other names hard-linked to it keep
 * the old file: the first of them takes over its data and attributes.
 */
static void detach_links(struct builder *b, uint32_t id)
{
	struct bnode *old = &b->nodes[id];
	uint32_t heir = NO_NODE;

	if (old->e.flags & IXE_HARDLINK) {
		b->nodes[old->e.link].e.nlink--;
		old->e.flags &= ~(uint32_t)IXE_HARDLINK;
		old->e.nlink = 1;
		return;
	}
	if (old->e.nlink <= 1)
		return;
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (nd->removed || !(nd->e.flags & IXE_HARDLINK) || nd->e.link != id)
			continue;
		if (heir == NO_NODE) {
			/* Name and opacity stay with the name; the rest moves. */
			uint32_t name_off = nd->e.name_off, name_len = nd->e.name_len;
			uint32_t opaque = nd->e.flags & IXE_OPAQUE;

			heir = i;
			nd->e = old->e;
			nd->e.name_off = name_off;
			nd->e.name_len = name_len;
			nd->e.nlink = old->e.nlink - 1;
			nd->e.flags = (old->e.flags & ~(uint32_t)IXE_OPAQUE) | opaque;
		} else {
			nd->e.link = heir;
		}
	}
	old->e.nlink = 1;
}

/* Applies a `.wh.` name.  Whiteouts only hide lower layers: a real entry of
 * the same name in this layer stays, flagged so lower ones stay hidden. */
static int add_whiteout(struct builder *b, uint32_t dir, const char *wname, size_t wlen,
                        const char *name)
{
	uint32_t id;

	if (wlen == strlen(".wh..wh..opq") && memcmp(wname, ".wh..wh..opq", wlen) == 0) {
		b->nodes[dir].e.flags |= IXE_OPAQUE;
		return 0;
	}
	if (wlen >= 8 && memcmp(wname, ".wh..wh.", 8) == 0)
		return 0; /* aufs bookkeeping (.wh..wh.plnk and the like): not content */
	if (wlen == 4) {
		warn(b, name, "whiteout without a name");
		return 0;
	}
	id = node_find(b, dir, wname + 4, wlen - 4);
	if (id != NO_NODE) {
		b->nodes[id].e.flags |= IXE_OPAQUE;
		return 0;
	}
	if (node_new(b, dir, wname + 4, wlen - 4, &id))
		return -1;
	b->nodes[id].e.flags = IXE_WHITEOUT;
	b->nodes[id].e.mode = 0;
	return 0;
}

static int add_entry(struct builder *b, struct archive *a, struct archive_entry *ae)
{
	const char *name = archive_entry_pathname(ae);
	const char *comp[MAX_DEPTH];
	size_t clen[MAX_DEPTH], n;
	const char *why = NULL;
	uint32_t dir, id;
	bool skipped;

	if (!name)
		name = archive_entry_pathname_utf8(ae);
	if (!name) {
		warn(b, "?", "entry without a name");
		return 0;
	}
	if (split_path(name, comp, clen, MAX_DEPTH, &n, &why)) {
		warn(b, name, why);
		return 0;
	}
	if (n == 0) { /* "./" or "/": the root's own attributes */
		if (archive_entry_filetype(ae) != AE_IFDIR) {
			warn(b, name, "the layer root is not a directory");
			return 0;
		}
		set_attrs(&b->nodes[0].e, ae);
		return record_xattrs(b, ae, &b->nodes[0].e);
	}
	if (walk_parents(b, comp, clen, n, true, &dir, &why))
		return -1;
	if (dir == NO_NODE) {
		warn(b, name, why);
		return 0;
	}
	if (clen[n - 1] >= 4 && memcmp(comp[n - 1], ".wh.", 4) == 0)
		return add_whiteout(b, dir, comp[n - 1], clen[n - 1], name);

	id = node_find(b, dir, comp[n - 1], clen[n - 1]);
	if (id != NO_NODE && is_dir(&b->nodes[id]) && archive_entry_filetype(ae) != AE_IFDIR) {
		/* A directory replaced by a non-directory later in the same tar:
		 * its subtree is gone, as when GNU tar extracts it. */
		uint32_t opaque = b->nodes[id].e.flags & IXE_OPAQUE;

		b->nodes[id].removed = 1;
		node_unhash(b, id);
		if (node_new(b, dir, comp[n - 1], clen[n - 1], &id))
			return -1;
		b->nodes[id].e.flags = opaque;
	} else if (id == NO_NODE) {
		if (node_new(b, dir, comp[n - 1], clen[n - 1], &id))
			return -1;
	} else if (b->nodes[id].e.flags & IXE_WHITEOUT) {
		b->nodes[id].e.flags = IXE_OPAQUE; /* hides lower, shows this one */
	} else if (!is_dir(&b->nodes[id])) {
		detach_links(b, id);
	}
	set_attrs(&b->nodes[id].e, ae);
	if (set_content(b, a, ae, id, name, &skipped))
		return -1;
	if (skipped) {
		/* Leave nothing half-made: an unusable entry becomes an absent one. */
		b->nodes[id].removed = 1;
		node_unhash(b, id);
		return 0;
	}
	if (b->nodes[id].e.flags & IXE_HARDLINK) {
		b->nodes[id].e.n_xattrs = 0;
		return 0;
	}
	return record_xattrs(b, ae, &b->nodes[id].e);
}

/* ---- reading the layer ---- */

struct tee {
	struct archive *raw;
	int copy_fd;
	bool crc_wanted;
	uint32_t crc;
	struct strata_error write_err;
	bool write_failed;
	uint64_t total;
};

static la_ssize_t tee_read(struct archive *a, void *ctx, const void **buf)
{
	struct tee *t = ctx;
	size_t size;
	la_int64_t offset;
	int r = archive_read_data_block(t->raw, buf, &size, &offset);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
		archive_set_error(a, archive_errno(t->raw), "%s", archive_error_string(t->raw));
		return -1;
	}
	if (t->copy_fd >= 0 && sys_write_all(t->copy_fd, *buf, size) < 0) {
		int en = errno;

		t->write_failed = true;
		archive_set_error(a, en, "writing the uncompressed copy: %s", strerror(en));
		return -1;
	}
	if (t->crc_wanted)
		t->crc = (uint32_t)crc32_z(t->crc, *buf, size);
	t->total += size;
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

const char *ix_compression_name(uint32_t c)
{
	static const char *const names[] = {"none", "gzip", "zstd", "xz", "bzip2", "lz4", "other"};

	return c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

static int read_entries(struct builder *b, struct archive *a)
{
	struct archive_entry *ae;
	int r;

	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (add_entry(b, a, ae))
			return -1;
	}
	if (r != ARCHIVE_EOF)
		/* libarchive reports "not this format" as EILSEQ on Linux. */
		return archive_failed(
		    b, a, archive_errno(a) == EILSEQ ? STRATA_ERR_FORMAT : STRATA_ERR_CORRUPT);
	return 0;
}

static struct archive *tar_reader(void)
{
	struct archive *a = archive_read_new();

	if (a)
		archive_read_support_format_tar(a);
	return a;
}

static int index_plain(struct builder *b, int fd)
{
	struct archive *a = tar_reader();
	int rc;

	if (!a)
		return nomem(b);
	if (lseek(fd, 0, SEEK_SET) < 0 || archive_read_open_fd(a, fd, 128 * 1024) != ARCHIVE_OK) {
		rc = archive_failed(b, a, STRATA_ERR_FORMAT);
		goto out;
	}
	rc = read_entries(b, a);
out:
	archive_read_free(a);
	return rc;
}

/*
 * libarchive does not check a gzip member's CRC-32 and length trailer, so a
 * layer with flipped bytes could index "fine".  When the trailer's length
 * says the file is one member (nearly every layer), the CRC must match.
 * (Concatenated members are left to inflate's own checks.)
 */
static int check_gzip_trailer(struct builder *b, int fd, const struct tee *t)
{
	uint8_t tr[8];
	struct stat st;
	uint32_t crc, isize;

	if (fstat(fd, &st) < 0 || st.st_size < 18 ||
	    sys_pread_full(fd, tr, sizeof(tr), st.st_size - 8) != sizeof(tr))
		return strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->layer_name,
		                   strerror(errno ? errno : EIO));
	crc =
	    (uint32_t)tr[0] | (uint32_t)tr[1] << 8 | (uint32_t)tr[2] << 16 | (uint32_t)tr[3] << 24;
	isize =
	    (uint32_t)tr[4] | (uint32_t)tr[5] << 8 | (uint32_t)tr[6] << 16 | (uint32_t)tr[7] << 24;
	if (isize == (uint32_t)t->total && crc != t->crc)
		return strata_fail(b->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: gzip checksum mismatch: the layer is corrupt",
		                   b->opts->layer_name);
	return 0;
}

static int index_through_tee(struct builder *b, int fd, struct archive *raw, int copy_fd)
{
	struct tee t = {
	    .raw = raw,
	    .copy_fd = copy_fd,
	    .crc_wanted = archive_filter_code(raw, 0) == ARCHIVE_FILTER_GZIP,
	};
	struct archive *a = tar_reader();
	const void *buf;
	int rc;

	if (!a)
		return nomem(b);
	if (archive_read_open(a, &t, NULL, tee_read, NULL) != ARCHIVE_OK) {
		rc = archive_failed(b, a, STRATA_ERR_FORMAT);
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
			rc = archive_failed(b, a, STRATA_ERR_CORRUPT);
	}
	if (rc == 0 && t.crc_wanted)
		rc = check_gzip_trailer(b, fd, &t);
	b->stream_size = t.total;
out:
	archive_read_free(a);
	return rc;
}

/* ---- writing the index ---- */

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
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (nd->live && (nd->e.flags & IXE_HARDLINK) && !b->nodes[nd->e.link].live)
			nd->live = 0;
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

static int write_index(struct builder *b, const struct ix_source_id *src, uint32_t compression,
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
		return nomem(b);
	mark_live(b, order);
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
	h.strings_off = h.extents_off + b->n_extents * sizeof(struct ix_extent);
	h.strings_size = b->n_strings;
	h.total_data = b->total_data;
	size = h.strings_off + h.strings_size;
	h.total_size = size;

	buf = calloc(1, size);
	if (!buf) {
		rc = nomem(b);
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

static void builder_free(struct builder *b)
{
	free(b->nodes);
	free(b->buckets);
	free(b->strings);
	free(b->xattrs);
	free(b->extents);
}

static int builder_init(struct builder *b, const struct ix_build_options *opts,
                        struct strata_error *err)
{
	uint32_t root;

	memset(b, 0, sizeof(*b));
	b->opts = opts;
	b->err = err;
	if (rehash(b))
		return -1;
	/* The root is its own parent; node_new links it into its own child
	 * list, which we undo. */
	if (node_new(b, 0, "", 0, &root))
		return -1;
	node_unhash(b, root);
	b->nodes[0].first_child = NO_NODE;
	b->nodes[0].next_sibling = NO_NODE;
	node_set_implicit_dir(&b->nodes[0]);
	return 0;
}

/* Opens the raw reader: decompression only, to learn the compression and to
 * feed the tar reader for compressed layers. */
static int open_raw(struct builder *b, int fd, struct archive **out, int *filter)
{
	struct archive *raw = archive_read_new();
	struct archive_entry *ae;
	int r;

	if (!raw)
		return nomem(b);
	archive_read_support_filter_all(raw);
	archive_read_support_format_raw(raw);
	if (archive_read_open_fd(raw, fd, 128 * 1024) != ARCHIVE_OK ||
	    ((r = archive_read_next_header(raw, &ae)) != ARCHIVE_OK && r != ARCHIVE_WARN)) {
		r = archive_failed(b, raw, STRATA_ERR_FORMAT);
		archive_read_free(raw);
		return r;
	}
	*filter = archive_filter_code(raw, 0);
	*out = raw;
	return 0;
}

static int build_stream(struct builder *b, int fd, const struct ix_source_id *src,
                        const char *index_path)
{
	struct archive *raw = NULL;
	int filter = ARCHIVE_FILTER_NONE, copy_fd = -1, rc;
	char *copy_tmp = NULL;

	/* A 0-byte file is an empty layer (GNU tar would refuse it, but an empty
	 * layer is what an image that adds nothing means). */
	if (src->size == 0)
		return write_index(b, src, IX_COMP_NONE, false, index_path);
	if (open_raw(b, fd, &raw, &filter))
		return -1;
	if (filter == ARCHIVE_FILTER_NONE) {
		archive_read_free(raw);
		b->stream_size = src->size;
		rc = index_plain(b, fd);
		return rc ? rc : write_index(b, src, IX_COMP_NONE, false, index_path);
	}
	if (!b->opts->copy_path) {
		rc = strata_fail(b->err, STRATA_ERR_USAGE, 0, "%s: compressed layer needs a cache",
		                 b->opts->layer_name);
		goto out;
	}
	copy_fd = sys_tmpfile_beside(b->opts->copy_path, &copy_tmp);
	if (copy_fd < 0) {
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->copy_path,
		                 strerror(errno));
		goto out;
	}
	rc = index_through_tee(b, fd, raw, copy_fd);
	if (rc == 0 && rename(copy_tmp, b->opts->copy_path) < 0)
		rc = strata_fail(b->err, STRATA_ERR_SYS, errno, "%s: %s", b->opts->copy_path,
		                 strerror(errno));
	if (rc == 0) {
		free(copy_tmp);
		copy_tmp = NULL;
		rc = write_index(b, src, compression_of(filter), true, index_path);
	}
out:
	if (copy_fd >= 0)
		close(copy_fd);
	if (copy_tmp) {
		unlink(copy_tmp);
		free(copy_tmp);
	}
	archive_read_free(raw);
	return rc;
}

int ix_build(int fd, const struct ix_source_id *src, const char *index_path,
             const struct ix_build_options *opts, struct strata_error *err)
{
	struct builder b;
	locale_t utf8, old = (locale_t)0;
	int rc;

	/* libarchive converts pax (UTF-8) names to the current locale's charset;
	 * in the C locale that mangles non-ASCII names.  Use UTF-8 for this
	 * thread only, so names pass through byte for byte. */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8)
		old = uselocale(utf8);
	rc = builder_init(&b, opts, err);
	if (rc == 0)
		rc = build_stream(&b, fd, src, index_path);
	builder_free(&b);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	return rc;
}
