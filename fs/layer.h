/* SPDX-License-Identifier: MIT */
/*
 * A layer, as the union sees it: an immutable tree of nodes with sorted
 * directories.  Two backends: a tar layer through its index (layer_tar.c),
 * and a directory in OCI changeset form, such as an upper (layer_dir.c:
 * diff and commit read uppers with it, run the mount points below images).
 * A lazily fetched blob is meant to be the next, so nothing
 * backend-specific may leak through this interface.
 *
 * Node numbers are the backend's; 0 is the root.  Every operation may be
 * called from any thread at once without locks.
 */
#ifndef STRATA_LAYER_H
#define STRATA_LAYER_H

#include "idmap.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "strata-fs.h"

#define LAYER_NONE UINT64_MAX

/* node flags */
#define LAYER_WHITEOUT 0x1 /* the name hides lower layers and is not itself shown */
#define LAYER_OPAQUE   0x2 /* dir: lower layers contribute nothing below it */
#define LAYER_IMPLICIT 0x4 /* dir the layer does not describe, only implies */
#define LAYER_HIDDEN   0x8 /* not there at all: listed, but lookup finds nothing */

/* A piece of file data: @len bytes at @off in @fd, or zeros when fd is
 * LAYER_FD_HOLE, or when fd is LAYER_FD_READ, bytes that are in no file (a
 * compressed layer read in place): @from's read op gives them, at @off of
 * its stream.  fs_layer_extent_read reads any of them. */
struct layer_extent {
	int fd;
	uint64_t off;
	uint64_t len;
	const struct strata_layer *from; /* LAYER_FD_READ only */
};

#define LAYER_FD_HOLE (-1)
#define LAYER_FD_READ (-2)

struct layer_ops {
	/* A child of @dir by name, or LAYER_NONE. */
	uint64_t (*lookup)(const struct strata_layer *l, uint64_t dir, const char *name,
	                   size_t len);
	/* Children of @dir, sorted by name (memcmp, shorter first). */
	uint64_t (*n_children)(const struct strata_layer *l, uint64_t dir);
	uint64_t (*child)(const struct strata_layer *l, uint64_t dir, uint64_t i);
	const char *(*name)(const struct strata_layer *l, uint64_t node, size_t *len);
	uint32_t (*flags)(const struct strata_layer *l, uint64_t node);
	uint32_t (*mode)(const struct strata_layer *l, uint64_t node);
	/* The node that holds @node's data and attributes: itself, or the
	 * first name of a hard-linked file.  It gives the inode identity. */
	uint64_t (*canonical)(const struct strata_layer *l, uint64_t node);
	/* The next node after @after (LAYER_NONE: from the start) whose
	 * canonical node is @canonical: every name of a hard-linked file. */
	uint64_t (*next_link)(const struct strata_layer *l, uint64_t canonical, uint64_t after);
	/* The directory holding @node (the root for the root). */
	uint64_t (*parent)(const struct strata_layer *l, uint64_t node);
	void (*stat)(const struct strata_layer *l, uint64_t node, struct stat *st);
	const char *(*readlink)(const struct strata_layer *l, uint64_t node, size_t *len);
	/* The @i-th xattr of @node; false past the last one. */
	bool (*xattr)(const struct strata_layer *l, uint64_t node, uint32_t i, const char **name,
	              const void **value, size_t *size);
	/* Where bytes [off, off+len) of a regular file are; fills at most
	 * @max extents and returns how many it filled (0 past the end). */
	size_t (*map)(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
	              struct layer_extent *ext, size_t max);
	/* The bytes of a LAYER_FD_READ extent: @len at @off of the layer's
	 * stream.  0, or a positive errno (EIO: the layer is damaged).  NULL
	 * for a layer whose extents are all in files. */
	int (*read)(const struct strata_layer *l, uint64_t off, void *buf, size_t len);
	/* Whether @node is a node of the layer: set only by a growing layer
	 * (below), whose n_entries says nothing.  May be NULL otherwise. */
	bool (*known)(const struct strata_layer *l, uint64_t node);
	/* A directory of an upper layer renamed from a lower one: the lower path
	 * its content continues at, or NULL.  May itself be NULL. */
	const char *(*redirect)(const struct strata_layer *l, uint64_t node);
	void (*close)(struct strata_layer *l);
};

struct strata_layer {
	const struct layer_ops *ops;
	char *name; /* for messages: the path the user gave */
	uint64_t n_entries;
	uint64_t total_data; /* bytes of file data, for statfs */
	bool no_xattrs;      /* known to hold no xattr (nor ACL) at all */
	/* Nodes are numbered as they are found (a lazily read directory,
	 * layer_lowerdir.c): n_entries is 0, ops->known says which numbers
	 * are nodes, and nothing may walk every node. */
	bool growing;
	/* Set when the backend finds its metadata damaged after open (a
	 * lazily checked index): its answers since then may be empty, so the
	 * union fails what it serves from the stack with EIO. */
	atomic_bool damaged;
	/* uidmapping=/gidmapping= (strata_layer_set_idmap): owners on disk
	 * to the ones shown, applied by each backend's stat (and to real
	 * ACLs' ids where it reads them); empty: as on disk. */
	struct fs_idmap uids, gids;
};

/* @node's xattr @name, if it has one. */
static inline bool layer_xattr_get(const struct strata_layer *l, uint64_t node, const char *name,
                                   const void **value, size_t *size)
{
	const char *xname;

	for (uint32_t i = 0; l->ops->xattr(l, node, i, &xname, value, size); i++)
		if (strcmp(xname, name) == 0)
			return true;
	return false;
}

/* Whether @node is one of @l's nodes (a number from outside: a file
 * handle, an origin record). */
static inline bool layer_has_node(const struct strata_layer *l, uint64_t node)
{
	return l->growing ? l->ops->known(l, node) : node < l->n_entries;
}

/* The bytes of @x (x->len of them) into @buf: 0, or a positive errno (EIO
 * for a file shorter than its index says). */
int fs_layer_extent_read(const struct layer_extent *x, void *buf);

static inline bool layer_extent_is_hole(const struct layer_extent *x)
{
	return x->fd == LAYER_FD_HOLE;
}

#endif
