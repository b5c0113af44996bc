/* SPDX-License-Identifier: MIT */
/*
 * Random stacks: a handful of short names at a few levels, so that the
 * layers keep hitting each other's names: a file over a directory, a
 * directory over a file or a symlink, whiteouts and opaque directories over
 * what is below, symlinks whose targets climb with "..", jump to the root,
 * dangle or loop.  Within a layer the entries always form a tree.
 */
#include "stackgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static const char *const names[] = {"a", "b", "c", "l", "m"};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

uint64_t sg_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static unsigned pick(uint64_t *rng, unsigned n)
{
	return (unsigned)(sg_rand(rng) % n);
}

/* What the layer already says about @p: the entry's type, 'w' for a name a
 * whiteout hides, 'D' for a directory it implies, 0 for nothing. */
static char declared(const struct sg_layer *l, const char *p)
{
	size_t len = strlen(p);

	char implied = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct sg_entry *e = &l->e[i];
		const char *q = e->type == 'w' ? e->hides : e->path;

		if (strcmp(q, p) == 0)
			return e->type;
		if ((strncmp(e->path, p, len) == 0 && e->path[len] == '/') ||
		    (strncmp(q, p, len) == 0 && q[len] == '/'))
			implied = 'D';
	}
	return implied;
}

/* Whether @p can become a @type entry: every parent may be a directory,
 * @p is free, and a non-directory would have nothing below it. */
static int fits(const struct sg_layer *l, const char *p, char type)
{
	char buf[SG_PATH];
	char d = declared(l, p);

	if (l->n >= SG_MAX_ENTRIES || (d && !(d == 'D' && type == 'd')))
		return 0;
	snprintf(buf, sizeof(buf), "%s", p);
	for (char *s = strrchr(buf, '/'); s; s = strrchr(buf, '/')) {
		*s = '\0';
		d = declared(l, buf);
		if (d && d != 'd' && d != 'D')
			return 0;
	}
	return 1;
}

void sg_add(struct sg_layer *l, char type, const char *path, const char *arg)
{
	struct sg_entry *e = &l->e[l->n++];

	memset(e, 0, sizeof(*e));
	e->type = type;
	/* Cut to fit, as a precision says: gcc -O3 sees callers' longer
	 * buffers and would warn of a truncation a plain "%s" leaves silent. */
	snprintf(e->path, sizeof(e->path), "%.*s", (int)sizeof(e->path) - 1, path);
	e->perm = type == 'd' ? 0755 : type == 'l' ? 0777 : 0644;
	if (type == 'l')
		snprintf(e->target, sizeof(e->target), "%.*s", (int)sizeof(e->target) - 1, arg);
	else if (type == 'f')
		snprintf(e->data, sizeof(e->data), "%.*s", (int)sizeof(e->data) - 1, arg);
}

static void random_path(uint64_t *rng, char *buf, size_t size)
{
	unsigned depth = 1 + pick(rng, 3);
	size_t len = 0;

	for (unsigned i = 0; i < depth; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "/" : "",
		                        names[pick(rng, N_NAMES)]);
}

/* Relative targets that climb, absolute ones, dangling ones, and the
 * names of siblings (which loop when two links name each other). */
static void random_target(uint64_t *rng, const char *self, char *buf, size_t size)
{
	unsigned kind = pick(rng, 6), ups = pick(rng, 4);
	size_t len = 0;
	const char *base = strrchr(self, '/');

	if (kind == 0) {
		snprintf(buf, size, "%s", base ? base + 1 : self); /* itself: a loop */
		return;
	}
	if (kind == 1) {
		snprintf(buf, size, "nowhere/%s", names[pick(rng, N_NAMES)]);
		return;
	}
	if (kind == 2)
		len += (size_t)snprintf(buf + len, size - len, "/");
	else
		for (unsigned i = 0; i < ups; i++)
			len += (size_t)snprintf(buf + len, size - len, "../");
	for (unsigned i = 0, n = pick(rng, 3); i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s/", names[pick(rng, N_NAMES)]);
	if (len > 1)
		buf[len - 1] = '\0'; /* no trailing slash */
	else if (len == 0)
		snprintf(buf, size, "%s", names[pick(rng, N_NAMES)]);
}

static const unsigned dir_perms[] = {0755, 0700, 0711, 0750};
static const unsigned file_perms[] = {0644, 0600, 0755, 0640};

static void add_random(struct sg_layer *l, size_t layer, uint64_t *rng)
{
	char p[SG_PATH], q[2 * SG_PATH], t[2 * SG_PATH];
	unsigned kind = pick(rng, 10);
	char *slash;

	random_path(rng, p, sizeof(p));
	slash = strrchr(p, '/');
	if (kind < 3 && fits(l, p, 'f')) {
		snprintf(t, sizeof(t), "L%zu:%s:%u", layer, p, pick(rng, 1000));
		sg_add(l, 'f', p, t);
		l->e[l->n - 1].perm = file_perms[pick(rng, 4)];
	} else if (kind < 5 && fits(l, p, 'd')) {
		sg_add(l, 'd', p, NULL);
		l->e[l->n - 1].perm = dir_perms[pick(rng, 4)];
	} else if (kind < 8 && fits(l, p, 'l')) {
		random_target(rng, p, t, sizeof(t));
		sg_add(l, 'l', p, t);
	} else if (kind == 8 && layer > 0 && fits(l, p, 'w')) {
		snprintf(q, sizeof(q), "%.*s%s.wh.%s", slash ? (int)(slash - p) : 0, p,
		         slash ? "/" : "", slash ? slash + 1 : p);
		sg_add(l, 'w', q, NULL);
		snprintf(l->e[l->n - 1].hides, SG_PATH, "%s", p);
	} else if (kind == 9 && layer > 0) {
		/* Opaque: the directory of @p (the root, now and then). */
		if (slash)
			*slash = '\0';
		else if (pick(rng, 4))
			return;
		snprintf(q, sizeof(q), "%s%s.wh..wh..opq", slash ? p : "", slash ? "/" : "");
		if (!fits(l, q, 'f') || (slash && declared(l, p) != 'd' && !fits(l, p, 'd')))
			return;
		sg_add(l, 'o', q, NULL);
		/* Half the time the directory gets an entry of its own; the
		 * others keep the attributes of the directory below the
		 * marker, as extraction does. */
		if (slash && declared(l, p) != 'd' && pick(rng, 2)) {
			sg_add(l, 'd', p, NULL);
			l->e[l->n - 1].perm = dir_perms[pick(rng, 4)];
		}
	}
}

/* Half of the directories a layer implies get an entry of their own: the
 * others take their attributes from below (or the default). */
static void add_parents(struct sg_layer *l, uint64_t *rng)
{
	for (size_t i = 0, n = l->n; i < n; i++) {
		char buf[SG_PATH];

		snprintf(buf, sizeof(buf), "%s", l->e[i].path);
		for (char *s = strrchr(buf, '/'); s; s = strrchr(buf, '/')) {
			*s = '\0';
			if (declared(l, buf) == 'D' && l->n < SG_MAX_ENTRIES && pick(rng, 2)) {
				sg_add(l, 'd', buf, NULL);
				l->e[l->n - 1].perm = dir_perms[pick(rng, 4)];
			}
		}
	}
}

void sg_generate(struct sg_stack *st, uint64_t *rng)
{
	memset(st, 0, sizeof(*st));
	st->n = 1 + pick(rng, SG_MAX_LAYERS);
	for (size_t i = 0; i < st->n; i++) {
		unsigned n = 2 + pick(rng, 12);

		for (unsigned k = 0; k < n; k++)
			add_random(&st->l[i], i, rng);
		add_parents(&st->l[i], rng);
	}
}

/* ---- writing ---- */

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct tl_entry *)a)->name, ((const struct tl_entry *)b)->name);
}

void sg_write_layer(const struct sg_stack *st, size_t i, const char *path)
{
	const struct sg_layer *l = &st->l[i];
	struct tl_entry ents[SG_MAX_ENTRIES];

	for (size_t k = 0; k < l->n; k++) {
		const struct sg_entry *e = &l->e[k];
		bool marker = e->type == 'w' || e->type == 'o';

		ents[k] = (struct tl_entry){
		    .type = marker ? 'f' : e->type,
		    .name = e->path,
		    .data = e->type == 'f' ? e->data : "",
		    .size = e->type == 'f' ? (int64_t)strlen(e->data) : 0,
		    .target = e->type == 'l' ? e->target : NULL,
		    .perm = e->perm,
		};
	}
	/* Parents before children, as tar writers do. */
	qsort(ents, l->n, sizeof(ents[0]), by_path);
	tl_write_layer(path, TL_PAX, TL_NONE, ents, l->n);
}

/* ---- paths to resolve ---- */

struct pathset {
	char **v;
	size_t n, cap;
};

static void add_path(struct pathset *ps, const char *p)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i], p) == 0)
			return;
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 64;
		ps->v = realloc(ps->v, ps->cap * sizeof(*ps->v));
		ck_assert_ptr_nonnull(ps->v);
	}
	ps->v[ps->n] = strdup(p);
	ck_assert_ptr_nonnull(ps->v[ps->n]);
	ps->n++;
}

/* @p and its parents. */
static void add_with_parents(struct pathset *ps, const char *p)
{
	char buf[SG_PATH];

	snprintf(buf, sizeof(buf), "%s", p);
	add_path(ps, buf);
	for (char *s = strrchr(buf, '/'); s; s = strrchr(buf, '/')) {
		*s = '\0';
		add_path(ps, buf);
	}
}

/* Through a symlink: its parent by "..", and names beyond it. */
static void add_through_link(struct pathset *ps, const char *link, uint64_t *rng)
{
	char buf[3 * SG_PATH];
	const char *name = names[pick(rng, N_NAMES)];

	snprintf(buf, sizeof(buf), "%s/..", link);
	add_path(ps, buf);
	snprintf(buf, sizeof(buf), "%s/../%s", link, name);
	add_path(ps, buf);
	snprintf(buf, sizeof(buf), "%s/%s", link, name);
	add_path(ps, buf);
	snprintf(buf, sizeof(buf), "/%s/./%s/../..", link, name);
	add_path(ps, buf);
}

static void add_random_path(struct pathset *ps, uint64_t *rng)
{
	static const char *const extra[] = {"..", ".", "..", "nowhere"};
	unsigned depth = 1 + pick(rng, 6);
	char buf[512];
	size_t len = 0;

	if (pick(rng, 4) == 0)
		buf[len++] = '/';
	for (unsigned i = 0; i < depth; i++) {
		unsigned k = pick(rng, N_NAMES + 4);
		const char *c = k < N_NAMES ? names[k] : extra[k - N_NAMES];

		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "/" : "", c);
	}
	add_path(ps, buf);
}

size_t sg_paths(const struct sg_stack *st, uint64_t *rng, char ***out)
{
	struct pathset ps = {0};

	add_path(&ps, "");
	add_path(&ps, "/");
	for (size_t i = 0; i < st->n; i++)
		for (size_t k = 0; k < st->l[i].n; k++) {
			const struct sg_entry *e = &st->l[i].e[k];

			add_with_parents(&ps, e->type == 'w' ? e->hides : e->path);
			if (e->type == 'l')
				add_through_link(&ps, e->path, rng);
		}
	for (int i = 0; i < 40; i++)
		add_random_path(&ps, rng);
	*out = ps.v;
	return ps.n;
}

void sg_paths_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
