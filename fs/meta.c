/* SPDX-License-Identifier: MIT */
/*
 * Rootless metadata: what a daemon without privilege cannot make real in
 * the upper layer (another owner, a device node, a setgid bit it is not
 * allowed to keep) is kept in the user.strata.meta xattr and reported as
 * if real (docs/xattrs.md).  The value is text, "uid:gid:mode:rdev" with
 * the mode in octal including the file type, so it can be read and fixed
 * by hand with getfattr/setfattr.
 *
 * Two regimes, by the daemon's effective uid:
 *
 *  - root (of the initial user namespace or of its own): owners and modes
 *    are made real where it may; a record keeps only what it may not (ids
 *    its namespace lacks, device nodes, set-id bits it may not keep).
 *  - not root: the record is the truth.  The real object always stays
 *    open to the daemon (owner rw, rwx for directories, never more open to
 *    others than it shows), since user xattrs follow the file's own
 *    permission bits: a 0444 file's record could be neither written nor,
 *    at 0000, read.  A chmod or chown is one setxattr of the whole record,
 *    so it happens entirely or not at all.
 *
 * Symlinks, fifos and sockets cannot carry user xattrs, so a daemon that
 * is not root makes each a placeholder: an empty regular file (a symlink's
 * holds the target) whose record gives the type.  The kernel serves fifos
 * and sockets of a FUSE mount itself, so an object the mount reports as
 * one needs nothing real behind it.  Device nodes a daemon may not mknod
 * are placeholders too, root's in a user namespace included.  Root keeps
 * the others real: its callers can only name ids its namespace maps, and
 * the kernel refuses to chown, chmod, rename or link an object whose owner
 * the namespace lacks (EPERM, EOVERFLOW).  Only a touch of a world-writable
 * lower fifo or socket of such an owner copies one up, and loses its owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sys.h"
#include "upper.h"

/* ---- the record ---- */

bool fs_meta_parse(const char *text, size_t len, struct upper_meta *m)
{
	char buf[96];
	unsigned long long uid, gid, rdev;
	unsigned int mode;

	m->valid = false;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (sscanf(buf, "%llu:%llu:%o:%llu", &uid, &gid, &mode, &rdev) != 4)
		return false; /* damaged: the file shows as it is on disk */
	*m = (struct upper_meta){true, (uid_t)uid, (gid_t)gid, (mode_t)mode, (dev_t)rdev};
	return true;
}

/* ---- records absent ---- */

/*
 * A root daemon writes almost no records (only what its namespace cannot
 * make real), yet every stat read one: 10 of the 18 failing getxattr calls
 * an untarred file cost.  So an upper that is known to hold none says so
 * on its root (UPPER_NO_RECORDS_XATTR), and reads skip the call:
 *
 *  - a mount that finds the upper empty, and will not write records
 *    routinely (a root daemon), marks it;
 *  - whoever writes a record takes the mark off first (fs_meta_write),
 *    and a daemon that is not root takes it off at mount;
 *  - a mark that cannot be removed stops the write: a record never exists
 *    under a mark.
 *
 * Only strata writes records; a strata older than the mark would not take
 * it off (docs/xattrs.md).
 */
static atomic_bool records_absent;
/* fuse-overlayfs' form (xattr_permissions=, meta_override.c): the name
 * records go by in this upper, or NULL for strata's own. */
static int override_level;
static const char *override_name;
static int marked_root = -1;
/* A daemon that is not root could not take the mark off: it must not
 * write a record under it (errno, or 0). */
static int unmark_failed;
static pthread_mutex_t unmark_lock = PTHREAD_MUTEX_INITIALIZER;

static bool upper_empty(int root_fd)
{
	DIR *d = sys_opendir_at(root_fd);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return false;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		        strcmp(de->d_name, UPPER_WORK_NAME) == 0;
	closedir(d);
	return empty;
}

void fs_meta_set_override(int level)
{
	override_level = level;
}

bool fs_meta_override_owns(int opath_fd)
{
	struct stat st;

	return override_level &&
	       fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
	       (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

/* The records are the truth for every file and directory: a daemon that
 * is not root, or an upper in fuse-overlayfs' form. */
static bool records_truth(void)
{
	return fs_meta_rootless() || override_level;
}

/*
 * fuse-overlayfs' form: the name its root says (=2: the one
 * containers/storage writes if there, else fuse-overlayfs' own; =1 the
 * privileged one), and a root without one gets its own, as fuse-overlayfs
 * gives it, so that either reads the upper in this form after.
 */
static void override_open(int root_fd, const char *path)
{
	struct upper_meta m;
	struct stat st;
	char buf[96];
	int len;

	override_name = override_level == 1 ? META_OVERRIDE_PRIVILEGED : META_OVERRIDE_USER;
	if (override_level == 2 && getxattr(path, META_OVERRIDE_CONTAINERS, NULL, 0) >= 0)
		override_name = META_OVERRIDE_CONTAINERS;
	if (getxattr(path, override_name, NULL, 0) >= 0 || fs_meta_stat(root_fd, &st))
		return;
	m = (struct upper_meta){true, st.st_uid, st.st_gid, st.st_mode, 0};
	len = fs_meta_override_format(&m, buf, sizeof(buf));
	(void)setxattr(path, override_name, buf, (size_t)len, 0); /* else writes fail too */
}

void fs_meta_upper_open(int root_fd)
{
	char path[64], buf[96];

	fs_upper_fd_path(root_fd, path, sizeof(path));
	atomic_store(&records_absent, false);
	marked_root = root_fd;
	unmark_failed = 0;
	if (override_level) {
		override_open(root_fd, path);
		return;
	}
	if (fs_meta_rootless()) {
		if (removexattr(path, UPPER_NO_RECORDS_XATTR) < 0 && errno != ENODATA &&
		    errno != ENOTSUP)
			unmark_failed = errno;
		return;
	}
	if (getxattr(path, UPPER_NO_RECORDS_XATTR, buf, sizeof(buf)) >= 0) {
		atomic_store(&records_absent, true);
		return;
	}
	/* An empty upper whose root has no record of its own: marked. */
	if (getxattr(path, UPPER_META_XATTR, buf, sizeof(buf)) < 0 && errno == ENODATA &&
	    upper_empty(root_fd) && setxattr(path, UPPER_NO_RECORDS_XATTR, "", 0, 0) == 0)
		atomic_store(&records_absent, true);
}

/* Before a record is written: the mark goes, first.  0 or errno. */
static int unmark(void)
{
	char path[64];
	int rc = 0;

	if (unmark_failed)
		return unmark_failed;
	if (!atomic_load(&records_absent))
		return 0;
	pthread_mutex_lock(&unmark_lock);
	if (atomic_load(&records_absent)) {
		fs_upper_fd_path(marked_root, path, sizeof(path));
		if (removexattr(path, UPPER_NO_RECORDS_XATTR) < 0 && errno != ENODATA)
			rc = errno;
		else
			atomic_store(&records_absent, false);
	}
	pthread_mutex_unlock(&unmark_lock);
	return rc;
}

/* fuse-overlayfs' record, whose type (most often none) is the file's. */
static void read_override(int opath_fd, const char *text, size_t len, struct upper_meta *m)
{
	struct stat st;

	if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		fs_meta_override_parse(text, len, st.st_mode, m);
}

int fs_meta_read(int opath_fd, struct upper_meta *m)
{
	char path[64], buf[96];
	ssize_t n;

	m->valid = false;
	if (atomic_load_explicit(&records_absent, memory_order_acquire))
		return 0;
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	n = getxattr(path, override_name ? override_name : UPPER_META_XATTR, buf, sizeof(buf));
	if (n > 0 && !override_name)
		fs_meta_parse(buf, (size_t)n, m);
	else if (n > 0)
		read_override(opath_fd, buf, (size_t)n, m);
	return 0;
}

/* What a daemon that is not root needs of every object: owner rw, and x
 * for a directory.  No set-id or sticky bit: those are the record's. */
static mode_t open_to_owner(mode_t mode)
{
	return (mode & 0777) | (S_ISDIR(mode) ? 0700 : 0600);
}

int fs_meta_write(int opath_fd, const struct upper_meta *m)
{
	char path[64], buf[96];
	struct stat st;
	int len, rc = unmark();
	const char *name = override_name ? override_name : UPPER_META_XATTR;

	if (rc)
		return rc;
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	len = override_name ? fs_meta_override_format(m, buf, sizeof(buf))
	                    : snprintf(buf, sizeof(buf), "%llu:%llu:%o:%llu",
	                               (unsigned long long)m->uid, (unsigned long long)m->gid,
	                               (unsigned int)m->mode, (unsigned long long)m->rdev);
	if (setxattr(path, name, buf, (size_t)len, 0) == 0)
		return 0;
	/* An upper written before objects were kept open to the daemon: its
	 * own file, which it may open up and then record. */
	if (errno != EACCES || !records_truth() ||
	    fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    chmod(path, open_to_owner(st.st_mode)) < 0 ||
	    setxattr(path, name, buf, (size_t)len, 0) < 0)
		return errno;
	return 0;
}

void fs_meta_apply(const struct upper_meta *m, struct stat *st)
{
	if (!m->valid)
		return;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_mode = m->mode;
	st->st_rdev = m->rdev;
}

int fs_meta_stat(int opath_fd, struct stat *st)
{
	struct upper_meta m;

	if (fstatat(opath_fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		fs_meta_read(opath_fd, &m);
		fs_meta_apply(&m, st);
	}
	return 0;
}

/* ---- who may own what ---- */

static bool rootless;
static pthread_once_t rootless_once = PTHREAD_ONCE_INIT;

static void rootless_init(void)
{
	rootless = geteuid() != 0;
}

bool fs_meta_rootless(void)
{
	pthread_once(&rootless_once, rootless_init); /* the daemon's ids never change */
	return rootless;
}

bool fs_meta_needs_placeholder(mode_t mode)
{
	/* fuse-overlayfs' form keeps them real, as fuse-overlayfs does (it
	 * could not read a placeholder symlink): their owner is the daemon. */
	return fs_meta_rootless() && !override_level && !S_ISREG(mode) && !S_ISDIR(mode);
}

mode_t fs_meta_real_mode(mode_t mode)
{
	return records_truth() ? open_to_owner(mode) : mode & 07777;
}

/* ---- new objects ---- */

static bool same_meta(const struct stat *st, const struct upper_meta *m)
{
	return st->st_uid == m->uid && st->st_gid == m->gid && st->st_mode == m->mode &&
	       st->st_rdev == m->rdev;
}

int fs_meta_init(int opath_fd, const struct upper_meta *want)
{
	char path[64];
	struct stat st;

	if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	/* A placeholder is made with its record (fs_meta_mknod).  In
	 * fuse-overlayfs' form every file and directory has one: its 1.10
	 * fails the stat of one without. */
	if ((st.st_mode & S_IFMT) != (want->mode & S_IFMT) ||
	    (same_meta(&st, want) && !fs_meta_override_owns(opath_fd)))
		return 0;
	if (!records_truth() ||
	    (!fs_meta_rootless() && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
		/* chown clears set-id bits, so the mode comes after it; what
		 * either could not make real is recorded below. */
		fs_upper_fd_path(opath_fd, path, sizeof(path));
		(void)fchownat(opath_fd, "", want->uid, want->gid,
		               AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (!S_ISLNK(st.st_mode))
			(void)chmod(path, want->mode & 07777);
		if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return errno;
		if (same_meta(&st, want))
			return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return 0; /* cannot carry it: see the top of this file */
	return fs_meta_write(opath_fd, want);
}

int fs_meta_placeholder(int fd, const struct upper_meta *m, const char *target)
{
	if (target && sys_write_all_at(fd, target, strlen(target), 0) < 0)
		return errno;
	return fs_meta_write(fd, m);
}

int fs_meta_mknod(int dirfd, const char *name, const struct upper_meta *want, const char *target)
{
	int fd, rc;

	if (!fs_meta_needs_placeholder(want->mode)) {
		rc = S_ISLNK(want->mode)
		         ? symlinkat(target, dirfd, name)
		         : mknodat(dirfd, name,
		                   fs_meta_real_mode(want->mode) | (want->mode & S_IFMT),
		                   want->rdev);
		if (rc == 0)
			return 0;
		/* A device node a daemon in a user namespace may not make. */
		if ((errno != EPERM && errno != EINVAL) ||
		    (!S_ISCHR(want->mode) && !S_ISBLK(want->mode)))
			return errno;
	}
	/* Unnamed until its record is written: the name never shows without
	 * it. */
	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	rc = fs_meta_placeholder(fd, want, S_ISLNK(want->mode) ? target : NULL);
	if (!rc)
		rc = fs_upper_link_unnamed(fd, dirfd, name);
	close(fd);
	return rc;
}

ssize_t fs_meta_readlink(int opath_fd, char *buf, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd;

	if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISLNK(st.st_mode))
		return readlinkat(opath_fd, "", buf, size);
	/* A placeholder: the target is its content. */
	if (fs_upper_reopen(opath_fd, O_RDONLY, &fd))
		return -1;
	n = sys_pread_full(fd, buf, size, 0);
	close(fd);
	return n;
}

/* ---- changes ---- */

/* Root: chmod and chown made real, and the record, if the object has one
 * or something could not be made real, rewritten whole. */
static int change_as_root(int fd, const struct stat *real, bool recorded,
                          const struct upper_meta *want, const mode_t *mode, uid_t uid, gid_t gid)
{
	bool placeholder = recorded && (want->mode & S_IFMT) != (real->st_mode & S_IFMT);
	bool record = recorded;
	char path[64];
	struct stat now;

	fs_upper_fd_path(fd, path, sizeof(path));
	if (mode && !S_ISLNK(real->st_mode) && !placeholder && chmod(path, *mode & 07777) < 0)
		return errno;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != EPERM && errno != EINVAL) /* EINVAL: an id the namespace lacks */
			return errno;
		record = true;
	}
	if (!record && mode && !S_ISLNK(real->st_mode) &&
	    (fstatat(fd, "", &now, AT_EMPTY_PATH) < 0 || (now.st_mode & 07777) != (*mode & 07777)))
		record = true; /* setgid outside the daemon's groups */
	if (!record)
		return 0;
	if (!S_ISREG(real->st_mode) && !S_ISDIR(real->st_mode))
		return S_ISLNK(real->st_mode) ? 0 : EPERM; /* cannot carry it */
	return fs_meta_write(fd, want);
}

int fs_meta_change(int opath_fd, const mode_t *mode, uid_t uid, gid_t gid)
{
	struct upper_meta m, want;
	struct stat real;
	char path[64];
	int rc;

	if (fstatat(opath_fd, "", &real, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	m.valid = false;
	if (S_ISREG(real.st_mode) || S_ISDIR(real.st_mode))
		fs_meta_read(opath_fd, &m);
	want = m.valid ? m
	               : (struct upper_meta){true, real.st_uid, real.st_gid, real.st_mode,
	                                     real.st_rdev};
	if (uid != (uid_t)-1)
		want.uid = uid;
	if (gid != (gid_t)-1)
		want.gid = gid;
	if (mode)
		want.mode = (want.mode & S_IFMT) | (*mode & 07777);
	/* Root in fuse-overlayfs' form: what cannot carry a record made
	 * real. */
	if (!records_truth() ||
	    (!fs_meta_rootless() && !S_ISREG(real.st_mode) && !S_ISDIR(real.st_mode)))
		return change_as_root(opath_fd, &real, m.valid, &want, mode, uid, gid);
	if (!S_ISREG(real.st_mode) && !S_ISDIR(real.st_mode))
		return S_ISLNK(real.st_mode) ? 0 : EPERM; /* made before placeholders */
	rc = fs_meta_write(opath_fd, &want);
	/* The real mode follows, never closing the record off, so that the
	 * upper shows other users no more than the mount does. */
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	if (!rc && mode && (want.mode & S_IFMT) == (real.st_mode & S_IFMT) &&
	    open_to_owner(want.mode) != (real.st_mode & 07777))
		(void)chmod(path, open_to_owner(want.mode));
	return rc;
}
