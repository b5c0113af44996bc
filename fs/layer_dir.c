/* SPDX-License-Identifier: MIT */
/*
 * A directory in OCI changeset form (an upper layer) as a read-only layer:
 * ".wh.NAME" files become whiteouts, ".wh..wh..opq" makes its directory
 * opaque (and so do the overlay form's 0/0 character devices and opaque
 * xattrs, upper_whiteout.c: an upper of overlayfs' or fuse-overlayfs'),
 * and strata's own xattrs are applied, not shown: user.strata.meta
 * gives the owner, mode and device a rootless daemon could not make real,
 * user.strata.redirect says where a renamed directory's lower content is,
 * user.strata.acl.* are the ACLs it kept (shown as system.posix_acl_*).
 * So diff and commit see a container's changes exactly as its mount did.
 *
 * The tree is read once, at open, into memory (an upper holds what a
 * container changed, not a whole image).  Nodes are numbered breadth-first
 * with sorted children, as in a tar index.  Data reads open the file on
 * demand; map() is for one reader at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "idmap.h"
#include "layer.h"
#include "sys.h"
#include "upper.h"
#include "vec.h"

struct dnode {
	char *name;
	char *path; /* relative to the root, for opening */
	uint64_t parent, first_child, n_children;
	uint64_t canonical; /* first name of a hard-linked file */
	struct stat st;
	uint32_t flags;
	char *link;
	char *redirect;
	bool metacopy;   /* its data is still the lower file's: */
	uint64_t origin; /* the st_ino of that file */
	char **xnames;   /* xattrs shown: all but user.strata.* */
	char **xvalues;
	size_t *xsizes;
	uint32_t n_xattrs;
	size_t cap_xnames, cap_xvalues, cap_xsizes;
};

struct dir_layer {
	struct strata_layer base;
	/* The container's user namespace: host ids on disk → its ids. */
	char **hide; /* mount points the launcher made: not changes */
	size_t n_hide;
	struct strata_layer *const *below; /* the data of metacopy files */
	size_t n_below;
	int root_fd;
	struct dnode *nodes;
	uint64_t n, cap;
	pthread_mutex_t lock; /* the open file map() hands out */
	uint64_t open_node;
	int open_fd;
};

static const struct dir_layer *dl(const struct strata_layer *l)
{
	return (const struct dir_layer *)l;
}

static const struct dnode *dn(const struct strata_layer *l, uint64_t node)
{
	return &dl(l)->nodes[node];
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int by_node_name(const void *a, const void *b)
{
	return strcmp(((const struct dnode *)a)->name, ((const struct dnode *)b)->name);
}

static uint64_t dir_lookup(const struct strata_layer *l, uint64_t dir, const char *name, size_t len)
{
	const struct dnode *d = dn(l, dir);
	uint64_t lo = d->first_child, hi = d->first_child + d->n_children;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const char *m = dl(l)->nodes[mid].name;
		size_t mlen = strlen(m);
		int c = memcmp(m, name, mlen < len ? mlen : len);

		if (c == 0)
			c = mlen < len ? -1 : mlen > len;
		if (c == 0)
			return (dl(l)->nodes[mid].flags & LAYER_HIDDEN) ? LAYER_NONE : mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return LAYER_NONE;
}

static uint64_t dir_n_children(const struct strata_layer *l, uint64_t dir)
{
	return dn(l, dir)->n_children;
}

static uint64_t dir_child(const struct strata_layer *l, uint64_t dir, uint64_t i)
{
	return dn(l, dir)->first_child + i;
}

static const char *dir_name(const struct strata_layer *l, uint64_t node, size_t *len)
{
	*len = strlen(dn(l, node)->name);
	return dn(l, node)->name;
}

static uint32_t dir_flags(const struct strata_layer *l, uint64_t node)
{
	return dn(l, node)->flags;
}

static uint32_t dir_mode(const struct strata_layer *l, uint64_t node)
{
	return dn(l, node)->st.st_mode;
}

static uint64_t dir_canonical(const struct strata_layer *l, uint64_t node)
{
	return dn(l, node)->canonical;
}

static uint64_t dir_next_link(const struct strata_layer *l, uint64_t canonical, uint64_t after)
{
	for (uint64_t i = after == LAYER_NONE ? 0 : after + 1; i < dl(l)->n; i++)
		if (dl(l)->nodes[i].canonical == canonical)
			return i;
	return LAYER_NONE;
}

static uint64_t dir_parent(const struct strata_layer *l, uint64_t node)
{
	return dn(l, node)->parent;
}

static void dir_stat(const struct strata_layer *l, uint64_t node, struct stat *st)
{
	*st = dn(l, node)->st;
}

static const char *dir_readlink(const struct strata_layer *l, uint64_t node, size_t *len)
{
	const char *t = dn(l, node)->link;

	*len = t ? strlen(t) : 0;
	return t ? t : "";
}

static bool dir_xattr(const struct strata_layer *l, uint64_t node, uint32_t i, const char **name,
                      const void **value, size_t *size)
{
	const struct dnode *d = dn(l, node);

	if (i >= d->n_xattrs)
		return false;
	*name = d->xnames[i];
	*value = d->xvalues[i];
	*size = d->xsizes[i];
	return true;
}

static const char *dir_redirect(const struct strata_layer *l, uint64_t node)
{
	return dn(l, node)->redirect;
}

/* Data runs and holes, from the file's own SEEK_DATA/SEEK_HOLE, so a sparse
 * upper file stays sparse in a committed layer. */
/* The lower layer and node holding a metacopy file's data (checked at
 * open: metacopy_check). */
static const struct strata_layer *metacopy_data(const struct dir_layer *d, const struct dnode *n,
                                                uint64_t *node)
{
	uint32_t layer = 0;

	union_ino_split(n->origin, &layer, node);
	return d->below[layer];
}

static size_t dir_map(const struct strata_layer *l, uint64_t node, uint64_t off, uint64_t len,
                      struct layer_extent *ext, size_t max)
{
	struct dir_layer *d = (struct dir_layer *)l;
	const struct dnode *n = dn(l, node);
	uint64_t end, size = (uint64_t)n->st.st_size;
	size_t k = 0;

	if (!S_ISREG(n->st.st_mode) || off >= size || max == 0)
		return 0;
	if (n->metacopy) {
		const struct strata_layer *below = metacopy_data(d, n, &node);

		return below->ops->map(below, node, off, len, ext, max);
	}
	end = len > size - off ? size : off + len;
	pthread_mutex_lock(&d->lock);
	if (d->open_node != node) {
		if (d->open_fd >= 0)
			close(d->open_fd);
		d->open_fd = openat(d->root_fd, n->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		d->open_node = d->open_fd >= 0 ? node : LAYER_NONE;
	}
	while (d->open_fd >= 0 && off < end && k < max) {
		off_t data = lseek(d->open_fd, (off_t)off, SEEK_DATA), hole;

		if (data < 0 || (uint64_t)data >= end) {
			ext[k++] = (struct layer_extent){LAYER_FD_HOLE, 0, end - off, NULL};
			break;
		}
		if ((uint64_t)data > off) {
			ext[k++] =
			    (struct layer_extent){LAYER_FD_HOLE, 0, (uint64_t)data - off, NULL};
			off = (uint64_t)data;
			continue;
		}
		hole = lseek(d->open_fd, (off_t)off, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
		ext[k++] = (struct layer_extent){d->open_fd, off, (uint64_t)hole - off, NULL};
		off = (uint64_t)hole;
	}
	pthread_mutex_unlock(&d->lock);
	return k;
}

static void free_node(struct dnode *n)
{
	free(n->name);
	free(n->path);
	free(n->link);
	free(n->redirect);
	for (uint32_t i = 0; i < n->n_xattrs; i++) {
		free(n->xnames[i]);
		free(n->xvalues[i]);
	}
	free(n->xnames);
	free(n->xvalues);
	free(n->xsizes);
}

static void dir_close(struct strata_layer *l)
{
	struct dir_layer *d = (struct dir_layer *)l;

	for (uint64_t i = 0; i < d->n; i++)
		free_node(&d->nodes[i]);
	free(d->nodes);
	if (d->open_fd >= 0)
		close(d->open_fd);
	if (d->root_fd >= 0)
		close(d->root_fd);
	pthread_mutex_destroy(&d->lock);
	free(d->base.name);
	free(d);
}

static const struct layer_ops dir_ops = {
    .lookup = dir_lookup,
    .n_children = dir_n_children,
    .child = dir_child,
    .name = dir_name,
    .flags = dir_flags,
    .mode = dir_mode,
    .canonical = dir_canonical,
    .next_link = dir_next_link,
    .parent = dir_parent,
    .stat = dir_stat,
    .readlink = dir_readlink,
    .xattr = dir_xattr,
    .map = dir_map,
    .redirect = dir_redirect,
    .close = dir_close,
};

/* ---- reading the directory ---- */

static struct dnode *add_node(struct dir_layer *d)
{
	if (VEC_RESERVE(d->nodes, d->cap, d->n + 1) < 0)
		return NULL;
	memset(&d->nodes[d->n], 0, sizeof(d->nodes[0]));
	return &d->nodes[d->n++];
}

static int node_add_xattr(struct dnode *n, const char *name, const void *value, size_t len)
{
	void *nv;

	if (VEC_RESERVE(n->xnames, n->cap_xnames, n->n_xattrs + 1) < 0 ||
	    VEC_RESERVE(n->xvalues, n->cap_xvalues, n->n_xattrs + 1) < 0 ||
	    VEC_RESERVE(n->xsizes, n->cap_xsizes, n->n_xattrs + 1) < 0)
		return -1;
	nv = malloc(len + 1);
	if (!nv || !(n->xnames[n->n_xattrs] = strdup(name))) {
		free(nv);
		return -1;
	}
	memcpy(nv, value, len);
	n->xvalues[n->n_xattrs] = nv;
	n->xsizes[n->n_xattrs++] = len;
	return 0;
}

/* An object's ACLs (fs_acl_layer): its real ones' ids mapped back as
 * owners are, each kept as an xattr of its node. */
struct acl_ctx {
	const struct dir_layer *d;
	struct dnode *n;
};

static uint32_t acl_map(const void *ctx, bool group, uint32_t id)
{
	const struct dir_layer *d = ((const struct acl_ctx *)ctx)->d;

	return fs_idmap_inside(group ? &d->base.gids : &d->base.uids, id);
}

static int acl_add(void *ctx, const char *name, const void *value, size_t size)
{
	return node_add_xattr(((struct acl_ctx *)ctx)->n, name, value, size);
}

/* xattrs and strata's records of one object, by its /proc/self/fd path.
 * 0, or -1 with errno ENOMEM (fill_node says where). */
static int read_xattrs(const struct dir_layer *d, struct dnode *n, const char *path)
{
	char names[65536], val[65536];
	/* Through the /proc/self/fd link of an O_PATH fd: the l* calls would
	 * read the link itself. */
	ssize_t len = listxattr(path, names, sizeof(names));

	for (ssize_t o = 0; len > 0 && o < len; o += (ssize_t)strlen(names + o) + 1) {
		const char *name = names + o;
		ssize_t vlen = getxattr(path, name, val, sizeof(val));

		if (vlen < 0)
			continue;
		if (strcmp(name, UPPER_ORIGIN_XATTR) == 0 && vlen == 2 * sizeof(uint64_t)) {
			uint64_t v[2];

			memcpy(v, val, sizeof(v));
			if ((v[1] & UPPER_ORIGIN_METACOPY) && S_ISREG(n->st.st_mode))
				n->metacopy = true;
			n->origin = v[0];
			continue;
		}
		if (strcmp(name, UPPER_REDIRECT_XATTR) == 0) {
			n->redirect = strndup(val, (size_t)vlen);
			continue;
		}
		if (strncmp(name, "user.strata.", 12) == 0 || fs_acl_kind(name) >= 0 ||
		    fs_upper_is_overlay_xattr(name))
			continue; /* ACLs: read_acls; the overlay form's: read_dir */
		if (node_add_xattr(n, name, val, (size_t)vlen) < 0)
			return -1;
	}
	return fs_acl_layer(path, acl_map, acl_add, &(struct acl_ctx){d, n});
}

/* A failure with errno, said of the directory @dir being read (LAYER_NONE:
 * the layer's root itself). */
static int node_failed(const struct dir_layer *d, uint64_t dir, struct strata_error *err)
{
	int e = errno;

	if (dir == LAYER_NONE)
		return strata_fail(err, STRATA_ERR_SYS, e, "%s: %s", d->base.name, strerror(e));
	return strata_fail(err, STRATA_ERR_SYS, e, "%s/%s: %s", d->base.name, d->nodes[dir].path,
	                   strerror(e));
}

/* Node @idx, named @name in @dirfd, the directory @dir's (for messages). */
static int fill_node(struct dir_layer *d, uint64_t idx, int dirfd, const char *name, uint64_t dir,
                     struct strata_error *err)
{
	struct dnode *n = &d->nodes[idx];
	char proc[64], target[4096];
	int fd, rc;

	if (fstatat(dirfd, name, &n->st, AT_SYMLINK_NOFOLLOW) < 0)
		return node_failed(d, dir, err);
	/* Owners as the container saw them (user.strata.meta, read below,
	 * already holds the container's ids). */
	fs_idmap_stat(&d->base, &n->st);
	n->st.st_nlink = n->st.st_nlink ? n->st.st_nlink : 1;
	if (S_ISLNK(n->st.st_mode)) {
		ssize_t len = readlinkat(dirfd, name, target, sizeof(target) - 1);

		if (len < 0)
			return node_failed(d, dir, err);
		target[len] = '\0';
		n->link = strdup(target);
		return n->link ? 0 : node_failed(d, dir, err);
	}
	/* user xattrs exist only on files and directories. */
	if (!S_ISREG(n->st.st_mode) && !S_ISDIR(n->st.st_mode))
		return 0;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return node_failed(d, dir, err);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = read_xattrs(d, n, proc);
	close(fd);
	/* Its record, through the directory's fd (the name not followed). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/", dirfd);
	if (rc < 0 || strlen(proc) + strlen(name) >= sizeof(target) ||
	    fs_meta_layer_apply(NULL, strcat(strcpy(target, proc), name), &n->st, &n->link) < 0)
		return node_failed(d, dir, err);
	return 0;
}

static bool dir_opaque_xattr(int dirfd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	return fs_upper_path_opaque_xattr(path);
}

/* The children of node @idx, sorted; whiteout files become whiteout
 * nodes under the name they hide. */
static int read_dir(struct dir_layer *d, uint64_t idx, struct strata_error *err)
{
	int dirfd = idx == 0 ? fcntl(d->root_fd, F_DUPFD_CLOEXEC, 0)
	                     : openat(d->root_fd, d->nodes[idx].path,
	                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir = dirfd >= 0 ? sys_opendir_at(dirfd) : NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = -1;

	if (!dir)
		goto out;
	if (dir_opaque_xattr(dirfd))
		d->nodes[idx].flags |= LAYER_OPAQUE;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (idx == 0 && strcmp(de->d_name, UPPER_WORK_NAME) == 0)
			continue;
		if (strcmp(de->d_name, UPPER_OPAQUE_NAME) == 0) {
			d->nodes[idx].flags |= LAYER_OPAQUE;
			continue;
		}
		if (VEC_RESERVE(names, cap, n + 1) < 0)
			goto out;
		/* The overlay form's whiteout, taken as the OCI form's. */
		if ((de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) &&
		    fs_upper_chr_whiteout_at(dirfd, de->d_name)) {
			if (asprintf(&names[n], ".wh.%s", de->d_name) < 0)
				goto out;
		} else if (!(names[n] = strdup(de->d_name))) {
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	d->nodes[idx].first_child = d->n;
	for (size_t i = 0; i < n; i++) {
		bool whiteout = strncmp(names[i], ".wh.", 4) == 0;
		const char *shown = whiteout ? names[i] + 4 : names[i];
		struct dnode *c;
		uint64_t ci;

		/* A whiteout beside an object of the same name (never written
		 * by strata) loses: the object is what shows. */
		if (whiteout && bsearch(&shown, names, n, sizeof(*names), by_name))
			continue;
		if (!(c = add_node(d)))
			goto out;
		ci = d->n - 1;
		c->parent = idx;
		c->canonical = ci;
		c->name = strdup(shown);
		if (!c->name ||
		    asprintf(&c->path, "%s%s%s", d->nodes[idx].path, idx ? "/" : "", names[i]) < 0)
			goto out;
		if (whiteout) {
			c->flags = LAYER_WHITEOUT;
			continue;
		}
		if (fill_node(d, ci, dirfd, names[i], idx, err) < 0)
			goto out_filled;
	}
	d->nodes[idx].n_children = d->n - d->nodes[idx].first_child;
	/* Whiteouts took the hidden name: keep the siblings sorted. */
	if (d->nodes[idx].n_children)
		qsort(d->nodes + d->nodes[idx].first_child, d->nodes[idx].n_children,
		      sizeof(struct dnode), by_node_name);
	for (uint64_t c = d->nodes[idx].first_child; c < d->n; c++)
		d->nodes[c].canonical = c;
	rc = 0;
out:
	if (rc)
		node_failed(d, idx, err);
out_filled:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (dir)
		closedir(dir);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

/* Hard links: every name of an inode points at its first name. */
static void link_hardlinks(struct dir_layer *d)
{
	for (uint64_t i = 0; i < d->n; i++) {
		struct dnode *a = &d->nodes[i];

		if (!S_ISREG(a->st.st_mode) || a->st.st_nlink < 2 || a->canonical != i)
			continue;
		for (uint64_t k = i + 1; k < d->n; k++)
			if (S_ISREG(d->nodes[k].st.st_mode) &&
			    d->nodes[k].st.st_ino == a->st.st_ino &&
			    d->nodes[k].st.st_dev == a->st.st_dev)
				d->nodes[k].canonical = i;
	}
}

/* A mount point the launcher made and nothing has filled: a directory all
 * of whose children are hidden too, or an empty file. */
static bool hidden(const struct dir_layer *d, const struct dnode *n)
{
	for (size_t i = 0; i < d->n_hide; i++) {
		if (strcmp(d->hide[i], n->path) != 0)
			continue;
		if (S_ISREG(n->st.st_mode))
			return n->st.st_size == 0;
		if (!S_ISDIR(n->st.st_mode) || (n->flags & LAYER_OPAQUE))
			return false;
		for (uint64_t c = 0; c < n->n_children; c++)
			if (!(d->nodes[n->first_child + c].flags & LAYER_HIDDEN))
				return false;
		return true;
	}
	return false;
}

/* Mount points the launcher made, still empty, are no change of the
 * container's: the layer says nothing about those names. */
static void drop_hidden(struct dir_layer *d)
{
	/* Children come after parents: bottom up, a parent sees them done. */
	for (uint64_t i = d->n; i-- > 1;)
		if (hidden(d, &d->nodes[i]))
			d->nodes[i].flags |= LAYER_HIDDEN;
}

/* Every metacopy file's data is in a layer below, a file there. */
static int metacopy_check(const struct dir_layer *d, struct strata_error *err)
{
	for (uint64_t i = 0; i < d->n; i++) {
		const struct dnode *n = &d->nodes[i];
		uint32_t layer;
		uint64_t node;

		if (!n->metacopy)
			continue;
		if (!union_ino_split(n->origin, &layer, &node) || layer >= d->n_below ||
		    node >= d->below[layer]->n_entries ||
		    !S_ISREG(d->below[layer]->ops->mode(d->below[layer], node)))
			return strata_fail(err, STRATA_ERR_CORRUPT, 0,
			                   "%s/%s: its data is in a lower layer (a metadata-only "
			                   "copy-up), which is %s",
			                   d->base.name, n->path,
			                   d->n_below ? "not a file there" : "not open with it");
	}
	return 0;
}

int strata_layer_open_dir(const char *path, const struct strata_dir_options *opts,
                          struct strata_layer **out, struct strata_error *err)
{
	struct dir_layer *d = calloc(1, sizeof(*d));
	struct dnode *root;

	if (!d || !(d->base.name = strdup(path))) {
		free(d);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	if (opts) {
		strata_layer_set_idmap(&d->base, opts->uid_map, opts->gid_map);
		d->hide = opts->hide;
		d->n_hide = opts->n_hide;
		d->below = opts->below;
		d->n_below = opts->n_below;
	}
	d->base.ops = &dir_ops;
	d->open_fd = -1;
	d->open_node = LAYER_NONE;
	pthread_mutex_init(&d->lock, NULL);
	d->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0 || !(root = add_node(d))) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	root->name = strdup("");
	root->path = strdup("");
	if (!root->name || !root->path) {
		node_failed(d, LAYER_NONE, err);
		goto fail;
	}
	if (fill_node(d, 0, d->root_fd, ".", LAYER_NONE, err) < 0)
		goto fail;
	/* Breadth-first: the nodes array grows behind the cursor. */
	for (uint64_t i = 0; i < d->n; i++) {
		if (!S_ISDIR(d->nodes[i].st.st_mode) || (d->nodes[i].flags & LAYER_WHITEOUT))
			continue;
		if (read_dir(d, i, err) < 0)
			goto fail;
	}
	link_hardlinks(d);
	drop_hidden(d);
	if (metacopy_check(d, err) < 0)
		goto fail;
	d->hide = NULL;
	d->n_hide = 0;
	d->base.n_entries = d->n;
	*out = &d->base;
	return 0;
fail:
	dir_close(&d->base);
	return -1;
}
