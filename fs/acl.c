/* SPDX-License-Identifier: MIT */
/*
 * POSIX ACLs: the kernel's xattr form, the mode arithmetic of
 * fs/posix_acl.c, and the ACLs libarchive parses from and writes to tar.
 *
 * The xattr form (include/uapi/linux/posix_acl_xattr.h) is a little-endian
 * u32 version (2), then entries of u16 tag, u16 perm, u32 id.  The kernel
 * wants the entries in tag order (owner, named users, owning group, named
 * groups, mask, other) and a mask whenever there are named entries.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "archive_dl.h"

#define ACL_XATTR_VERSION 2

int fs_acl_kind(const char *xattr_name)
{
	if (strcmp(xattr_name, ACL_XATTR_ACCESS) == 0)
		return ACL_KIND_ACCESS;
	if (strcmp(xattr_name, ACL_XATTR_DEFAULT) == 0)
		return ACL_KIND_DEFAULT;
	return -1;
}

const char *fs_acl_xattr_name(enum acl_kind kind)
{
	return kind == ACL_KIND_ACCESS ? ACL_XATTR_ACCESS : ACL_XATTR_DEFAULT;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static int entry_order(const void *pa, const void *pb)
{
	const struct acl_entry *a = pa, *b = pb;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static bool named(uint16_t tag)
{
	return tag == ACL_TAG_USER || tag == ACL_TAG_GROUP;
}

/* posix_acl_valid, on sorted entries: one owner, owning group and other
 * entry each, at most one mask, required by named entries, which name an
 * id once. */
static bool acl_valid(const struct acl *a)
{
	unsigned count[0x21] = {0};
	bool any_named = false;

	for (uint32_t i = 0; i < a->n; i++) {
		const struct acl_entry *e = &a->e[i];

		if (e->perm & ~7u)
			return false;
		count[e->tag]++;
		if (named(e->tag)) {
			any_named = true;
			if (i > 0 && a->e[i - 1].tag == e->tag && a->e[i - 1].id == e->id)
				return false;
		}
	}
	return count[ACL_TAG_USER_OBJ] == 1 && count[ACL_TAG_GROUP_OBJ] == 1 &&
	       count[ACL_TAG_OTHER] == 1 && count[ACL_TAG_MASK] <= 1 &&
	       (!any_named || count[ACL_TAG_MASK] == 1);
}

static bool known_tag(uint16_t tag)
{
	return tag == ACL_TAG_USER_OBJ || tag == ACL_TAG_USER || tag == ACL_TAG_GROUP_OBJ ||
	       tag == ACL_TAG_GROUP || tag == ACL_TAG_MASK || tag == ACL_TAG_OTHER;
}

int fs_acl_decode(const void *value, size_t size, struct acl *out)
{
	const unsigned char *p = value;

	out->n = 0;
	if (size < 4 || (size - 4) % 8 != 0 || (size - 4) / 8 > ACL_MAX_ENTRIES ||
	    get_le32(p) != ACL_XATTR_VERSION)
		return EINVAL;
	for (size_t off = 4; off < size; off += 8) {
		struct acl_entry *e = &out->e[out->n++];

		e->tag = (uint16_t)(p[off] | p[off + 1] << 8);
		e->perm = (uint16_t)(p[off + 2] | p[off + 3] << 8);
		e->id = named(e->tag) ? get_le32(p + off + 4) : UINT32_MAX;
		if (!known_tag(e->tag))
			return EINVAL;
	}
	qsort(out->e, out->n, sizeof(out->e[0]), entry_order);
	return acl_valid(out) ? 0 : EINVAL;
}

size_t fs_acl_encode(const struct acl *a, void *buf)
{
	unsigned char *p = buf;

	put_le32(p, ACL_XATTR_VERSION);
	for (uint32_t i = 0; i < a->n; i++) {
		unsigned char *q = p + 4 + 8 * (size_t)i;

		q[0] = (unsigned char)a->e[i].tag;
		q[1] = (unsigned char)(a->e[i].tag >> 8);
		q[2] = (unsigned char)a->e[i].perm;
		q[3] = 0;
		put_le32(q + 4, named(a->e[i].tag) ? a->e[i].id : UINT32_MAX);
	}
	return acl_xattr_size(a->n);
}

/* posix_acl_equiv_mode */
bool fs_acl_mode(const struct acl *a, mode_t *perm)
{
	mode_t m = 0, mask = 0;
	bool equiv = true, has_mask = false;

	for (uint32_t i = 0; i < a->n; i++) {
		const struct acl_entry *e = &a->e[i];

		if (e->tag == ACL_TAG_USER_OBJ)
			m |= (mode_t)e->perm << 6;
		else if (e->tag == ACL_TAG_GROUP_OBJ)
			m |= (mode_t)e->perm << 3;
		else if (e->tag == ACL_TAG_OTHER)
			m |= e->perm;
		else if (e->tag == ACL_TAG_MASK)
			has_mask = true, mask = (mode_t)e->perm << 3;
		if (e->tag == ACL_TAG_MASK || named(e->tag))
			equiv = false;
	}
	/* With a mask, the mode's group bits are the mask's. */
	*perm = has_mask ? (m & ~(mode_t)070) | mask : m;
	return equiv;
}

/* __posix_acl_chmod_masq */
void fs_acl_chmod(struct acl *a, mode_t mode)
{
	struct acl_entry *group = NULL, *mask = NULL;

	for (uint32_t i = 0; i < a->n; i++) {
		struct acl_entry *e = &a->e[i];

		if (e->tag == ACL_TAG_USER_OBJ)
			e->perm = (mode >> 6) & 7;
		else if (e->tag == ACL_TAG_GROUP_OBJ)
			group = e;
		else if (e->tag == ACL_TAG_MASK)
			mask = e;
		else if (e->tag == ACL_TAG_OTHER)
			e->perm = mode & 7;
	}
	if (mask)
		mask->perm = (mode >> 3) & 7;
	else if (group)
		group->perm = (mode >> 3) & 7;
}

/* posix_acl_create_masq */
bool fs_acl_create_masq(struct acl *a, mode_t *mode_p)
{
	struct acl_entry *group = NULL, *mask = NULL;
	mode_t mode = *mode_p;
	bool equiv = true;

	for (uint32_t i = 0; i < a->n; i++) {
		struct acl_entry *e = &a->e[i];

		if (e->tag == ACL_TAG_USER_OBJ) {
			e->perm &= (mode >> 6) & 7;
			mode &= ((mode_t)e->perm << 6) | ~(mode_t)S_IRWXU;
		} else if (e->tag == ACL_TAG_OTHER) {
			e->perm &= mode & 7;
			mode &= e->perm | ~(mode_t)S_IRWXO;
		} else if (e->tag == ACL_TAG_GROUP_OBJ) {
			group = e;
		} else if (e->tag == ACL_TAG_MASK) {
			mask = e;
		}
		if (e->tag == ACL_TAG_MASK || named(e->tag))
			equiv = false;
	}
	if (mask)
		group = mask; /* the mask narrows the group bits instead */
	if (group) {
		group->perm &= (mode >> 3) & 7;
		mode &= ((mode_t)group->perm << 3) | ~(mode_t)S_IRWXG;
	}
	*mode_p = mode;
	return equiv;
}

/* ---- libarchive's ACLs ---- */

static const struct {
	int archive;
	uint16_t tag;
} tags[] = {
    {ARCHIVE_ENTRY_ACL_USER_OBJ, ACL_TAG_USER_OBJ},   {ARCHIVE_ENTRY_ACL_USER, ACL_TAG_USER},
    {ARCHIVE_ENTRY_ACL_GROUP_OBJ, ACL_TAG_GROUP_OBJ}, {ARCHIVE_ENTRY_ACL_GROUP, ACL_TAG_GROUP},
    {ARCHIVE_ENTRY_ACL_MASK, ACL_TAG_MASK},           {ARCHIVE_ENTRY_ACL_OTHER, ACL_TAG_OTHER},
};

static int archive_type(enum acl_kind kind)
{
	return kind == ACL_KIND_ACCESS ? ARCHIVE_ENTRY_ACL_TYPE_ACCESS
	                               : ARCHIVE_ENTRY_ACL_TYPE_DEFAULT;
}

/* The id of a named entry: its number where the archive gives one (star
 * and bsdtar write "user:name:perms:id"), else its name looked up, as
 * GNU tar's "user:name:perms" is on extraction. */
static bool entry_id(uint16_t tag, int qual, const char *name, uint32_t *id)
{
	char buf[4096];

	if (qual >= 0) {
		*id = (uint32_t)qual;
		return true;
	}
	if (!name)
		return false;
	if (tag == ACL_TAG_USER) {
		struct passwd pw, *r = NULL;

		if (getpwnam_r(name, &pw, buf, sizeof(buf), &r) == 0 && r)
			*id = r->pw_uid;
		return r != NULL;
	} else {
		struct group gr, *r = NULL;

		if (getgrnam_r(name, &gr, buf, sizeof(buf), &r) == 0 && r)
			*id = r->gr_gid;
		return r != NULL;
	}
}

void fs_acl_from_archive(struct archive_entry *ae, enum acl_kind kind, struct acl *out,
                         const char **why)
{
	int type = archive_type(kind), t, perm, tag, qual;
	const char *name;

	out->n = 0;
	*why = NULL;
	/* No entries when the ACL is just the mode (libarchive's rule). */
	if (sym_archive_entry_acl_reset(ae, type) <= 0)
		return;
	while (sym_archive_entry_acl_next(ae, type, &t, &perm, &tag, &qual, &name) == ARCHIVE_OK) {
		struct acl_entry e = {0, (uint16_t)(perm & 7), UINT32_MAX};

		for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
			if (tags[i].archive == tag)
				e.tag = tags[i].tag;
		if (e.tag == 0 || out->n == ACL_MAX_ENTRIES) {
			*why = "an ACL longer than the kernel takes from FUSE, or of another kind";
			out->n = 0;
			return;
		}
		if (named(e.tag) && !entry_id(e.tag, qual, name, &e.id)) {
			*why = "an ACL entry naming a user or group unknown on this host";
			continue;
		}
		out->e[out->n++] = e;
	}
	qsort(out->e, out->n, sizeof(out->e[0]), entry_order);
	if (!acl_valid(out)) {
		*why = "an ACL that is not valid";
		out->n = 0;
	}
}

/* ---- for commit (strata-fs.h) ---- */

static void acl_to_archive(const struct acl *a, enum acl_kind kind, struct archive_entry *ae)
{
	for (uint32_t i = 0; i < a->n; i++) {
		int tag = 0;

		for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++)
			if (tags[k].tag == a->e[i].tag)
				tag = tags[k].archive;
		sym_archive_entry_acl_add_entry(ae, archive_type(kind), a->e[i].perm, tag,
		                                named(a->e[i].tag) ? (int)a->e[i].id : -1, NULL);
	}
}

void strata_entry_to_archive_xattrs(const struct strata_entry *e, struct archive_entry *ae)
{
	const char *name;
	const void *value;
	size_t size;
	struct acl a;

	for (uint32_t i = 0; strata_entry_xattr(e, i, &name, &value, &size); i++) {
		int kind = fs_acl_kind(name);

		if (kind < 0)
			sym_archive_entry_xattr_add_entry(ae, name, value, size);
		else if (fs_acl_decode(value, size, &a) == 0) /* a damaged one is not carried */
			acl_to_archive(&a, (enum acl_kind)kind, ae);
	}
}
