/* SPDX-License-Identifier: MIT */
/*
 * The cache of decompressed spans: one for the process, bounded in bytes,
 * least recently used first out.  A span is decoded as far as its readers
 * have asked (whole checked chunks), and its decoder is kept with it, so a
 * reader further on goes on where the last one stopped instead of starting
 * again at the checkpoint; one reader at a time extends a span, the others
 * wait for it.  A decoder that reaches its span's end is handed to the next
 * span: a sequential reader decodes each byte of a layer once.
 *
 * A failed decode is forgotten (the entry leaves the table, its waiters get
 * its errno, the next reader starts afresh).  Entries in use are never
 * freed, so the bound can be passed by what readers hold at once.  The lock
 * covers the table and the counters only, never a decode.
 */
#include <errno.h>
#include <pthread.h>

#include "gzip_seek.h"

#define N_BUCKETS 4096

struct span_ref {
	const void *owner;
	const struct span_ops *ops;
	uint32_t span;
	unsigned refs;
	bool busy;           /* a reader is extending it, outside the lock */
	bool hashed;         /* in the table (and in the LRU list) */
	int err;             /* its decode failed */
	unsigned char *data; /* len bytes, allocated at the first extension */
	size_t len, have;
	void *dec;                    /* where decoding goes on, or NULL */
	struct span_ref *hnext;       /* bucket chain */
	struct span_ref *prev, *next; /* LRU: head is the most recent */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t extended = PTHREAD_COND_INITIALIZER;
static struct span_ref *buckets[N_BUCKETS];
static struct span_ref *lru_head, *lru_tail;
static size_t total, limit = SPAN_CACHE_DEFAULT;

static struct span_ref **bucket(const void *owner, uint32_t span)
{
	uint64_t h = ((uint64_t)(uintptr_t)owner >> 4) * 0x9e3779b97f4a7c15ULL ^ span;

	return &buckets[(h ^ (h >> 29)) % N_BUCKETS];
}

static void lru_unlink(struct span_ref *e)
{
	*(e->prev ? &e->prev->next : &lru_head) = e->next;
	*(e->next ? &e->next->prev : &lru_tail) = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct span_ref *e)
{
	e->prev = NULL;
	e->next = lru_head;
	*(lru_head ? &lru_head->prev : &lru_tail) = e;
	lru_head = e;
}

static size_t cost(const struct span_ref *e)
{
	return (e->data ? e->len : 0) + (e->dec ? e->ops->dec_size : 0);
}

/* Under the lock: @e leaves the table; its memory goes with its last ref. */
static void unhash(struct span_ref *e)
{
	struct span_ref **p = bucket(e->owner, e->span);

	while (*p && *p != e)
		p = &(*p)->hnext;
	if (*p)
		*p = e->hnext;
	lru_unlink(e);
	e->hashed = false;
}

static void destroy(struct span_ref *e)
{
	total -= cost(e);
	if (e->dec)
		e->ops->free_dec(e->dec);
	free(e->data);
	free(e);
}

/* Under the lock: one reference less; an entry out of the table goes. */
static void unref(struct span_ref *e)
{
	if (--e->refs == 0 && !e->hashed)
		destroy(e);
}

/* Under the lock: the oldest spans nobody holds go while over the limit. */
static void evict(void)
{
	for (struct span_ref *e = lru_tail, *older; e && total > limit; e = older) {
		older = e->prev;
		if (e->refs == 0) {
			unhash(e);
			destroy(e);
		}
	}
}

static struct span_ref *find(const void *owner, uint32_t span)
{
	for (struct span_ref *e = *bucket(owner, span); e; e = e->hnext)
		if (e->owner == owner && e->span == span)
			return e;
	return NULL;
}

/* Under the lock: a new entry in the table, NULL out of memory. */
static struct span_ref *add(const void *owner, const struct span_ops *ops, uint32_t span)
{
	struct span_ref *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	*e = (struct span_ref){
	    .owner = owner, .ops = ops, .span = span, .hashed = true, .len = ops->len(owner, span)};
	e->hnext = *bucket(owner, span);
	*bucket(owner, span) = e;
	lru_push(e);
	return e;
}

/* Under the lock: @e is whole, and its decoder stands at the next span's
 * start; the next span takes it unless it has one, or is cached. */
static void hand_on(struct span_ref *e)
{
	void *dec = e->dec;
	struct span_ref *next;

	total -= e->ops->dec_size;
	e->dec = NULL;
	if (e->span + 1 < e->ops->count(e->owner) && !find(e->owner, e->span + 1) &&
	    (next = add(e->owner, e->ops, e->span + 1))) {
		next->dec = dec;
		total += e->ops->dec_size;
		return;
	}
	e->ops->free_dec(dec);
}

/* Under the lock, by @e's one extender: decodes on to @need, outside it. */
static int extend(struct span_ref *e, size_t need)
{
	size_t before = cost(e), now = e->have;
	int rc = 0;

	e->busy = true;
	pthread_mutex_unlock(&lock);
	if (!e->data && !(e->data = malloc(e->len ? e->len : 1)))
		rc = ENOMEM;
	if (rc == 0)
		rc = e->ops->extend(e->owner, e->span, &e->dec, e->data, e->have, need, &now);
	pthread_mutex_lock(&lock);
	total += cost(e) - before;
	e->busy = false;
	pthread_cond_broadcast(&extended);
	if (rc) {
		e->err = rc;
		if (e->hashed)
			unhash(e);
		return rc;
	}
	e->have = now;
	if (e->have == e->len && e->dec)
		hand_on(e);
	return 0;
}

int fs_span_get(const void *owner, const struct span_ops *ops, uint32_t span, size_t need,
                struct span_ref **ref)
{
	struct span_ref *e;
	int rc = 0;

	pthread_mutex_lock(&lock);
	e = find(owner, span);
	if (!e && !(e = add(owner, ops, span))) {
		pthread_mutex_unlock(&lock);
		return ENOMEM;
	}
	e->refs++;
	if (need > e->len)
		need = e->len;
	while (e->have < need && !e->err) {
		if (e->busy)
			pthread_cond_wait(&extended, &lock);
		else
			extend(e, need);
	}
	rc = e->err;
	if (rc) {
		unref(e);
		e = NULL;
	} else if (e->hashed) {
		lru_unlink(e);
		lru_push(e);
	}
	evict();
	pthread_mutex_unlock(&lock);
	*ref = e;
	return rc;
}

const unsigned char *fs_span_data(const struct span_ref *ref)
{
	return ref->data;
}

void fs_span_put(struct span_ref *ref)
{
	pthread_mutex_lock(&lock);
	unref(ref);
	evict();
	pthread_mutex_unlock(&lock);
}

void fs_span_cache_drop(const void *owner)
{
	pthread_mutex_lock(&lock);
	for (struct span_ref *e = lru_head, *next; e; e = next) {
		next = e->next;
		if (e->owner == owner && e->refs == 0) {
			unhash(e);
			destroy(e);
		}
	}
	pthread_mutex_unlock(&lock);
}

void fs_span_cache_set_limit(size_t bytes)
{
	pthread_mutex_lock(&lock);
	limit = bytes;
	evict();
	pthread_mutex_unlock(&lock);
}
