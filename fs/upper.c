/* SPDX-License-Identifier: MIT */
/*
 * The upper layer's directory and its objects: setting it up, references
 * to an inode's upper object, their attributes and redirects.  Whiteouts
 * are upper_whiteout.c's, name resolution union_lookup.c's, copy-up
 * copy_up.c's.  See upper.h for the rules every access here follows.
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

void fs_upper_fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

int fs_upper_reopen(int opath_fd, int flags, int *fd)
{
	char path[64];

	fs_upper_fd_path(opath_fd, path, sizeof(path));
	/* The magic link is itself a symlink: O_NOFOLLOW (which the kernel
	 * already applied to the user's path) would fail it with ELOOP. */
	flags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_NOFOLLOW)) | O_CLOEXEC;
	*fd = open(path, flags);
	/* O_NOATIME is for the owner (or CAP_FOWNER) only: without it, the
	 * upper's own options decide. */
	if (*fd < 0 && errno == EPERM && (flags & O_NOATIME))
		*fd = open(path, flags & ~O_NOATIME);
	return *fd < 0 ? errno : 0;
}

/* ---- setup ---- */

static void clean_work_dir(int work)
{
	DIR *d = sys_opendir_at(work);
	struct dirent *de;

	if (!d)
		return;
	/* Leftovers of copy-ups a crash interrupted: never visible, now gone. */
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "tmp.", 4) == 0)
			unlinkat(work, de->d_name, 0);
	closedir(d);
}

/*
 * Every file the mount has open holds an fd in the daemon, for every
 * process of the container, so the limit goes as high as the system
 * allows: fs.nr_open for root, the hard limit for others.  (Upper
 * directories take at most a quarter of it, upper_fds.c; other upper
 * objects none between operations.)
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (geteuid() == 0 && (f = fopen("/proc/sys/fs/nr_open", "re"))) {
		unsigned long long max;

		if (fscanf(f, "%llu", &max) == 1 && max > rl.rlim_max)
			rl.rlim_max = (rlim_t)max;
		fclose(f);
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
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
	/* Copy-up writes its files with O_TMPFILE in the upper's root, unnamed
	 * until linked into place, so no work directory is made (for every
	 * fresh container that cost a mkdir, and at --rm an rmdir, on the
	 * host's disk).  Earlier versions made UPPER_WORK_NAME and named temp
	 * files in it: what an interrupted copy-up of theirs left goes. */
	{
		int work =
		    openat(fd, UPPER_WORK_NAME, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (work >= 0) {
			clean_work_dir(work);
			close(work);
		}
	}
	raise_fd_limit();
	if (fs_upper_dirs_init(u)) { /* its capacity follows the limit */
		close(fd);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	u->upper_root = fd;
	atomic_store(&u->root->upper_fd, dup(fd));
	/* An opaque upper root hides every lower layer. */
	if (fs_upper_is_opaque(fd))
		u->root->n_srcs = 0;
	return 0;
}

void fs_upper_close(struct strata_union *u)
{
	if (u->upper_root >= 0)
		close(u->upper_root);
	u->upper_root = -1;
	fs_upper_dirs_free(u->dirs);
	u->dirs = NULL;
	u->table.upper_dirs = NULL;
}

/* ---- upper objects ---- */

int fs_upper_stat(struct strata_union *u, struct inode *in, struct stat *st)
{
	struct upper_ref ref;
	int rc = fs_upper_ref_get(u, in, &ref);

	if (rc)
		return rc;
	if (fstatat(ref.fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		rc = errno;
		fs_upper_ref_put(&ref);
		return rc;
	}
	if (!S_ISLNK(st->st_mode)) {
		struct upper_meta m;

		fs_meta_read(ref.fd, &m);
		fs_meta_apply(&m, st);
	}
	fs_upper_ref_put(&ref);
	st->st_ino = in->ino;
	if (S_ISDIR(st->st_mode) && in->n_srcs > 0)
		st->st_nlink = 1; /* merged, as overlayfs reports */
	if (inode_metacopy(in)) {
		struct union_src src;
		struct stat data;

		/* The blocks its data takes are the lower file's. */
		if (fs_union_ino_src(u, in->ino, &src)) {
			union_layer(u, &src)->ops->stat(union_layer(u, &src), src.node, &data);
			st->st_blocks = data.st_blocks;
		}
	}
	return 0;
}

/* A file's upper object, by its name in its parent's upper directory:
 * under names_lock, so that a rename cannot come between the two. */
static int file_ref(struct strata_union *u, struct inode *in, struct upper_ref *ref)
{
	struct inode *parent = fs_inode_parent(u, in);
	struct upper_ref pref = {-1, false, NULL};
	char *name;
	int rc;

	if (!parent)
		return ESTALE;
	rc = fs_upper_ref_get(u, parent, &pref);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	pthread_rwlock_rdlock(&u->names_lock);
	name = fs_inode_name(u, in);
	if (name)
		ref->fd = openat(pref.fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	rc = !name ? ENOMEM : ref->fd < 0 ? (errno == ENOENT ? ESTALE : errno) : 0;
	pthread_rwlock_unlock(&u->names_lock);
	free(name);
	fs_upper_ref_put(&pref);
	ref->owned = ref->fd >= 0;
	return rc;
}

int fs_upper_ref_get(struct strata_union *u, struct inode *in, struct upper_ref *ref)
{
	int fd = atomic_load(&in->upper_fd);

	ref->fd = -1;
	ref->owned = false;
	ref->pin = NULL;
	if (fd >= 0) {
		ref->fd = fd;
		return 0;
	}
	if (fd != UPPER_BY_NAME)
		return ENOENT;
	if (S_ISDIR(in->mode))
		return fs_upper_dir_ref(u, in, ref);
	return file_ref(u, in, ref);
}

void fs_upper_ref_put(struct upper_ref *ref)
{
	if (ref->owned && ref->fd >= 0)
		close(ref->fd);
	if (ref->pin)
		atomic_fetch_sub(ref->pin, 1);
	ref->fd = -1;
	ref->owned = false;
	ref->pin = NULL;
}

int fs_upper_set_redirect(int opath_fd, const char *path)
{
	char p[64];

	fs_upper_fd_path(opath_fd, p, sizeof(p));
	if (setxattr(p, UPPER_REDIRECT_XATTR, path, strlen(path), 0) < 0)
		return errno;
	/* Kernel overlayfs follows it with redirect_dir=on. */
	return fs_upper_overlay_xattr(opath_fd, "redirect", path);
}
