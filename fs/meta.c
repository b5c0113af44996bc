/* SPDX-License-Identifier: MIT */
/*
 * Rootless metadata: what a daemon without privilege cannot make real in
 * the upper layer (another owner, a device node, a setgid bit it is not
 * allowed to keep) is kept in the user.strata.meta xattr and reported as
 * if real (docs/xattrs.md).  The value is text, "uid:gid:mode:rdev" with
 * the mode in octal including the file type, so it can be read and fixed
 * by hand with getfattr/setfattr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "upper.h"

int fs_meta_read(int opath_fd, struct upper_meta *m)
{
	char path[64], buf[96];
	unsigned long long uid, gid, rdev;
	unsigned int mode;
	ssize_t n;

	m->valid = false;
	fs_upper_fd_path(opath_fd, path, sizeof(path));
	n = getxattr(path, UPPER_META_XATTR, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu:%llu:%o:%llu", &uid, &gid, &mode, &rdev) != 4)
		return 0; /* damaged: the file shows as it is on disk */
	m->uid = (uid_t)uid;
	m->gid = (gid_t)gid;
	m->mode = (mode_t)mode;
	m->rdev = (dev_t)rdev;
	m->valid = true;
	return 0;
}

int fs_meta_write(int opath_fd, const struct upper_meta *m)
{
	char path[64], buf[96];
	int len;

	fs_upper_fd_path(opath_fd, path, sizeof(path));
	len = snprintf(buf, sizeof(buf), "%llu:%llu:%o:%llu", (unsigned long long)m->uid,
	               (unsigned long long)m->gid, (unsigned int)m->mode,
	               (unsigned long long)m->rdev);
	if (setxattr(path, UPPER_META_XATTR, buf, (size_t)len, 0) < 0)
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

/* The metadata an object has, as reported: the xattr's, else the file's. */
static int meta_current(int opath_fd, struct upper_meta *m)
{
	struct stat st;

	fs_meta_read(opath_fd, m);
	if (m->valid)
		return 0;
	if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	*m = (struct upper_meta){true, st.st_uid, st.st_gid, st.st_mode, st.st_rdev};
	return 0;
}

int fs_meta_set(int opath_fd, const uid_t *uid, const gid_t *gid, const mode_t *mode,
                const dev_t *rdev)
{
	struct upper_meta m;
	int rc = meta_current(opath_fd, &m);

	if (rc)
		return rc;
	if (uid && *uid != (uid_t)-1)
		m.uid = *uid;
	if (gid && *gid != (gid_t)-1)
		m.gid = *gid;
	if (mode)
		m.mode = (m.mode & S_IFMT) | (*mode & 07777);
	if (rdev)
		m.rdev = *rdev;
	return fs_meta_write(opath_fd, &m);
}
