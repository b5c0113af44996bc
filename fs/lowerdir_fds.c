/* SPDX-License-Identifier: MIT */
/*
 * The fds a lazily read directory layer reads through, cached per thread
 * (lowerdir.h).  Per thread, because an fd handed out by map() is read
 * after map() returns (spliced by libfuse's reply): a shared cache could
 * close it under the reader, and its number be reused for another file.
 * A thread only evicts in its own next call, when it is done with the fd.
 * At most FD_SLOTS fds a thread (FUSE workers are bounded by --threads);
 * a thread's fds are closed when it exits, a layer's when it closes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "lowerdir.h"

#define FD_SLOTS 16

struct fd_slot {
	const void *owner;
	uint64_t key;
	int fd;
	uint32_t used; /* tick of the last use: the oldest goes */
};

struct fd_cache {
	pthread_mutex_t lock; /* the owner thread's, and a closing layer's */
	struct fd_slot s[FD_SLOTS];
	uint32_t tick;
	struct fd_cache *next, *prev;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fd_cache *all; /* every thread's, for fs_ld_fd_drop */

static void cache_free(void *p)
{
	struct fd_cache *c = p;

	pthread_mutex_lock(&all_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&all_lock);
	for (int i = 0; i < FD_SLOTS; i++)
		if (c->s[i].fd >= 0)
			close(c->s[i].fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void cache_key_make(void)
{
	(void)pthread_key_create(&cache_key, cache_free);
}

static struct fd_cache *my_cache(void)
{
	struct fd_cache *c;

	pthread_once(&cache_once, cache_key_make);
	c = pthread_getspecific(cache_key);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int i = 0; i < FD_SLOTS; i++)
		c->s[i].fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	if (pthread_setspecific(cache_key, c)) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&all_lock);
	c->next = all;
	if (all)
		all->prev = c;
	all = c;
	pthread_mutex_unlock(&all_lock);
	return c;
}

/* The slot of (@owner, @key), or -1. */
static int find(const struct fd_cache *c, const void *owner, uint64_t key)
{
	for (int i = 0; i < FD_SLOTS; i++)
		if (c->s[i].fd >= 0 && c->s[i].owner == owner && c->s[i].key == key)
			return i;
	return -1;
}

static int victim(const struct fd_cache *c)
{
	int v = 0;

	for (int i = 0; i < FD_SLOTS; i++) {
		if (c->s[i].fd < 0)
			return i;
		if (c->s[i].used < c->s[v].used)
			v = i;
	}
	return v;
}

int fs_ld_fd(const void *owner, uint64_t key, int (*open)(void *ctx), void *ctx)
{
	struct fd_cache *c = my_cache();
	int i, fd;

	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	i = find(c, owner, key);
	fd = i >= 0 ? c->s[i].fd : -1;
	if (i >= 0)
		c->s[i].used = ++c->tick;
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		return fd;
	/* Unlocked: @open may itself take an fd from this cache (a file's
	 * directory). */
	fd = open(ctx);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	i = victim(c);
	if (c->s[i].fd >= 0)
		close(c->s[i].fd);
	c->s[i] = (struct fd_slot){owner, key, fd, ++c->tick};
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void fs_ld_fd_drop(const void *owner)
{
	pthread_mutex_lock(&all_lock);
	for (struct fd_cache *c = all; c; c = c->next) {
		pthread_mutex_lock(&c->lock);
		for (int i = 0; i < FD_SLOTS; i++) {
			if (c->s[i].fd < 0 || c->s[i].owner != owner)
				continue;
			close(c->s[i].fd);
			c->s[i].fd = -1;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&all_lock);
}
