/* SPDX-License-Identifier: MIT */
/*
 * The inode table (inode.c): lookup reference counting, growth of the
 * sharded hash table, and concurrent get/forget.  Run it under ASan too: a
 * double free or a lost inode shows there as an error or a leak.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "union.h"
#include "testlib.h"

static struct inode_table table;

/* Parents that are not in the table (as the root is not): no reference
 * is counted on them. */
#define NO_PARENT 0xFEEDFACE12345ULL
static struct inode *stubs[16];
static int n_stubs;

static const struct inode *stub(uint64_t ino)
{
	ck_assert_int_lt(n_stubs, 16);
	stubs[n_stubs] = fs_inode_new(ino, 1, S_IFDIR, NULL, 0);
	ck_assert_ptr_nonnull(stubs[n_stubs]);
	return stubs[n_stubs++];
}

static const struct inode *stub_none(void);

static void setup(void)
{
	ck_assert_int_eq(fs_inode_table_init(&table), 0);
	stub_none(); /* made before any thread needs it */
}

static void teardown(void)
{
	fs_inode_table_destroy(&table);
	while (n_stubs > 0)
		fs_inode_free(stubs[--n_stubs]);
}

static void slab_audit(struct inode_table *t);

/* Every inode in the table, checked for consistency: each shard's count is
 * its chains' length.  Returns the total. */
static size_t table_count(struct inode_table *t)
{
	size_t total = 0;

	for (int i = 0; i < INODE_SHARDS; i++) {
		struct inode_shard *s = &t->shards[i];
		size_t n = 0;

		pthread_mutex_lock(&s->lock);
		ck_assert_uint_ge(s->n_buckets, 64);
		ck_assert_uint_eq(s->n_buckets & (s->n_buckets - 1), 0);
		for (size_t b = 0; b < s->n_buckets; b++)
			for (struct inode *in = s->buckets[b]; in; in = in->hash_next) {
				ck_assert_uint_ge(in->nlookup, 1);
				n++;
			}
		ck_assert_uint_eq(n, s->count);
		pthread_mutex_unlock(&s->lock);
		total += n;
	}
	slab_audit(t);
	return total;
}

/* The inodes in the table with number @ino (there must be at most one). */
static struct inode *table_find(struct inode_table *t, uint64_t ino, int *copies)
{
	struct inode *found = NULL;

	*copies = 0;
	for (int i = 0; i < INODE_SHARDS; i++) {
		struct inode_shard *s = &t->shards[i];

		for (size_t b = 0; b < s->n_buckets; b++)
			for (struct inode *in = s->buckets[b]; in; in = in->hash_next)
				if (in->ino == ino) {
					found = in;
					(*copies)++;
				}
	}
	return found;
}

/*
 * Inodes of one source come from per-shard slabs (mmapped chunks carved
 * into slots, freed slots on a list), which ASan does not watch.  So the
 * test audits them: every slot ever carved is either live in the table or
 * on the free list, exactly once.  A double free shows as a slot listed
 * twice (or live and free at once), a lost one as a slot in neither.
 * White-box: the slot size mirrors inode.c's SLAB_INODE_SIZE; the chunk
 * size is read off the current chunk.
 */
#define SLOT_SIZE (sizeof(struct inode) + sizeof(struct union_src))

/* inode.c's chunk header: a chunk starts with the link to the next one. */
struct chunk_hdr {
	struct chunk_hdr *next;
};

static struct chunk_hdr *first_chunk(const struct inode_shard *s)
{
	return (struct chunk_hdr *)(void *)s->slabs;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return (x > y) - (x < y);
}

static void slab_audit(struct inode_table *t)
{
	for (int i = 0; i < INODE_SHARDS; i++) {
		struct inode_shard *s = &t->shards[i];
		size_t chunk, carved = 0, n = 0, cap;
		void **seen;

		if (!s->slabs) {
			ck_assert_ptr_null(s->slab_free);
			continue;
		}
		chunk = (size_t)(s->slab_end - (char *)s->slabs);
		ck_assert_uint_ge(chunk, 4096);
		for (struct chunk_hdr *c = first_chunk(s); c; c = c->next) {
			char *first = (char *)c + sizeof(struct inode);
			char *end = c == first_chunk(s) ? s->slab_next : (char *)c + chunk;

			carved += (size_t)(end - first) / SLOT_SIZE;
			if (c != first_chunk(s)) /* a full chunk: no room for one more slot */
				ck_assert_uint_lt((size_t)((char *)c + chunk - end), SLOT_SIZE);
		}
		cap = carved + 1;
		seen = malloc(cap * sizeof(*seen));
		ck_assert_ptr_nonnull(seen);
		for (size_t b = 0; b < s->n_buckets; b++)
			for (struct inode *in = s->buckets[b]; in; in = in->hash_next)
				if (in->n_srcs == 1) {
					ck_assert_msg(n < carved,
					              "shard %d: more live slab inodes than slots",
					              i);
					seen[n++] = in;
				}
		for (struct inode *in = s->gone; in; in = in->hash_next)
			if (in->n_srcs == 1) {
				ck_assert_msg(n < carved, "shard %d: gone list too long", i);
				seen[n++] = in;
			}
		for (struct inode *in = s->slab_free; in; in = in->hash_next) {
			ck_assert_msg(n < carved,
			              "shard %d: free list longer than the slots carved "
			              "(a double free makes it a cycle)",
			              i);
			seen[n++] = in;
		}
		qsort(seen, n, sizeof(*seen), cmp_ptr);
		for (size_t k = 1; k < n; k++)
			ck_assert_msg(seen[k] != seen[k - 1],
			              "shard %d: slot %p is twice among live and free inodes", i,
			              seen[k]);
		ck_assert_msg(n == carved,
		              "shard %d: %zu slots carved, %zu live or free (lost: %zd)", i, carved,
		              n, (ssize_t)(carved - n));
		/* every slot lies in a chunk, on a slot boundary */
		for (size_t k = 0; k < n; k++) {
			bool inside = false;

			for (struct chunk_hdr *c = first_chunk(s); c && !inside; c = c->next) {
				char *first = (char *)c + sizeof(struct inode), *p = seen[k];

				inside = p >= first && p < (char *)c + chunk &&
				         (size_t)(p - first) % SLOT_SIZE == 0;
			}
			ck_assert_msg(inside, "shard %d: slot %p is not in a chunk", i, seen[k]);
		}
		free(seen);
	}
}

static const struct inode *stub_none(void)
{
	static struct inode *none;

	if (!none)
		none = fs_inode_new(NO_PARENT, 1, S_IFDIR, NULL, 0); /* lives to the end */
	return none;
}

/* One source (a file, from a slab) for odd numbers, two (a merged
 * directory, from malloc) for even ones: both allocators are exercised. */
static uint32_t n_srcs_of(uint64_t ino)
{
	return ino % 2 ? 1 : 2;
}

static struct inode *get(uint64_t ino, uint32_t mode)
{
	struct union_src srcs[2] = {{1, ino}, {0, ~ino}};
	struct inode *in = fs_inode_table_get(&table, ino, stub_none(), mode, srcs, n_srcs_of(ino));

	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(in->ino, ino);
	ck_assert_uint_eq(in->n_srcs, n_srcs_of(ino));
	ck_assert_uint_eq(in->srcs[0].node, ino);
	return in;
}

START_TEST(test_get_forget)
{
	struct union_src srcs[3] = {{2, 20}, {1, 10}, {0, 5}};
	struct inode *a, *b;
	int copies;

	a = fs_inode_table_get(&table, 42, stub(7), S_IFDIR | 0755, srcs, 3);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->ino, 42);
	ck_assert_uint_eq(a->parent_ino, 7);
	ck_assert_uint_eq(a->mode, S_IFDIR | 0755);
	ck_assert_uint_eq(a->nlookup, 1);
	ck_assert_uint_eq(a->n_srcs, 3);
	ck_assert_ptr_null(atomic_load(&a->dirlist));
	srcs[0].node = 999; /* the inode has its own copy */
	ck_assert_uint_eq(a->srcs[0].layer, 2);
	ck_assert_uint_eq(a->srcs[0].node, 20);
	ck_assert_uint_eq(a->srcs[2].node, 5);
	ck_assert_uint_eq(table_count(&table), 1);

	/* found again: same inode, first attributes kept, one more reference */
	b = fs_inode_table_get(&table, 42, stub(8), S_IFREG, srcs, 1);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->nlookup, 2);
	ck_assert_uint_eq(a->mode, S_IFDIR | 0755);
	ck_assert_uint_eq(a->parent_ino, 7);
	ck_assert_uint_eq(a->n_srcs, 3);
	ck_assert_uint_eq(table_count(&table), 1);

	fs_inode_table_forget(&table, 42, 1);
	ck_assert_uint_eq(a->nlookup, 1);
	ck_assert_ptr_eq(table_find(&table, 42, &copies), a);
	b = fs_inode_table_get(&table, 42, stub(0), 0, NULL, 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->nlookup, 2);

	/* all references at once: gone */
	fs_inode_table_forget(&table, 42, 2);
	ck_assert_uint_eq(table_count(&table), 0);
	ck_assert_ptr_null(table_find(&table, 42, &copies));

	/* a new inode for the same number */
	a = fs_inode_table_get(&table, 42, stub(9), S_IFLNK | 0777, srcs, 1);
	ck_assert_uint_eq(a->nlookup, 1);
	ck_assert_uint_eq(a->mode, S_IFLNK | 0777);
	ck_assert_uint_eq(a->parent_ino, 9);
	ck_assert_uint_eq(a->n_srcs, 1);
	ck_assert_uint_eq(a->srcs[0].node, 999);

	/* forgetting more than was looked up frees it too (the kernel's count
	 * is the truth) */
	fs_inode_table_forget(&table, 42, 5);
	ck_assert_uint_eq(table_count(&table), 0);
}
END_TEST

/* Numbers that differ only in high bits, zero, and the extremes. */
START_TEST(test_odd_numbers)
{
	static const uint64_t inos[] = {0,
	                                1,
	                                2,
	                                64,
	                                128,
	                                1ULL << 40,
	                                (1ULL << 40) | 64,
	                                (2ULL << 40) | 1,
	                                UINT64_MAX,
	                                UINT64_MAX - 64,
	                                0x8000000000000000ULL};
	enum { N = sizeof(inos) / sizeof(inos[0]) };
	struct inode *in[N];
	int copies;

	for (int i = 0; i < N; i++)
		in[i] = get(inos[i], S_IFREG);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_eq(get(inos[i], S_IFREG), in[i]);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(in[i], in[j]);
	}
	ck_assert_uint_eq(table_count(&table), N);
	for (int i = 0; i < N; i += 2)
		fs_inode_table_forget(&table, inos[i], 2);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_eq(table_find(&table, inos[i], &copies), i % 2 ? in[i] : NULL);
		ck_assert_int_eq(copies, i % 2);
	}
	for (int i = 1; i < N; i += 2) {
		fs_inode_table_forget(&table, inos[i], 1);
		ck_assert_uint_eq(in[i]->nlookup, 1);
		fs_inode_table_forget(&table, inos[i], 1);
	}
	ck_assert_uint_eq(table_count(&table), 0);
}
END_TEST

/* Many inodes: every shard grows, and every inode is still found, and
 * forgotten, from its new bucket. */
START_TEST(test_many_grow)
{
	enum { N = 200000 };
	struct inode **in = calloc(N, sizeof(*in));
	uint64_t ino;
	int copies;

	ck_assert_ptr_nonnull(in);
	for (uint64_t i = 0; i < N; i++) {
		ino = i * 0x9E3779B97F4A7C15ULL; /* spread, distinct */
		in[i] = get(ino, S_IFREG | 0644);
		ck_assert_uint_eq(in[i]->nlookup, 1);
	}
	ck_assert_uint_eq(table_count(&table), N);
	for (int s = 0; s < INODE_SHARDS; s++) {
		ck_assert_uint_gt(table.shards[s].n_buckets, 64);
		ck_assert_uint_le(table.shards[s].count, table.shards[s].n_buckets);
	}
	for (uint64_t i = 0; i < N; i++)
		ck_assert_ptr_eq(get(i * 0x9E3779B97F4A7C15ULL, 0), in[i]);
	/* drop one reference of all, the second of every third */
	for (uint64_t i = 0; i < N; i++)
		fs_inode_table_forget(&table, i * 0x9E3779B97F4A7C15ULL, 1);
	ck_assert_uint_eq(table_count(&table), N);
	for (uint64_t i = 0; i < N; i += 3) {
		fs_inode_table_forget(&table, i * 0x9E3779B97F4A7C15ULL, 1);
		in[i] = NULL;
	}
	ck_assert_uint_eq(table_count(&table), N - (N + 2) / 3);
	for (uint64_t i = 0; i < N; i += 997) {
		struct inode *f = table_find(&table, i * 0x9E3779B97F4A7C15ULL, &copies);

		ck_assert_ptr_eq(f, in[i]);
		ck_assert_int_eq(copies, in[i] ? 1 : 0);
	}
	/* the rest goes at teardown (fs_inode_table_destroy frees it) */
	free(in);
}
END_TEST

/* Numbers that all land in one shard: long chains and several growths. */
START_TEST(test_one_shard)
{
	enum { N = 5000 };
	struct inode **in = calloc(N, sizeof(*in));
	size_t found = 0;
	int target = -1;

	/* find numbers in one shard by watching counts */
	for (uint64_t ino = 1, n = 0; n < N; ino++) {
		size_t before[INODE_SHARDS];
		struct inode *x;
		int grew = -1;

		for (int s = 0; s < INODE_SHARDS; s++)
			before[s] = table.shards[s].count;
		x = get(ino, S_IFREG);
		for (int s = 0; s < INODE_SHARDS; s++)
			if (table.shards[s].count != before[s])
				grew = s;
		ck_assert_int_ge(grew, 0);
		if (target < 0)
			target = grew;
		if (grew == target)
			in[n++] = x;
		else
			fs_inode_table_forget(&table, x->ino, 1);
	}
	ck_assert_uint_eq(table.shards[target].count, N);
	ck_assert_uint_ge(table.shards[target].n_buckets, 4096);
	ck_assert_uint_eq(table_count(&table), N);
	for (size_t i = 0; i < N; i++)
		found += get(in[i]->ino, 0) == in[i];
	ck_assert_uint_eq(found, N);
	for (size_t i = 0; i < N; i++)
		fs_inode_table_forget(&table, in[i]->ino, 2);
	ck_assert_uint_eq(table_count(&table), 0);
	for (size_t b = 0; b < table.shards[target].n_buckets; b++)
		ck_assert_ptr_null(table.shards[target].buckets[b]);
	free(in);
}
END_TEST

/* A directory's listing goes with its inode. */
START_TEST(test_dirlist_freed)
{
	struct inode *d;

	for (uint64_t ino = 76; ino < 80; ino++) {
		struct dirlist *dl = malloc(sizeof(*dl) + 3 * sizeof(dl->ent[0]));

		d = get(ino, S_IFDIR | 0755);
		dl->n = 3;
		atomic_store(&d->dirlist, dl);
		if (ino < 78) /* forgotten, or left to destroy: LeakSanitizer checks */
			fs_inode_table_forget(&table, d->ino, 1);
	}
	ck_assert_uint_eq(table_count(&table), 2);
	d = fs_inode_new(1, 1, S_IFDIR, (struct union_src[1]){{0, 0}}, 0);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->nlookup, 0);
	ck_assert_uint_eq(d->n_srcs, 0);
	fs_inode_free(d);
	fs_inode_free(NULL);
}
END_TEST

/* Inodes left in the table are freed by destroy (LeakSanitizer checks). */
START_TEST(test_destroy_frees)
{
	struct union_src big[UNION_MAX_LAYERS];

	for (uint32_t i = 0; i < UNION_MAX_LAYERS; i++)
		big[i] = (struct union_src){UNION_MAX_LAYERS - 1 - i, i};
	for (uint64_t i = 0; i < 1000; i++) {
		struct inode *in =
		    fs_inode_table_get(&table, i, stub_none(), S_IFDIR, big, UNION_MAX_LAYERS);

		ck_assert_uint_eq(in->srcs[UNION_MAX_LAYERS - 1].node, UNION_MAX_LAYERS - 1);
	}
	for (uint64_t i = 1000; i < 3000; i++) /* and from the slabs */
		get(i, S_IFREG);
	ck_assert_uint_eq(table_count(&table), 3000);
}
END_TEST

/* ---- concurrency ---- */

enum { THREADS = 8, RANGE = 300, OPS = 400000 };

struct worker {
	int id;
	uint64_t held[RANGE];
	struct inode *ptr[RANGE];
	uint64_t rng;
	pthread_barrier_t *bar;
	char failure[256];
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define WFAIL(w, ...)                                                                              \
	do {                                                                                       \
		if (!(w)->failure[0])                                                              \
			snprintf((w)->failure, sizeof((w)->failure), __VA_ARGS__);                 \
	} while (0)

static void *work(void *p)
{
	struct worker *w = p;

	pthread_barrier_wait(w->bar);
	for (int op = 0; op < OPS; op++) {
		uint64_t r = next_rand(&w->rng);
		/* skewed, so some numbers are hot and shared by all threads */
		uint64_t ino = (r >> 8) % (r % 4 ? 16 : RANGE);

		if (w->held[ino] && (r >> 40) % 2) {
			uint64_t n = 1 + (r >> 41) % w->held[ino];

			fs_inode_table_forget(&table, ino, n);
			w->held[ino] -= n;
			if (!w->held[ino])
				w->ptr[ino] = NULL;
		} else {
			struct union_src s[2] = {{1, ino}, {0, ino}};
			struct inode *in = fs_inode_table_get(
			    &table, ino, stub_none(), S_IFREG | (uint32_t)ino, s, n_srcs_of(ino));

			if (!in) {
				WFAIL(w, "get(%llu) failed", (unsigned long long)ino);
				break;
			}
			/* While we hold a reference, the inode cannot change. */
			if (w->held[ino] && in != w->ptr[ino])
				WFAIL(w, "ino %llu: another inode while a reference is held",
				      (unsigned long long)ino);
			if (in->ino != ino || in->srcs[0].node != ino ||
			    in->n_srcs != n_srcs_of(ino) || in->mode != (S_IFREG | (uint32_t)ino))
				WFAIL(w, "ino %llu: got inode %llu", (unsigned long long)ino,
				      (unsigned long long)in->ino);
			w->ptr[ino] = in;
			w->held[ino]++;
		}
	}
	return NULL;
}

static void *release(void *p)
{
	struct worker *w = p;

	pthread_barrier_wait(w->bar);
	for (int ino = 0; ino < RANGE; ino++)
		if (w->held[ino]) {
			/* in two steps, to race more forgets against each other */
			if (w->held[ino] > 1)
				fs_inode_table_forget(&table, (uint64_t)ino, w->held[ino] - 1);
			fs_inode_table_forget(&table, (uint64_t)ino, 1);
			w->held[ino] = 0;
		}
	return NULL;
}

START_TEST(test_concurrent)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t bar;
	size_t live = 0;

	pthread_barrier_init(&bar, NULL, THREADS);
	for (int t = 0; t < THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].id = t;
		w[t].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
		w[t].bar = &bar;
		ck_assert_int_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_msg(!w[t].failure[0], "thread %d: %s", t, w[t].failure);
	}
	/* Quiet now: each number's count is the sum of what the threads hold. */
	for (uint64_t ino = 0; ino < RANGE; ino++) {
		uint64_t sum = 0;
		int copies;
		struct inode *in = table_find(&table, ino, &copies);

		for (int t = 0; t < THREADS; t++)
			sum += w[t].held[ino];
		ck_assert_int_eq(copies, sum ? 1 : 0);
		if (sum) {
			live++;
			ck_assert_uint_eq(in->nlookup, sum);
			for (int t = 0; t < THREADS; t++)
				if (w[t].held[ino])
					ck_assert_ptr_eq(w[t].ptr[ino], in);
		}
	}
	ck_assert_uint_eq(table_count(&table), live);
	ck_assert_uint_gt(live, 0);

	for (int t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, release, &w[t]), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&bar);
	ck_assert_uint_eq(table_count(&table), 0);
	for (int s = 0; s < INODE_SHARDS; s++)
		for (size_t b = 0; b < table.shards[s].n_buckets; b++)
			ck_assert_ptr_null(table.shards[s].buckets[b]);
}
END_TEST

/* get and forget of one number only, from all threads: the hottest race
 * between freeing an inode and finding it. */
static void *pingpong(void *p)
{
	struct worker *w = p;

	pthread_barrier_wait(w->bar);
	for (int op = 0; op < OPS; op++) {
		uint64_t ino = 4 + (uint64_t)(op % 2); /* a malloc'd and a slab inode */
		struct union_src s[2] = {{1, ino}, {0, ino}};
		struct inode *in =
		    fs_inode_table_get(&table, ino, stub_none(), S_IFREG, s, n_srcs_of(ino));

		if (!in || in->ino != ino || in->srcs[0].node != ino ||
		    in->n_srcs != n_srcs_of(ino)) {
			WFAIL(w, "bad inode at op %d", op);
			break;
		}
		fs_inode_table_forget(&table, ino, 1);
	}
	return NULL;
}

START_TEST(test_concurrent_pingpong)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t bar;

	pthread_barrier_init(&bar, NULL, THREADS);
	for (int t = 0; t < THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].bar = &bar;
		ck_assert_int_eq(pthread_create(&th[t], NULL, pingpong, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_msg(!w[t].failure[0], "thread %d: %s", t, w[t].failure);
	}
	pthread_barrier_destroy(&bar);
	ck_assert_uint_eq(table_count(&table), 0);
}
END_TEST

/* An entry holds a reference on its parent's: a file handle may give the
 * kernel a child without its parents, and the child still needs them. */
START_TEST(test_parent_refs)
{
	struct union_src src = {0, 1};
	struct inode *d, *e, *c;
	int copies;

	d = fs_inode_table_get(&table, 100, stub_none(), S_IFDIR, &src, 1);
	e = fs_inode_table_get(&table, 102, stub_none(), S_IFDIR, &src, 1);
	c = fs_inode_table_get(&table, 101, d, S_IFREG, &src, 1);
	ck_assert_uint_eq(d->nlookup, 2);
	ck_assert_uint_eq(c->parent_ino, 100);
	/* found again in the same directory: no second parent reference */
	ck_assert_ptr_eq(fs_inode_table_get(&table, 101, d, S_IFREG, &src, 1), c);
	ck_assert_uint_eq(d->nlookup, 2);
	fs_inode_table_forget(&table, 101, 1);

	/* moved: the reference moves with it */
	fs_inode_table_reparent(&table, c, e);
	ck_assert_uint_eq(c->parent_ino, 102);
	ck_assert_uint_eq(d->nlookup, 1);
	ck_assert_uint_eq(e->nlookup, 2);

	/* the kernel forgets the parent first: it stays for the child */
	fs_inode_table_forget(&table, 102, 1);
	ck_assert_ptr_eq(table_find(&table, 102, &copies), e);
	ck_assert_ptr_eq(fs_inode_table_find(&table, 102), e);
	ck_assert_ptr_eq(fs_inode_table_hold(&table, 102), e);
	ck_assert_uint_eq(e->nlookup, 2);
	fs_inode_table_forget(&table, 102, 1);
	/* and goes with it */
	fs_inode_table_forget(&table, 101, 1);
	ck_assert_ptr_null(table_find(&table, 102, &copies));
	ck_assert_ptr_null(table_find(&table, 101, &copies));
	fs_inode_table_forget(&table, 100, 1);
	ck_assert_uint_eq(table_count(&table), 0);
}
END_TEST

/* A gone object's number taken by a new one: the node id names the new
 * inode, with the references of both, and both are freed with it. */
START_TEST(test_gone_replaced)
{
	struct union_src two[2] = {{1, 5}, {0, 5}}, one = {0, 6};
	struct inode *d, *old, *new;
	int copies;

	d = fs_inode_table_get(&table, 200, stub_none(), S_IFDIR, &one, 1);
	old = fs_inode_table_get(&table, 201, d, S_IFDIR, two, 2);
	ck_assert_ptr_eq(fs_inode_table_get(&table, 201, d, S_IFDIR, two, 2), old);
	ck_assert_uint_eq(d->nlookup, 2);

	fs_inode_table_unhash(&table, old);
	ck_assert_uint_eq(d->nlookup, 1); /* a gone one lets go of its parent */
	ck_assert_ptr_null(fs_inode_table_find(&table, 201));
	ck_assert_ptr_null(fs_inode_table_hold(&table, 201));
	ck_assert_ptr_eq(fs_inode_table_node(&table, 201), old);
	ck_assert_ptr_null(table_find(&table, 201, &copies));
	fs_inode_table_unhash(&table, old); /* twice: no second release */
	ck_assert_uint_eq(d->nlookup, 1);
	/* a gone inode moved by a rename holds no parent either */
	fs_inode_table_reparent(&table, old, stub_none());
	ck_assert_uint_eq(d->nlookup, 1);
	fs_inode_table_reparent(&table, old, d);
	ck_assert_uint_eq(d->nlookup, 1);

	new = fs_inode_table_get(&table, 201, d, S_IFREG, &one, 1);
	ck_assert_ptr_ne(new, old);
	ck_assert_uint_eq(new->nlookup, 3);
	ck_assert_uint_eq(old->nlookup, 0);
	ck_assert_uint_eq(new->mode, S_IFREG);
	ck_assert_ptr_eq(fs_inode_table_node(&table, 201), new);
	ck_assert_ptr_eq(fs_inode_table_find(&table, 201), new);
	ck_assert_uint_eq(d->nlookup, 2);
	ck_assert_uint_eq(table_count(&table), 2);

	/* gone too, then a third: the references move on again */
	fs_inode_table_unhash(&table, new);
	ck_assert_uint_eq(d->nlookup, 1);
	ck_assert_ptr_eq(fs_inode_table_node(&table, 201), new);
	fs_inode_table_forget(&table, 201, 1);
	ck_assert_uint_eq(new->nlookup, 2);
	ck_assert_uint_eq(fs_inode_table_get(&table, 201, d, S_IFREG, &one, 1)->nlookup, 3);
	ck_assert_uint_eq(d->nlookup, 2);

	fs_inode_table_forget(&table, 201, 2);
	ck_assert_ptr_nonnull(table_find(&table, 201, &copies));
	fs_inode_table_forget(&table, 201, 1); /* all three go (ASan and the slab audit see) */
	ck_assert_ptr_null(fs_inode_table_node(&table, 201));
	ck_assert_ptr_null(table.shards[0].gone);
	ck_assert_uint_eq(d->nlookup, 1);
	fs_inode_table_forget(&table, 200, 1);
	ck_assert_uint_eq(table_count(&table), 0);
	for (int i = 0; i < INODE_SHARDS; i++)
		ck_assert_ptr_null(table.shards[i].gone);
}
END_TEST

/* A gone inode the kernel forgets: freed from the gone list. */
START_TEST(test_gone_forgotten)
{
	struct union_src one = {0, 6};
	struct inode *f = fs_inode_table_get(&table, 301, stub_none(), S_IFREG, &one, 1);

	ck_assert_ptr_eq(fs_inode_table_get(&table, 301, stub_none(), S_IFREG, &one, 1), f);
	fs_inode_table_unhash(&table, f);
	fs_inode_table_forget(&table, 301, 1);
	ck_assert_ptr_eq(fs_inode_table_node(&table, 301), f);
	fs_inode_table_forget(&table, 301, 1);
	ck_assert_ptr_null(fs_inode_table_node(&table, 301));
	ck_assert_uint_eq(table_count(&table), 0);
}
END_TEST

/* Where forgotten upper objects were (export.c): kept when an inode with
 * a name of its own is freed, dropped when it is gone, bounded. */
START_TEST(test_records)
{
	struct union_src one = {0, 6};
	char name[NAME_MAX + 1];
	uint64_t parent = 0;
	struct inode *d, *f;

	d = fs_inode_table_get(&table, 400, stub_none(), S_IFDIR, &one, 1);
	f = fs_inode_table_get(&table, 401, d, S_IFREG, &one, 1);
	f->name = strdup("born");
	fs_inode_table_forget(&table, 401, 1);
	ck_assert(fs_export_recall(table.records, 401, &parent, name));
	ck_assert_uint_eq(parent, 400);
	ck_assert_str_eq(name, "born");
	ck_assert(!fs_export_recall(table.records, 400, &parent, name)); /* no name: lower */

	/* found again, renamed, forgotten: the record follows */
	f = fs_inode_table_get(&table, 401, stub_none(), S_IFREG, &one, 1);
	f->name = strdup("moved");
	fs_inode_table_forget(&table, 401, 1);
	ck_assert(fs_export_recall(table.records, 401, &parent, name));
	ck_assert_uint_eq(parent, NO_PARENT);
	ck_assert_str_eq(name, "moved");

	/* gone: forgotten with it */
	f = fs_inode_table_get(&table, 401, d, S_IFREG, &one, 1);
	fs_inode_table_unhash(&table, f);
	ck_assert(!fs_export_recall(table.records, 401, &parent, name));
	fs_inode_table_forget(&table, 401, 1);
	ck_assert(!fs_export_recall(table.records, 401, &parent, name));
	fs_inode_table_forget(&table, 400, 1);

	/* bounded: the oldest go first */
	for (uint64_t i = 0; i < EXPORT_RECORDS + 10; i++)
		fs_export_remember(table.records, 1000 + i, 7, strdup("n"));
	for (uint64_t i = 0; i < 10; i++)
		ck_assert(!fs_export_recall(table.records, 1000 + i, &parent, name));
	for (uint64_t i = 10; i < EXPORT_RECORDS + 10; i += 997)
		ck_assert(fs_export_recall(table.records, 1000 + i, &parent, name));
	/* one remembered again moves to the young end */
	fs_export_remember(table.records, 1010, 8, strdup("again"));
	fs_export_remember(table.records, 5, 7, strdup("n"));
	ck_assert(fs_export_recall(table.records, 1010, &parent, name));
	ck_assert_str_eq(name, "again");
	ck_assert(!fs_export_recall(table.records, 1011, &parent, name));
	fs_export_unremember(table.records, 1012);
	ck_assert(!fs_export_recall(table.records, 1012, &parent, name));
	ck_assert(fs_export_recall(table.records, 1013, &parent, name));
	/* remembering one again kept the rest of its hash chain (once lost,
	 * and the bound then dropped a record it could not find: a crash) */
	for (uint64_t i = 13; i < EXPORT_RECORDS + 10; i++)
		ck_assert(fs_export_recall(table.records, 1000 + i, &parent, name));
	for (uint64_t i = 0; i < EXPORT_RECORDS; i++)
		fs_export_remember(table.records, 1000 + i, 9, strdup("m"));
	ck_assert(fs_export_recall(table.records, 1000 + EXPORT_RECORDS - 1, &parent, name));
	ck_assert_uint_eq(table_count(&table), 0); /* the rest goes with the table */
}
END_TEST

static Suite *inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("inode");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_get_forget);
	tcase_add_test(tc, test_odd_numbers);
	tcase_add_test(tc, test_many_grow);
	tcase_add_test(tc, test_one_shard);
	tcase_add_test(tc, test_dirlist_freed);
	tcase_add_test(tc, test_destroy_frees);
	tcase_add_test(tc, test_parent_refs);
	tcase_add_test(tc, test_gone_replaced);
	tcase_add_test(tc, test_gone_forgotten);
	tcase_add_test(tc, test_records);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_concurrent_pingpong);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(inode_suite());
}
