/* SPDX-License-Identifier: MIT */
/*
 * Copy-up: a lower file, symlink, special file or directory made real in
 * the upper layer, data and metadata, before its first change.  Files are
 * written unnamed (O_TMPFILE in the upper's root) and linked into place
 * whole, so a crash leaves the lower object showing, never half a copy.
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
#include "sys.h"
#include "upper.h"

/* Copy-ups are invisible: a directory they add a name to keeps its times. */
struct dir_times {
	bool valid;
	struct timespec ts[2];
};

static void dir_times_save(int dirfd, struct dir_times *t)
{
	struct stat st;

	t->valid = fstatat(dirfd, "", &st, AT_EMPTY_PATH) == 0;
	t->ts[0] = st.st_atim;
	t->ts[1] = st.st_mtim;
}

static void dir_times_restore(int dirfd, const struct dir_times *t)
{
	char path[64];

	if (!t->valid)
		return;
	fs_upper_fd_path(dirfd, path, sizeof(path));
	(void)utimensat(AT_FDCWD, path, t->ts, 0);
}

/* The origin record (upper.h): one setxattr, so the metacopy mark and the
 * number change together. */
static int set_origin(const struct strata_union *u, int fd_or_opath, uint64_t ino, bool metacopy)
{
	uint64_t v[3];
	size_t size = fs_union_origin_make(u, ino, metacopy, v);
	char path[64];

	fs_upper_fd_path(fd_or_opath, path, sizeof(path));
	if (setxattr(path, UPPER_ORIGIN_XATTR, v, size, 0) < 0)
		return errno;
	return 0;
}

/* Owner, times and xattrs of a lower node onto an upper object. */
static int copy_meta(const struct strata_layer *l, uint64_t node, int opath_fd, bool is_link)
{
	struct timespec ts[2];
	bool owner_lost = false;
	int rc;
	char path[64];
	struct stat st;
	const char *xname;
	const void *value;
	size_t vsize;

	l->ops->stat(l, node, &st);
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	/* fuse-overlayfs' form: a file's or directory's owner is its record's
	 * only, the real one stays the daemon's. */
	if (fs_meta_override_owns(opath_fd)) {
		owner_lost = true;
	} else if (fchownat(opath_fd, "", st.st_uid, st.st_gid,
	                    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		/* EINVAL: an id the daemon's user namespace lacks. */
		if (errno != EPERM && errno != EINVAL)
			return errno;
		owner_lost = true; /* a symlink's stays lost: it cannot carry the xattr */
	}
	if (!is_link) {
		struct upper_meta m;
		struct stat now;

		/* A placeholder (the only new object with a record) keeps
		 * its real 0600. */
		fs_meta_read(opath_fd, &m);
		if ((!m.valid && chmod(path, fs_meta_real_mode(st.st_mode)) < 0) ||
		    fstatat(opath_fd, "", &now, AT_EMPTY_PATH) < 0)
			return errno;
		/* What could not be made real (the owner, bits an unprivileged
		 * owner may not keep, a placeholder's type) is recorded, all of
		 * it at once. */
		if (m.valid || owner_lost || (now.st_mode & 07777) != (st.st_mode & 07777)) {
			struct upper_meta w = {true, st.st_uid, st.st_gid,
			                       ((m.valid ? m.mode : now.st_mode) & S_IFMT) |
			                           (st.st_mode & 07777),
			                       m.valid ? m.rdev : 0};

			if ((rc = fs_meta_write(opath_fd, &w)))
				return rc;
		}
		for (uint32_t i = 0; l->ops->xattr(l, node, i, &xname, &value, &vsize); i++)
			if (fs_acl_kind(xname) < 0 && setxattr(path, xname, value, vsize, 0) < 0 &&
			    errno != ENOTSUP && errno != EPERM)
				return errno;
		if ((rc = fs_acl_copy_up(l, node, path)))
			return rc;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (utimensat(AT_FDCWD, path, ts, 0) < 0 && !is_link)
		return errno;
	return 0;
}

/* copy_file_range where the kernel can (same file system: reflinks or
 * in-kernel copies), read and write where it cannot (EXDEV across file
 * systems, EINVAL or ENOSYS on some). */
/* A lower directory's attributes as it showed them: of the layer that
 * describes it where the top one only implies it (fs_union_stat's
 * source), not the implied ones. */
static int copy_dir_meta(struct strata_union *u, const struct union_src *srcs, uint32_t n,
                         int opath_fd)
{
	struct stack stk = union_stack(u);
	struct union_src a = fs_stack_attr_src(&stk, srcs, n);

	return copy_meta(union_layer(u, &a), a.node, opath_fd, false);
}

static int copy_range(int in, off_t in_off, int out, off_t out_off, uint64_t len)
{
	/* The buffer comes from the heap when it is needed: as a thread-local
	 * array it would sit in the static TLS block glibc zeroes at every
	 * pthread_create, for each FUSE worker, whether it copies or not. */
	const size_t buf_size = 64 * 1024;
	char *buf = NULL;
	bool plain = false;
	int rc = 0;

	while (len > 0) {
		ssize_t c;

		if (!plain) {
			c = copy_file_range(in, &in_off, out, &out_off, len, 0);
			if (c < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			              errno == EOPNOTSUPP)) {
				plain = true;
				continue;
			}
		} else {
			if (!buf && !(buf = malloc(buf_size))) {
				rc = ENOMEM;
				break;
			}
			c = pread(in, buf, len < buf_size ? len : buf_size, in_off);
			if (c > 0 && sys_write_all_at(out, buf, (size_t)c, out_off) < 0) {
				rc = errno;
				break;
			}
			if (c > 0) {
				in_off += c;
				out_off += c;
			}
		}
		if (c < 0 && errno == EINTR)
			continue;
		if (c <= 0) {
			rc = c < 0 ? errno : EIO;
			break;
		}
		len -= (uint64_t)c;
	}
	free(buf);
	return rc;
}

/* An extent in no file (a layer read in place), through a buffer. */
static int copy_read(const struct layer_extent *x, int dst, off_t at)
{
	struct layer_extent piece = *x;
	size_t chunk = 1 << 20;
	char *buf = malloc(chunk);
	int rc = buf ? 0 : ENOMEM;

	for (uint64_t done = 0; rc == 0 && done < x->len; done += piece.len) {
		piece.off = x->off + done;
		piece.len = x->len - done < chunk ? x->len - done : chunk;
		rc = fs_layer_extent_read(&piece, buf);
		if (rc == 0 && sys_write_all_at(dst, buf, piece.len, at + (off_t)done) < 0)
			rc = errno;
	}
	free(buf);
	return rc;
}

static int copy_data(const struct strata_layer *l, uint64_t node, int dst, uint64_t size)
{
	struct layer_extent ext[16];
	uint64_t off = 0;
	size_t n;

	while (off < size && (n = l->ops->map(l, node, off, size - off, ext, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			int rc = 0;

			if (ext[i].fd >= 0)
				rc = copy_range(ext[i].fd, (off_t)ext[i].off, dst, (off_t)off,
				                ext[i].len);
			else if (ext[i].fd == LAYER_FD_READ)
				rc = copy_read(&ext[i], dst, (off_t)off);
			if (rc)
				return rc;
			off += ext[i].len; /* holes stay holes */
		}
	}
	return ftruncate(dst, (off_t)size) < 0 ? errno : 0;
}

/*
 * The upper directory for the parent of @path (a layer path such as
 * "/a/b/name"), made like a copy-up where missing, and the resolution of
 * the last name in it.  Returns the directory's O_PATH fd, or -1.
 */
static int upper_dir_for_path(struct strata_union *u, char *path, struct resolved *last)
{
	struct inode *cur = u->root, *tmp = NULL;
	char *comp = path, *slash;
	int fd = -1;

	while (*comp == '/')
		comp++;
	while ((slash = strchr(comp, '/'))) {
		struct resolved r;
		struct inode *held, *next;

		*slash = '\0';
		if (fs_union_lookup_full(u, cur, comp, &r) || !S_ISDIR(fs_resolved_mode(u, &r)) ||
		    r.n == 0)
			goto fail_clear;
		if (r.upper_fd < 0) {
			int cfd = atomic_load(&cur->upper_fd);
			struct dir_times times;
			int made;

			dir_times_save(cfd, &times);
			made = mkdirat(cfd, comp, 0700);
			dir_times_restore(cfd, &times);
			if (made < 0 && errno != EEXIST)
				goto fail_clear;
			r.upper_fd =
			    openat(cfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (r.upper_fd < 0 || copy_dir_meta(u, r.srcs, r.n, r.upper_fd) ||
			    set_origin(u, r.upper_fd, fs_union_ino(u, &r.srcs[0]), false))
				goto fail_clear;
		}
		/* A directory inode the kernel holds learns of its upper copy. */
		held = fs_inode_table_find(&u->table, fs_resolved_ino(u, &r));
		if (held && !inode_in_upper(held)) {
			int dupfd = fcntl(r.upper_fd, F_DUPFD_CLOEXEC, 0);

			if (dupfd >= 0)
				(void)fs_upper_dir_adopt(u, held, dupfd, NULL);
		}
		next = fs_inode_new(0, 0, S_IFDIR, r.srcs, r.n);
		if (!next)
			goto fail_clear;
		atomic_store(&next->upper_fd, r.upper_fd);
		fs_inode_free(tmp);
		cur = tmp = next;
		comp = slash + 1;
		continue;
	fail_clear:
		fs_resolved_clear(&r);
		goto out;
	}
	if (fs_union_lookup_full(u, cur, comp, last) == 0) {
		fd = fcntl(atomic_load(&cur->upper_fd), F_DUPFD_CLOEXEC, 0);
		memmove(path, comp, strlen(comp) + 1);
	}
out:
	fs_inode_free(tmp);
	return fd;
}

/*
 * A file hard-linked within its lower layer stays one file: its other
 * names that the union still shows from that layer are linked to the copy.
 * (A name hidden or replaced by now is left alone.)
 */
static void link_lower_names(struct strata_union *u, struct inode *in, int fd)
{
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	uint64_t canon = l->ops->canonical(l, in->srcs[0].node);
	char fdpath[64], path[PATH_MAX];
	struct stat st;

	l->ops->stat(l, in->srcs[0].node, &st);
	if (st.st_nlink < 2)
		return;
	fs_upper_fd_path(fd, fdpath, sizeof(fdpath));
	for (uint64_t n = l->ops->next_link(l, canon, LAYER_NONE); n != LAYER_NONE;
	     n = l->ops->next_link(l, canon, n)) {
		struct resolved last;
		int dirfd;

		if (fs_stack_node_path(l, n, path, sizeof(path)))
			continue;
		dirfd = upper_dir_for_path(u, path, &last);
		if (dirfd < 0)
			continue;
		/* Still this layer's file, not yet in the upper: link it. */
		if (last.upper_fd < 0 && last.n > 0 && fs_resolved_ino(u, &last) == in->ino) {
			struct dir_times times;

			dir_times_save(dirfd, &times);
			(void)linkat(AT_FDCWD, fdpath, dirfd, path, AT_SYMLINK_FOLLOW);
			dir_times_restore(dirfd, &times);
		}
		fs_resolved_clear(&last);
		close(dirfd);
	}
}

int fs_upper_link_unnamed(int fd, int dirfd, const char *name)
{
	char path[64];

	fs_upper_fd_path(fd, path, sizeof(path));
	if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
		return errno;
	return 0;
}

/* What a file's copy-up copies. */
struct copy_how {
	uint64_t limit; /* bytes of data at most (a truncation follows) */
	bool meta_only; /* none: the data stays the origin's (INODE_METACOPY) */
};

/*
 * An unnamed upper file with @in's metadata and the data @how asks for, or
 * a placeholder for what the daemon cannot make real (meta.c).  Made before
 * the inode's lock is taken: a long copy holds up no other operation (two
 * copy-ups of one file may both copy; one is kept).
 */
static int prepare_file(struct strata_union *u, struct inode *in, const struct copy_how *how,
                        int *out)
{
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	uint64_t node = in->srcs[0].node, size;
	bool meta_only = how->meta_only;
	struct stat st;
	size_t len;
	int fd, rc;

	l->ops->stat(l, node, &st);
	size = (uint64_t)st.st_size;
	/* Unnamed until complete: a crash leaves nothing under the real name. */
	fd = openat(u->upper_root, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		rc = fs_meta_placeholder(
		    fd, &(struct upper_meta){true, st.st_uid, st.st_gid, st.st_mode, st.st_rdev},
		    S_ISLNK(st.st_mode) ? l->ops->readlink(l, node, &len) : NULL);
	else if (meta_only) /* the size shows; the data is read below */
		rc = ftruncate(fd, st.st_size) < 0 ? errno : 0;
	else
		rc = copy_data(l, node, fd, size < how->limit ? size : how->limit);
	if (!rc)
		rc = copy_meta(l, node, fd, false);
	if (!rc)
		rc = set_origin(u, fd, in->ino, meta_only && S_ISREG(st.st_mode));
	if (rc) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* Under @in's lock: the prepared file (*@arg) given its name. */
static int link_file(struct strata_union *u, struct inode *in, int dirfd, const char *name,
                     void *arg)
{
	int fd = *(int *)arg, rc = fs_upper_link_unnamed(fd, dirfd, name);

	if (!rc)
		link_lower_names(u, in, fd);
	return rc;
}

/* Under @in's lock: a placeholder made and named at once (it is small). */
static int copy_up_placeholder(struct strata_union *u, struct inode *in, int dirfd,
                               const char *name)
{
	struct copy_how how = {0, false};
	int fd, rc = prepare_file(u, in, &how, &fd);

	if (rc)
		return rc;
	rc = link_file(u, in, dirfd, name, &fd);
	close(fd);
	return rc;
}

static int copy_up_other(struct strata_union *u, struct inode *in, int dirfd, const char *name,
                         void *arg)
{
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	uint64_t node = in->srcs[0].node;
	struct stat st;
	size_t len;
	int fd, rc;

	(void)arg;
	l->ops->stat(l, node, &st);
	if (fs_meta_needs_placeholder(st.st_mode))
		return copy_up_placeholder(u, in, dirfd, name);
	if (S_ISLNK(st.st_mode) ? symlinkat(l->ops->readlink(l, node, &len), dirfd, name) < 0
	                        : mknodat(dirfd, name, st.st_mode, st.st_rdev) < 0) {
		/* A device node a daemon in a user namespace may not make. */
		if ((errno == EPERM || errno == EINVAL) &&
		    (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
			return copy_up_placeholder(u, in, dirfd, name);
		return errno;
	}
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		rc = errno;
	else
		rc = copy_meta(l, node, fd, S_ISLNK(st.st_mode));
	/* No origin: it could not carry one (fs_resolved_ino). */
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(dirfd, name, 0); /* a failed copy-up leaves no trace */
	return rc;
}

static int copy_up_dir(struct strata_union *u, struct inode *dir, int parent_fd, const char *name,
                       void *arg)
{
	int rc = 0, fd;

	(void)arg;
	if (mkdirat(parent_fd, name, 0700) < 0 && errno != EEXIST)
		return errno;
	fd = openat(parent_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (dir->n_srcs > 0)
		rc = copy_dir_meta(u, dir->srcs, dir->n_srcs, fd);
	if (!rc)
		rc = set_origin(u, fd, dir->ino, false);
	close(fd);
	return rc;
}

typedef int copy_make_fn(struct strata_union *u, struct inode *in, int dirfd, const char *name,
                         void *arg);

/* Under @in's lock: the inode learns of the upper object just made. */
static int adopt_made(struct strata_union *u, struct inode *in, int pfd, const char *name,
                      uint32_t state)
{
	int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), expected = -1;

	if (fd < 0)
		return errno;
	if (S_ISDIR(in->mode))
		return fs_upper_dir_adopt(u, in, fd, NULL); /* the fd cache's now */
	close(fd); /* files are found by name: see union.h */
	if (atomic_compare_exchange_strong(&in->upper_fd, &expected, UPPER_BY_NAME))
		atomic_fetch_or(&in->state, state);
	return 0;
}

/* Makes @in's upper object with @make, under @in's lock, once; @state is
 * what the inode then is (INODE_METACOPY). */
static int copy_up_with(struct strata_union *u, struct inode *in, copy_make_fn *make, void *arg,
                        uint32_t state)
{
	struct upper_ref pref;
	struct inode *parent;
	char *name = NULL;
	int rc, pfd;

	if (inode_in_upper(in))
		return 0;
	if (in == u->root || in->n_srcs == 0)
		return EIO; /* an inode with neither upper nor lower object */
	parent = fs_inode_parent(u, in);
	if (!parent)
		return ESTALE;
	rc = fs_upper_ensure_dir(u, parent); /* ancestors first, without our lock */
	if (rc)
		return rc;
	rc = fs_upper_ref_get(u, parent, &pref);
	if (rc)
		return rc;
	name = fs_inode_name(u, in);
	if (!name) {
		fs_upper_ref_put(&pref);
		return ENOMEM;
	}
	pfd = pref.fd;
	pthread_mutex_lock(inode_lock(u, in));
	if (!inode_in_upper(in)) {
		struct dir_times times;

		dir_times_save(pfd, &times);
		rc = make(u, in, pfd, name, arg);
		dir_times_restore(pfd, &times);
		if (!rc)
			rc = adopt_made(u, in, pfd, name, state);
	}
	pthread_mutex_unlock(inode_lock(u, in));
	fs_upper_ref_put(&pref);
	free(name);
	return rc;
}

/* A metacopy file's data, copied into its upper file in place (its hard
 * links see it too), up to @limit bytes (a truncation follows).  The mark
 * goes once the data is there: a crash before leaves the lower data
 * showing.  The file's times stay the user's. */
static int fill_metacopy(struct strata_union *u, struct inode *in, uint64_t limit)
{
	struct union_src src;
	struct upper_ref ref;
	struct stat st;
	int fd = -1, rc;

	if (!fs_union_ino_src(u, in->ino, &src))
		return EIO;
	rc = fs_upper_ref_get(u, in, &ref);
	if (rc)
		return rc;
	rc = fs_upper_reopen(ref.fd, O_RDWR, &fd);
	if (!rc && fstat(fd, &st) < 0)
		rc = errno;
	if (!rc)
		rc = copy_data(union_layer(u, &src), src.node, fd,
		               (uint64_t)st.st_size < limit ? (uint64_t)st.st_size : limit);
	if (!rc) {
		struct timespec ts[2] = {st.st_atim, st.st_mtim};

		rc = futimens(fd, ts) < 0 ? errno : 0;
	}
	if (!rc)
		rc = set_origin(u, ref.fd, in->ino, false);
	/* Failed (a full disk): the blocks written so far go back. */
	if (rc && fd >= 0)
		(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, st.st_size);
	if (fd >= 0)
		close(fd);
	fs_upper_ref_put(&ref);
	return rc;
}

/* fill_metacopy, once, outside the inode's lock: other operations on the
 * inode's stripe go on; those that need the data wait for this one. */
static int copy_data_in(struct strata_union *u, struct inode *in, uint64_t limit)
{
	pthread_mutex_t *lock = inode_lock(u, in);
	pthread_cond_t *cond = &u->copied[inode_stripe(in)];
	int rc;

	pthread_mutex_lock(lock);
	while (atomic_load(&in->state) & INODE_COPYING)
		pthread_cond_wait(cond, lock);
	if (!inode_metacopy(in)) {
		pthread_mutex_unlock(lock);
		return 0;
	}
	atomic_fetch_or(&in->state, INODE_COPYING);
	pthread_mutex_unlock(lock);
	rc = fill_metacopy(u, in, limit);
	pthread_mutex_lock(lock);
	atomic_fetch_and(&in->state, rc ? ~INODE_COPYING : ~(INODE_COPYING | INODE_METACOPY));
	pthread_cond_broadcast(cond);
	pthread_mutex_unlock(lock);
	return rc;
}

/* Whether @in's name no longer shows it: removed (whited out) while the
 * kernel still held it, an open file or a cached entry. */
static bool name_gone(struct strata_union *u, struct inode *in)
{
	struct inode *parent = fs_inode_parent(u, in);
	char *name = parent ? fs_inode_name(u, in) : NULL;
	struct resolved r;
	bool gone = false;
	int rc;

	if (name) {
		rc = fs_union_lookup_full(u, parent, name, &r);
		gone = rc == ENOENT || (rc == 0 && fs_resolved_ino(u, &r) != in->ino);
		if (rc == 0)
			fs_resolved_clear(&r);
	}
	free(name);
	return gone;
}

/*
 * The copy of a file whose name is gone (fchmod, a write or a truncation
 * through an fd opened before its rm): it must not come back under that
 * name, so it stays unnamed, held by the inode, as an upper file that lost
 * its last name is; names the layer still shows of it (hard links) are
 * linked to it.  The copy goes with the inode.
 */
static int keep_unnamed(struct strata_union *u, struct inode *in, int *fd, uint32_t state)
{
	int expected = -1;

	pthread_mutex_lock(inode_lock(u, in));
	if (!inode_in_upper(in)) {
		link_lower_names(u, in, *fd);
		if (atomic_compare_exchange_strong(&in->upper_fd, &expected, *fd)) {
			atomic_fetch_or(&in->state, state);
			*fd = -1; /* the inode's now */
		}
	}
	pthread_mutex_unlock(inode_lock(u, in));
	return 0;
}

static int copy_up_reg(struct strata_union *u, struct inode *in, const struct copy_how *how)
{
	uint32_t state = how->meta_only ? INODE_METACOPY : 0;
	int fd = -1, rc;

	if (!inode_in_upper(in)) {
		rc = prepare_file(u, in, how, &fd);
		if (!rc)
			rc = name_gone(u, in) ? keep_unnamed(u, in, &fd, state)
			                      : copy_up_with(u, in, link_file, &fd, state);
		if (fd >= 0)
			close(fd);
		if (rc)
			return rc;
	}
	/* In the upper already, or made meanwhile by another copy-up. */
	return how->meta_only ? 0 : copy_data_in(u, in, how->limit);
}

int fs_upper_ensure_dir(struct strata_union *u, struct inode *dir)
{
	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	return copy_up_with(u, dir, copy_up_dir, NULL, 0);
}

int fs_upper_copy_up(struct strata_union *u, struct inode *in)
{
	return fs_upper_copy_up_trunc(u, in, UINT64_MAX);
}

int fs_upper_copy_up_trunc(struct strata_union *u, struct inode *in, uint64_t size)
{
	struct copy_how how = {size, false};

	if (S_ISDIR(in->mode))
		return fs_upper_ensure_dir(u, in);
	if (!S_ISREG(in->mode))
		return copy_up_with(u, in, copy_up_other, NULL, 0);
	return copy_up_reg(u, in, &how);
}

int fs_upper_copy_up_meta(struct strata_union *u, struct inode *in)
{
	struct copy_how how = {UINT64_MAX, true};
	struct union_src src;

	if (!S_ISREG(in->mode))
		return fs_upper_copy_up(u, in);
	/* Only where asked for, and only data a number can find again (not
	 * the base layer's). */
	if (!inode_in_upper(in) && (!u->metacopy || !fs_union_ino_src(u, in->ino, &src)))
		how.meta_only = false;
	return copy_up_reg(u, in, &how);
}
