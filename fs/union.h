/* SPDX-License-Identifier: MIT */
/*
 * The union of layers (union.c) and its inode table (inode.c).  Private to
 * libstrata-fs.
 *
 * An inode is what the kernel holds a reference to: a name resolved through
 * the stack of layers, with the layers' nodes that make it up (one for a
 * file; for a directory, every layer that contributes, top first).  A lower
 * file nothing changed has no inode object until it changes: its node id
 * says what it is (stateless.c).  Inodes
 * are immutable once made, except for their lookup count and the merged
 * listing a directory builds on first readdir, so the read paths need no
 * lock of their own.  Only the table that finds inodes by identity (and by
 * node id, for every operation) is locked, in shards.
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
/* st_ino of objects born in the upper layer: this bit and the upper's
 * own number (union_lookup.c). */
#define UNION_UPPER_INO (1ULL << 63)

/* The visible children of a merged directory, in name order. */
struct dirlist {
	uint64_t n;
	struct union_src ent[];
};

struct inode {
	struct inode *hash_next;
	/* st_ino, also the table key and the FUSE node id: stable across
	 * mounts, and meaningful after the kernel forgot it (export.c). */
	uint64_t ino;
	/* For "..": the directory it was last found in, which it holds a
	 * reference on (the root holds none), so that an inode the kernel
	 * reached by a file handle, without its parents, still has them. */
	uint64_t parent_ino;
	/* The kernel's references to the node id, plus one per child
	 * inode; under the shard lock. */
	uint64_t nlookup;
	uint16_t mode; /* st_mode: type and permission bits fit in 16 */
	/* INODE_METACOPY, INODE_COPYING (changed under the inode's lock),
	 * INODE_BARE. */
	_Atomic uint16_t state;
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
	/* The FUSE generation (export.c): 0 for lower objects, and for upper
	 * ones while not yet known. */
	_Atomic uint32_t generation;
	/* A directory with UPPER_BY_NAME: its record in upper_fds.c. */
	uint32_t upper_slot;
	/* Its name in its parent, once it has an upper object (as last found
	 * or renamed to); NULL while it is srcs[0]'s own name.  Under the
	 * inode's lock. */
	char *name;
	struct union_src srcs[];
};

/* A mount holds one per directory, and per other object the kernel holds
 * that is not a lower file nothing changed (those have none: stateless.c):
 * 72 bytes since the export generation and the directory fd slot. */
_Static_assert(sizeof(struct inode) <= 72, "struct inode grew past 72 bytes");

#define INODE_SHARDS 64

struct inode_shard {
	pthread_mutex_t lock;
	struct inode **buckets;
	size_t n_buckets;
	size_t count;
	/* Inodes whose object is gone (fs_inode_table_unhash), linked by
	 * hash_next: the kernel may still hold their node ids. */
	struct inode *gone;
	/* Inodes of one source (every file) come from slabs of their own, so
	 * these long-lived objects do not pin the pages of malloc's heap that
	 * libfuse's per-request buffers churn through. */
	struct inode *slab_free;
	char *slab_next, *slab_end;
	struct slab_chunk *slabs;
};

struct upper_dirs;

/*
 * The kernel's references to node ids that no inode stands for.  A lower
 * file nothing changed needs no object: its node id names its layer and
 * entry (fs_union_ino), and every read answers from there.  What the table
 * still counts for it is the kernel's lookups, one 16-bit counter per entry
 * of its layer (slot ino >> 40; the base layer's is slot 0), so that an
 * object made for the id later (a copy-up) starts with the exact count and
 * is freed at the kernel's last forget like any other.  Allocated once,
 * before the first request (fs_union_stateless_init); untouched pages of
 * the arrays cost nothing.
 */
#define LOWER_REF_SLOTS (STACK_MAX + 1)

struct lower_refs {
	uint16_t *count;
	uint64_t n;
};

struct inode_table {
	struct inode_shard shards[INODE_SHARDS];
	/* Where upper objects were when the kernel forgot them (export.c). */
	struct export_records *records;
	/* Where directories' upper objects are recorded (upper_fds.c): an
	 * inode that goes drops its record.  NULL without an upper layer. */
	struct upper_dirs *upper_dirs;
	struct lower_refs lower[LOWER_REF_SLOTS];
};

/* upper_fds.c: directory @dir (UPPER_BY_NAME) goes, and its record. */
void fs_upper_dirs_drop(struct upper_dirs *d, struct inode *dir);

#define UNION_LOCKS   64
#define UPPER_BY_NAME (-2)

/* The upper file has the metadata alone: its data is still its origin's
 * (the lower file its st_ino names), read from there until the first
 * write copies it (copy_up.c). */
#define INODE_METACOPY ((uint16_t)0x1)
/* That data is being copied into the upper file: wait on the stripe's
 * condition variable. */
#define INODE_COPYING ((uint16_t)0x2)
/* Its upper object was made here without any xattr (no inherited ACL)
 * and none was set since: getxattr needs no system call.  The kernel asks
 * for security.capability before every write(2) and for ACLs at every
 * chmod and create; on an untar that was 7 failing calls a file. */
#define INODE_BARE ((uint16_t)0x4)

static inline bool inode_bare(const struct inode *in)
{
	return atomic_load_explicit(&in->state, memory_order_acquire) & INODE_BARE;
}

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
	/* Signalled, with its stripe's lock, when an inode stops COPYING. */
	pthread_cond_t copied[UNION_LOCKS];
	/* The mount's atime options, as mount(2)'s MS_* flags (atime.c). */
	unsigned long atime_flags;
	/* strata_union_set_metacopy: metadata-only copy-up allowed. */
	bool metacopy;
	/* strata_union_set_volatile: fsync and fsyncdir do nothing. */
	bool no_sync;
	/* strata_union_set_noacl: POSIX ACLs are not enforced by the kernel. */
	bool no_acl;
	/* strata_union_set_squash: every object shows this owner. */
	bool squash_uid_set, squash_gid_set;
	uid_t squash_uid;
	gid_t squash_gid;
	/* Read-only, and no layer holds an xattr: getxattr and listxattr
	 * answer ENOSYS, so the kernel stops asking (set at FUSE init). */
	bool no_xattrs;
	/* Directories' upper fds, a bounded cache (upper_fds.c). */
	struct upper_dirs *dirs;
	/* Readers of directory listings: who gets attributes (walkers.c). */
	struct walkers *walkers;
	/* Held exclusive while an upper object is renamed and its inode
	 * learns its new name; shared while names are followed to find an
	 * upper object again. */
	pthread_rwlock_t names_lock;
	/* Random, this mount's: origin records naming a growing layer's
	 * node carry it, since that number names another object after a
	 * remount (fs_union_origin_*). */
	uint64_t session;
};

static inline unsigned inode_stripe(const struct inode *in)
{
	return (unsigned)((in->ino * 0x9e3779b97f4a7c15ULL) >> 58);
}

static inline pthread_mutex_t *inode_lock(struct strata_union *u, const struct inode *in)
{
	return &u->locks[inode_stripe(in)];
}

static inline bool inode_metacopy(const struct inode *in)
{
	return atomic_load(&in->state) & INODE_METACOPY;
}

/* ---- inode.c ---- */
/*
 * The table holds one entry per node id (= st_ino), counting the kernel's
 * references to that id; an entry holds one on its parent's.  0 or ENOMEM.
 */
int fs_inode_table_init(struct inode_table *t);
void fs_inode_table_destroy(struct inode_table *t);
/* Finds the inode with @ino or makes it from @srcs, found in @parent
 * (which it then holds a reference on); takes one reference.  An inode
 * whose object is gone is replaced.  NULL on ENOMEM. */
struct inode *fs_inode_table_get(struct inode_table *t, uint64_t ino, const struct inode *parent,
                                 uint32_t mode, const struct union_src *srcs, uint32_t n_srcs);
/* Counters for the kernel's references to the ids of @n entries of the
 * layer numbered @slot (see struct lower_refs).  Before any request; 0 or
 * ENOMEM. */
int fs_inode_table_lower_init(struct inode_table *t, size_t slot, uint64_t n);
/* One more reference of the kernel to lower node id @ino, for which an
 * inode is not needed: true and *@in = the live inode that has it (its
 * count taken), or NULL (counted without one).  False when it must have an
 * inode (fs_inode_table_get): no counter for it, the counter full, or a
 * gone inode of that number still held. */
bool fs_inode_table_ref_lower(struct inode_table *t, uint64_t ino, struct inode **in);
/* The live inode of @ino, or one made from @src found in @parent for an id
 * the kernel holds without one (its count taken over from the counter,
 * none added).  NULL on ENOMEM, or if the kernel holds no such id. */
struct inode *fs_inode_table_promote(struct inode_table *t, uint64_t ino,
                                     const struct inode *parent, uint32_t mode,
                                     const struct union_src *src);
/* The inode with @ino if the kernel holds it and its object is not gone,
 * without taking a reference (a parent is held as long as its children). */
struct inode *fs_inode_table_find(struct inode_table *t, uint64_t ino);
/* The same with one more reference, for export.c.  NULL if none. */
struct inode *fs_inode_table_hold(struct inode_table *t, uint64_t ino);
/* The inode node id @ino names, gone or not: what every FUSE operation
 * but a lookup of "." acts on.  NULL if the table has none. */
struct inode *fs_inode_table_node(struct inode_table *t, uint64_t ino);
/* Marks @in gone (its object is, and its number may be reused by the next
 * one): lookups no longer find it; it lives on until the kernel forgets
 * it, and lets go of its parent now. */
void fs_inode_table_unhash(struct inode_table *t, struct inode *in);
/* @in was found in @dir: it holds its parent reference there from now on.
 * Under @in's lock (its name changes with it). */
void fs_inode_table_reparent(struct inode_table *t, struct inode *in, const struct inode *dir);
/* Drops @n references to node id @ino; at zero frees its inodes (telling
 * export.c where they were) and drops theirs on the parent.  An id without
 * an inode: its counter goes down. */
void fs_inode_table_forget(struct inode_table *t, uint64_t ino, uint64_t n);
struct inode *fs_inode_new(uint64_t ino, uint64_t parent_ino, uint32_t mode,
                           const struct union_src *srcs, uint32_t n_srcs);
void fs_inode_free(struct inode *in);

/* Room for an inode of one source, on the stack (stateless.c). */
union inode_tmp {
	struct inode in;
	unsigned char bytes[sizeof(struct inode) + sizeof(struct union_src)];
};

/* A temporary inode for lower id @ino, decoded to @src: what the table's
 * inode would be before anything changed it, its parent unknown (0).
 * Never in the table, nothing to free. */
struct inode *fs_inode_tmp(union inode_tmp *t, uint64_t ino, uint32_t mode,
                           const struct union_src *src);

/* ---- union.c ---- */

/* Resolves @name in directory @dir.  Returns 0 and fills @srcs/@n (top
 * first; *n ≤ n_layers), or ENOENT. */
int fs_union_resolve(const struct strata_union *u, const struct inode *dir, const char *name,
                     size_t len, struct union_src *srcs, uint32_t *n);
/* The stable st_ino of what @srcs make up. */
uint64_t fs_union_ino(const struct strata_union *u, const struct union_src *top);
/* The image layer (0 = lowest, not counting a base layer) and node an
 * st_ino of fs_union_ino names; false for other numbers (the root, the
 * base layer's, objects born in the upper). */
static inline bool union_ino_split(uint64_t ino, uint32_t *layer, uint64_t *node)
{
	uint64_t l = ino >> 40;

	if (l == 0 || l >= (UNION_BASE_INO >> 40))
		return false;
	*layer = (uint32_t)(l - 1);
	*node = ino & ((1ULL << 40) - 1);
	return true;
}

/* ---- stateless.c: lower files without inodes ---- */

/* The counters of the kernel's references to lower ids (struct
 * lower_refs); without them every lookup makes an inode.  0 or ENOMEM. */
int fs_union_stateless_init(struct strata_union *u);
/* The lower entry node id @ino names, if it may have no inode: a
 * non-directory's canonical entry. */
bool fs_union_ino_decode(const struct strata_union *u, uint64_t ino, struct union_src *src);
/* Whether @src (of @mode, resolved alone in @dir, with no upper object)
 * needs no inode: its layer directory is @dir's top source, whose id @dir
 * has, so that the inode made later finds @dir again by its layer. */
bool fs_union_stateless_ok(const struct strata_union *u, const struct inode *dir,
                           const struct union_src *src, uint32_t mode);

/* The lower file an st_ino names, for a file whose data is still there
 * (INODE_METACOPY): true, or false for numbers that name no layer's
 * regular file (objects born in the upper, the base layer's). */
bool fs_union_ino_src(const struct strata_union *u, uint64_t ino, struct union_src *src);

/* An origin record (upper.h) of st_ino @ino, @metacopy or not, into @v;
 * its size in bytes.  A number of a growing layer's node is tagged with
 * this mount's session. */
size_t fs_union_origin_make(const struct strata_union *u, uint64_t ino, bool metacopy,
                            uint64_t v[3]);
/* Whether the record @v of @size bytes holds an st_ino this mount may
 * give its object: not one from another mount that names a node of a
 * growing layer (which numbers its nodes as it finds them, so another
 * object may have that number now: a directory would show that one's
 * children). */
bool fs_union_origin_valid(const struct strata_union *u, const uint64_t *v, size_t size);
/* The FUSE generation of an object of st_ino @ino that has none of its
 * own (export.c): 0 for a number that holds across mounts, this mount's
 * for a growing layer's node (and an object copied up from one, which
 * keeps its number), so that a file handle made in another mount is
 * refused (ESTALE) rather than opening whatever has that number here. */
uint32_t fs_union_generation(const struct strata_union *u, uint64_t ino);
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

/* A layer found its metadata damaged after open (layer.h): lookups,
 * listings and attributes the union serves fail with EIO from then on.
 * What it served before stays right: each answer came from checked parts. */
static inline bool union_damaged(const struct strata_union *u)
{
	for (uint32_t i = 0; i < u->n_layers; i++)
		if (atomic_load_explicit(&u->layers[i]->damaged, memory_order_relaxed))
			return true;
	return false;
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

/* ---- export.c: file handles of forgotten inodes ---- */

struct export_records;

/* NULL on ENOMEM. */
struct export_records *fs_export_records_new(void);
void fs_export_records_free(struct export_records *r);
/* Node id @ino was last seen as @name (taken over) in @parent_ino. */
void fs_export_remember(struct export_records *r, uint64_t ino, uint64_t parent_ino, char *name);
/* Its object is gone. */
void fs_export_unremember(struct export_records *r, uint64_t ino);
/* Where @ino was (@name: NAME_MAX + 1 bytes); false if not remembered. */
bool fs_export_recall(struct export_records *r, uint64_t ino, uint64_t *parent_ino, char *name);
/* How many are kept, the oldest dropped first.  A record takes ~100 bytes
 * with a short name (48 and the name, each with malloc's overhead), 340
 * with a name of 255: 6 to 22 MiB at most. */
#define EXPORT_RECORDS 65536

#endif
