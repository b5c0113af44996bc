/* SPDX-License-Identifier: MIT */
/*
 * The union of layers (union.c) and its inode table (inode.c).  Private to
 * libstrata-fs.
 *
 * An inode is what the kernel holds a reference to: a name resolved through
 * the stack of layers, with the layers' nodes that make it up (one for a
 * file; for a directory, every layer that contributes, top first).  Inodes
 * are immutable once made, except for their lookup count and the merged
 * listing a directory builds on first readdir, so the read paths need no
 * lock.  Only the table that finds inodes by identity is locked, in shards.
 *
 * Errors: as everything the FUSE ops call, functions here that can fail
 * return 0 or a positive errno (never -1 or a negative errno), except the
 * public strata_union_* ones, which follow strata-fs.h.
 */
#ifndef STRATA_UNION_H
#define STRATA_UNION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layer.h"
#include "stack.h"

#define UNION_MAX_LAYERS STACK_MAX
/* st_ino of the base layer's entries: above any layer number (< 2^10),
 * below the upper's bit 63. */
#define UNION_BASE_INO (0x7fffULL << 40)

/* The visible children of a merged directory, in name order. */
struct dirlist {
	uint64_t n;
	struct union_src ent[];
};

struct inode {
	struct inode *hash_next;
	uint64_t ino;        /* st_ino, also the table key: stable across mounts */
	uint64_t parent_ino; /* for ".." (directories have one parent) */
	uint64_t nlookup;    /* kernel references; under the shard lock */
	uint32_t mode;
	uint32_t n_srcs;
	_Atomic(struct dirlist *) dirlist;
	/* The upper layer's object: -1 while it has none; UPPER_BY_NAME once
	 * it has: a file is found by name in its parent's upper directory
	 * when needed (holding an fd per file ran out of descriptors on a
	 * 20,000-file untar), a directory through its record in the union's
	 * directory cache (upper_fds.c: holding one per directory ran out at
	 * 20,000 directories).  An O_PATH fd the inode holds: the root's, a
	 * temporary inode's, a file's that lost its last name.  Set once,
	 * never cleared while it lives. */
	_Atomic int upper_fd;
	/* A directory with UPPER_BY_NAME: its record in upper_fds.c. */
	uint32_t upper_slot;
	/* Its name in its parent when that is not srcs[0]'s own name (made or
	 * renamed in the upper layer); under the inode's lock. */
	char *name;
	struct union_src srcs[];
};

#define INODE_SHARDS 64

struct inode_shard {
	pthread_mutex_t lock;
	struct inode **buckets;
	size_t n_buckets;
	size_t count;
	/* Inodes of one source (every file) come from slabs of their own, so
	 * these long-lived objects do not pin the pages of malloc's heap that
	 * libfuse's per-request buffers churn through. */
	struct inode *slab_free;
	char *slab_next, *slab_end;
	struct slab_chunk *slabs;
};

struct upper_dirs;

struct inode_table {
	struct inode_shard shards[INODE_SHARDS];
	/* Where directories' upper objects are recorded (upper_fds.c): an
	 * inode that goes drops its record.  NULL without an upper layer. */
	struct upper_dirs *upper_dirs;
};

/* upper_fds.c: directory @dir (UPPER_BY_NAME) goes, and its record. */
void fs_upper_dirs_drop(struct upper_dirs *d, struct inode *dir);

#define UNION_LOCKS   64
#define UPPER_BY_NAME (-2)

static inline bool inode_in_upper(const struct inode *in)
{
	return atomic_load(&in->upper_fd) != -1;
}

struct strata_union {
	struct strata_layer **layers; /* lowest first */
	uint32_t n_layers;
	uint32_t n_base; /* layers[0..n_base): strata_union_set_base's */
	struct inode *root;
	struct inode_table table;
	uint64_t total_entries;
	uint64_t total_data;
	/* The writable upper layer (upper.c); -1 when the mount is read-only. */
	int upper_root;
	/* Copy-up and renames lock the inodes they change, by stripe. */
	pthread_mutex_t locks[UNION_LOCKS];
	/* Directories' upper fds, a bounded cache (upper_fds.c). */
	struct upper_dirs *dirs;
	/* Held exclusive while an upper object is renamed and its inode
	 * learns its new name; shared while names are followed to find an
	 * upper object again. */
	pthread_rwlock_t names_lock;
};

static inline pthread_mutex_t *inode_lock(struct strata_union *u, const struct inode *in)
{
	return &u->locks[(in->ino * 0x9e3779b97f4a7c15ULL) >> 58];
}

/* ---- inode.c ---- */
/* 0 or ENOMEM. */
int fs_inode_table_init(struct inode_table *t);
void fs_inode_table_destroy(struct inode_table *t);
/* Finds the inode with @ino or makes it from @srcs; takes one lookup
 * reference.  NULL on ENOMEM. */
struct inode *fs_inode_table_get(struct inode_table *t, uint64_t ino, uint64_t parent_ino,
                                 uint32_t mode, const struct union_src *srcs, uint32_t n_srcs);
/* The inode with @ino if the kernel holds it, without taking a reference
 * (a parent is held for as long as its children are). */
struct inode *fs_inode_table_find(struct inode_table *t, uint64_t ino);
/* Makes @in unfindable (its object is gone, and its number may be reused
 * by the next one); it lives on until the kernel forgets it. */
void fs_inode_table_unhash(struct inode_table *t, struct inode *in);
/* Drops @n lookup references; frees the inode at zero. */
void fs_inode_table_forget(struct inode_table *t, struct inode *in, uint64_t n);
struct inode *fs_inode_new(uint64_t ino, uint64_t parent_ino, uint32_t mode,
                           const struct union_src *srcs, uint32_t n_srcs);
void fs_inode_free(struct inode *in);

/* ---- union.c ---- */

/* Resolves @name in directory @dir.  Returns 0 and fills @srcs/@n (top
 * first; *n ≤ n_layers), or ENOENT. */
int fs_union_resolve(const struct strata_union *u, const struct inode *dir, const char *name,
                     size_t len, struct union_src *srcs, uint32_t *n);
/* The stable st_ino of what @srcs make up. */
uint64_t fs_union_ino(const struct strata_union *u, const struct union_src *top);
void fs_union_stat(const struct strata_union *u, const struct inode *in, struct stat *st);

/* Directory listing: entries [0, fs_union_dir_size) are the children (not "."
 * and ".."), in name order, each from the top-most layer that has it.  An
 * entry may be a whiteout, which the caller skips: positions stay stable for
 * telldir/seekdir either way.  fs_union_dir_size builds a merged directory's
 * listing once; a single-layer directory is listed straight from its layer. */
int fs_union_dir_size(const struct strata_union *u, struct inode *dir, uint64_t *n);
struct union_src fs_union_dir_entry(const struct strata_union *u, const struct inode *dir,
                                    uint64_t i);

/* The union's layers as the stack the union rules (stack.c) work on. */
static inline struct stack union_stack(const struct strata_union *u)
{
	return (struct stack){u->layers, u->n_layers};
}

static inline const struct strata_layer *union_layer(const struct strata_union *u,
                                                     const struct union_src *s)
{
	return u->layers[s->layer];
}

static inline uint32_t union_src_mode(const struct strata_union *u, const struct union_src *s)
{
	return union_layer(u, s)->ops->mode(union_layer(u, s), s->node);
}

#endif
