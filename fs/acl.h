/* SPDX-License-Identifier: MIT */
/*
 * POSIX ACLs (acl(5)).  Private to libstrata-fs.
 *
 * acl.c: the kernel's binary form of the system.posix_acl_access and
 * system.posix_acl_default xattrs, what an access ACL means for the mode,
 * and the ACLs libarchive reads from and writes to tar (SCHILY.acl.*).
 * acl_upper.c: where the upper layer keeps ACLs, and what the daemon must
 * do itself once the kernel enforces them (FUSE_CAP_POSIX_ACL): make the
 * mode follow a new access ACL and the ACL follow chmod, give new objects
 * their parent's default ACL, and answer only ids the daemon's user
 * namespace has.
 *
 * Errors: 0 or a positive errno, as everything the FUSE ops call.
 */
#ifndef STRATA_ACL_H
#define STRATA_ACL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layer.h"

#define ACL_XATTR_ACCESS  "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"

/* What a daemon that may not set the real xattrs keeps instead, in the
 * same binary form (docs/xattrs.md). */
#define ACL_RECORD_ACCESS  "user.strata.acl.access"
#define ACL_RECORD_DEFAULT "user.strata.acl.default"

/* The kernel reads an ACL from a FUSE daemon into one page: (4096 - 4) / 8
 * entries.  A longer one could not be enforced, so it is not served. */
#define ACL_MAX_ENTRIES 511

enum acl_kind { ACL_KIND_ACCESS, ACL_KIND_DEFAULT };

/* Entry tags, as the kernel numbers them; in this order in a valid ACL. */
#define ACL_TAG_USER_OBJ  0x01
#define ACL_TAG_USER      0x02
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP     0x08
#define ACL_TAG_MASK      0x10
#define ACL_TAG_OTHER     0x20

struct acl_entry {
	uint16_t tag;
	uint16_t perm; /* rwx: 4, 2, 1 */
	uint32_t id;   /* ACL_TAG_USER and ACL_TAG_GROUP only */
};

struct acl {
	uint32_t n;
	struct acl_entry e[ACL_MAX_ENTRIES];
};

/* The size of the xattr holding @n entries. */
static inline size_t acl_xattr_size(uint32_t n)
{
	return 4 + 8 * (size_t)n;
}

/* ---- acl.c ---- */

/* ACL_KIND_* for a system.posix_acl_* name, else -1. */
int fs_acl_kind(const char *xattr_name);
const char *fs_acl_xattr_name(enum acl_kind kind);
/* Parses an xattr value into @out, entries sorted as the kernel wants
 * them; EINVAL when it is not a valid ACL. */
int fs_acl_decode(const void *value, size_t size, struct acl *out);
/* Writes @a into @buf (acl_xattr_size(a->n) bytes); returns that size. */
size_t fs_acl_encode(const struct acl *a, void *buf);
/* The permission bits (0777) an access ACL gives the mode, into *@perm;
 * true when the mode says all of it (no named entries, no mask). */
bool fs_acl_mode(const struct acl *a, mode_t *perm);
/* chmod's effect on an access ACL: owner, mask (or group) and other
 * entries take @mode's bits. */
void fs_acl_chmod(struct acl *a, mode_t mode);
/* A new object's access ACL from its parent's default ACL @a and the mode
 * it is made with (posix_acl_create): both are narrowed to each other.
 * Returns true when the result says no more than the mode. */
bool fs_acl_create_masq(struct acl *a, mode_t *mode);

struct archive_entry;
/* The ACL of @kind libarchive read for @ae (from SCHILY.acl.*), into @out
 * (n = 0: none).  A user or group given by name alone is looked up on this
 * host, as GNU tar does when it extracts; *@why says what had to be left
 * out (NULL: nothing). */
void fs_acl_from_archive(struct archive_entry *ae, enum acl_kind kind, struct acl *out,
                         const char **why);

/* ---- acl_upper.c ---- */

/* The ACL of an upper object (@path: its /proc/self/fd link) as an xattr
 * value: the record if it has one, else the real xattr.  ENODATA when it
 * has none; *@recorded tells which (may be NULL). */
int fs_acl_read(const char *path, enum acl_kind kind, void *buf, size_t size, size_t *len,
                bool *recorded);
/* Sets (@a non-NULL) or removes an upper object's ACL, where this daemon
 * keeps them. */
int fs_acl_write(const char *path, enum acl_kind kind, const struct acl *a);
/* After chmod of an upper object: a recorded access ACL follows the mode
 * (a real one is the upper file system's to update). */
int fs_acl_follow_mode(const char *path, mode_t mode);
/* meta_layer.c: the ACLs an object of a strata upper read as a layer
 * shows (@path: its /proc/self/fd link): the record, else the real xattr,
 * whose user and group ids @map turns into the container's (NULL: kept),
 * each handed to @add as its system.posix_acl_* xattr.  0, or what @add
 * returned. */
int fs_acl_layer(const char *path, uint32_t (*map)(const void *ctx, bool group, uint32_t id),
                 int (*add)(void *ctx, const char *name, const void *value, size_t size),
                 void *ctx);
/* Copy-up: the upper copy gets exactly the ACLs of lower node @node. */
int fs_acl_copy_up(const struct strata_layer *l, uint64_t node, const char *path);

/* A new object in an upper directory: what it inherits. */
struct acl_inherit {
	struct acl *access; /* NULL: nothing to set */
	struct acl *dflt;   /* a directory's default ACL, or NULL */
	void *block;        /* what holds them */
};
/* The mode to make an object of type @type with in @dirfd: *@mode
 * narrowed by the directory's default ACL, or without one by @umask.
 * Fills @inh, which fs_acl_inherit_free releases. */
int fs_acl_new_mode(int dirfd, mode_t type, mode_t *mode, mode_t umask, struct acl_inherit *inh);
/* Gives @name, made in @dirfd, the ACLs fs_acl_new_mode computed. */
int fs_acl_inherit(int dirfd, const char *name, const struct acl_inherit *inh);
void fs_acl_inherit_free(struct acl_inherit *inh);

struct strata_union;
/* Whether any node of any layer has an ACL: a read-only union without one
 * needs no enforcement, nor the round trips it costs (docs/NOTES.md). */
bool fs_union_has_acls(const struct strata_union *u);

/* An ACL about to be answered to the kernel, which refuses (EINVAL, on
 * every permission check) one that names an id the daemon's user
 * namespace lacks: such entries are dropped.  Rewrites @value in place;
 * returns its new size.  Values that are not valid ACLs pass unchanged. */
size_t fs_acl_for_kernel(void *value, size_t size);

#endif
