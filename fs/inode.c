/* SPDX-License-Identifier: MIT */
/*
 * The inode table: finds an inode by its stable number, which is also its
 * FUSE node id, counting the kernel's references to that id.  Sharded by
 * number so concurrent lookups of different names rarely meet on a lock.
 *
 * Node ids outlive the inodes (the kernel may ask for a forgotten one by a
 * file handle, export.c), so an entry keeps its parent: it holds a
 * reference on it, dropped when it is freed or its object is gone.
 *
 * An inode whose object is gone moves to its shard's gone list, where the
 * kernel's node id still finds it.  An object that takes its number (the
 * upper file system may give it again) gets a new inode in the table, and
 * the gone one's references move to it: the kernel counts references per
 * node id, whichever inode it took them for, and forgets them together.
 * The gone inode, left with none, is freed with the new one.
 *
 * A lower file nothing changed has no inode at all: the kernel's references
 * to its id are a counter of its layer's (struct lower_refs), under the
 * same shard lock as the id's inode would be, so that an id is counted in
 * one place at a time: by the counter until an inode is made for it, which
 * takes the count over, and by the inode from then on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "union.h"

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

#define SLAB_CHUNK      (64 * 1024)
#define SLAB_INODE_SIZE (sizeof(struct inode) + sizeof(struct union_src))

struct slab_chunk {
	struct slab_chunk *next;
};

static void inode_init(struct inode *in, uint64_t ino, uint64_t parent_ino, uint32_t mode,
                       const struct union_src *srcs, uint32_t n_srcs)
{
	in->hash_next = NULL;
	in->ino = ino;
	in->parent_ino = parent_ino;
	in->nlookup = 0;
	in->mode = mode;
	in->n_srcs = n_srcs;
	atomic_init(&in->dirlist, NULL);
	atomic_init(&in->upper_fd, -1);
	atomic_init(&in->state, 0);
	atomic_init(&in->generation, 0);
	in->upper_slot = 0;
	in->name = NULL;
	if (n_srcs)
		memcpy(in->srcs, srcs, n_srcs * sizeof(in->srcs[0]));
}

/* Under the shard lock. */
static struct inode *slab_alloc(struct inode_shard *s)
{
	struct inode *in = s->slab_free;

	if (in) {
		s->slab_free = in->hash_next;
		return in;
	}
	if (s->slab_end - s->slab_next < (ptrdiff_t)SLAB_INODE_SIZE) {
		struct slab_chunk *c = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE,
		                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			return NULL;
		c->next = s->slabs;
		s->slabs = c;
		s->slab_next = (char *)c + sizeof(struct inode); /* keeps alignment */
		s->slab_end = (char *)c + SLAB_CHUNK;
	}
	in = (struct inode *)s->slab_next;
	s->slab_next += SLAB_INODE_SIZE;
	return in;
}

static void slab_release(struct inode_shard *s, struct inode *in)
{
	in->hash_next = s->slab_free;
	s->slab_free = in;
}

/* What an inode owns besides its memory (@t: where it was; NULL for one
 * that was never in a table). */
static void inode_release(struct inode_table *t, struct inode *in)
{
	int fd = atomic_load(&in->upper_fd);

	free(atomic_load(&in->dirlist));
	free(in->name);
	if (fd >= 0)
		close(fd);
	else if (fd == UPPER_BY_NAME && S_ISDIR(in->mode) && t && t->upper_dirs)
		fs_upper_dirs_drop(t->upper_dirs, in);
}

/* Frees @in (a slab one back to @s, under its lock; with no shard, at
 * destruction, the slabs go whole). */
static void inode_free_in(struct inode_table *t, struct inode_shard *s, struct inode *in)
{
	inode_release(t, in);
	if (in->n_srcs != 1)
		free(in);
	else if (s)
		slab_release(s, in);
}

int fs_inode_table_init(struct inode_table *t)
{
	memset(t, 0, sizeof(*t));
	t->records = fs_export_records_new();
	if (!t->records)
		return ENOMEM;
	for (int i = 0; i < INODE_SHARDS; i++) {
		struct inode_shard *s = &t->shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->n_buckets = 64;
		s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
		if (!s->buckets)
			return ENOMEM;
	}
	return 0;
}

void fs_inode_table_destroy(struct inode_table *t)
{
	for (int i = 0; i < INODE_SHARDS; i++) {
		struct inode_shard *s = &t->shards[i];

		for (size_t b = 0; s->buckets && b < s->n_buckets; b++) {
			struct inode *in = s->buckets[b];

			while (in) {
				struct inode *next = in->hash_next;

				inode_free_in(t, NULL, in);
				in = next;
			}
		}
		while (s->gone) {
			struct inode *next = s->gone->hash_next;

			inode_free_in(t, NULL, s->gone);
			s->gone = next;
		}
		while (s->slabs) {
			struct slab_chunk *next = s->slabs->next;

			munmap(s->slabs, SLAB_CHUNK);
			s->slabs = next;
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	for (size_t i = 0; i < LOWER_REF_SLOTS; i++)
		free(t->lower[i].count);
	fs_export_records_free(t->records);
}

int fs_inode_table_lower_init(struct inode_table *t, size_t slot, uint64_t n)
{
	if (slot >= LOWER_REF_SLOTS || t->lower[slot].count)
		return 0;
	/* calloc maps large arrays fresh: a page is resident once used. */
	t->lower[slot].count = calloc(n ? n : 1, sizeof(uint16_t));
	if (!t->lower[slot].count)
		return ENOMEM;
	t->lower[slot].n = n;
	return 0;
}

/* The counter of lower node id @ino, or NULL when it has none. */
static uint16_t *lower_count(struct inode_table *t, uint64_t ino)
{
	uint64_t hi = ino >> 40, node = ino & ((1ULL << 40) - 1);
	size_t slot = hi == (UNION_BASE_INO >> 40) ? 0 : (size_t)hi;
	struct lower_refs *l;

	if (hi == 0 || slot >= LOWER_REF_SLOTS)
		return NULL;
	l = &t->lower[slot];
	return l->count && node < l->n ? &l->count[node] : NULL;
}

/* Whether the kernel holds lower id @ino without an inode.  Under the
 * shard lock. */
static bool lower_held(struct inode_table *t, uint64_t ino)
{
	uint16_t *c = lower_count(t, ino);

	return c && *c > 0;
}

/* The counter's references, taken over by an inode being made.  Under the
 * shard lock. */
static uint64_t lower_take(struct inode_table *t, uint64_t ino)
{
	uint16_t *c = lower_count(t, ino);
	uint64_t n = c ? *c : 0;

	if (c)
		*c = 0;
	return n;
}

struct inode *fs_inode_new(uint64_t ino, uint64_t parent_ino, uint32_t mode,
                           const struct union_src *srcs, uint32_t n_srcs)
{
	struct inode *in = malloc(sizeof(*in) + n_srcs * sizeof(in->srcs[0]));

	if (in)
		inode_init(in, ino, parent_ino, mode, srcs, n_srcs);
	return in;
}

struct inode *fs_inode_tmp(union inode_tmp *t, uint64_t ino, uint32_t mode,
                           const struct union_src *src)
{
	inode_init(&t->in, ino, 0, mode, src, 1);
	return &t->in;
}

void fs_inode_free(struct inode *in)
{
	if (!in)
		return;
	inode_release(NULL, in);
	free(in);
}

static struct inode_shard *shard_of(struct inode_table *t, uint64_t h)
{
	return &t->shards[h % INODE_SHARDS];
}

static void shard_grow(struct inode_shard *s)
{
	size_t n = s->n_buckets * 2;
	struct inode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* keep the longer chains; still correct */
	for (size_t b = 0; b < s->n_buckets; b++) {
		struct inode *in = s->buckets[b];

		while (in) {
			struct inode *next = in->hash_next;
			size_t nbk = (mix(in->ino) / INODE_SHARDS) & (n - 1);

			in->hash_next = nb[nbk];
			nb[nbk] = in;
			in = next;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = n;
}

/* The slot that points to @ino's entry, or the end of its chain.  Under
 * the shard lock. */
static struct inode **slot_of(struct inode_shard *s, uint64_t h, uint64_t ino)
{
	struct inode **pp = &s->buckets[(h / INODE_SHARDS) & (s->n_buckets - 1)];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->hash_next;
	return pp;
}

/* The slot that points to the gone inode of @ino that holds references
 * (at most one does), or the end of the list. */
static struct inode **gone_slot_of(struct inode_shard *s, uint64_t ino)
{
	struct inode **pp = &s->gone;

	while (*pp && ((*pp)->ino != ino || (*pp)->nlookup == 0))
		pp = &(*pp)->hash_next;
	return pp;
}

/* The slot of the inode node id @ino names: in the table, or gone. */
static struct inode **node_slot_of(struct inode_shard *s, uint64_t h, uint64_t ino)
{
	struct inode **pp = slot_of(s, h, ino);

	return *pp ? pp : gone_slot_of(s, ino);
}

/* Frees the gone inodes of @ino whose references moved to a new one. */
static void free_replaced(struct inode_table *t, struct inode_shard *s, uint64_t ino)
{
	struct inode **pp = &s->gone;

	while (*pp) {
		struct inode *in = *pp;

		if (in->ino == ino && in->nlookup == 0) {
			*pp = in->hash_next;
			inode_free_in(t, s, in);
		} else {
			pp = &in->hash_next;
		}
	}
}

/* One more reference to node id @ino (none to the root, which is not in
 * the table). */
static void table_ref(struct inode_table *t, uint64_t ino)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode *in;

	pthread_mutex_lock(&s->lock);
	in = *node_slot_of(s, h, ino);
	if (in)
		in->nlookup++;
	pthread_mutex_unlock(&s->lock);
}

/* The live inode of @ino with @refs more references, or one made from
 * @srcs found in @parent that takes over what the gone inode or the
 * counter of that number held, plus @refs (with none of those: NULL, an id
 * nobody holds). */
static struct inode *table_make(struct inode_table *t, uint64_t ino, const struct inode *parent,
                                uint32_t mode, const struct union_src *srcs, uint32_t n_srcs,
                                uint64_t refs)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode **pp, *gone, *in;

	pthread_mutex_lock(&s->lock);
	pp = slot_of(s, h, ino);
	if (*pp) {
		in = *pp;
		in->nlookup += refs;
		pthread_mutex_unlock(&s->lock);
		return in;
	}
	if (refs == 0 && !lower_held(t, ino)) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	in = n_srcs == 1 ? slab_alloc(s) : malloc(sizeof(*in) + n_srcs * sizeof(in->srcs[0]));
	if (!in) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	inode_init(in, ino, parent->ino, mode, srcs, n_srcs);
	in->nlookup = refs + lower_take(t, ino);
	gone = *gone_slot_of(s, ino);
	if (gone) { /* the kernel may hold the node id for the gone one still */
		in->nlookup += gone->nlookup;
		gone->nlookup = 0;
	}
	*pp = in;
	if (++s->count > s->n_buckets)
		shard_grow(s);
	pthread_mutex_unlock(&s->lock);
	/* Our reference keeps the new inode, the caller's the parent. */
	table_ref(t, parent->ino);
	return in;
}

struct inode *fs_inode_table_get(struct inode_table *t, uint64_t ino, const struct inode *parent,
                                 uint32_t mode, const struct union_src *srcs, uint32_t n_srcs)
{
	return table_make(t, ino, parent, mode, srcs, n_srcs, 1);
}

struct inode *fs_inode_table_promote(struct inode_table *t, uint64_t ino,
                                     const struct inode *parent, uint32_t mode,
                                     const struct union_src *src)
{
	return table_make(t, ino, parent, mode, src, 1, 0);
}

bool fs_inode_table_ref_lower(struct inode_table *t, uint64_t ino, struct inode **in)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	uint16_t *c = lower_count(t, ino);
	bool counted = true;

	pthread_mutex_lock(&s->lock);
	*in = *slot_of(s, h, ino);
	if (*in)
		(*in)->nlookup++;
	else if (c && *c < UINT16_MAX && !*gone_slot_of(s, ino))
		(*c)++;
	else
		counted = false;
	pthread_mutex_unlock(&s->lock);
	return counted;
}

static struct inode *table_lookup(struct inode_table *t, uint64_t ino, bool live, uint64_t ref)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode *in;

	pthread_mutex_lock(&s->lock);
	in = live ? *slot_of(s, h, ino) : *node_slot_of(s, h, ino);
	if (in)
		in->nlookup += ref;
	pthread_mutex_unlock(&s->lock);
	return in;
}

struct inode *fs_inode_table_find(struct inode_table *t, uint64_t ino)
{
	return table_lookup(t, ino, true, 0);
}

struct inode *fs_inode_table_hold(struct inode_table *t, uint64_t ino)
{
	return table_lookup(t, ino, true, 1);
}

struct inode *fs_inode_table_node(struct inode_table *t, uint64_t ino)
{
	return table_lookup(t, ino, false, 0);
}

/* Is @in in the table (not gone)?  Under the shard lock. */
static bool in_table(struct inode_shard *s, uint64_t h, const struct inode *in)
{
	return *slot_of(s, h, in->ino) == in;
}

void fs_inode_table_unhash(struct inode_table *t, struct inode *in)
{
	uint64_t h = mix(in->ino), parent = in->parent_ino;
	struct inode_shard *s = shard_of(t, h);
	bool was_in = false;

	pthread_mutex_lock(&s->lock);
	if (in_table(s, h, in)) {
		struct inode **pp = slot_of(s, h, in->ino);

		*pp = in->hash_next;
		s->count--;
		in->hash_next = s->gone;
		s->gone = in;
		parent = in->parent_ino;
		was_in = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (was_in) {
		fs_export_unremember(t->records, in->ino);
		fs_inode_table_forget(t, parent, 1);
	}
}

void fs_inode_table_reparent(struct inode_table *t, struct inode *in, const struct inode *dir)
{
	uint64_t h = mix(in->ino), old;
	struct inode_shard *s = shard_of(t, h);

	if (in->parent_ino == dir->ino)
		return;
	table_ref(t, dir->ino);
	pthread_mutex_lock(&s->lock);
	old = in->parent_ino;
	in->parent_ino = dir->ino;
	if (!in_table(s, h, in)) /* gone: it holds no parent, so neither the new one */
		old = dir->ino;
	pthread_mutex_unlock(&s->lock);
	fs_inode_table_forget(t, old, 1);
}

/*
 * Frees node id @ino's inodes when its count reaches zero, and so on up
 * the parents they held.  Where a live one was goes to export.c, by name
 * when it has one of its own (made, renamed or copied up in the upper):
 * the lower layers cannot say where such an object is.
 */
void fs_inode_table_forget(struct inode_table *t, uint64_t ino, uint64_t n)
{
	for (;;) {
		uint64_t h = mix(ino), parent;
		struct inode_shard *s = shard_of(t, h);
		struct inode **pp, *in;
		char *name = NULL;
		bool live;

		pthread_mutex_lock(&s->lock);
		pp = node_slot_of(s, h, ino);
		in = *pp;
		if (!in) {
			uint16_t *c = lower_count(t, ino);

			if (c) /* a lower id without an inode */
				*c = *c > n ? (uint16_t)(*c - n) : 0;
			pthread_mutex_unlock(&s->lock);
			return;
		}
		if (in->nlookup > n) {
			in->nlookup -= n;
			pthread_mutex_unlock(&s->lock);
			return;
		}
		live = in_table(s, h, in); /* a gone one let go of its parent */
		*pp = in->hash_next;
		parent = in->parent_ino;
		if (live) {
			s->count--;
			name = in->name;
			in->name = NULL;
		}
		inode_free_in(t, s, in);
		free_replaced(t, s, ino);
		pthread_mutex_unlock(&s->lock);
		if (!live)
			return;
		if (name)
			fs_export_remember(t->records, ino, parent, name);
		ino = parent;
		n = 1;
	}
}
