/* SPDX-License-Identifier: MIT */
/*
 * The atime mount options (noatime, relatime, strictatime, nodiratime and
 * their negations), honoured as overlayfs honours them.
 *
 * The kernel never updates the atime of a FUSE inode itself (it marks
 * every one S_NOATIME): after a read or a listing it only forgets the atime
 * it knew and asks the daemon again.  So the mount's options are the
 * daemon's to apply.  When it opens an upper object for a read or a
 * listing, it decides, as the VFS does for a mount with these options
 * (atime_needs_update), whether that may update the object's atime, and
 * opens it with O_NOATIME when not.  When it may, the upper's own file
 * system applies its options too, as it does under overlayfs (whose
 * ovl_update_time touches the upper through the upper's mount): the atime
 * moves only when both agree.  Reads of lower layers move no atime: a tar
 * entry shows its mtime as its atime.  What the daemon reads for itself (an
 * rmdir's check that a directory is empty) never moves one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "atime.h"

/* mount(8)'s names and what each does to the flags, as mount(2) takes them
 * (a later option overrides an earlier one). */
static const struct {
	const char *name;
	unsigned long flag;
	bool set;
} atime_opts[] = {
    {"atime", MS_NOATIME, false},          {"noatime", MS_NOATIME, true},
    {"diratime", MS_NODIRATIME, false},    {"nodiratime", MS_NODIRATIME, true},
    {"relatime", MS_RELATIME, true},       {"norelatime", MS_RELATIME, false},
    {"strictatime", MS_STRICTATIME, true}, {"nostrictatime", MS_STRICTATIME, false},
};

static bool atime_option(const char *o, unsigned long *flags)
{
	for (size_t i = 0; i < sizeof(atime_opts) / sizeof(atime_opts[0]); i++) {
		if (strcmp(o, atime_opts[i].name) != 0)
			continue;
		if (atime_opts[i].set)
			*flags |= atime_opts[i].flag;
		else
			*flags &= ~atime_opts[i].flag;
		return true;
	}
	return false;
}

/* As the kernel reads the flags: strictatime undoes noatime, and relatime
 * is what is left. */
static bool no_atime(unsigned long flags)
{
	return (flags & MS_NOATIME) && !(flags & MS_STRICTATIME);
}

int fs_atime_parse(const char *opts, unsigned long *flags, char **rest)
{
	char *copy = strdup(opts ? opts : ""), *save = NULL;
	size_t len = 0;

	*flags = 0;
	*rest = copy ? calloc(1, strlen(copy) + sizeof(",noatime")) : NULL;
	if (!*rest) {
		free(copy);
		return ENOMEM;
	}
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (!atime_option(o, flags))
			len += (size_t)sprintf(*rest + len, "%s%s", len ? "," : "", o);
	/* libfuse 3.14 knows noatime alone: it shows in the mount's flags. */
	if (no_atime(*flags))
		sprintf(*rest + len, "%snoatime", len ? "," : "");
	free(copy);
	return 0;
}

void fs_atime_show(const char *mountpoint, unsigned long flags)
{
	struct mount_attr attr = {0};

	if (flags & MS_STRICTATIME) {
		attr.attr_clr = MOUNT_ATTR__ATIME;
		attr.attr_set = MOUNT_ATTR_STRICTATIME;
	}
	if (flags & MS_NODIRATIME)
		attr.attr_set |= MOUNT_ATTR_NODIRATIME;
	/* Only root of the mount's namespace may; for FUSE the flags change
	 * nothing but what /proc/self/mountinfo says. */
	if (attr.attr_set)
		(void)mount_setattr(AT_FDCWD, mountpoint, 0, &attr, sizeof(attr));
}

static bool newer(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* The kernel's relatime_need_update(): the atime is not newer than the
 * mtime or the ctime, or is a day old. */
static bool relatime_due(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return !newer(&st->st_atim, &st->st_mtim) || !newer(&st->st_atim, &st->st_ctim) ||
	       now.tv_sec - st->st_atim.tv_sec >= 24 * 60 * 60;
}

int fs_atime_open_flag(const struct strata_union *u, int opath_fd, bool dir)
{
	struct stat st;

	if (no_atime(u->atime_flags) || (dir && (u->atime_flags & MS_NODIRATIME)))
		return O_NOATIME;
	/* A new object's atime equals its mtime: relatime updates it. */
	if ((u->atime_flags & MS_STRICTATIME) || opath_fd < 0)
		return 0;
	if (fstatat(opath_fd, "", &st, AT_EMPTY_PATH) < 0)
		return 0; /* the upper's options decide */
	return relatime_due(&st) ? 0 : O_NOATIME;
}
