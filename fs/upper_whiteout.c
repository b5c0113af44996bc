/* SPDX-License-Identifier: MIT */
/*
 * Whiteouts and opaque directories in the upper layer, in the OCI changeset
 * form a committed layer keeps: `.wh.NAME` hides NAME below, `.wh..wh..opq`
 * hides all that is below its directory.
 *
 * The overlay form, which kernel overlayfs and fuse-overlayfs write, is
 * read too: a 0/0 character device NAME hides NAME, and a directory with
 * one of the overlay opaque xattrs set to "y" is opaque.  Written is the
 * OCI form alone: a 0/0 device a writable mount looks up becomes a .wh.
 * file (fs_upper_whiteout_to_oci), since making the name again creates it
 * before removing its whiteout.
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

#include "sys.h"
#include "upper.h"

/* A name longer than NAME_MAX - 4 cannot be whited out: the OCI format
 * has no other way to say a lower name is gone. */
static int whiteout_name(const char *name, char *buf, size_t size)
{
	if (strlen(name) + 4 > NAME_MAX || snprintf(buf, size, ".wh.%s", name) >= (int)size)
		return ENAMETOOLONG;
	return 0;
}

bool fs_upper_can_whiteout(const char *name)
{
	return strlen(name) + 4 <= NAME_MAX;
}

bool fs_upper_has_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];
	struct stat st;

	return whiteout_name(name, wh, sizeof(wh)) == 0 &&
	       fstatat(dirfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int fs_upper_add_whiteout(int dirfd, const char *name)
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

int fs_upper_remove_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];

	if (whiteout_name(name, wh, sizeof(wh)))
		return 0;
	if (unlinkat(dirfd, wh, 0) < 0 && errno != ENOENT)
		return errno;
	return 0;
}

bool fs_upper_is_chr_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

bool fs_upper_chr_whiteout_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && fs_upper_is_chr_whiteout(&st);
}

int fs_upper_whiteout_to_oci(int dirfd, const char *name)
{
	int rc = fs_upper_add_whiteout(dirfd, name);

	if (!rc && unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		rc = errno;
	return rc;
}

/* overlayfs' as root and rootless (userxattr), fuse-overlayfs' rootless. */
static const char *const opaque_xattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque",
                                            "user.fuseoverlayfs.opaque"};

bool fs_upper_is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0 ||
	       strncmp(name, "user.fuseoverlayfs.", 19) == 0;
}

bool fs_upper_path_opaque_xattr(const char *path)
{
	for (size_t i = 0; i < sizeof(opaque_xattrs) / sizeof(opaque_xattrs[0]); i++) {
		char v[2];

		if (getxattr(path, opaque_xattrs[i], v, sizeof(v)) == 1 && v[0] == 'y')
			return true;
	}
	return false;
}

bool fs_upper_is_opaque(int dirfd)
{
	struct stat st;
	char path[64];

	if (fstatat(dirfd, UPPER_OPAQUE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	fs_upper_fd_path(dirfd, path, sizeof(path));
	return fs_upper_path_opaque_xattr(path);
}

int fs_upper_make_opaque(int dirfd)
{
	int fd =
	    openat(dirfd, UPPER_OPAQUE_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}
