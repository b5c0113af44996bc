/* SPDX-License-Identifier: MIT */
/*
 * fhandle: file handles for the integration tests (export.sh).
 *
 *   fhandle encode PATH        prints PATH's handle (name_to_handle_at, the
 *                              link itself for a symlink) as TYPE:HEX
 *   fhandle read MNT HANDLE    opens it (open_by_handle_at on MNT's root,
 *                              read only) and copies the data to stdout
 *   fhandle stat MNT HANDLE    opens it O_PATH and prints "INO PATH": its
 *                              st_ino and where /proc/self/fd says it is
 *                              (a directory's full path once reconnected)
 *   fhandle dir MNT HANDLE     the same for a directory, opened O_DIRECTORY
 *                              (all a caller without CAP_DAC_READ_SEARCH in
 *                              the initial user namespace may open)
 *
 * Exit 0; 1 with "fhandle: <what>: <strerror>" on stderr; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

union handle {
	struct file_handle fh;
	char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
};

static int fail(const char *what)
{
	fprintf(stderr, "fhandle: %s: %s\n", what, strerror(errno));
	return 1;
}

static int encode(const char *path)
{
	union handle h;
	int mount_id;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return fail("name_to_handle_at");
	printf("%d:", h.fh.handle_type);
	for (unsigned int i = 0; i < h.fh.handle_bytes; i++)
		printf("%02x", h.fh.f_handle[i]);
	printf("\n");
	return 0;
}

static int parse(const char *text, union handle *h)
{
	char *end;
	size_t n = 0;

	h->fh.handle_type = (int)strtol(text, &end, 10);
	if (*end++ != ':')
		return -1;
	while (end[0] && end[1] && n < MAX_HANDLE_SZ) {
		char byte[3] = {end[0], end[1], 0};

		h->fh.f_handle[n++] = (unsigned char)strtoul(byte, NULL, 16);
		end += 2;
	}
	h->fh.handle_bytes = (unsigned int)n;
	return *end ? -1 : 0;
}

/* Opens @text's object on @mnt with @flags; -1 after printing why. */
static int open_handle(const char *mnt, const char *text, int flags)
{
	union handle h;
	int mfd, fd;

	if (parse(text, &h) < 0) {
		fprintf(stderr, "fhandle: bad handle '%s'\n", text);
		return -1;
	}
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0) {
		fail(mnt);
		return -1;
	}
	fd = open_by_handle_at(mfd, &h.fh, flags | O_CLOEXEC);
	if (fd < 0)
		fail("open_by_handle_at");
	close(mfd);
	return fd;
}

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return fail("write");
	return n < 0 ? fail("read") : 0;
}

static int stat_handle(int fd)
{
	char link[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (fstat(fd, &st) < 0)
		return fail("fstat");
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return fail("readlink");
	path[n] = '\0';
	printf("%llu %s\n", (unsigned long long)st.st_ino, path);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, rc;

	if (argc == 3 && strcmp(argv[1], "encode") == 0)
		return encode(argv[2]);
	if (argc != 4 || (strcmp(argv[1], "read") != 0 && strcmp(argv[1], "stat") != 0 &&
	                  strcmp(argv[1], "dir") != 0)) {
		fprintf(stderr, "usage: fhandle encode PATH | {read|stat|dir} MNT HANDLE\n");
		return 2;
	}
	if (strcmp(argv[1], "dir") == 0)
		fd = open_handle(argv[2], argv[3], O_RDONLY | O_DIRECTORY);
	else
		fd =
		    open_handle(argv[2], argv[3], strcmp(argv[1], "read") == 0 ? O_RDONLY : O_PATH);
	if (fd < 0)
		return 1;
	rc = strcmp(argv[1], "read") == 0 ? copy_out(fd) : stat_handle(fd);
	close(fd);
	return rc;
}
