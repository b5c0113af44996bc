/* SPDX-License-Identifier: MIT */
/*
 * Which READDIRPLUS replies carry attributes, learned per reader
 * (walkers.c).  Private to libstrata-fs.
 */
#ifndef STRATA_WALKERS_H
#define STRATA_WALKERS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ll.h"

struct walkers;

/* NULL when out of memory: every reply then carries attributes. */
struct walkers *fs_walkers_new(void);
void fs_walkers_free(struct walkers *ws);
/* How many entries of this batch of @dir's listing, read by @pid, come
 * with attributes (the first ones; the rest are bare names): 0, a few, or
 * WALKERS_ALL; @first_batch: the listing starts (offset 0). */
#define WALKERS_ALL UINT_MAX
unsigned fs_walkers_attrs(struct walkers *ws, pid_t pid, fuse_ino_t dir, bool first_batch);
/* @n entries of @dir went to @pid as names only. */
void fs_walkers_gave_names(struct walkers *ws, pid_t pid, fuse_ino_t dir, unsigned n);
/* The session the kernel's listing caches are dropped through, and the
 * end of that (before the session is destroyed; fs_walkers_free does it
 * too). */
void fs_walkers_set_session(struct walkers *ws, struct fuse_session *se);
void fs_walkers_stop(struct walkers *ws);
/* A listing of @dir given as bare names has ended: the kernel holds it
 * (until lookups show a stat-heavy walker reading such listings). */
void fs_walkers_listing_ended(struct walkers *ws, pid_t pid, fuse_ino_t dir);
/* How many directories' listings the kernel holds as bare names. */
size_t fs_walkers_bare_listings(struct walkers *ws);
/* @pid looked up a child of @parent (@dir: a directory). */
void fs_walkers_lookup(struct walkers *ws, pid_t pid, fuse_ino_t parent, bool dir);

#endif
