/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

int sys_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sys_write_all_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t sys_pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int sys_tmpfile_beside(const char *path, char **tmp_name)
{
	size_t len = strlen(path) + sizeof(".tmp.XXXXXX");
	char *name = malloc(len);
	int fd;

	if (!name)
		return -1;
	snprintf(name, len, "%s.tmp.XXXXXX", path);
	fd = mkostemp(name, O_CLOEXEC);
	if (fd < 0) {
		int en = errno;

		free(name);
		errno = en;
		return -1;
	}
	*tmp_name = name;
	return fd;
}

static int write_file_replace(const char *path, const void *buf, size_t len, bool durable)
{
	char *tmp;
	int fd = sys_tmpfile_beside(path, &tmp), en;

	if (fd < 0)
		return -1;
	if (fchmod(fd, 0644) < 0 || sys_write_all(fd, buf, len) < 0 || (durable && fsync(fd) < 0)) {
		en = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		en = errno;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		en = errno;
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	errno = en;
	return -1;
}

int sys_write_file_atomic(const char *path, const void *buf, size_t len)
{
	return write_file_replace(path, buf, len, true);
}

int sys_write_file_volatile(const char *path, const void *buf, size_t len)
{
	return write_file_replace(path, buf, len, false);
}

int sys_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Most often the parents are there: one mkdir, not one per level. */
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

DIR *sys_opendir_at(int dirfd)
{
	return sys_opendir_flags(dirfd, O_NOATIME);
}

DIR *sys_opendir_flags(int dirfd, int flags)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	DIR *d;

	if (fd < 0 && errno == EPERM && (flags & O_NOATIME))
		fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int en = errno;

		close(fd);
		errno = en;
	}
	return d;
}

int sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
	                       .resolve = resolve};
	long fd;

	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}
