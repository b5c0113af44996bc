/* The "lstat of every path" walk of bench/scale.sh: read paths relative to
 * DIR, one a line, from LIST and lstat() each, in list order, from one
 * process.  Every path is resolved from DIR afresh (fstatat on DIR's fd),
 * as a program that is handed a list of names does it: one lookup per
 * component, no readdir.
 *
 *   lstatall DIR LIST
 *
 * Prints the number of paths and the sum of their sizes (so the calls cannot
 * be optimised away and the result can be checked).  A failed lstat is
 * reported as "lstatall: PATH: strerror" and the exit status is 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long long n = 0, bytes = 0;
	struct stat st;
	FILE *list;
	int dfd;

	if (argc != 3) {
		fprintf(stderr, "usage: lstatall DIR LIST\n");
		return 2;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	list = fopen(argv[2], "r");
	if (dfd < 0 || !list) {
		fprintf(stderr, "lstatall: %s: %s\n", dfd < 0 ? argv[1] : argv[2], strerror(errno));
		return 1;
	}
	while ((len = getline(&line, &cap, list)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (fstatat(dfd, line, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fprintf(stderr, "lstatall: %s: %s\n", line, strerror(errno));
			return 1;
		}
		n++;
		bytes += st.st_size;
	}
	printf("%lld %lld\n", n, bytes);
	free(line);
	fclose(list);
	close(dfd);
	return 0;
}
