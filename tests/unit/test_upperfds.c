/* SPDX-License-Identifier: MIT */
/*
 * Directories' upper fds (upper_fds.c), driven as ll.c drives them:
 * directories looked up with fs_do_lookup, their upper objects referenced
 * with fs_upper_ref_get.  The process's open-file limit is 64, so the cache
 * keeps 16 fds: the rest are evicted and found again by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll.h"
#include "sys.h"
#include "testlib.h"
#include "upper.h"

#define NOFILE   64
#define CAPACITY (NOFILE / 4)
#define N_DIRS   40

struct fixture {
	char *dir, *upper;
	struct strata_union *u;
	struct inode *d[N_DIRS];
	int base_fds;
};

static int count_fds(void)
{
	return tl_count_dir("/proc/self/fd") - 1; /* less the one reading it */
}

static char *upper_path(struct fixture *f, const char *name)
{
	return tl_path(f->upper, name);
}

static struct inode *lookup(struct fixture *f, struct inode *dir, const char *name)
{
	struct fuse_entry_param e;

	ck_assert_int_eq(fs_do_lookup(f->u, dir, name, &e), 0);
	return fs_inode_of(f->u, e.ino); /* node ids are st_ino (export.c) */
}

/* A union of one layer and an upper holding d00..d39, each looked up. */
static void setup(struct fixture *f)
{
	static const struct tl_entry ents[] = {{.type = 'd', .name = "etc"}};
	struct rlimit rl = {NOFILE, NOFILE};
	struct strata_layer_options o = {0};
	struct strata_error err = {0};
	struct strata_layer *l;
	char *layer, name[8];

	memset(f, 0, sizeof(*f));
	f->dir = tl_mkdtemp("upperfds");
	f->upper = tl_path(f->dir, "upper");
	layer = tl_path(f->dir, "l.tar");
	o.cache_dir = f->dir;
	tl_write_layer(layer, TL_PAX, TL_NONE, ents, 1);
	ck_assert_int_eq(mkdir(f->upper, 0755), 0);
	for (int i = 0; i < N_DIRS; i++) {
		char *p;

		snprintf(name, sizeof(name), "d%02d", i);
		p = upper_path(f, name);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		free(p);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* Check forks: ours alone */
	ck_assert_msg(strata_layer_open_tar(layer, &o, &l, &err) == 0, "%s", err.msg);
	ck_assert_msg(strata_union_new(&l, 1, &f->u, &err) == 0, "%s", err.msg);
	ck_assert_msg(strata_union_set_upper(f->u, f->upper, &err) == 0, "%s", err.msg);
	free(layer);
	f->base_fds = count_fds();
	for (int i = 0; i < N_DIRS; i++) {
		snprintf(name, sizeof(name), "d%02d", i);
		f->d[i] = lookup(f, f->u->root, name);
	}
}

static void teardown(struct fixture *f)
{
	strata_union_free(f->u);
	tl_rmrf(f->dir);
	free(f->upper);
	free(f->dir);
}

/* The upper directory @ref holds is the one at @name. */
static void expect_is(struct fixture *f, const struct upper_ref *ref, const char *name)
{
	struct stat a, b;
	char *p = upper_path(f, name);

	ck_assert_int_eq(fstat(ref->fd, &a), 0);
	ck_assert_int_eq(stat(p, &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	free(p);
}

/* References every directory but @skip, so that the others' fds go. */
static void cycle(struct fixture *f, int skip)
{
	for (int i = 0; i < N_DIRS; i++) {
		struct upper_ref ref;

		if (i == skip)
			continue;
		ck_assert_int_eq(fs_upper_ref_get(f->u, f->d[i], &ref), 0);
		fs_upper_ref_put(&ref);
	}
}

START_TEST(test_bounded_and_found_again)
{
	struct fixture f;
	struct upper_ref ref, pinned;

	setup(&f);
	ck_assert_int_le(count_fds(), f.base_fds + CAPACITY);
	/* d00 was evicted long ago: opened again by name. */
	ck_assert_int_eq(fs_upper_ref_get(f.u, f.d[0], &pinned), 0);
	expect_is(&f, &pinned, "d00");
	/* Pinned while the others come and go: its fd stays what it was. */
	cycle(&f, 0);
	cycle(&f, 0);
	expect_is(&f, &pinned, "d00");
	ck_assert_int_le(count_fds(), f.base_fds + CAPACITY + 1);
	fs_upper_ref_put(&pinned);
	for (int i = 0; i < N_DIRS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "d%02d", i);
		ck_assert_int_eq(fs_upper_ref_get(f.u, f.d[i], &ref), 0);
		expect_is(&f, &ref, name);
		fs_upper_ref_put(&ref);
	}
	teardown(&f);
}
END_TEST

/* What the name finds must be the directory recorded: a directory put in
 * its place is not taken for it. */
START_TEST(test_identity)
{
	struct fixture f;
	struct upper_ref ref;
	char *d5, *x5, *d6, *x6;

	setup(&f);
	d5 = upper_path(&f, "d05");
	x5 = upper_path(&f, "x05");
	d6 = upper_path(&f, "d06");
	x6 = upper_path(&f, "x06");
	cycle(&f, -1); /* d05 and d06 evicted */
	ck_assert_int_eq(rename(d5, x5), 0);
	ck_assert_int_eq(mkdir(d5, 0755), 0);
	ck_assert_int_eq(rename(d6, x6), 0);
	ck_assert_int_eq(fs_upper_ref_get(f.u, f.d[5], &ref), ESTALE);
	ck_assert_int_eq(fs_upper_ref_get(f.u, f.d[6], &ref), ENOENT);
	free(d5);
	free(x5);
	free(d6);
	free(x6);
	teardown(&f);
}
END_TEST

/* A deep directory is found again from its nearest ancestor with an fd. */
START_TEST(test_deep)
{
	struct fixture f;
	struct upper_ref ref;
	struct inode *in;
	char *p;

	setup(&f);
	p = upper_path(&f, "a/b/c/d/e/f/g/h");
	ck_assert_int_eq(sys_mkdir_p(p), 0);
	in = f.u->root;
	for (const char *c = "abcdefgh"; *c; c++) {
		char name[2] = {*c, 0};

		in = lookup(&f, in, name);
	}
	cycle(&f, -1);
	ck_assert_int_eq(fs_upper_ref_get(f.u, in, &ref), 0);
	expect_is(&f, &ref, "a/b/c/d/e/f/g/h");
	fs_upper_ref_put(&ref);
	ck_assert_int_le(count_fds(), f.base_fds + CAPACITY);
	free(p);
	teardown(&f);
}
END_TEST

/* With the process out of descriptors, the cache gives some back. */
START_TEST(test_out_of_fds)
{
	struct fixture f;
	struct upper_ref ref;
	int fds[NOFILE], n = 0;

	setup(&f);
	cycle(&f, 0); /* d00 evicted, the cache full */
	while (n < NOFILE && (fds[n] = dup(0)) >= 0)
		n++;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_eq(fs_upper_ref_get(f.u, f.d[0], &ref), 0);
	expect_is(&f, &ref, "d00");
	fs_upper_ref_put(&ref);
	while (n > 0)
		close(fds[--n]);
	teardown(&f);
}
END_TEST

static Suite *upperfds_suite(void)
{
	Suite *s = suite_create("upperfds");
	TCase *tc = tcase_create("upperfds");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bounded_and_found_again);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_deep);
	tcase_add_test(tc, test_out_of_fds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(upperfds_suite());
}
