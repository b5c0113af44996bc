/* SPDX-License-Identifier: MIT */
/*
 * What each layer of an image does to the tree: files it adds, changes and
 * deletes, bytes of file data, and bytes wasted (files a later layer
 * overwrites or deletes: dive's "wasted space").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "vec.h"

/* The walk of layer @i of @layers. */
struct layer_stats {
	struct strata_layer *const *layers;
	size_t n, i;
	struct store_layer_stats *out;
	struct store_wasted *offenders;
	size_t n_off, cap_off;
	int failed; /* out of memory */
};

/* Is @path visible in layers [0, @below)?  (Any failure of a lookup means
 * it is not: a missing path, or one whose parent is not a directory.) */
static bool visible_below(struct layer_stats *st, size_t below, const char *path,
                          struct strata_entry *e)
{
	return below > 0 && strata_stack_lookup(st->layers, below, path, e, NULL) == 0;
}

static int count_hidden(void *ctx, const struct strata_entry *e)
{
	struct layer_stats *st = ctx;
	struct strata_entry mine;

	/* Under an opaque dir, what the layer does not bring back is gone. */
	if (*e->path && strata_stack_lookup(&st->layers[st->i], 1, e->path, &mine, NULL) != 0)
		st->out->deleted++;
	return 0;
}

static void add_offender(struct layer_stats *st, const char *path, uint64_t size, size_t by,
                         bool deleted)
{
	if (VEC_RESERVE(st->offenders, st->cap_off, st->n_off + 1) < 0) {
		st->failed = 1;
		return;
	}
	st->offenders[st->n_off] = (struct store_wasted){strdup(path), size, st->i, by, deleted};
	if (!st->offenders[st->n_off++].path)
		st->failed = 1;
}

/* Bytes a later layer overwrites or deletes: what the file costs for
 * nothing (dive's "wasted space"). */
static void check_wasted(struct layer_stats *st, const struct strata_entry *e)
{
	struct strata_entry top;

	if (!S_ISREG(e->st.st_mode) || e->hardlink)
		return;
	if (strata_stack_lookup(st->layers, st->n, e->path, &top, NULL) == 0 && top.layer == st->i)
		return;
	/* Find the layer that hid it: the lowest above whose stack differs. */
	for (size_t j = st->i + 1; j <= st->n; j++) {
		if (strata_stack_lookup(st->layers, j, e->path, &top, NULL) == 0 &&
		    top.layer == st->i)
			continue;
		st->out->wasted += (uint64_t)e->st.st_size;
		add_offender(st, e->path, (uint64_t)e->st.st_size, j - 1,
		             strata_stack_lookup(st->layers, j, e->path, &top, NULL) != 0);
		return;
	}
}

static int layer_entry(void *ctx, const struct strata_entry *e)
{
	struct layer_stats *st = ctx;
	struct strata_entry below;
	struct strata_error err;

	if (!*e->path || (e->flags & STRATA_ENTRY_IMPLICIT))
		return 0;
	if (e->flags & STRATA_ENTRY_WHITEOUT) {
		if (visible_below(st, st->i, e->path, &below))
			st->out->deleted++;
		return 0;
	}
	/* The path may be absent below: then nothing is hidden. */
	if (e->flags & STRATA_ENTRY_OPAQUE && st->i > 0 &&
	    strata_stack_walk(st->layers, st->i, e->path, true, count_hidden, st, NULL, &err) < 0 &&
	    err.code == STRATA_ERR_NOMEM)
		st->failed = 1;
	if (!S_ISDIR(e->st.st_mode)) {
		st->out->files++;
		if (S_ISREG(e->st.st_mode) && !e->hardlink)
			st->out->bytes += (uint64_t)e->st.st_size;
	}
	if (!visible_below(st, st->i, e->path, &below))
		st->out->added++;
	else if (!S_ISDIR(e->st.st_mode) || e->st.st_mode != below.st.st_mode ||
	         e->st.st_uid != below.st.st_uid || e->st.st_gid != below.st.st_gid)
		st->out->changed++;
	check_wasted(st, e);
	return 0;
}

static int by_size(const void *a, const void *b)
{
	const struct store_wasted *x = a, *y = b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : strcmp(x->path, y->path);
}

void store_wasted_free(struct store_wasted *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/* Walks layer @st->i, moving what it wastes to the end of *@all. */
static int walk_layer(struct layer_stats *st, struct store_wasted **all, size_t *n_all)
{
	struct store_wasted *bigger = NULL;

	if (strata_layer_walk(st->layers[st->i], layer_entry, st, NULL, NULL) < 0)
		st->failed = 1; /* out of memory: layer_entry never stops it */
	if (!st->failed && st->n_off)
		bigger = realloc(*all, (*n_all + st->n_off) * sizeof(**all));
	if (bigger) {
		*all = bigger;
		memcpy(*all + *n_all, st->offenders, st->n_off * sizeof(**all));
		*n_all += st->n_off;
		free(st->offenders);
	} else {
		st->failed |= st->n_off != 0;
		store_wasted_free(st->offenders, st->n_off);
	}
	return st->failed ? -1 : 0;
}

int store_layer_stats(const struct store_source *src, struct store_layer_stats *stats,
                      struct store_wasted **wasted, size_t *n_wasted, struct strata_error *err)
{
	struct store_wasted *all = NULL;
	size_t n_all = 0;

	for (size_t i = 0; i < src->n_layers; i++) {
		struct layer_stats st = {
		    .layers = src->layers, .n = src->n_layers, .i = i, .out = &stats[i]};

		struct strata_layer_info info;

		memset(&stats[i], 0, sizeof(stats[i]));
		strata_layer_info(src->layers[i], &info);
		stats[i].compression = info.compression;
		stats[i].seekable = info.seekable;
		if (walk_layer(&st, &all, &n_all) < 0) {
			store_wasted_free(all, n_all);
			return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		}
	}
	if (n_all)
		qsort(all, n_all, sizeof(*all), by_size);
	*wasted = all;
	*n_wasted = n_all;
	return 0;
}
