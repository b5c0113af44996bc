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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "acl.h"
#include "atime.h"
#include "ll.h"
#include "walkers.h"
#include "sys.h"
#include "upper.h"

/* Pieces (data runs and holes) mapped at a time for a sparse read. */
#define READ_MAX_EXTENTS 64

struct strata_union *fs_union_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* strata_union_set_squash's owners over the real ones. */
#define DIR_BLKSIZE (1 << 20)

static int squash(const struct strata_union *u, struct stat *st, int rc)
{
	/* glibc sizes readdir's getdents buffer by a directory's st_blksize
	 * (32 KiB at least, 1 MiB at most), and the kernel asks for a FUSE
	 * listing as large as that buffer: a walk takes a directory of 1,000
	 * entries in one or two READDIRPLUS round trips instead of six. */
	if (S_ISDIR(st->st_mode))
		st->st_blksize = DIR_BLKSIZE;
	if (u->squash_uid_set)
		st->st_uid = u->squash_uid;
	if (u->squash_gid_set)
		st->st_gid = u->squash_gid;
	return rc;
}

int fs_inode_stat(struct strata_union *u, struct inode *in, struct stat *st)
{
	if (inode_in_upper(in))
		return squash(u, st, fs_upper_stat(u, in, st));
	fs_union_stat(u, in, st);
	return squash(u, st, union_damaged(u) ? EIO : 0);
}

bool fs_inode_data_src(struct strata_union *u, struct inode *in, struct union_src *src)
{
	/* A metacopy file: its data as it was when the flag was seen set. */
	if (inode_metacopy(in))
		return fs_union_ino_src(u, in->ino, src);
	if (inode_in_upper(in) || in->n_srcs == 0)
		return false;
	*src = in->srcs[0];
	return true;
}

int fs_layer_seek(const struct strata_layer *l, uint64_t node, off_t off, int whence, off_t *out)
{
	struct layer_extent ext[16];
	struct stat st;
	uint64_t pos = (uint64_t)off;
	size_t n;

	l->ops->stat(l, node, &st);
	if (off < 0 || off >= st.st_size)
		return ENXIO;
	while ((n = l->ops->map(l, node, pos, (uint64_t)st.st_size - pos, ext, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (!layer_extent_is_hole(&ext[i]) == (whence == SEEK_DATA)) {
				*out = (off_t)pos;
				return 0;
			}
			pos += ext[i].len;
		}
	}
	/* Past the last data there is only the hole at the end. */
	if (whence == SEEK_DATA)
		return ENXIO;
	*out = st.st_size;
	return 0;
}

/* Fills @e for @in (which holds a lookup reference for the kernel). */
static int fill_entry(struct strata_union *u, struct inode *in, struct fuse_entry_param *e)
{
	/* What the upper layer holds may change, but only through us: the
	 * kernel updates its caches for our replies, so short timeouts are a
	 * second line of defence, not the mechanism. */
	double timeout = inode_in_upper(in) ? UPPER_TIMEOUT : LOWER_TIMEOUT;

	memset(e, 0, sizeof(*e));
	e->ino = in->ino; /* the root's is FUSE_ROOT_ID */
	e->generation = atomic_load(&in->generation);
	/* A lazy lower's numbers name other files in another mount: its
	 * handles are this mount's only (the kernel refuses another
	 * generation: ESTALE). */
	if (!e->generation && in->ino != FUSE_ROOT_ID)
		e->generation = fs_union_generation(u, in->ino);
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
	return fs_inode_stat(u, in, &e->attr);
}

/* An inode found again may learn of its upper object (copied up through
 * another name).  It also learns the name it was found by, which is how
 * it is found in the upper from now on: a file's name may be gone (one of
 * several hard links unlinked), a directory's differ from its lower one
 * (renamed, with a redirect to its lower content).  0 or errno. */
static int adopt(struct strata_union *u, struct inode *in, struct inode *dir, struct resolved *r,
                 const char *name)
{
	int expected = -1, rc = 0;

	if (r->upper_fd < 0)
		return 0;
	pthread_mutex_lock(inode_lock(u, in));
	if (S_ISDIR(in->mode)) {
		if (!inode_in_upper(in)) {
			rc = fs_upper_dir_adopt(u, in, r->upper_fd, &r->upper_st);
			r->upper_fd = -1;
		}
		/* Also when it has lower sources: they may be a redirect's,
		 * named otherwise (export.c finds it again by this name). */
		if (!in->name)
			in->name = strdup(name);
	} else {
		char *copy = strdup(name);

		/* Only when first learnt: a metacopy flag read before another
		 * thread copied the data must not come back. */
		if (atomic_compare_exchange_strong(&in->upper_fd, &expected, UPPER_BY_NAME) &&
		    r->metacopy)
			atomic_fetch_or(&in->state, INODE_METACOPY);
		if (copy) {
			free(in->name);
			in->name = copy;
			fs_inode_table_reparent(&u->table, in, dir);
		}
	}
	pthread_mutex_unlock(inode_lock(u, in));
	fs_resolved_clear(r);
	return rc;
}

/* @name resolved in @dir for a lookup: 0 or errno. */
static int lookup_resolve(struct strata_union *u, struct inode *dir, const char *name,
                          struct resolved *r)
{
	int rc;

	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return EINVAL; /* op_lookup answers these */
	if (strlen(name) > NAME_MAX)
		return ENAMETOOLONG; /* FUSE passes names up to 1024 bytes */
	rc = fs_union_lookup_full(u, dir, name, r);
	if (rc == 0 && union_damaged(u)) {
		fs_resolved_clear(r);
		rc = EIO;
	}
	if (rc)
		return rc == ENOENT && union_damaged(u) ? EIO : rc;
	return 0;
}

/* The inode of what @r resolved @name in @dir to, with a reference. */
static int lookup_inode(struct strata_union *u, struct inode *dir, const char *name,
                        struct resolved *r, struct inode **out)
{
	uint64_t ino = fs_resolved_ino(u, r);
	struct inode *in;
	int rc = 0, adopted;

	in = fs_inode_table_get(&u->table, ino, dir, fs_resolved_mode(u, r), r->srcs, r->n);
	if (!in) {
		fs_resolved_clear(r);
		return ENOMEM;
	}
	if ((ino & UNION_UPPER_INO) && atomic_load(&in->generation) == 0)
		rc = fs_export_learn_generation(in, r->upper_fd);
	adopted = adopt(u, in, dir, r, name);
	if (!rc)
		rc = adopted;
	if (rc) {
		fs_inode_table_forget(&u->table, ino, 1);
		return rc;
	}
	*out = in;
	return 0;
}

int fs_lookup_ref(struct strata_union *u, struct inode *dir, const char *name, struct inode **out)
{
	struct resolved r;
	int rc = lookup_resolve(u, dir, name, &r);

	return rc ? rc : lookup_inode(u, dir, name, &r, out);
}

/* Fills @e for @in, which holds a reference for the kernel (given up
 * on failure). */
static int entry_of(struct strata_union *u, struct inode *in, struct fuse_entry_param *e)
{
	int rc = fill_entry(u, in, e);

	if (rc)
		fs_inode_table_forget(&u->table, in->ino, 1);
	return rc;
}

/* A lower file nothing changed (stateless.c): the kernel's reference is
 * counted without an inode, unless one exists.  False: it needs one. */
static bool lookup_stateless(struct strata_union *u, struct inode *dir, struct resolved *r,
                             struct fuse_entry_param *e, int *rc)
{
	uint32_t mode = fs_resolved_mode(u, r);
	union inode_tmp tmp;
	struct inode *in;
	uint64_t ino;

	if (r->upper_fd >= 0 || r->n != 1 || !fs_union_stateless_ok(u, dir, &r->srcs[0], mode))
		return false;
	ino = fs_union_ino(u, &r->srcs[0]);
	if (!fs_inode_table_ref_lower(&u->table, ino, &in))
		return false;
	*rc = entry_of(u, in ? in : fs_inode_tmp(&tmp, ino, mode, &r->srcs[0]), e);
	return true;
}

int fs_do_lookup(struct strata_union *u, struct inode *dir, const char *name,
                 struct fuse_entry_param *e)
{
	struct resolved r;
	struct inode *in;
	int rc = lookup_resolve(u, dir, name, &r);

	if (rc || lookup_stateless(u, dir, &r, e, &rc))
		return rc;
	rc = lookup_inode(u, dir, name, &r, &in);
	return rc ? rc : entry_of(u, in, e);
}

/* "." and ".." come only from the kernel's file handle code (export.c):
 * a node id it may have forgotten, and a directory's parent. */
static int lookup_dots(struct strata_union *u, fuse_ino_t parent, const char *name,
                       struct fuse_entry_param *e)
{
	struct inode *in, *dir;
	int rc;

	if (name[1] == '\0')
		rc = fs_export_find(u, parent, &in);
	else
		rc = (dir = fs_inode_of(u, parent)) ? fs_export_parent(u, dir, &in) : ESTALE;
	return rc ? rc : entry_of(u, in, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct strata_union *u = fs_union_of(req);
	struct fuse_entry_param e;
	int saverr;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		saverr = lookup_dots(u, parent, name, &e);
		if (saverr)
			fuse_reply_err(req, saverr);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	struct inode *dir = fs_inode_of(u, parent);

	saverr = dir ? fs_do_lookup(u, dir, name, &e) : ESTALE;
	fs_walkers_lookup(u->walkers, fuse_req_ctx(req)->pid, parent,
	                  saverr == 0 && S_ISDIR(e.attr.st_mode));
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
	struct strata_union *u = fs_union_of(req);

	fs_inode_table_forget(&u->table, ino, nlookup); /* never the root's */
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct strata_union *u = fs_union_of(req);

	for (size_t i = 0; i < count; i++)
		fs_inode_table_forget(&u->table, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino, &tmp);
	struct stat st;
	int saverr = 0, fd;

	/* An open file answers through its handle: it may have no name left. */
	if (!in)
		saverr = ESTALE;
	else if (S_ISREG(in->mode) && !(saverr = fs_fh_fd(u, in, fi, false, &fd)) && fd >= 0) {
		struct upper_meta m;

		if (fstat(fd, &st) < 0) {
			saverr = errno;
		} else {
			fs_meta_read(fd, &m);
			fs_meta_apply(&m, &st);
			st.st_ino = in->ino;
		}
	} else {
		saverr = fs_inode_stat(u, in, &st);
	}
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_attr(req, &st, inode_in_upper(in) ? UPPER_TIMEOUT : LOWER_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino, &tmp);
	char target[PATH_MAX + 1];
	const struct strata_layer *l;
	struct upper_ref ref;
	ssize_t n;
	size_t len;
	int rc;

	if (!in || !S_ISLNK(in->mode)) {
		fuse_reply_err(req, in ? EINVAL : ESTALE);
		return;
	}
	if (!inode_in_upper(in)) {
		l = union_layer(u, &in->srcs[0]);
		fuse_reply_readlink(req, l->ops->readlink(l, in->srcs[0].node, &len));
		return;
	}
	rc = fs_upper_ref_get(u, in, &ref);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	n = fs_meta_readlink(ref.fd, target, sizeof(target) - 1);
	rc = errno;
	fs_upper_ref_put(&ref);
	if (n < 0) {
		fuse_reply_err(req, rc);
		return;
	}
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}

/*
 * Read-only mounts answer open and opendir with ENOSYS: the kernel then
 * never sends OPEN, OPENDIR, RELEASE or RELEASEDIR again, and treats every
 * file as if opened with keep_cache and every directory with cache_readdir,
 * which is right for immutable layers.  That halves the requests of a
 * cached find(1).  With an upper layer, files opened for writing are copied
 * up, and upper files are read and written through their own fd (fh - 1).
 * A lower file opened for writing is copied up at its first write
 * (open_file.c).
 */
/* Empties the upper file behind @opath_fd, through @fd when it may write. */
static int truncate_upper(int opath_fd, int fd, int flags)
{
	char path[64];

	if ((flags & O_ACCMODE) != O_RDONLY)
		return ftruncate(fd, 0) < 0 ? errno : 0;
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	return truncate(path, 0) < 0 ? errno : 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	union inode_tmp tmp;
	/* Reading needs no inode of its own; writing will change the file. */
	struct inode *in = writing ? fs_inode_of(u, ino) : fs_inode_peek(u, ino, &tmp);
	struct upper_ref ref;
	int saverr = 0, fd;

	if (!union_writable(u)) {
		saverr = ENOSYS;
		goto out;
	}
	if (!in) {
		saverr = ESTALE;
		goto out;
	}
	/* Truncating needs none of the old data. */
	if ((fi->flags & O_TRUNC) && (saverr = fs_upper_copy_up_trunc(u, in, 0)))
		goto out;
	/* Writing may need it, at the first write (open_file.c). */
	if (writing && !inode_in_upper(in) && S_ISREG(in->mode)) {
		saverr = fs_fh_pending(fi, fs_backing_flags(fi));
		goto out;
	}
	if (writing && (saverr = fs_upper_copy_up(u, in)))
		goto out;
	/* A lower file, read only: as immutable as ever; so is the data of
	 * one whose metadata alone was copied up. */
	if (!inode_in_upper(in) || (!writing && inode_metacopy(in))) {
		fi->fh = 0;
		fi->keep_cache = 1;
		goto out;
	}
	if ((saverr = fs_upper_ref_get(u, in, &ref)))
		goto out;
	saverr = fs_upper_reopen(ref.fd,
	                         fs_backing_flags(fi) | fs_atime_open_flag(u, ref.fd, false), &fd);
	/* libfuse asks for atomic O_TRUNC: the kernel leaves it to us, also
	 * with O_RDONLY (Linux truncates then, having checked write
	 * permission), where ftruncate() on the read-only fd would fail. */
	if (!saverr && (fi->flags & O_TRUNC))
		saverr = truncate_upper(ref.fd, fd, fi->flags);
	fs_upper_ref_put(&ref);
	if (saverr) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fi->fh = (uint64_t)fd + 1;
out:
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_open(req, fi);
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

/* Sparse files, and layers read in place: data runs and holes copied into
 * one buffer.  (A reply of mixed memory and fd pieces lost the pieces after
 * the first in libfuse's copying path, so we assemble it ourselves.) */
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
			/* A layer that shrank under us: never a short reply. */
			if ((saverr = fs_layer_extent_read(&ext[i], buf + done)))
				goto out;
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

/* An upper file: its own fd, to the end of file as it is now. */
static void read_upper(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fuse_bufvec b = FUSE_BUFVEC_INIT(size);
	char *buf;
	ssize_t n;

	if (size >= SPLICE_MIN) {
		b.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		b.buf[0].fd = fd;
		b.buf[0].pos = off;
		fuse_reply_data(req, &b, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = reply_buffer(SPLICE_MIN);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = sys_pread_full(fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* @size bytes at @off of a layer's file. */
static void read_lower(fuse_req_t req, struct strata_union *u, const struct union_src *src,
                       size_t size, uint64_t off)
{
	const struct strata_layer *l = union_layer(u, src);
	struct fuse_bufvec b = FUSE_BUFVEC_INIT(0);
	struct layer_extent ext[2];
	size_t n = l->ops->map(l, src->node, off, size, ext, 2);

	if (n == 0) { /* at or past the end */
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (n > 1 || ext[0].fd < 0) {
		read_assembled(req, l, src->node, size, off);
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

/* File data is read straight from the layer's fd; libfuse splices it to the
 * kernel when the reply is big enough, with no copy through our memory. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino, &tmp);
	struct union_src src;
	int rc, fd;

	if (off < 0 || !in) {
		fuse_reply_err(req, in ? EINVAL : ESTALE);
		return;
	}
	if ((rc = fs_fh_fd(u, in, fi, false, &fd))) {
		fuse_reply_err(req, rc);
		return;
	}
	if (fd >= 0 && !inode_metacopy(in)) {
		read_upper(req, fd, size, off);
		return;
	}
	if (fs_inode_data_src(u, in, &src)) {
		read_lower(req, u, &src, size, (uint64_t)off);
		return;
	}
	if (inode_in_upper(in)) {
		/* Opened before a copy-up: the lower data may be shorter than
		 * what the kernel now knows, and a short reply would shrink
		 * the file in its eyes.  Read what is there now. */
		struct upper_ref ref;

		rc = fs_upper_ref_get(u, in, &ref);
		if (!rc)
			rc = fs_upper_reopen(ref.fd,
			                     O_RDONLY | fs_atime_open_flag(u, ref.fd, false), &fd);
		fs_upper_ref_put(&ref);
		if (rc) {
			fuse_reply_err(req, rc);
			return;
		}
		read_upper(req, fd, size, off);
		close(fd);
		return;
	}
	fuse_reply_err(req, EBADF); /* neither: cannot happen */
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, ino);
	struct upper_listing *listing;
	int saverr = 0;

	if (!union_writable(u)) {
		saverr = ENOSYS; /* see op_open */
		goto out;
	}
	if (!dir) {
		saverr = ESTALE;
		goto out;
	}
	if (!inode_in_upper(dir)) {
		fi->fh = 0; /* lower only: immutable until something is made in it */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		goto out;
	}
	/* The listing is taken at the first readdir: with cache_readdir the
	 * kernel mostly answers from its cache, which it drops itself when a
	 * create, unlink or rename through us changes the directory. */
	listing = calloc(1, sizeof(*listing));
	if (!listing) {
		saverr = ENOMEM;
		goto out;
	}
	fi->fh = (uint64_t)(uintptr_t)listing;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
out:
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct upper_listing *listing = (struct upper_listing *)(uintptr_t)fi->fh;

	(void)ino;
	if (listing) {
		fs_upper_listing_free(listing);
		free(listing);
	}
	fuse_reply_err(req, 0);
}

/* Directory positions: 0 is ".", 1 is "..", 2 + i is listing entry i.  The
 * offset handed out with each entry is the position of the next one. */
#define DIR_FIRST_ENTRY 2

/* READDIR; READDIRPLUS with attributes; READDIRPLUS with names only. */
enum listing_kind { LIST_NAMES, LIST_ATTRS, LIST_BARE };

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

/* An entry as a name and a type only: a READDIRPLUS entry with node id 0
 * makes the kernel instantiate nothing (walkers.c says when). */
static size_t add_bare(fuse_req_t req, char *buf, size_t room, const char *name, uint64_t ino,
                       mode_t mode, off_t next, enum listing_kind kind)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = ino;
	e.attr.st_mode = mode;
	if (kind == LIST_NAMES)
		return fuse_add_direntry(req, buf, room, name, &e.attr, next);
	return fuse_add_direntry_plus(req, buf, room, name, &e, next);
}

/* Adds @name at position @i by resolving it; returns its size, 0 if it is
 * gone or failed (*err), or more than @room if it does not fit. */
static size_t add_named(fuse_req_t req, struct strata_union *u, struct inode *dir, uint64_t i,
                        const char *name, char *buf, size_t room, enum listing_kind kind, int *err)
{
	off_t next = (off_t)(DIR_FIRST_ENTRY + i + 1);
	struct fuse_entry_param e;
	size_t size;

	if (kind != LIST_ATTRS) {
		struct resolved r;
		uint64_t ino;
		mode_t mode;
		int rc = fs_union_lookup_full(u, dir, name, &r);

		if (rc) { /* ENOENT: gone since the listing was taken; anything
			   * else ends the listing, never a short one */
			*err = rc == ENOENT ? 0 : rc;
			return 0;
		}
		ino = fs_resolved_ino(u, &r);
		mode = fs_resolved_mode(u, &r);
		fs_resolved_clear(&r);
		return add_bare(req, buf, room, name, ino, mode, next, kind);
	}
	size = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
	if (size > room)
		return size; /* no reference taken for an entry that does not fit */
	*err = fs_do_lookup(u, dir, name, &e);
	if (*err == ENOENT)
		*err = 0; /* gone: e was not filled */
	else if (!*err)
		return fuse_add_direntry_plus(req, buf, room, name, &e, next);
	return 0;
}

/* Adds listing entry @i of a directory only the lower layers hold. */
static size_t add_entry(fuse_req_t req, struct strata_union *u, struct inode *dir, uint64_t i,
                        char *buf, size_t room, enum listing_kind kind, int *err)
{
	struct union_src s = fs_union_dir_entry(u, dir, i);
	const struct strata_layer *l = union_layer(u, &s);
	off_t next = (off_t)(DIR_FIRST_ENTRY + i + 1);
	char name[256];
	size_t len;
	const char *nm;

	if (l->ops->flags(l, s.node) & LAYER_WHITEOUT)
		return 0;
	nm = l->ops->name(l, s.node, &len);
	if (len >= sizeof(name))
		return 0; /* the kernel could not look it up anyway */
	memcpy(name, nm, len);
	name[len] = '\0';
	if (kind == LIST_ATTRS)
		return add_named(req, u, dir, i, name, buf, room, kind, err);
	return add_bare(req, buf, room, name, fs_union_ino(u, &s), l->ops->mode(l, s.node), next,
	                kind);
}

/* @with_attrs: READDIRPLUS, how many entries of this batch come with
 * attributes, the rest as bare names (WALKERS_ALL: every one); READDIR: 0. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus,
                       unsigned with_attrs, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, ino);
	struct upper_listing *listing = fi ? (struct upper_listing *)(uintptr_t)fi->fh : NULL;
	char *buf = NULL;
	size_t used = 0;
	uint64_t n;
	unsigned bare = 0;
	pid_t reader = fuse_req_ctx(req)->pid;
	uint64_t i = 0;
	unsigned given = 0;
	bool done = false;
	int saverr = 0;

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* Taken at the first readdir, and again at rewinddir, which sees the
	 * directory as it is now. */
	if (listing && (off == 0 || !listing->names)) {
		fs_upper_listing_free(listing);
		saverr = fs_upper_dir_list(u, dir, true, listing);
	}
	if (!saverr)
		saverr = listing ? (n = listing->n, 0) : fs_union_dir_size(u, dir, &n);
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
	for (i = (uint64_t)off - DIR_FIRST_ENTRY; i < n; i++) {
		enum listing_kind kind = !plus                ? LIST_NAMES
		                         : given < with_attrs ? LIST_ATTRS
		                                              : LIST_BARE;
		size_t sz = listing
		                ? add_named(req, u, dir, i, listing->names[i], buf + used,
		                            size - used, kind, &saverr)
		                : add_entry(req, u, dir, i, buf + used, size - used, kind, &saverr);

		if (saverr) {
			if (used > 0) /* report what we have; the error comes next time */
				saverr = 0;
			break;
		}
		if (sz > size - used)
			break;
		used += sz;
		given += sz > 0;
		bare += sz > 0 && kind == LIST_BARE;
	}
	done = plus && with_attrs != WALKERS_ALL && !saverr && i >= n;
	if (bare)
		fs_walkers_gave_names(u->walkers, reader, ino, bare);
reply:
	if (saverr == 0)
		fuse_reply_buf(req, buf, used); /* req is gone from here on */
	if (done)                               /* after the reply: the kernel caches it first */
		fs_walkers_listing_ended(u->walkers, reader, ino);
out:
	if (saverr)
		fuse_reply_err(req, saverr);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false, 0, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	unsigned attrs = fs_walkers_attrs(u->walkers, fuse_req_ctx(req)->pid, ino, off == 0);

	do_readdir(req, ino, size, off, true, attrs, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct strata_union *u = fs_union_of(req);
	char path[64];
	struct statvfs sv;

	(void)ino;
	if (union_writable(u)) { /* space to write is the upper's */
		fs_upper_fd_path(u->upper_root, path, sizeof(path));
		if (statvfs(path, &sv) < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_statfs(req, &sv);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (u->total_data + 4095) / 4096;
	sv.f_files = u->total_entries;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct strata_union *u = userdata;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	/* Always plus: which entries carry attributes is ours to choose, per
	 * reader (walkers.c), where the kernel's adaptive mode guesses wrong
	 * for walkers that read a whole directory before they stat it. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* The kernel enforces POSIX ACLs from the system.posix_acl_* xattrs
	 * we serve; the umask is then ours to apply, where no default ACL
	 * replaces it (ll_write.c's new_mode).  A read-only union without
	 * any ACL has nothing to enforce. */
	u->no_xattrs = !union_writable(u) && fs_union_no_xattrs(u);
	/* Before the first request: the counters are not locked while made.
	 * Without them (ENOMEM) every lookup makes an inode, as before. */
	(void)fs_union_stateless_init(u);
	if (union_writable(u))
		fs_meta_upper_open(u->upper_root);
	if (!u->no_acl && (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK) && (union_writable(u) || fs_union_has_acls(u)))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	/* File handles that outlive the kernel's inode cache (export.c). */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
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
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .releasedir = op_releasedir,
    .setattr = fs_op_setattr,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .symlink = fs_op_symlink,
    .link = fs_op_link,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_rmdir,
    .rename = fs_op_rename,
    .create = fs_op_create,
    .write_buf = fs_op_write_buf,
    .release = fs_op_release,
    .fsync = fs_op_fsync,
    .setxattr = fs_op_setxattr,
    .removexattr = fs_op_removexattr,
    .fallocate = fs_op_fallocate,
    .lseek = fs_op_lseek,
    .copy_file_range = fs_op_copy_file_range,
    .fsyncdir = fs_op_fsyncdir,
};
