/* SPDX-License-Identifier: MIT */
/* Removing containers, and the tree of mount points they all share. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int store_remove_tree(const char *path, store_remove_fn fallback)
{
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) == 0)
		return 0;
	/* Root can remove anything; what else failed is no owner's problem. */
	if (!fallback || geteuid() == 0 || (errno != EACCES && errno != EPERM))
		return access(path, F_OK) == 0 ? -1 : 0;
	if (fallback(path) < 0) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

int store_container_remove(struct store *s, const char *name, store_remove_fn fallback,
                           struct strata_error *err)
{
	char dir[PATH_MAX];
	int lock;

	if (store_container_path(s, name, dir, sizeof(dir)) < 0)
		return strata_fail(err, STRATA_ERR_USAGE, EINVAL, "%s: not a container name", name);
	if (access(dir, F_OK) < 0)
		return strata_fail(err, STRATA_ERR_USAGE, ENOENT, "%s: no such container", name);
	/* Held while the tree goes: the container cannot start meanwhile. */
	lock = store_container_lock(dir, err);
	if (lock < 0)
		return store_fail_prefix(err, "%s: %s", name);
	if (store_remove_tree(dir, fallback) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", name, strerror(errno));
		close(lock);
		return -1;
	}
	close(lock);
	return 0;
}

/* What the init mounts over (run_init.c), so that the image need not have
 * it and the container need not make it in its writable layer: making it
 * there went through FUSE at every start (about 2 ms). */
static const struct {
	const char *path;
	mode_t mode;
} mount_points[] = {
    {"proc", S_IFDIR | 0555},
    {"sys", S_IFDIR | 0555},
    {"dev", S_IFDIR | 0755},
    {"etc", S_IFDIR | 0755},
    {"etc/hosts", S_IFREG | 0644},
    {"etc/hostname", S_IFREG | 0644},
    {"etc/resolv.conf", S_IFREG | 0644},
};

static int make_mount_points(const char *dir)
{
	for (size_t i = 0; i < sizeof(mount_points) / sizeof(mount_points[0]); i++) {
		char path[PATH_MAX];
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s", dir, mount_points[i].path) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (S_ISDIR(mount_points[i].mode)) {
			if (mkdir(path, 0755) < 0)
				return -1;
		} else {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				return -1;
			close(fd);
		}
		/* Not umask's: the same tree serves every later run. */
		if (chmod(path, mount_points[i].mode & 07777) < 0)
			return -1;
	}
	return chmod(dir, 0755);
}

char *store_container_mount_points(struct store *s, struct strata_error *err)
{
	char *dir, tmp[PATH_MAX];
	int en;

	/* The version in the name: a later strata with other mount points
	 * makes its own tree instead of trusting an older one. */
	if (asprintf(&dir, "%s/strata/mount-points.1", s->root) < 0) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	if (access(dir, F_OK) == 0)
		return dir;
	/* Made aside and renamed into place: a run never sees half of it. */
	snprintf(tmp, sizeof(tmp), "%s/strata/tmp/mount-points.XXXXXX", s->root);
	if (!mkdtemp(tmp)) {
		en = errno;
		goto fail;
	}
	if (make_mount_points(tmp) < 0 ||
	    (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)) {
		en = errno;
		store_remove_tree(tmp, NULL);
		goto fail;
	}
	/* Another run won the race: its tree is the same. */
	if (access(tmp, F_OK) == 0)
		store_remove_tree(tmp, NULL);
	return dir;
fail:
	strata_fail(err, STRATA_ERR_SYS, en, "%s/strata/mount-points: %s", s->root, strerror(en));
	free(dir);
	return NULL;
}
