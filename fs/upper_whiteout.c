/* SPDX-License-Identifier: MIT */
/*
 * Whiteouts and opaque directories in the upper layer, in the OCI changeset
 * form a committed layer keeps: `.wh.NAME` hides NAME below, `.wh..wh..opq`
 * hides all that is below its directory.
 *
 * The overlay form, which kernel overlayfs and fuse-overlayfs write, is
 * read too: a 0/0 character device NAME hides NAME, and a directory with
 * one of the overlay opaque xattrs set to "y" is opaque.  It is written
 * when the mount asks for it (fs_upper_set_overlay_form): whiteouts as
 * 0/0 devices (a .wh. file where mknod is refused), opacity as
 * trusted.overlay.opaque (user.overlay.opaque and fuse-overlayfs'
 * user.fuseoverlayfs.opaque where trusted.* is refused), no marker file.
 * Before a name is made again, its device goes (fs_upper_free_name): the
 * name is made first and its whiteout removed after.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* The empty file @wh (".wh.NAME") in @dirfd.  0 or errno. */
static int make_wh_file(int dirfd, const char *wh)
{
	int fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* Process-wide: a daemon serves one union. */
static bool overlay_form;

void fs_upper_set_overlay_form(bool on)
{
	overlay_form = on;
}

int fs_upper_add_whiteout(int dirfd, const char *name)
{
	char wh[NAME_MAX + 8];
	int rc = whiteout_name(name, wh, sizeof(wh));

	if (rc)
		return rc;
	/* Allowed in a user namespace too since Linux 5.8; where it is not,
	 * fuse-overlayfs also falls back to the .wh. file. */
	if (overlay_form && mknodat(dirfd, name, S_IFCHR, makedev(0, 0)) == 0)
		return 0;
	if (overlay_form && errno != EPERM)
		return errno;
	return make_wh_file(dirfd, wh);
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

int fs_upper_free_name(int dirfd, const char *name, bool hides)
{
	char wh[NAME_MAX + 8];
	bool named = whiteout_name(name, wh, sizeof(wh)) == 0;
	int rc;

	if (!fs_upper_chr_whiteout_at(dirfd, name))
		return 0;
	/* Still hiding a lower object: a .wh. file until the name is made,
	 * whose whiteout then goes (or comes back in the mount's form). */
	if (hides && named && (rc = make_wh_file(dirfd, wh)))
		return rc;
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return errno;
	return 0;
}

/* overlayfs' as root and rootless (userxattr), fuse-overlayfs' rootless. */
static const char *const opaque_xattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque",
                                            "user.fuseoverlayfs.opaque"};

bool fs_upper_is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0 ||
	       strncmp(name, "user.fuseoverlayfs.", 19) == 0 ||
	       strncmp(name, "security.fuseoverlayfs.", 23) == 0 ||
	       strcmp(name, META_OVERRIDE_CONTAINERS) == 0;
}

/* Whether the NUL-separated list @names (@n bytes) holds @name. */
static bool listed(const char *names, ssize_t n, const char *name)
{
	for (const char *p = names; p < names + n; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return true;
	return false;
}

bool fs_upper_path_opaque_xattr(const char *path)
{
	char names[2048];
	/* Every upper directory looked up is asked: one listxattr, nothing
	 * more for the usual directory that has none of them. */
	ssize_t n = listxattr(path, names, sizeof(names));

	if (n == 0 || (n < 0 && errno != ERANGE))
		return false;
	for (size_t i = 0; i < sizeof(opaque_xattrs) / sizeof(opaque_xattrs[0]); i++) {
		char v[2];

		if ((n < 0 || listed(names, n, opaque_xattrs[i])) &&
		    getxattr(path, opaque_xattrs[i], v, sizeof(v)) == 1 && v[0] == 'y')
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

int fs_upper_overlay_xattr(int opath_fd, const char *what, const char *value)
{
	char path[64], name[64];
	size_t len = strlen(value);

	if (!overlay_form)
		return 0;
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	snprintf(name, sizeof(name), "trusted.overlay.%s", what);
	if (setxattr(path, name, value, len, 0) == 0)
		return 0;
	if (errno != EPERM)
		return errno;
	/* Not root of the initial namespace: the rootless forms, overlayfs'
	 * (userxattr) and fuse-overlayfs'. */
	snprintf(name, sizeof(name), "user.overlay.%s", what);
	if (setxattr(path, name, value, len, 0) < 0)
		return errno;
	snprintf(name, sizeof(name), "user.fuseoverlayfs.%s", what);
	if (setxattr(path, name, value, len, 0) < 0)
		return errno;
	return 0;
}

int fs_upper_make_opaque(int dirfd)
{
	if (overlay_form)
		return fs_upper_overlay_xattr(dirfd, "opaque", "y");

	int fd =
	    openat(dirfd, UPPER_OPAQUE_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}
