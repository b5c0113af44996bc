/* SPDX-License-Identifier: MIT */
/*
 * ACLs in the upper layer, and what the daemon does for the kernel once it
 * enforces them (FUSE_CAP_POSIX_ACL leaves the mode, chmod and inheritance
 * to the daemon: include/fuse_common.h).
 *
 * A root daemon keeps an object's ACLs as its real system.posix_acl_*
 * xattrs: the upper stays a changeset other tools read, and the upper file
 * system keeps a real ACL in step with chmod.  A daemon that is not root
 * keeps them in user.strata.acl.access and .default instead, in the same
 * binary form: a real ACL would also grant or deny the daemon itself.  A
 * root daemon falls back to the record where the upper refuses the real
 * xattr (EINVAL: an id its user namespace lacks; EOPNOTSUPP: an upper file
 * system without ACLs).  Readers take the record first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "acl.h"
#include "upper.h"

static const char *record_name(enum acl_kind kind)
{
	return kind == ACL_KIND_ACCESS ? ACL_RECORD_ACCESS : ACL_RECORD_DEFAULT;
}

/* getxattr, with "this object cannot have it" read as "it has none". */
static int get_one(const char *path, const char *name, void *buf, size_t size, size_t *len)
{
	ssize_t n = getxattr(path, name, buf, size);

	if (n >= 0) {
		*len = (size_t)n;
		return 0;
	}
	return errno == EOPNOTSUPP || errno == EPERM ? ENODATA : errno;
}

int fs_acl_read(const char *path, enum acl_kind kind, void *buf, size_t size, size_t *len,
                bool *recorded)
{
	int rc = get_one(path, record_name(kind), buf, size, len);
	bool rec = rc != ENODATA;

	if (!rec)
		rc = get_one(path, fs_acl_xattr_name(kind), buf, size, len);
	if (recorded)
		*recorded = rec;
	return rc;
}

/* Sets @name, or with no @value removes it: absent, or on an object that
 * cannot have it (user xattrs on a fifo: EPERM), is done. */
static int put_one(const char *path, const char *name, const void *value, size_t size)
{
	if (value)
		return setxattr(path, name, value, size, 0) < 0 ? errno : 0;
	if (removexattr(path, name) < 0 && errno != ENODATA && errno != EPERM &&
	    errno != EOPNOTSUPP)
		return errno;
	return 0;
}

int fs_acl_write(const char *path, enum acl_kind kind, const struct acl *a)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	size_t len = a ? fs_acl_encode(a, buf) : 0;
	const void *value = a ? buf : NULL;
	int rc;

	if (geteuid() == 0) {
		rc = put_one(path, fs_acl_xattr_name(kind), value, len);
		if (!rc)
			return put_one(path, record_name(kind), NULL, 0);
		if (rc != EINVAL && rc != EOPNOTSUPP && rc != EPERM)
			return rc;
	}
	rc = put_one(path, record_name(kind), value, len);
	/* A real one the upper gave it (a default ACL above the upper
	 * directory) must not show once the record goes. */
	if (!rc)
		(void)put_one(path, fs_acl_xattr_name(kind), NULL, 0);
	return rc;
}

int fs_acl_follow_mode(const char *path, mode_t mode)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	struct acl a;
	size_t len;
	bool recorded;
	int rc = fs_acl_read(path, ACL_KIND_ACCESS, buf, sizeof(buf), &len, &recorded);

	if (rc == ENODATA || (!rc && !recorded))
		return 0;
	if (rc)
		return rc;
	if (fs_acl_decode(buf, len, &a))
		return 0; /* damaged: not enforced, nothing to follow */
	fs_acl_chmod(&a, mode);
	return put_one(path, ACL_RECORD_ACCESS, buf, fs_acl_encode(&a, buf));
}

int fs_acl_copy_up(const struct strata_layer *l, uint64_t node, const char *path)
{
	for (int kind = ACL_KIND_ACCESS; kind <= ACL_KIND_DEFAULT; kind++) {
		const void *value;
		size_t size;
		struct acl a;
		bool has = layer_xattr_get(l, node, fs_acl_xattr_name(kind), &value, &size) &&
		           fs_acl_decode(value, size, &a) == 0;
		/* Without one below, none from the upper's inheritance either. */
		int rc = fs_acl_write(path, kind, has ? &a : NULL);

		/* Objects that cannot carry xattrs (a rootless fifo) lose it,
		 * as they lose other xattrs. */
		if (rc && rc != EOPNOTSUPP && rc != EPERM)
			return rc;
	}
	return 0;
}

/* ---- new objects ---- */

int fs_acl_new_mode(int dirfd, mode_t type, mode_t *mode, mode_t umask, struct acl_inherit *inh)
{
	unsigned char buf[acl_xattr_size(ACL_MAX_ENTRIES)];
	char path[64];
	size_t len;
	struct acl *d;
	int rc;

	inh->access = inh->dflt = NULL;
	inh->block = NULL;
	if (S_ISLNK(type))
		return 0; /* a symlink's mode is 0777, always */
	fs_upper_fd_path(dirfd, path, sizeof(path));
	rc = fs_acl_read(path, ACL_KIND_DEFAULT, buf, sizeof(buf), &len, NULL);
	if (rc && rc != ENODATA)
		return rc;
	d = rc ? NULL : malloc(2 * sizeof(*d));
	if (!rc && !d)
		return ENOMEM;
	if (!d || fs_acl_decode(buf, len, d)) {
		free(d);
		*mode &= ~umask; /* no default ACL: the umask applies */
		return 0;
	}
	d[1] = d[0];
	/* The new object's access ACL comes from the default ACL and the
	 * mode asked for, not the umask; a directory also inherits the default
	 * ACL itself. */
	inh->access = fs_acl_create_masq(&d[1], mode) ? NULL : &d[1];
	inh->dflt = S_ISDIR(type) ? &d[0] : NULL;
	if (!inh->dflt && !inh->access)
		free(d);
	else
		inh->block = d;
	return 0;
}

int fs_acl_inherit(int dirfd, const char *name, const struct acl_inherit *inh)
{
	char path[64];
	int fd, rc = 0;

	if (!inh->access && !inh->dflt)
		return 0;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	fs_upper_fd_path(fd, path, sizeof(path));
	if (inh->access)
		rc = fs_acl_write(path, ACL_KIND_ACCESS, inh->access);
	if (!rc && inh->dflt)
		rc = fs_acl_write(path, ACL_KIND_DEFAULT, inh->dflt);
	close(fd);
	return rc;
}

void fs_acl_inherit_free(struct acl_inherit *inh)
{
	free(inh->block);
	inh->block = NULL;
	inh->access = inh->dflt = NULL;
}

/* ---- answers to the kernel ---- */

bool fs_union_has_acls(const struct strata_union *u)
{
	const void *value;
	size_t size;

	for (uint32_t i = 0; i < u->n_layers; i++) {
		const struct strata_layer *l = u->layers[i];

		if (l->growing && !l->no_xattrs)
			return true; /* not read yet: may have some */

		for (uint64_t node = 0; !l->no_xattrs && node < l->n_entries; node++)
			if (layer_xattr_get(l, node, ACL_XATTR_ACCESS, &value, &size) ||
			    layer_xattr_get(l, node, ACL_XATTR_DEFAULT, &value, &size))
				return true;
	}
	return false;
}

/* The ids the daemon's user namespace has ("inside outside count" lines). */
struct id_ranges {
	bool all;
	uint32_t n;
	struct {
		uint32_t first, count;
	} r[340]; /* the kernel's limit on map lines */
};

static struct id_ranges ns_uids, ns_gids;
static pthread_once_t ns_once = PTHREAD_ONCE_INIT;

static void load_ranges(const char *file, struct id_ranges *ids)
{
	FILE *f = fopen(file, "re");
	unsigned long inside, outside, count;

	ids->all = f == NULL; /* no map to read: take every id as mapped */
	while (f && ids->n < 340 && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3) {
		if (inside == 0 && count >= 4294967295UL)
			ids->all = true;
		ids->r[ids->n].first = (uint32_t)inside;
		ids->r[ids->n++].count = (uint32_t)count;
	}
	if (f)
		fclose(f);
}

static void load_ns(void)
{
	load_ranges("/proc/self/uid_map", &ns_uids);
	load_ranges("/proc/self/gid_map", &ns_gids);
}

static bool has_id(const struct id_ranges *ids, uint32_t id)
{
	if (ids->all)
		return true;
	for (uint32_t i = 0; i < ids->n; i++)
		if (id >= ids->r[i].first && id - ids->r[i].first < ids->r[i].count)
			return true;
	return false;
}

size_t fs_acl_for_kernel(void *value, size_t size)
{
	struct acl a;
	uint32_t kept = 0;

	pthread_once(&ns_once, load_ns);
	if ((ns_uids.all && ns_gids.all) || fs_acl_decode(value, size, &a))
		return size;
	for (uint32_t i = 0; i < a.n; i++) {
		const struct acl_entry *e = &a.e[i];

		if ((e->tag == ACL_TAG_USER && !has_id(&ns_uids, e->id)) ||
		    (e->tag == ACL_TAG_GROUP && !has_id(&ns_gids, e->id)))
			continue; /* no process here can be that id */
		a.e[kept++] = *e;
	}
	a.n = kept;
	return fs_acl_encode(&a, value);
}
