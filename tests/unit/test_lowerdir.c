/* SPDX-License-Identifier: MIT */
/*
 * The lazily read directory layer (fs/layer_lowerdir.c): its pure parts
 * (whiteout names, the listing's order, the overlay's xattrs), then the
 * layer itself on a temp directory: nothing read before it is asked,
 * sorted children, whiteouts, hard links, outside numbers, data through
 * more files than a thread's fd cache holds, and many threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"
#include "lowerdir.h"
#include "testlib.h"

#define KIND(s) fs_ld_name_kind(s, strlen(s))

START_TEST(test_name_kinds)
{
	ck_assert_int_eq(KIND("a"), LD_NAME_PLAIN);
	ck_assert_int_eq(KIND(".wh"), LD_NAME_PLAIN);
	ck_assert_int_eq(KIND(".whx"), LD_NAME_PLAIN);
	ck_assert_int_eq(KIND(".wh.a"), LD_NAME_WHITEOUT);
	ck_assert_int_eq(KIND(".wh..a"), LD_NAME_WHITEOUT);
	ck_assert_int_eq(KIND(".wh..wh..opq"), LD_NAME_OPAQUE);
	ck_assert_int_eq(KIND(".wh..wh..plnk"), LD_NAME_SKIP);
	ck_assert_int_eq(KIND(".wh."), LD_NAME_SKIP);
	ck_assert_int_eq(KIND("."), LD_NAME_SKIP);
	ck_assert_int_eq(KIND(".."), LD_NAME_SKIP);
	ck_assert_int_eq(KIND("..."), LD_NAME_PLAIN);
}
END_TEST

START_TEST(test_order)
{
	/* arena: the names at their offsets */
	const char arena[] = "b\0a\0ab\0a\0\xff\0c\0c";
	struct ld_ent e[] = {
	    {0, 1, 8, false}, /* b */
	    {2, 1, 8, true},  /* a, a whiteout */
	    {4, 2, 8, false}, /* ab */
	    {7, 1, 4, false}, /* a, an object: wins */
	    {9, 1, 8, false}, /* \xff: after everything (unsigned) */
	    {11, 1, 0, true}, /* c, a whiteout */
	    {13, 1, 0, true}, /* c again (.wh.c and a 0/0 device) */
	};
	size_t n = fs_ld_sort(e, sizeof(e) / sizeof(e[0]), arena);
	const char *want[] = {"a", "ab", "b", "c", "\xff"};

	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(
		    fs_ld_namecmp(arena + e[i].off, e[i].len, want[i], strlen(want[i])), 0);
	ck_assert(!e[0].whiteout && e[0].type == 4);
	ck_assert(e[3].whiteout);
	ck_assert_int_lt(fs_ld_namecmp("a", 1, "ab", 2), 0);
	ck_assert_int_gt(fs_ld_namecmp("b", 1, "ab", 2), 0);
	ck_assert_int_eq(fs_ld_namecmp("ab", 2, "ab", 2), 0);
}
END_TEST

START_TEST(test_xattr_names)
{
	ck_assert(fs_ld_opaque_value("y", 1));
	ck_assert(!fs_ld_opaque_value("x", 1));
	ck_assert(!fs_ld_opaque_value("yy", 2));
	ck_assert(!fs_ld_opaque_value("y", -1));
	ck_assert(fs_ld_private_xattr("trusted.overlay.opaque"));
	ck_assert(fs_ld_private_xattr("user.overlay.redirect"));
	ck_assert(fs_ld_private_xattr("user.fuseoverlayfs.opaque"));
	ck_assert(fs_ld_private_xattr("user.strata.meta"));
	ck_assert(!fs_ld_private_xattr("user.note"));
	ck_assert(!fs_ld_private_xattr("security.capability"));
}
END_TEST

static void put(const char *dir, const char *name, const char *content)
{
	char *p = tl_path(dir, name);
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

static uint64_t look(const struct strata_layer *l, uint64_t dir, const char *name)
{
	return l->ops->lookup(l, dir, name, strlen(name));
}

/* A tree: b, a/ (x, .wh.y), c -> /etc/passwd, h1 and a/h2 linked, z/ opaque. */
static char *make_tree(void)
{
	char *d = tl_mkdtemp("lowerdir"), *p;

	put(d, "b", "bee");
	p = tl_path(d, "a");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put(p, "x", "ex");
	put(p, ".wh.y", "");
	free(p);
	p = tl_path(d, "z");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	put(p, ".wh..wh..opq", "");
	free(p);
	p = tl_path(d, "c");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	free(p);
	put(d, "h1", "linked");
	{
		char *a = tl_path(d, "h1"), *b = tl_path(d, "a/h2");

		ck_assert_int_eq(link(a, b), 0);
		free(a);
		free(b);
	}
	return d;
}

START_TEST(test_layer)
{
	char *d = make_tree();
	struct strata_layer *l;
	struct strata_error err;
	uint64_t a, x, y, h1, h2, c;
	size_t len;
	struct stat st;

	ck_assert_msg(strata_layer_open_lower_dir(d, NULL, &l, &err) == 0, "%s", err.msg);
	ck_assert(l->growing);
	ck_assert_uint_eq(l->n_entries, 0);
	/* Only the root is a node before anything is listed. */
	ck_assert(layer_has_node(l, 0));
	ck_assert(!layer_has_node(l, 1));
	ck_assert_uint_eq(l->ops->n_children(l, 0), 5);
	const char *names[] = {"a", "b", "c", "h1", "z"};
	for (uint64_t i = 0; i < 5; i++) {
		const char *nm = l->ops->name(l, l->ops->child(l, 0, i), &len);

		ck_assert_uint_eq(len, strlen(names[i]));
		ck_assert(memcmp(nm, names[i], len) == 0);
	}
	a = look(l, 0, "a");
	ck_assert(S_ISDIR(l->ops->mode(l, a)));
	ck_assert_uint_eq(l->ops->flags(l, a), 0);
	ck_assert_uint_eq(l->ops->flags(l, look(l, 0, "z")), LAYER_OPAQUE);
	x = look(l, a, "x");
	y = look(l, a, "y");
	ck_assert_uint_ne(x, LAYER_NONE);
	ck_assert_uint_eq(l->ops->flags(l, y), LAYER_WHITEOUT);
	ck_assert_uint_eq(look(l, a, ".wh.y"), LAYER_NONE);
	ck_assert_uint_eq(look(l, a, "nope"), LAYER_NONE);
	ck_assert_uint_eq(l->ops->parent(l, x), a);
	ck_assert(layer_has_node(l, x));
	ck_assert(!layer_has_node(l, 1000000));
	c = look(l, 0, "c");
	ck_assert(S_ISLNK(l->ops->mode(l, c)));
	ck_assert(memcmp(l->ops->readlink(l, c, &len), "/etc/passwd", 11) == 0 && len == 11);
	/* Hard links: the first name asked about is the canonical one. */
	h2 = look(l, a, "h2");
	h1 = look(l, 0, "h1");
	ck_assert_uint_eq(l->ops->canonical(l, h2), h2);
	ck_assert_uint_eq(l->ops->canonical(l, h1), h2);
	ck_assert_uint_eq(l->ops->next_link(l, h2, LAYER_NONE), h1 < h2 ? h1 : h2);
	ck_assert_uint_eq(l->ops->canonical(l, x), x);
	ck_assert_uint_eq(l->ops->next_link(l, x, LAYER_NONE), x);
	ck_assert_uint_eq(l->ops->next_link(l, x, x), LAYER_NONE);
	l->ops->stat(l, h1, &st);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert_int_eq(st.st_size, 6);
	strata_layer_close(l);
	tl_rmrf(d);
	free(d);
}
END_TEST

static void read_all(const struct strata_layer *l, uint64_t node, char *buf, size_t size)
{
	struct layer_extent ext[4];
	size_t n = l->ops->map(l, node, 0, size, ext, 4);

	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(fs_layer_extent_read(&ext[0], buf), 0);
	buf[ext[0].len] = '\0';
}

#define N_FILES 40

START_TEST(test_many_files)
{
	char *d = tl_mkdtemp("lowerdir-many"), name[32], buf[64];
	struct strata_layer *l;
	struct strata_error err;

	for (int i = 0; i < N_FILES; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		put(d, name, name);
	}
	ck_assert_int_eq(strata_layer_open_lower_dir(d, NULL, &l, &err), 0);
	/* Twice round more files than a thread's cache holds. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N_FILES; i++) {
			snprintf(name, sizeof(name), "f%02d", i);
			read_all(l, look(l, 0, name), buf, sizeof(buf) - 1);
			ck_assert_str_eq(buf, name);
		}
	}
	strata_layer_close(l);
	tl_rmrf(d);
	free(d);
}
END_TEST

struct worker {
	const struct strata_layer *l;
	int seed;
	int bad;
};

static void *work(void *p)
{
	struct worker *w = p;
	char name[32], buf[64];

	for (int k = 0; k < 400; k++) {
		int i = (w->seed * 7 + k * 13) % N_FILES;
		uint64_t dir = look(w->l, 0, (k & 1) ? "d1" : "d2"), node;

		snprintf(name, sizeof(name), "f%02d", i);
		node = look(w->l, dir, name);
		if (node == LAYER_NONE) {
			w->bad++;
			continue;
		}
		w->l->ops->canonical(w->l, node);
		read_all(w->l, node, buf, sizeof(buf) - 1);
		w->bad += strcmp(buf, name) != 0;
	}
	return NULL;
}

/* Listings, stats and reads raced from several threads (run it under
 * ThreadSanitizer or ASan too). */
START_TEST(test_threads)
{
	char *d = tl_mkdtemp("lowerdir-threads"), name[32];
	struct worker w[8];
	pthread_t t[8];
	struct strata_layer *l;
	struct strata_error err;

	for (int k = 1; k <= 2; k++) {
		char sub[8], *p;

		snprintf(sub, sizeof(sub), "d%d", k);
		p = tl_path(d, sub);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		for (int i = 0; i < N_FILES; i++) {
			snprintf(name, sizeof(name), "f%02d", i);
			put(p, name, name);
		}
		free(p);
	}
	ck_assert_int_eq(strata_layer_open_lower_dir(d, NULL, &l, &err), 0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){l, i, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
	strata_layer_close(l);
	tl_rmrf(d);
	free(d);
}
END_TEST

START_TEST(test_open_errors)
{
	struct strata_layer *l;
	struct strata_error err;
	char *d = tl_mkdtemp("lowerdir-err");

	put(d, "file", "x");
	ck_assert_int_eq(strata_layer_open_lower_dir("/nonexistent/x", NULL, &l, &err), -1);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	{
		char *f = tl_path(d, "file");

		ck_assert_int_eq(strata_layer_open_lower_dir(f, NULL, &l, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
		free(f);
	}
	tl_rmrf(d);
	free(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lowerdir");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_name_kinds);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_xattr_names);
	tcase_add_test(tc, test_layer);
	tcase_add_test(tc, test_many_files);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_open_errors);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
