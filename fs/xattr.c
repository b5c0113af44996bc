/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: from the layer's index for lower objects, from the
 * upper file itself once copied up.  strata's own bookkeeping attributes
 * (user.strata.*) are neither shown nor settable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "ll.h"
#include "upper.h"

#define STRATA_XATTR_PREFIX "user.strata."

static bool xattr_private(const char *name)
{
	return strncmp(name, STRATA_XATTR_PREFIX, strlen(STRATA_XATTR_PREFIX)) == 0;
}

/* Replies with a value or its size, as getxattr(2) does. */
static void reply_value(fuse_req_t req, const void *value, size_t vsize, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, vsize);
	else if (vsize > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, vsize);
}

static void upper_getxattr(fuse_req_t req, int fd, const char *name, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;

	fs_upper_fd_path(fd, path, sizeof(path));
	if (xattr_private(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	n = getxattr(path, name, NULL, 0);
	if (n >= 0 && size > 0 && (buf = malloc((size_t)n ? (size_t)n : 1)))
		n = getxattr(path, name, buf, (size_t)n);
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size > 0 && !buf)
		fuse_reply_err(req, ENOMEM);
	else
		reply_value(req, buf, (size_t)n, size);
	free(buf);
}

static void upper_listxattr(fuse_req_t req, int fd, const char *name, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;
	size_t out = 0;

	(void)name; /* an upper_xattr_fn: lists them all */

	fs_upper_fd_path(fd, path, sizeof(path));
	n = listxattr(path, NULL, 0);
	if (n > 0 && (buf = malloc((size_t)n)))
		n = listxattr(path, buf, (size_t)n);
	if (n < 0 || (n > 0 && !buf)) {
		fuse_reply_err(req, n < 0 ? errno : ENOMEM);
		free(buf);
		return;
	}
	for (ssize_t i = 0; i < n;) { /* drop ours, in place */
		size_t len = strlen(buf + i) + 1;

		if (!xattr_private(buf + i)) {
			memmove(buf + out, buf + i, len);
			out += len;
		}
		i += (ssize_t)len;
	}
	reply_value(req, buf, out, size);
	free(buf);
}

typedef void upper_xattr_fn(fuse_req_t req, int fd, const char *name, size_t size);

/* Answers from @in's upper object, which holds all its xattrs once it has
 * one. */
static void on_upper(fuse_req_t req, struct strata_union *u, struct inode *in, upper_xattr_fn *fn,
                     const char *name, size_t size)
{
	struct upper_ref ref;
	int rc = fs_upper_ref_get(u, in, &ref);

	if (rc)
		fuse_reply_err(req, rc);
	else
		fn(req, ref.fd, name, size);
	fs_upper_ref_put(&ref);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino);
	const struct strata_layer *l;
	const char *xname;
	const void *value;
	size_t vsize;

	if (inode_in_upper(in)) {
		on_upper(req, u, in, upper_getxattr, name, size);
		return;
	}
	l = union_layer(u, &in->srcs[0]);
	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++) {
		if (strcmp(xname, name) != 0)
			continue;
		reply_value(req, value, vsize, size);
		return;
	}
	fuse_reply_err(req, ENODATA);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino);
	const struct strata_layer *l;
	const char *xname;
	const void *value;
	size_t vsize, total = 0;
	char *buf = NULL;
	int saverr = 0;

	if (inode_in_upper(in)) {
		on_upper(req, u, in, upper_listxattr, NULL, size);
		return;
	}
	l = union_layer(u, &in->srcs[0]);
	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++)
		total += strlen(xname) + 1;
	if (size == 0) {
		fuse_reply_xattr(req, total);
		return;
	}
	if (total > size) {
		saverr = ERANGE;
		goto out;
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		saverr = ENOMEM;
		goto out;
	}
	total = 0;
	for (uint32_t i = 0; l->ops->xattr(l, in->srcs[0].node, i, &xname, &value, &vsize); i++) {
		size_t len = strlen(xname) + 1;

		memcpy(buf + total, xname, len);
		total += len;
	}
out:
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_buf(req, buf, total);
	free(buf);
}

/* setxattr(2) or, with no value, removexattr(2) on @in's upper object,
 * copied up first. */
static int change_xattr(struct strata_union *u, struct inode *in, const char *name,
                        const char *value, size_t size, int flags)
{
	struct upper_ref ref;
	char path[64];
	int rc = fs_upper_copy_up_meta(u, in);

	if (!rc)
		rc = fs_upper_ref_get(u, in, &ref);
	if (rc)
		return rc;
	fs_upper_fd_path(ref.fd, path, sizeof(path));
	if ((value ? setxattr(path, name, value, size, flags) : removexattr(path, name)) < 0)
		rc = errno;
	fs_upper_ref_put(&ref);
	return rc;
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags)
{
	struct strata_union *u = fs_union_of(req);

	fuse_reply_err(req, xattr_private(name) ? EPERM
	                                        : change_xattr(u, fs_inode_of(u, ino), name,
	                                                       value ? value : "", size, flags));
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct strata_union *u = fs_union_of(req);

	fuse_reply_err(req, xattr_private(name)
	                        ? ENODATA
	                        : change_xattr(u, fs_inode_of(u, ino), name, NULL, 0, 0));
}
