/* SPDX-License-Identifier: MIT */
/*
 * The FUSE operations: ll.c (lookup, attributes, reading, listing) and
 * ll_write.c (everything that changes the upper layer).  Private to
 * libstrata-fs; userdata is the struct strata_union.
 *
 * Errors: the helpers here, and everything the ops call in fs/, return 0
 * or a positive errno, which goes to fuse_reply_err as it is.
 */
#ifndef STRATA_LL_H
#define STRATA_LL_H

#include <fuse_lowlevel.h>

#include "union.h"

/* Lower layers are immutable: the kernel may cache them for a day. */
#define LOWER_TIMEOUT 86400.0
/* Upper objects change only through us; see ll.c's fill_entry. */
#define UPPER_TIMEOUT 1.0

extern const struct fuse_lowlevel_ops strata_ll_ops;

/*
 * The flags an upper file is opened with for @fi, and what O_DIRECT means
 * on the mount: the kernel sends every read and write of that open file
 * straight to the daemon (direct_io: no page cache of the mount's, any
 * size and offset), and the backing file is opened without O_DIRECT, whose
 * alignment rules the daemon's buffers do not meet (a dd oflag=direct
 * failed with EINVAL and left an empty file).  The upper's own page cache
 * stands between, as with fuse-overlayfs: fsync still makes data durable.
 */
static inline int fs_backing_flags(struct fuse_file_info *fi)
{
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	return fi->flags & ~O_DIRECT;
}

struct strata_union *fs_union_of(fuse_req_t req);
/* The inode node id @ino names (stateless.c): the table's, or for a lower
 * id without one, one made now (an operation that changes the file or
 * keeps something about it).  NULL only on ENOMEM or an id never given. */
struct inode *fs_inode_of(struct strata_union *u, fuse_ino_t ino);
/* The same for an operation that only reads: a lower id without an inode
 * gets a temporary one in @tmp, and the table none. */
struct inode *fs_inode_peek(struct strata_union *u, fuse_ino_t ino, union inode_tmp *tmp);
/* The live inode of @ino (not a gone one), made for a lower id the kernel
 * holds without one.  NULL if none (an id the kernel does not hold). */
struct inode *fs_inode_held(struct strata_union *u, uint64_t ino);
int fs_inode_stat(struct strata_union *u, struct inode *in, struct stat *st);
/* Where a file opened without an upper fd (fh 0) has its data: a lower
 * file, or the origin of one whose metadata alone was copied up.  False
 * when it is the upper file's. */
bool fs_inode_data_src(struct strata_union *u, struct inode *in, struct union_src *src);

/* ---- open_file.c: open files' handles ---- */

/* Makes @fi a pending handle: the lower file is copied up at the first
 * write, then opened with @flags.  0 or ENOMEM. */
int fs_fh_pending(struct fuse_file_info *fi, int flags);
/* The upper fd to read or write @in through (-1: read the layer's data).
 * For @write, the file is copied up (a pending handle's) and given its
 * data (a metacopy file's) first.  0 or errno. */
int fs_fh_fd(struct strata_union *u, struct inode *in, const struct fuse_file_info *fi, bool write,
             int *fd);
void fs_fh_release(struct fuse_file_info *fi);
/* lseek(2)'s SEEK_DATA / SEEK_HOLE in a layer's file: 0 or errno. */
int fs_layer_seek(const struct strata_layer *l, uint64_t node, off_t off, int whence, off_t *out);
/* Resolves @name in @dir and takes a lookup reference on the result. */
int fs_do_lookup(struct strata_union *u, struct inode *dir, const char *name,
                 struct fuse_entry_param *e);
/* The same, giving the inode (FUSE_ROOT_ID's is u->root). */
int fs_lookup_ref(struct strata_union *u, struct inode *dir, const char *name, struct inode **out);

/* export.c: the inode node id @ino names, found again if the kernel
 * forgot it, and a directory's parent; each with a reference.  ESTALE
 * when it is gone. */
int fs_export_find(struct strata_union *u, uint64_t ino, struct inode **out);
int fs_export_parent(struct strata_union *u, struct inode *dir, struct inode **out);
/* Learns the generation of @in, born in the upper layer, from its object
 * (@upper_fd, O_PATH).  0 or errno. */
int fs_export_learn_generation(struct inode *in, int upper_fd);

/* xattr.c */
/* No layer of @u holds an xattr (xattr.c). */
bool fs_union_no_xattrs(const struct strata_union *u);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* ll_write.c, and xattr.c for setxattr and removexattr */
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                     struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/* chmod of @in's upper object (@fd), as setattr does it: the mode, and an
 * access ACL kept in a record follows (acl_upper.c). */
int fs_set_mode(struct inode *in, int fd, mode_t mode);
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                           struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                           struct fuse_file_info *fi_out, size_t len, int flags);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                     struct fuse_file_info *fi);

#endif
