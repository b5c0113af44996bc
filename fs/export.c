/* SPDX-License-Identifier: MIT */
/*
 * File handles (name_to_handle_at, open_by_handle_at, NFS export).  A FUSE
 * handle is the node id and generation the kernel got in an entry; once it
 * has evicted the inode, it asks for the id again with LOOKUP(id, "."), and
 * reconnects a directory with LOOKUP(id, "..") (Linux fs/fuse/inode.c,
 * fuse_get_dentry and fuse_get_parent).  Node ids are st_ino, which stay
 * meaningful after the kernel forgot them (docs/union.md, "File handles"):
 *
 *  - a lower object's number names its layer and node, and the layers say
 *    where it is: its parent directory's number and its name;
 *  - an object with a name of its own in the upper layer (made, renamed or
 *    copied up there) was remembered, number -> parent's number + name,
 *    when the kernel forgot it (fs_inode_table_forget), and forgotten again
 *    when it is gone; at most EXPORT_RECORDS of them, the oldest dropped
 *    (its handles are then stale).
 *
 * From the first ancestor the table still holds (the root at worst), the
 * names are looked up again through the union, which checks each step: a
 * name that no longer leads to that number means the handle is stale.
 *
 * Generations: 0 for lower objects, so a copy-up changes nothing; for one
 * born in the upper, a fold of the upper file system's own handle, which
 * holds its inode generation: a number the upper gives again after an
 * unlink then names another generation, and the kernel refuses the old
 * handle (ESTALE) instead of opening the new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ll.h"
#include "upper.h"
#include "vec.h"

/* 16 records a chain, when all are kept. */
#define EXPORT_RECORD_BUCKETS 4096
/* Ancestors found again for one handle, at most. */
#define EXPORT_MAX_DEPTH 4096

struct record {
	struct record *hash_next;
	struct record *newer, *older; /* in the order remembered */
	uint64_t ino, parent_ino;
	char *name;
};

struct export_records {
	pthread_mutex_t lock;
	struct record *oldest, *newest;
	size_t count;
	/* EXPORT_RECORD_BUCKETS, made with the first record (32 KiB a
	 * read-only mount never needs). */
	struct record **buckets;
};

struct export_records *fs_export_records_new(void)
{
	struct export_records *r = calloc(1, sizeof(*r));

	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void record_free(struct record *rec)
{
	free(rec->name);
	free(rec);
}

void fs_export_records_free(struct export_records *r)
{
	if (!r)
		return;
	while (r->oldest) {
		struct record *next = r->oldest->newer;

		record_free(r->oldest);
		r->oldest = next;
	}
	pthread_mutex_destroy(&r->lock);
	free(r->buckets);
	free(r);
}

/* The slot that points to @ino's record, or the end of its chain; NULL
 * before the first record.  Under the lock. */
static struct record **slot_of(struct export_records *r, uint64_t ino)
{
	struct record **pp;

	if (!r->buckets)
		return NULL;
	pp = &r->buckets[(ino * 0x9e3779b97f4a7c15ULL) >> 52];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->hash_next;
	return pp;
}

static void list_unlink(struct export_records *r, struct record *rec)
{
	*(rec->older ? &rec->older->newer : &r->oldest) = rec->newer;
	*(rec->newer ? &rec->newer->older : &r->newest) = rec->older;
}

static void list_append(struct export_records *r, struct record *rec)
{
	rec->newer = NULL;
	rec->older = r->newest;
	*(r->newest ? &r->newest->newer : &r->oldest) = rec;
	r->newest = rec;
}

/* Unlinks and frees the record at *@pp.  Under the lock. */
static void record_drop(struct export_records *r, struct record **pp)
{
	struct record *rec = *pp;

	*pp = rec->hash_next;
	list_unlink(r, rec);
	r->count--;
	record_free(rec);
}

void fs_export_remember(struct export_records *r, uint64_t ino, uint64_t parent_ino, char *name)
{
	struct record **pp, *rec;

	pthread_mutex_lock(&r->lock);
	if (!r->buckets)
		r->buckets = calloc(EXPORT_RECORD_BUCKETS, sizeof(*r->buckets));
	pp = slot_of(r, ino);
	if (pp && *pp) {
		record_drop(r, pp);
	} else if (r->count == EXPORT_RECORDS) {
		/* Bounded: the oldest one's handles become stale. */
		struct record **oldest = slot_of(r, r->oldest->ino);

		if (oldest && *oldest)
			record_drop(r, oldest);
		pp = slot_of(r, ino);
	}
	rec = pp ? malloc(sizeof(*rec)) : NULL;
	if (rec) {
		/* Into the chain where *pp is: what follows stays linked. */
		*rec = (struct record){
		    .ino = ino, .parent_ino = parent_ino, .name = name, .hash_next = *pp};
		*pp = rec;
		list_append(r, rec);
		r->count++;
		name = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	free(name); /* out of memory: its handles become stale */
}

void fs_export_unremember(struct export_records *r, uint64_t ino)
{
	struct record **pp;

	pthread_mutex_lock(&r->lock);
	pp = slot_of(r, ino);
	if (pp && *pp)
		record_drop(r, pp);
	pthread_mutex_unlock(&r->lock);
}

bool fs_export_recall(struct export_records *r, uint64_t ino, uint64_t *parent_ino, char *name)
{
	struct record **pp, *rec;

	pthread_mutex_lock(&r->lock);
	pp = slot_of(r, ino);
	rec = pp ? *pp : NULL;
	if (rec) {
		*parent_ino = rec->parent_ino;
		strcpy(name, rec->name); /* a name it was found by: <= NAME_MAX */
	}
	pthread_mutex_unlock(&r->lock);
	return rec != NULL;
}

/* ---- generations ---- */

int fs_export_learn_generation(struct inode *in, int upper_fd)
{
	union {
		struct file_handle fh;
		char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	uint32_t gen, word;
	int mount_id;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(upper_fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0) {
		if (errno != EOPNOTSUPP)
			return errno;
		gen = 1; /* an upper without handles: a reused number goes unnoticed */
	} else {
		/* A reused inode number differs from the old handle in its
		 * generation word only: the fold differs too. */
		gen = (uint32_t)h.fh.handle_type;
		for (unsigned int i = 0; i < h.fh.handle_bytes; i += sizeof(word)) {
			word = 0;
			memcpy(&word, h.fh.f_handle + i,
			       h.fh.handle_bytes - i < sizeof(word) ? h.fh.handle_bytes - i
			                                            : sizeof(word));
			gen ^= word;
		}
	}
	atomic_store(&in->generation, gen ? gen : 1); /* 0 is "not known yet" */
	return 0;
}

/* ---- finding a forgotten node id ---- */

/*
 * Where a lower object is: the directory its layer puts it in, numbered as
 * the lower layers show that directory (the number it keeps when copied
 * up or renamed), and its name.  Numbers the layers never gave are stale.
 */
static int lower_place(struct strata_union *u, uint64_t ino, uint64_t *parent_ino, char *name)
{
	struct union_src src = {.node = ino & ((1ULL << 40) - 1)}, dirs[UNION_MAX_LAYERS];
	struct stack stk = union_stack(u);
	uint64_t hi = ino >> 40;
	char path[PATH_MAX], *slash;

	if (u->n_base && hi == UNION_BASE_INO >> 40)
		src.layer = 0;
	else if (hi >= 1 && hi - 1 < u->n_layers - u->n_base)
		src.layer = (uint32_t)(hi - 1 + u->n_base);
	else
		return ESTALE;
	if (src.node == 0 || !layer_has_node(union_layer(u, &src), src.node) ||
	    fs_union_ino(u, &src) != ino ||
	    fs_stack_node_path(union_layer(u, &src), src.node, path, sizeof(path)))
		return ESTALE;
	slash = strrchr(path, '/');
	if (strlen(slash + 1) > NAME_MAX)
		return ESTALE;
	strcpy(name, slash + 1);
	*parent_ino = 1;
	if (slash == path)
		return 0;
	*slash = '\0';
	if (fs_stack_lower_dirs(&stk, stk.n, path, dirs) == 0)
		return ESTALE;
	*parent_ino = fs_union_ino(u, &dirs[0]);
	return 0;
}

/* One step down from an ancestor: the number @name must lead to. */
struct step {
	uint64_t ino;
	char name[NAME_MAX + 1];
};

static struct inode *held(struct strata_union *u, uint64_t ino)
{
	return ino == 1 ? u->root : fs_inode_table_hold(&u->table, ino);
}

static void put(struct strata_union *u, struct inode *in)
{
	fs_inode_table_forget(&u->table, in->ino, 1); /* not for the root */
}

/* From @dir (held) down through @steps, the last one first. */
static int walk_down(struct strata_union *u, struct inode *dir, const struct step *steps, size_t n,
                     struct inode **out)
{
	while (n > 0) {
		const struct step *st = &steps[--n];
		struct inode *in;
		int rc = fs_lookup_ref(u, dir, st->name, &in);

		put(u, dir); /* a child found holds it */
		if (rc == ENOMEM || rc == EMFILE || rc == ENFILE || rc == EIO)
			return rc;
		if (rc)
			return ESTALE;
		if (in->ino != st->ino) { /* another object has the name now */
			put(u, in);
			return ESTALE;
		}
		dir = in;
	}
	*out = dir;
	return 0;
}

int fs_export_find(struct strata_union *u, uint64_t ino, struct inode **out)
{
	struct step *steps = NULL;
	size_t n = 0, cap = 0;
	struct inode *base;
	int rc = 0;

	while (!(base = held(u, ino))) {
		if (n == EXPORT_MAX_DEPTH || VEC_RESERVE(steps, cap, n + 1) < 0) {
			rc = n == EXPORT_MAX_DEPTH ? ESTALE : ENOMEM;
			break;
		}
		steps[n].ino = ino;
		if (fs_export_recall(u->table.records, ino, &ino, steps[n].name))
			rc = 0;
		else if (ino & UNION_UPPER_INO)
			rc = ESTALE; /* forgotten beyond the bound, or mounted since */
		else
			rc = lower_place(u, ino, &ino, steps[n].name);
		if (rc)
			break;
		n++;
	}
	if (!rc)
		rc = walk_down(u, base, steps, n, out);
	free(steps);
	return rc;
}

int fs_export_parent(struct strata_union *u, struct inode *dir, struct inode **out)
{
	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	/* The root's parent is itself. */
	return fs_export_find(u, dir == u->root ? 1 : dir->parent_ino, out);
}
