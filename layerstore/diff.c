/* SPDX-License-Identifier: MIT */
/*
 * What changed between two trees (images, layers, containers), as docker
 * diff lists it: A added, C changed, D deleted, parents before children, a
 * changed directory's parents marked C too.  Files are compared by content
 * where size and layer do not settle it, by SHA-256 computed once per file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_dl.h"
#include "store.h"
#include "sha256.h"
#include "vec.h"

static const char *const change_names[STORE_CHANGE_BITS] = {
    "type", "content", "mode", "owner", "xattrs", "link", "device", "contents"};

const char *store_change_name(unsigned i)
{
	return i < STORE_CHANGE_BITS ? change_names[i] : NULL;
}

struct diff {
	const struct store_source *a, *b;
	struct store_change *v; /* the result, with holes (kind 0) */
	size_t n, cap;
	const char *skip;
	char buf[1 << 17]; /* file data being hashed (not static: reentrant) */
	/* Content digests already computed: (layer, node) → sha256. */
	struct digest_cache {
		const struct strata_layer *l;
		uint64_t node;
		unsigned char md[32];
		struct digest_cache *next;
	} * cache[4096];
};

struct list {
	struct strata_entry *v;
	char **paths; /* v[i].path, owned */
	size_t n, cap_v, cap_paths;
	bool past_first;
};

static int collect(void *ctx, const struct strata_entry *e)
{
	struct list *l = ctx;

	if (!l->past_first) { /* the first entry is the directory itself */
		l->past_first = true;
		return 0;
	}
	if (VEC_RESERVE(l->v, l->cap_v, l->n + 1) < 0 ||
	    VEC_RESERVE(l->paths, l->cap_paths, l->n + 1) < 0)
		return -ENOMEM;
	l->v[l->n] = *e;
	if (!(l->paths[l->n] = strdup(e->path)))
		return -ENOMEM;
	l->v[l->n].path = l->paths[l->n];
	l->n++;
	return 0;
}

/* A stack walk's outcome as this file's convention: 0 or a negative errno
 * (a callback's, which is one too, or the walk's own). */
static int walk_errno(int rc, int stopped, const struct strata_error *err)
{
	if (rc < 0)
		return err->sys_errno ? -err->sys_errno : -EIO;
	return rc ? stopped : 0;
}

static int list_dir(const struct store_source *s, const char *path, struct list *out)
{
	struct strata_error err;
	int stopped, rc;

	memset(out, 0, sizeof(*out));
	rc = strata_stack_walk(s->layers, s->n_layers, path, false, collect, out, &stopped, &err);
	return walk_errno(rc, stopped, &err);
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->v);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int content_digest(struct diff *d, const struct strata_entry *e, unsigned char md[32])
{
	size_t h = (((uintptr_t)e->src >> 4) ^ (e->node * 0x9e3779b97f4a7c15ULL)) % 4096;
	struct digest_cache *c;
	struct sha256 *sha;
	uint64_t off = 0;
	int rc = 0;

	for (c = d->cache[h]; c; c = c->next)
		if (c->l == e->src && c->node == e->node) {
			memcpy(md, c->md, 32);
			return 0;
		}
	if (!(sha = sha256_new(NULL)))
		rc = -1;
	while (rc == 0 && off < (uint64_t)e->st.st_size) {
		ssize_t n = strata_entry_pread(e, d->buf, sizeof(d->buf), off, NULL);

		if (n <= 0 || sha256_update(sha, d->buf, (size_t)n) < 0)
			rc = -1;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (rc == 0 && sha256_final(sha, md) < 0)
		rc = -1;
	sha256_free(sha);
	if (rc == 0 && (c = malloc(sizeof(*c)))) {
		*c = (struct digest_cache){e->src, e->node, {0}, d->cache[h]};
		memcpy(c->md, md, 32);
		d->cache[h] = c;
	}
	return rc;
}

static bool same_xattrs(const struct strata_entry *a, const struct strata_entry *b)
{
	const char *an, *bn;
	const void *av, *bv;
	size_t as, bs;
	uint32_t i = 0;

	for (;; i++) {
		bool ha = strata_entry_xattr(a, i, &an, &av, &as);
		bool hb = strata_entry_xattr(b, i, &bn, &bv, &bs);

		if (ha != hb)
			return false;
		if (!ha)
			return true;
		/* Layers keep xattrs in a stable order; different order reads
		 * as a change, which errs on the safe side. */
		if (strcmp(an, bn) || as != bs || memcmp(av, bv, as))
			return false;
	}
}

/* The diff-id of the layer an entry comes from; NULL for a container's
 * upper, which has none. */
static const char *entry_diff_id(const struct store_source *src, const struct strata_entry *e)
{
	size_t i = src->kind == STORE_SOURCE_LAYER ? src->layer_index : e->layer;

	if (src->kind == STORE_SOURCE_CONTAINER && e->layer >= src->img->n_layers)
		return NULL;
	return i < src->img->n_layers ? src->img->layers[i].diff_id : NULL;
}

static bool same_layer(const struct store_source *sa, const struct strata_entry *a,
                       const struct store_source *sb, const struct strata_entry *b)
{
	const char *da = entry_diff_id(sa, a), *db = entry_diff_id(sb, b);

	return da && db && strcmp(da, db) == 0;
}

static unsigned compare(struct diff *d, const struct strata_entry *a, const struct strata_entry *b)
{
	unsigned ch = 0;
	unsigned char ma[32], mb[32];

	if ((a->st.st_mode & S_IFMT) != (b->st.st_mode & S_IFMT))
		return STORE_CHANGE_TYPE;
	if ((a->st.st_mode & 07777) != (b->st.st_mode & 07777))
		ch |= STORE_CHANGE_MODE;
	if (a->st.st_uid != b->st.st_uid || a->st.st_gid != b->st.st_gid)
		ch |= STORE_CHANGE_OWNER;
	if ((S_ISCHR(a->st.st_mode) || S_ISBLK(a->st.st_mode)) && a->st.st_rdev != b->st.st_rdev)
		ch |= STORE_CHANGE_DEVICE;
	if (S_ISLNK(a->st.st_mode) &&
	    (a->link_len != b->link_len || memcmp(a->link, b->link, a->link_len)))
		ch |= STORE_CHANGE_LINK;
	if (!same_xattrs(a, b))
		ch |= STORE_CHANGE_XATTRS;
	if (!S_ISREG(a->st.st_mode) || (a->src == b->src && a->node == b->node))
		return ch;
	if (a->st.st_size != b->st.st_size)
		return ch | STORE_CHANGE_CONTENT;
	/* The same entry of the same layer (by diff-id: the index numbers a
	 * layer's entries the same way every time) is the same content.  Same
	 * size and mtime settle nothing: a reproducible build gives every file
	 * one mtime.  Anything else is compared by digest. */
	if (a->node == b->node && same_layer(d->a, a, d->b, b))
		return ch;
	if (content_digest(d, a, ma) || content_digest(d, b, mb) || memcmp(ma, mb, 32))
		ch |= STORE_CHANGE_CONTENT;
	return ch;
}

/* Appends a change; a directory's goes in before its children's, as a
 * hole (kind 0) filled in once they are known.  Its index, or -1. */
static long emit(struct diff *d, char kind, const char *path, unsigned what)
{
	if (VEC_RESERVE(d->v, d->cap, d->n + 1) < 0)
		return -1;
	d->v[d->n] = (struct store_change){kind, what, strdup(path)};
	if (!d->v[d->n].path)
		return -1;
	return (long)d->n++;
}

/* Everything below an added directory (the directory itself is printed). */
static int emit_added_below(void *ctx, const struct strata_entry *e)
{
	struct diff *d = ctx;

	if (strcmp(e->path, d->skip) != 0 && emit(d, 'A', e->path, 0) < 0)
		return -ENOMEM;
	return 0;
}

static int add_subtree(struct diff *d, const char *path)
{
	struct strata_error err;
	int stopped, rc;

	d->skip = path;
	rc = strata_stack_walk(d->b->layers, d->b->n_layers, path, true, emit_added_below, d,
	                       &stopped, &err);
	return walk_errno(rc, stopped, &err);
}

static int diff_dir(struct diff *d, const char *path, bool *changed);

/* A directory's line comes before its children's, but whether it changed
 * is known only after them: its place is held. */
static int diff_subdir(struct diff *d, const struct strata_entry *a, unsigned ch, bool *changed)
{
	long at = emit(d, 0, a->path, 0);
	bool below = false;
	int rc;

	if (at < 0)
		return -ENOMEM;
	rc = diff_dir(d, a->path, &below);
	if (below)
		ch |= STORE_CHANGE_CHILDREN;
	if (ch) {
		d->v[at].kind = 'C';
		d->v[at].what = ch;
	}
	*changed |= ch != 0;
	return rc;
}

static int diff_pair(struct diff *d, const struct strata_entry *a, const struct strata_entry *b,
                     bool *changed)
{
	unsigned ch = compare(d, a, b);

	if (S_ISDIR(a->st.st_mode) && !(ch & STORE_CHANGE_TYPE))
		return diff_subdir(d, a, ch, changed);
	if (!ch)
		return 0;
	if (emit(d, 'C', a->path, ch) < 0)
		return -ENOMEM;
	*changed = true;
	return (ch & STORE_CHANGE_TYPE) && S_ISDIR(b->st.st_mode) ? add_subtree(d, b->path) : 0;
}

static int diff_dir(struct diff *d, const char *path, bool *changed)
{
	struct list la, lb;
	size_t i = 0, k = 0;
	int rc = list_dir(d->a, path, &la);

	if (rc < 0)
		return rc;
	rc = list_dir(d->b, path, &lb);
	if (rc < 0) {
		list_free(&la);
		return rc;
	}
	while (rc == 0 && (i < la.n || k < lb.n)) {
		int c = i == la.n   ? 1
		        : k == lb.n ? -1
		                    : strcmp(base_name(la.v[i].path), base_name(lb.v[k].path));

		if (c < 0) {
			rc = emit(d, 'D', la.v[i++].path, 0) < 0 ? -ENOMEM : 0;
			*changed = true;
		} else if (c > 0) {
			rc = emit(d, 'A', lb.v[k].path, 0) < 0 ? -ENOMEM : 0;
			if (rc == 0 && S_ISDIR(lb.v[k].st.st_mode))
				rc = add_subtree(d, lb.v[k].path);
			k++;
			*changed = true;
		} else {
			rc = diff_pair(d, &la.v[i++], &lb.v[k++], changed);
		}
	}
	list_free(&la);
	list_free(&lb);
	return rc;
}

static void cache_free(struct diff *d)
{
	for (size_t i = 0; i < 4096; i++)
		while (d->cache[i]) {
			struct digest_cache *next = d->cache[i]->next;

			free(d->cache[i]);
			d->cache[i] = next;
		}
}

/* Closes the holes of directories that did not change. */
static void squeeze(struct diff *d)
{
	size_t k = 0;

	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].kind)
			d->v[k++] = d->v[i];
		else
			free(d->v[i].path);
	}
	d->n = k;
}

int store_diff(const struct store_source *from, const struct store_source *to,
               struct store_change **out, size_t *n, struct strata_error *err)
{
	struct store_source image;
	struct diff *d;
	bool changed = false;
	int rc;

	*out = NULL;
	*n = 0;
	if (!from) {
		/* A container against its own image: its layers but the upper. */
		if (to->kind != STORE_SOURCE_CONTAINER || to->n_layers == 0)
			return strata_fail(err, STRATA_ERR_USAGE, EINVAL, "%s: not a container",
			                   to->ref);
		image = *to;
		image.kind = STORE_SOURCE_IMAGE;
		image.n_layers = to->n_layers - 1;
		from = &image;
	}
	/* Here a failure can be told; content_digest() could only count every
	 * file it hashes as changed. */
	if (dl_crypto_load(err))
		return -1;
	d = calloc(1, sizeof(*d));
	if (!d)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	d->a = from;
	d->b = to;
	rc = diff_dir(d, "", &changed);
	cache_free(d);
	squeeze(d);
	if (rc < 0) {
		store_changes_free(d->v, d->n);
		free(d);
		return strata_fail(err, STRATA_ERR_SYS, -rc, "%s", strerror(-rc));
	}
	*out = d->v;
	*n = d->n;
	free(d);
	return 0;
}

void store_changes_free(struct store_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}
