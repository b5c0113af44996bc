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
 * The kernel caches listings (read-only unions never see OPENDIR), so a
 * warm names-only walk is the kernel's alone; but a cached listing of
 * bare names makes a later stat-heavy walker pay a LOOKUP per entry (1.8 s
 * instead of 0.2 s for 100k entries after a `find | wc -l`).  So the
 * directories whose listing the kernel holds as bare names are kept in a
 * set, and lookups under them are counted: once a quarter of one such
 * listing's files are looked up (a stat-heavy walker reading the cache;
 * a names walker looks up only the directories it enters), every listing
 * of the set is dropped at once (FUSE_NOTIFY_INVAL_INODE, from a thread
 * of ours: never from a request's own path), so the walker pays lookups
 * in that one directory and comes here, to be judged, for the rest; a
 * listing asked for again before its turn to go is not dropped (the
 * kernel's copy is the new one).  A listing its reader looked up is not
 * in the set: the kernel holds every entry.  When the set is full, a new
 * bare listing is dropped at its end (a warm names walk then comes back
 * here for it).  /usr as a directory layer (158k entries): a warm `find`
 * 1.3-1.9 s → 0.24 s, no request; `find -printf` right after it 3.1 →
 * 2.1 s.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bare_listings.h"
#include "walkers.h"

#define N_WALKERS   32
#define PROBE_LIMIT 64
/* Listings to drop at once outside the set (it was full): more wait. */
#define N_INVAL 256
/* Entries with attributes at the start of a names-only reader's listing:
 * enough for a reader that stats a few (ls --color), few enough that a
 * walk of a million names instantiates 2 % of them, not 20 %. */
#define NAMES_FIRST_ATTRS 16
/* Entries with attributes at the start of a stat-heavy reader's probe
 * listing, the rest bare names to watch: what one 32 KiB batch held
 * before listings came in batches as large as the reader's buffer. */
#define PROBE_ATTRS 200

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
	/* Listings the kernel holds as bare names; how many, readable
	 * without the lock by every lookup (0: nothing to count). */
	struct bare_listings bare;
	_Atomic size_t n_held;
	/* Each walker's probe_dir, readable without the lock: a lookup
	 * (every one the kernel sends) takes the lock only when its parent
	 * is a directory being watched. */
	_Atomic fuse_ino_t probing[N_WALKERS];
	uint64_t clock;
	/* Listings whose kernel cache must go, and who drops them. */
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
		fs_bare_free(&ws->bare);
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
		fuse_ino_t ino =
		    ws->n_inval ? ws->inval[--ws->n_inval] : fs_bare_next_drop(&ws->bare);

		if (!ino) {
			pthread_cond_wait(&ws->wake, &ws->lock);
			continue;
		}
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

/* Under the lock: the invalidator at work (started here, in the daemon:
 * after fuse_daemonize's fork); false without a session (unit tests). */
static bool wake_invalidator(struct walkers *ws)
{
	if (!ws->se)
		return false;
	if (!ws->started && !ws->stop)
		ws->started = pthread_create(&ws->thread, NULL, invalidator, ws) == 0;
	pthread_cond_signal(&ws->wake);
	return ws->started;
}

/* Under the lock: @dir's listing leaves the kernel's cache now. */
static void queue_inval(struct walkers *ws, fuse_ino_t dir)
{
	if (wake_invalidator(ws) && ws->n_inval < N_INVAL) /* full: that cache stays */
		ws->inval[ws->n_inval++] = dir;
}

/* Under the lock: the kernel holds @dir's listing as @names bare names
 * (if the set has no room, it goes now). */
static void bare_add(struct walkers *ws, fuse_ino_t dir, uint64_t names)
{
	if (!fs_bare_hold(&ws->bare, dir, names))
		queue_inval(ws, dir);
	atomic_store_explicit(&ws->n_held, ws->bare.held, memory_order_relaxed);
}

size_t fs_walkers_bare_listings(struct walkers *ws)
{
	return ws ? atomic_load_explicit(&ws->n_held, memory_order_relaxed) : 0;
}

void fs_walkers_listing_ended(struct walkers *ws, pid_t pid, fuse_ino_t dir)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	/* A names-only reader's listing is kept as bare names; a probe of a
	 * stat-heavy one waits for its judgement: if it looked up what it
	 * listed, the kernel holds every entry, and the listing is no bare
	 * one. */
	for (int i = 0; i < N_WALKERS; i++)
		if (ws->w[i].pid == pid && ws->w[i].probe_dir == dir && !ws->w[i].stat_heavy)
			bare_add(ws, dir, ws->w[i].names);
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
		bare_add(ws, w->probe_dir, w->names);
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
		/* Asked again: the kernel's listing is gone, dropped or not. */
		fs_bare_relisted(&ws->bare, dir);
		atomic_store_explicit(&ws->n_held, ws->bare.held, memory_order_relaxed);
		judge_probe(ws, w);
		if (!w->stat_heavy || ++w->listings >= w->probe_every) {
			w->listings = 0;
			set_probe(ws, w, dir);
		}
		/* A stat-heavy reader's first batch in full, but for a probe's
		 * first PROBE_ATTRS entries; a names-only reader's with a few
		 * (each entry with attributes is an inode the kernel and we
		 * keep).  A batch is as large as the reader's getdents buffer,
		 * up to 1 MiB (ll.c's DIR_BLKSIZE): often a whole directory. */
		attrs = !w->stat_heavy        ? NAMES_FIRST_ATTRS
		        : w->probe_dir == dir ? PROBE_ATTRS
		                              : WALKERS_ALL;
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

void fs_walkers_lookup(struct walkers *ws, pid_t pid, fuse_ino_t parent, bool dir)
{
	bool watched = false;

	if (!ws)
		return;
	for (int i = 0; i < N_WALKERS && !watched; i++)
		watched = atomic_load_explicit(&ws->probing[i], memory_order_relaxed) == parent;
	/* A count may be missed while a probe starts or a listing is added:
	 * a sample. */
	if (!watched && atomic_load_explicit(&ws->n_held, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < N_WALKERS && watched; i++)
		if (ws->w[i].pid == pid && ws->w[i].probe_dir == parent)
			ws->w[i].hits++;
	/* A names-only walker looks up the directories it descends into; a
	 * stat-heavy one everything. */
	if (!dir && fs_bare_hit(&ws->bare, parent)) {
		fs_bare_drop_all(&ws->bare);
		atomic_store_explicit(&ws->n_held, 0, memory_order_relaxed);
		wake_invalidator(ws);
	}
	pthread_mutex_unlock(&ws->lock);
}
