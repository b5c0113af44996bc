/* SPDX-License-Identifier: MIT */
/*
 * Union rules of the OCI image spec (layer.md): a layer's `.wh.NAME` hides
 * NAME below it, `.wh..wh..opq` hides everything below its directory, a
 * non-directory hides whatever is below it, a directory hides a
 * non-directory below it, and directories merge.  The tar index has
 * already folded whiteout files into flagged names, so resolving a name is
 * one binary search per contributing layer, top down.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "stack.h"

uint32_t fs_stack_root(const struct stack *s, uint32_t below, struct union_src *out)
{
	uint32_t n = 0;

	for (uint32_t i = below; i-- > 0 && n < STACK_MAX;) {
		out[n++] = (struct union_src){i, 0};
		if (stack_src_flags(s, &out[n - 1]) & LAYER_OPAQUE)
			break;
	}
	return n;
}

/* A renamed upper directory (@top, in layer out[n-1].layer) continues at
 * its old path in the layers below it, resolved there alone: the whiteout
 * left at the old name hid the name, not the content. */
static uint32_t add_redirect(const struct stack *s, const char *target, struct union_src *out,
                             uint32_t n)
{
	struct union_src lower[STACK_MAX];
	uint32_t k = fs_stack_lower_dirs(s, out[n - 1].layer, target, lower);

	for (uint32_t i = 0; i < k && n < STACK_MAX; i++)
		out[n++] = lower[i];
	return n;
}

uint32_t fs_stack_child(const struct stack *s, const struct union_src *dir, uint32_t n_dir,
                        const char *name, size_t len, struct union_src *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < n_dir; i++) {
		const struct strata_layer *l = stack_layer(s, &dir[i]);
		uint64_t node = l->ops->lookup(l, dir[i].node, name, len);
		uint32_t flags;
		const char *redirect;
		bool is_dir;

		if (node == LAYER_NONE)
			continue;
		flags = l->ops->flags(l, node);
		if (flags & LAYER_WHITEOUT)
			break;
		is_dir = S_ISDIR(l->ops->mode(l, node));
		if (n > 0 && !is_dir)
			break; /* a directory above hides a non-directory */
		out[n++] = (struct union_src){dir[i].layer, node};
		if (!is_dir || (flags & LAYER_OPAQUE))
			break;
		redirect = l->ops->redirect ? l->ops->redirect(l, node) : NULL;
		if (redirect)
			return add_redirect(s, redirect, out, n);
	}
	return n;
}

int fs_stack_walk_path(const struct stack *s, uint32_t below, const char *path,
                       struct union_src *out, uint32_t *n_out)
{
	struct union_src cur[STACK_MAX];
	uint32_t n = fs_stack_root(s, below, cur);

	while (*path) {
		size_t len = strcspn(path, "/");

		if (len == 0 || (len == 1 && path[0] == '.')) {
			path += len + (path[len] == '/');
			continue;
		}
		if (n == 0)
			return ENOENT;
		if (!S_ISDIR(stack_src_mode(s, &cur[0])))
			return ENOTDIR;
		if (len == 2 && path[0] == '.' && path[1] == '.')
			return ENOENT;
		n = fs_stack_child(s, cur, n, path, len, out);
		if (n == 0)
			return ENOENT;
		memcpy(cur, out, n * sizeof(*out));
		path += len + (path[len] == '/');
	}
	if (n == 0)
		return ENOENT;
	memcpy(out, cur, n * sizeof(*out));
	*n_out = n;
	return 0;
}

uint32_t fs_stack_lower_dirs(const struct stack *s, uint32_t below, const char *path,
                             struct union_src *out)
{
	uint32_t n = 0, k = 0;

	if (fs_stack_walk_path(s, below, path, out, &n))
		return 0;
	/* Only directories merge: a file now at the old path shows nothing. */
	while (k < n && S_ISDIR(stack_src_mode(s, &out[k])))
		k++;
	return k;
}

int fs_stack_node_path(const struct strata_layer *l, uint64_t node, char *buf, size_t size)
{
	size_t len = 0;

	if (size < 2)
		return ENAMETOOLONG;
	buf[0] = '\0';
	/* Built from the leaf up: each name goes in front. */
	while (node != 0) {
		size_t nlen;
		const char *nm = l->ops->name(l, node, &nlen);

		if (len + nlen + 2 > size)
			return ENAMETOOLONG;
		memmove(buf + nlen + 1, buf, len + 1);
		buf[0] = '/';
		memcpy(buf + 1, nm, nlen);
		len += nlen + 1;
		node = l->ops->parent(l, node);
	}
	if (len == 0)
		memcpy(buf, "/", 2);
	return 0;
}

static bool first_described(const struct stack *s, const struct union_src *srcs, uint32_t n,
                            struct union_src *out)
{
	for (uint32_t i = 0; i < n; i++)
		if (!(stack_src_flags(s, &srcs[i]) & LAYER_IMPLICIT)) {
			*out = srcs[i];
			return true;
		}
	return false;
}

/* Only implied down to an opaque cut: the directory at the same path in the
 * layers below the cut (whiteouts and opaque markers between included)
 * gives the attributes.  Out of line: rare, and its arrays would otherwise
 * sit in the frame of every getattr. */
static __attribute__((noinline)) bool described_below(const struct stack *s, struct union_src last,
                                                      struct union_src *out)
{
	struct union_src below[STACK_MAX];
	char path[PATH_MAX];
	uint32_t n;

	for (uint32_t hops = 0; hops < STACK_MAX; hops++) {
		if (!(stack_src_flags(s, &last) & LAYER_OPAQUE) || last.layer == 0 ||
		    fs_stack_node_path(stack_layer(s, &last), last.node, path, sizeof(path)) ||
		    fs_stack_walk_path(s, last.layer, path, below, &n) ||
		    !S_ISDIR(stack_src_mode(s, &below[0])))
			return false;
		if (first_described(s, below, n, out))
			return true;
		last = below[n - 1];
	}
	return false;
}

struct union_src fs_stack_attr_src(const struct stack *s, const struct union_src *srcs, uint32_t n)
{
	struct union_src a;

	if (n == 0 || first_described(s, srcs, n, &a))
		return n ? a : (struct union_src){0, 0};
	if (S_ISDIR(stack_src_mode(s, &srcs[0])) && described_below(s, srcs[n - 1], &a))
		return a;
	return srcs[0];
}

/* ---- listing ---- */

static int cmp_names(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

uint64_t fs_stack_merge_init(const struct stack *s, const struct union_src *dir, uint32_t n_dir,
                             struct stack_cursor *c)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < n_dir; i++) {
		const struct strata_layer *l = stack_layer(s, &dir[i]);

		c[i] = (struct stack_cursor){dir[i], 0, l->ops->n_children(l, dir[i].node)};
		total += c[i].end;
	}
	return total;
}

static const char *cursor_name(const struct stack *s, const struct stack_cursor *c, size_t *len)
{
	const struct strata_layer *l = stack_layer(s, &c->dir);

	return l->ops->name(l, l->ops->child(l, c->dir.node, c->next), len);
}

/* Takes the smallest name among the cursors (the top-most layer's on a tie,
 * which the top-most-wins rule needs: a whiteout or a non-directory hides
 * what is below it), and advances every cursor past it. */
bool fs_stack_merge_next(const struct stack *s, struct stack_cursor *c, uint32_t n,
                         struct union_src *out)
{
	const char *best = NULL;
	size_t best_len = 0, len;
	int top = -1;

	for (uint32_t i = 0; i < n; i++) {
		const char *name;

		if (c[i].next == c[i].end)
			continue;
		name = cursor_name(s, &c[i], &len);
		if (top < 0 || cmp_names(name, len, best, best_len) < 0) {
			best = name;
			best_len = len;
			top = (int)i;
		}
	}
	if (top < 0)
		return false;
	*out = (struct union_src){c[top].dir.layer, stack_layer(s, &c[top].dir)
	                                                ->ops->child(stack_layer(s, &c[top].dir),
	                                                             c[top].dir.node, c[top].next)};
	for (uint32_t i = 0; i < n; i++) {
		const char *name;

		if (c[i].next == c[i].end)
			continue;
		if (i == (uint32_t)top) {
			c[i].next++;
			continue;
		}
		name = cursor_name(s, &c[i], &len);
		if (cmp_names(name, len, best, best_len) == 0)
			c[i].next++;
	}
	return true;
}
