/* Small-file loop for bench/write.sh: N times, in one directory and one
 * process, create a new file and write 100 bytes to it, stat it, delete it.
 *
 *   smallfiles DIR [N]      (N defaults to 5000)
 *
 * Every call is checked; the first failure is reported on stderr as
 * "smallfiles: iteration I: OP NAME: strerror" and the exit status is 1.
 * At the end DIR must hold no entry the loop made (a readdir check). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(long i, const char *op, const char *name)
{
	fprintf(stderr, "smallfiles: iteration %ld: %s %s: %s\n", i, op, name, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	char buf[100], name[32];
	struct stat st;
	long n = 5000, i;
	int dfd, fd;
	ssize_t w;

	if (argc < 2 || argc > 3 || (argc == 3 && (n = strtol(argv[2], NULL, 10)) <= 0)) {
		fprintf(stderr, "usage: smallfiles DIR [N]\n");
		return 2;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(-1, "open", argv[1]);
	memset(buf, 'x', sizeof(buf));
	buf[sizeof(buf) - 1] = '\n';

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%06ld", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail(i, "create", name);
		w = write(fd, buf, sizeof(buf));
		if (w != (ssize_t)sizeof(buf)) {
			if (w >= 0)
				errno = EIO;
			return fail(i, "write", name);
		}
		if (close(fd) != 0)
			return fail(i, "close", name);
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return fail(i, "stat", name);
		if (!S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(buf)) {
			fprintf(stderr, "smallfiles: iteration %ld: stat %s: mode %o size %lld, want a regular file of %zu bytes\n",
				i, name, (unsigned)st.st_mode, (long long)st.st_size, sizeof(buf));
			return 1;
		}
		if (unlinkat(dfd, name, 0) != 0)
			return fail(i, "unlink", name);
	}

	/* Nothing the loop made may still be listed. */
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	if (!d)
		return fail(n, "fdopendir", argv[1]);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == 'f' && strlen(de->d_name) == 7) {
			fprintf(stderr, "smallfiles: %s still listed after the loop\n", de->d_name);
			return 1;
		}
	}
	if (errno != 0)
		return fail(n, "readdir", argv[1]);
	closedir(d);
	return 0;
}
