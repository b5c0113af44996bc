/* SPDX-License-Identifier: MIT */
/*
 * The atime mount options (atime.c says how they are honoured).  Private
 * to libstrata-fs.
 */
#ifndef STRATA_ATIME_H
#define STRATA_ATIME_H

#include <stdbool.h>

#include "union.h"

/* Takes mount(8)'s atime options (atime, noatime, diratime, nodiratime,
 * relatime, norelatime, strictatime, nostrictatime) out of the
 * comma-separated @opts (may be NULL) into @flags, as mount(2)'s MS_*
 * flags; *@rest (malloc'd) is the others, and "noatime" when the result
 * is noatime, for libfuse, which knows no other.  0 or ENOMEM. */
int fs_atime_parse(const char *opts, unsigned long *flags, char **rest);
/* Makes the mount at @mountpoint show strictatime and nodiratime among
 * its flags, when the daemon may: as root of the mount's namespace (not a
 * user's daemon that fusermount3 mounted, which shows noatime alone). */
void fs_atime_show(const char *mountpoint, unsigned long flags);
/* O_NOATIME when a read or listing of the upper object behind @opath_fd
 * (-1: one just created) may not update its atime, else 0. */
int fs_atime_open_flag(const struct strata_union *u, int opath_fd, bool dir);

#endif
