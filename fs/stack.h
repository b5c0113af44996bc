/* SPDX-License-Identifier: MIT */
/*
 * The OCI union rules (image-spec layer.md), in one place: a stack of
 * layers, lowest first, and the merged names and directories it shows.
 * Both the mount (union.c, upper.c) and the offline walks (tree.c) ask
 * here; nothing else decides what the lower layers have at a name or path.
 * Private to libstrata-fs.
 *
 * A merged name is a list of sources, top first: one for a non-directory;
 * for a directory every layer's directory that contributes, down to the
 * first opaque one, or continuing at a renamed directory's old path below.
 *
 * Errors: as everything the FUSE ops call, functions here return 0 or a
 * positive errno (never -1 or a negative errno).
 */
#ifndef STRATA_STACK_H
#define STRATA_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer.h"

/* At most this many layers in a stack (and sources for one name). */
#define STACK_MAX 500

/* One layer's part of a merged name. */
struct union_src {
	uint32_t layer; /* index into the stack, 0 = lowest */
	uint64_t node;
};

struct stack {
	struct strata_layer *const *layers; /* lowest first */
	uint32_t n;
};

static inline const struct strata_layer *stack_layer(const struct stack *s,
                                                     const struct union_src *src)
{
	return s->layers[src->layer];
}

static inline uint32_t stack_src_mode(const struct stack *s, const struct union_src *src)
{
	return stack_layer(s, src)->ops->mode(stack_layer(s, src), src->node);
}

static inline uint32_t stack_src_flags(const struct stack *s, const struct union_src *src)
{
	return stack_layer(s, src)->ops->flags(stack_layer(s, src), src->node);
}

/* The merged root of layers [0, @below): fills @out (top first) and
 * returns how many. */
uint32_t fs_stack_root(const struct stack *s, uint32_t below, struct union_src *out);

/* @name in the merged directory @dir (@n_dir sources, top first): fills
 * @out (room for STACK_MAX) and returns how many sources, 0 when the name
 * is absent or whited out. */
uint32_t fs_stack_child(const struct stack *s, const struct union_src *dir, uint32_t n_dir,
                        const char *name, size_t len, struct union_src *out);

/* The merged entry at @path in layers [0, @below), component by component
 * without following symlinks ("." and empty components skipped, ".."
 * refused: a redirect or a caller's normalized path never holds one).
 * 0, ENOENT or ENOTDIR. */
int fs_stack_walk_path(const struct stack *s, uint32_t below, const char *path,
                       struct union_src *out, uint32_t *n_out);

/* The lower directories whose content a directory renamed from @path shows:
 * the directory sources at @path in layers [0, @below), 0 when gone. */
uint32_t fs_stack_lower_dirs(const struct stack *s, uint32_t below, const char *path,
                             struct union_src *out);

/* The source that gives a merged name its attributes: its top one, but a
 * directory a layer only implies keeps those of the first layer below
 * that describes it, even below an opaque marker (which hides what is in
 * the directory, not the directory), as extraction keeps them.  With no
 * such layer, the top one (its implied attributes). */
struct union_src fs_stack_attr_src(const struct stack *s, const struct union_src *srcs, uint32_t n);

/* The path of @node in layer @l ("/a/b", "/" for the root), by its
 * parents.  0 or ENAMETOOLONG. */
int fs_stack_node_path(const struct strata_layer *l, uint64_t node, char *buf, size_t size);

/* ---- listing a merged directory (a k-way merge of sorted children) ---- */

struct stack_cursor {
	struct union_src dir;
	uint64_t next, end;
};

/* Sets up one cursor per source of @dir in @c; returns the number of
 * children they hold together (an upper bound of the listing's size). */
uint64_t fs_stack_merge_init(const struct stack *s, const struct union_src *dir, uint32_t n_dir,
                             struct stack_cursor *c);
/* The next name in order, from the top-most layer that has it (which may
 * be a whiteout or a hidden entry: the caller skips it).  False at the end. */
bool fs_stack_merge_next(const struct stack *s, struct stack_cursor *c, uint32_t n,
                         struct union_src *out);

/* ---- whole paths, as the kernel resolves them (stack_path.c) ---- */

#define STACK_FOLLOW  0x1 /* follow a symlink in the last component */
#define STACK_MAXLINK 40  /* symlinks one resolution follows, as Linux */

/* @path from the stack's root, which acts as a chroot: symlinks followed
 * as path_resolution(7) says, ".." taken from the directory reached.
 * Fills @out (room for STACK_MAX) and *@n_out.  0, ENOENT, ENOTDIR,
 * ELOOP, ENAMETOOLONG or ENOMEM. */
int fs_stack_resolve(const struct stack *s, const char *path, unsigned flags, struct union_src *out,
                     uint32_t *n_out);

#endif
