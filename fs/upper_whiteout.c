/* SPDX-License-Identifier: MIT */
/*
 * Whiteouts and opaque directories in the upper layer, in the OCI changeset
 * form a committed layer keeps: `.wh.NAME` hides NAME below, `.wh..wh..opq`
 * hides all that is below its directory.
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

bool fs_upper_is_opaque(int dirfd)
{
	struct stat st;

	return fstatat(dirfd, UPPER_OPAQUE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0;
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
