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

#define UPPER_WORK_NAME   ".wh..wh..strata"
#define UPPER_OPAQUE_NAME ".wh..wh..opq"
/* On an object copied up: the st_ino of the lower one (8 bytes, host
 * order), so it keeps its number; on a file whose data is still that lower
 * file's (a metadata-only copy-up), followed by a second word holding
 * UPPER_ORIGIN_METACOPY.  docs/xattrs.md. */
#define UPPER_ORIGIN_XATTR    "user.strata.origin"
#define UPPER_ORIGIN_METACOPY 0x1ULL
/* On an upper directory renamed from a lower one: the lower path whose
 * content it still shows ("/usr/share/doc"), as overlayfs' redirect_dir. */
#define UPPER_REDIRECT_XATTR "user.strata.redirect"
/* Owner, mode and device a daemon without privilege could not make real
 * (meta.c, docs/xattrs.md). */
#define UPPER_META_XATTR "user.strata.meta"
/* On the upper's root: no object below holds a UPPER_META_XATTR record
 * (meta.c, "records absent"). */
#define UPPER_NO_RECORDS_XATTR "user.strata.no-records"

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
	bool has_origin;     /* the upper object was copied up from origin */
	bool metacopy;       /* and its data is still origin's */
	uint64_t origin;
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
 * directory as fs_upper_ensure_dir.  A file whose metadata alone was
 * copied gets its data.  0 or errno. */
int fs_upper_copy_up(struct strata_union *u, struct inode *in);
/* As fs_upper_copy_up for a change of metadata only (owner, mode, times,
 * xattrs, a rename): with metacopy on (strata_union_set_metacopy), a file
 * of an image layer gets an upper file with its metadata and size but not
 * its data, which is read from the layer until the first write
 * (INODE_METACOPY).  0 or errno. */
int fs_upper_copy_up_meta(struct strata_union *u, struct inode *in);
/* As fs_upper_copy_up before truncating @in to @size: only the data that
 * stays is copied.  0 or errno. */
int fs_upper_copy_up_trunc(struct strata_union *u, struct inode *in, uint64_t size);

/* Names the unnamed (O_TMPFILE) file @fd @name in @dirfd.  0 or errno. */
int fs_upper_link_unnamed(int fd, int dirfd, const char *name);

/* ---- upper_whiteout.c: whiteouts in @dirfd (an upper directory) ---- */

bool fs_upper_has_whiteout(int dirfd, const char *name);
bool fs_upper_can_whiteout(const char *name);
int fs_upper_add_whiteout(int dirfd, const char *name);
int fs_upper_remove_whiteout(int dirfd, const char *name);
/* The marker or an overlay opaque xattr (fs_upper_path_opaque_xattr). */
bool fs_upper_is_opaque(int dirfd);
int fs_upper_make_opaque(int dirfd);
/* The overlay form's whiteout: a 0/0 character device. */
bool fs_upper_is_chr_whiteout(const struct stat *st);
bool fs_upper_chr_whiteout_at(int dirfd, const char *name);
/* Before @name is made in @dirfd: the overlay form's whiteout there, if
 * any, goes, and a .wh. file takes its place when it @hides a lower
 * object.  0 or errno. */
int fs_upper_free_name(int dirfd, const char *name, bool hides);
/* Whiteouts and opacity are written in the overlay form from now on. */
void fs_upper_set_overlay_form(bool on);
/* In the overlay form: sets overlayfs' xattr @what (trusted.overlay.@what,
 * else the rootless user.overlay.@what and user.fuseoverlayfs.@what) on
 * @opath_fd's object; else nothing.  0 or errno. */
int fs_upper_overlay_xattr(int opath_fd, const char *what, const char *value);
/* trusted.overlay.opaque, user.overlay.opaque or user.fuseoverlayfs.opaque
 * is "y" on @path. */
bool fs_upper_path_opaque_xattr(const char *path);
/* An xattr of overlayfs' or fuse-overlayfs' own, never shown. */
bool fs_upper_is_overlay_xattr(const char *name);

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

/* @reading: a listing the user reads, which may update the directory's
 * atime as the mount's options say (atime.c); else one the daemon takes
 * for itself, which never does. */
int fs_upper_dir_list(struct strata_union *u, struct inode *dir, bool reading,
                      struct upper_listing *out);
void fs_upper_listing_free(struct upper_listing *l);

/* ---- meta.c: owners, modes and types the upper cannot hold itself ---- */
struct upper_meta {
	bool valid;
	uid_t uid;
	gid_t gid;
	mode_t mode; /* with the file type */
	dev_t rdev;
};

/* The record's text ("uid:gid:mode:rdev") into *@m; false if damaged. */
bool fs_meta_parse(const char *text, size_t len, struct upper_meta *m);
int fs_meta_read(int opath_fd, struct upper_meta *m);
/* Once the daemon serves (its ids final: a container's daemon gets its
 * maps after it opened the union), on the upper's root (O_PATH, kept by
 * the union): whether its objects may hold records at all. */
void fs_meta_upper_open(int root_fd);
/* One setxattr of the whole record. */
int fs_meta_write(int opath_fd, const struct upper_meta *m);
void fs_meta_apply(const struct upper_meta *m, struct stat *st);
/* The object's attributes as the mount shows them: the record's over the
 * real ones. */
int fs_meta_stat(int opath_fd, struct stat *st);
/* The daemon is not root: the record holds every owner and mode. */
bool fs_meta_rootless(void);
/* Whether a new object of @mode is a placeholder file carrying its record:
 * symlinks, fifos, sockets and devices of a daemon that is not root. */
bool fs_meta_needs_placeholder(mode_t mode);
/* The permission bits to give a new upper object that should show @mode:
 * @mode's, or for a daemon that is not root, ones it can always reach. */
mode_t fs_meta_real_mode(mode_t mode);
/* A new object's owner and mode: made real where the daemon may, the rest
 * recorded; nothing written when it already shows @want. */
int fs_meta_init(int opath_fd, const struct upper_meta *want);
/* Makes the unnamed regular file @fd a placeholder for @m (a symlink's
 * @target as its content). */
int fs_meta_placeholder(int fd, const struct upper_meta *m, const char *target);
/* A new symlink (to @target), fifo, socket or device node, real or a
 * placeholder that appears with its record. */
int fs_meta_mknod(int dirfd, const char *name, const struct upper_meta *want, const char *target);
/* meta_layer.c: an object of a strata upper read as a layer (@path names
 * it, not followed), its @st stat'd: the record applied (fuse-overlayfs'
 * @override record where the layer uses one, else strata's), a placeholder
 * symlink's target into *@link (malloc'd), other placeholders empty.  0,
 * 1 when fuse-overlayfs' record gave the owner (its ids are on-disk ones,
 * as fuse-overlayfs maps them: uidmapping= applies), or -1 with errno (a
 * placeholder's target unreadable, or ENOMEM). */
int fs_meta_layer_apply(const char *override, const char *path, struct stat *st, char **link);
/* ---- meta_override.c: fuse-overlayfs' override_stat records ---- */
#define META_OVERRIDE_PRIVILEGED "security.fuseoverlayfs.override_stat"
#define META_OVERRIDE_CONTAINERS "user.containers.override_stat"
#define META_OVERRIDE_USER       "user.fuseoverlayfs.override_stat"
/* Which of the three a layer's root (@root_path) carries, in
 * fuse-overlayfs' order; NULL: none, the layer has no such records. */
const char *fs_meta_override_name(const char *root_path);
/* "uid:gid:mode[:TYPE]" into *@m, the type @real's where the text has
 * none; false if damaged. */
bool fs_meta_override_parse(const char *text, size_t len, mode_t real, struct upper_meta *m);
/* @m as fuse-overlayfs writes it; snprintf's count. */
int fs_meta_override_format(const struct upper_meta *m, char *buf, size_t size);
/* xattr_permissions=: 0, strata's records; 1 and 2, the upper keeps
 * fuse-overlayfs' (security.* and user.*) for every file and directory,
 * the real objects the daemon's.  Before fs_meta_upper_open. */
void fs_meta_set_override(int level);
/* Whether the object @opath_fd keeps its owner and mode in fuse-overlayfs'
 * record, never really (the form is on, and it is a file or directory). */
bool fs_meta_override_owns(int opath_fd);

/* readlink of an upper symlink or symlink placeholder; -1 with errno. */
ssize_t fs_meta_readlink(int opath_fd, char *buf, size_t size);
/* chmod (@mode NULL: none) and chown (-1: keep) as one change. */
int fs_meta_change(int opath_fd, const mode_t *mode, uid_t uid, gid_t gid);

/* Names users may not create: the OCI format reserves ".wh.". */
static inline bool name_reserved(const char *name)
{
	return name[0] == '.' && name[1] == 'w' && name[2] == 'h' && name[3] == '.';
}

#endif
