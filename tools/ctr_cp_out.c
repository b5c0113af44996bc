/* SPDX-License-Identifier: MIT */
/*
 * strata cp out of a stopped container: its merged tree read from the
 * store, as strata diff, commit and cat read it (the image's layers under
 * its upper, whiteouts and opaque directories applied), under its lock so
 * that it cannot start meanwhile.  Written on the host as the caller, as
 * a copy out of a running one is, one name at a time below the directory
 * opened first, no symlink followed (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

struct out {
	int dir;          /* the host's directory */
	const char *name; /* the copy's name in it */
	size_t skip;      /* the length of the top entry's path */
	bool top_seen;
	int failed;
};

/* @rel's parent below @dir (no symlink followed) and its last name. */
static int parent_fd(int dir, const char *rel, const char **last)
{
	struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
	                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];

	*last = slash ? slash + 1 : rel;
	if (!slash)
		return fcntl(dir, F_DUPFD_CLOEXEC, 0);
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
	return (int)syscall(SYS_openat2, dir, parent, &how, sizeof(how));
}

static int write_file(const struct strata_entry *e, int p, const char *last)
{
	static char buf[1 << 16];
	int fd = openat(p, last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct strata_error err;
	uint64_t off = 0;
	ssize_t n = 0;

	while (fd >= 0 && off < (uint64_t)e->st.st_size &&
	       (n = strata_entry_pread(e, buf, sizeof(buf), off, &err)) > 0 &&
	       write(fd, buf, (size_t)n) == n)
		off += (uint64_t)n;
	if (fd >= 0 && off == (uint64_t)e->st.st_size && fchmod(fd, e->st.st_mode & 07777) == 0)
		return close(fd);
	if (fd >= 0)
		close(fd);
	if (n < 0)
		errno = err.sys_errno;
	return -1;
}

/* One entry of the walk, made on the host. */
static int out_one(void *arg, const struct strata_entry *e)
{
	struct out *o = arg;
	struct timespec times[2] = {e->st.st_atim, e->st.st_mtim};
	char rel[PATH_MAX], target[PATH_MAX];
	const char *last;
	int p, rc;

	if (!o->top_seen) {
		o->skip = strlen(e->path);
		o->top_seen = true;
	}
	snprintf(rel, sizeof(rel), "%s%s", o->name, e->path + o->skip);
	if ((p = parent_fd(o->dir, rel, &last)) < 0) {
		cli_error("cp: %s: %s", rel, strerror(errno));
		o->failed = 1;
		return 0;
	}
	if (S_ISDIR(e->st.st_mode)) /* writable by us while we fill it */
		rc = mkdirat(p, last, (e->st.st_mode & 07777) | 0700) < 0 && errno != EEXIST ? -1
		                                                                             : 0;
	else if (S_ISREG(e->st.st_mode))
		rc = write_file(e, p, last);
	else if (S_ISLNK(e->st.st_mode)) {
		snprintf(target, sizeof(target), "%.*s", (int)e->link_len, e->link);
		rc = symlinkat(target, p, last);
	} else if (S_ISFIFO(e->st.st_mode))
		rc = mkfifoat(p, last, e->st.st_mode & 07777);
	else {
		cli_error("cp: /%s: not a file, directory or symlink: skipped", e->path);
		rc = 0;
	}
	if (rc < 0) {
		cli_error("cp: /%s: %s", e->path, strerror(errno));
		o->failed = 1;
	} else if (!S_ISDIR(e->st.st_mode)) {
		utimensat(p, last, times, AT_SYMLINK_NOFOLLOW);
	}
	close(p);
	return 0;
}

int ctr_cp_out_stopped(struct store *s, const char *dir, const char *name, const char *cpath,
                       int host_dir, const char *host_name)
{
	struct out o = {.dir = host_dir, .name = host_name};
	struct store_source src;
	struct strata_error err;
	int lock, stopped = 0, rc;

	/* Not started while we read its upper. */
	if ((lock = store_container_lock(dir, &err)) < 0)
		return cli_fail(&err);
	if (store_source_open(s, name, STORE_SOURCE_CONTAINER, cli_warn, &src, &err)) {
		close(lock);
		return cli_fail(&err);
	}
	rc = strata_stack_walk(src.layers, src.n_layers, cpath, true, out_one, &o, &stopped, &err);
	if (rc < 0)
		cli_error("cp: %s:%s: %s", name, cpath, strerror(err.sys_errno));
	store_source_close(&src);
	close(lock);
	return rc < 0 || o.failed ? 1 : 0;
}
