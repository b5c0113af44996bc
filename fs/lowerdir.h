/* SPDX-License-Identifier: MIT */
/*
 * The lazily read directory layer (layer_lowerdir.c): its pure parts,
 * which names are whiteouts and how a listing is ordered
 * (lowerdir_names.c), and the per-thread cache of the fds it reads
 * through (lowerdir_fds.c).
 */
#ifndef STRATA_LOWERDIR_H
#define STRATA_LOWERDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a name read from a lower directory is. */
enum ld_name {
	LD_NAME_PLAIN,    /* an entry, shown as it is */
	LD_NAME_WHITEOUT, /* ".wh.NAME": hides NAME below, is not shown */
	LD_NAME_OPAQUE,   /* ".wh..wh..opq": its directory is opaque */
	LD_NAME_SKIP,     /* ".", "..", other ".wh..wh." names, ".wh." alone */
};

enum ld_name fs_ld_name_kind(const char *name, size_t len);

/* Names ordered as layers order them: memcmp, the shorter first. */
int fs_ld_namecmp(const char *a, size_t alen, const char *b, size_t blen);

/* One entry of a listing being built; names are in one arena. */
struct ld_ent {
	uint32_t off, len; /* the shown name, in the arena */
	uint8_t type;      /* DT_* */
	bool whiteout;
};

/* Sorts a listing's entries by name and keeps one of each name: an object
 * wins over a whiteout of its own name (".wh.a" beside "a"), which only
 * another tool than overlayfs could have made.  The new count. */
size_t fs_ld_sort(struct ld_ent *e, size_t n, const char *arena);

/* Whether an opaque xattr's value says opaque ("y"; overlayfs' "x" of
 * newer kernels means something else). */
bool fs_ld_opaque_value(const char *v, ssize_t len);

/* Whether an xattr is the overlay's bookkeeping, never shown. */
bool fs_ld_private_xattr(const char *name);

/* An fd of @owner's object @key from this thread's cache, opened by
 * @open(@ctx) when missing.  Borrowed: valid until this thread's next
 * fs_ld_fd call (caches hold a few fds a thread, so reads from many
 * threads never share an offset or wait on each other).  -1 with errno. */
int fs_ld_fd(const void *owner, uint64_t key, int (*open)(void *ctx), void *ctx);
/* Closes every fd of @owner in every thread's cache (the layer's close,
 * when no other thread uses it). */
void fs_ld_fd_drop(const void *owner);

/* ---- the layer's own (layer_lowerdir.c, lowerdir_attr.c) ---- */

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "idmap.h"
#include "layer.h"

#define LD_CHUNK_BITS 14 /* nodes a chunk: 16384 */
#define LD_CHUNKS     (1u << 14)
#define LD_MAX_NODES  ((uint64_t)LD_CHUNKS << LD_CHUNK_BITS)
#define LD_LIST_LOCKS 64

/* A directory's listing: its children are nodes first..first+n-1, sorted. */
struct ld_dir {
	uint64_t first, n;
	bool opaque;
	char *names;    /* the children's names */
	char *redirect; /* a renamed directory of a strata upper used as a
	                 * lower: where its content continues below, or NULL */
};

/* What one stat (and readlink) said, kept for the layer's lifetime. */
struct ld_attr {
	struct stat st;
	bool gone;  /* the entry listed is no longer there */
	char *link; /* a symlink's target */
};

struct ld_xattrs {
	uint32_t n;
	struct {
		char *name;
		void *value;
		size_t size;
	} e[];
};

struct ld_node {
	_Atomic(const char *) name; /* NULL until the node is filled */
	uint64_t parent;
	uint32_t len;
	uint8_t type; /* DT_* from the listing */
	bool whiteout;
	_Atomic uint64_t canonical; /* LAYER_NONE until asked */
	_Atomic(struct ld_dir *) dir;
	_Atomic(struct ld_attr *) attr;
	_Atomic(struct ld_xattrs *) xattrs;
};

struct ld_link; /* lowerdir_attr.c */

struct lowerdir {
	struct strata_layer base;
	int root_fd;
	const char *override;       /* fuse-overlayfs' records here (meta_override.c) */
	const char *opaque_xattrs[3];
	size_t n_opaque_xattrs;
	_Atomic uint64_t reserved; /* node numbers given out */
	_Atomic(struct ld_node *) *chunks;
	pthread_mutex_t list_locks[LD_LIST_LOCKS]; /* one listing at a time a directory */
	pthread_mutex_t links_lock;                /* the hard link table */
	struct ld_link **links;
	size_t n_links, cap_links;
};

static inline struct lowerdir *ld_of(const struct strata_layer *l)
{
	return (struct lowerdir *)l;
}

static inline struct ld_node *ld_node(const struct lowerdir *d, uint64_t id)
{
	struct ld_node *c =
	    atomic_load_explicit(&d->chunks[id >> LD_CHUNK_BITS], memory_order_acquire);

	return &c[id & ((1u << LD_CHUNK_BITS) - 1)];
}

/* An fd of directory node @id (borrowed, fs_ld_fd), or -1 with errno. */
int fs_ld_dir_fd(struct lowerdir *d, uint64_t id);
const struct ld_dir *fs_ld_listing(struct lowerdir *d, uint64_t id);
const struct ld_attr *fs_ld_attr(struct lowerdir *d, uint64_t id);
void fs_ld_attr_free(struct ld_node *n);
void fs_ld_links_free(struct lowerdir *d);

uint64_t fs_ld_canonical(const struct strata_layer *l, uint64_t node);
uint64_t fs_ld_next_link(const struct strata_layer *l, uint64_t canonical, uint64_t after);
void fs_ld_stat(const struct strata_layer *l, uint64_t node, struct stat *st);
uint32_t fs_ld_mode(const struct strata_layer *l, uint64_t node);
const char *fs_ld_readlink(const struct strata_layer *l, uint64_t node, size_t *len);
bool fs_ld_xattr(const struct strata_layer *l, uint64_t node, uint32_t i, const char **name,
                 const void **value, size_t *size);
size_t fs_ld_map(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
                 struct layer_extent *ext, size_t max);
int fs_ld_read(const struct strata_layer *l, uint64_t off, void *buf, size_t len);

#endif
