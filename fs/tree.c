/* SPDX-License-Identifier: MIT */
/*
 * Reading trees without mounting, for inspect, ls, cat, diff and commit:
 * one layer as it is (whiteouts included), or a stack of layers merged by
 * the same rules as the mount (whiteouts hide, opaque directories stop the
 * merge, an upper directory's redirect continues in the lower layers at its
 * old path).  Nothing here is cached or shared: each call resolves afresh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer.h"
#include "sys.h"

#define MAX_STACK 500

struct src {
	uint32_t layer;
	uint64_t node;
};

struct stack {
	struct strata_layer *const *layers;
	size_t n;
};

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
	char *out = strdup(""), *next;
	size_t len;

	while (out && node != 0) {
		const char *name = l->ops->name(l, node, &len);

		if (asprintf(&next, "%.*s%s%s", (int)len, name, *out ? "/" : "", out) < 0)
			next = NULL;
		free(out);
		out = next;
		node = l->ops->parent(l, node);
	}
	return out;
}

static int walk_layer_node(const struct strata_layer *l, uint64_t node, const char *path,
                           strata_walk_fn fn, void *ctx)
{
	struct strata_entry e;
	uint64_t canon = l->ops->canonical(l, node);
	char *first = canon != node ? layer_path(l, canon) : NULL;
	int rc;

	fill_entry(l, node, path, &e);
	e.hardlink = first;
	rc = fn(ctx, &e);
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
			return -ENOMEM;
		rc = walk_layer_node(l, c, sub, fn, ctx);
		free(sub);
	}
	return rc;
}

int strata_layer_walk(const struct strata_layer *l, strata_walk_fn fn, void *ctx)
{
	return walk_layer_node(l, 0, "", fn, ctx);
}

/* ---- a stack of layers ---- */

static int resolve_path(const struct stack *s, uint32_t below, const char *path, struct src *out,
                        uint32_t *n_out);

/* A renamed upper directory: its lower content is at @target in the layers
 * below it, resolved there alone. */
static uint32_t add_redirect(const struct stack *s, uint32_t layer, const char *target,
                             struct src *out, uint32_t n)
{
	struct src lower[MAX_STACK];
	uint32_t k = 0;

	if (resolve_path(s, layer, target, lower, &k) < 0)
		return n;
	for (uint32_t i = 0; i < k && n < MAX_STACK; i++) {
		const struct strata_layer *l = s->layers[lower[i].layer];

		if (!S_ISDIR(l->ops->mode(l, lower[i].node)))
			break;
		out[n++] = lower[i];
	}
	return n;
}

/* @name in the merged directory @dir: its sources, top first. */
static uint32_t resolve_child(const struct stack *s, const struct src *dir, uint32_t n_dir,
                              const char *name, size_t len, struct src *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < n_dir; i++) {
		const struct strata_layer *l = s->layers[dir[i].layer];
		uint64_t node = l->ops->lookup(l, dir[i].node, name, len);
		uint32_t flags;
		const char *redirect;

		if (node == LAYER_NONE)
			continue;
		flags = l->ops->flags(l, node);
		if (flags & LAYER_WHITEOUT)
			break;
		if (n > 0 && !S_ISDIR(l->ops->mode(l, node)))
			break; /* a file under a directory is hidden by it */
		out[n++] = (struct src){dir[i].layer, node};
		if (!S_ISDIR(l->ops->mode(l, node)) || (flags & LAYER_OPAQUE))
			break;
		redirect = l->ops->redirect ? l->ops->redirect(l, node) : NULL;
		if (redirect)
			return add_redirect(s, dir[i].layer, redirect, out, n);
	}
	return n;
}

/* @path in layers [0, @below), top first; -ENOENT/-ENOTDIR. */
static int resolve_path(const struct stack *s, uint32_t below, const char *path, struct src *out,
                        uint32_t *n_out)
{
	struct src cur[MAX_STACK];
	uint32_t n = 0;

	for (uint32_t i = below; i-- > 0 && n < MAX_STACK;) {
		const struct strata_layer *l = s->layers[i];

		cur[n++] = (struct src){i, 0};
		if (l->ops->flags(l, 0) & LAYER_OPAQUE)
			break;
	}
	while (*path) {
		size_t len = strcspn(path, "/");
		const struct strata_layer *top;

		if (len == 0 || (len == 1 && path[0] == '.')) {
			path += len + (path[len] == '/');
			continue;
		}
		top = s->layers[cur[0].layer];
		if (n == 0)
			return -ENOENT;
		if (!S_ISDIR(top->ops->mode(top, cur[0].node)))
			return -ENOTDIR;
		if (len == 2 && path[0] == '.' && path[1] == '.')
			return -ENOENT; /* callers normalize; ".." is not followed */
		n = resolve_child(s, cur, n, path, len, out);
		if (n == 0)
			return -ENOENT;
		memcpy(cur, out, n * sizeof(*out));
		path += len + (path[len] == '/');
	}
	if (n == 0)
		return -ENOENT;
	memcpy(out, cur, n * sizeof(*out));
	*n_out = n;
	return 0;
}

/* A merged entry: the top source's, but a directory a layer only implies
 * takes its attributes from the first layer below that describes it, as
 * the mount (and extraction) does. */
static void fill_stack_entry(const struct stack *s, const struct src *srcs, uint32_t n,
                             const char *path, struct strata_entry *e)
{
	const struct strata_layer *top = s->layers[srcs[0].layer];

	fill_entry(top, srcs[0].node, path, e);
	e->layer = srcs[0].layer;
	e->flags = 0;
	if (!S_ISDIR(e->st.st_mode) || !(top->ops->flags(top, srcs[0].node) & LAYER_IMPLICIT))
		return;
	for (uint32_t i = 1; i < n; i++) {
		const struct strata_layer *l = s->layers[srcs[i].layer];

		if (!(l->ops->flags(l, srcs[i].node) & LAYER_IMPLICIT)) {
			l->ops->stat(l, srcs[i].node, &e->st);
			return;
		}
	}
}

int strata_stack_lookup(struct strata_layer *const *layers, size_t n, const char *path,
                        struct strata_entry *out)
{
	struct stack s = {layers, n > MAX_STACK ? MAX_STACK : n};
	struct src srcs[MAX_STACK];
	uint32_t k;
	int rc = resolve_path(&s, (uint32_t)s.n, path, srcs, &k);

	if (rc)
		return rc;
	fill_stack_entry(&s, srcs, k, path, out);
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a merged directory (whiteouts' too: resolving drops them). */
static char **merged_names(const struct stack *s, const struct src *dir, uint32_t n_dir,
                           size_t *count)
{
	char **v = NULL;
	size_t n = 0, cap = 0, k = 0;

	for (uint32_t i = 0; i < n_dir; i++) {
		const struct strata_layer *l = s->layers[dir[i].layer];

		for (uint64_t c = 0, m = l->ops->n_children(l, dir[i].node); c < m; c++) {
			uint64_t node = l->ops->child(l, dir[i].node, c);
			size_t len;
			const char *name = l->ops->name(l, node, &len);

			if (l->ops->flags(l, node) & LAYER_HIDDEN)
				continue;
			if (n == cap) {
				char **nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*nv));

				if (!nv)
					goto fail;
				v = nv;
			}
			if (!(v[n] = strndup(name, len)))
				goto fail;
			n++;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), by_str);
	for (size_t i = 0; i < n; i++) {
		if (k && strcmp(v[k - 1], v[i]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*count = k;
	return v ? v : calloc(1, sizeof(*v));
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static int walk_stack(const struct stack *s, const struct src *srcs, uint32_t n_srcs,
                      const char *path, bool recursive, int depth, strata_walk_fn fn, void *ctx)
{
	const struct strata_layer *top = s->layers[srcs[0].layer];
	struct strata_entry e;
	char **names;
	size_t n;
	int rc;

	(void)top;
	fill_stack_entry(s, srcs, n_srcs, path, &e);
	if (depth > 0 && (rc = fn(ctx, &e)))
		return rc;
	if (!S_ISDIR(e.st.st_mode) || (depth > 0 && !recursive))
		return 0;
	names = merged_names(s, srcs, n_srcs, &n);
	if (!names)
		return -ENOMEM;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct src child[MAX_STACK];
		uint32_t k = resolve_child(s, srcs, n_srcs, names[i], strlen(names[i]), child);
		char *sub;

		if (k == 0)
			continue;
		if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", names[i]) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = walk_stack(s, child, k, sub, recursive, depth + 1, fn, ctx);
		free(sub);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int strata_stack_walk(struct strata_layer *const *layers, size_t n, const char *path,
                      bool recursive, strata_walk_fn fn, void *ctx)
{
	struct stack s = {layers, n > MAX_STACK ? MAX_STACK : n};
	struct src srcs[MAX_STACK];
	struct strata_entry e;
	char *norm;
	uint32_t k;
	int rc;

	while (*path == '/')
		path++;
	norm = strdup(path);
	if (!norm)
		return -ENOMEM;
	while (*norm && norm[strlen(norm) - 1] == '/')
		norm[strlen(norm) - 1] = '\0';
	rc = resolve_path(&s, (uint32_t)s.n, norm, srcs, &k);
	if (rc == 0) {
		/* The entry itself first, then what is below it. */
		fill_stack_entry(&s, srcs, k, norm, &e);
		rc = fn(ctx, &e);
		if (rc == 0)
			rc = walk_stack(&s, srcs, k, norm, recursive, 0, fn, ctx);
	}
	free(norm);
	return rc;
}

/* ---- entries ---- */

bool strata_entry_xattr(const struct strata_entry *e, uint32_t i, const char **name,
                        const void **value, size_t *size)
{
	if (e->flags & STRATA_ENTRY_WHITEOUT)
		return false;
	return e->src->ops->xattr(e->src, e->node, i, name, value, size);
}

ssize_t strata_entry_pread(const struct strata_entry *e, void *buf, size_t len, uint64_t off)
{
	struct layer_extent ext[16];
	size_t done = 0;

	while (done < len) {
		size_t n = e->src->ops->map(e->src, e->node, off + done, len - done, ext, 16);

		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			char *p = (char *)buf + done;

			if (ext[i].fd < 0) {
				memset(p, 0, ext[i].len);
			} else {
				ssize_t r =
				    sys_pread_full(ext[i].fd, p, ext[i].len, (off_t)ext[i].off);

				if (r < 0)
					return -1;
				if ((uint64_t)r < ext[i].len) {
					errno = EIO; /* the layer is shorter than its index says */
					return -1;
				}
			}
			done += ext[i].len;
		}
	}
	return (ssize_t)done;
}

int strata_entry_data_runs(const struct strata_entry *e,
                           int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx)
{
	struct layer_extent ext[64];
	uint64_t off = 0, size = (uint64_t)e->st.st_size;
	uint64_t run_off = 0, run_len = 0;
	int rc;

	while (off < size) {
		size_t n = e->src->ops->map(e->src, e->node, off, size - off, ext, 64);

		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (ext[i].fd >= 0) {
				if (run_len && run_off + run_len == off) {
					run_len += ext[i].len;
				} else {
					if (run_len && (rc = fn(ctx, run_off, run_len)))
						return rc;
					run_off = off;
					run_len = ext[i].len;
				}
			}
			off += ext[i].len;
		}
	}
	return run_len ? fn(ctx, run_off, run_len) : 0;
}
