/* SPDX-License-Identifier: MIT */
/*
 * fuse-overlayfs' records of owners and modes (its xattr_permissions=,
 * and what containers/storage writes with force_mask): the xattr
 * override_stat holds "uid:gid:mode" (mode in octal, permission bits; the
 * type is the file's own), or since fuse-overlayfs 1.15 "uid:gid:mode:TYPE"
 * with TYPE dir, file, symlink, pipe, socket, block-MAJ-MIN or
 * char-MAJ-MIN (a device kept as a regular file).  Which of three names a
 * layer uses is chosen once, by the one its root carries.  The same idea
 * as user.strata.meta (meta.c), in another spelling: both readers of
 * directory layers (meta_layer.c) and the upper (meta.c, when the mount
 * asks for xattr_permissions=) read and write it here.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "upper.h"

const char *fs_meta_override_name(const char *root_path)
{
	/* fuse-overlayfs' own order (1.14 on): the privileged one, the one
	 * containers/storage writes, then its own rootless one. */
	static const char *const names[] = {META_OVERRIDE_PRIVILEGED, META_OVERRIDE_CONTAINERS,
	                                    META_OVERRIDE_USER};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (getxattr(root_path, names[i], NULL, 0) >= 0)
			return names[i];
	return NULL;
}

static const struct {
	const char *word;
	mode_t type;
} types[] = {{"dir", S_IFDIR},     {"file", S_IFREG},  {"symlink", S_IFLNK}, {"pipe", S_IFIFO},
             {"socket", S_IFSOCK}, {"block", S_IFBLK}, {"char", S_IFCHR}};

bool fs_meta_override_parse(const char *text, size_t len, mode_t real, struct upper_meta *m)
{
	char buf[96], word[16];
	unsigned long long uid, gid;
	unsigned int mode, maj, min;
	int end = 0;

	m->valid = false;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (sscanf(buf, "%llu:%llu:%o%n", &uid, &gid, &mode, &end) != 3)
		return false; /* damaged: the file shows as it is on disk */
	*m = (struct upper_meta){true, (uid_t)uid, (gid_t)gid, (real & S_IFMT) | (mode & 07777), 0};
	if (buf[end] == '\0')
		return true;
	if (buf[end] != ':' || sscanf(buf + end + 1, "%15[a-z]", word) != 1)
		return m->valid = false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(word, types[i].word) != 0)
			continue;
		m->mode = types[i].type | (mode & 07777);
		if (!S_ISCHR(m->mode) && !S_ISBLK(m->mode))
			return true;
		if (sscanf(buf + end + 1 + strlen(word), "-%u-%u", &maj, &min) != 2)
			break;
		m->rdev = makedev(maj, min);
		return true;
	}
	return m->valid = false;
}

int fs_meta_override_format(const struct upper_meta *m, char *buf, size_t size)
{
	const char *word = NULL;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((m->mode & S_IFMT) == types[i].type)
			word = types[i].word;
	/* Files and directories as every fuse-overlayfs writes them; the
	 * others (placeholders) as 1.15 does. */
	if (S_ISREG(m->mode) || S_ISDIR(m->mode) || !word)
		return snprintf(buf, size, "%u:%u:%o", (unsigned)m->uid, (unsigned)m->gid,
		                (unsigned)(m->mode & 07777));
	if (S_ISCHR(m->mode) || S_ISBLK(m->mode))
		return snprintf(buf, size, "%u:%u:%o:%s-%u-%u", (unsigned)m->uid, (unsigned)m->gid,
		                (unsigned)(m->mode & 07777), word, major(m->rdev), minor(m->rdev));
	return snprintf(buf, size, "%u:%u:%o:%s", (unsigned)m->uid, (unsigned)m->gid,
	                (unsigned)(m->mode & 07777), word);
}
