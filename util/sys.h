/* SPDX-License-Identifier: MIT */
/*
 * The few raw system calls strata makes, in one place (libstrata-util),
 * each retrying EINTR and short transfers so callers only see success or
 * errno.
 */
#ifndef STRATA_SYS_H
#define STRATA_SYS_H

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

/* write(2) until done.  Returns 0 or -1 with errno. */
int sys_write_all(int fd, const void *buf, size_t len);

/* pwrite(2) until done.  0 or -1 with errno. */
int sys_write_all_at(int fd, const void *buf, size_t len, off_t off);

/* pread(2) until @len bytes or end of file.  Returns bytes read or -1. */
ssize_t sys_pread_full(int fd, void *buf, size_t len, off_t off);

/* Creates an O_TMPFILE-like private temp file in the directory of @path,
 * named "<path>.tmp.XXXXXX" (so gc can find leftovers).  Returns the fd and
 * the temp name in *tmp_name (malloc'd). */
int sys_tmpfile_beside(const char *path, char **tmp_name);

/* Writes @buf to a temp file beside @path, fsyncs it and renames it over
 * @path, so a reader sees the old file or the whole new one, even after a
 * crash.  0 or -1 with errno. */
int sys_write_file_atomic(const char *path, const void *buf, size_t len);

/* The same without the fsync: for files that matter only while the process
 * that writes them runs (a container's /etc/hosts, its state record), whose
 * fsync would cost milliseconds at every container start.  Readers still see
 * the old file or the whole new one. */
int sys_write_file_volatile(const char *path, const void *buf, size_t len);

/* A directory stream on the directory @dirfd (O_PATH allowed) names, or
 * NULL with errno.  Close with closedir().  Reading it does not update the
 * directory's atime where the caller may prevent that (O_NOATIME). */
DIR *sys_opendir_at(int dirfd);
/* The same, opened with @flags (O_NOATIME or 0): O_NOATIME is dropped
 * where it is not allowed (a directory of another owner). */
DIR *sys_opendir_flags(int dirfd, int flags);

/* openat2(2): @path opened below @dirfd with @flags (O_CLOEXEC added),
 * resolved as @resolve (RESOLVE_* bits) says: RESOLVE_IN_ROOT keeps
 * every symlink and ".." inside @dirfd.  The fd, or -1 with errno (ENOSYS
 * before Linux 5.6). */
int sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve);

/* mkdir -p with mode 0700 for components it creates.  0 or -1 with errno. */
int sys_mkdir_p(const char *path);

/* The last mount at @path (as mountinfo spells it, unescaped) whose type
 * is @fstype ("fuse.strata"): the minor number of its device (a FUSE
 * mount's connection number) and, if @user_id is not NULL, its user_id=
 * option (-1 when it has none).  Read from /proc/self/mountinfo, as a
 * stat of the mount point would wait for the very daemon that serves it.
 * 1 when found, 0 when not, -1 with errno when mountinfo cannot be read. */
int sys_find_mount(const char *path, const char *fstype, long *minor, long *user_id);

#endif
