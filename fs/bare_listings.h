/* SPDX-License-Identifier: MIT */
/*
 * The directories whose listing the kernel holds as bare names
 * (bare_listings.c), for walkers.c: a set by directory, each held,
 * being dropped, or gone.  No lock of its own: the caller's.  Private to
 * libstrata-fs.
 */
#ifndef STRATA_BARE_LISTINGS_H
#define STRATA_BARE_LISTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll.h"

struct bare_slot;

struct bare_listings {
	struct bare_slot *slot; /* open addressing, never a single removal */
	size_t cap, used;       /* slots, and those taken (any state) */
	size_t held, dropping;  /* in those states */
	size_t cursor;          /* where the next drop is looked for */
};

/* The kernel holds @dir's listing as @names bare names.  false: no room
 * (the caller drops that listing at once). */
bool fs_bare_hold(struct bare_listings *s, fuse_ino_t dir, uint64_t names);
/* @dir is being listed afresh: whatever the kernel held of it is gone. */
void fs_bare_relisted(struct bare_listings *s, fuse_ino_t dir);
/* A child of @dir other than a directory was looked up: whether enough of
 * a held listing has been (a stat-heavy walker reading bare names). */
bool fs_bare_hit(struct bare_listings *s, fuse_ino_t dir);
/* Every held listing is to be dropped. */
void fs_bare_drop_all(struct bare_listings *s);
/* One listing to drop now (marked gone), or 0 when none is left. */
fuse_ino_t fs_bare_next_drop(struct bare_listings *s);
void fs_bare_free(struct bare_listings *s);

#endif
