/* SPDX-License-Identifier: MIT */
/*
 * Union rules of the OCI image spec (layer.md): a layer's `.wh.NAME` hides
 * NAME below it, `.wh..wh..opq` hides everything below its directory, a
 * non-directory hides whatever is below it, and directories merge.  The tar
 * index has already folded whiteout files into flagged names, so here a
 * lookup is one binary search per contributing layer, top down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "upper.h"

static uint32_t src_flags(const struct strata_union *u, const struct union_src *s)
{
	return union_layer(u, s)->ops->flags(union_layer(u, s), s->node);
}

static uint32_t src_mode(const struct strata_union *u, const struct union_src *s)
{
	return union_layer(u, s)->ops->mode(union_layer(u, s), s->node);
}

int union_resolve(const struct strata_union *u, const struct inode *dir, const char *name,
                  size_t len, struct union_src *srcs, uint32_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < dir->n_srcs; i++) {
		const struct union_src *d = &dir->srcs[i];
		const struct strata_layer *l = union_layer(u, d);
		struct union_src s = {d->layer, l->ops->lookup(l, d->node, name, len)};
		uint32_t flags;

		if (s.node == LAYER_NONE)
			continue;
		flags = l->ops->flags(l, s.node);
		if (flags & LAYER_WHITEOUT)
			break;
		if (!S_ISDIR(l->ops->mode(l, s.node))) {
			/* A file shows unless a directory above already won. */
			if (*n == 0)
				srcs[(*n)++] = s;
			break;
		}
		srcs[(*n)++] = s;
		if (flags & LAYER_OPAQUE)
			break;
	}
	return *n ? 0 : ENOENT;
}

/*
 * st_ino: the layer number and the node of the top-most layer's canonical
 * node.  The index is deterministic, so the same layers give the same
 * numbers on every mount; hard links share their canonical node.
 */
uint64_t union_ino(const struct strata_union *u, const struct union_src *top)
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

void union_stat(const struct strata_union *u, const struct inode *in, struct stat *st)
{
	const struct union_src *s = &in->srcs[0];
	const struct strata_layer *l;

	/* A directory a layer only implies (it has entries below it but no
	 * entry of its own) keeps the attributes a lower layer gave it, as
	 * when the layers are extracted one over the other. */
	for (uint32_t i = 0; i < in->n_srcs; i++)
		if (!(src_flags(u, &in->srcs[i]) & LAYER_IMPLICIT)) {
			s = &in->srcs[i];
			break;
		}
	l = union_layer(u, s);
	l->ops->stat(l, s->node, st);
	st->st_ino = in->ino;
	/* Like overlayfs: a merged directory's link count is unknown, and 1
	 * tells find(1) not to rely on it. */
	if (in->n_srcs > 1)
		st->st_nlink = 1;
}

struct merge_cursor {
	struct union_src dir;
	uint64_t next, end;
};

static int cmp_names(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* Takes the smallest name among the cursors (the top-most layer's on a tie),
 * and advances every cursor past it. */
static bool merge_next(const struct strata_union *u, struct merge_cursor *c, uint32_t n,
                       struct union_src *out)
{
	const char *best = NULL;
	size_t best_len = 0;
	int top = -1;

	for (uint32_t i = 0; i < n; i++) {
		const struct strata_layer *l = union_layer(u, &c[i].dir);
		size_t len;
		const char *name;

		if (c[i].next == c[i].end)
			continue;
		name = l->ops->name(l, l->ops->child(l, c[i].dir.node, c[i].next), &len);
		if (top < 0 || cmp_names(name, len, best, best_len) < 0) {
			best = name;
			best_len = len;
			top = (int)i;
		}
	}
	if (top < 0)
		return false;
	{
		const struct strata_layer *l = union_layer(u, &c[top].dir);

		*out = (struct union_src){c[top].dir.layer,
		                          l->ops->child(l, c[top].dir.node, c[top].next)};
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct strata_layer *l = union_layer(u, &c[i].dir);
		size_t len;
		const char *name;

		if (c[i].next == c[i].end)
			continue;
		name = l->ops->name(l, l->ops->child(l, c[i].dir.node, c[i].next), &len);
		if (cmp_names(name, len, best, best_len) == 0)
			c[i].next++;
	}
	return true;
}

/* A k-way merge of the layers' sorted children: sorted, deduplicated, and
 * without whiteouts or what they hide.  A non-directory in a higher layer
 * hides a lower directory too, which the top-most-wins rule gives. */
static struct dirlist *merge_dir(const struct strata_union *u, const struct inode *dir)
{
	struct merge_cursor c[UNION_MAX_LAYERS];
	struct dirlist *dl;
	struct union_src s;
	uint64_t total = 0, n = 0;

	for (uint32_t i = 0; i < dir->n_srcs; i++) {
		const struct strata_layer *l = union_layer(u, &dir->srcs[i]);

		c[i] = (struct merge_cursor){dir->srcs[i], 0,
		                             l->ops->n_children(l, dir->srcs[i].node)};
		total += c[i].end;
	}
	dl = malloc(sizeof(*dl) + total * sizeof(dl->ent[0]));
	if (!dl)
		return NULL;
	while (merge_next(u, c, dir->n_srcs, &s))
		if (!(src_flags(u, &s) & LAYER_WHITEOUT))
			dl->ent[n++] = s;
	dl->n = n;
	return dl;
}

int union_dir_size(const struct strata_union *u, struct inode *dir, uint64_t *n)
{
	struct dirlist *dl, *expected = NULL;

	if (dir->n_srcs == 1) {
		const struct strata_layer *l = union_layer(u, &dir->srcs[0]);

		*n = l->ops->n_children(l, dir->srcs[0].node);
		return 0;
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
	return 0;
}

struct union_src union_dir_entry(const struct strata_union *u, const struct inode *dir, uint64_t i)
{
	if (dir->n_srcs == 1) {
		const struct strata_layer *l = union_layer(u, &dir->srcs[0]);

		return (struct union_src){dir->srcs[0].layer,
		                          l->ops->child(l, dir->srcs[0].node, i)};
	}
	return atomic_load_explicit(&dir->dirlist, memory_order_acquire)->ent[i];
}

/* ---- construction ---- */

static int make_root(struct strata_union *u, struct strata_error *err)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	uint32_t n = 0;

	for (uint32_t i = u->n_layers; i-- > 0;) {
		srcs[n++] = (struct union_src){i, 0};
		if (src_flags(u, &srcs[n - 1]) & LAYER_OPAQUE)
			break;
	}
	u->root = inode_new(1, 1, src_mode(u, &srcs[0]), srcs, n);
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
	for (int i = 0; i < UNION_LOCKS; i++)
		pthread_mutex_init(&u->locks[i], NULL);
	for (size_t i = 0; i < n_layers; i++) {
		u->total_entries += layers[i]->n_entries;
		u->total_data += layers[i]->total_data;
	}
	if (inode_table_init(&u->table) || make_root(u, err)) {
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
	inode_free(old_root);
	return 0;
}

void strata_union_free(struct strata_union *u)
{
	if (!u)
		return;
	inode_table_destroy(&u->table);
	inode_free(u->root);
	upper_close(u);
	for (int i = 0; i < UNION_LOCKS; i++)
		pthread_mutex_destroy(&u->locks[i]);
	for (uint32_t i = 0; i < u->n_layers; i++)
		strata_layer_close(u->layers[i]);
	free(u->layers);
	free(u);
}
