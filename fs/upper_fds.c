/* SPDX-License-Identifier: MIT */
/*
 * Directories' upper objects: a record for each directory with one, and a
 * bounded cache of O_PATH fds on them.
 *
 * Holding an fd for every upper directory the kernel knew ran the daemon
 * out of descriptors: past the limit every create failed with EMFILE and
 * listings came out short, at every remount again (issue 13, item 8).
 * Now a directory's record (inode.upper_slot) keeps the upper directory's
 * identity (st_dev, st_ino), and an fd only while it is among the most
 * recently used: at most a quarter of RLIMIT_NOFILE (and 65,536) fds, so
 * that three quarters stay for open files.  An evicted directory is opened
 * again by name, walking down from its nearest ancestor that has an fd
 * (the root always has one), with u->names_lock held shared: a rename of
 * an upper object holds it exclusive while the upper and the names the
 * inodes record change, so a walk never sees one without the other.  What
 * the walk finds must have the recorded identity, or the operation fails
 * with ESTALE instead of acting on another directory.
 *
 * A reference pins its record, and eviction passes pinned records by, so
 * an fd is never closed under an operation.  One mutex guards the records;
 * a reference only decrements its pin count.  Lock order: names_lock, an
 * inode's lock, an inode table shard, this mutex (the table drops records
 * under its shard lock; nothing here calls out while holding the mutex).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upper.h"
#include "vec.h"

#define SLOT_CHUNK 4096
#define CACHE_MIN  16
#define CACHE_MAX  65536
/* More ancestors than this between a directory and one with an fd: the
 * parent links loop, which they never should. */
#define WALK_MAX (1u << 20)

struct dir_slot {
	int fd;                /* -1 while evicted */
	_Atomic uint32_t pins; /* references handed out and not yet put */
	uint32_t prev, next;   /* the LRU list of slots with an fd; next: free list */
	dev_t dev;             /* the upper directory's identity */
	ino_t ino;
};

struct upper_dirs {
	pthread_mutex_t lock;
	struct dir_slot **chunks; /* slot i: chunks[i / SLOT_CHUNK][i % SLOT_CHUNK] */
	size_t n_chunks, chunks_cap;
	uint32_t n_slots;  /* slots ever handed out; slot 0 heads the LRU list */
	uint32_t free;     /* first free slot, 0: none */
	uint32_t n_open;   /* slots with an fd */
	uint32_t capacity; /* fds kept, at most (pinned ones may exceed it) */
};

static struct dir_slot *slot_at(struct upper_dirs *d, uint32_t i)
{
	return &d->chunks[i / SLOT_CHUNK][i % SLOT_CHUNK];
}

/* ---- the LRU list (under the mutex) ---- */

static void lru_unlink(struct upper_dirs *d, uint32_t i)
{
	struct dir_slot *s = slot_at(d, i);

	slot_at(d, s->prev)->next = s->next;
	slot_at(d, s->next)->prev = s->prev;
}

static void lru_push_front(struct upper_dirs *d, uint32_t i)
{
	struct dir_slot *head = slot_at(d, 0), *s = slot_at(d, i);

	s->prev = 0;
	s->next = head->next;
	slot_at(d, head->next)->prev = i;
	head->next = i;
}

/* Closes fds of unpinned slots, least recently used first, until at most
 * @keep are open. */
static void evict_to(struct upper_dirs *d, uint32_t keep)
{
	uint32_t i = slot_at(d, 0)->prev;

	while (d->n_open > keep && i != 0) {
		struct dir_slot *s = slot_at(d, i);
		uint32_t prev = s->prev;

		if (atomic_load(&s->pins) == 0) {
			lru_unlink(d, i);
			close(s->fd);
			s->fd = -1;
			d->n_open--;
		}
		i = prev;
	}
}

/* Takes a slot from the free list or a new one; 0 on ENOMEM. */
static uint32_t slot_alloc(struct upper_dirs *d)
{
	uint32_t i = d->free;

	if (i) {
		d->free = slot_at(d, i)->next;
		return i;
	}
	if (d->n_slots == UINT32_MAX)
		return 0;
	if (d->n_slots % SLOT_CHUNK == 0) {
		struct dir_slot *c = malloc(SLOT_CHUNK * sizeof(*c));

		if (!c || VEC_RESERVE(d->chunks, d->chunks_cap, d->n_chunks + 1) < 0) {
			free(c);
			return 0;
		}
		d->chunks[d->n_chunks++] = c;
	}
	return d->n_slots++;
}

/* ---- setting up ---- */

static uint32_t cache_capacity(void)
{
	struct rlimit rl;
	rlim_t n = (rlim_t)CACHE_MAX * 4;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	n /= 4;
	return n < CACHE_MIN ? CACHE_MIN : n > CACHE_MAX ? CACHE_MAX : (uint32_t)n;
}

int fs_upper_dirs_init(struct strata_union *u)
{
	struct upper_dirs *d = calloc(1, sizeof(*d));

	if (!d)
		return ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->capacity = cache_capacity();
	slot_alloc(d); /* slot 0, the list head */
	if (d->n_slots != 1) {
		fs_upper_dirs_free(d);
		return ENOMEM;
	}
	*slot_at(d, 0) = (struct dir_slot){.fd = -1};
	u->dirs = d;
	u->table.upper_dirs = d;
	return 0;
}

void fs_upper_dirs_free(struct upper_dirs *d)
{
	if (!d)
		return;
	for (uint32_t i = 1; i < d->n_slots; i++)
		if (slot_at(d, i)->fd >= 0)
			close(slot_at(d, i)->fd);
	for (size_t c = 0; c < d->n_chunks; c++)
		free(d->chunks[c]);
	free(d->chunks);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- records ---- */

/* Pins slot @i (which has an fd) for @ref, as the most recently used. */
static void slot_use(struct upper_dirs *d, uint32_t i, struct upper_ref *ref)
{
	struct dir_slot *s = slot_at(d, i);

	atomic_fetch_add(&s->pins, 1);
	lru_unlink(d, i);
	lru_push_front(d, i);
	ref->fd = s->fd;
	ref->pin = &s->pins;
}

/* Gives slot @i (without one) @fd; the caller evicts what is over. */
static void slot_set_fd(struct upper_dirs *d, uint32_t i, int fd)
{
	slot_at(d, i)->fd = fd;
	lru_push_front(d, i);
	d->n_open++;
}

int fs_upper_dir_adopt(struct strata_union *u, struct inode *dir, int fd, const struct stat *st)
{
	struct upper_dirs *d = u->dirs;
	struct stat own;
	uint32_t i;

	if (!st && fstat(fd, &own) < 0) {
		int en = errno;

		close(fd);
		return en;
	}
	st = st ? st : &own;
	pthread_mutex_lock(&d->lock);
	if (atomic_load(&dir->upper_fd) != -1) { /* adopted meanwhile */
		pthread_mutex_unlock(&d->lock);
		close(fd);
		return 0;
	}
	i = slot_alloc(d);
	if (i) {
		struct dir_slot *s = slot_at(d, i);

		s->dev = st->st_dev;
		s->ino = st->st_ino;
		atomic_init(&s->pins, 0);
		dir->upper_slot = i;
		atomic_store(&dir->upper_fd, UPPER_BY_NAME);
		slot_set_fd(d, i, fd);
		evict_to(d, d->capacity);
	}
	pthread_mutex_unlock(&d->lock);
	if (!i) {
		close(fd);
		return ENOMEM;
	}
	return 0;
}

void fs_upper_dir_orphan(struct strata_union *u, struct inode *dir, int fd)
{
	struct upper_dirs *d = u->dirs;
	struct dir_slot *s;

	if (atomic_load(&dir->upper_fd) != UPPER_BY_NAME) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&d->lock);
	s = slot_at(d, dir->upper_slot);
	/* A pin that is never put: never evicted (the fd goes with @dir). */
	atomic_fetch_add(&s->pins, 1);
	if (s->fd < 0) {
		slot_set_fd(d, dir->upper_slot, fd);
		evict_to(d, d->capacity);
	} else {
		close(fd);
	}
	pthread_mutex_unlock(&d->lock);
}

void fs_upper_dirs_drop(struct upper_dirs *d, struct inode *dir)
{
	struct dir_slot *s;

	pthread_mutex_lock(&d->lock);
	s = slot_at(d, dir->upper_slot);
	if (s->fd >= 0) {
		lru_unlink(d, dir->upper_slot);
		close(s->fd);
		s->fd = -1;
		d->n_open--;
	}
	s->next = d->free;
	d->free = dir->upper_slot;
	dir->upper_slot = 0;
	pthread_mutex_unlock(&d->lock);
}

/* ---- references ---- */

/* A reference to @in's upper directory if it is at hand: an fd the inode
 * holds (the root, a temporary inode) or a cached one.  0 or ENOENT. */
static int ref_cached(struct strata_union *u, struct inode *in, struct upper_ref *ref)
{
	struct upper_dirs *d = u->dirs;
	int fd = atomic_load(&in->upper_fd), rc = ENOENT;

	if (fd >= 0) {
		ref->fd = fd;
		return 0;
	}
	if (fd != UPPER_BY_NAME || !S_ISDIR(in->mode))
		return ENOENT;
	pthread_mutex_lock(&d->lock);
	if (slot_at(d, in->upper_slot)->fd >= 0) {
		slot_use(d, in->upper_slot, ref);
		rc = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int open_dir_at(struct upper_dirs *d, int at, const char *name)
{
	int fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		/* Open files come first: the cache gives back half. */
		pthread_mutex_lock(&d->lock);
		evict_to(d, d->n_open / 2);
		pthread_mutex_unlock(&d->lock);
		fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

/* @child's upper directory, opened by name in @at (its parent's), checked
 * against the identity recorded, and cached. */
static int open_child(struct strata_union *u, const struct upper_ref *at, struct inode *child,
                      struct upper_ref *out)
{
	struct upper_dirs *d = u->dirs;
	char *name = fs_inode_name(u, child);
	struct dir_slot *s;
	struct stat st;
	int fd, rc = 0;

	if (!name)
		return ENOMEM;
	fd = open_dir_at(d, at->fd, name);
	rc = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : 0;
	free(name);
	pthread_mutex_lock(&d->lock);
	s = slot_at(d, child->upper_slot);
	if (!rc && (st.st_dev != s->dev || st.st_ino != s->ino))
		rc = ESTALE;    /* not the directory this inode is */
	if (!rc && s->fd < 0) { /* (or opened meanwhile by another walk) */
		slot_set_fd(d, child->upper_slot, fd);
		fd = -1;
	}
	if (!rc) {
		slot_use(d, child->upper_slot, out);
		evict_to(d, d->capacity); /* pinned: not this one */
	}
	pthread_mutex_unlock(&d->lock);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Opens @in's upper directory again, from its nearest ancestor at hand. */
static int reopen(struct strata_union *u, struct inode *in, struct upper_ref *ref)
{
	struct inode **chain = NULL, *cur = in;
	size_t n = 0, cap = 0;
	struct upper_ref at = {-1, false, NULL};
	int rc = 0;

	pthread_rwlock_rdlock(&u->names_lock);
	while (ref_cached(u, cur, &at) != 0) {
		if (atomic_load(&cur->upper_fd) != UPPER_BY_NAME || n >= WALK_MAX) {
			rc = ESTALE; /* an ancestor without its upper directory */
			break;
		}
		if (VEC_RESERVE(chain, cap, n + 1) < 0) {
			rc = ENOMEM;
			break;
		}
		chain[n++] = cur;
		if (!(cur = fs_inode_parent(u, cur))) {
			rc = ESTALE;
			break;
		}
	}
	while (!rc && n > 0) {
		struct upper_ref next = {-1, false, NULL};

		rc = open_child(u, &at, chain[--n], &next);
		fs_upper_ref_put(&at);
		at = next;
	}
	pthread_rwlock_unlock(&u->names_lock);
	free(chain);
	if (rc)
		fs_upper_ref_put(&at);
	else
		*ref = at;
	return rc;
}

int fs_upper_dir_ref(struct strata_union *u, struct inode *dir, struct upper_ref *ref)
{
	if (ref_cached(u, dir, ref) == 0)
		return 0;
	if (atomic_load(&dir->upper_fd) != UPPER_BY_NAME)
		return ENOENT;
	return reopen(u, dir, ref);
}
