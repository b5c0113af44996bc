/* SPDX-License-Identifier: MIT */
/*
 * FUSE low-level operations.  Each op resolves its inode, does its work,
 * and replies once; every failure becomes an errno reply, never a crash.
 *
 * Lower layers never change under a mount, so the kernel may cache entries,
 * attributes, directory listings and file pages for as long as it likes.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ll.h"
#include "sys.h"
#include "union.h"

/* Lower layers are immutable: cache for a day (the kernel caps as it likes). */
#define LOWER_TIMEOUT 86400.0

/* Pieces (data runs and holes) mapped at a time for a sparse read. */
#define READ_MAX_EXTENTS 64

static struct strata_union *union_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct inode *inode_of(struct strata_union *u, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? u->root : (struct inode *)(uintptr_t)ino;
}

static void fill_entry(struct strata_union *u, struct inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in == u->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
	e->attr_timeout = LOWER_TIMEOUT;
	e->entry_timeout = LOWER_TIMEOUT;
	union_stat(u, in, &e->attr);
}

/* Resolves @name and takes a lookup reference on the result. */
static int do_lookup(struct strata_union *u, struct inode *dir, const char *name,
                     struct fuse_entry_param *e)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	struct inode *in;
	uint32_t n;
	int rc;

	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return EINVAL; /* the kernel resolves these itself */
	rc = union_resolve(u, dir, name, strlen(name), srcs, &n);
	if (rc)
		return rc;
	in = inode_table_get(
	    &u->table, union_ino(u, &srcs[0]), dir->ino,
	    union_layer(u, &srcs[0])->ops->mode(union_layer(u, &srcs[0]), srcs[0].node), srcs, n);
	if (!in)
		return ENOMEM;
	fill_entry(u, in, e);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct strata_union *u = union_of(req);
	struct fuse_entry_param e;
	int saverr = do_lookup(u, inode_of(u, parent), name, &e);

	if (saverr == ENOENT) {
		/* A negative entry the kernel may cache: the layers won't change. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = LOWER_TIMEOUT;
		saverr = 0;
	}
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct strata_union *u = union_of(req);

	if (ino != FUSE_ROOT_ID)
		inode_table_forget(&u->table, inode_of(u, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct strata_union *u = union_of(req);

	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino != FUSE_ROOT_ID)
			inode_table_forget(&u->table, inode_of(u, forgets[i].ino),
			                   forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct strata_union *u = union_of(req);
	struct stat st;

	(void)fi;
	union_stat(u, inode_of(u, ino), &st);
	fuse_reply_attr(req, &st, LOWER_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct strata_union *u = union_of(req);
	struct inode *in = inode_of(u, ino);
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	size_t len;

	if (!S_ISLNK(in->mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_readlink(req, l->ops->readlink(l, in->srcs[0].node, &len));
}

/*
 * open and opendir answer ENOSYS: the kernel then never sends OPEN, OPENDIR,
 * RELEASE or RELEASEDIR again, and treats every file as if opened with
 * keep_cache and every directory with cache_readdir, which is right for
 * immutable layers.  That halves the requests of a cached find(1).  Writes
 * never get here: the mount is read-only.
 */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

/*
 * Each worker thread keeps one reply buffer (directory listings, small
 * reads) instead of a malloc per request: per-request buffers fragment
 * malloc's arenas, which then keep megabytes of stale pages resident.
 */
static pthread_key_t reply_buffer_key;
static pthread_once_t reply_buffer_once = PTHREAD_ONCE_INIT;

struct reply_buffer {
	size_t size;
	char data[];
};

static void reply_buffer_key_init(void)
{
	pthread_key_create(&reply_buffer_key, free);
}

static char *reply_buffer(size_t size)
{
	struct reply_buffer *rb;

	pthread_once(&reply_buffer_once, reply_buffer_key_init);
	rb = pthread_getspecific(reply_buffer_key);
	if (rb && rb->size >= size)
		return rb->data;
	free(rb);
	rb = malloc(sizeof(*rb) + size);
	pthread_setspecific(reply_buffer_key, rb);
	if (!rb)
		return NULL;
	rb->size = size;
	return rb->data;
}

/* Sparse files: data runs and holes copied into one buffer.  (A reply of
 * mixed memory and fd pieces lost the pieces after the first in libfuse's
 * copying path, so we assemble it ourselves.) */
static void read_assembled(fuse_req_t req, const struct strata_layer *l, uint64_t node, size_t size,
                           uint64_t off)
{
	struct layer_extent ext[READ_MAX_EXTENTS];
	char *buf = malloc(size ? size : 1);
	size_t done = 0, n;
	int saverr = 0;

	if (!buf) {
		saverr = ENOMEM;
		goto out;
	}
	while (done < size &&
	       (n = l->ops->map(l, node, off + done, size - done, ext, READ_MAX_EXTENTS)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (ext[i].fd < 0) {
				memset(buf + done, 0, ext[i].len);
			} else if (sys_pread_full(ext[i].fd, buf + done, ext[i].len,
			                          (off_t)ext[i].off) != (ssize_t)ext[i].len) {
				/* A layer that shrank under us: never a short reply. */
				saverr = errno ? errno : EIO;
				goto out;
			}
			done += ext[i].len;
		}
	}
out:
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_buf(req, buf, done);
	free(buf);
}

/* libfuse splices replies of at least two pages; below that it copies
 * through a fresh allocation, so we read into our own buffer instead. */
#define SPLICE_MIN (2 * 4096)

static void read_small(fuse_req_t req, const struct layer_extent *ext)
{
	char *buf = reply_buffer(SPLICE_MIN);
	ssize_t n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = sys_pread_full(ext->fd, buf, ext->len, (off_t)ext->off);
	if (n != (ssize_t)ext->len) /* a layer that shrank under us */
		fuse_reply_err(req, n < 0 ? errno : EIO);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* File data is read straight from the layer's fd; libfuse splices it to the
 * kernel when the reply is big enough, with no copy through our memory. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct strata_union *u = union_of(req);
	struct inode *in = inode_of(u, ino);
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	struct fuse_bufvec b = FUSE_BUFVEC_INIT(0);
	struct layer_extent ext[2];
	size_t n;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = l->ops->map(l, in->srcs[0].node, (uint64_t)off, size, ext, 2);
	if (n == 0) { /* at or past the end */
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (n > 1 || ext[0].fd < 0) {
		read_assembled(req, l, in->srcs[0].node, size, (uint64_t)off);
		return;
	}
	if (ext[0].len < SPLICE_MIN) {
		read_small(req, &ext[0]);
		return;
	}
	b.buf[0].size = ext[0].len;
	b.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	b.buf[0].fd = ext[0].fd;
	b.buf[0].pos = (off_t)ext[0].off;
	fuse_reply_data(req, &b, FUSE_BUF_SPLICE_MOVE);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

/* Directory positions: 0 is ".", 1 is "..", 2 + i is listing entry i.  The
 * offset handed out with each entry is the position of the next one. */
#define DIR_FIRST_ENTRY 2

static size_t add_dot(fuse_req_t req, char *buf, size_t room, const char *name, uint64_t ino,
                      off_t next, bool plus)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = ino;
	e.attr.st_mode = S_IFDIR;
	if (plus)
		return fuse_add_direntry_plus(req, buf, room, name, &e, next);
	return fuse_add_direntry(req, buf, room, name, &e.attr, next);
}

/* Adds listing entry @i; returns its size, 0 if skipped, or > room if full. */
static size_t add_entry(fuse_req_t req, struct strata_union *u, struct inode *dir, uint64_t i,
                        char *buf, size_t room, bool plus, int *err)
{
	struct union_src s = union_dir_entry(u, dir, i);
	const struct strata_layer *l = union_layer(u, &s);
	off_t next = (off_t)(DIR_FIRST_ENTRY + i + 1);
	char name[256];
	struct fuse_entry_param e;
	size_t len, size;
	const char *nm;

	if (l->ops->flags(l, s.node) & LAYER_WHITEOUT)
		return 0;
	nm = l->ops->name(l, s.node, &len);
	if (len >= sizeof(name))
		return 0; /* the kernel could not look it up anyway */
	memcpy(name, nm, len);
	name[len] = '\0';
	if (!plus) {
		memset(&e.attr, 0, sizeof(e.attr));
		e.attr.st_ino = union_ino(u, &s);
		e.attr.st_mode = l->ops->mode(l, s.node);
		return fuse_add_direntry(req, buf, room, name, &e.attr, next);
	}
	size = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
	if (size > room)
		return size; /* no reference taken for an entry that does not fit */
	*err = do_lookup(u, dir, name, &e);
	if (*err)
		return 0;
	return fuse_add_direntry_plus(req, buf, room, name, &e, next);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct strata_union *u = union_of(req);
	struct inode *dir = inode_of(u, ino);
	char *buf = NULL;
	size_t used = 0;
	uint64_t n;
	int saverr;

	saverr = union_dir_size(u, dir, &n);
	if (saverr)
		goto out;
	buf = reply_buffer(size);
	if (!buf) {
		saverr = ENOMEM;
		goto out;
	}
	if (off < 1) {
		used += add_dot(req, buf + used, size - used, ".", dir->ino, 1, plus);
		off = 1;
	}
	if (off < 2) {
		size_t sz = add_dot(req, buf + used, size - used, "..", dir->parent_ino, 2, plus);

		if (sz > size - used)
			goto reply;
		used += sz;
		off = 2;
	}
	for (uint64_t i = (uint64_t)off - DIR_FIRST_ENTRY; i < n; i++) {
		size_t sz = add_entry(req, u, dir, i, buf + used, size - used, plus, &saverr);

		if (saverr) {
			if (used > 0) /* report what we have; the error comes next time */
				saverr = 0;
			break;
		}
		if (sz > size - used)
			break;
		used += sz;
	}
reply:
	if (saverr == 0)
		fuse_reply_buf(req, buf, used);
out:
	if (saverr)
		fuse_reply_err(req, saverr);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct strata_union *u = union_of(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (u->total_data + 4095) / 4096;
	sv.f_files = u->total_entries;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct strata_union *u = union_of(req);
	struct inode *in = inode_of(u, ino);
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	const char *xname;
	const void *value;
	size_t vsize;

	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++) {
		if (strcmp(xname, name) != 0)
			continue;
		if (size == 0)
			fuse_reply_xattr(req, vsize);
		else if (vsize > size)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, value, vsize);
		return;
	}
	fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct strata_union *u = union_of(req);
	struct inode *in = inode_of(u, ino);
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	const char *xname;
	const void *value;
	size_t vsize, total = 0;
	char *buf = NULL;
	int saverr = 0;

	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++)
		total += strlen(xname) + 1;
	if (size == 0) {
		fuse_reply_xattr(req, total);
		return;
	}
	if (total > size) {
		saverr = ERANGE;
		goto out;
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		saverr = ENOMEM;
		goto out;
	}
	total = 0;
	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++) {
		size_t len = strlen(xname) + 1;

		memcpy(buf + total, xname, len);
		total += len;
	}
out:
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_buf(req, buf, total);
	free(buf);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	/* find(1) and ls -l want attributes of every entry: always plus. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->time_gran = 1;
}

const struct fuse_lowlevel_ops strata_ll_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};
