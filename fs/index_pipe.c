/* SPDX-License-Identifier: MIT */
/*
 * Decompression ahead of the tar reader (index_pipe.h): a ring of a few
 * buffers between one producing thread and one reader.  The reader holds
 * one buffer at a time, until its next call; the producer fills the
 * others.  An error ends the stream where it happened, after the bytes
 * before it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_pipe.h"

#define SLOTS 4

struct slot {
	unsigned char *data;
	size_t len, cap;
};

struct ix_pipe {
	ix_produce_fn produce;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct slot slot[SLOTS];
	unsigned filled;   /* slots produced, ever */
	unsigned taken;    /* slots the reader has been given, ever */
	bool reader_holds; /* slot (taken - 1) is still the reader's */
	bool ended;        /* the producer gave its last slot (end or error) */
	bool stop;         /* the reader wants no more */
	int err;           /* after the last slot: 0 (the end) or an errno */
	char msg[256];
};

/* The producer's next buffer, copied into @s: false at the end or on an
 * error (p->err, p->msg). */
static bool produce_into(struct ix_pipe *p, struct slot *s)
{
	const void *buf;
	size_t size;
	int err = p->produce(p->ctx, &buf, &size, p->msg, sizeof(p->msg));

	if (err || size == 0) {
		p->err = err;
		return false;
	}
	if (size > s->cap) {
		unsigned char *d = realloc(s->data, size);

		if (!d) {
			p->err = ENOMEM;
			snprintf(p->msg, sizeof(p->msg), "out of memory");
			return false;
		}
		s->data = d;
		s->cap = size;
	}
	memcpy(s->data, buf, size);
	s->len = size;
	return true;
}

static void *producer(void *arg)
{
	struct ix_pipe *p = arg;
	bool more = true;

	pthread_mutex_lock(&p->lock);
	while (more) {
		/* A slot is free when neither waiting to be read nor held. */
		while (!p->stop && p->filled - p->taken + p->reader_holds >= SLOTS)
			pthread_cond_wait(&p->changed, &p->lock);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->lock);
		more = produce_into(p, &p->slot[p->filled % SLOTS]);
		pthread_mutex_lock(&p->lock);
		if (more)
			p->filled++;
		pthread_cond_broadcast(&p->changed);
	}
	p->ended = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct ix_pipe *fs_ix_pipe_start(ix_produce_fn produce, void *ctx)
{
	struct ix_pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->produce = produce;
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	if (pthread_create(&p->thread, NULL, producer, p) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->changed);
		free(p);
		return NULL;
	}
	return p;
}

int fs_ix_pipe_next(struct ix_pipe *p, const void **buf, size_t *size, char *msg, size_t msg_size)
{
	int err = 0;

	pthread_mutex_lock(&p->lock);
	p->reader_holds = false; /* the one given last time is free again */
	pthread_cond_broadcast(&p->changed);
	while (p->taken == p->filled && !p->ended)
		pthread_cond_wait(&p->changed, &p->lock);
	if (p->taken < p->filled) {
		struct slot *s = &p->slot[p->taken++ % SLOTS];

		p->reader_holds = true;
		*buf = s->data;
		*size = s->len;
	} else {
		*size = 0;
		err = p->err;
		if (err)
			snprintf(msg, msg_size, "%s", p->msg);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void fs_ix_pipe_end(struct ix_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	for (int i = 0; i < SLOTS; i++)
		free(p->slot[i].data);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	free(p);
}
