/* SPDX-License-Identifier: MIT */
/*
 * Lower files without inodes (issue 16: a million-entry layer walked with
 * lstat(2) cost 97 MB of inode objects).  A lower file that nothing changed
 * is named completely by its node id, (layer + 1) << 40 | entry, the entry
 * being the canonical one of a hard-linked file: the kernel gets that id
 * from a lookup and the table counts its references without an object
 * (struct lower_refs).  Every read (getattr, read, readlink, xattrs, lseek)
 * answers from a temporary inode decoded from the id; an operation that
 * changes the file, or needs to remember something about it (a copy-up,
 * setattr, an open for writing, an xattr set, a link, a rename), first
 * makes its inode, which takes the kernel's count over from the counter and
 * lives until the kernel's last forget, as every inode does.
 *
 * Only a file whose layer directory is the directory it was looked up in
 * goes without an inode (the directory's top source is in the file's
 * layer, and its id is that layer's): the inode made later finds that
 * directory again by the id the file's layer entry gives its parent.  A
 * file in a merged directory from a lower layer than its top, another name
 * of a hard link, anything with an upper object: inodes, as before.
 *
 * A growing layer (a lazily read directory) has no size to count for
 * (n_entries 0): it gets counters for its first GROWING_COUNTED node
 * numbers, 32 MiB of address space of which only the pages used are
 * resident (numbers are dense, given as entries are found); a file past
 * them gets an inode.
 */
#include <errno.h>

#include "ll.h"

#define GROWING_COUNTED (1u << 24)

int fs_union_stateless_init(struct strata_union *u)
{
	for (uint32_t i = 0; i < u->n_layers; i++) {
		size_t slot = i < u->n_base ? 0 : i - u->n_base + 1;
		const struct strata_layer *l = u->layers[i];
		int rc = fs_inode_table_lower_init(&u->table, slot,
		                                   l->growing ? GROWING_COUNTED : l->n_entries);

		if (rc)
			return rc;
	}
	return 0;
}

bool fs_union_ino_decode(const struct strata_union *u, uint64_t ino, struct union_src *src)
{
	uint64_t hi = ino >> 40;
	const struct strata_layer *l;

	src->node = ino & ((1ULL << 40) - 1);
	if (u->n_base && hi == UNION_BASE_INO >> 40)
		src->layer = 0;
	else if (hi >= 1 && hi - 1 < u->n_layers - u->n_base)
		src->layer = (uint32_t)(hi - 1 + u->n_base);
	else
		return false;
	l = union_layer(u, src);
	return src->node > 0 && layer_has_node(l, src->node) &&
	       l->ops->canonical(l, src->node) == src->node && !S_ISDIR(l->ops->mode(l, src->node));
}

bool fs_union_stateless_ok(const struct strata_union *u, const struct inode *dir,
                           const struct union_src *src, uint32_t mode)
{
	const struct strata_layer *l = union_layer(u, src);

	return !S_ISDIR(mode) && dir->n_srcs > 0 && src->layer == dir->srcs[0].layer &&
	       l->ops->canonical(l, src->node) == src->node &&
	       dir->ino == fs_union_ino(u, &dir->srcs[0]);
}

/* Makes the inode of lower id @ino (decoded to @src), which the kernel
 * holds without one, in the directory its layer entry's parent is. */
static struct inode *promote(struct strata_union *u, uint64_t ino, const struct union_src *src)
{
	const struct strata_layer *l = union_layer(u, src);
	struct union_src up = {src->layer, l->ops->parent(l, src->node)};
	uint64_t parent_ino = fs_union_ino(u, &up);
	struct inode *parent, *in, *found = NULL;

	parent = parent_ino == 1 ? u->root : fs_inode_table_find(&u->table, parent_ino);
	/* The kernel holds a file's directory while it holds the file, but
	 * not one it reached by a file handle (export.c). */
	if (!parent && fs_export_find(u, parent_ino, &found) == 0)
		parent = found;
	if (!parent)
		return NULL;
	in = fs_inode_table_promote(&u->table, ino, parent, l->ops->mode(l, src->node), src);
	if (found)
		fs_inode_table_forget(&u->table, found->ino, 1);
	return in;
}

/* The inode of @ino: the root, the table's (@live: not a gone one), or for
 * a lower id without one, a temporary one in @tmp, or with @tmp NULL one
 * made now. */
static struct inode *inode_of(struct strata_union *u, uint64_t ino, bool live, union inode_tmp *tmp)
{
	struct union_src src;
	struct inode *in;

	if (ino == FUSE_ROOT_ID)
		return u->root;
	in = live ? fs_inode_table_find(&u->table, ino) : fs_inode_table_node(&u->table, ino);
	if (in || !fs_union_ino_decode(u, ino, &src))
		return in;
	return tmp ? fs_inode_tmp(tmp, ino, union_src_mode(u, &src), &src) : promote(u, ino, &src);
}

struct inode *fs_inode_of(struct strata_union *u, fuse_ino_t ino)
{
	return inode_of(u, ino, false, NULL);
}

struct inode *fs_inode_held(struct strata_union *u, uint64_t ino)
{
	return inode_of(u, ino, true, NULL);
}

struct inode *fs_inode_peek(struct strata_union *u, fuse_ino_t ino, union inode_tmp *tmp)
{
	return inode_of(u, ino, false, tmp);
}
