/* SPDX-License-Identifier: MIT */
/*
 * A directory as a read-only lower layer, read lazily (strata-fs.h,
 * strata_layer_open_lower_dir): the root is all that open reads.  A
 * directory is listed the first time anything asks about its children or
 * its flags, and the listing is kept; its children get consecutive node
 * numbers then, so a listing is a range of nodes as in a tar index, and
 * numbers stay small and dense (lowerdir_attr.c stats them on demand).
 *
 * Nothing is locked to read: a node is filled before the listing that
 * names it is published (release/acquire on the directory's pointer), and
 * nodes live in fixed chunks that never move.  Listing one directory takes
 * one of LD_LIST_LOCKS locks, so two threads do not list it twice.
 *
 * Every access stays inside the layer: a directory is opened with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)
 * from the layer's root, and what is in it by one name relative to that
 * fd, never following a symlink.  A symlink in the layer is only ever
 * read as a link.  Nor does a listing enter a file system mounted in the
 * layer (RESOLVE_NO_XDEV, as overlayfs' lowers do not): a mount point
 * lists as empty, which also keeps the daemon out of its own mount when
 * that is inside the layer's directory (a listing of it would wait on
 * itself).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "lowerdir.h"
#include "upper.h"
#include "sys.h"
#include "vec.h"

static struct ld_dir no_children; /* a directory that could not be listed */

/* The path of node @id from the root, into @buf. */
static int node_path(const struct lowerdir *d, uint64_t id, char *buf, size_t size)
{
	size_t end = size - 1;

	buf[end] = '\0';
	while (id != 0) {
		const struct ld_node *n = ld_node(d, id);
		size_t need = n->len + (end < size - 1);

		if (need > end) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (end < size - 1)
			buf[--end] = '/';
		end -= n->len;
		memcpy(buf + end, atomic_load_explicit(&n->name, memory_order_relaxed), n->len);
		id = n->parent;
	}
	memmove(buf, buf + end, size - end);
	if (!buf[0])
		strcpy(buf, ".");
	return 0;
}

struct dir_open {
	struct lowerdir *d;
	uint64_t id;
};

static int open_dir(void *ctx)
{
	struct dir_open *o = ctx;
	char path[PATH_MAX];

	if (node_path(o->d, o->id, path, sizeof(path)) < 0)
		return -1;
	return sys_openat2(o->d->root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
	                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
	                       RESOLVE_NO_XDEV);
}

int fs_ld_dir_fd(struct lowerdir *d, uint64_t id)
{
	struct dir_open o = {d, id};

	if (id == 0)
		return d->root_fd;
	return fs_ld_fd(d, id, open_dir, &o);
}

/* Node numbers [first, first+n), their chunks there.  0, or -1. */
static int reserve(struct lowerdir *d, uint64_t n, uint64_t *first)
{
	uint64_t f = atomic_fetch_add(&d->reserved, n);

	if (f + n > LD_MAX_NODES || f + n < f)
		return -1;
	for (uint64_t c = f >> LD_CHUNK_BITS; c <= (f + n - 1) >> LD_CHUNK_BITS && n; c++) {
		struct ld_node *none = NULL, *chunk;

		if (atomic_load_explicit(&d->chunks[c], memory_order_acquire))
			continue;
		chunk = calloc(1u << LD_CHUNK_BITS, sizeof(*chunk));
		if (!chunk)
			return -1;
		if (!atomic_compare_exchange_strong(&d->chunks[c], &none, chunk))
			free(chunk); /* another listing made it */
	}
	*first = f;
	return 0;
}

/* A listing being read: entries and their names. */
struct reading {
	struct ld_ent *e;
	size_t n, cap;
	char *arena;
	size_t used, size;
	bool opaque;
	char *redirect;
};

static int add_entry(struct reading *r, const char *name, size_t len, uint8_t type, bool wh)
{
	if (VEC_RESERVE(r->e, r->cap, r->n + 1) < 0 ||
	    VEC_RESERVE(r->arena, r->size, r->used + len + 1) < 0)
		return -1;
	memcpy(r->arena + r->used, name, len);
	r->arena[r->used + len] = '\0';
	r->e[r->n++] = (struct ld_ent){(uint32_t)r->used, (uint32_t)len, type, wh};
	r->used += len + 1;
	return 0;
}

/* One name read from directory @fd into @r. */
static int read_entry(struct reading *r, int fd, const char *name, uint8_t type)
{
	size_t len = strlen(name);
	struct stat st;

	switch (fs_ld_name_kind(name, len)) {
	case LD_NAME_SKIP:
		return 0;
	case LD_NAME_OPAQUE:
		r->opaque = true;
		return 0;
	case LD_NAME_WHITEOUT:
		return add_entry(r, name + 4, len - 4, DT_UNKNOWN, true);
	case LD_NAME_PLAIN:
		break;
	}
	/* overlayfs' whiteout: a character device 0/0.  Its type alone is
	 * in the listing: only those (and file systems that give no type)
	 * cost a stat here. */
	if (type == DT_CHR || type == DT_UNKNOWN) {
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0; /* gone since: not listed */
		type = (uint8_t)IFTODT(st.st_mode);
		if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
			return add_entry(r, name, len, DT_UNKNOWN, true);
	}
	return add_entry(r, name, len, type, false);
}

/* What the directory's own xattrs say: opaque, and (a strata upper used
 * as a lower, unionmount's --ov=3) a renamed directory's redirect. */
static void read_dir_xattrs(const struct lowerdir *d, int fd, struct reading *r)
{
	char v[4], path[PATH_MAX];
	ssize_t n;

	for (size_t i = 0; i < d->n_opaque_xattrs && !r->opaque; i++)
		r->opaque = fs_ld_opaque_value(v, fgetxattr(fd, d->opaque_xattrs[i], v, sizeof(v)));
	n = fgetxattr(fd, UPPER_REDIRECT_XATTR, path, sizeof(path));
	if (n > 0)
		r->redirect = strndup(path, (size_t)n);
}

/* Every name of directory node @id, into @r.  0, or -1 (a directory
 * gone or unreadable: listed as empty). */
static int read_names(struct lowerdir *d, uint64_t id, struct reading *r)
{
	char buf[32768];
	int fd = fs_ld_dir_fd(d, id);
	ssize_t got;

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	read_dir_xattrs(d, fd, r);
	while ((got = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t o = 0; o < got;) {
			struct dirent64 *de = (struct dirent64 *)(buf + o);

			if (read_entry(r, fd, de->d_name, de->d_type) < 0)
				return -1;
			o += de->d_reclen;
		}
	}
	return got < 0 ? -1 : 0;
}

/* The nodes of a sorted listing, made and filled. */
static struct ld_dir *make_nodes(struct lowerdir *d, uint64_t id, struct reading *r)
{
	struct ld_dir *dir = calloc(1, sizeof(*dir));

	if (!dir || (r->n && reserve(d, r->n, &dir->first) < 0)) {
		free(dir);
		return NULL;
	}
	dir->n = r->n;
	dir->opaque = r->opaque;
	dir->names = r->arena;
	dir->redirect = r->redirect;
	r->arena = NULL;
	r->redirect = NULL;
	for (uint64_t i = 0; i < dir->n; i++) {
		struct ld_node *c = ld_node(d, dir->first + i);

		c->parent = id;
		c->len = r->e[i].len;
		c->type = r->e[i].type;
		c->whiteout = r->e[i].whiteout;
		atomic_init(&c->canonical, LAYER_NONE);
		atomic_store_explicit(&c->name, dir->names + r->e[i].off, memory_order_release);
	}
	return dir;
}

static struct ld_dir *read_dir(struct lowerdir *d, uint64_t id)
{
	struct reading r = {0};
	struct ld_dir *dir = NULL;

	if (read_names(d, id, &r) == 0) {
		r.n = fs_ld_sort(r.e, r.n, r.arena);
		dir = make_nodes(d, id, &r);
	}
	free(r.e);
	free(r.arena);
	free(r.redirect);
	return dir;
}

const struct ld_dir *fs_ld_listing(struct lowerdir *d, uint64_t id)
{
	struct ld_node *n = ld_node(d, id);
	struct ld_dir *dir = atomic_load_explicit(&n->dir, memory_order_acquire);
	pthread_mutex_t *lock = &d->list_locks[id % LD_LIST_LOCKS];

	if (dir)
		return dir;
	if (n->type != DT_DIR || n->whiteout)
		return &no_children;
	pthread_mutex_lock(lock);
	dir = atomic_load_explicit(&n->dir, memory_order_acquire);
	if (!dir) {
		dir = read_dir(d, id);
		if (!dir)
			dir = &no_children;
		atomic_store_explicit(&n->dir, dir, memory_order_release);
	}
	pthread_mutex_unlock(lock);
	return dir;
}

/* ---- layer_ops ---- */

static uint64_t ld_lookup(const struct strata_layer *l, uint64_t dir, const char *name, size_t len)
{
	struct lowerdir *d = ld_of(l);
	const struct ld_dir *ls = fs_ld_listing(d, dir);
	uint64_t lo = ls->first, hi = ls->first + ls->n;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const struct ld_node *m = ld_node(d, mid);
		int c = fs_ld_namecmp(atomic_load_explicit(&m->name, memory_order_relaxed), m->len,
		                      name, len);

		if (c == 0)
			/* Listed, but gone since: not there (a whiteout
			 * has nothing to stat). */
			return !m->whiteout && fs_ld_attr(d, mid)->gone ? LAYER_NONE : mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return LAYER_NONE;
}

static uint64_t ld_n_children(const struct strata_layer *l, uint64_t dir)
{
	return fs_ld_listing(ld_of(l), dir)->n;
}

static uint64_t ld_child(const struct strata_layer *l, uint64_t dir, uint64_t i)
{
	return fs_ld_listing(ld_of(l), dir)->first + i;
}

static const char *ld_name(const struct strata_layer *l, uint64_t node, size_t *len)
{
	const struct ld_node *n = ld_node(ld_of(l), node);

	*len = n->len;
	return atomic_load_explicit(&n->name, memory_order_relaxed);
}

static uint32_t ld_flags(const struct strata_layer *l, uint64_t node)
{
	const struct ld_node *n = ld_node(ld_of(l), node);

	if (n->whiteout)
		return LAYER_WHITEOUT;
	/* Opaque is in the listing (".wh..wh..opq") or on the directory
	 * itself: a directory asked about is one about to be used. */
	if (n->type == DT_DIR && fs_ld_listing(ld_of(l), node)->opaque)
		return LAYER_OPAQUE;
	return 0;
}

static const char *ld_redirect(const struct strata_layer *l, uint64_t node)
{
	const struct ld_node *n = ld_node(ld_of(l), node);

	return n->type == DT_DIR ? fs_ld_listing(ld_of(l), node)->redirect : NULL;
}

static uint64_t ld_parent(const struct strata_layer *l, uint64_t node)
{
	return ld_node(ld_of(l), node)->parent;
}

static bool ld_known(const struct strata_layer *l, uint64_t node)
{
	const struct lowerdir *d = ld_of(l);

	/* (reserved may pass LD_MAX_NODES: a listing refused for it) */
	return node < LD_MAX_NODES && node < atomic_load(&d->reserved) &&
	       atomic_load_explicit(&d->chunks[node >> LD_CHUNK_BITS], memory_order_acquire) &&
	       atomic_load_explicit(&ld_node(d, node)->name, memory_order_acquire);
}

static void ld_close(struct strata_layer *l)
{
	struct lowerdir *d = ld_of(l);
	uint64_t n = atomic_load(&d->reserved);

	fs_ld_fd_drop(d);
	for (uint64_t c = 0; c < LD_CHUNKS && (uint64_t)c << LD_CHUNK_BITS < n; c++) {
		struct ld_node *chunk = atomic_load(&d->chunks[c]);

		for (uint64_t i = 0; chunk && i < (1u << LD_CHUNK_BITS); i++) {
			struct ld_dir *dir = atomic_load(&chunk[i].dir);

			if (dir && dir != &no_children) {
				free(dir->names);
				free(dir->redirect);
				free(dir);
			}
			fs_ld_attr_free(&chunk[i]);
		}
		free(chunk);
	}
	free(d->chunks);
	fs_ld_links_free(d);
	for (int i = 0; i < LD_LIST_LOCKS; i++)
		pthread_mutex_destroy(&d->list_locks[i]);
	pthread_mutex_destroy(&d->links_lock);
	if (d->root_fd >= 0)
		close(d->root_fd);
	free(d->base.name);
	free(d);
}

static const struct layer_ops lowerdir_ops = {
    .lookup = ld_lookup,
    .n_children = ld_n_children,
    .child = ld_child,
    .name = ld_name,
    .flags = ld_flags,
    .mode = fs_ld_mode,
    .canonical = fs_ld_canonical,
    .next_link = fs_ld_next_link,
    .parent = ld_parent,
    .stat = fs_ld_stat,
    .readlink = fs_ld_readlink,
    .xattr = fs_ld_xattr,
    .map = fs_ld_map,
    .read = fs_ld_read,
    .redirect = ld_redirect,
    .known = ld_known,
    .close = ld_close,
};

static void choose_xattrs(struct lowerdir *d, const struct strata_lower_dir_options *opts)
{
	unsigned which = opts ? opts->overlay_xattrs : 0;

	if (!which)
		which = STRATA_OVL_XATTR_USER | (geteuid() == 0 ? STRATA_OVL_XATTR_TRUSTED : 0);
	if (which & STRATA_OVL_XATTR_TRUSTED)
		d->opaque_xattrs[d->n_opaque_xattrs++] = "trusted.overlay.opaque";
	if (which & STRATA_OVL_XATTR_USER) {
		d->opaque_xattrs[d->n_opaque_xattrs++] = "user.overlay.opaque";
		d->opaque_xattrs[d->n_opaque_xattrs++] = "user.fuseoverlayfs.opaque";
	}
}

/* Whether the kernel confines paths (openat2, Linux 5.6): without it no
 * directory is served. */
static int confined_ok(int root_fd)
{
	int fd = sys_openat2(root_fd, ".", O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static struct lowerdir *lowerdir_new(const char *name)
{
	struct lowerdir *d = calloc(1, sizeof(*d));
	uint64_t root;

	if (!d)
		return NULL;
	d->root_fd = -1;
	for (int i = 0; i < LD_LIST_LOCKS; i++)
		pthread_mutex_init(&d->list_locks[i], NULL);
	pthread_mutex_init(&d->links_lock, NULL);
	d->base.ops = &lowerdir_ops;
	d->base.growing = true;
	d->base.name = strdup(name);
	d->chunks = calloc(LD_CHUNKS, sizeof(*d->chunks));
	if (!d->base.name || !d->chunks || reserve(d, 1, &root) < 0) {
		ld_close(&d->base);
		return NULL;
	}
	return d;
}

int strata_layer_open_lower_dir(const char *dir, const struct strata_lower_dir_options *opts,
                                struct strata_layer **out, struct strata_error *err)
{
	const char *name = opts && opts->name ? opts->name : dir;
	struct lowerdir *d = lowerdir_new(name);
	struct ld_node *root;
	struct stat st;
	char path[64];

	if (!d)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	choose_xattrs(d, opts);
	d->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0 || fstat(d->root_fd, &st) < 0 || confined_ok(d->root_fd) < 0) {
		int e = errno;

		ld_close(&d->base);
		return strata_fail(err, STRATA_ERR_SYS, e, "%s: %s", name,
		                   e == ENOTDIR  ? "not a directory"
		                   : e == ENOSYS ? "needs openat2 (Linux 5.6 or later)"
		                                 : strerror(e));
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d->root_fd);
	d->override = fs_meta_override_name(path);
	root = ld_node(d, 0);
	root->type = DT_DIR;
	atomic_init(&root->canonical, 0);
	atomic_store(&root->name, "");
	*out = &d->base;
	return 0;
}
