/* SPDX-License-Identifier: MIT */
/*
 * The overlay option interface's mount (ovl_opts.h's options): its
 * directories checked as overlayfs checks them, its lowerdir= entries
 * opened as layers, and the other call forms (fuse-overlayfs', mount(8)'s
 * helper's) turned into strata mount's.
 */
#ifndef STRATA_OVL_MOUNT_H
#define STRATA_OVL_MOUNT_H

#include "ovl_opts.h"
#include "strata-fs.h"

/* The upper, the work directory and every lower exist and are directories
 * (the lowers: or files), the work directory is on the upper's file system
 * and neither inside the other, and none of them is the mount point or
 * inside it (the daemon would wait on itself).  0 or -1. */
int ovl_check_dirs(const struct ovl_opts *o, const char *mountpoint, struct strata_error *err);

/* Opens lowerdir='s entries (top first) as layers, lowest first, into a
 * malloc'd *@out of *@n: directories, tar files, or an image of the store
 * at @root (at most one: its record keeps gc off its blobs).  0 or -1. */
int ovl_open_lowers(const struct ovl_opts *o, const struct strata_layer_options *lo,
                    const char *root, struct strata_layer ***out, size_t *n,
                    struct strata_error *err);

/* The forms podman and mount(8) call: `strata -o OPTS [-f] [-d] MERGED`
 * (fuse-overlayfs'), `mount.fuse.strata SRC MNT [-nsvf] [-o OPTS]` and
 * mount.fuse3's `strata SRC MNT -o OPTS`.  An exit status. */
int cmd_mount_overlay(int argc, char **argv);
int cmd_mount_helper(int argc, char **argv);

#endif
