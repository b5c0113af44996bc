/* SPDX-License-Identifier: MIT */
/*
 * The upper layer: resolving names through it, and copying lower objects
 * up into it.  See upper.h for the rules every access here follows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sys.h"
#include "upper.h"

void upper_fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

int upper_reopen(int opath_fd, int flags)
{
	char path[64];

	upper_fd_path(opath_fd, path, sizeof(path));
	return open(path, (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)) | O_CLOEXEC);
}

/* ---- setup ---- */

static void clean_work_dir(int work)
{
	int fd = openat(work, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Leftovers of copy-ups a crash interrupted: never visible, now gone. */
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "tmp.", 4) == 0)
			unlinkat(work, de->d_name, 0);
	closedir(d);
}

/* Every upper object the kernel holds keeps an O_PATH fd open. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int strata_union_set_upper(struct strata_union *u, const char *dir, struct strata_error *err)
{
	struct stat st;
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "upper %s: %s", dir,
		                   strerror(errno));
	if (fstat(fd, &st) < 0 || access(dir, W_OK | X_OK) < 0) {
		int en = errno;

		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, en, "upper %s: %s", dir,
		                   en == EACCES ? "not writable" : strerror(en));
	}
	if (mkdirat(fd, UPPER_WORK_NAME, 0700) < 0 && errno != EEXIST) {
		int en = errno;

		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, en, "upper %s: %s", dir, strerror(en));
	}
	u->upper_work = openat(fd, UPPER_WORK_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u->upper_work < 0) {
		int en = errno;

		close(fd);
		return strata_fail(err, STRATA_ERR_SYS, en, "upper %s/%s: %s", dir, UPPER_WORK_NAME,
		                   strerror(en));
	}
	clean_work_dir(u->upper_work);
	raise_fd_limit();
	u->upper_root = fd;
	atomic_store(&u->root->upper_fd, dup(fd));
	/* An opaque upper root hides every lower layer. */
	if (upper_is_opaque(fd))
		u->root->n_srcs = 0;
	return 0;
}

void upper_close(struct strata_union *u)
{
	if (u->upper_work >= 0)
		close(u->upper_work);
	if (u->upper_root >= 0)
		close(u->upper_root);
	u->upper_work = u->upper_root = -1;
}

/* ---- whiteouts ---- */

/* A name longer than NAME_MAX - 4 cannot be whited out: the OCI format
 * has no other way to say a lower name is gone. */
static int whiteout_name(const char *name, char *buf, size_t size)
{
	if (strlen(name) + 4 > NAME_MAX || snprintf(buf, size, ".wh.%s", name) >= (int)size)
		return ENAMETOOLONG;
	return 0;
}

bool upper_can_whiteout(const char *name)
{
	return strlen(name) + 4 <= NAME_MAX;
}

bool upper_has_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];
	struct stat st;

	return whiteout_name(name, wh, sizeof(wh)) == 0 &&
	       fstatat(dirfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int upper_add_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];
	int fd, rc = whiteout_name(name, wh, sizeof(wh));

	if (rc)
		return rc;
	fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

int upper_remove_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];

	if (whiteout_name(name, wh, sizeof(wh)))
		return 0;
	if (unlinkat(dirfd, wh, 0) < 0 && errno != ENOENT)
		return errno;
	return 0;
}

bool upper_is_opaque(int dirfd)
{
	struct stat st;

	return fstatat(dirfd, UPPER_OPAQUE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int upper_make_opaque(int dirfd)
{
	int fd =
	    openat(dirfd, UPPER_OPAQUE_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* ---- resolving ---- */

void resolved_clear(struct resolved *r)
{
	if (r->upper_fd >= 0)
		close(r->upper_fd);
	r->upper_fd = -1;
}

static bool read_redirect(int opath_fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	upper_fd_path(opath_fd, path, sizeof(path));
	n = getxattr(path, UPPER_REDIRECT_XATTR, buf, size - 1);
	if (n <= 0 || buf[0] != '/')
		return false;
	buf[n] = '\0';
	return true;
}

/* The lower directories at @path, walked from the lower layers' root
 * alone: the upper's whiteouts hid the old name, not the content. */
static int resolve_lower_path(struct strata_union *u, const char *path, struct resolved *r)
{
	struct union_src srcs[UNION_MAX_LAYERS];
	uint32_t n = 0;
	const char *p = path;

	for (uint32_t i = u->n_layers; i-- > 0;) {
		srcs[n++] = (struct union_src){i, 0};
		if (union_layer(u, &srcs[n - 1])->ops->flags(union_layer(u, &srcs[n - 1]), 0) &
		    LAYER_OPAQUE)
			break;
	}
	r->n = 0;
	while (*p) {
		struct inode *dir;
		const char *s;
		int rc;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		dir = inode_new(0, 0, S_IFDIR, srcs, n);
		if (!dir)
			return ENOMEM;
		rc = union_resolve(u, dir, s, (size_t)(p - s), srcs, &n);
		inode_free(dir);
		if (rc || !S_ISDIR(union_src_mode(u, &srcs[0])))
			return 0; /* the lower content is gone: nothing to show */
	}
	memcpy(r->srcs, srcs, n * sizeof(srcs[0]));
	r->n = n;
	return 0;
}

int union_lookup_full(struct strata_union *u, struct inode *dir, const char *name,
                      struct resolved *r)
{
	char redirect[PATH_MAX];
	int dirfd = atomic_load(&dir->upper_fd);
	size_t len = strlen(name);
	int rc;

	r->n = 0;
	r->upper_fd = -1;
	r->whiteout = false;
	r->lower_exists = false;
	if (dirfd >= 0 && !name_reserved(name)) {
		if (fstatat(dirfd, name, &r->upper_st, AT_SYMLINK_NOFOLLOW) == 0) {
			r->upper_fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (r->upper_fd < 0)
				return errno;
			/* A file hides everything below; a directory merges
			 * with lower directories unless it is opaque, or with
			 * the lower directory it was renamed from. */
			r->lower_exists = union_resolve(u, dir, name, len, r->srcs, &r->n) == 0;
			if (!S_ISDIR(r->upper_st.st_mode) ||
			    (r->n > 0 && !S_ISDIR(union_src_mode(u, &r->srcs[0]))))
				r->n = 0;
			if (S_ISDIR(r->upper_st.st_mode) &&
			    read_redirect(r->upper_fd, redirect, sizeof(redirect)))
				return resolve_lower_path(u, redirect, r);
			if (S_ISDIR(r->upper_st.st_mode) && upper_is_opaque(r->upper_fd))
				r->n = 0;
			return 0;
		}
		if (errno != ENOENT && errno != ENAMETOOLONG)
			return errno;
		if (upper_has_whiteout(dirfd, name)) {
			r->whiteout = true;
			return ENOENT;
		}
	} else if (dirfd >= 0) {
		return ENOENT; /* reserved names never show */
	}
	rc = union_resolve(u, dir, name, len, r->srcs, &r->n);
	r->lower_exists = rc == 0;
	return rc;
}

uint32_t resolved_mode(struct strata_union *u, const struct resolved *r)
{
	if (r->upper_fd >= 0)
		return r->upper_st.st_mode;
	return union_src_mode(u, &r->srcs[0]);
}

/*
 * st_ino: a lower object keeps its number (union_ino); so does one copied
 * up, through the origin xattr written at copy-up, even once renamed; an
 * object born in the upper layer gets its upper inode number with the top
 * bit set, a range lower numbers never reach.
 */
uint64_t resolved_ino(struct strata_union *u, const struct resolved *r)
{
	uint64_t origin;
	char path[64];

	if (r->upper_fd < 0)
		return union_ino(u, &r->srcs[0]);
	upper_fd_path(r->upper_fd, path, sizeof(path));
	if (!S_ISLNK(r->upper_st.st_mode) &&
	    getxattr(path, UPPER_ORIGIN_XATTR, &origin, sizeof(origin)) == sizeof(origin))
		return origin;
	if (r->n > 0)
		return union_ino(u, &r->srcs[0]);
	return (1ULL << 63) | (uint64_t)r->upper_st.st_ino;
}

int upper_stat(struct strata_union *u, struct inode *in, struct stat *st)
{
	int fd = atomic_load(&in->upper_fd);

	(void)u;
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	st->st_ino = in->ino;
	if (S_ISDIR(st->st_mode) && in->n_srcs > 0)
		st->st_nlink = 1; /* merged, as overlayfs reports */
	return 0;
}

int lower_path(struct strata_union *u, const struct inode *in, char *buf, size_t size)
{
	const struct strata_layer *l;
	uint64_t node;
	size_t len = 0;

	if (in->n_srcs == 0)
		return ENOENT;
	l = union_layer(u, &in->srcs[0]);
	node = in->srcs[0].node;
	buf[0] = '\0';
	/* Built from the leaf up: each name goes in front. */
	while (node != 0) {
		size_t nlen;
		const char *nm = l->ops->name(l, node, &nlen);

		if (len + nlen + 2 > size)
			return ENAMETOOLONG;
		memmove(buf + nlen + 1, buf, len + 1);
		buf[0] = '/';
		memcpy(buf + 1, nm, nlen);
		len += nlen + 1;
		node = l->ops->parent(l, node);
	}
	if (len == 0)
		snprintf(buf, size, "/");
	return 0;
}

int upper_set_redirect(int opath_fd, const char *path)
{
	char p[64];

	upper_fd_path(opath_fd, p, sizeof(p));
	if (setxattr(p, UPPER_REDIRECT_XATTR, path, strlen(path), 0) < 0)
		return errno;
	return 0;
}

/* ---- names and parents ---- */

struct inode *inode_parent(struct strata_union *u, struct inode *in)
{
	if (in->parent_ino == 1)
		return u->root;
	return inode_table_find(&u->table, in->parent_ino);
}

char *inode_name(struct strata_union *u, struct inode *in)
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

/* ---- copy-up ---- */

static int set_origin(int fd_or_opath, uint64_t ino)
{
	char path[64];

	upper_fd_path(fd_or_opath, path, sizeof(path));
	if (setxattr(path, UPPER_ORIGIN_XATTR, &ino, sizeof(ino), 0) < 0)
		return errno;
	return 0;
}

/* Owner, times and xattrs of a lower node onto an upper object. */
static int copy_meta(const struct strata_layer *l, uint64_t node, int opath_fd, bool is_link)
{
	struct timespec ts[2];
	char path[64];
	struct stat st;
	const char *xname;
	const void *value;
	size_t vsize;

	l->ops->stat(l, node, &st);
	upper_fd_path(opath_fd, path, sizeof(path));
	if (fchownat(opath_fd, "", st.st_uid, st.st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		return errno;
	if (!is_link) {
		if (chmod(path, st.st_mode & 07777) < 0)
			return errno;
		for (uint32_t i = 0; l->ops->xattr(l, node, i, &xname, &value, &vsize); i++)
			if (setxattr(path, xname, value, vsize, 0) < 0 && errno != ENOTSUP &&
			    errno != EPERM)
				return errno;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (utimensat(AT_FDCWD, path, ts, 0) < 0 && !is_link)
		return errno;
	return 0;
}

static int copy_data(const struct strata_layer *l, uint64_t node, int dst, uint64_t size)
{
	struct layer_extent ext[16];
	uint64_t off = 0;
	size_t n;

	while (off < size && (n = l->ops->map(l, node, off, size - off, ext, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (ext[i].fd >= 0) {
				off_t in_off = (off_t)ext[i].off, out_off = (off_t)off;
				uint64_t left = ext[i].len;

				while (left > 0) {
					ssize_t c = copy_file_range(ext[i].fd, &in_off, dst,
					                            &out_off, left, 0);

					if (c < 0 && errno == EINTR)
						continue;
					if (c <= 0)
						return c < 0 ? errno : EIO;
					left -= (uint64_t)c;
				}
			}
			off += ext[i].len; /* holes stay holes */
		}
	}
	return ftruncate(dst, (off_t)size) < 0 ? errno : 0;
}

static int copy_up_file(struct strata_union *u, struct inode *in, int dirfd, const char *name)
{
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	uint64_t node = in->srcs[0].node;
	struct stat st;
	char path[64];
	int fd, rc;

	l->ops->stat(l, node, &st);
	/* Unnamed until complete: a crash leaves nothing under the real name. */
	fd = openat(u->upper_work, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	rc = copy_data(l, node, fd, (uint64_t)st.st_size);
	if (!rc)
		rc = copy_meta(l, node, fd, false);
	if (!rc)
		rc = set_origin(fd, in->ino);
	if (!rc) {
		upper_fd_path(fd, path, sizeof(path));
		if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
			rc = errno;
	}
	close(fd);
	return rc;
}

static int copy_up_other(struct strata_union *u, struct inode *in, int dirfd, const char *name)
{
	const struct strata_layer *l = union_layer(u, &in->srcs[0]);
	uint64_t node = in->srcs[0].node;
	struct stat st;
	int fd, rc;

	l->ops->stat(l, node, &st);
	if (S_ISLNK(st.st_mode)) {
		size_t len;

		if (symlinkat(l->ops->readlink(l, node, &len), dirfd, name) < 0)
			return errno;
	} else if (mknodat(dirfd, name, st.st_mode, st.st_rdev) < 0) {
		return errno;
	}
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	rc = copy_meta(l, node, fd, S_ISLNK(st.st_mode));
	if (!rc && !S_ISLNK(st.st_mode))
		rc = set_origin(fd, in->ino);
	close(fd);
	return rc;
}

static int copy_up_dir(struct strata_union *u, struct inode *dir, int parent_fd, const char *name)
{
	int rc = 0, fd;

	if (mkdirat(parent_fd, name, 0700) < 0 && errno != EEXIST)
		return errno;
	fd = openat(parent_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (dir->n_srcs > 0)
		rc = copy_meta(union_layer(u, &dir->srcs[0]), dir->srcs[0].node, fd, false);
	if (!rc)
		rc = set_origin(fd, dir->ino);
	close(fd);
	return rc;
}

/* Makes @in's upper object with @make, under @in's lock, once. */
static int copy_up_with(struct strata_union *u, struct inode *in,
                        int (*make)(struct strata_union *, struct inode *, int, const char *))
{
	struct inode *parent;
	char *name = NULL;
	int rc, pfd;

	if (atomic_load(&in->upper_fd) >= 0)
		return 0;
	if (in == u->root || in->n_srcs == 0)
		return EIO; /* an inode with neither upper nor lower object */
	parent = inode_parent(u, in);
	if (!parent)
		return ESTALE;
	rc = upper_ensure_dir(u, parent); /* ancestors first, without our lock */
	if (rc)
		return rc;
	name = inode_name(u, in);
	if (!name)
		return ENOMEM;
	pfd = atomic_load(&parent->upper_fd);
	pthread_mutex_lock(inode_lock(u, in));
	if (atomic_load(&in->upper_fd) < 0) {
		rc = make(u, in, pfd, name);
		if (!rc) {
			int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0)
				rc = errno;
			else
				atomic_store(&in->upper_fd, fd);
		}
	}
	pthread_mutex_unlock(inode_lock(u, in));
	free(name);
	return rc;
}

int upper_ensure_dir(struct strata_union *u, struct inode *dir)
{
	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	return copy_up_with(u, dir, copy_up_dir);
}

int upper_copy_up(struct strata_union *u, struct inode *in)
{
	if (S_ISDIR(in->mode))
		return upper_ensure_dir(u, in);
	return copy_up_with(u, in, S_ISREG(in->mode) ? copy_up_file : copy_up_other);
}
