/* SPDX-License-Identifier: MIT */
/*
 * A strata upper read as a layer (layer_dir.c reads it whole,
 * lowerdir_attr.c lazily, as a lower of another mount): an object shows
 * as its user.strata.meta record says (meta.c), or fuse-overlayfs'
 * override_stat (meta_override.c), as it did in the mount
 * that wrote it, and its ACLs as the record or the real xattr says
 * (acl_upper.c).  One home for both readers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "sys.h"
#include "upper.h"

/* A placeholder symlink's target: its content. */
static int placeholder_target(const char *path, struct stat *st, char **link)
{
	char target[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : sys_pread_full(fd, target, sizeof(target) - 1, 0);

	if (fd >= 0)
		close(fd);
	if (n < 0 || !(*link = strndup(target, (size_t)n)))
		return -1;
	st->st_size = n;
	return 0;
}

int fs_meta_layer_apply(const char *override, const char *path, struct stat *st, char **link)
{
	char buf[96];
	struct upper_meta m;
	ssize_t n;
	int theirs = 0;

	/* Only files and directories carry user xattrs. */
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	/* fuse-overlayfs' record first, where the layer's root says it has
	 * them; else strata's. */
	n = override ? lgetxattr(path, override, buf, sizeof(buf)) : -1;
	if (n > 0)
		theirs = fs_meta_override_parse(buf, (size_t)n, st->st_mode, &m);
	else if ((n = lgetxattr(path, UPPER_META_XATTR, buf, sizeof(buf))) <= 0 ||
	         !fs_meta_parse(buf, (size_t)n, &m))
		return 0;
	if (!m.valid)
		return 0; /* damaged: as it is on disk */
	fs_meta_apply(&m, st);
	if (S_ISLNK(st->st_mode) && placeholder_target(path, st, link) < 0)
		return -1;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode))
		st->st_size = 0; /* other placeholders have no content */
	return theirs;
}

int fs_acl_layer(const char *path, uint32_t (*map)(const void *ctx, bool group, uint32_t id),
                 int (*add)(void *ctx, const char *name, const void *value, size_t size), void *ctx)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	struct acl a;
	size_t len;
	bool recorded;
	int rc;

	for (int kind = ACL_KIND_ACCESS; kind <= ACL_KIND_DEFAULT; kind++) {
		if (fs_acl_read(path, kind, buf, sizeof(buf), &len, &recorded) ||
		    fs_acl_decode(buf, len, &a))
			continue; /* none, or damaged: not enforced, not shown */
		/* A real one names ids as the upper's file system does; a
		 * record already holds the container's. */
		for (uint32_t i = 0; map && !recorded && i < a.n; i++) {
			if (a.e[i].tag == ACL_TAG_USER || a.e[i].tag == ACL_TAG_GROUP)
				a.e[i].id = map(ctx, a.e[i].tag == ACL_TAG_GROUP, a.e[i].id);
		}
		rc = add(ctx, fs_acl_xattr_name(kind), buf, fs_acl_encode(&a, buf));
		if (rc)
			return rc;
	}
	return 0;
}
