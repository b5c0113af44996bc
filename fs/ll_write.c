/* SPDX-License-Identifier: MIT */
/*
 * FUSE operations that change the tree: they act on the upper layer only,
 * copying lower objects up first and leaving OCI whiteouts where a lower
 * name goes away.  The mount is read-only without an upper layer, so the
 * kernel never sends these then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "atime.h"
#include "ll.h"
#include "sys.h"
#include "upper.h"

/* ---- making names ---- */

/* Checks that @name may be made in @dir and gives @dir an upper directory,
 * referenced in *@dref (to be put, whatever the result).  *hidden tells
 * whether a whiteout hid a lower object of that name. */
static int prepare_new(struct strata_union *u, struct inode *dir, const char *name,
                       struct upper_ref *dref, bool *hidden)
{
	struct resolved r;
	int rc;

	*dref = (struct upper_ref){-1, false, NULL};
	if (name_reserved(name))
		return EINVAL; /* the OCI format reserves ".wh." */
	if (!dir)
		return ESTALE;
	if (!S_ISDIR(dir->mode))
		return ENOTDIR;
	rc = fs_union_lookup_full(u, dir, name, &r);
	if (rc == 0) {
		fs_resolved_clear(&r);
		return EEXIST;
	}
	if (rc != ENOENT)
		return rc;
	rc = fs_upper_ensure_dir(u, dir);
	if (rc)
		return rc;
	*hidden = r.whiteout;
	rc = fs_upper_ref_get(u, dir, dref);
	return rc ? rc : fs_upper_free_name(dref->fd, name, r.whiteout);
}

static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n = fuse_req_getgroups(req, 64, groups);

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * What a new object shows, as the kernel would make it: the caller's, with
 * the group of a setgid directory (and, for a directory, its setgid bit),
 * and no setgid bit on a file whose group the caller is not in.
 */
static int new_meta(fuse_req_t req, int dirfd, mode_t mode, dev_t rdev, struct upper_meta *m)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dir;
	int rc = fs_meta_stat(dirfd, &dir);

	if (rc)
		return rc;
	*m = (struct upper_meta){true, ctx->uid, ctx->gid, mode, rdev};
	if (dir.st_mode & S_ISGID) {
		m->gid = dir.st_gid;
		if (S_ISDIR(mode))
			m->mode |= S_ISGID;
	}
	if (S_ISREG(mode) && (mode & S_ISGID) && !caller_in_group(req, m->gid))
		m->mode &= ~(mode_t)S_ISGID;
	if (S_ISLNK(mode))
		m->mode = S_IFLNK | 0777;
	return 0;
}

/* Gives the new object @name the metadata @m; a failure takes the object
 * away again, so a failed operation leaves nothing behind. */
static int own_new(int dirfd, const char *name, const struct upper_meta *m)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc;

	/* (Out of fds here, as under a low ulimit, is a failure too.) */
	rc = fd < 0 ? errno : fs_meta_init(fd, m);
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(dirfd, name, S_ISDIR(m->mode) ? AT_REMOVEDIR : 0);
	return rc;
}

/* own_new of a file just created as @fd: no second open of it. */
static int own_new_file(int fd, int dirfd, const char *name, const struct upper_meta *m)
{
	int rc = fs_meta_init(fd, m);

	if (rc)
		unlinkat(dirfd, name, 0);
	return rc;
}

/* A new name made in the upper, and the operation failed after making
 * it: the name goes (with what mkdir put in it), and the whiteout it
 * replaced comes back, so that nothing is left of it. */
static void undo_new(int dirfd, const char *name, bool hidden)
{
	char marker[NAME_MAX + sizeof("/" UPPER_OPAQUE_NAME)];
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		/* Made here a moment ago, so not a symlink: the path stays in it. */
		snprintf(marker, sizeof(marker), "%s/%s", name, UPPER_OPAQUE_NAME);
		(void)unlinkat(dirfd, marker, 0);
		(void)unlinkat(dirfd, name, AT_REMOVEDIR);
	} else {
		(void)unlinkat(dirfd, name, 0);
	}
	if (hidden)
		(void)fs_upper_add_whiteout(dirfd, name);
}

/* The new name is in place: the whiteout it replaces goes, and the kernel
 * learns the entry (into @e), INODE_BARE when @bare (a new object without
 * any xattr).  On failure the name is undone. */
static int finish_new(struct strata_union *u, struct inode *dir, int dirfd, const char *name,
                      bool hidden, bool bare, struct fuse_entry_param *e)
{
	int rc = fs_upper_remove_whiteout(dirfd, name);
	struct inode *in;

	if (!rc)
		rc = fs_do_lookup(u, dir, name, e);
	if (rc)
		undo_new(dirfd, name, hidden);
	/* The kernel holds @dir's lock for writing: nothing else reached the
	 * new object yet. */
	else if (bare && (in = fs_inode_table_find(&u->table, e->ino)))
		atomic_fetch_or(&in->state, INODE_BARE);
	return rc;
}

static void reply_new(fuse_req_t req, int saverr, const struct fuse_entry_param *e)
{
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_entry(req, e);
}

/* A new object's mode: narrowed by its parent's default ACL, or without
 * one by the caller's umask (the kernel leaves both to us: FUSE_CAP_DONT_MASK
 * with FUSE_CAP_POSIX_ACL).  Fills @inh with the ACLs it then inherits. */
static int new_mode(fuse_req_t req, const struct inode *dir, int dirfd, mode_t type, mode_t *mode,
                    struct acl_inherit *inh)
{
	if (inode_bare(dir)) { /* no default ACL */
		*inh = (struct acl_inherit){0};
		if (!S_ISLNK(type))
			*mode &= ~fuse_req_ctx(req)->umask;
		return 0;
	}
	return fs_acl_new_mode(dirfd, type, mode, fuse_req_ctx(req)->umask, inh);
}

/* Whether a new object gets no xattr at all: nothing inherited. */
static bool inherits_nothing(const struct acl_inherit *inh)
{
	return !inh->access && !inh->dflt;
}

/* Gives the new @name the ACLs it inherits; when that fails, @name goes,
 * so the failed operation leaves nothing behind. */
static int inherit(int dirfd, const char *name, bool is_dir, struct acl_inherit *inh)
{
	int rc = fs_acl_inherit(dirfd, name, inh);

	fs_acl_inherit_free(inh);
	if (rc)
		(void)unlinkat(dirfd, name, is_dir ? AT_REMOVEDIR : 0);
	return rc;
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, parent);
	struct acl_inherit inh = {0};
	struct fuse_entry_param e;
	struct upper_meta m;
	struct upper_ref dref;
	bool hidden;
	bool bare;
	int saverr = prepare_new(u, dir, name, &dref, &hidden);

	if (!saverr)
		saverr = new_mode(req, dir, dref.fd, mode & S_IFMT, &mode, &inh);
	bare = inherits_nothing(&inh);
	if (!saverr)
		saverr = new_meta(req, dref.fd, mode, rdev, &m);
	if (!saverr)
		saverr = fs_meta_mknod(dref.fd, name, &m, NULL);
	if (!saverr)
		saverr = own_new(dref.fd, name, &m);
	if (!saverr)
		saverr = inherit(dref.fd, name, false, &inh);
	if (!saverr)
		saverr = finish_new(u, dir, dref.fd, name, hidden, bare, &e);
	fs_acl_inherit_free(&inh);
	fs_upper_ref_put(&dref);
	reply_new(req, saverr, &e);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, parent);
	struct fuse_entry_param e;
	struct upper_meta m;
	struct upper_ref dref;
	bool hidden;
	int saverr = prepare_new(u, dir, name, &dref, &hidden);

	if (!saverr)
		saverr = new_meta(req, dref.fd, S_IFLNK, 0, &m);
	if (!saverr)
		saverr = fs_meta_mknod(dref.fd, name, &m, link);
	if (!saverr)
		saverr = own_new(dref.fd, name, &m);
	if (!saverr)
		saverr = finish_new(u, dir, dref.fd, name, hidden, true, &e);
	fs_upper_ref_put(&dref);
	reply_new(req, saverr, &e);
}

/* Over a deleted lower directory: the new one must not show its old
 * contents, so it is opaque. */
static int make_opaque_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = fd < 0 ? errno : fs_upper_make_opaque(fd);

	if (fd >= 0)
		close(fd);
	return rc;
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, parent);
	struct acl_inherit inh = {0};
	struct fuse_entry_param e;
	struct upper_meta m;
	struct upper_ref dref;
	bool hidden;
	bool bare;
	int saverr = prepare_new(u, dir, name, &dref, &hidden);

	if (!saverr)
		saverr = new_mode(req, dir, dref.fd, S_IFDIR, &mode, &inh);
	bare = inherits_nothing(&inh);
	if (!saverr)
		saverr = new_meta(req, dref.fd, S_IFDIR | (mode & 07777), 0, &m);
	if (!saverr && mkdirat(dref.fd, name, fs_meta_real_mode(m.mode)) < 0)
		saverr = errno;
	if (!saverr)
		saverr = own_new(dref.fd, name, &m);
	if (!saverr)
		saverr = inherit(dref.fd, name, true, &inh);
	if (!saverr) {
		if (hidden && (saverr = make_opaque_at(dref.fd, name)))
			undo_new(dref.fd, name, hidden);
		else
			saverr = finish_new(u, dir, dref.fd, name, hidden, bare, &e);
	}
	fs_acl_inherit_free(&inh);
	fs_upper_ref_put(&dref);
	reply_new(req, saverr, &e);
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, parent);
	struct acl_inherit inh = {0};
	struct fuse_entry_param e;
	struct upper_meta m;
	struct upper_ref dref;
	bool hidden;
	bool bare;
	int fd = -1, saverr = prepare_new(u, dir, name, &dref, &hidden);

	if (!saverr)
		saverr = new_mode(req, dir, dref.fd, S_IFREG, &mode, &inh);
	bare = inherits_nothing(&inh);
	if (!saverr)
		saverr = new_meta(req, dref.fd, S_IFREG | (mode & 07777), 0, &m);
	if (saverr)
		goto out;
	fd = openat(dref.fd, name,
	            (fs_backing_flags(fi) & ~O_TRUNC) | fs_atime_open_flag(u, -1, false) | O_CREAT |
	                O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            fs_meta_real_mode(m.mode));
	if (fd < 0) {
		saverr = errno;
		goto out;
	}
	saverr = own_new_file(fd, dref.fd, name, &m);
	if (!saverr)
		saverr = inherit(dref.fd, name, false, &inh);
	if (!saverr)
		saverr = finish_new(u, dir, dref.fd, name, hidden, bare, &e);
out:
	fs_acl_inherit_free(&inh);
	fs_upper_ref_put(&dref);
	if (saverr) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, saverr);
		return;
	}
	fi->fh = (uint64_t)fd + 1;
	fuse_reply_create(req, &e, fi);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino), *dir = fs_inode_of(u, parent);
	struct upper_ref ref = {-1, false, NULL}, dref;
	struct fuse_entry_param e;
	char path[64];
	bool hidden;
	int saverr = prepare_new(u, dir, name, &dref, &hidden);

	if (!saverr && !in)
		saverr = ESTALE;
	if (!saverr) /* a metacopy file's links share its upper file, data to come */
		saverr = fs_upper_copy_up_meta(u, in);
	if (!saverr)
		saverr = fs_upper_ref_get(u, in, &ref);
	if (!saverr) {
		fs_upper_fd_path(ref.fd, path, sizeof(path));
		if (linkat(AT_FDCWD, path, dref.fd, name, AT_SYMLINK_FOLLOW) < 0)
			saverr = errno;
	}
	fs_upper_ref_put(&ref);
	if (!saverr)
		saverr = finish_new(u, dir, dref.fd, name, hidden, false, &e);
	fs_upper_ref_put(&dref);
	reply_new(req, saverr, &e);
}

/* ---- removing names ---- */

/* After @r's upper object lost a name: once it has none, the upper file
 * system may give its inode number to the next new file, so the inode we
 * keep for it must not be found under that number again. */
static void forget_if_gone(struct strata_union *u, struct resolved *r)
{
	struct inode *in;
	struct stat st;

	/* The kernel may still hold it (an open file, another hard link, a
	 * directory someone is in): it cannot be found by this name any
	 * more, so it keeps an fd. */
	in = r->upper_fd >= 0 ? fs_inode_table_find(&u->table, fs_resolved_ino(u, r)) : NULL;
	if (in) {
		int expected = UPPER_BY_NAME, fd = dup(r->upper_fd);

		if (fd >= 0 && S_ISDIR(in->mode))
			fs_upper_dir_orphan(u, in, fd);
		else if (fd >= 0 && !atomic_compare_exchange_strong(&in->upper_fd, &expected, fd))
			close(fd);
	}

	if (r->upper_fd < 0 || fstatat(r->upper_fd, "", &st, AT_EMPTY_PATH) < 0 ||
	    (st.st_nlink > 0 && !S_ISDIR(st.st_mode)))
		return;
	in = fs_inode_table_find(&u->table, fs_resolved_ino(u, r));
	if (in && inode_in_upper(in))
		fs_inode_table_unhash(&u->table, in);
}

/* Is the directory @r names empty as the union shows it? */
static int union_dir_empty(struct strata_union *u, struct resolved *r, bool *empty)
{
	struct inode *tmp = fs_inode_new(0, 0, S_IFDIR, r->srcs, r->n);
	struct upper_listing l = {0};
	uint64_t n = 0;
	int rc;

	if (!tmp)
		return ENOMEM;
	if (r->upper_fd >= 0) {
		atomic_store(&tmp->upper_fd, dup(r->upper_fd));
		rc = fs_upper_dir_list(u, tmp, false, &l);
		n = l.n;
		fs_upper_listing_free(&l);
	} else {
		rc = fs_union_dir_size(u, tmp, &n);
		for (uint64_t i = 0, all = n; !rc && i < all; i++) {
			struct union_src s = fs_union_dir_entry(u, tmp, i);

			if (union_layer(u, &s)->ops->flags(union_layer(u, &s), s.node) &
			    LAYER_WHITEOUT)
				n--;
		}
	}
	fs_inode_free(tmp);
	*empty = n == 0;
	return rc;
}

/* An upper directory the union shows as empty may still hold whiteouts
 * and an opaque marker; they go before the directory can. */
static int clear_hidden(int dirfd)
{
	DIR *d = sys_opendir_at(dirfd);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno;
	while (!rc && (de = readdir(d))) {
		bool chr = de->d_type == DT_CHR && fs_upper_chr_whiteout_at(dirfd, de->d_name);

		if ((chr || name_reserved(de->d_name)) && unlinkat(dirfd, de->d_name, 0) < 0)
			rc = errno;
	}
	closedir(d);
	return rc;
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, bool want_dir)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, parent);
	struct upper_ref dref = {-1, false, NULL};
	struct resolved r;
	bool empty = true;
	int dirfd, saverr;

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	saverr = fs_union_lookup_full(u, dir, name, &r);
	if (saverr)
		goto out;
	if (S_ISDIR(fs_resolved_mode(u, &r)) != want_dir) {
		saverr = want_dir ? ENOTDIR : EISDIR;
		goto out_clear;
	}
	if (want_dir && ((saverr = union_dir_empty(u, &r, &empty)) || !empty)) {
		saverr = saverr ? saverr : ENOTEMPTY;
		goto out_clear;
	}
	if (r.lower_exists && !fs_upper_can_whiteout(name)) {
		saverr = ENAMETOOLONG; /* decided before anything changes */
		goto out_clear;
	}
	saverr = fs_upper_ensure_dir(u, dir);
	if (!saverr)
		saverr = fs_upper_ref_get(u, dir, &dref);
	if (saverr)
		goto out_clear;
	dirfd = dref.fd;
	if (r.upper_fd >= 0) {
		if (want_dir)
			saverr = clear_hidden(r.upper_fd);
		if (!saverr && unlinkat(dirfd, name, want_dir ? AT_REMOVEDIR : 0) < 0)
			saverr = errno;
		if (!saverr)
			forget_if_gone(u, &r);
	}
	/* A lower object of that name stays hidden. */
	if (!saverr && r.lower_exists)
		saverr = fs_upper_add_whiteout(dirfd, name);
out_clear:
	fs_upper_ref_put(&dref);
	fs_resolved_clear(&r);
out:
	fuse_reply_err(req, saverr);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* ---- rename ---- */

static void set_name(struct strata_union *u, struct inode *in, struct inode *dir, const char *name)
{
	char *copy = strdup(name);

	pthread_mutex_lock(inode_lock(u, in));
	if (copy) {
		free(in->name);
		in->name = copy;
	}
	fs_inode_table_reparent(&u->table, in, dir);
	pthread_mutex_unlock(inode_lock(u, in));
}

/* The inode the kernel holds for @r (it looks names up before renaming),
 * made now for a lower file it holds without one: the move changes what
 * the kernel's id names.  NULL (ESTALE: the kernel looks the name up again
 * and retries) when the kernel's entry is older than the name's object. */
static struct inode *held_inode(struct strata_union *u, struct resolved *r)
{
	uint64_t ino = fs_resolved_ino(u, r);

	return r->upper_fd < 0 ? fs_inode_held(u, ino) : fs_inode_table_find(&u->table, ino);
}

struct rename_args {
	struct inode *dir, *newdir;
	const char *name, *newname;
	unsigned int flags;
	struct resolved src, dst;
	bool dst_exists;
};

static int rename_check(struct strata_union *u, struct rename_args *a)
{
	bool src_dir = S_ISDIR(fs_resolved_mode(u, &a->src)), empty;
	int rc;

	if (a->dst_exists && (a->flags & RENAME_NOREPLACE))
		return EEXIST;
	if (!a->dst_exists && (a->flags & RENAME_EXCHANGE))
		return ENOENT;
	if (a->src.lower_exists && !(a->flags & RENAME_EXCHANGE) && !fs_upper_can_whiteout(a->name))
		return ENAMETOOLONG; /* the old name could not be whited out */
	if (!a->dst_exists || (a->flags & RENAME_EXCHANGE))
		return 0;
	if (src_dir && !S_ISDIR(fs_resolved_mode(u, &a->dst)))
		return ENOTDIR;
	if (!src_dir && S_ISDIR(fs_resolved_mode(u, &a->dst)))
		return EISDIR;
	if (src_dir) {
		rc = union_dir_empty(u, &a->dst, &empty);
		if (rc || !empty)
			return rc ? rc : ENOTEMPTY;
		if (a->dst.upper_fd >= 0)
			return clear_hidden(a->dst.upper_fd);
	}
	return 0;
}

/*
 * A directory with lower content moves without copying it: its upper copy
 * records where that content is (a redirect), and shows it from there under
 * any name.  One that already has a redirect keeps it.
 */
static int keep_lower_content(struct strata_union *u, struct inode *in)
{
	char path[PATH_MAX], cur[8];
	char fdpath[64];
	struct upper_ref ref;
	int rc;

	if (!S_ISDIR(in->mode) || in->n_srcs == 0)
		return 0;
	if ((rc = fs_upper_ref_get(u, in, &ref)))
		return rc;
	fs_upper_fd_path(ref.fd, fdpath, sizeof(fdpath));
	if (getxattr(fdpath, UPPER_REDIRECT_XATTR, cur, sizeof(cur)) > 0 || errno == ERANGE)
		rc = 0;
	else if (fs_lower_path(u, in, path, sizeof(path)))
		rc = ENAMETOOLONG;
	else
		rc = fs_upper_set_redirect(ref.fd, path);
	fs_upper_ref_put(&ref);
	return rc;
}

/* A directory that lands on a name a lower directory has (or had) must not
 * show that one's contents: it is made opaque, unless it shows the lower
 * content it came with (a redirect), which opacity does not touch. */
static int seal_dir(int dirfd, const char *name, bool lower_there)
{
	int fd, rc;

	if (!lower_there)
		return 0;
	fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	rc = fs_upper_make_opaque(fd);
	close(fd);
	return rc;
}

/* The rename itself: the upper and the names the inodes record change
 * together, as the walks of upper_fds.c expect. */
static int rename_upper(struct strata_union *u, struct rename_args *a, int sfd, int dfd,
                        struct inode *src_in, struct inode *dst_in)
{
	int rc = 0;

	pthread_rwlock_wrlock(&u->names_lock);
	if (renameat2(sfd, a->name, dfd, a->newname, a->flags) < 0) {
		rc = errno;
	} else {
		set_name(u, src_in, a->newdir, a->newname);
		if (dst_in)
			set_name(u, dst_in, a->dir, a->name);
	}
	pthread_rwlock_unlock(&u->names_lock);
	return rc;
}

/* What the old and new names leave behind in the upper. */
static int rename_finish(struct strata_union *u, struct rename_args *a, int sfd, int dfd)
{
	bool src_dir = S_ISDIR(fs_resolved_mode(u, &a->src));
	int rc;

	if (a->dst_exists && !(a->flags & RENAME_EXCHANGE))
		forget_if_gone(u, &a->dst);
	if (!(a->flags & RENAME_EXCHANGE)) {
		/* The old name's lower object stays hidden; the new name's
		 * whiteout goes. */
		if (a->src.lower_exists && (rc = fs_upper_add_whiteout(sfd, a->name)))
			return rc;
		if ((rc = fs_upper_remove_whiteout(dfd, a->newname)))
			return rc;
		if (src_dir &&
		    (rc = seal_dir(dfd, a->newname, a->dst.whiteout || a->dst.lower_exists)))
			return rc;
	} else {
		if (S_ISDIR(fs_resolved_mode(u, &a->dst)) &&
		    (rc = seal_dir(sfd, a->name, a->src.lower_exists)))
			return rc;
		if (src_dir && (rc = seal_dir(dfd, a->newname, a->dst.lower_exists)))
			return rc;
	}
	return 0;
}

static int do_rename(struct strata_union *u, struct rename_args *a)
{
	struct inode *src_in = held_inode(u, &a->src), *dst_in = NULL;
	struct upper_ref sref = {-1, false, NULL}, dref = {-1, false, NULL};
	int rc;

	if (!src_in)
		return ESTALE;
	rc = rename_check(u, a);
	if (!rc) /* a file's data is not needed to move it */
		rc = fs_upper_copy_up_meta(u, src_in);
	if (!rc && (a->flags & RENAME_EXCHANGE)) {
		dst_in = held_inode(u, &a->dst);
		rc = dst_in ? fs_upper_copy_up_meta(u, dst_in) : ESTALE;
	}
	if (!rc)
		rc = fs_upper_ensure_dir(u, a->newdir);
	if (!rc)
		rc = fs_upper_ensure_dir(u, a->dir);
	if (!rc)
		rc = keep_lower_content(u, src_in);
	if (!rc && dst_in)
		rc = keep_lower_content(u, dst_in);
	if (!rc)
		rc = fs_upper_ref_get(u, a->dir, &sref);
	if (!rc)
		rc = fs_upper_ref_get(u, a->newdir, &dref);
	if (!rc && !(a->flags & RENAME_EXCHANGE))
		rc = fs_upper_free_name(dref.fd, a->newname, a->dst.whiteout);
	if (!rc)
		rc = rename_upper(u, a, sref.fd, dref.fd, src_in, dst_in);
	if (!rc)
		rc = rename_finish(u, a, sref.fd, dref.fd);
	fs_upper_ref_put(&sref);
	fs_upper_ref_put(&dref);
	return rc;
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags)
{
	struct strata_union *u = fs_union_of(req);
	struct rename_args a = {
	    .dir = fs_inode_of(u, parent),
	    .newdir = fs_inode_of(u, newparent),
	    .name = name,
	    .newname = newname,
	    .flags = flags,
	};
	int saverr, rc;

	a.dst.upper_fd = -1;
	if (name_reserved(newname) || (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))) {
		saverr = EINVAL;
		goto out;
	}
	if (!a.dir || !a.newdir) {
		saverr = ESTALE;
		goto out;
	}
	saverr = fs_union_lookup_full(u, a.dir, name, &a.src);
	if (saverr)
		goto out;
	rc = fs_union_lookup_full(u, a.newdir, newname, &a.dst);
	if (rc && rc != ENOENT)
		saverr = rc;
	a.dst_exists = rc == 0;
	if (!saverr)
		saverr = do_rename(u, &a);
	fs_resolved_clear(&a.src);
	fs_resolved_clear(&a.dst);
out:
	fuse_reply_err(req, saverr);
}

/* ---- attributes and data ---- */

/* chmod, setfacl's too: the record (meta.c), then a stored ACL follows the
 * mode. */
int fs_set_mode(struct inode *in, int fd, mode_t mode)
{
	char path[64];
	int rc = fs_meta_change(fd, &mode, (uid_t)-1, (gid_t)-1);

	if (rc || S_ISLNK(in->mode) || inode_bare(in))
		return rc;
	fs_upper_fd_path(fd, path, sizeof(path));
	return fs_acl_follow_mode(path, mode);
}

static int apply_attrs(struct inode *in, int fd, struct stat *attr, int to_set, int fh_fd)
{
	char path[64];
	int rc;

	fs_upper_fd_path(fd, path, sizeof(path));
	/* chmod and chown (a chown clears set-id bits: the kernel sends both
	 * at once) are one change of the record. */
	if ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    (rc = fs_meta_change(fd, (to_set & FUSE_SET_ATTR_MODE) ? &attr->st_mode : NULL,
	                         (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
	                         (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1)))
		return rc;
	if ((to_set & FUSE_SET_ATTR_MODE) && !S_ISLNK(in->mode) && !inode_bare(in) &&
	    (rc = fs_acl_follow_mode(path, attr->st_mode)))
		return rc;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		int rc =
		    fh_fd >= 0 ? ftruncate(fh_fd, attr->st_size) : truncate(path, attr->st_size);

		if (rc < 0)
			return errno;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(AT_FDCWD, path, ts, 0) < 0)
			return errno;
	}
	return 0;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *in = fs_inode_of(u, ino);
	struct upper_ref ref = {-1, false, NULL};
	struct stat st;
	/* Only a change of size needs data, and only what stays. */
	int saverr = !in ? ESTALE
	             : (to_set & FUSE_SET_ATTR_SIZE)
	                 ? fs_upper_copy_up_trunc(u, in, (uint64_t)attr->st_size)
	                 : fs_upper_copy_up_meta(u, in);
	int fh_fd = -1;

	if (!saverr)
		saverr = fs_fh_fd(u, in, fi, false, &fh_fd);
	if (!saverr)
		saverr = fs_upper_ref_get(u, in, &ref);
	if (!saverr)
		saverr = apply_attrs(in, ref.fd, attr, to_set, fh_fd);
	fs_upper_ref_put(&ref);
	if (!saverr)
		saverr = fs_inode_stat(u, in, &st);
	if (saverr)
		fuse_reply_err(req, saverr);
	else
		fuse_reply_attr(req, &st, UPPER_TIMEOUT);
}

void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                     struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(bufv));
	struct strata_union *u = fs_union_of(req);
	ssize_t n;
	int rc, fd;

	if ((rc = fs_fh_fd(u, fs_inode_of(u, ino), fi, true, &fd)) || fd < 0) {
		fuse_reply_err(req, rc ? rc : EBADF);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, bufv, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_fh_release(fi);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	int rc, fd;

	/* Nothing written through a pending handle: nothing to sync. */
	if (u->no_sync)
		rc = 0;
	else if (!(rc = fs_fh_fd(u, fs_inode_peek(u, ino, &tmp), fi, false, &fd)) && fd >= 0)
		rc = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0;
	fuse_reply_err(req, rc);
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                     struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	int rc, fd;

	if (!(rc = fs_fh_fd(u, fs_inode_of(u, ino), fi, true, &fd)))
		rc = fd < 0 ? EBADF : fallocate(fd, mode, offset, length) < 0 ? errno : 0;
	fuse_reply_err(req, rc);
}

void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino, &tmp);
	off_t r;
	int fd, rc = fs_fh_fd(u, in, fi, false, &fd);

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (fd < 0 || inode_metacopy(in)) {
		/* A layer's file: its holes as the layer maps them.  (ENOSYS
		 * would turn lseek off for upper files too: the kernel
		 * remembers it per mount.) */
		struct union_src src;
		struct stat st;

		if (fs_inode_data_src(u, in, &src)) {
			rc = fs_layer_seek(union_layer(u, &src), src.node, off, whence, &r);
		} else if (!(rc = fs_inode_stat(u, in, &st))) {
			/* Opened before a copy-up: shown as all data. */
			r = whence == SEEK_DATA ? off : st.st_size;
			if (off < 0 || off >= st.st_size)
				rc = ENXIO;
		}
		if (rc)
			fuse_reply_err(req, rc);
		else
			fuse_reply_lseek(req, r);
		return;
	}
	r = lseek(fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                           struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                           struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct strata_union *u = fs_union_of(req);
	union inode_tmp tmp;
	struct inode *in = fs_inode_peek(u, ino_in, &tmp);
	ssize_t n;
	int rc, fd_in, fd_out;

	/* Only between two upper files with their data; otherwise the
	 * kernel copies itself. */
	rc = fs_fh_fd(u, in, fi_in, false, &fd_in);
	if (!rc && (fd_in < 0 || inode_metacopy(in)))
		rc = EOPNOTSUPP;
	if (!rc)
		rc = fs_fh_fd(u, fs_inode_of(u, ino_out), fi_out, true, &fd_out);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	n = copy_file_range(fd_in, &off_in, fd_out, &off_out, len, (unsigned int)flags);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct strata_union *u = fs_union_of(req);
	struct inode *dir = fs_inode_of(u, ino);
	struct upper_ref ref;
	int fd = -1, rc;

	(void)fi;
	if (!dir || !inode_in_upper(dir) ||
	    u->no_sync) { /* nothing of it is in the upper: nothing to sync */
		fuse_reply_err(req, 0);
		return;
	}
	rc = fs_upper_ref_get(u, dir, &ref);
	if (!rc)
		rc = fs_upper_reopen(ref.fd, O_RDONLY | O_DIRECTORY, &fd);
	fs_upper_ref_put(&ref);
	if (!rc && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		rc = errno;
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, rc);
}
