/* SPDX-License-Identifier: MIT */
/*
 * The index builder's in-memory tree, shared by the files that build it:
 * index_tree.c (tar members → tree: paths, whiteouts, hard links),
 * index_write.c (tree → index file) and index_build.c (reading the layer).
 * Private to libstrata-fs.  Errors: -1 with the builder's strata_error
 * filled, as strata-fs.h's functions.
 */
#ifndef STRATA_INDEX_TREE_H
#define STRATA_INDEX_TREE_H

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "gzip.h"
#include "index.h"

#define NO_NODE UINT32_MAX

/* A node's attributes while building, in a wide form that index_write.c
 * packs into the index's entries, attributes and directories. */
struct bentry {
	uint64_t size; /* symlinks: the target's length */
	/* Regular file: its data offset, or with IXE_SPARSE its extents as
	 * first | count << 32 (bentry_ext_first, bentry_n_ext); device: rdev. */
	uint64_t ref;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t name_off; /* into the builder's strings */
	uint32_t nlink;
	uint32_t link; /* symlink: string offset of its target; hard link: node id */
	uint32_t xattr_first;
	uint16_t n_xattrs;
	uint8_t name_len;
	uint8_t flags; /* IXE_* */
};

static inline uint32_t bentry_ext_first(const struct bentry *e)
{
	return (uint32_t)e->ref;
}

static inline uint32_t bentry_n_ext(const struct bentry *e)
{
	return (uint32_t)(e->ref >> 32);
}

/* A million-entry layer holds a million of these while it is read: 88
 * bytes each (120 before version 6's builder). */
struct bnode {
	struct bentry e; /* attributes; name/link hold build ids */
	uint32_t parent;
	uint32_t next_sibling; /* children form a list, newest first */
	uint32_t first_child;
	uint32_t final; /* number in the written index */
	uint32_t hash_next;
	uint8_t removed;
	uint8_t live;
};

_Static_assert(sizeof(struct bnode) <= 88, "struct bnode grew");

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

	/* The directory the last member went into, by the raw bytes of its
	 * name before the last component: tars list a directory's members
	 * together, so most members skip the walk.  Valid while no node was
	 * removed since (@removals). */
	char *last_parent;
	size_t last_parent_len, last_parent_cap;
	uint32_t last_parent_dir;
	uint64_t removals, last_parent_removals;

	uint64_t stream_size;
	uint64_t total_data;
	struct gz_points *points; /* a gzip layer read in place: its checkpoints */
	uint64_t n_warnings;      /* entries skipped; the first BUILDER_WARN_MAX said */
};

/* Warnings a layer prints at most (10,000 nested directories had written
 * 38 MB of them); fs_builder_warn_summary() counts the rest. */
#define BUILDER_WARN_MAX 100

static inline bool is_dir(const struct bnode *nd)
{
	return S_ISDIR(nd->e.mode);
}

int fs_builder_init(struct builder *b, const struct ix_build_options *opts,
                    struct strata_error *err);
void fs_builder_free(struct builder *b);
int fs_builder_nomem(struct builder *b);
/* Fails with libarchive's message for @a, prefixed by the layer's name. */
int fs_builder_archive_failed(struct builder *b, struct archive *a, enum strata_errcode code);
/* Adds the member @ae, whose header @a has just read (and, for a sparse
 * file, whose data it reads to map the runs). */
int fs_builder_add_entry(struct builder *b, struct archive *a, struct archive_entry *ae);
/* Makes the hard link @heir the holder of @old's data and attributes
 * (@old is being replaced or is gone); the caller repoints other links. */
void fs_builder_take_over(struct builder *b, uint32_t heir, uint32_t old);
/* After the last entry: says how many warnings were left unsaid. */
void fs_builder_warn_summary(struct builder *b);
/* Numbers the tree and writes the index file through a temp file. */
int fs_builder_write(struct builder *b, const struct ix_source_id *src, uint32_t compression,
                     bool has_copy, const char *path);

#endif
