/* SPDX-License-Identifier: MIT */
/*
 * Reading trees without mounting, for inspect, ls, cat, diff and commit:
 * one layer as it is (whiteouts included), or a stack of layers merged by
 * the same rules as the mount, which are stack.c's.  Nothing here is cached
 * or shared: each call resolves afresh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer.h"
#include "stack.h"
#include "sys.h"

static uint32_t entry_flags(uint32_t lf)
{
	return (lf & LAYER_WHITEOUT ? STRATA_ENTRY_WHITEOUT : 0) |
	       (lf & LAYER_OPAQUE ? STRATA_ENTRY_OPAQUE : 0) |
	       (lf & LAYER_IMPLICIT ? STRATA_ENTRY_IMPLICIT : 0);
}

static void fill_entry(const struct strata_layer *l, uint64_t node, const char *path,
                       struct strata_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->src = l;
	e->node = node;
	e->flags = entry_flags(l->ops->flags(l, node));
	if (!(e->flags & STRATA_ENTRY_WHITEOUT))
		l->ops->stat(l, node, &e->st);
	if (S_ISLNK(e->st.st_mode))
		e->link = l->ops->readlink(l, node, &e->link_len);
	if (S_ISDIR(e->st.st_mode) && l->ops->redirect)
		e->redirect = l->ops->redirect(l, node);
}

/* ---- one layer ---- */

/* "a/b" of @node, by its parents. */
static char *layer_path(const struct strata_layer *l, uint64_t node)
{
	char buf[PATH_MAX];

	return fs_stack_node_path(l, node, buf, sizeof(buf)) ? NULL : strdup(buf + 1);
}

/* A walk in progress: the callback, and what stopped the walk.  The
 * walkers below return 0 to go on, 1 when the callback stopped them (its
 * value in stopped), or -1 with err filled. */
struct walker {
	strata_walk_fn fn;
	void *ctx;
	int stopped;
	struct strata_error *err;
};

static int walker_call(struct walker *w, const struct strata_entry *e)
{
	w->stopped = w->fn(w->ctx, e);
	return w->stopped ? 1 : 0;
}

static int nomem(struct strata_error *err)
{
	return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
}

/* Ends a public walk: its value, and the callback's in *@stopped. */
static int walk_result(const struct walker *w, int rc, int *stopped)
{
	if (stopped)
		*stopped = rc == 1 ? w->stopped : 0;
	return rc;
}

static int walk_layer_node(const struct strata_layer *l, uint64_t node, const char *path,
                           struct walker *w)
{
	struct strata_entry e;
	uint64_t canon = l->ops->canonical(l, node);
	char *first = canon != node ? layer_path(l, canon) : NULL;
	int rc;

	if (canon != node && !first)
		return nomem(w->err);
	fill_entry(l, node, path, &e);
	e.hardlink = first;
	rc = walker_call(w, &e);
	free(first);
	if (rc || !S_ISDIR(e.st.st_mode))
		return rc;
	for (uint64_t i = 0, n = l->ops->n_children(l, node); i < n && rc == 0; i++) {
		uint64_t c = l->ops->child(l, node, i);
		size_t len;
		const char *name = l->ops->name(l, c, &len);
		char *sub;

		if (l->ops->flags(l, c) & LAYER_HIDDEN)
			continue;
		if (asprintf(&sub, "%s%s%.*s", path, *path ? "/" : "", (int)len, name) < 0)
			return nomem(w->err);
		rc = walk_layer_node(l, c, sub, w);
		free(sub);
	}
	return rc;
}

int strata_layer_walk(const struct strata_layer *l, strata_walk_fn fn, void *ctx, int *stopped,
                      struct strata_error *err)
{
	struct walker w = {fn, ctx, 0, err};

	return walk_result(&w, walk_layer_node(l, 0, "", &w), stopped);
}

/* ---- a stack of layers ---- */

/* A merged entry: the top source's, but with the attributes of the source
 * stack.c says gives them (a directory a layer only implies). */
static void fill_stack_entry(const struct stack *s, const struct union_src *srcs, uint32_t n,
                             const char *path, struct strata_entry *e)
{
	struct union_src a = fs_stack_attr_src(s, srcs, n);

	fill_entry(stack_layer(s, &srcs[0]), srcs[0].node, path, e);
	e->layer = srcs[0].layer;
	e->flags = 0;
	if ((a.layer != srcs[0].layer || a.node != srcs[0].node) && S_ISDIR(e->st.st_mode))
		stack_layer(s, &a)->ops->stat(stack_layer(s, &a), a.node, &e->st);
}

static struct stack make_stack(struct strata_layer *const *layers, size_t n)
{
	return (struct stack){layers, n > STACK_MAX ? STACK_MAX : (uint32_t)n};
}

/* A path that is not there (stack.c's errno) as @err says it. */
static int path_failed(struct strata_error *err, const char *path, int errnum)
{
	if (errnum == ENOMEM)
		return nomem(err);
	return strata_fail(err, STRATA_ERR_SYS, errnum, "%s: %s", *path ? path : "/",
	                   strerror(errnum));
}

int strata_stack_lookup(struct strata_layer *const *layers, size_t n, const char *path,
                        struct strata_entry *out, struct strata_error *err)
{
	struct stack s = make_stack(layers, n);
	struct union_src srcs[STACK_MAX];
	uint32_t k;
	int rc = fs_stack_walk_path(&s, s.n, path, srcs, &k);

	if (rc)
		return path_failed(err, path, rc);
	fill_stack_entry(&s, srcs, k, path, out);
	return 0;
}

int strata_stack_resolve(struct strata_layer *const *layers, size_t n, const char *path,
                         unsigned flags, struct strata_entry *out, struct strata_error *err)
{
	struct stack s = make_stack(layers, n);
	struct union_src *srcs = malloc(STACK_MAX * sizeof(*srcs));
	uint32_t k;
	int rc;

	if (!srcs)
		return nomem(err);
	rc = fs_stack_resolve(&s, path, flags & STRATA_RESOLVE_FOLLOW ? STACK_FOLLOW : 0, srcs, &k);
	if (rc == 0)
		fill_stack_entry(&s, srcs, k, path, out);
	free(srcs);
	return rc ? path_failed(err, path, rc) : 0;
}

/* What a walk of a merged directory holds per level, on the heap: a walk
 * may go deep, and each of these is STACK_MAX long. */
struct level {
	struct stack_cursor c[STACK_MAX];
	struct union_src child[STACK_MAX];
};

static int walk_stack(const struct stack *s, const struct union_src *srcs, uint32_t n_srcs,
                      const char *path, bool recursive, int depth, struct walker *w);

/* The children of the merged directory @srcs, in name order, each with
 * the sources stack.c resolves for it. */
static int walk_children(const struct stack *s, const struct union_src *srcs, uint32_t n_srcs,
                         const char *path, bool recursive, int depth, struct walker *w)
{
	struct level *lv = malloc(sizeof(*lv));
	struct union_src e;
	int rc = 0;

	if (!lv)
		return nomem(w->err);
	fs_stack_merge_init(s, srcs, n_srcs, lv->c);
	while (rc == 0 && fs_stack_merge_next(s, lv->c, n_srcs, &e)) {
		size_t len;
		const char *name = stack_layer(s, &e)->ops->name(stack_layer(s, &e), e.node, &len);
		/* Resolved afresh: the top-most entry may be a whiteout, or a
		 * hidden one that a lower layer's entry shows through. */
		uint32_t k = fs_stack_child(s, srcs, n_srcs, name, len, lv->child);
		char *sub;

		if (k == 0)
			continue;
		if (asprintf(&sub, "%s%s%.*s", path, *path ? "/" : "", (int)len, name) < 0) {
			rc = nomem(w->err);
			break;
		}
		rc = walk_stack(s, lv->child, k, sub, recursive, depth + 1, w);
		free(sub);
	}
	free(lv);
	return rc;
}

static int walk_stack(const struct stack *s, const struct union_src *srcs, uint32_t n_srcs,
                      const char *path, bool recursive, int depth, struct walker *w)
{
	struct strata_entry e;
	int rc;

	fill_stack_entry(s, srcs, n_srcs, path, &e);
	if (depth > 0 && (rc = walker_call(w, &e)))
		return rc;
	if (!S_ISDIR(e.st.st_mode) || (depth > 0 && !recursive))
		return 0;
	return walk_children(s, srcs, n_srcs, path, recursive, depth, w);
}

int strata_stack_walk(struct strata_layer *const *layers, size_t n, const char *path,
                      bool recursive, strata_walk_fn fn, void *ctx, int *stopped,
                      struct strata_error *err)
{
	struct stack s = make_stack(layers, n);
	struct walker w = {fn, ctx, 0, err};
	struct union_src srcs[STACK_MAX];
	struct strata_entry e;
	const char *given = path;
	char *norm;
	uint32_t k;
	int rc;

	while (*path == '/')
		path++;
	norm = strdup(path);
	if (!norm)
		return walk_result(&w, nomem(err), stopped);
	while (*norm && norm[strlen(norm) - 1] == '/')
		norm[strlen(norm) - 1] = '\0';
	rc = fs_stack_walk_path(&s, s.n, norm, srcs, &k);
	if (rc) {
		rc = path_failed(err, given, rc);
	} else {
		/* The entry itself first, then what is below it. */
		fill_stack_entry(&s, srcs, k, norm, &e);
		rc = walker_call(&w, &e);
		if (rc == 0)
			rc = walk_stack(&s, srcs, k, norm, recursive, 0, &w);
	}
	free(norm);
	return walk_result(&w, rc, stopped);
}

/* ---- entries ---- */

bool strata_entry_xattr(const struct strata_entry *e, uint32_t i, const char **name,
                        const void **value, size_t *size)
{
	if (e->flags & STRATA_ENTRY_WHITEOUT)
		return false;
	return e->src->ops->xattr(e->src, e->node, i, name, value, size);
}

ssize_t strata_entry_pread(const struct strata_entry *e, void *buf, size_t len, uint64_t off,
                           struct strata_error *err)
{
	struct layer_extent ext[16];
	size_t done = 0;

	while (done < len) {
		size_t n = e->src->ops->map(e->src, e->node, off + done, len - done, ext, 16);

		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			char *p = (char *)buf + done;

			int rc = fs_layer_extent_read(&ext[i], p);

			/* EIO: shorter than its index says, or damaged */
			if (rc)
				return strata_fail(err,
				                   rc == EIO ? STRATA_ERR_CORRUPT : STRATA_ERR_SYS,
				                   rc, "%s: %s", e->src->name, strerror(rc));
			done += ext[i].len;
		}
	}
	return (ssize_t)done;
}

/* 1 when the callback stopped the walk with @rc (kept in *@stopped), else 0. */
static int runs_stopped(int rc, int *stopped)
{
	if (stopped)
		*stopped = rc;
	return rc ? 1 : 0;
}

int strata_entry_data_runs(const struct strata_entry *e,
                           int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx,
                           int *stopped, struct strata_error *err)
{
	struct layer_extent ext[64];
	uint64_t off = 0, size = (uint64_t)e->st.st_size;
	uint64_t run_off = 0, run_len = 0;
	int rc;

	(void)err; /* a layer's map cannot fail yet; a lazily fetched one will */
	while (off < size) {
		size_t n = e->src->ops->map(e->src, e->node, off, size - off, ext, 64);

		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!layer_extent_is_hole(&ext[i])) {
				if (run_len && run_off + run_len == off) {
					run_len += ext[i].len;
				} else {
					if (run_len && (rc = fn(ctx, run_off, run_len)))
						return runs_stopped(rc, stopped);
					run_off = off;
					run_len = ext[i].len;
				}
			}
			off += ext[i].len;
		}
	}
	return runs_stopped(run_len ? fn(ctx, run_off, run_len) : 0, stopped);
}
