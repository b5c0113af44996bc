/* SPDX-License-Identifier: MIT */
/*
 * The set of directories whose listing the kernel holds as bare names
 * (walkers.c says why it keeps them, and when they all go).
 *
 * Open addressing by directory node id, at most half full, grown by
 * doubling up to BARE_MAX directories; no slot is ever emptied alone (a
 * probe chain would break): a listing dropped stays as "gone" until
 * nothing is held or being dropped, and then the whole table is cleared.
 */
#include <stdlib.h>
#include <string.h>

#include "bare_listings.h"

/* Directories held at most: the table is then 2 * BARE_MAX slots of 16
 * bytes (512 KiB). */
#define BARE_MAX 16384
/* Lookups under a held listing that show a stat-heavy walker reading it:
 * a quarter of its names, and at least this many. */
#define HITS_MIN 4

enum bare_state { HELD = 1, DROPPING, GONE };

struct bare_slot {
	fuse_ino_t dir; /* 0: empty */
	uint32_t names; /* given without attributes */
	uint16_t hits;  /* lookups under it since (saturating) */
	uint16_t state; /* enum bare_state */
};

/* @dir's slot (its own, or the empty one it would take); NULL if no table. */
static struct bare_slot *find(const struct bare_listings *s, fuse_ino_t dir)
{
	size_t mask = s->cap - 1, i;

	if (!s->cap)
		return NULL;
	for (i = (dir * 0x9e3779b97f4a7c15ULL) >> 20 & mask; s->slot[i].dir; i = (i + 1) & mask)
		if (s->slot[i].dir == dir)
			return &s->slot[i];
	return &s->slot[i];
}

/* Twice the slots; gone ones are left behind. */
static bool grow(struct bare_listings *s)
{
	size_t cap = s->cap ? s->cap * 2 : 256, old_cap = s->cap;
	struct bare_slot *old = s->slot, *v;

	if (cap > 2 * BARE_MAX || !(v = calloc(cap, sizeof(*v))))
		return false;
	s->slot = v;
	s->cap = cap;
	s->used = 0;
	s->cursor = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].dir && old[i].state != GONE) {
			*find(s, old[i].dir) = old[i];
			s->used++;
		}
	free(old);
	return true;
}

/* @b leaves its state for @state, the counts kept. */
static void set_state(struct bare_listings *s, struct bare_slot *b, enum bare_state state)
{
	s->held -= b->state == HELD;
	s->dropping -= b->state == DROPPING;
	b->state = (uint16_t)state;
	s->held += state == HELD;
	s->dropping += state == DROPPING;
}

bool fs_bare_hold(struct bare_listings *s, fuse_ino_t dir, uint64_t names)
{
	struct bare_slot *b = find(s, dir);

	if (!b || !b->dir) {
		if ((s->used + 1) * 2 > s->cap && !grow(s))
			return false;
		b = find(s, dir);
		*b = (struct bare_slot){.dir = dir};
		s->used++;
	}
	b->names = names > UINT32_MAX ? UINT32_MAX : (uint32_t)names;
	b->hits = 0;
	set_state(s, b, HELD);
	return true;
}

void fs_bare_relisted(struct bare_listings *s, fuse_ino_t dir)
{
	struct bare_slot *b = find(s, dir);

	if (b && b->dir)
		set_state(s, b, GONE);
}

bool fs_bare_hit(struct bare_listings *s, fuse_ino_t dir)
{
	struct bare_slot *b = find(s, dir);

	if (!b || b->dir != dir || b->state != HELD)
		return false;
	if (b->hits < UINT16_MAX)
		b->hits++;
	return b->hits >= HITS_MIN && b->hits >= b->names / 4;
}

void fs_bare_drop_all(struct bare_listings *s)
{
	for (size_t i = 0; i < s->cap && s->held; i++)
		if (s->slot[i].dir && s->slot[i].state == HELD)
			set_state(s, &s->slot[i], DROPPING);
}

fuse_ino_t fs_bare_next_drop(struct bare_listings *s)
{
	for (size_t n = 0; s->dropping && n < s->cap; n++) {
		struct bare_slot *b = &s->slot[s->cursor];

		s->cursor = (s->cursor + 1) & (s->cap - 1);
		if (b->dir && b->state == DROPPING) {
			set_state(s, b, GONE);
			return b->dir;
		}
	}
	if (!s->held && !s->dropping && s->used) { /* all gone: start afresh */
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
		s->used = 0;
	}
	return 0;
}

void fs_bare_free(struct bare_listings *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}
