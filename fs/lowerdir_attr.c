/* SPDX-License-Identifier: MIT */
/*
 * A lazily read directory layer's attributes, xattrs, hard links and data
 * (layer_lowerdir.c has its nodes and listings).  Each is read the first
 * time it is asked and kept: the layer is read-only by contract.  Readers
 * race to fill a node's pointer; the first one published wins, the others
 * free theirs.  Everything is opened by one name relative to the fd of the
 * node's directory (confined by openat2), never following a symlink.
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

#include "acl.h"
#include "lowerdir.h"
#include "upper.h"
#include "vec.h"

static const char *node_name(const struct ld_node *n)
{
	return atomic_load_explicit(&n->name, memory_order_relaxed);
}

/* Publishes @mine in @slot unless another thread was first: the one kept. */
#define PUBLISH(slot, mine, free_fn)                                                               \
	({                                                                                         \
		__typeof__(mine) seen_ = NULL;                                                     \
		if (!atomic_compare_exchange_strong_explicit(                                      \
		        &(slot), &seen_, (mine), memory_order_acq_rel, memory_order_acquire)) {    \
			free_fn(mine);                                                             \
			(mine) = seen_;                                                            \
		}                                                                                  \
		(mine);                                                                            \
	})

static void attr_free(struct ld_attr *a)
{
	if (a)
		free(a->link);
	free(a);
}

static void xattrs_free(struct ld_xattrs *x)
{
	for (uint32_t i = 0; x && i < x->n; i++) {
		free(x->e[i].name);
		free(x->e[i].value);
	}
	free(x);
}

void fs_ld_attr_free(struct ld_node *n)
{
	attr_free(atomic_load(&n->attr));
	xattrs_free(atomic_load(&n->xattrs));
}

/* A node whose stat failed (gone since it was listed): its type, no data. */
static void attr_gone(struct ld_attr *a, const struct ld_node *n)
{
	a->gone = true;
	a->st.st_mode = DTTOIF(n->type);
	a->st.st_nlink = 1;
}

/* A strata upper used as a lower: its objects show as its records say
 * (a rootless daemon's owners and modes, placeholders of symlinks and
 * devices), as in the mount that wrote them. */
static void apply_record(struct lowerdir *d, int dirfd, const char *name, struct ld_attr *a,
                         const struct ld_node *n)
{
	char path[PATH_MAX];
	int rc = -1;

	if ((size_t)snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name) < sizeof(path))
		rc = fs_meta_layer_apply(d->override, path, &a->st, &a->link);
	if (rc < 0) {
		attr_gone(a, n);
	} else if (rc == 1) {
		/* fuse-overlayfs' record names ids on disk, as the file did. */
		fs_idmap_stat(&d->base, &a->st);
	}
}

static void read_attr(struct lowerdir *d, uint64_t id, struct ld_node *n, struct ld_attr *a)
{
	char target[PATH_MAX];
	int fd = id == 0 ? d->root_fd : fs_ld_dir_fd(d, n->parent);
	ssize_t len;

	if (fd < 0 || (id == 0 ? fstat(fd, &a->st)
	                       : fstatat(fd, node_name(n), &a->st, AT_SYMLINK_NOFOLLOW)) < 0) {
		attr_gone(a, n);
		return;
	}
	/* The listing's type stays the node's: a name replaced by another
	 * type since is gone, not a different object under one number. */
	if (IFTODT(a->st.st_mode) != n->type) {
		attr_gone(a, n);
		return;
	}
	/* Owners as the container saw them (strata's record holds its ids). */
	fs_idmap_stat(&d->base, &a->st);
	if (!S_ISLNK(a->st.st_mode)) {
		apply_record(d, fd, id == 0 ? "." : node_name(n), a, n);
		return;
	}
	len = readlinkat(fd, node_name(n), target, sizeof(target) - 1);
	if (len < 0 || !(a->link = strndup(target, (size_t)len)))
		attr_gone(a, n);
	else
		a->st.st_size = len;
}

static struct ld_attr gone_attr = {.gone = true, .st = {.st_nlink = 1}};

const struct ld_attr *fs_ld_attr(struct lowerdir *d, uint64_t id)
{
	struct ld_node *n = ld_node(d, id);
	struct ld_attr *a = atomic_load_explicit(&n->attr, memory_order_acquire);

	if (a)
		return a;
	if (n->whiteout || !(a = calloc(1, sizeof(*a))))
		return &gone_attr;
	read_attr(d, id, n, a);
	return PUBLISH(n->attr, a, attr_free);
}

uint32_t fs_ld_mode(const struct strata_layer *l, uint64_t node)
{
	if (ld_node(ld_of(l), node)->whiteout)
		return 0;
	return fs_ld_attr(ld_of(l), node)->st.st_mode;
}

void fs_ld_stat(const struct strata_layer *l, uint64_t node, struct stat *st)
{
	*st = fs_ld_attr(ld_of(l), node)->st;
}

const char *fs_ld_readlink(const struct strata_layer *l, uint64_t node, size_t *len)
{
	const char *t = fs_ld_attr(ld_of(l), node)->link;

	*len = t ? strlen(t) : 0;
	return t ? t : "";
}

/* ---- xattrs ---- */

static int add_xattr(struct ld_xattrs **x, size_t *cap, const char *name, const void *v,
                     size_t size)
{
	struct ld_xattrs *nx = *x;
	uint32_t i = nx ? nx->n : 0;

	if (!nx || i == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		nx = realloc(nx, sizeof(*nx) + *cap * sizeof(nx->e[0]));
		if (!nx)
			return -1;
		nx->n = i;
		*x = nx;
	}
	nx->e[i].name = strdup(name);
	nx->e[i].value = malloc(size ? size : 1);
	nx->e[i].size = size;
	nx->n = i + 1;
	if (!nx->e[i].name || !nx->e[i].value)
		return -1;
	memcpy(nx->e[i].value, v, size);
	return 0;
}

struct xattrs_reading {
	const struct lowerdir *d;
	struct ld_xattrs *x;
	size_t cap;
};

static uint32_t acl_map(const void *ctx, bool group, uint32_t id)
{
	const struct lowerdir *d = ((const struct xattrs_reading *)ctx)->d;

	return fs_idmap_inside(group ? &d->base.gids : &d->base.uids, id);
}

static int add_acl(void *ctx, const char *name, const void *value, size_t size)
{
	struct xattrs_reading *r = ctx;

	return add_xattr(&r->x, &r->cap, name, value, size);
}

/* The xattrs of the object behind /proc/self/fd/N @path, overlayfs' and
 * strata's own records left out; its ACLs as a strata upper keeps them
 * (fs_acl_layer: a rootless daemon's in records). */
static struct ld_xattrs *read_xattrs(const struct lowerdir *d, const char *path)
{
	char names[65536], val[65536];
	ssize_t len = listxattr(path, names, sizeof(names));
	struct xattrs_reading r = {d, calloc(1, sizeof(*r.x)), 0};
	bool acls = false;

	for (ssize_t o = 0; r.x && len > 0 && o < len; o += (ssize_t)strlen(names + o) + 1) {
		const char *name = names + o;
		ssize_t vlen;

		if (fs_acl_kind(name) >= 0 || strcmp(name, ACL_RECORD_ACCESS) == 0 ||
		    strcmp(name, ACL_RECORD_DEFAULT) == 0) {
			acls = true;
			continue;
		}
		if (fs_ld_private_xattr(name))
			continue;
		vlen = getxattr(path, name, val, sizeof(val));
		if (vlen >= 0 && add_xattr(&r.x, &r.cap, name, val, (size_t)vlen) < 0)
			goto fail;
	}
	if (r.x && (!acls || fs_acl_layer(path, acl_map, add_acl, &r) == 0))
		return r.x;
fail:
	xattrs_free(r.x);
	return NULL;
}

static struct ld_xattrs no_xattrs;

/* Files and directories only: a symlink's would have to be read by a
 * path (llistxattr), and user.* exist on nothing else. */
static const struct ld_xattrs *xattrs_of(struct lowerdir *d, uint64_t id)
{
	struct ld_node *n = ld_node(d, id);
	struct ld_xattrs *x = atomic_load_explicit(&n->xattrs, memory_order_acquire);
	const struct ld_attr *a;
	char proc[64];
	int dirfd, fd;

	if (x)
		return x;
	a = fs_ld_attr(d, id);
	if (a->gone || (!S_ISREG(a->st.st_mode) && !S_ISDIR(a->st.st_mode)))
		return &no_xattrs;
	dirfd = id == 0 ? d->root_fd : fs_ld_dir_fd(d, n->parent);
	fd = dirfd < 0
	         ? -1
	         : openat(dirfd, id == 0 ? "." : node_name(n), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return &no_xattrs;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	x = read_xattrs(d, proc);
	close(fd);
	if (!x)
		return &no_xattrs;
	return PUBLISH(n->xattrs, x, xattrs_free);
}

bool fs_ld_xattr(const struct strata_layer *l, uint64_t node, uint32_t i, const char **name,
                 const void **value, size_t *size)
{
	const struct ld_xattrs *x = xattrs_of(ld_of(l), node);

	if (i >= x->n)
		return false;
	*name = x->e[i].name;
	*value = x->e[i].value;
	*size = x->e[i].size;
	return true;
}

/* ---- hard links ----
 *
 * Names of one file (same st_dev and st_ino) share the inode of the first
 * name stat'd.  Lazily, a name is known only once its directory has been
 * listed and the name asked about: next_link() finds the names seen so
 * far, not those in directories nobody has opened yet.  So a copy-up of
 * a hard-linked lower file relinks the names the union has seen; the
 * others keep showing the lower data (a tar layer knows every name). */

struct ld_link {
	dev_t dev;
	ino_t ino;
	uint64_t *nodes; /* first is the canonical one */
	size_t n, cap;
};

static struct ld_link *link_find(struct lowerdir *d, const struct stat *st)
{
	for (size_t i = 0; i < d->n_links; i++)
		if (d->links[i]->ino == st->st_ino && d->links[i]->dev == st->st_dev)
			return d->links[i];
	return NULL;
}

static struct ld_link *link_add(struct lowerdir *d, const struct stat *st)
{
	struct ld_link *k = calloc(1, sizeof(*k));

	if (!k || VEC_RESERVE(d->links, d->cap_links, d->n_links + 1) < 0) {
		free(k);
		return NULL;
	}
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	d->links[d->n_links++] = k;
	return k;
}

uint64_t fs_ld_canonical(const struct strata_layer *l, uint64_t node)
{
	struct lowerdir *d = ld_of(l);
	struct ld_node *n = ld_node(d, node);
	uint64_t c = atomic_load_explicit(&n->canonical, memory_order_acquire);
	const struct ld_attr *a;
	struct ld_link *k;

	if (c != LAYER_NONE)
		return c;
	a = fs_ld_attr(d, node);
	if (a->gone || !S_ISREG(a->st.st_mode) || a->st.st_nlink < 2) {
		atomic_store_explicit(&n->canonical, node, memory_order_release);
		return node;
	}
	pthread_mutex_lock(&d->links_lock);
	c = atomic_load_explicit(&n->canonical, memory_order_acquire);
	if (c == LAYER_NONE) {
		k = link_find(d, &a->st);
		if (!k)
			k = link_add(d, &a->st);
		if (k && VEC_RESERVE(k->nodes, k->cap, k->n + 1) == 0)
			k->nodes[k->n++] = node;
		c = k && k->n ? k->nodes[0] : node;
		atomic_store_explicit(&n->canonical, c, memory_order_release);
	}
	pthread_mutex_unlock(&d->links_lock);
	return c;
}

uint64_t fs_ld_next_link(const struct strata_layer *l, uint64_t canonical, uint64_t after)
{
	struct lowerdir *d = ld_of(l);
	const struct ld_attr *a = fs_ld_attr(d, canonical);
	uint64_t best = LAYER_NONE;
	struct ld_link *k;

	pthread_mutex_lock(&d->links_lock);
	k = a->gone ? NULL : link_find(d, &a->st);
	for (size_t i = 0; k && i < k->n; i++)
		if ((after == LAYER_NONE || k->nodes[i] > after) && k->nodes[i] < best)
			best = k->nodes[i];
	pthread_mutex_unlock(&d->links_lock);
	if (!k && (after == LAYER_NONE || canonical > after))
		return fs_ld_canonical(l, canonical) == canonical ? canonical : LAYER_NONE;
	return best;
}

void fs_ld_links_free(struct lowerdir *d)
{
	for (size_t i = 0; i < d->n_links; i++) {
		free(d->links[i]->nodes);
		free(d->links[i]);
	}
	free(d->links);
}

/* ---- data ---- */

struct file_open {
	struct lowerdir *d;
	const struct ld_node *n;
};

/* O_NONBLOCK: a name replaced by a FIFO since its stat does not hang. */
static int open_file(void *ctx)
{
	struct file_open *o = ctx;
	int dirfd = fs_ld_dir_fd(o->d, o->n->parent), fd;
	struct stat st;

	if (dirfd < 0)
		return -1;
	fd = openat(dirfd, node_name(o->n),
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		errno = EIO;
		return -1;
	}
	return fd;
}

/* One extent: the file's fd (sparse files read as their zeros), or, when
 * the file cannot be opened, bytes of no file that fs_ld_read fails. */
size_t fs_ld_map(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
                 struct layer_extent *ext, size_t max)
{
	struct lowerdir *d = ld_of(l);
	const struct ld_attr *a = fs_ld_attr(d, node);
	uint64_t size = (uint64_t)a->st.st_size;
	struct file_open o = {d, ld_node(d, node)};
	int fd;

	if (!S_ISREG(a->st.st_mode) || off >= size || max == 0 || len == 0)
		return 0;
	len = len > size - off ? size - off : len;
	fd = a->gone ? -1 : fs_ld_fd(d, node, open_file, &o);
	if (fd < 0)
		ext[0] = (struct layer_extent){LAYER_FD_READ, off, len, l};
	else
		ext[0] = (struct layer_extent){fd, off, len, NULL};
	return 1;
}

int fs_ld_read(const struct strata_layer *l, uint64_t off, void *buf, size_t len)
{
	(void)l, (void)off, (void)buf, (void)len;
	return EIO;
}
