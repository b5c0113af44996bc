/* SPDX-License-Identifier: MIT */
/*
 * dirwalk DIR: checks readdir/telldir/seekdir on DIR, for the integration
 * tests.  Reads DIR once, remembering telldir() before every entry, then
 * seeks back to every 7th remembered position (and a few in reverse order)
 * and checks that readdir() returns the same entry from there; finally
 * rewinddir() and a second full pass must give the same sequence.  Prints
 * the names (without "." and ".."), one per line, and exits 1 on any
 * mismatch.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent {
	long pos;
	char *name;
};

static int check_at(DIR *d, const struct ent *e, size_t i)
{
	struct dirent *de;

	seekdir(d, e[i].pos);
	errno = 0;
	de = readdir(d);
	if (!de) {
		fprintf(stderr, "dirwalk: seekdir to entry %zu (%s): readdir: %s\n", i, e[i].name,
			errno ? strerror(errno) : "end of directory");
		return 1;
	}
	if (strcmp(de->d_name, e[i].name)) {
		fprintf(stderr, "dirwalk: seekdir to entry %zu: expected '%s', got '%s'\n", i,
			e[i].name, de->d_name);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ent *e = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	int bad = 0;
	DIR *d;

	if (argc != 2) {
		fprintf(stderr, "usage: dirwalk DIR\n");
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "dirwalk: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		long pos = telldir(d);

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			e = realloc(e, cap * sizeof(*e));
			if (!e)
				return 1;
		}
		e[n].pos = pos;
		e[n].name = strdup(de->d_name);
		if (!e[n].name)
			return 1;
		n++;
	}
	if (errno) {
		fprintf(stderr, "dirwalk: readdir: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n && bad < 10; i += 7)
		bad += check_at(d, e, i);
	for (i = n; i-- > 0 && bad < 10;)
		if (i % 101 == 0)
			bad += check_at(d, e, i);
	rewinddir(d);
	for (i = 0; bad < 10; i++) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (i >= n || strcmp(de->d_name, e[i].name)) {
			fprintf(stderr, "dirwalk: second pass: entry %zu is '%s', first pass had '%s'\n",
				i, de->d_name, i < n ? e[i].name : "(nothing)");
			bad++;
		}
	}
	if (i != n && bad < 10) {
		fprintf(stderr, "dirwalk: second pass: %zu entries, first pass %zu\n", i, n);
		bad++;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, ".") && strcmp(e[i].name, ".."))
			printf("%s\n", e[i].name);
	return bad ? 1 : 0;
}
