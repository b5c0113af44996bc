/* SPDX-License-Identifier: MIT */
/*
 * treelist: a test helper for tests/inspect, linked statically so that it
 * also runs inside a busybox container.
 *
 *   treelist DIR
 *       One line per entry below DIR (DIR itself excluded; mount points of
 *       other file systems listed but not entered), sorted by path:
 *           TYPE PATH MODE UID:GID SIZE NLINK HASH [-> TARGET] [xattrs]
 *       TYPE is one of - d l p c b s; MODE the permission bits in octal.
 *       Directories print "-" for SIZE and NLINK (file-system specific);
 *       HASH is a 64-bit FNV-1a of a regular file's content (else "-");
 *       xattrs are " {name=hex,...}" sorted by name, left out when none.
 *   treelist -x PATH NAME VALUE
 *       setxattr (no follow): busybox has no setfattr.
 *   treelist -g PATH
 *       the xattrs of PATH as above (empty line when none).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char **paths;
static size_t n_paths, cap_paths;
static dev_t root_dev;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "treelist: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void add(const char *path)
{
	if (n_paths == cap_paths) {
		cap_paths = cap_paths ? 2 * cap_paths : 256;
		paths = realloc(paths, cap_paths * sizeof(*paths));
		if (!paths)
			die("realloc", "");
	}
	paths[n_paths++] = strdup(path);
}

static void walk(const char *dir)
{
	DIR *d = opendir(*dir ? dir : "/");
	struct dirent *de;
	char sub[8192];
	struct stat st;

	if (!d)
		die("opendir", dir);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		add(sub);
		if (lstat(sub, &st) < 0)
			die("lstat", sub);
		if (S_ISDIR(st.st_mode) && st.st_dev == root_dev)
			walk(sub);
	}
	closedir(d);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_xattrs(const char *path, const char *sep)
{
	char names[65536], *v[1024], val[65536];
	ssize_t len = llistxattr(path, names, sizeof(names));
	size_t n = 0;

	for (ssize_t o = 0; len > 0 && o < len && n < 1024; o += (ssize_t)strlen(names + o) + 1)
		v[n++] = names + o;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), by_str);
	printf("%s{", sep);
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = lgetxattr(path, v[i], val, sizeof(val));

		printf("%s%s=", i ? "," : "", v[i]);
		for (ssize_t k = 0; k < vl; k++)
			printf("%02x", (unsigned char)val[k]);
	}
	putchar('}');
}

static uint64_t hash_file(const char *path)
{
	static char buf[1 << 16];
	uint64_t h = 1469598103934665603ULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;

	if (fd < 0 && errno == EACCES)
		return 0; /* a rootless container may not read it: "0" both sides */
	if (fd < 0)
		die("open", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
	if (n < 0 && errno == EACCES) {
		close(fd);
		return 0;
	}
	if (n < 0)
		die("read", path);
	close(fd);
	return h;
}

static int list(const char *root)
{
	size_t skip = strlen(root);
	struct stat st;

	if (lstat(*root ? root : "/", &st) < 0)
		die("lstat", root);
	root_dev = st.st_dev;
	walk(root);
	qsort(paths, n_paths, sizeof(*paths), by_str);
	for (size_t i = 0; i < n_paths; i++) {
		const char *p = paths[i];
		char type = '?', target[4096];

		if (lstat(p, &st) < 0)
			die("lstat", p);
		switch (st.st_mode & S_IFMT) {
		case S_IFREG: type = '-'; break;
		case S_IFDIR: type = 'd'; break;
		case S_IFLNK: type = 'l'; break;
		case S_IFIFO: type = 'p'; break;
		case S_IFCHR: type = 'c'; break;
		case S_IFBLK: type = 'b'; break;
		case S_IFSOCK: type = 's'; break;
		}
		printf("%c %s %04o %u:%u", type, p[skip] ? p + skip : "/",
		       (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
		if (S_ISDIR(st.st_mode))
			printf(" - -");
		else
			printf(" %lld %lu", (long long)st.st_size, (unsigned long)st.st_nlink);
		if (S_ISREG(st.st_mode))
			printf(" %016llx", (unsigned long long)hash_file(p));
		else
			printf(" -");
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(p, target, sizeof(target) - 1);

			if (n < 0)
				die("readlink", p);
			printf(" -> %.*s", (int)n, target);
		}
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			printf(" dev=%u,%u", major(st.st_rdev), minor(st.st_rdev));
		print_xattrs(p, " ");
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2)
		return list(strcmp(argv[1], "/") == 0 ? "" : argv[1]);
	if (argc == 5 && strcmp(argv[1], "-x") == 0) {
		if (lsetxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) < 0)
			die("setxattr", argv[2]);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "-g") == 0) {
		print_xattrs(argv[2], "");
		putchar('\n');
		return 0;
	}
	fprintf(stderr, "usage: treelist DIR | treelist -x PATH NAME VALUE | treelist -g PATH\n");
	return 2;
}
