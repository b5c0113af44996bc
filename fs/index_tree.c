/* SPDX-License-Identifier: MIT */
/*
 * Tar members into the builder's tree.  Names are normalised (a leading "/"
 * dropped, "." vanishing, ".." refused), missing parents made implicit,
 * `.wh.` names folded into flagged entries, hard links resolved to their
 * canonical member, and a later member of the same path replaces the earlier
 * one as GNU tar extraction would.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "archive_dl.h"
#include "index_tree.h"
#include "vec.h"

int fs_builder_nomem(struct builder *b)
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
	if (VEC_RESERVE(b->strings, b->cap_strings, b->n_strings + len + 1) < 0)
		return fs_builder_nomem(b);
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
		return fs_builder_nomem(b);
	memset(nb, 0xff, n * sizeof(*nb));
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		uint32_t h;

		if (i == 0 || nd->removed)
			continue;
		h = name_hash(nd->parent, b->strings + nd->e.name_off, nd->e.name_len);
		nd->hash_next = nb[h & (n - 1)];
		nb[h & (n - 1)] = i;
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

		if (nd->parent == parent && nd->e.name_len == len &&
		    memcmp(b->strings + nd->e.name_off, name, len) == 0)
			return i;
	}
	return NO_NODE;
}

static void node_unhash(struct builder *b, uint32_t id)
{
	const struct bnode *nd = &b->nodes[id];
	uint32_t h = name_hash(nd->parent, b->strings + nd->e.name_off, nd->e.name_len);
	uint32_t *pp = &b->buckets[h & (b->n_buckets - 1)];

	while (*pp != id)
		pp = &b->nodes[*pp].hash_next;
	*pp = b->nodes[id].hash_next;
}

static int node_new(struct builder *b, uint32_t parent, const char *name, size_t len, uint32_t *out)
{
	struct bnode *nd;
	uint32_t id, h;

	/* Every failure returns a literal -1: strata_fail's -1 is in another
	 * unit, and a 0 path the compiler cannot rule out would leave *out
	 * unset (gcc -O3 then warns in fs_builder_init). */
	if (b->n_nodes == UINT32_MAX - 1) {
		strata_fail(b->err, STRATA_ERR_UNSUPPORTED, 0, "%s: too many entries",
		            b->opts->layer_name);
		return -1;
	}
	if (VEC_RESERVE(b->nodes, b->cap_nodes, b->n_nodes + 1) < 0) {
		fs_builder_nomem(b);
		return -1;
	}
	if (b->n_nodes + 1 > b->n_buckets / 2 && rehash(b))
		return -1;
	id = b->n_nodes++;
	nd = &b->nodes[id];
	memset(nd, 0, sizeof(*nd));
	if (string_add(b, name, len, &nd->e.name_off))
		return -1;
	nd->e.name_len = (uint8_t)len;
	nd->parent = parent;
	nd->first_child = NO_NODE;
	nd->final = NO_NODE;
	nd->e.nlink = 1;
	h = name_hash(parent, name, len);
	nd->hash_next = b->buckets[h & (b->n_buckets - 1)];
	b->buckets[h & (b->n_buckets - 1)] = id;
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

/* A directory this layer whites out and then has entries below: removed,
 * then made afresh by tar (0755, root, time 0), as extraction does.  It
 * is described, with those attributes, not implied: an implied opaque
 * directory (a bare .wh..wh..opq) keeps the lower one's attributes. */
static void node_set_recreated_dir(struct bnode *nd)
{
	node_set_implicit_dir(nd);
	nd->e.flags = IXE_OPAQUE;
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

	if (!b->opts->warn || ++b->n_warnings > BUILDER_WARN_MAX)
		return;
	snprintf(msg, sizeof(msg), "%s: skipping '%s': %s", b->opts->layer_name, name, why);
	b->opts->warn(b->opts->warn_ctx, msg);
}

void fs_builder_warn_summary(struct builder *b)
{
	char msg[512];

	if (!b->opts->warn || b->n_warnings <= BUILDER_WARN_MAX)
		return;
	snprintf(msg, sizeof(msg), "%s: skipped %llu more entries (only the first %d are named)",
	         b->opts->layer_name, (unsigned long long)(b->n_warnings - BUILDER_WARN_MAX),
	         BUILDER_WARN_MAX);
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
			node_set_recreated_dir(&b->nodes[c]);
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
static bool xattr_seen(const struct builder *b, const struct bentry *e, const char *name)
{
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		const struct ix_xattr *x = &b->xattrs[e->xattr_first + i];

		if (strcmp(b->strings + x->name_off, name) == 0)
			return true;
	}
	return false;
}

static int add_xattr(struct builder *b, struct bentry *e, const char *name, const void *value,
                     size_t size)
{
	struct ix_xattr *x;

	if (e->n_xattrs == UINT16_MAX) { /* the index counts them in 16 bits */
		warn(b, name, "more than 65535 xattrs on one entry: this one dropped");
		return 0;
	}
	if (VEC_RESERVE(b->xattrs, b->cap_xattrs, b->n_xattrs + 1) < 0)
		return fs_builder_nomem(b);
	x = &b->xattrs[b->n_xattrs];
	x->name_len = (uint32_t)strlen(name);
	x->value_len = (uint32_t)size;
	if (string_add(b, name, x->name_len, &x->name_off) ||
	    string_add(b, value, size, &x->value_off))
		return -1;
	b->n_xattrs++;
	e->n_xattrs++;
	return 0;
}

/* An ACL given as the xattr itself (SCHILY.xattr.system.posix_acl_*), kept
 * only when valid: the kernel would fail every access check on another. */
static int record_acl_xattr(struct builder *b, struct bentry *e, const char *path,
                            enum acl_kind kind, const void *value, size_t size)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	struct acl a;

	if (fs_acl_decode(value, size, &a)) {
		warn(b, path, "an ACL that is not valid");
		return 0;
	}
	return add_xattr(b, e, fs_acl_xattr_name(kind), buf, fs_acl_encode(&a, buf));
}

/* An ACL libarchive parsed from SCHILY.acl.*, kept as the xattr the kernel
 * reads, unless the entry also carried that xattr. */
static int record_acl(struct builder *b, struct archive_entry *ae, struct bentry *e,
                      const char *path, enum acl_kind kind)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	const char *why;
	struct acl a;
	mode_t perm;

	fs_acl_from_archive(ae, kind, &a, &why);
	if (why)
		warn(b, path, why);
	if (a.n == 0 || xattr_seen(b, e, fs_acl_xattr_name(kind)))
		return 0;
	if (kind == ACL_KIND_DEFAULT && !S_ISDIR(e->mode)) {
		warn(b, path, "a default ACL on a non-directory");
		return 0;
	}
	if (kind == ACL_KIND_ACCESS) {
		/* libarchive reports the mode's group bits as the owning
		 * group's entry; the mode has the mask's, as on extraction. */
		fs_acl_mode(&a, &perm);
		e->mode = (e->mode & ~(uint32_t)0777) | perm;
	}
	return add_xattr(b, e, fs_acl_xattr_name(kind), buf, fs_acl_encode(&a, buf));
}

static int record_xattrs(struct builder *b, struct archive_entry *ae, struct bentry *e,
                         const char *path)
{
	const char *name;
	const void *value;
	size_t size;
	int kind, rc;

	e->xattr_first = (uint32_t)b->n_xattrs;
	e->n_xattrs = 0;
	sym_archive_entry_xattr_reset(ae);
	while (sym_archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
		if (xattr_seen(b, e, name))
			continue;
		kind = fs_acl_kind(name);
		rc = kind < 0 ? add_xattr(b, e, name, value, size)
		              : record_acl_xattr(b, e, path, (enum acl_kind)kind, value, size);
		if (rc)
			return -1;
	}
	if (record_acl(b, ae, e, path, ACL_KIND_ACCESS) ||
	    record_acl(b, ae, e, path, ACL_KIND_DEFAULT))
		return -1;
	return 0;
}

static int add_extent(struct builder *b, struct bentry *e, uint64_t logical, uint64_t stream_off,
                      uint64_t len)
{
	struct ix_extent *last = bentry_n_ext(e) ? &b->extents[b->n_extents - 1] : NULL;

	if (len == 0)
		return 0;
	if (last && last->logical + last->len == logical &&
	    last->stream_off + last->len == stream_off) {
		last->len += len;
		return 0;
	}
	if (VEC_RESERVE(b->extents, b->cap_extents, b->n_extents + 1) < 0)
		return fs_builder_nomem(b);
	b->extents[b->n_extents++] = (struct ix_extent){logical, stream_off, len};
	e->ref += (uint64_t)1 << 32; /* one more extent */
	return 0;
}

int fs_builder_archive_failed(struct builder *b, struct archive *a, enum strata_errcode code)
{
	const char *msg = sym_archive_error_string(a);
	int en = sym_archive_errno(a);

	if (en == ENOMEM)
		return fs_builder_nomem(b);
	return strata_fail(b->err, code, en, "%s: %s", b->opts->layer_name,
	                   msg ? msg : "damaged archive");
}

/* Reads a sparse file's data blocks to learn where each run lives. */
static int record_sparse_data(struct builder *b, struct archive *a, struct bentry *e)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	int r;

	e->flags |= IXE_SPARSE;
	e->ref = (uint32_t)b->n_extents; /* no extents yet */
	while ((r = sym_archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
		uint64_t pos = (uint64_t)sym_archive_filter_bytes(a, 0);

		if (add_extent(b, e, (uint64_t)offset, pos, size))
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return fs_builder_archive_failed(b, a, STRATA_ERR_CORRUPT);
	return 0;
}

static void set_attrs(struct bentry *e, struct archive_entry *ae)
{
	e->mode = sym_archive_entry_mode(ae);
	e->uid = (uint32_t)sym_archive_entry_uid(ae);
	e->gid = (uint32_t)sym_archive_entry_gid(ae);
	e->mtime_sec = sym_archive_entry_mtime(ae);
	e->mtime_nsec = (uint32_t)sym_archive_entry_mtime_nsec(ae);
	e->size = 0;
	e->ref = 0;
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
	struct bentry *e = &b->nodes[id].e;
	const char *hl = sym_archive_entry_hardlink(ae);

	*skipped = false;
	if (hl)
		return add_hardlink(b, &b->nodes[id], hl, name, skipped);
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		e->size = (uint64_t)sym_archive_entry_size(ae);
		if (sym_archive_entry_sparse_reset(ae) <= 0) {
			e->ref = (uint64_t)sym_archive_filter_bytes(a, 0);
			return 0;
		}
		if (e->size > IX_SPARSE_MAX) {
			char why[96];

			snprintf(why, sizeof(why), "a sparse file of %llu bytes (more than 16 TiB)",
			         (unsigned long long)e->size);
			warn(b, name, why);
			*skipped = true;
			return 0;
		}
		return record_sparse_data(b, a, &b->nodes[id].e);
	case S_IFLNK: {
		const char *t = sym_archive_entry_symlink(ae);
		size_t len;

		if (!t)
			t = sym_archive_entry_symlink_utf8(ae);
		if (!t) {
			warn(b, name, "symlink without a target");
			*skipped = true;
			return 0;
		}
		len = strlen(t);
		/* readlink(2) and the kernel's FUSE reply stop at PATH_MAX - 1:
		 * a longer target could be listed but never read. */
		if (len >= PATH_MAX) {
			warn(b, name, "symlink target longer than 4095 bytes");
			*skipped = true;
			return 0;
		}
		if (string_add(b, t, len, &e->link))
			return -1;
		b->nodes[id].e.size = len;
		return 0;
	}
	case S_IFCHR:
	case S_IFBLK:
		e->ref = sym_archive_entry_rdev(ae);
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
void fs_builder_take_over(struct builder *b, uint32_t heir, uint32_t old)
{
	struct bnode *nd = &b->nodes[heir];
	uint32_t name_off = nd->e.name_off, name_len = nd->e.name_len;
	uint32_t opaque = nd->e.flags & IXE_OPAQUE;

	/* Name and opacity belong to the name; data and attributes move. */
	nd->e = b->nodes[old].e;
	nd->e.name_off = name_off;
	nd->e.name_len = name_len;
	nd->e.flags = (nd->e.flags & ~(uint32_t)IXE_OPAQUE) | opaque;
}

static void detach_links(struct builder *b, uint32_t id)
{
	struct bnode *old = &b->nodes[id];
	uint32_t heir = NO_NODE;

	if (old->e.flags & IXE_HARDLINK) {
		old->e.flags &= ~(uint32_t)IXE_HARDLINK;
		return;
	}
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		struct bnode *nd = &b->nodes[i];

		if (nd->removed || !(nd->e.flags & IXE_HARDLINK) || nd->e.link != id)
			continue;
		if (heir == NO_NODE) {
			heir = i;
			fs_builder_take_over(b, heir, id);
		} else {
			nd->e.link = heir;
		}
	}
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
		if (b->nodes[id].e.flags & IXE_IMPLICIT)
			node_set_recreated_dir(&b->nodes[id]); /* its entries came first */
		else
			b->nodes[id].e.flags |= IXE_OPAQUE;
		return 0;
	}
	if (node_new(b, dir, wname + 4, wlen - 4, &id))
		return -1;
	b->nodes[id].e.flags = IXE_WHITEOUT;
	b->nodes[id].e.mode = 0;
	return 0;
}

/* walk_parents for a member @name, through b->last_parent when its
 * directory is the last member's. */
static int parent_of(struct builder *b, const char *name, const char **comp, const size_t *clen,
                     size_t n, uint32_t *dir, const char **why)
{
	size_t len = (size_t)(comp[n - 1] - name);

	if (b->last_parent_removals == b->removals && b->last_parent_len == len && b->last_parent &&
	    memcmp(b->last_parent, name, len) == 0) {
		*dir = b->last_parent_dir;
		return 0;
	}
	if (walk_parents(b, comp, clen, n, true, dir, why))
		return -1;
	if (*dir == NO_NODE || VEC_RESERVE(b->last_parent, b->last_parent_cap, len + 1) < 0) {
		b->last_parent_len = SIZE_MAX; /* nothing cached */
		return 0;
	}
	memcpy(b->last_parent, name, len);
	b->last_parent_len = len;
	b->last_parent_dir = *dir;
	b->last_parent_removals = b->removals;
	return 0;
}

int fs_builder_add_entry(struct builder *b, struct archive *a, struct archive_entry *ae)
{
	const char *name = sym_archive_entry_pathname(ae);
	const char *comp[MAX_DEPTH];
	size_t clen[MAX_DEPTH], n;
	const char *why = NULL;
	uint32_t dir, id;
	bool skipped;

	if (!name)
		name = sym_archive_entry_pathname_utf8(ae);
	if (!name) {
		warn(b, "?", "entry without a name");
		return 0;
	}
	if (split_path(name, comp, clen, MAX_DEPTH, &n, &why)) {
		warn(b, name, why);
		return 0;
	}
	if (n == 0) { /* "./" or "/": the root's own attributes */
		if (sym_archive_entry_filetype(ae) != AE_IFDIR) {
			warn(b, name, "the layer root is not a directory");
			return 0;
		}
		set_attrs(&b->nodes[0].e, ae);
		return record_xattrs(b, ae, &b->nodes[0].e, name);
	}
	if (parent_of(b, name, comp, clen, n, &dir, &why))
		return -1;
	if (dir == NO_NODE) {
		warn(b, name, why);
		return 0;
	}
	if (clen[n - 1] >= 4 && memcmp(comp[n - 1], ".wh.", 4) == 0)
		return add_whiteout(b, dir, comp[n - 1], clen[n - 1], name);

	id = node_find(b, dir, comp[n - 1], clen[n - 1]);
	if (id != NO_NODE && is_dir(&b->nodes[id]) && sym_archive_entry_filetype(ae) != AE_IFDIR) {
		/* A directory replaced by a non-directory later in the same tar:
		 * its subtree is gone, as when GNU tar extracts it. */
		uint32_t opaque = b->nodes[id].e.flags & IXE_OPAQUE;

		b->nodes[id].removed = 1;
		b->removals++;
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
		b->removals++;
		node_unhash(b, id);
		return 0;
	}
	if (b->nodes[id].e.flags & IXE_HARDLINK) {
		b->nodes[id].e.n_xattrs = 0;
		return 0;
	}
	return record_xattrs(b, ae, &b->nodes[id].e, name);
}

void fs_builder_free(struct builder *b)
{
	free(b->nodes);
	free(b->buckets);
	free(b->strings);
	free(b->xattrs);
	free(b->extents);
	free(b->last_parent);
}

int fs_builder_init(struct builder *b, const struct ix_build_options *opts,
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
