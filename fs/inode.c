/* SPDX-License-Identifier: MIT */
/*
 * The inode table: finds an inode by its stable number, counting the
 * kernel's references.  Sharded by number so concurrent lookups of different
 * names rarely meet on a lock; getattr, read and readdir never take one.
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

int fs_inode_table_init(struct inode_table *t)
{
	memset(t, 0, sizeof(*t));
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

				inode_release(t, in);
				if (in->n_srcs != 1)
					free(in);
				in = next;
			}
		}
		while (s->slabs) {
			struct slab_chunk *next = s->slabs->next;

			munmap(s->slabs, SLAB_CHUNK);
			s->slabs = next;
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
}

struct inode *fs_inode_new(uint64_t ino, uint64_t parent_ino, uint32_t mode,
                           const struct union_src *srcs, uint32_t n_srcs)
{
	struct inode *in = malloc(sizeof(*in) + n_srcs * sizeof(in->srcs[0]));

	if (in)
		inode_init(in, ino, parent_ino, mode, srcs, n_srcs);
	return in;
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

struct inode *fs_inode_table_get(struct inode_table *t, uint64_t ino, uint64_t parent_ino,
                                 uint32_t mode, const struct union_src *srcs, uint32_t n_srcs)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode *in;
	size_t b;

	pthread_mutex_lock(&s->lock);
	b = (h / INODE_SHARDS) & (s->n_buckets - 1);
	for (in = s->buckets[b]; in; in = in->hash_next)
		if (in->ino == ino)
			goto found;
	in = n_srcs == 1 ? slab_alloc(s) : malloc(sizeof(*in) + n_srcs * sizeof(in->srcs[0]));
	if (!in)
		goto out;
	inode_init(in, ino, parent_ino, mode, srcs, n_srcs);
	in->hash_next = s->buckets[b];
	s->buckets[b] = in;
	if (++s->count > s->n_buckets)
		shard_grow(s);
found:
	in->nlookup++;
out:
	pthread_mutex_unlock(&s->lock);
	return in;
}

struct inode *fs_inode_table_find(struct inode_table *t, uint64_t ino)
{
	uint64_t h = mix(ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode *in;

	pthread_mutex_lock(&s->lock);
	for (in = s->buckets[(h / INODE_SHARDS) & (s->n_buckets - 1)]; in; in = in->hash_next)
		if (in->ino == ino)
			break;
	pthread_mutex_unlock(&s->lock);
	return in;
}

void fs_inode_table_unhash(struct inode_table *t, struct inode *in)
{
	uint64_t h = mix(in->ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode **pp;

	pthread_mutex_lock(&s->lock);
	pp = &s->buckets[(h / INODE_SHARDS) & (s->n_buckets - 1)];
	while (*pp && *pp != in)
		pp = &(*pp)->hash_next;
	if (*pp) {
		*pp = in->hash_next;
		in->hash_next = NULL;
		s->count--;
	}
	pthread_mutex_unlock(&s->lock);
}

void fs_inode_table_forget(struct inode_table *t, struct inode *in, uint64_t n)
{
	uint64_t h = mix(in->ino);
	struct inode_shard *s = shard_of(t, h);
	struct inode **pp;

	pthread_mutex_lock(&s->lock);
	if (in->nlookup > n) {
		in->nlookup -= n;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pp = &s->buckets[(h / INODE_SHARDS) & (s->n_buckets - 1)];
	while (*pp && *pp != in)
		pp = &(*pp)->hash_next;
	if (*pp) { /* not there if it was unhashed */
		*pp = in->hash_next;
		s->count--;
	}
	inode_release(t, in);
	if (in->n_srcs == 1)
		slab_release(s, in);
	else
		free(in);
	pthread_mutex_unlock(&s->lock);
}
