/* SPDX-License-Identifier: MIT */
/*
 * A name resolved through the upper layer and the lower stack: the upper's
 * object, if any, decides (a non-directory hides everything below, an
 * opaque or renamed directory stops or moves the merge); every question
 * about the lower layers is the stack's (stack.c).
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

void fs_resolved_clear(struct resolved *r)
{
	if (r->upper_fd >= 0)
		close(r->upper_fd);
	r->upper_fd = -1;
}

static bool read_redirect(int opath_fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	fs_upper_fd_path(opath_fd, path, sizeof(path));
	n = getxattr(path, UPPER_REDIRECT_XATTR, buf, size - 1);
	if (n <= 0 || buf[0] != '/')
		return false;
	buf[n] = '\0';
	return true;
}

/* The origin record of an upper object (not a symlink: no user xattrs). */
static void read_origin(const struct strata_union *u, struct resolved *r)
{
	uint64_t v[3];
	char path[64];
	ssize_t n;

	fs_upper_fd_path(r->upper_fd, path, sizeof(path));
	n = getxattr(path, UPPER_ORIGIN_XATTR, v, sizeof(v));
	r->has_origin = n > 0 && fs_union_origin_valid(u, v, (size_t)n);
	r->origin = r->has_origin ? v[0] : 0;
	r->metacopy = r->has_origin && n == 2 * sizeof(v[0]) && (v[1] & UPPER_ORIGIN_METACOPY) &&
	              S_ISREG(r->upper_st.st_mode);
}

/* The lower directories at @path, walked from the lower layers' root
 * alone: the upper's whiteouts hid the old name, not the content.  When
 * the lower content is gone there is nothing below to show. */
static int resolve_lower_path(struct strata_union *u, const char *path, struct resolved *r)
{
	struct stack s = union_stack(u);

	r->n = fs_stack_lower_dirs(&s, s.n, path, r->srcs);
	return 0;
}

/* @name is an overlay-form whiteout (upper_whiteout.c): hidden. */
static int chr_whiteout(struct strata_union *u, struct inode *dir, const char *name,
                        struct resolved *r)
{
	r->whiteout = fs_union_resolve(u, dir, name, strlen(name), r->srcs, &r->n) == 0;
	r->n = 0;
	return ENOENT;
}

/* fs_union_lookup_full in @dir, whose upper directory is @dirfd (-1: none). */
static int lookup_in(struct strata_union *u, struct inode *dir, int dirfd, const char *name,
                     struct resolved *r)
{
	char redirect[PATH_MAX];
	size_t len = strlen(name);
	int rc;

	if (dirfd >= 0 && !name_reserved(name)) {
		if (fstatat(dirfd, name, &r->upper_st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (fs_upper_is_chr_whiteout(&r->upper_st))
				return chr_whiteout(u, dir, name, r);
			r->upper_fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (r->upper_fd < 0)
				return errno;
			if (!S_ISLNK(r->upper_st.st_mode)) {
				struct upper_meta m;

				fs_meta_read(r->upper_fd, &m);
				fs_meta_apply(&m, &r->upper_st);
				read_origin(u, r);
			}
			/* A file hides everything below; a directory merges
			 * with lower directories unless it is opaque, or with
			 * the lower directory it was renamed from. */
			r->lower_exists = fs_union_resolve(u, dir, name, len, r->srcs, &r->n) == 0;
			if (r->lower_exists) {
				r->lower_ino = fs_union_ino(u, &r->srcs[0]);
				r->lower_mode = union_src_mode(u, &r->srcs[0]);
			}
			if (!S_ISDIR(r->upper_st.st_mode) ||
			    (r->n > 0 && !S_ISDIR(union_src_mode(u, &r->srcs[0]))))
				r->n = 0;
			if (S_ISDIR(r->upper_st.st_mode) &&
			    read_redirect(r->upper_fd, redirect, sizeof(redirect)))
				return resolve_lower_path(u, redirect, r);
			if (S_ISDIR(r->upper_st.st_mode) && fs_upper_is_opaque(r->upper_fd))
				r->n = 0;
			return 0;
		}
		if (errno != ENOENT && errno != ENAMETOOLONG)
			return errno;
	} else if (dirfd >= 0) {
		return ENOENT; /* reserved names never show */
	}
	rc = fs_union_resolve(u, dir, name, len, r->srcs, &r->n);
	r->lower_exists = rc == 0;
	/* A whiteout matters only over a lower object: a name new to every
	 * layer (each file an untar or a build makes) costs one fstatat, not
	 * two.  A stale one goes when the name is made (finish_new). */
	if (rc == 0 && dirfd >= 0 && fs_upper_has_whiteout(dirfd, name)) {
		r->whiteout = true;
		r->lower_exists = false; /* hidden: as if none */
		r->n = 0;
		return ENOENT;
	}
	return rc;
}

int fs_union_lookup_full(struct strata_union *u, struct inode *dir, const char *name,
                         struct resolved *r)
{
	struct upper_ref ref = {-1, false, NULL};
	int rc;

	r->n = 0;
	r->upper_fd = -1;
	r->whiteout = false;
	r->lower_exists = false;
	r->has_origin = false;
	r->metacopy = false;
	if (inode_in_upper(dir) && (rc = fs_upper_ref_get(u, dir, &ref)))
		return rc;
	rc = lookup_in(u, dir, ref.fd, name, r);
	fs_upper_ref_put(&ref);
	return rc;
}

uint32_t fs_resolved_mode(struct strata_union *u, const struct resolved *r)
{
	if (r->upper_fd >= 0)
		return r->upper_st.st_mode;
	return union_src_mode(u, &r->srcs[0]);
}

/*
 * st_ino: a lower object keeps its number (fs_union_ino); so does one copied
 * up, through the origin xattr written at copy-up, even once renamed; an
 * object born in the upper layer gets its upper inode number with the top
 * bit set, a range lower numbers never reach.
 */
uint64_t fs_resolved_ino(struct strata_union *u, const struct resolved *r)
{
	if (r->upper_fd < 0)
		return fs_union_ino(u, &r->srcs[0]);
	if (r->has_origin) /* read at lookup; a placeholder may have one */
		return r->origin;
	/* Real symlinks and special files cannot carry the origin xattr: one that
	 * replaced a lower object of its type (a copy-up, or a re-creation)
	 * takes its number.  Files and directories without an origin were
	 * born here, whatever name they have now. */
	if (r->lower_exists && !S_ISREG(r->upper_st.st_mode) && !S_ISDIR(r->upper_st.st_mode) &&
	    (r->lower_mode & S_IFMT) == (r->upper_st.st_mode & S_IFMT))
		return r->lower_ino;
	return (1ULL << 63) | (uint64_t)r->upper_st.st_ino;
}
