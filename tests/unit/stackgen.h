/* SPDX-License-Identifier: MIT */
/*
 * Random layer stacks for the differential test of the union rules
 * (test_stack.c): what a stack holds, the tar layers it is written as, the
 * reference tree GNU tar makes of it, and the paths worth resolving in it.
 */
#ifndef STRATA_STACKGEN_H
#define STRATA_STACKGEN_H

#include <stddef.h>
#include <stdint.h>

#define SG_MAX_LAYERS  4
#define SG_MAX_ENTRIES 48
#define SG_PATH        160

/* One tar member: 'f' file, 'd' dir, 'l' symlink, 'w' whiteout (@path is
 * "D/.wh.N"), 'o' opaque marker ("D/.wh..wh..opq"). */
struct sg_entry {
	char type;
	char path[SG_PATH];
	char hides[SG_PATH]; /* 'w': "D/N", the name it hides */
	char target[SG_PATH];
	char data[64];
	unsigned perm;
};

struct sg_layer {
	struct sg_entry e[SG_MAX_ENTRIES];
	size_t n;
};

struct sg_stack {
	struct sg_layer l[SG_MAX_LAYERS]; /* lowest first */
	size_t n;
};

/* xorshift64*: the same seed gives the same stacks everywhere. */
uint64_t sg_rand(uint64_t *state);
void sg_generate(struct sg_stack *st, uint64_t *rng);
/* Adds one entry to a layer by hand (the fixed cases). */
void sg_add(struct sg_layer *l, char type, const char *path, const char *target_or_data);

/* Writes layer @i as @path (a tar, through libarchive). */
void sg_write_layer(const struct sg_stack *st, size_t i, const char *path);
/* The reference: layer after layer extracted into @root by `tar -x`, each
 * layer's whiteouts applied to what is below it first. */
void sg_apply_reference(const struct sg_stack *st, char *const *tars, const char *root);

/* Paths to resolve: every name the layers mention, and paths through
 * symlinks with ".." made from the same names.  Malloc'd strings. */
size_t sg_paths(const struct sg_stack *st, uint64_t *rng, char ***out);
void sg_paths_free(char **v, size_t n);

#endif

/* ---- what a path resolves to (stackprobe.c) ---- */

/* One line describing what @path resolves to ("dir 0755", "file 0644 12
 * <hash>", "link -> target", or "error ENOENT"), the last component
 * followed when @follow. */
struct strata_layer;
void sg_probe_stack(struct strata_layer *const *layers, size_t n, const char *path, int follow,
                    char *out, size_t size);
/* The same through the kernel, in the tree under @rootfd taken as a chroot
 * (openat2 with RESOLVE_IN_ROOT): the reference tree or a mount. */
void sg_probe_kernel(int rootfd, const char *path, int follow, char *out, size_t size);

/* Every entry of the merged tree, one line each, parents first and names
 * in order: from strata_stack_walk, or from readdir under @root.
 * Malloc'd. */
char *sg_list_stack(struct strata_layer *const *layers, size_t n);
char *sg_list_kernel(const char *root);
