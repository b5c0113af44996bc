/* SPDX-License-Identifier: MIT */
/*
 * Which READDIRPLUS batches carry attributes (fs/walkers.c): a reader that
 * looks up what it lists keeps getting attributes, one that does not gets
 * bare names after the first batch of each listing, each reader on its own,
 * and a reader that changes its ways is noticed at its next probe.  The
 * kernel side (bare entries, dropped caches) is driven through a real mount
 * in tests/integration/walkers.sh.
 */
#include <check.h>

#include "testlib.h"
#include "walkers.h"

/* One listing of @dir by @pid with @batches batches (the first always has
 * attributes); returns how many of the others had them, after the reader
 * looked up @looked of @per_batch entries in each bare batch. */
static int list(struct walkers *ws, pid_t pid, fuse_ino_t dir, int batches, unsigned per_batch,
                unsigned looked)
{
	int with = 0;

	ck_assert_uint_gt(fs_walkers_attrs(ws, pid, dir, true), 0);
	for (int b = 1; b < batches; b++) {
		unsigned a = fs_walkers_attrs(ws, pid, dir, false);

		ck_assert(a == 0 || a == WALKERS_ALL);
		if (a)
			with++;
		else
			fs_walkers_gave_names(ws, pid, dir, per_batch);
	}
	for (int b = 1; b < batches; b++)
		for (unsigned k = 0; k < looked; k++)
			fs_walkers_lookup(ws, pid, dir, false);
	return with;
}

START_TEST(test_names_walker_gets_bare_names)
{
	struct walkers *ws = fs_walkers_new();

	ck_assert_int_eq(list(ws, 100, 2, 10, 30, 0), 9); /* new: taken as stat-heavy */
	ck_assert_int_eq(list(ws, 100, 3, 10, 30, 0), 0); /* its probe */
	for (fuse_ino_t d = 4; d < 50; d++)
		ck_assert_int_eq(list(ws, 100, d, 10, 30, 0), 0);
	fs_walkers_free(ws);
}
END_TEST

/* The first batch: in full for a reader taken as stat-heavy, a few
 * entries for one that lists names only. */
START_TEST(test_first_batch)
{
	struct walkers *ws = fs_walkers_new();

	ck_assert_uint_eq(fs_walkers_attrs(ws, 400, 2, true), WALKERS_ALL); /* new */
	list(ws, 400, 3, 10, 30, 0); /* its probe: nothing looked up */
	for (fuse_ino_t d = 4; d < 10; d++) {
		unsigned a = fs_walkers_attrs(ws, 400, d, true);

		ck_assert_uint_gt(a, 0);
		ck_assert_uint_le(a, 32);
		fs_walkers_gave_names(ws, 400, d, 200 - a);
	}
	fs_walkers_free(ws);
}
END_TEST

/* Listings in one batch each (a getdents buffer as large as the whole
 * directory): a probe's batch still gives most of its entries as bare
 * names, so a names walker is found out, and a stat walker that looks
 * them up keeps getting attributes. */
START_TEST(test_one_batch_listings)
{
	struct walkers *ws = fs_walkers_new();
	unsigned a;

	ck_assert_uint_eq(fs_walkers_attrs(ws, 600, 2, true), WALKERS_ALL); /* new */
	a = fs_walkers_attrs(ws, 600, 3, true);                             /* its probe */
	ck_assert_uint_gt(a, 0);
	ck_assert_uint_le(a, 256);
	fs_walkers_gave_names(ws, 600, 3, 1000 - a);
	ck_assert_uint_le(fs_walkers_attrs(ws, 600, 4, true), 32); /* names only */

	ck_assert_uint_eq(fs_walkers_attrs(ws, 700, 2, true), WALKERS_ALL);
	a = fs_walkers_attrs(ws, 700, 3, true);
	ck_assert_uint_lt(a, WALKERS_ALL);
	fs_walkers_gave_names(ws, 700, 3, 1000 - a);
	for (unsigned k = 0; k < 1000 - a; k++)
		fs_walkers_lookup(ws, 700, 3, false);
	ck_assert_uint_eq(fs_walkers_attrs(ws, 700, 4, true), WALKERS_ALL); /* stat-heavy */
	fs_walkers_free(ws);
}
END_TEST

START_TEST(test_stat_walker_gets_attributes)
{
	struct walkers *ws = fs_walkers_new();
	int bare_listings = 0;

	ck_assert_int_eq(list(ws, 200, 2, 10, 30, 30), 9);
	for (fuse_ino_t d = 3; d < 200; d++)
		bare_listings += list(ws, 200, d, 10, 30, 30) == 0;
	/* Probes at the 2nd, then every 4th, 8th, ... 64th listing: few. */
	ck_assert_int_ge(bare_listings, 3);
	ck_assert_int_le(bare_listings, 8);
	fs_walkers_free(ws);
}
END_TEST

START_TEST(test_readers_apart_and_changing)
{
	struct walkers *ws = fs_walkers_new();

	list(ws, 300, 2, 10, 30, 0);
	list(ws, 300, 3, 10, 30, 0); /* 300: names only now */
	list(ws, 301, 2, 10, 30, 30);
	list(ws, 301, 3, 10, 30, 30); /* 301: stat-heavy */
	ck_assert_int_eq(list(ws, 300, 4, 10, 30, 0), 0);
	ck_assert_int_eq(list(ws, 301, 4, 10, 30, 30), 9);
	/* 300 starts to stat what it lists: its next listing has attributes. */
	list(ws, 300, 5, 10, 30, 30);
	ck_assert_int_eq(list(ws, 300, 6, 10, 30, 30), 9);
	/* pid 0 (a reader outside our pid namespace) is a reader like others,
	 * not an empty slot's zeros. */
	ck_assert_int_eq(list(ws, 0, 7, 10, 30, 0), 9);
	/* More readers than slots: the oldest is forgotten, nothing breaks. */
	for (pid_t p = 1000; p < 1100; p++)
		list(ws, p, 2, 3, 30, 0);
	fs_walkers_free(ws);
}
END_TEST

/* A names-only reader's bare listings stay in the kernel's cache (a warm
 * names walk never comes back) until non-directory lookups under one of
 * them show a stat-heavy walker reading them: then they all go. */
START_TEST(test_bare_listings_kept_until_stat_walker)
{
	struct walkers *ws = fs_walkers_new();

	list(ws, 500, 2, 10, 30, 0);
	for (fuse_ino_t d = 3; d < 40; d++) {
		list(ws, 500, d, 10, 30, 0);
		fs_walkers_listing_ended(ws, 500, d);
	}
	ck_assert_uint_ge(fs_walkers_bare_listings(ws), 30);
	/* The directories a names walker descends into are looked up: that
	 * is no stat walk. */
	for (int k = 0; k < 500; k++)
		fs_walkers_lookup(ws, 501, 7, true);
	ck_assert_uint_ge(fs_walkers_bare_listings(ws), 30);
	/* A few files opened under one: still held. */
	for (int k = 0; k < 3; k++)
		fs_walkers_lookup(ws, 501, 7, false);
	ck_assert_uint_ge(fs_walkers_bare_listings(ws), 30);
	/* A listing asked again is no longer held (the kernel dropped it). */
	size_t before = fs_walkers_bare_listings(ws);

	fs_walkers_attrs(ws, 502, 8, true);
	ck_assert_uint_eq(fs_walkers_bare_listings(ws), before - 1);
	/* A quarter of one listing's 270 bare names stat'ed: all go. */
	for (int k = 0; k < 70; k++)
		fs_walkers_lookup(ws, 503, 9, false);
	ck_assert_uint_eq(fs_walkers_bare_listings(ws), 0);
	/* Listed bare again, held again. */
	list(ws, 500, 9, 10, 30, 0);
	fs_walkers_listing_ended(ws, 500, 9);
	ck_assert_uint_eq(fs_walkers_bare_listings(ws), 1);
	fs_walkers_free(ws);
}
END_TEST

START_TEST(test_no_walkers_means_attributes)
{
	ck_assert_uint_eq(fs_walkers_attrs(NULL, 1, 2, false), WALKERS_ALL);
	fs_walkers_lookup(NULL, 1, 2, false);
	fs_walkers_listing_ended(NULL, 1, 2);
	ck_assert_uint_eq(fs_walkers_bare_listings(NULL), 0);
}
END_TEST

static Suite *walkers_suite(void)
{
	Suite *s = suite_create("walkers");
	TCase *tc = tcase_create("heuristic");

	tcase_add_test(tc, test_names_walker_gets_bare_names);
	tcase_add_test(tc, test_stat_walker_gets_attributes);
	tcase_add_test(tc, test_first_batch);
	tcase_add_test(tc, test_one_batch_listings);
	tcase_add_test(tc, test_readers_apart_and_changing);
	tcase_add_test(tc, test_bare_listings_kept_until_stat_walker);
	tcase_add_test(tc, test_no_walkers_means_attributes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(walkers_suite());
}
