/* SPDX-License-Identifier: MIT */
/*
 * Containers on disk: <store>/strata/containers/<name>/ holds upper/ (the
 * writable layer), state.json and a lock file that the launcher holds for
 * as long as the container runs: a container is running exactly when its
 * lock is held.  Every container mounts its root at <store>/strata/rootfs,
 * in a mount namespace of its own.
 */
#ifndef STRATA_CONTAINER_H
#define STRATA_CONTAINER_H

#include <stdbool.h>

struct store;

/* Takes the container's lock (fails when it runs) and records what it
 * runs.  Returns the lock fd, kept open for the container's lifetime. */
int container_begin(const char *dir, const char *name, const char *image, const char *digest,
                    char *const *argv);
/* Records the exit status in state.json. */
void container_end(const char *dir, int status);
/* The image digest a named container was created from, or NULL. malloc'd. */
char *container_image_digest(const char *dir);
bool container_running(const char *dir);
/* Takes the container's lock (so it cannot start); the fd, or -1 with
 * errno EBUSY when it runs. */
int container_lock(const char *dir);
/* Every container of the store and the image digest it was made from. */
struct container_image {
	char *name;
	char *digest;
};
/* Lists them into *@out (free with container_images_free); 0, or -1 with
 * errno when the containers directory exists but cannot be read. */
int container_images(const char *store_root, struct container_image **out, size_t *n);
void container_images_free(struct container_image *v, size_t n);
/* rm -rf. */
int container_remove_tree(const char *path);
/* <store>/strata/mount-points.N: the mount points of a container's root
 * (proc, sys, dev, etc/hosts...) as a tree, made once per store; run puts
 * it below the image (strata_union_set_base).  malloc'd, or NULL with
 * errno. */
char *container_mount_points(const char *store_root);

#endif
