/* SPDX-License-Identifier: MIT */
/*
 * strata cp, inside: a tree copied between a directory of the host, opened
 * before, and a running container's root, from inside its user and mount
 * namespaces (run.h, struct run_cp).
 *
 * Security reasoning:
 *  - The host's side is one directory fd, opened by strata cp before the
 *    setns, and only single names (from the command line's last component,
 *    or read from a directory) are created or opened in it, never
 *    following a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW): a tree of the
 *    container's making cannot lead a write out of the directory given.
 *  - The container's side is resolved in its own root (after setns the
 *    process's root is the container's), so its symlinks stay inside it.
 *  - Files are made by a process that is root in the container's user
 *    namespace: their owner is the container's root, as the id map puts
 *    it on the host (the caller's uid, or root's), both ways: what comes
 *    out belongs to the caller, what goes in to the container's root, as
 *    docker cp does.  Modes and times are kept; devices are skipped.
 *  - Nothing of the container's runs: no exec; the process ends with the
 *    copy.
 *
 * Built without AddressSanitizer (tools/meson.build), as the init is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

static int failed;

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	run_proc_vsay("cp", fmt, ap);
	va_end(ap);
	failed = 1;
}

/* Deeper trees are refused: each level holds two fds and a path on the
 * stack, and the container makes the tree. */
#define CP_MAX_DEPTH 128

static int copy_at(int from, const char *name, int to, const char *as, const char *path, int depth);

static int copy_data(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));

			if (w < 0)
				return -1;
			done += w;
		}
	return n < 0 ? -1 : 0;
}

static int copy_file(int from, const char *name, int to, const char *as, mode_t mode)
{
	int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int out = in < 0 ? -1
	                 : openat(to, as, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	                          mode & 07777);
	int rc = in < 0 || out < 0 || copy_data(in, out) < 0 || fchmod(out, mode & 07777) < 0;

	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc ? -1 : 0;
}

static int copy_dir(int from, const char *name, int to, const char *as, mode_t mode,
                    const char *path, int depth)
{
	int src = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), dst;
	DIR *d;
	struct dirent *de;
	char sub[PATH_MAX];

	if (src < 0 || (mkdirat(to, as, 0700) < 0 && errno != EEXIST) ||
	    (dst = openat(to, as, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (src >= 0)
			close(src);
		return -1;
	}
	if (!(d = fdopendir(src))) {
		close(src);
		close(dst);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			copy_at(dirfd(d), de->d_name, dst, de->d_name, sub, depth + 1);
		}
	closedir(d);
	fchmod(dst, mode & 07777);
	close(dst);
	return 0;
}

/* @name in @from copied as @as in @to (@path names it in messages), @depth
 * directories down. */
static int copy_at(int from, const char *name, int to, const char *as, const char *path, int depth)
{
	struct timespec times[2];
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int rc = 0;

	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		say("%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode))
		rc = copy_file(from, name, to, as, st.st_mode);
	else if (S_ISDIR(st.st_mode) && depth >= CP_MAX_DEPTH) {
		say("%s: more than %d directories deep: not copied", path, CP_MAX_DEPTH);
		return -1;
	} else if (S_ISDIR(st.st_mode))
		rc = copy_dir(from, name, to, as, st.st_mode, path, depth);
	else if (S_ISLNK(st.st_mode)) {
		n = readlinkat(from, name, target, sizeof(target) - 1);
		if (n >= 0)
			target[n] = '\0';
		rc = n < 0 || symlinkat(target, to, as) < 0 ? -1 : 0;
	} else if (S_ISFIFO(st.st_mode))
		rc = mkfifoat(to, as, st.st_mode & 07777);
	else {
		say("%s: not a file, directory or symlink: skipped", path);
		return 0;
	}
	if (rc < 0) {
		say("%s: %s", path, strerror(errno));
		return -1;
	}
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	utimensat(to, as, times, AT_SYMLINK_NOFOLLOW);
	return 0;
}

void run_cp_split(const char *path, char *dir, size_t dsize, char *name, size_t nsize)
{
	size_t len = strlen(path);
	const char *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	snprintf(dir, dsize, "%.*s", (int)len, path);
	slash = strrchr(dir, '/');
	snprintf(name, nsize, "%s", slash ? slash + 1 : dir);
	if (!slash)
		snprintf(dir, dsize, ".");
	else
		dir[slash == dir ? 1 : slash - dir] = '\0';
}

void run_cp_enter(const struct run_cp *c)
{
	if (setns(c->pidfd, c->ns_flags) < 0) {
		say("joining the container's namespaces: %s",
		    errno == ESRCH ? "it has stopped" : strerror(errno));
		_exit(1);
	}
	run_cp_in_root(c);
}

void run_cp_in_root(const struct run_cp *c)
{
	char name[NAME_MAX + 1], parent[PATH_MAX];
	struct stat st;
	int dir;

	run_cp_split(c->path, parent, sizeof(parent), name, sizeof(name));
	if (!name[0]) /* "/": the root itself */
		snprintf(name, sizeof(name), ".");
	if (chdir("/") < 0 || (dir = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		say("%s: %s", c->path, strerror(errno));
		_exit(1);
	}
	if (c->into) {
		/* An existing directory takes the source under its own name. */
		if (fstatat(dir, name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			close(dir);
			dir = sub;
			snprintf(name, sizeof(name), "%s", c->host_name);
		}
		if (dir >= 0)
			copy_at(c->host_dir, c->host_name, dir, name, c->path, 0);
		else
			say("%s: %s", c->path, strerror(errno));
	} else {
		copy_at(dir, name, c->host_dir, c->host_name, c->path, 0);
	}
	_exit(failed);
}

void run_cp_chroot(const char *root, const struct run_cp *c)
{
	if (chroot(root) < 0) {
		say("entering the container's tree: %s", strerror(errno));
		_exit(1);
	}
	run_cp_in_root(c);
}
