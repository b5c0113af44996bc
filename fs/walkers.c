/* SPDX-License-Identifier: MIT */
/*
 * READDIRPLUS with or without attributes, chosen per reader.
 *
 * The kernel always asks for READDIRPLUS (ll.c): an entry answered with
 * its attributes makes the kernel instantiate a dentry and an inode for
 * it, and the daemon an inode too; one answered with node id 0 is a name
 * and a type only (the kernel's fuse_direntplus_link skips it).  A
 * names-only walk (`find | wc -l`, `du --inodes`, shell globs) wants the
 * latter: at 100k entries 0.12 s instead of 0.43 s cold.  A walk that
 * stats every entry (`find -printf %s`, `ls -l`, `rsync`) wants the
 * former: without it each stat is a LOOKUP round trip (2.9 s instead of
 * 0.8 s).  The kernel's own adaptive mode (READDIRPLUS_AUTO) cannot tell:
 * it gives attributes after the first batch only when a child was looked
 * up between two batches, and fts-style walkers read a whole directory
 * before they stat any of it.
 *
 * So each reader (by pid) is watched.  A new reader is taken for a
 * stat-heavy one (a one-shot `ls -l` lists one directory: 14 ms for 1,000
 * entries, 30 ms if it had to look each up).  Its second listing, and then
 * every 4th, 8th, ... 64th while it stays stat-heavy, is a probe: the
 * first batch with attributes, the rest as bare names; if the reader then
 * looks up at least half of those, it stays stat-heavy, else its listings
 * are bare from then on (the first 16 entries of each still with
 * attributes), each a probe that can show it changed.  Kernel 6.18 asks
 * for up to 32 KiB a batch: a whole first batch with attributes was ~200
 * inodes per directory, and at 100 k entries in 316 directories two
 * thirds of a names-only walk (cold find 0.32 s; with 16, 0.13 s, erofs
 * 0.10 s).
 *
 * The kernel caches listings (read-only unions never see OPENDIR), and a
 * cached listing of bare names would make a later stat-heavy walker pay a
 * LOOKUP per entry (1.8 s instead of 0.2 s for 100k entries after a
 * `find | wc -l`): a bare listing its reader did not then look up has its
 * directory's cache dropped (FUSE_NOTIFY_INVAL_INODE, from a thread of
 * ours: never from a request's own path), so the next reader comes here
 * and is judged.  One it looked up stays: the kernel holds every entry.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "walkers.h"

#define N_WALKERS   32
#define PROBE_LIMIT 64
#define N_INVAL     256 /* directories waiting for their cache to go */
/* Entries with attributes at the start of a names-only reader's listing:
 * enough for a reader that stats a few (ls --color), few enough that a
 * walk of a million names instantiates 2 % of them, not 20 %. */
#define NAMES_FIRST_ATTRS 16

struct walker {
	pid_t pid;
	bool stat_heavy;
	fuse_ino_t probe_dir; /* the listing given as names, being watched */
	uint64_t names;       /* entries given there without attributes */
	uint64_t hits;        /* of which the reader then looked up */
	unsigned listings;    /* since the last probe */
	unsigned probe_every; /* a stat-heavy walker's probe interval */
	uint64_t used;        /* for replacement: the oldest goes */
};

struct walkers {
	pthread_mutex_t lock;
	struct walker w[N_WALKERS];
	/* Each walker's probe_dir, readable without the lock: a lookup
	 * (every one the kernel sends) takes the lock only when its parent
	 * is a directory being watched. */
	_Atomic fuse_ino_t probing[N_WALKERS];
	uint64_t clock;
	/* Bare listings whose kernel cache must go, and who drops it. */
	struct fuse_session *se;
	fuse_ino_t inval[N_INVAL];
	unsigned n_inval;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop;
};

struct walkers *fs_walkers_new(void)
{
	struct walkers *ws = calloc(1, sizeof(*ws));

	if (ws) {
		pthread_mutex_init(&ws->lock, NULL);
		pthread_cond_init(&ws->wake, NULL);
	}
	return ws;
}

void fs_walkers_free(struct walkers *ws)
{
	if (ws) {
		fs_walkers_stop(ws);
		pthread_cond_destroy(&ws->wake);
		pthread_mutex_destroy(&ws->lock);
		free(ws);
	}
}

void fs_walkers_set_session(struct walkers *ws, struct fuse_session *se)
{
	if (ws)
		ws->se = se;
}

static void *invalidator(void *arg)
{
	struct walkers *ws = arg;

	pthread_mutex_lock(&ws->lock);
	while (!ws->stop) {
		if (ws->n_inval == 0) {
			pthread_cond_wait(&ws->wake, &ws->lock);
			continue;
		}
		fuse_ino_t ino = ws->inval[--ws->n_inval];

		pthread_mutex_unlock(&ws->lock);
		/* ENOENT (forgotten since) and ENOSYS (old kernel): nothing to do. */
		(void)fuse_lowlevel_notify_inval_inode(ws->se, ino, 0, 0);
		pthread_mutex_lock(&ws->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

void fs_walkers_stop(struct walkers *ws)
{
	bool joined;

	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stop = true;
	joined = ws->started;
	ws->started = false;
	pthread_cond_signal(&ws->wake);
	pthread_mutex_unlock(&ws->lock);
	if (joined)
		pthread_join(ws->thread, NULL);
}

/* Under the lock. */
static void queue_inval(struct walkers *ws, fuse_ino_t dir)
{
	if (!ws->se)
		return;
	/* Started here, in the daemon: after fuse_daemonize's fork. */
	if (!ws->started && !ws->stop)
		ws->started = pthread_create(&ws->thread, NULL, invalidator, ws) == 0;
	if (ws->started && ws->n_inval < N_INVAL) /* full: that cache stays */
		ws->inval[ws->n_inval++] = dir;
	pthread_cond_signal(&ws->wake);
}

void fs_walkers_listing_ended(struct walkers *ws, pid_t pid, fuse_ino_t dir)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	/* A names-only reader's listing goes now; a probe of a stat-heavy
	 * one waits for its judgement: if it looked up what it listed, the
	 * kernel holds every entry already, and the cache may stay. */
	for (int i = 0; i < N_WALKERS; i++)
		if (ws->w[i].pid == pid && ws->w[i].probe_dir == dir && !ws->w[i].stat_heavy)
			queue_inval(ws, dir);
	pthread_mutex_unlock(&ws->lock);
}

/* Under the lock. */
static void set_probe(struct walkers *ws, struct walker *w, fuse_ino_t dir)
{
	w->probe_dir = dir;
	atomic_store_explicit(&ws->probing[w - ws->w], dir, memory_order_relaxed);
}

/* Under the lock: @pid's record, a fresh one in the oldest slot if none. */
static struct walker *walker_of(struct walkers *ws, pid_t pid)
{
	struct walker *oldest = &ws->w[0];

	for (int i = 0; i < N_WALKERS; i++) {
		if (ws->w[i].pid == pid && ws->w[i].used) { /* used 0: an empty slot */
			ws->w[i].used = ++ws->clock;
			return &ws->w[i];
		}
		if (ws->w[i].used < oldest->used)
			oldest = &ws->w[i];
	}
	memset(oldest, 0, sizeof(*oldest));
	set_probe(ws, oldest, 0);
	oldest->pid = pid;
	oldest->stat_heavy = true; /* until its second listing shows otherwise */
	oldest->probe_every = 2;
	oldest->used = ++ws->clock;
	return oldest;
}

/* Under the lock: what the last probe showed, once a new listing starts.
 * Bare names the reader did not look up leave the kernel's cache. */
static void judge_probe(struct walkers *ws, struct walker *w)
{
	bool looked = w->names > 0 && w->hits * 2 >= w->names;

	if (w->probe_dir && w->names > 0 && !looked && w->stat_heavy)
		queue_inval(ws, w->probe_dir);
	if (w->probe_dir && w->names > 0) {
		if (looked && w->stat_heavy && w->probe_every < PROBE_LIMIT)
			w->probe_every *= 2;
		if (looked != w->stat_heavy)
			w->probe_every = 2;
		w->stat_heavy = looked;
	}
	set_probe(ws, w, 0);
	w->names = w->hits = 0;
}

unsigned fs_walkers_attrs(struct walkers *ws, pid_t pid, fuse_ino_t dir, bool first_batch)
{
	struct walker *w;
	unsigned attrs;

	if (!ws)
		return WALKERS_ALL;
	pthread_mutex_lock(&ws->lock);
	w = walker_of(ws, pid);
	if (first_batch) {
		judge_probe(ws, w);
		if (!w->stat_heavy || ++w->listings >= w->probe_every) {
			w->listings = 0;
			set_probe(ws, w, dir);
		}
		/* A stat-heavy reader's first batch (its probe's too) in full; a
		 * names-only reader's with a few: a batch is up to 32 KiB, some
		 * 200 entries, each an inode the kernel and we would keep. */
		attrs = w->stat_heavy ? WALKERS_ALL : NAMES_FIRST_ATTRS;
	} else {
		attrs = w->probe_dir != dir ? WALKERS_ALL : 0;
	}
	pthread_mutex_unlock(&ws->lock);
	return attrs;
}

void fs_walkers_gave_names(struct walkers *ws, pid_t pid, fuse_ino_t dir, unsigned n)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < N_WALKERS; i++)
		if (ws->w[i].pid == pid && ws->w[i].probe_dir == dir)
			ws->w[i].names += n;
	pthread_mutex_unlock(&ws->lock);
}

void fs_walkers_lookup(struct walkers *ws, pid_t pid, fuse_ino_t parent)
{
	bool watched = false;

	if (!ws)
		return;
	for (int i = 0; i < N_WALKERS && !watched; i++)
		watched = atomic_load_explicit(&ws->probing[i], memory_order_relaxed) == parent;
	if (!watched)
		return; /* a count may be missed while a probe starts: a sample */
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < N_WALKERS; i++)
		if (ws->w[i].pid == pid && ws->w[i].probe_dir == parent)
			ws->w[i].hits++;
	pthread_mutex_unlock(&ws->lock);
}
