/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: from the layer's index for lower objects, from the
 * upper file itself once copied up.  strata's own bookkeeping attributes
 * (user.strata.*) are neither shown nor settable.  POSIX ACLs, which the
 * kernel enforces from these xattrs, go through acl_upper.c: the upper may
 * keep them in a record, and setting one changes the mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "ll.h"
#include "upper.h"

#define STRATA_XATTR_PREFIX "user.strata."

/* strata's own records, and overlayfs' and fuse-overlayfs' (an upper
 * they wrote), as overlayfs hides its own. */
static bool xattr_private(const char *name)
{
	return strncmp(name, STRATA_XATTR_PREFIX, strlen(STRATA_XATTR_PREFIX)) == 0 ||
	       fs_upper_is_overlay_xattr(name);
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

/* Keeps the names listed in @buf (@n bytes) that are not ours, and adds
 * those of ACLs kept in a record (acl_upper.c); returns the new length.
 * @buf has room for both ACL names beyond @n. */
static size_t shown_names(char *buf, size_t n)
{
	static const char *const record[] = {ACL_RECORD_ACCESS, ACL_RECORD_DEFAULT};
	bool recorded[2] = {false, false}, real[2] = {false, false};
	size_t out = 0;

	for (size_t i = 0; i < n;) { /* drop ours, in place */
		size_t len = strlen(buf + i) + 1;
		int kind = fs_acl_kind(buf + i);

		for (int k = 0; k < 2; k++)
			recorded[k] |= strcmp(buf + i, record[k]) == 0;
		if (kind >= 0)
			real[kind] = true;
		if (!xattr_private(buf + i)) {
			memmove(buf + out, buf + i, len);
			out += len;
		}
		i += len;
	}
	for (int k = 0; k < 2; k++) {
		const char *name = fs_acl_xattr_name((enum acl_kind)k);

		if (recorded[k] && !real[k]) {
			memcpy(buf + out, name, strlen(name) + 1);
			out += strlen(name) + 1;
		}
	}
	return out;
}

static void upper_listxattr(fuse_req_t req, int fd, const char *name, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;

	(void)name; /* an upper_xattr_fn: lists them all */

	fs_upper_fd_path(fd, path, sizeof(path));
	n = listxattr(path, NULL, 0);
	if (n >= 0 &&
	    (buf = malloc((size_t)n + sizeof(ACL_XATTR_ACCESS) + sizeof(ACL_XATTR_DEFAULT))))
		n = listxattr(path, buf, (size_t)n);
	if (n < 0 || !buf) {
		fuse_reply_err(req, n < 0 ? errno : ENOMEM);
		free(buf);
		return;
	}
	reply_value(req, buf, shown_names(buf, (size_t)n), size);
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

/* An ACL, as the kernel takes it (fs_acl_for_kernel). */
static void acl_getxattr(fuse_req_t req, struct strata_union *u, struct inode *in,
                         enum acl_kind kind, size_t size)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	const void *value;
	size_t len = 0;
	int rc = 0;

	if (inode_in_upper(in)) {
		struct upper_ref ref;
		char path[64];

		rc = fs_upper_ref_get(u, in, &ref);
		if (!rc) {
			fs_upper_fd_path(ref.fd, path, sizeof(path));
			rc = fs_acl_read(path, kind, buf, sizeof(buf), &len, NULL);
		}
		fs_upper_ref_put(&ref);
	} else if (!layer_xattr_get(union_layer(u, &in->srcs[0]), in->srcs[0].node,
	                            fs_acl_xattr_name(kind), &value, &len)) {
		rc = ENODATA;
	} else if (len > sizeof(buf)) {
		rc = E2BIG;
	} else {
		memcpy(buf, value, len);
	}
	if (rc)
		fuse_reply_err(req, rc);
	else
		reply_value(req, buf, fs_acl_for_kernel(buf, len), size);
}

bool fs_union_no_xattrs(const struct strata_union *u)
{
	for (uint32_t i = 0; i < u->n_layers; i++)
		if (!u->layers[i]->no_xattrs)
			return false;
	return true;
}

/*
 * A read-only union without a single xattr answers ENOSYS: the kernel
 * then remembers the filesystem has none and stops asking, where ENODATA
 * costs a round trip per name per file, every time (`ls -l` asks two per
 * file: 2,000 requests for a 1,000-entry directory, the only ones it
 * sends warm).  Callers see EOPNOTSUPP, as on a filesystem without xattr
 * support; tools that copy xattrs (cp -a, tar --xattrs, rsync -X) take
 * that as "none".
 */
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in;
	const void *value;
	size_t vsize;
	int kind = fs_acl_kind(name);

	if (u->no_xattrs) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	in = fs_inode_peek(u, ino, &tmp);
	if (!in)
		fuse_reply_err(req, ESTALE);
	else if (inode_bare(in))
		fuse_reply_err(req, ENODATA);
	else if (kind >= 0)
		acl_getxattr(req, u, in, (enum acl_kind)kind, size);
	else if (inode_in_upper(in))
		on_upper(req, u, in, upper_getxattr, name, size);
	else if (layer_xattr_get(union_layer(u, &in->srcs[0]), in->srcs[0].node, name, &value,
	                         &vsize))
		reply_value(req, value, vsize, size);
	else
		fuse_reply_err(req, ENODATA);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino, &tmp);
	const struct strata_layer *l;
	const char *xname;
	const void *value;
	size_t vsize, total = 0;
	char *buf = NULL;
	int saverr = 0;

	if (u->no_xattrs || !in) {
		fuse_reply_err(req, in ? ENOSYS : ESTALE);
		return;
	}
	if (inode_bare(in)) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
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
	atomic_fetch_and(&in->state, (uint16_t)~INODE_BARE);
	fs_upper_fd_path(ref.fd, path, sizeof(path));
	if ((value ? setxattr(path, name, value, size, flags) : removexattr(path, name)) < 0)
		rc = errno;
	fs_upper_ref_put(&ref);
	return rc;
}

/*
 * setxattr(2) or removexattr(2) of an ACL (the kernel has checked that
 * it is valid, that the caller owns the object, and that only a directory
 * gets a default ACL).  An access ACL sets the mode, as it does on any
 * file system; one the mode says all of is kept as the mode alone.
 */
static int change_acl(struct strata_union *u, struct inode *in, enum acl_kind kind,
                      const void *value, size_t size)
{
	struct upper_ref ref;
	struct acl a;
	struct stat st;
	char path[64];
	mode_t perm;
	const void *v;
	size_t n;
	int rc = value ? fs_acl_decode(value, size, &a) : 0;

	if (rc)
		return rc;
	/* Removing what a lower object does not have changes nothing. */
	if (!value && !inode_in_upper(in) &&
	    !layer_xattr_get(union_layer(u, &in->srcs[0]), in->srcs[0].node,
	                     fs_acl_xattr_name(kind), &v, &n))
		return 0;
	rc = fs_upper_copy_up(u, in);
	if (!rc)
		rc = fs_upper_ref_get(u, in, &ref);
	if (rc)
		return rc;
	atomic_fetch_and(&in->state, (uint16_t)~INODE_BARE);
	fs_upper_fd_path(ref.fd, path, sizeof(path));
	if (kind == ACL_KIND_ACCESS && value) {
		bool equiv = fs_acl_mode(&a, &perm);

		rc = fs_acl_write(path, kind, equiv ? NULL : &a);
		if (!rc)
			rc = fs_inode_stat(u, in, &st);
		if (!rc)
			rc = fs_set_mode(in, ref.fd, (st.st_mode & 07000) | perm);
	} else {
		rc = fs_acl_write(path, kind, value ? &a : NULL);
	}
	fs_upper_ref_put(&ref);
	return rc;
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino);
	int kind = fs_acl_kind(name);

	if (!in)
		fuse_reply_err(req, ESTALE);
	else if (xattr_private(name))
		fuse_reply_err(req, EPERM);
	else if (kind >= 0)
		fuse_reply_err(req, change_acl(u, in, (enum acl_kind)kind, value, size));
	else
		fuse_reply_err(req, change_xattr(u, in, name, value ? value : "", size, flags));
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino);
	int kind = fs_acl_kind(name);

	if (!in)
		fuse_reply_err(req, ESTALE);
	else if (xattr_private(name))
		fuse_reply_err(req, ENODATA);
	else if (kind >= 0)
		fuse_reply_err(req, change_acl(u, in, (enum acl_kind)kind, NULL, 0));
	else
		fuse_reply_err(req, change_xattr(u, in, name, NULL, 0, 0));
}
