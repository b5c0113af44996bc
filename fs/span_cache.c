/* SPDX-License-Identifier: MIT */
/*
 * The cache of decompressed spans: one for the process, bounded in bytes,
 * least recently used first out.  An entry being filled is in the table
 * already, so a second reader of the same span waits for the first one's
 * fill instead of decoding it again; a failed fill is forgotten, and its
 * waiters get its errno.  Entries in use are never freed, so the bound can
 * be passed by what readers hold at once.
 */
#include <errno.h>
#include <pthread.h>

#include "gzip_seek.h"

#define N_BUCKETS 4096

struct span_ref {
	const void *owner;
	uint32_t span;
	unsigned refs;
	bool loading;
	int err; /* the fill failed: the entry is out of the table */
	unsigned char *data;
	size_t len;
	struct span_ref *hnext;       /* bucket chain */
	struct span_ref *prev, *next; /* LRU: head is the most recent */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t filled = PTHREAD_COND_INITIALIZER;
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

static void unhash(struct span_ref *e)
{
	struct span_ref **p = bucket(e->owner, e->span);

	while (*p && *p != e)
		p = &(*p)->hnext;
	if (*p)
		*p = e->hnext;
}

static void drop(struct span_ref *e)
{
	unhash(e);
	lru_unlink(e);
	total -= e->len;
	free(e->data);
	free(e);
}

/* Under the lock: the oldest spans nobody holds go while over the limit. */
static void evict(void)
{
	struct span_ref *e = lru_tail;

	while (e && total > limit) {
		struct span_ref *older = e->prev;

		if (e->refs == 0)
			drop(e);
		e = older;
	}
}

static struct span_ref *find(const void *owner, uint32_t span)
{
	for (struct span_ref *e = *bucket(owner, span); e; e = e->hnext)
		if (e->owner == owner && e->span == span)
			return e;
	return NULL;
}

/* Under the lock, by the one who made @e: fills it outside the lock. */
static int fill_entry(struct span_ref *e, span_fill_fn fill, void *ctx)
{
	unsigned char *data;
	int rc;

	pthread_mutex_unlock(&lock);
	data = malloc(e->len ? e->len : 1);
	rc = data ? fill(ctx, data, e->len) : ENOMEM;
	pthread_mutex_lock(&lock);
	e->loading = false;
	pthread_cond_broadcast(&filled);
	if (rc) {
		free(data);
		unhash(e);
		e->err = rc;
		return rc;
	}
	e->data = data;
	total += e->len;
	lru_push(e);
	evict();
	return 0;
}

/* Under the lock: one reference less; the last of a failed entry frees it. */
static void unref(struct span_ref *e)
{
	if (--e->refs == 0 && e->err)
		free(e);
}

int fs_span_get(const void *owner, uint32_t span, size_t len, span_fill_fn fill, void *ctx,
                struct span_ref **ref)
{
	struct span_ref *e;
	int rc = 0;

	pthread_mutex_lock(&lock);
	e = find(owner, span);
	if (e) {
		e->refs++;
		while (e->loading)
			pthread_cond_wait(&filled, &lock);
		rc = e->err;
		if (rc == 0) {
			lru_unlink(e);
			lru_push(e);
		}
	} else if ((e = calloc(1, sizeof(*e)))) {
		*e = (struct span_ref){
		    .owner = owner, .span = span, .refs = 1, .loading = true, .len = len};
		e->hnext = *bucket(owner, span);
		*bucket(owner, span) = e;
		rc = fill_entry(e, fill, ctx);
	} else {
		rc = ENOMEM;
	}
	if (rc && e)
		unref(e);
	pthread_mutex_unlock(&lock);
	*ref = rc ? NULL : e;
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
		if (e->owner == owner && e->refs == 0)
			drop(e);
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
