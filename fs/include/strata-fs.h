/* SPDX-License-Identifier: MIT */
/*
 * libstrata-fs: a union of read-only tar layers served through FUSE.
 *
 * This is the library's only public header.  What it promises:
 *
 *  - strata_layer_open_tar() indexes a tar layer (plain, gzip, zstd, xz,
 *    bzip2) in one streaming pass, or reuses a cached index whose checksum
 *    and source identity still match.  A layer is then an immutable object
 *    that may be read from any thread without locks.
 *  - strata_union_new() stacks layers, lowest first.
 *  - strata_fuse_run() mounts a union and serves it until unmounted or
 *    signalled.
 *
 * Errors, the one rule for every function declared here: failure is -1
 * with @err filled (a typed code, the errno behind it in sys_errno, and a
 * one-line message "<what>: <why>", ready to be printed after "strata: ");
 * success is 0, or the function's value where it has one (bytes read).
 * @err may be NULL when the caller needs no more than the -1.  A missing
 * path is STRATA_ERR_SYS with sys_errno ENOENT (or ENOTDIR, ELOOP...).
 * Walks never mix a callback's value with an error: they return 0 when
 * they went through, 1 when a callback stopped them by returning non-zero
 * (that value in *@stopped, which may be NULL, and is 0 otherwise), or -1.
 * Functions that cannot fail return void, bool or a pointer.
 *
 * Inside the library, the FUSE ops and everything they call return 0 or a
 * positive errno (the private headers say which); index building and
 * reading follow the public rule.
 */
#ifndef STRATA_FS_H
#define STRATA_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "strata-error.h"

/* Something a layer skipped but could serve without: logged, never fatal. */
typedef void (*strata_warn_fn)(void *ctx, const char *msg);

struct strata_layer_options {
	const char *cache_dir; /* where indexes and decompressed copies live */
	strata_warn_fn warn;   /* may be NULL */
	void *warn_ctx;
	bool force_reindex; /* ignore a valid cached index */
	/* Names the cache entries ("<key>.idx", "<key>.tar"): letters, digits,
	 * '-' and '_' only.  NULL: derived from the layer's canonical path.  The
	 * layer store keys them by diff-id, so images sharing a layer share
	 * its index. */
	const char *cache_key;
	/* How messages and warnings name the layer.  NULL: the path given
	 * (an importer opening an unnamed temp file names the member). */
	const char *name;
	/* When this open builds the index of a compressed layer, compute the
	 * SHA-256 of its uncompressed stream (the diff-id) in the same pass. */
	bool want_diff_id;
	/* The most bytes a compressed layer may decompress to (its cached
	 * copy, docs/index-format.md): indexing stops there with an error
	 * naming the layer and --max-layer-size, and leaves no copy behind.
	 * 0: no limit (the commands choose the default; a layer in the
	 * store was checked when it was imported). */
	uint64_t max_layer_size;
	/* A lazily fetched layer (its file not whole yet): asked for the
	 * bytes of the file before each read of them.  Its index must be in
	 * the cache already (strata_layer_index_adopt): it is never built
	 * from a file that is not whole, nor checked against the file's
	 * mtime and inode, which its fetches change.  NULL: a whole file. */
	const struct strata_fetch *fetch;
};

/* Where the missing bytes of a lazily fetched layer file come from (the
 * layer store's registry client; fs/ never speaks HTTP).  ensure() makes
 * bytes [off, off + len) of the file present, fetched and checked, before
 * it returns: 0, or a positive errno (EIO: they could not be had).  Any
 * thread may call it at once. */
struct strata_fetch {
	int (*ensure)(void *ctx, uint64_t off, uint64_t len);
	void *ctx;
	/* When a layer opened with it closes (may be NULL): a layer that
	 * opened owns @ctx; after a failed open the caller still does. */
	void (*release)(void *ctx);
};

struct strata_layer;

/* What strata_layer_open_tar learned, for tools and tests. */
struct strata_layer_info {
	uint64_t n_entries;      /* index entries, including the root */
	uint64_t stream_size;    /* bytes of uncompressed tar */
	const char *compression; /* "none", "gzip", "zstd", ... */
	/* Compressed, and read in place through its checkpoints (no
	 * decompressed copy): gzip, zstd of several frames, xz of several
	 * blocks.  A plain tar needs no checkpoints: false. */
	bool seekable;
	bool index_reused; /* true when a cached index was valid */
	const char *index_path;
	/* "sha256:<hex>" of the uncompressed stream, or "" when this open did
	 * not compute it (index reused, plain layer, or not asked for). */
	const char *diff_id;
};

int strata_layer_open_tar(const char *path, const struct strata_layer_options *opts,
                          struct strata_layer **out, struct strata_error *err);
void strata_layer_info(const struct strata_layer *layer, struct strata_layer_info *info);
/* The next bytes of a stream into @buf: how many, 0 at its end, or -1 with
 * errno set when no more will come. */
typedef ssize_t (*strata_read_fn)(void *ctx, void *buf, size_t len);
/* Indexes a layer whose bytes are still arriving (a registry pull), in the
 * one pass that reads them through @read, into the cache entry that
 * strata_layer_open_tar(@path, @opts) then finds.  @path is the file the
 * same bytes are written to, whole when @read returns 0: the index names
 * its identity as it is then.  With @opts->want_diff_id, the SHA-256 of the
 * layer's uncompressed stream (its diff-id) is written to @diff_id,
 * "sha256:<hex>".  0 or -1. */
int strata_layer_index_stream(const char *path, strata_read_fn read, void *ctx,
                              const struct strata_layer_options *opts, char diff_id[72],
                              struct strata_error *err);
/* Checks, without building anything, the cached index of the layer at @path
 * (and its decompressed copy): 0 when valid, 1 when there is none, -1 with
 * @err saying what is wrong (damaged, or describing another file). */
int strata_layer_check_index(const char *path, const struct strata_layer_options *opts,
                             struct strata_error *err);
/* Whether the layer at @path is read in place (strata_layer_info's
 * seekable), from its cached index, building nothing: 1 or 0, or -1 when
 * it has no valid index yet. */
int strata_layer_index_seekable(const char *path, const struct strata_layer_options *opts);
void strata_layer_close(struct strata_layer *layer);
/* fuse-overlayfs' uidmapping=/gidmapping= for any layer, before it is
 * served ("inside outside count" lines, as in /proc/PID/uid_map: an owner
 * on disk, outside, shows as inside): owners, and the ids of real ACLs of
 * directory layers.  NULL: as on disk. */
void strata_layer_set_idmap(struct strata_layer *layer, const char *uid_map, const char *gid_map);
/* The cached index of the layer at @path, portable (without the local
 * file's identity), written to @fd: what a lazy pull needs of the layer
 * (docs/index-artifact.md).  Fails with STRATA_ERR_UNSUPPORTED for a layer
 * read from a decompressed copy (bzip2, lz4, one-frame zstd, one-block xz),
 * and when the index is missing or damaged. */
int strata_layer_index_export(const char *path, const struct strata_layer_options *opts, int fd,
                              struct strata_error *err);
/* An index from @fd, as strata_layer_index_export wrote it, made the
 * cached index of the layer at @path (its blob; it may be sparse, not yet
 * all fetched): validated whole, every block and reference, then renamed
 * into place.  Fails with STRATA_ERR_INDEX for anything else. */
int strata_layer_index_adopt(const char *path, const struct strata_layer_options *opts, int fd,
                             struct strata_error *err);

/* The cache directory strata uses when none is given: $STRATA_CACHE_DIR,
 * /var/cache/strata for root, else $XDG_CACHE_HOME/strata or ~/.cache/strata.
 * Sets *@out to a malloc'd string. */
int strata_default_cache_dir(char **out, struct strata_error *err);

/* ---- reading layers without mounting (layer_dir.c, tree.c) ---- */

/* An upper directory (OCI changeset form, with strata's user.strata.*
 * records applied) as a read-only layer, for diff and commit. */
struct strata_dir_options {
	/* The user namespace the upper was written from ("inside outside
	 * count" lines, as in /proc/PID/uid_map): owners on disk are mapped
	 * back to the container's ids.  NULL: as on disk. */
	const char *uid_map;
	const char *gid_map;
	/* Paths (relative, "etc/hosts") that are mount points the launcher
	 * made: hidden while they are empty. */
	char **hide;
	size_t n_hide;
	/* The image's layers, lowest first, as the container's mount stacked
	 * them (without strata run's base layer): where a file whose metadata
	 * alone was copied up still has its data.  Opening an upper that has
	 * such files without them fails. */
	struct strata_layer *const *below;
	size_t n_below;
};

int strata_layer_open_dir(const char *dir, const struct strata_dir_options *opts,
                          struct strata_layer **out, struct strata_error *err);

/* A directory as a read-only LOWER layer, read lazily (layer_lowerdir.c):
 * nothing but its root is read at open; each directory is listed when
 * first used, each entry stat'd when first asked, and every access stays
 * inside @dir (openat2 RESOLVE_IN_ROOT, no symlink followed).  Whiteouts in
 * both forms: ".wh.NAME" files and 0/0 character devices (overlayfs');
 * a directory is opaque by ".wh..wh..opq" or an overlay xattr of value
 * "y".  The directory must not change while the layer is open: what
 * changed may or may not show (never a crash).  Node numbers are given
 * as entries are found, so they are stable for the layer's lifetime, not
 * across opens. */
#define STRATA_OVL_XATTR_TRUSTED 0x1 /* trusted.overlay.opaque (kernel overlayfs, root) */
#define STRATA_OVL_XATTR_USER    0x2 /* user.overlay.opaque, user.fuseoverlayfs.opaque */

struct strata_lower_dir_options {
	/* Which opaque xattrs count (STRATA_OVL_XATTR_*); 0: trusted.* when
	 * the process is root (only root reads them), user.* always. */
	unsigned overlay_xattrs;
	/* How messages name the layer; NULL: @dir as given.  (Id maps:
	 * strata_layer_set_idmap.) */
	const char *name;
};

int strata_layer_open_lower_dir(const char *dir, const struct strata_lower_dir_options *opts,
                                struct strata_layer **out, struct strata_error *err);

#define STRATA_ENTRY_WHITEOUT 0x1 /* layer walks only: hides the name below */
#define STRATA_ENTRY_OPAQUE   0x2 /* layer walks only: hides all below the dir */
#define STRATA_ENTRY_IMPLICIT 0x4 /* layer walks only: a dir the layer only implies */

/* One entry of a tree, valid during the callback (or until the next lookup). */
struct strata_entry {
	const char *path; /* "" for the root, else "etc/passwd" */
	struct stat st;
	uint32_t flags;
	uint32_t layer;   /* stack walks: index of the layer it comes from */
	const char *link; /* symlink target (link_len bytes, not terminated) */
	size_t link_len;
	const char *hardlink; /* layer walks: the first name of this hard-linked
	                       * file in the layer, or NULL */
	const char *redirect; /* layer walks of an upper: a renamed directory's
	                       * old path, where its lower content is */
	const struct strata_layer *src;
	uint64_t node;
};

/* Return non-zero to stop the walk: the walk returns 1, and the value
 * comes back in its *@stopped. */
typedef int (*strata_walk_fn)(void *ctx, const struct strata_entry *e);

/* Every entry of one layer, whiteouts included, parents before children,
 * names sorted.  0, 1 (stopped) or -1. */
int strata_layer_walk(const struct strata_layer *l, strata_walk_fn fn, void *ctx, int *stopped,
                      struct strata_error *err);
/* The merged tree of @layers (lowest first) as a mount shows it, under
 * @path ("" or "/" for all), that entry first; only its children unless
 * @recursive.  0, 1 (stopped) or -1: ENOENT or ENOTDIR for a missing
 * @path, ENOMEM. */
int strata_stack_walk(struct strata_layer *const *layers, size_t n, const char *path,
                      bool recursive, strata_walk_fn fn, void *ctx, int *stopped,
                      struct strata_error *err);
/* One path of the merged tree (its last component not followed).  0, or
 * -1: ENOENT, ENOTDIR. */
int strata_stack_lookup(struct strata_layer *const *layers, size_t n, const char *path,
                        struct strata_entry *out, struct strata_error *err);
/* Flags of strata_stack_resolve. */
#define STRATA_RESOLVE_FOLLOW 0x1 /* follow a symlink in the last component */
/* One path of the merged tree resolved as the kernel would inside the
 * mounted image (path_resolution(7), with the image's root as a chroot):
 * symlinks in intermediate components followed, the last one only with
 * STRATA_RESOLVE_FOLLOW; ".." from the directory actually reached; at most
 * 40 symlinks.  "" and "/" are the root.  @out->path is @path as given.
 * 0, or -1: ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG or ENOMEM. */
int strata_stack_resolve(struct strata_layer *const *layers, size_t n, const char *path,
                         unsigned flags, struct strata_entry *out, struct strata_error *err);
/* The @i-th xattr of an entry; false past the last one. */
bool strata_entry_xattr(const struct strata_entry *e, uint32_t i, const char **name,
                        const void **value, size_t *size);
struct archive_entry;
/* Puts an entry's xattrs on a libarchive entry being written: POSIX ACLs
 * (system.posix_acl_*) as its ACL entries, which the pax writer stores as
 * SCHILY.acl.access and .default, the form GNU tar and bsdtar extract, and
 * the others as xattrs.  libarchive must be loaded (dl_archive_load). */
void strata_entry_to_archive_xattrs(const struct strata_entry *e, struct archive_entry *ae);
/* Reads file data, holes as zeros.  Bytes read (short only at the end of
 * the file), or -1. */
ssize_t strata_entry_pread(const struct strata_entry *e, void *buf, size_t len, uint64_t off,
                           struct strata_error *err);
/* The data runs of a regular file: calls @fn for each [off, off+len) that
 * holds data (holes skipped), in order.  0, 1 (stopped) or -1, as a walk. */
int strata_entry_data_runs(const struct strata_entry *e,
                           int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx,
                           int *stopped, struct strata_error *err);

struct strata_union;

/* Takes ownership of the layers (lowest first) on success and on failure. */
int strata_union_new(struct strata_layer **layers, size_t n_layers, struct strata_union **out,
                     struct strata_error *err);
void strata_union_free(struct strata_union *u);
/* Puts @base below the layers, filling in only what they lack: strata run's
 * mount points (/proc, /dev, /etc/hosts...), so that a container need not
 * make them in its writable layer.  Before mounting; takes ownership of
 * @base on success and on failure. */
int strata_union_set_base(struct strata_union *u, struct strata_layer *base,
                          struct strata_error *err);
/* Makes the union writable: @dir becomes its upper layer, a directory in
 * OCI changeset form (docs/upper-plan.md). */
int strata_union_set_upper(struct strata_union *u, const char *dir, struct strata_error *err);
/* Metadata-only copy-up (off by default, as overlayfs' metacopy): a
 * change of a lower file's metadata alone copies no data, which is then
 * read from the layers until the first write.  The upper is then no
 * longer a changeset on its own: only readers given the layers below
 * (strata diff, commit) see those files' data.  docs/xattrs.md. */
void strata_union_set_metacopy(struct strata_union *u, bool on);
/* overlayfs' volatile: fsync and fsyncdir succeed without syncing (the
 * upper is lost in a crash: for throw-away containers). */
void strata_union_set_volatile(struct strata_union *u, bool on);
/* fuse-overlayfs' noacl: the kernel is not asked to enforce POSIX ACLs
 * (the system.posix_acl_* xattrs are still stored and shown). */
void strata_union_set_noacl(struct strata_union *u, bool on);
/* fuse-overlayfs' squash_to_uid/gid: every object shows owner @uid and
 * group @gid (-1: its own), also to the kernel's permission checks; what
 * is stored does not change. */
void strata_union_set_squash(struct strata_union *u, int64_t uid, int64_t gid);
/* How the upper writes whiteouts and opaque directories: OCI changeset
 * form (.wh. files, strata's default) or overlay form (0/0 character
 * devices, overlay opaque xattrs: what kernel overlayfs, fuse-overlayfs
 * and podman read).  Both forms are always read. */
enum strata_upper_format { STRATA_UPPER_OCI, STRATA_UPPER_OVERLAY };
void strata_union_set_upper_format(struct strata_union *u, enum strata_upper_format f);
/* fuse-overlayfs' xattr_permissions=: 0, owners and modes the upper cannot
 * hold real in user.strata.meta (docs/xattrs.md); 1 and 2, every upper
 * file's and directory's in fuse-overlayfs' security.* (1) or user.* (2)
 * override_stat, the real objects left the daemon's, so that its upper
 * moves between strata and fuse-overlayfs.  Before the union serves. */
void strata_union_set_xattr_permissions(struct strata_union *u, int level);

struct strata_mount_options {
	const char *mountpoint;
	const char *fuse_opts; /* comma-separated -o options, may be NULL */
	bool foreground;
	bool debug;
	bool allow_nonempty;  /* -o nonempty: mount over a non-empty directory */
	unsigned max_threads; /* 0: libfuse default */
	/* The most bytes of decompressed gzip spans kept for reads (shared by
	 * the mount's layers); 0: 64 MiB. */
	uint64_t span_cache;
	/* Called in the daemon once the mount is live (tests, `run`).  May be NULL. */
	void (*on_ready)(void *ctx);
	void *on_ready_ctx;
	/* The mount lives in a mount namespace of its own (`run`), where
	 * strata umount cannot reach it: no record of the daemon is written
	 * (one mountinfo read and two files less on the start path). */
	bool private_mount;
};

/* Mounts @u and serves requests until unmount or SIGTERM/SIGINT/SIGHUP.
 * Returns 0 after a clean unmount. */
int strata_fuse_run(struct strata_union *u, const struct strata_mount_options *opts,
                    struct strata_error *err);

struct strata_unmount_options {
	bool lazy;        /* detach now, finish when no longer busy; do not wait */
	unsigned timeout; /* seconds to wait for the daemon to exit; 0: do not wait */
	const char *name; /* the mount point as messages name it; NULL: as given */
};

/* Unmounts the strata mount at @mountpoint (absolute, as /proc/self/
 * mountinfo spells it) and, unless lazy, waits until the daemon that served
 * it has exited (its upper is then no longer written).  A daemon that
 * still serves a copy of the mount in another mount namespace is told to
 * end after a grace period (2 s; half of a shorter timeout).  Returns 0,
 * or 1 when the daemon had to be told; fails when it is not a strata
 * mount, is busy, or the daemon outlives the timeout (the mount is gone
 * then, errno ETIMEDOUT). */
int strata_unmount(const char *mountpoint, const struct strata_unmount_options *o,
                   struct strata_error *err);

#endif
