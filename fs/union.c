/* SPDX-License-Identifier: MIT */
/*
 * The union of layers as the mount serves it: inodes made of the sources
 * that stack.c's rules (OCI layer.md) give a name, their numbers and
 * attributes, and the merged listings of their directories, kept once
 * built.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "upper.h"
#include "walkers.h"

/* The rules themselves are stack.c's; here they meet the inodes. */
int fs_union_resolve(const struct strata_union *u, const struct inode *dir, const char *name,
                     size_t len, struct union_src *srcs, uint32_t *n)
{
	struct stack s = union_stack(u);

	*n = fs_stack_child(&s, dir->srcs, dir->n_srcs, name, len, srcs);
	return *n ? 0 : ENOENT;
}

/*
 * st_ino: the layer number and the node of the top-most layer's canonical
 * node.  The index is deterministic, so the same layers give the same
 * numbers on every mount; hard links share their canonical node.
 */
uint64_t fs_union_ino(const struct strata_union *u, const struct union_src *top)
{
	const struct strata_layer *l = union_layer(u, top);
	uint64_t node = l->ops->canonical(l, top->node);

	if (node == 0) /* only the union's root is a layer's root */
		return 1;
	/* The base layer numbers apart, so that adding it changes no number
	 * the image's files had (upper files keep theirs in an xattr). */
	if (top->layer < u->n_base)
		return UNION_BASE_INO | node;
	return ((uint64_t)(top->layer - u->n_base + 1) << 40) | node;
}

/* Whether @ino names a node of a growing layer. */
static bool ino_growing(const struct strata_union *u, uint64_t ino)
{
	uint32_t layer;
	uint64_t node;

	return union_ino_split(ino, &layer, &node) && layer + u->n_base < u->n_layers &&
	       u->layers[layer + u->n_base]->growing;
}

size_t fs_union_origin_make(const struct strata_union *u, uint64_t ino, bool metacopy,
                            uint64_t v[3])
{
	v[0] = ino;
	v[1] = metacopy ? UPPER_ORIGIN_METACOPY : 0;
	v[2] = u->session;
	if (ino_growing(u, ino))
		return 3 * sizeof(*v);
	return (metacopy ? 2 : 1) * sizeof(*v);
}

uint32_t fs_union_generation(const struct strata_union *u, uint64_t ino)
{
	if (!ino_growing(u, ino))
		return 0;
	/* Never 0 (export.c: "not known yet"), and 32 bits: what the kernel
	 * keeps in a handle. */
	return (uint32_t)(u->session ^ (u->session >> 32)) | 1;
}

bool fs_union_origin_valid(const struct strata_union *u, const uint64_t *v, size_t size)
{
	if (size == 3 * sizeof(*v))
		return v[2] == u->session && ino_growing(u, v[0]);
	return (size == sizeof(*v) || size == 2 * sizeof(*v)) && !ino_growing(u, v[0]);
}

bool fs_union_ino_src(const struct strata_union *u, uint64_t ino, struct union_src *src)
{
	uint32_t layer;

	if (!union_ino_split(ino, &layer, &src->node))
		return false;
	src->layer = layer + u->n_base;
	/* Numbers come from xattrs in the upper directory: trust none.  A
	 * growing layer's numbers name other files after a remount: none
	 * of its files is a metacopy's data. */
	return src->layer < u->n_layers && !u->layers[src->layer]->growing &&
	       src->node < u->layers[src->layer]->n_entries && S_ISREG(union_src_mode(u, src));
}

void fs_union_stat(const struct strata_union *u, const struct inode *in, struct stat *st)
{
	struct stack stk = union_stack(u);
	struct union_src a = fs_stack_attr_src(&stk, in->srcs, in->n_srcs);
	const struct strata_layer *l = union_layer(u, &a);

	l->ops->stat(l, a.node, st);
	st->st_ino = in->ino;
	/* Like overlayfs: a merged directory's link count is unknown, and 1
	 * tells find(1) not to rely on it. */
	if (in->n_srcs > 1)
		st->st_nlink = 1;
}

/* The merged listing, without whiteouts (positions must stay stable for
 * telldir, so the list is what readdir shows). */
static struct dirlist *merge_dir(const struct strata_union *u, const struct inode *dir)
{
	struct stack_cursor c[STACK_MAX];
	struct stack stk = union_stack(u);
	uint64_t total = fs_stack_merge_init(&stk, dir->srcs, dir->n_srcs, c), n = 0;
	struct dirlist *dl = malloc(sizeof(*dl) + total * sizeof(dl->ent[0]));
	struct union_src s;

	if (!dl)
		return NULL;
	while (fs_stack_merge_next(&stk, c, dir->n_srcs, &s))
		if (!(stack_src_flags(&stk, &s) & LAYER_WHITEOUT))
			dl->ent[n++] = s;
	dl->n = n;
	return dl;
}

int fs_union_dir_size(const struct strata_union *u, struct inode *dir, uint64_t *n)
{
	struct dirlist *dl, *expected = NULL;

	if (dir->n_srcs == 1) {
		const struct strata_layer *l = union_layer(u, &dir->srcs[0]);

		*n = l->ops->n_children(l, dir->srcs[0].node);
		return union_damaged(u) ? EIO : 0;
	}
	dl = atomic_load_explicit(&dir->dirlist, memory_order_acquire);
	if (!dl) {
		dl = merge_dir(u, dir);
		if (!dl)
			return ENOMEM;
		/* Two threads may merge at once: both results are equal, one wins. */
		if (!atomic_compare_exchange_strong(&dir->dirlist, &expected, dl)) {
			free(dl);
			dl = expected;
		}
	}
	*n = dl->n;
	return union_damaged(u) ? EIO : 0;
}

struct union_src fs_union_dir_entry(const struct strata_union *u, const struct inode *dir,
                                    uint64_t i)
{
	if (dir->n_srcs == 1) {
		const struct strata_layer *l = union_layer(u, &dir->srcs[0]);

		return (struct union_src){dir->srcs[0].layer,
		                          l->ops->child(l, dir->srcs[0].node, i)};
	}
	return atomic_load_explicit(&dir->dirlist, memory_order_acquire)->ent[i];
}

/* ---- names and parents ---- */

struct inode *fs_inode_parent(struct strata_union *u, struct inode *in)
{
	if (in->parent_ino == 1)
		return u->root;
	return fs_inode_table_find(&u->table, in->parent_ino);
}

char *fs_inode_name(struct strata_union *u, struct inode *in)
{
	char *out = NULL;

	if (in == u->root)
		return NULL;
	pthread_mutex_lock(inode_lock(u, in));
	if (in->name) {
		out = strdup(in->name);
	} else if (in->n_srcs > 0) {
		const struct strata_layer *l = union_layer(u, &in->srcs[0]);
		size_t len;
		const char *nm = l->ops->name(l, in->srcs[0].node, &len);

		out = strndup(nm, len);
	}
	pthread_mutex_unlock(inode_lock(u, in));
	return out;
}

int fs_lower_path(struct strata_union *u, const struct inode *in, char *buf, size_t size)
{
	if (in->n_srcs == 0)
		return ENOENT;
	return fs_stack_node_path(union_layer(u, &in->srcs[0]), in->srcs[0].node, buf, size);
}

/* ---- construction ---- */

static int make_root(struct strata_union *u, struct strata_error *err)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	struct stack stk = union_stack(u);
	uint32_t n = fs_stack_root(&stk, stk.n, srcs);

	u->root = fs_inode_new(1, 1, union_src_mode(u, &srcs[0]), srcs, n);
	if (!u->root)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	u->root->nlookup = 1;
	return 0;
}

int strata_union_new(struct strata_layer **layers, size_t n_layers, struct strata_union **out,
                     struct strata_error *err)
{
	struct strata_union *u;

	if (n_layers == 0 || n_layers > UNION_MAX_LAYERS) {
		for (size_t i = 0; i < n_layers; i++)
			strata_layer_close(layers[i]);
		return strata_fail(err, STRATA_ERR_USAGE, 0,
		                   "%zu layers: between 1 and %d supported", n_layers,
		                   UNION_MAX_LAYERS);
	}
	u = calloc(1, sizeof(*u));
	if (u)
		u->layers = malloc(n_layers * sizeof(*layers));
	if (!u || !u->layers) {
		if (u)
			free(u);
		for (size_t i = 0; i < n_layers; i++)
			strata_layer_close(layers[i]);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	memcpy(u->layers, layers, n_layers * sizeof(*layers));
	u->n_layers = (uint32_t)n_layers;
	u->upper_root = -1;
	for (int i = 0; i < UNION_LOCKS; i++) {
		pthread_mutex_init(&u->locks[i], NULL);
		pthread_cond_init(&u->copied[i], NULL);
	}
	pthread_rwlock_init(&u->names_lock, NULL);
	if (getrandom(&u->session, sizeof(u->session), 0) != sizeof(u->session))
		u->session = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	u->walkers = fs_walkers_new(); /* NULL: every listing has attributes */
	for (size_t i = 0; i < n_layers; i++) {
		u->total_entries += layers[i]->n_entries;
		u->total_data += layers[i]->total_data;
	}
	if (fs_inode_table_init(&u->table) || make_root(u, err)) {
		strata_union_free(u);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	*out = u;
	return 0;
}

int strata_union_set_base(struct strata_union *u, struct strata_layer *base,
                          struct strata_error *err)
{
	struct strata_layer **layers;
	struct inode *old_root = u->root;

	if (u->n_base || u->n_layers >= UNION_MAX_LAYERS) {
		strata_fail(err, STRATA_ERR_USAGE, 0, "%s: no room for a base layer", base->name);
		strata_layer_close(base);
		return -1;
	}
	layers = realloc(u->layers, (u->n_layers + 1) * sizeof(*layers));
	if (!layers) {
		strata_layer_close(base);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	memmove(layers + 1, layers, u->n_layers * sizeof(*layers));
	layers[0] = base;
	u->layers = layers;
	u->n_layers++;
	u->n_base = 1;
	/* Every source index moved up by one: the root is made again (no
	 * other inode exists yet). */
	for (uint32_t i = 0; i < old_root->n_srcs; i++)
		old_root->srcs[i].layer++;
	if (make_root(u, err)) {
		u->root = old_root;
		return -1;
	}
	fs_inode_free(old_root);
	return 0;
}

void strata_union_free(struct strata_union *u)
{
	if (!u)
		return;
	fs_inode_table_destroy(&u->table);
	fs_inode_free(u->root);
	fs_upper_close(u);
	for (int i = 0; i < UNION_LOCKS; i++) {
		pthread_mutex_destroy(&u->locks[i]);
		pthread_cond_destroy(&u->copied[i]);
	}
	pthread_rwlock_destroy(&u->names_lock);
	fs_walkers_free(u->walkers);
	for (uint32_t i = 0; i < u->n_layers; i++)
		strata_layer_close(u->layers[i]);
	free(u->layers);
	free(u);
}

void strata_union_set_metacopy(struct strata_union *u, bool on)
{
	u->metacopy = on;
}

void strata_union_set_volatile(struct strata_union *u, bool on)
{
	u->no_sync = on;
}

void strata_union_set_noacl(struct strata_union *u, bool on)
{
	u->no_acl = on;
}

void strata_union_set_squash(struct strata_union *u, int64_t uid, int64_t gid)
{
	u->squash_uid_set = uid >= 0;
	u->squash_uid = uid >= 0 ? (uid_t)uid : 0;
	u->squash_gid_set = gid >= 0;
	u->squash_gid = gid >= 0 ? (gid_t)gid : 0;
}

void strata_union_set_upper_format(struct strata_union *u, enum strata_upper_format f)
{
	(void)u; /* a daemon serves one union: the form is the process's */
	fs_upper_set_overlay_form(f == STRATA_UPPER_OVERLAY);
}

void strata_union_set_xattr_permissions(struct strata_union *u, int level)
{
	(void)u; /* as the upper format: the process's */
	fs_meta_set_override(level);
}
