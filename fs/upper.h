/* SPDX-License-Identifier: MIT */
/*
 * The writable upper layer: a directory in OCI changeset form on top of the
 * lower layers (docs/upper-plan.md).  Private to libstrata-fs.
 *
 * Every access inside the upper directory is one name relative to an open
 * directory (…at() calls with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW): no path a
 * user chose is ever resolved from the upper's root, so symlinks in the
 * upper cannot lead the daemon out of it.  Objects are held by O_PATH fds,
 * which follow them across renames, for one operation at a time
 * (fs_upper_ref_get); between operations directories are found again
 * through upper_fds.c, files by name.
 *
 * Errors: every function here that can fail returns 0 or a positive errno,
 * as the FUSE ops that call them reply (never -1 or a negative errno).
 */
#ifndef STRATA_UPPER_H
#define STRATA_UPPER_H

#include <stdbool.h>
#include <sys/stat.h>

#include "union.h"

#define UPPER_WORK_NAME    ".wh..wh..strata"
#define UPPER_OPAQUE_NAME  ".wh..wh..opq"
#define UPPER_ORIGIN_XATTR "user.strata.origin"
/* On an upper directory renamed from a lower one: the lower path whose
 * content it still shows ("/usr/share/doc"), as overlayfs' redirect_dir. */
#define UPPER_REDIRECT_XATTR "user.strata.redirect"
/* Owner, mode and device a daemon without privilege could not make real
 * (meta.c, docs/xattrs.md). */
#define UPPER_META_XATTR "user.strata.meta"

/* ---- union_lookup.c ---- */

/* A name resolved through the upper and the lower layers. */
struct resolved {
	struct union_src srcs[UNION_MAX_LAYERS]; /* lower layers, top first */
	uint32_t n;
	int upper_fd; /* O_PATH, owned by the holder; -1 when not in the upper */
	struct stat upper_st;
	bool whiteout;       /* the upper hides the name (only when not found) */
	bool lower_exists;   /* a lower layer has the name: removing it needs a whiteout */
	uint64_t lower_ino;  /* then: its st_ino */
	uint32_t lower_mode; /* and its type */
};

static inline bool union_writable(const struct strata_union *u)
{
	return u->upper_root >= 0;
}

/* Resolves @name in @dir through every layer.  0 or ENOENT (r->whiteout
 * tells a hidden name from an absent one); r->upper_fd must be closed. */
int fs_union_lookup_full(struct strata_union *u, struct inode *dir, const char *name,
                         struct resolved *r);
void fs_resolved_clear(struct resolved *r);
/* The stable st_ino of what @r names. */
uint64_t fs_resolved_ino(struct strata_union *u, const struct resolved *r);
uint32_t fs_resolved_mode(struct strata_union *u, const struct resolved *r);

/* ---- upper.c: the upper directory and its objects ---- */

void fs_upper_close(struct strata_union *u);

/* An O_PATH fd on an inode's upper object for one operation: every use of
 * an inode's upper object goes through one (a directory's fd may be
 * evicted from the cache at any other time). */
struct upper_ref {
	int fd;
	bool owned;            /* opened for this reference: closed by put */
	_Atomic uint32_t *pin; /* a cached directory fd, kept open until put */
};

/* 0, ENOENT when @in has no upper object, ESTALE when it cannot be found
 * again, or the errno of opening it. */
int fs_upper_ref_get(struct strata_union *u, struct inode *in, struct upper_ref *ref);
void fs_upper_ref_put(struct upper_ref *ref);

/* ---- upper_fds.c: directories' upper objects ---- */

/* 0 or ENOMEM. */
int fs_upper_dirs_init(struct strata_union *u);
void fs_upper_dirs_free(struct upper_dirs *d);
/* Records @fd (O_PATH, taken over: cached or closed) as directory @dir's
 * upper object, of identity @st (NULL: fstat it), unless @dir has one by
 * now.  0 or errno. */
int fs_upper_dir_adopt(struct strata_union *u, struct inode *dir, int fd, const struct stat *st);
/* Directory @dir's upper object lost its name (rmdir, a rename over it)
 * while the kernel may still hold @dir (someone's cwd): it cannot be found
 * by name any more, so it keeps @fd (taken over) until it goes. */
void fs_upper_dir_orphan(struct strata_union *u, struct inode *dir, int fd);
/* fs_upper_ref_get for a directory. */
int fs_upper_dir_ref(struct strata_union *u, struct inode *dir, struct upper_ref *ref);

/* Attributes of an inode that has an upper object. */
int fs_upper_stat(struct strata_union *u, struct inode *in, struct stat *st);

/* ---- union.c: names and parents ---- */

/* The inode's parent, or NULL if the kernel no longer holds it. */
struct inode *fs_inode_parent(struct strata_union *u, struct inode *in);
/* The inode's name in its parent (a copy; NULL on ENOMEM or for the root). */
char *fs_inode_name(struct strata_union *u, struct inode *in);
/* The path of @in's lower content ("/a/b"), for a redirect.  0 or errno. */
int fs_lower_path(struct strata_union *u, const struct inode *in, char *buf, size_t size);

/* ---- copy_up.c ---- */

/* Gives a directory, and its ancestors, an upper directory (copies of the
 * lower ones' attributes, not their contents).  0 or errno. */
int fs_upper_ensure_dir(struct strata_union *u, struct inode *dir);
/* Copies a lower file, symlink or special file up, data and metadata; a
 * directory as fs_upper_ensure_dir.  0 or errno. */
int fs_upper_copy_up(struct strata_union *u, struct inode *in);

/* mknodat, or for a device node a daemon may not make, a placeholder file
 * with the node's metadata in the xattr.  0 or errno. */
int fs_upper_mknod(int dirfd, const char *name, mode_t mode, dev_t rdev);

/* ---- upper_whiteout.c: whiteouts in @dirfd (an upper directory) ---- */

bool fs_upper_has_whiteout(int dirfd, const char *name);
bool fs_upper_can_whiteout(const char *name);
int fs_upper_add_whiteout(int dirfd, const char *name);
int fs_upper_remove_whiteout(int dirfd, const char *name);
bool fs_upper_is_opaque(int dirfd);
int fs_upper_make_opaque(int dirfd);

/* ---- upper.c ---- */

int fs_upper_set_redirect(int opath_fd, const char *path);

/* Opens the object behind an O_PATH fd for I/O into *@fd (-1 on failure). */
int fs_upper_reopen(int opath_fd, int flags, int *fd);
/* "/proc/self/fd/N" for the *xattr and chmod calls that take paths. */
void fs_upper_fd_path(int fd, char *buf, size_t size);

/* ---- upper_dir.c ---- */

/* A snapshot of a directory with an upper part: visible names, sorted. */
struct upper_listing {
	char **names;
	size_t n;
};

int fs_upper_dir_list(struct strata_union *u, struct inode *dir, struct upper_listing *out);
void fs_upper_listing_free(struct upper_listing *l);

/* ---- meta.c ---- */
struct upper_meta {
	bool valid;
	uid_t uid;
	gid_t gid;
	mode_t mode; /* with the file type */
	dev_t rdev;
};

int fs_meta_read(int opath_fd, struct upper_meta *m);
int fs_meta_write(int opath_fd, const struct upper_meta *m);
void fs_meta_apply(const struct upper_meta *m, struct stat *st);
/* Records what is given (NULL: keep), over what the object reports now. */
int fs_meta_set(int opath_fd, const uid_t *uid, const gid_t *gid, const mode_t *mode,
                const dev_t *rdev);

/* Names users may not create: the OCI format reserves ".wh.". */
static inline bool name_reserved(const char *name)
{
	return name[0] == '.' && name[1] == 'w' && name[2] == 'h' && name[3] == '.';
}

#endif
