/* SPDX-License-Identifier: MIT */
/*
 * The union of layers (union.c), driven as ll.c drives it: names resolved
 * top-down through the layers, inodes made with fs_inode_table_get, listings
 * through fs_union_dir_size/fs_union_dir_entry, attributes through fs_union_stat.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll.h"
#include "union.h"
#include "testlib.h"

struct layer_spec {
	const struct tl_entry *ents;
	size_t n;
};

#define SPEC(a)                                                                                    \
	{                                                                                          \
		a, sizeof(a) / sizeof(a[0])                                                        \
	}

struct fixture {
	char *dir, *cache;
	struct strata_union *u;
	char **paths;
	size_t n_layers;
};

static const enum tl_format fmts[] = {TL_GNU, TL_PAX, TL_USTAR, TL_PAX};
static const enum tl_filter filts[] = {TL_NONE, TL_GZIP, TL_ZSTD, TL_NONE};

static struct strata_union *open_union(struct fixture *f, bool force)
{
	struct strata_layer *layers[8];
	struct strata_union *u = NULL;
	struct strata_error err = {0};

	for (size_t i = 0; i < f->n_layers; i++) {
		struct strata_layer_options o = {.cache_dir = f->cache, .force_reindex = force};

		ck_assert_msg(strata_layer_open_tar(f->paths[i], &o, &layers[i], &err) == 0, "%s",
		              err.msg);
	}
	ck_assert_msg(strata_union_new(layers, f->n_layers, &u, &err) == 0, "%s", err.msg);
	return u;
}

/* Writes the layers (lowest first) and stacks them. */
static void build(struct fixture *f, const char *tag, const struct layer_spec *specs, size_t n)
{
	memset(f, 0, sizeof(*f));
	ck_assert_uint_le(n, 4);
	f->dir = tl_mkdtemp(tag);
	f->cache = tl_path(f->dir, "cache");
	f->paths = calloc(n, sizeof(*f->paths));
	f->n_layers = n;
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "layer%zu.tar", i);
		f->paths[i] = tl_path(f->dir, name);
		tl_write_layer(f->paths[i], fmts[i], filts[i], specs[i].ents, specs[i].n);
	}
	f->u = open_union(f, false);
}

static void teardown(struct fixture *f)
{
	strata_union_free(f->u);
	for (size_t i = 0; i < f->n_layers; i++)
		free(f->paths[i]);
	free(f->paths);
	tl_rmrf(f->dir);
	free(f->dir);
	free(f->cache);
}

static uint32_t src_mode(const struct strata_union *u, const struct union_src *s)
{
	return union_layer(u, s)->ops->mode(union_layer(u, s), s->node);
}

static uint32_t src_flags(const struct strata_union *u, const struct union_src *s)
{
	return union_layer(u, s)->ops->flags(union_layer(u, s), s->node);
}

static const char *src_name(const struct strata_union *u, const struct union_src *s, size_t *len)
{
	return union_layer(u, s)->ops->name(union_layer(u, s), s->node, len);
}

/* Looks @name up in @dir and takes a reference, as ll.c's fs_do_lookup does. */
static struct inode *lookup(struct strata_union *u, struct inode *dir, const char *name, size_t len)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	uint32_t n = 12345;
	struct inode *in;

	if (!S_ISDIR(dir->mode))
		return NULL;
	if (fs_union_resolve(u, dir, name, len, srcs, &n) != 0) {
		ck_assert_uint_eq(n, 0);
		return NULL;
	}
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, u->n_layers);
	/* top first; only a directory has more than one source */
	for (uint32_t i = 0; i < n; i++) {
		ck_assert(!(src_flags(u, &srcs[i]) & LAYER_WHITEOUT));
		if (i > 0) {
			ck_assert_uint_lt(srcs[i].layer, srcs[i - 1].layer);
			ck_assert(S_ISDIR(src_mode(u, &srcs[i])));
			ck_assert(S_ISDIR(src_mode(u, &srcs[0])));
		}
	}
	in = fs_inode_table_get(&u->table, fs_union_ino(u, &srcs[0]), dir, src_mode(u, &srcs[0]),
	                        srcs, n);
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(in->parent_ino, dir->ino);
	return in;
}

/* The inode at @path ("" is the root), or NULL. */
static struct inode *walk(struct strata_union *u, const char *path)
{
	struct inode *cur = u->root;

	while (*path && cur) {
		const char *s = path;

		while (*path && *path != '/')
			path++;
		cur = lookup(u, cur, s, (size_t)(path - s));
		while (*path == '/')
			path++;
	}
	return cur;
}

static struct inode *must_walk(struct strata_union *u, const char *path)
{
	struct inode *in = walk(u, path);

	ck_assert_msg(in != NULL, "'%s' does not resolve", path);
	return in;
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* The node of @path in layer @l alone, or LAYER_NONE. */
static uint64_t layer_find(const struct strata_layer *l, const char *path)
{
	uint64_t cur = 0;

	while (*path) {
		const char *s = path;

		while (*path && *path != '/')
			path++;
		if (!S_ISDIR(l->ops->mode(l, cur)))
			return LAYER_NONE;
		cur = l->ops->lookup(l, cur, s, (size_t)(path - s));
		if (cur == LAYER_NONE)
			return LAYER_NONE;
		while (*path == '/')
			path++;
	}
	return cur;
}

/*
 * The visible listing of the directory at @path, names joined by ','.
 * Checks it on the way: sorted and without duplicates; no whiteouts at all
 * in a merged directory's listing; each entry is what lookup of its name
 * gives; and a name any layer has at this path is listed exactly when it
 * resolves.
 */
static char *list(struct strata_union *u, const char *path)
{
	struct inode *dir = must_walk(u, path);
	uint64_t n, n2;
	char *out = calloc(1, 1);
	size_t out_len = 0;
	const char *prev = NULL;
	size_t prev_len = 0;

	ck_assert(S_ISDIR(dir->mode));
	ck_assert_int_eq(fs_union_dir_size(u, dir, &n), 0);
	ck_assert_int_eq(fs_union_dir_size(u, dir, &n2), 0);
	ck_assert_uint_eq(n, n2);
	for (uint64_t i = 0; i < n; i++) {
		struct union_src s = fs_union_dir_entry(u, dir, i), r[UNION_MAX_LAYERS];
		size_t len;
		const char *nm = src_name(u, &s, &len);
		uint32_t rn;

		ck_assert_uint_lt(s.layer, u->n_layers);
		if (prev)
			ck_assert_msg(cmp_bytes(prev, prev_len, nm, len) < 0,
			              "%s: listing not sorted or duplicated at '%.*s'", path,
			              (int)len, nm);
		prev = nm;
		prev_len = len;
		if (src_flags(u, &s) & LAYER_WHITEOUT) {
			ck_assert_msg(dir->n_srcs == 1, "%s: merged listing shows whiteout '%.*s'",
			              path, (int)len, nm);
			ck_assert_int_eq(fs_union_resolve(u, dir, nm, len, r, &rn), ENOENT);
			continue;
		}
		ck_assert_msg(fs_union_resolve(u, dir, nm, len, r, &rn) == 0,
		              "%s: listed '%.*s' does not resolve", path, (int)len, nm);
		ck_assert_msg(r[0].layer == s.layer && r[0].node == s.node,
		              "%s: listing and lookup disagree on '%.*s'", path, (int)len, nm);
		out = realloc(out, out_len + len + 2);
		if (out_len)
			out[out_len++] = ',';
		memcpy(out + out_len, nm, len);
		out_len += len;
		out[out_len] = '\0';
	}
	/* Every name any layer has here: listed iff it resolves. */
	for (uint32_t L = 0; L < u->n_layers; L++) {
		const struct strata_layer *l = u->layers[L];
		uint64_t d = layer_find(l, path);

		if (d == LAYER_NONE || !S_ISDIR(l->ops->mode(l, d)))
			continue;
		for (uint64_t c = 0; c < l->ops->n_children(l, d); c++) {
			size_t len;
			const char *nm = l->ops->name(l, l->ops->child(l, d, c), &len);
			struct union_src r[UNION_MAX_LAYERS];
			uint32_t rn;
			bool resolves = fs_union_resolve(u, dir, nm, len, r, &rn) == 0,
			     listed = false;

			for (uint64_t i = 0; i < n && !listed; i++) {
				struct union_src s = fs_union_dir_entry(u, dir, i);
				size_t sl;
				const char *sn = src_name(u, &s, &sl);

				listed = sl == len && memcmp(sn, nm, len) == 0 &&
				         !(src_flags(u, &s) & LAYER_WHITEOUT);
			}
			ck_assert_msg(resolves == listed, "%s: '%.*s' resolves %d, listed %d", path,
			              (int)len, nm, resolves, listed);
		}
	}
	return out;
}

static void expect_list(struct strata_union *u, const char *path, const char *want)
{
	char *got = list(u, path);

	ck_assert_msg(strcmp(got, want) == 0, "listing of '%s': got \"%s\", want \"%s\"", path, got,
	              want);
	free(got);
}

/* The content of the file at @path, as a string. */
static char *content(struct strata_union *u, const char *path)
{
	struct inode *in = must_walk(u, path);
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	struct stat st;
	struct layer_extent ext[4];
	char *buf;
	size_t n;

	ck_assert(S_ISREG(in->mode));
	fs_union_stat(u, in, &st);
	buf = calloc(1, (size_t)st.st_size + 1);
	if (st.st_size == 0)
		return buf;
	n = l->ops->map(l, in->srcs[0].node, 0, (uint64_t)st.st_size, ext, 4);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ext[0].len, (uint64_t)st.st_size);
	ck_assert_int_eq(fs_layer_extent_read(&ext[0], buf), 0);
	return buf;
}

static void expect_content(struct strata_union *u, const char *path, const char *want)
{
	char *got = content(u, path);

	ck_assert_msg(strcmp(got, want) == 0, "%s: \"%s\", want \"%s\"", path, got, want);
	free(got);
}

static struct stat stat_of(struct strata_union *u, const char *path)
{
	struct stat st;

	fs_union_stat(u, must_walk(u, path), &st);
	return st;
}

#define F(n, text)                                                                                 \
	{                                                                                          \
		.type = 'f', .name = n, .data = text, .size = sizeof(text) - 1                     \
	}
#define D(n)                                                                                       \
	{                                                                                          \
		.type = 'd', .name = n                                                             \
	}
#define WH(n)                                                                                      \
	{                                                                                          \
		.type = 'f', .name = n                                                             \
	}

/* ---- the main stack ---- */

static const struct tl_entry main0[] = {
    D("a"),
    F("a/x", "x0"),
    F("a/y", "y0"),
    D("a/sub"),
    F("a/sub/deep", "deep"),
    F("b", "b0"),
    D("c"),
    F("c/old", "old"),
    F("d", "d0"),
    D("e"),
    F("e/k", "k0"),
    F("hl", "hl"),
    {.type = 'h', .name = "hl2", .target = "hl"},
    D("opq"),
    F("opq/lower1", "1"),
    F("opq/lower2", "2"),
    F("same", "low"),
    D("wdir"),
    F("wdir/f", "f"),
    F("only0", "o0"),
    {.type = 'd', .name = "m", .perm = 0700, .uid = 1},
    F("m/lo", "lo"),
};
static const struct tl_entry main1[] = {
    D("a"),
    F("a/z", "z1"),
    WH("a/.wh.x"),
    WH(".wh.b"),
    F("c", "c1"),
    D("d"),
    F("d/new", "new"),
    WH("opq/.wh..wh..opq"),
    F("opq/upper", "u"),
    F("same", "mid"),
    WH(".wh.wdir"),
    F("wdir/g", "g"),
    D("e"),
    WH("e/.wh.k"),
    WH("e/.wh.notthere"),
    {.type = 'd', .name = "m", .perm = 0750, .uid = 2, .mtime = 777},
    F("m/mid", "mid"),
    D("nd"),
    WH("nd/.wh.ghost"),
    F("nd/real", "r"),
};
static const struct tl_entry main2[] = {
    F("b", "b2"),  F("same", "top"),  D("a"),          F("a/x", "x2"), D("only2"), D("only2/s1"),
    D("only2/s2"), F("only2/f", "f"), D("only2/s1/t"),
};
static const struct layer_spec main_stack[] = {SPEC(main0), SPEC(main1), SPEC(main2)};

START_TEST(test_main_stack)
{
	struct fixture f;
	struct strata_union *u;
	struct inode *in;
	struct stat st;

	build(&f, "main", main_stack, 3);
	u = f.u;
	ck_assert_uint_eq(u->n_layers, 3);
	ck_assert_uint_eq(u->root->n_srcs, 3);
	ck_assert_uint_eq(u->root->ino, 1);
	expect_list(u, "", "a,b,c,d,e,hl,hl2,m,nd,only0,only2,opq,same,wdir");

	/* a: merged from all three; x whited out in 1 and made again in 2 */
	in = must_walk(u, "a");
	ck_assert_uint_eq(in->n_srcs, 3);
	ck_assert_uint_eq(in->srcs[0].layer, 2);
	ck_assert_uint_eq(in->srcs[2].layer, 0);
	expect_list(u, "a", "sub,x,y,z");
	expect_content(u, "a/x", "x2");
	expect_content(u, "a/y", "y0");
	expect_content(u, "a/z", "z1");
	expect_content(u, "a/sub/deep", "deep");
	ck_assert_uint_eq(must_walk(u, "a/x")->srcs[0].layer, 2);

	/* b: whited out in 1, a new file in 2 */
	expect_content(u, "b", "b2");
	ck_assert_uint_eq(must_walk(u, "b")->n_srcs, 1);

	/* c: a file over a directory */
	in = must_walk(u, "c");
	ck_assert(S_ISREG(in->mode));
	ck_assert_uint_eq(in->n_srcs, 1);
	expect_content(u, "c", "c1");
	ck_assert_ptr_null(walk(u, "c/old"));

	/* d: a directory over a file: only the upper directory */
	in = must_walk(u, "d");
	ck_assert(S_ISDIR(in->mode));
	ck_assert_uint_eq(in->n_srcs, 1);
	ck_assert_uint_eq(in->srcs[0].layer, 1);
	expect_list(u, "d", "new");

	/* e: every lower name whited out: an empty merged directory */
	in = must_walk(u, "e");
	ck_assert_uint_eq(in->n_srcs, 2);
	expect_list(u, "e", "");
	ck_assert_ptr_null(walk(u, "e/k"));
	ck_assert_ptr_null(walk(u, "e/notthere"));

	/* opq: opaque in 1: nothing of 0 below it */
	in = must_walk(u, "opq");
	ck_assert_uint_eq(in->n_srcs, 1);
	ck_assert_uint_eq(in->srcs[0].layer, 1);
	expect_list(u, "opq", "upper");
	ck_assert_ptr_null(walk(u, "opq/lower1"));

	/* wdir: removed and made again in 1 */
	in = must_walk(u, "wdir");
	ck_assert_uint_eq(in->n_srcs, 1);
	expect_list(u, "wdir", "g");
	ck_assert_ptr_null(walk(u, "wdir/f"));

	/* nd: only in 1, with a whiteout of a name no lower layer has */
	in = must_walk(u, "nd");
	ck_assert_uint_eq(in->n_srcs, 1);
	expect_list(u, "nd", "real");
	ck_assert_ptr_null(walk(u, "nd/ghost"));
	ck_assert_ptr_null(walk(u, "nd/.wh.ghost"));

	/* names of the whiteouts themselves never resolve */
	ck_assert_ptr_null(walk(u, ".wh.b"));
	ck_assert_ptr_null(walk(u, "a/.wh.x"));
	ck_assert_ptr_null(walk(u, "opq/.wh..wh..opq"));
	ck_assert_ptr_null(walk(u, "nope"));
	ck_assert_ptr_null(walk(u, "only0/under_a_file"));

	/* the top layer's file wins, with its attributes */
	expect_content(u, "same", "top");
	ck_assert_uint_eq(must_walk(u, "same")->srcs[0].layer, 2);
	expect_content(u, "only0", "o0");

	/* a merged directory's attributes are its top layer's, but nlink 1 */
	st = stat_of(u, "m");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0750);
	ck_assert_uint_eq(st.st_uid, 2);
	ck_assert_int_eq(st.st_mtim.tv_sec, 777);
	ck_assert_uint_eq(st.st_nlink, 1);
	expect_list(u, "m", "lo,mid");
	ck_assert_uint_eq(stat_of(u, "").st_nlink, 1);
	ck_assert_uint_eq(stat_of(u, "a").st_nlink, 1);
	ck_assert_uint_eq(stat_of(u, "e").st_nlink, 1);
	/* a single-layer directory: 2 + its subdirectories */
	ck_assert_uint_eq(stat_of(u, "only2").st_nlink, 4);
	ck_assert_uint_eq(stat_of(u, "only2/s1").st_nlink, 3);
	ck_assert_uint_eq(stat_of(u, "only2/s2").st_nlink, 2);
	ck_assert_uint_eq(stat_of(u, "d").st_nlink, 2);
	ck_assert_uint_eq(stat_of(u, "opq").st_nlink, 2);
	expect_list(u, "only2", "f,s1,s2");

	/* hard links: one inode number, nlink 2 */
	st = stat_of(u, "hl");
	ck_assert_uint_eq(st.st_nlink, 2);
	ck_assert_uint_eq(st.st_ino, stat_of(u, "hl2").st_ino);
	ck_assert_ptr_eq(must_walk(u, "hl"), must_walk(u, "hl2"));
	ck_assert_uint_eq(stat_of(u, "").st_ino, 1);

	ck_assert_uint_eq(u->total_entries, u->layers[0]->n_entries + u->layers[1]->n_entries +
	                                        u->layers[2]->n_entries);
	teardown(&f);
}
END_TEST

/* st_ino: distinct per file, shared by hard links, and the same when the
 * union is made again from the same layers, with or without a new index. */
static const char *const ino_paths[] = {
    "",         "a",          "a/x", "a/y",       "a/z",   "a/sub", "a/sub/deep",
    "b",        "c",          "d",   "d/new",     "e",     "hl",    "m",
    "m/lo",     "m/mid",      "nd",  "nd/real",   "only0", "only2", "only2/f",
    "only2/s1", "only2/s1/t", "opq", "opq/upper", "same",  "wdir",  "wdir/g",
};
#define N_INO_PATHS (sizeof(ino_paths) / sizeof(ino_paths[0]))

START_TEST(test_ino_stable)
{
	struct fixture f;
	uint64_t first[N_INO_PATHS];

	build(&f, "ino", main_stack, 3);
	for (size_t i = 0; i < N_INO_PATHS; i++) {
		first[i] = must_walk(f.u, ino_paths[i])->ino;
		ck_assert_uint_eq(stat_of(f.u, ino_paths[i]).st_ino, first[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(first[i] != first[j], "'%s' and '%s' share st_ino %llu",
			              ino_paths[i], ino_paths[j], (unsigned long long)first[i]);
	}
	ck_assert_uint_eq(must_walk(f.u, "hl2")->ino, must_walk(f.u, "hl")->ino);
	for (int round = 0; round < 2; round++) {
		struct strata_union *v;

		strata_union_free(f.u);
		/* round 0: the cached indexes; round 1: indexes built again */
		f.u = v = open_union(&f, round == 1);
		for (size_t i = 0; i < N_INO_PATHS; i++)
			ck_assert_msg(must_walk(v, ino_paths[i])->ino == first[i],
			              "round %d: st_ino of '%s' changed", round, ino_paths[i]);
	}
	teardown(&f);
}
END_TEST

/* ---- other stacks ---- */

START_TEST(test_opaque_root)
{
	static const struct tl_entry l0[] = {F("x", "x"), F("y", "y"), D("dir"), F("dir/in", "i")};
	static const struct tl_entry l1[] = {WH(".wh..wh..opq"), F("z", "z"), D("dir")};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1)};
	struct fixture f;

	build(&f, "opqroot", s, 2);
	ck_assert_uint_eq(f.u->root->n_srcs, 1);
	ck_assert_uint_eq(f.u->root->srcs[0].layer, 1);
	expect_list(f.u, "", "dir,z");
	ck_assert_ptr_null(walk(f.u, "x"));
	ck_assert_ptr_null(walk(f.u, "dir/in"));
	expect_list(f.u, "dir", "");
	ck_assert_uint_eq(stat_of(f.u, "").st_nlink, 3); /* single-layer root */
	teardown(&f);
}
END_TEST

START_TEST(test_dir_file_dir)
{
	/* p: dir in 0, file in 1, dir in 2; q: file, dir, file; r: dir, dir over whiteout */
	static const struct tl_entry l0[] = {D("p"),        F("p/q0", "0"), F("q", "q0"), D("r"),
	                                     F("r/0", "0"), D("s"),         F("s/0", "0")};
	static const struct tl_entry l1[] = {F("p", "p1"), D("q"), F("q/1", "1"),
	                                     WH(".wh.r"),  D("s"), F("s/1", "1")};
	static const struct tl_entry l2[] = {D("p"), F("p/2", "2"), F("q", "q2"), D("r"),
	                                     F("r/2", "2")};
	static const struct tl_entry l3[] = {D("p"), F("p/3", "3"), D("s"), F("s/3", "3"),
	                                     WH("s/.wh.1")};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1), SPEC(l2), SPEC(l3)};
	struct fixture f;
	struct inode *in;

	build(&f, "dfd", s, 4);
	in = must_walk(f.u, "p");
	ck_assert_uint_eq(in->n_srcs, 2); /* 3 and 2; the file in 1 ends it */
	ck_assert_uint_eq(in->srcs[0].layer, 3);
	ck_assert_uint_eq(in->srcs[1].layer, 2);
	expect_list(f.u, "p", "2,3");
	ck_assert_ptr_null(walk(f.u, "p/q0"));
	expect_content(f.u, "q", "q2");
	ck_assert_ptr_null(walk(f.u, "q/1"));
	in = must_walk(f.u, "r");
	ck_assert_uint_eq(in->n_srcs, 1);
	expect_list(f.u, "r", "2");
	in = must_walk(f.u, "s");
	ck_assert_uint_eq(in->n_srcs, 3);
	expect_list(f.u, "s", "0,3");
	expect_list(f.u, "", "p,q,r,s");
	teardown(&f);
}
END_TEST

/* A whiteout and a real entry of the same name in one layer: the entry
 * shows, and lower layers stay hidden below it. */
START_TEST(test_whiteout_and_entry_same_layer)
{
	static const struct tl_entry l0[] = {D("w"),        F("w/a", "a"), D("v"),
	                                     F("v/a", "a"), D("u"),        F("u/a", "a")};
	static const struct tl_entry l1[] = {
	    WH(".wh.w"),   D("w"),
	    F("w/b", "b"), /* whiteout first, then the dir */
	    D("v"),        F("v/b", "b"),
	    WH(".wh.v"),                         /* the dir first, then its whiteout */
	    WH(".wh.u"),   F("u", "now a file"), /* a file in place of the dir */
	    F("n", "n1"),  WH(".wh.n"),
	};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1)};
	struct fixture f;

	build(&f, "whsame", s, 2);
	expect_list(f.u, "", "n,u,v,w");
	ck_assert_uint_eq(must_walk(f.u, "w")->n_srcs, 1);
	expect_list(f.u, "w", "b");
	ck_assert_uint_eq(must_walk(f.u, "v")->n_srcs, 1);
	expect_list(f.u, "v", "b");
	expect_content(f.u, "u", "now a file");
	expect_content(f.u, "n", "n1");
	teardown(&f);
}
END_TEST

/* Listing order across layers is byte order, shorter first. */
START_TEST(test_merge_order)
{
	static const struct tl_entry l0[] = {F("a", "0"), F("a\xff", "0"), F("B", "0"),
	                                     F("zz", "0")};
	static const struct tl_entry l1[] = {F("a\x01", "1"), F("ab", "1"), F("a", "1")};
	static const struct tl_entry l2[] = {F("\xc3\xa9", "2"), F("A", "2"), F("z", "2"),
	                                     WH(".wh.zz")};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1), SPEC(l2)};
	struct fixture f;

	build(&f, "order", s, 3);
	expect_list(f.u, "", "A,B,a,a\x01,ab,a\xff,z,\xc3\xa9");
	expect_content(f.u, "a", "1");
	teardown(&f);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A large merge against a model of it. */
START_TEST(test_merge_many)
{
	enum { N = 600 };
	static char names[3][N][16];
	struct tl_entry *e[3];
	size_t n[3] = {0, 0, 0};
	struct layer_spec s[3];
	struct fixture f;
	char *want = calloc(N * 8, 1);
	size_t wl = 0;
	char *sorted[N];
	size_t ns = 0;

	for (int L = 0; L < 3; L++)
		e[L] = calloc(N, sizeof(*e[L]));
	/* i in layer 0 if even; in 1 if i%3==0 (whiteout when i%9==0); in 2 if i%5==0 */
	for (int i = 0; i < N; i++) {
		bool vis = false;

		if (i % 2 == 0) {
			snprintf(names[0][n[0]], 16, "n%d", i);
			e[0][n[0]] = (struct tl_entry){.type = 'f', .name = names[0][n[0]]};
			n[0]++;
			vis = true;
		}
		if (i % 3 == 0) {
			snprintf(names[1][n[1]], 16, i % 9 == 0 ? ".wh.n%d" : "n%d", i);
			e[1][n[1]] = (struct tl_entry){.type = 'f', .name = names[1][n[1]]};
			n[1]++;
			vis = i % 9 != 0;
		}
		if (i % 5 == 0) {
			snprintf(names[2][n[2]], 16, "n%d", i);
			e[2][n[2]] = (struct tl_entry){.type = 'd', .name = names[2][n[2]]};
			n[2]++;
			vis = true;
		}
		if (vis) {
			sorted[ns] = malloc(16);
			snprintf(sorted[ns++], 16, "n%d", i);
		}
	}
	/* For names without NUL bytes, strcmp order is memcmp-then-shorter order. */
	qsort(sorted, ns, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < ns; i++) {
		wl += (size_t)sprintf(want + wl, "%s%s", i ? "," : "", sorted[i]);
		free(sorted[i]);
	}
	for (int L = 0; L < 3; L++)
		s[L] = (struct layer_spec){e[L], n[L]};
	build(&f, "many", s, 3);
	expect_list(f.u, "", want);
	teardown(&f);
	for (int L = 0; L < 3; L++)
		free(e[L]);
	free(want);
}
END_TEST

/* Two threads listing a merged directory for the first time at once. */
struct lister {
	struct strata_union *u;
	struct inode *dir;
	uint64_t n;
	pthread_barrier_t *bar;
};

static void *list_thread(void *p)
{
	struct lister *l = p;

	pthread_barrier_wait(l->bar);
	ck_assert_int_eq(fs_union_dir_size(l->u, l->dir, &l->n), 0);
	return NULL;
}

START_TEST(test_concurrent_first_listing)
{
	enum { T = 8 };
	struct fixture f;
	pthread_barrier_t bar;
	pthread_t th[T];
	struct lister ls[T];

	build(&f, "conc", main_stack, 3);
	for (int round = 0; round < 50; round++) {
		/* a fresh inode each round: built with no listing yet */
		struct inode *root = f.u->root;
		struct inode *dir =
		    fs_inode_new(1000 + (uint64_t)round, 1, root->mode, root->srcs, root->n_srcs);

		pthread_barrier_init(&bar, NULL, T);
		for (int t = 0; t < T; t++) {
			ls[t] = (struct lister){f.u, dir, 0, &bar};
			pthread_create(&th[t], NULL, list_thread, &ls[t]);
		}
		for (int t = 0; t < T; t++) {
			pthread_join(th[t], NULL);
			ck_assert_uint_eq(ls[t].n, 14);
		}
		pthread_barrier_destroy(&bar);
		ck_assert_uint_eq(fs_union_dir_entry(f.u, dir, 13).layer, 1); /* wdir */
		fs_inode_free(dir);
	}
	teardown(&f);
}
END_TEST

START_TEST(test_union_new_errors)
{
	static const struct tl_entry l0[] = {F("x", "x")};
	struct strata_error err = {0};
	struct strata_union *u = NULL;
	struct strata_layer **many;
	char *dir = tl_mkdtemp("errs"), *cache = tl_path(dir, "cache"), *p = tl_path(dir, "l.tar");

	ck_assert_int_eq(strata_union_new(NULL, 0, &u, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_USAGE);
	ck_assert_ptr_null(u);
	/* One too many: every layer is closed (ASan would see a leak). */
	tl_write_layer(p, TL_USTAR, TL_NONE, l0, 1);
	many = calloc(UNION_MAX_LAYERS + 1, sizeof(*many));
	for (int i = 0; i < UNION_MAX_LAYERS + 1; i++)
		many[i] = tl_open_layer(p, cache, NULL);
	ck_assert_int_eq(strata_union_new(many, UNION_MAX_LAYERS + 1, &u, &err), -1);
	ck_assert_int_eq(err.code, STRATA_ERR_USAGE);
	/* Exactly the maximum works. */
	for (int i = 0; i < UNION_MAX_LAYERS; i++)
		many[i] = tl_open_layer(p, cache, NULL);
	ck_assert_int_eq(strata_union_new(many, UNION_MAX_LAYERS, &u, &err), 0);
	ck_assert_uint_eq(u->root->n_srcs, UNION_MAX_LAYERS);
	expect_list(u, "", "x");
	ck_assert_uint_eq(must_walk(u, "x")->srcs[0].layer, UNION_MAX_LAYERS - 1);
	ck_assert_uint_eq(u->total_entries, 2 * UNION_MAX_LAYERS);
	strata_union_free(u);
	strata_union_free(NULL);
	free(many);
	tl_rmrf(dir);
	free(dir);
	free(cache);
	free(p);
}
END_TEST

/* A directory a layer only implies keeps the attributes a lower layer's
 * entry gave it (docs/union.md, "Attributes"). */
START_TEST(test_implicit_dir_attrs)
{
	static const struct tl_entry l0[] = {
	    {.type = 'd', .name = "./", .perm = 0711, .uid = 3, .mtime = 30},
	    {.type = 'd', .name = "a", .perm = 0700, .uid = 5, .gid = 6, .mtime = 50},
	    F("b/y", "y"),
	    {.type = 'd', .name = "c", .perm = 0700, .uid = 5},
	    F("c/old", "o"),
	    {.type = 'd', .name = "e", .perm = 0750, .uid = 8, .mtime = 80},
	};
	static const struct tl_entry l1[] = {
	    F("a/x", "x"), F("b/z", "z"),
	    WH(".wh.c"),   F("c/new", "n"),
	    F("n/x", "x"), {.type = 'd', .name = "e", .perm = 0705, .uid = 9, .mtime = 90},
	};
	static const struct tl_entry l2[] = {F("e/sub/f", "f")};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1), SPEC(l2)};
	struct fixture f;
	struct stat st;

	build(&f, "implicit", s, 3);
	/* the root: implied by 1 and 2, described by 0 */
	st = stat_of(f.u, "");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0711);
	ck_assert_uint_eq(st.st_uid, 3);
	ck_assert_int_eq(st.st_mtim.tv_sec, 30);
	ck_assert_uint_eq(st.st_ino, 1);
	/* a: implied by 1, described by 0 */
	st = stat_of(f.u, "a");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0700);
	ck_assert_uint_eq(st.st_uid, 5);
	ck_assert_uint_eq(st.st_gid, 6);
	ck_assert_int_eq(st.st_mtim.tv_sec, 50);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_uint_eq(st.st_ino, must_walk(f.u, "a")->ino);
	ck_assert_uint_eq(must_walk(f.u, "a")->srcs[0].layer, 1); /* the number: the top */
	/* b: only ever implied */
	st = stat_of(f.u, "b");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0755);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, 0);
	expect_list(f.u, "b", "y,z");
	/* c: removed and implied again in 1: the lower entry is hidden */
	st = stat_of(f.u, "c");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0755);
	ck_assert_uint_eq(st.st_uid, 0);
	expect_list(f.u, "c", "new");
	/* n: implied by one layer only */
	ck_assert_uint_eq(stat_of(f.u, "n").st_mode, S_IFDIR | 0755);
	ck_assert_uint_eq(stat_of(f.u, "n").st_nlink, 2);
	/* e: implied by 2, described by 1 and 0: the higher entry wins */
	st = stat_of(f.u, "e");
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0705);
	ck_assert_uint_eq(st.st_uid, 9);
	ck_assert_int_eq(st.st_mtim.tv_sec, 90);
	expect_list(f.u, "e", "sub");
	teardown(&f);
}
END_TEST

/* A single layer: the union is the layer. */
START_TEST(test_single_layer)
{
	static const struct tl_entry l0[] = {D("d"), D("d/e"), F("d/f", "f"), WH(".wh.gone"),
	                                     F("x", "x")};
	static const struct layer_spec s[] = {SPEC(l0)};
	struct fixture f;

	build(&f, "single", s, 1);
	ck_assert_uint_eq(f.u->root->n_srcs, 1);
	expect_list(f.u, "", "d,x");
	ck_assert_uint_eq(stat_of(f.u, "").st_nlink, 3);
	ck_assert_uint_eq(stat_of(f.u, "d").st_nlink, 3);
	ck_assert_ptr_null(walk(f.u, "gone"));
	expect_content(f.u, "d/f", "f");
	ck_assert_uint_eq(must_walk(f.u, "x")->ino, (1ULL << 40) | 3);
	teardown(&f);
}
END_TEST

/* strata run's mount points: a directory layer below the image fills in
 * what the image lacks, loses to what it has, and takes no inode number
 * the image's files had without it. */
START_TEST(test_base_layer)
{
	static const struct tl_entry l0[] = {D("etc"), F("etc/hosts", "image's"), D("proc"),
	                                     F("x", "x"), WH(".wh.sys")};
	static const struct layer_spec s[] = {SPEC(l0)};
	struct strata_layer *base;
	struct strata_error err;
	struct fixture f;
	uint64_t x_ino, etc_ino;
	char *dir;

	build(&f, "base", s, 1);
	x_ino = must_walk(f.u, "x")->ino;
	etc_ino = must_walk(f.u, "etc")->ino;
	strata_union_free(f.u);
	f.u = open_union(&f, false);
	dir = tl_path(f.dir, "mp");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (const char *const *d = (const char *const[]){"dev", "etc", "proc", "sys", NULL}; *d;
	     d++) {
		char *p = tl_path(dir, *d);

		ck_assert_int_eq(mkdir(p, 0755), 0);
		free(p);
	}
	for (const char *const *n = (const char *const[]){"etc/hostname", "etc/hosts", NULL}; *n;
	     n++) {
		char *p = tl_path(dir, *n);

		tl_write_file(p, "", 0);
		free(p);
	}
	ck_assert_msg(strata_layer_open_dir(dir, NULL, &base, &err) == 0, "%s", err.msg);
	ck_assert_msg(strata_union_set_base(f.u, base, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(f.u->n_layers, 2);
	/* sys: whited out by the image, a layer above the base. */
	expect_list(f.u, "", "dev,etc,proc,x");
	expect_list(f.u, "etc", "hostname,hosts");
	expect_content(f.u, "etc/hosts", "image's");
	ck_assert_uint_eq(stat_of(f.u, "etc/hostname").st_size, 0);
	ck_assert_uint_eq(must_walk(f.u, "x")->ino, x_ino);
	ck_assert_uint_eq(must_walk(f.u, "etc")->ino, etc_ino);
	ck_assert_uint_eq(must_walk(f.u, "dev")->ino & ~((1ULL << 40) - 1), UNION_BASE_INO);
	ck_assert(must_walk(f.u, "dev")->ino != must_walk(f.u, "etc/hostname")->ino);
	/* One base only. */
	ck_assert_int_eq(strata_layer_open_dir(dir, NULL, &base, &err), 0);
	ck_assert_int_eq(strata_union_set_base(f.u, base, &err), -1);
	free(dir);
	teardown(&f);
}
END_TEST

/* ---- lower files without inodes (stateless.c) ---- */

/* What a lookup of @path resolves to, without making an inode. */
static struct union_src resolve_path(struct strata_union *u, const char *dirpath, const char *name,
                                     struct inode **dir)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	uint32_t n;

	*dir = must_walk(u, dirpath);
	ck_assert_int_eq(fs_union_resolve(u, *dir, name, strlen(name), srcs, &n), 0);
	ck_assert_uint_eq(n, 1);
	return srcs[0];
}

/* The ids of lower files decode to their canonical entry; which of them may
 * go without an inode; the kernel's count moves from the counter to the
 * inode a change makes, and an inode made for an id is freed at the
 * kernel's last forget. */
START_TEST(test_stateless_ids)
{
	static const struct tl_entry l0[] = {D("a"),
	                                     F("a/low", "low"),
	                                     D("b"),
	                                     F("b/f", "f"),
	                                     {.type = 'h', .name = "b/g", .target = "b/f"},
	                                     {.type = 'l', .name = "b/l", .target = "f"}};
	static const struct tl_entry l1[] = {D("a"), F("a/top", "top"), F("t", "t")};
	static const struct layer_spec s[] = {SPEC(l0), SPEC(l1)};
	struct union_src src, got;
	struct inode *dir, *in, *peeked;
	union inode_tmp tmp;
	struct fixture f;
	uint64_t ino;

	build(&f, "stateless", s, 2);
	ck_assert_int_eq(fs_union_stateless_init(f.u), 0);

	/* In the directory's own top layer: no inode needed. */
	src = resolve_path(f.u, "a", "top", &dir);
	ck_assert(fs_union_stateless_ok(f.u, dir, &src, src_mode(f.u, &src)));
	ino = fs_union_ino(f.u, &src);
	ck_assert_uint_eq(ino >> 40, 2);
	ck_assert(fs_union_ino_decode(f.u, ino, &got));
	ck_assert_uint_eq(got.layer, src.layer);
	ck_assert_uint_eq(got.node, src.node);
	src = resolve_path(f.u, "", "t", &dir);
	ck_assert(fs_union_stateless_ok(f.u, dir, &src, src_mode(f.u, &src)));
	/* From a lower layer than its merged directory's top: an inode. */
	src = resolve_path(f.u, "a", "low", &dir);
	ck_assert(!fs_union_stateless_ok(f.u, dir, &src, src_mode(f.u, &src)));
	/* A hard link's other name: an inode; its id is the first name's. */
	src = resolve_path(f.u, "b", "g", &dir);
	ck_assert(!fs_union_stateless_ok(f.u, dir, &src, src_mode(f.u, &src)));
	ck_assert(fs_union_ino_decode(f.u, fs_union_ino(f.u, &src), &got));
	ck_assert_uint_ne(got.node, src.node);
	ck_assert_uint_eq(fs_union_ino(f.u, &got), fs_union_ino(f.u, &src));
	src = resolve_path(f.u, "b", "l", &dir);
	ck_assert(fs_union_stateless_ok(f.u, dir, &src, src_mode(f.u, &src)));
	/* Directories, the root, upper and unknown numbers never decode. */
	ck_assert(!fs_union_ino_decode(f.u, must_walk(f.u, "b")->ino, &got));
	ck_assert(!fs_union_ino_decode(f.u, 1, &got));
	ck_assert(!fs_union_ino_decode(f.u, UNION_UPPER_INO | 5, &got));
	ck_assert(!fs_union_ino_decode(f.u, (1ULL << 40) | 999999, &got));
	ck_assert(!fs_union_ino_decode(f.u, (7ULL << 40) | 1, &got));

	/* Counted without an inode; read through a temporary one. */
	src = resolve_path(f.u, "b", "f", &dir);
	ino = fs_union_ino(f.u, &src);
	/* Not held by the kernel yet: no inode is made for it (a rename of a
	 * name whose entry the kernel holds under another id fails with
	 * ESTALE, and the kernel looks it up again). */
	ck_assert_ptr_null(fs_inode_held(f.u, ino));
	ck_assert_ptr_null(fs_inode_table_find(&f.u->table, ino));
	for (int i = 0; i < 3; i++) {
		ck_assert(fs_inode_table_ref_lower(&f.u->table, ino, &in));
		ck_assert_ptr_null(in);
	}
	ck_assert_ptr_null(fs_inode_table_find(&f.u->table, ino));
	peeked = fs_inode_peek(f.u, ino, &tmp);
	ck_assert_ptr_eq(peeked, &tmp.in);
	ck_assert_uint_eq(peeked->srcs[0].node, src.node);
	ck_assert(!inode_in_upper(peeked));
	fs_inode_table_forget(&f.u->table, ino, 1); /* 2 left */
	/* It gains state: its inode, in the directory it was found in, with
	 * the kernel's count. */
	in = fs_inode_of(f.u, ino);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_eq(fs_inode_table_find(&f.u->table, ino), in);
	ck_assert_uint_eq(in->parent_ino, dir->ino);
	ck_assert_uint_eq(in->nlookup, 2);
	ck_assert_ptr_eq(fs_inode_of(f.u, ino), in);
	ck_assert_ptr_eq(fs_inode_peek(f.u, ino, &tmp), in);
	/* Later lookups count on the inode. */
	ck_assert(fs_inode_table_ref_lower(&f.u->table, ino, &peeked));
	ck_assert_ptr_eq(peeked, in);
	ck_assert_uint_eq(in->nlookup, 3);
	fs_inode_table_forget(&f.u->table, ino, 2);
	ck_assert_ptr_eq(fs_inode_table_find(&f.u->table, ino), in);
	fs_inode_table_forget(&f.u->table, ino, 1);
	ck_assert_ptr_null(fs_inode_table_find(&f.u->table, ino));
	/* Stateless again, and a forget of more than counted stops at 0. */
	ck_assert(fs_inode_table_ref_lower(&f.u->table, ino, &in));
	ck_assert_ptr_null(in);
	fs_inode_table_forget(&f.u->table, ino, 5);
	ck_assert(fs_inode_table_ref_lower(&f.u->table, ino, &in));
	in = fs_inode_held(f.u, ino);
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(in->nlookup, 1);
	/* A gone inode of the number keeps counting: no counter meanwhile. */
	fs_inode_table_unhash(&f.u->table, in);
	ck_assert(!fs_inode_table_ref_lower(&f.u->table, ino, &in));
	fs_inode_table_forget(&f.u->table, ino, 1);
	ck_assert_ptr_null(fs_inode_table_node(&f.u->table, ino));
	/* A full counter: the lookup makes an inode instead. */
	src = resolve_path(f.u, "", "t", &dir);
	ino = fs_union_ino(f.u, &src);
	f.u->table.lower[ino >> 40].count[src.node] = UINT16_MAX;
	ck_assert(!fs_inode_table_ref_lower(&f.u->table, ino, &in));
	in = fs_inode_table_get(&f.u->table, ino, dir, src_mode(f.u, &src), &src, 1);
	ck_assert_uint_eq(in->nlookup, (uint64_t)UINT16_MAX + 1);
	fs_inode_table_forget(&f.u->table, ino, (uint64_t)UINT16_MAX + 1);
	ck_assert_ptr_null(fs_inode_table_find(&f.u->table, ino));
	teardown(&f);
}
END_TEST

static Suite *union_suite(void)
{
	Suite *s = suite_create("union");
	TCase *tc = tcase_create("union");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_main_stack);
	tcase_add_test(tc, test_ino_stable);
	tcase_add_test(tc, test_opaque_root);
	tcase_add_test(tc, test_dir_file_dir);
	tcase_add_test(tc, test_whiteout_and_entry_same_layer);
	tcase_add_test(tc, test_merge_order);
	tcase_add_test(tc, test_merge_many);
	tcase_add_test(tc, test_concurrent_first_listing);
	tcase_add_test(tc, test_union_new_errors);
	tcase_add_test(tc, test_single_layer);
	tcase_add_test(tc, test_implicit_dir_attrs);
	tcase_add_test(tc, test_base_layer);
	tcase_add_test(tc, test_stateless_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tl_run_suite(union_suite());
}
