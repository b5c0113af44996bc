/* SPDX-License-Identifier: MIT */
/*
 * strata cp, outside: the host's side opened here, before a child joins
 * the running container's user and mount namespaces and copies
 * (run_cp.c).  As docker cp: into an existing directory under the
 * source's name, else as the name given.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "strata-store.h"

/* The host's side: a directory fd and a name in it.  -1 after saying why. */
static int host_side(const char *host, const char *cpath, bool into, char *name, size_t size)
{
	char dir[PATH_MAX], cname[NAME_MAX + 1];
	struct stat st;
	int fd;

	run_cp_split(host, dir, sizeof(dir), name, size);
	if (into && lstat(host, &st) < 0) {
		cli_error("cp: %s: %s", host, strerror(errno));
		return -1;
	}
	if (!into && stat(host, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* Into it, under the container path's own name. */
		run_cp_split(cpath, cname, sizeof(cname), name, size);
		snprintf(dir, sizeof(dir), "%s", host);
	}
	if (!strcmp(name, "/") || !strcmp(name, ".") || !strcmp(name, "..")) {
		cli_error("cp: %s: name a file or directory, not '%s'", into ? host : cpath, name);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		cli_error("cp: %s: %s", dir, strerror(errno));
	return fd;
}

/* A stopped container: out of its tree in the store, into its union
 * mounted for the copy. */
static int cp_stopped(struct store *s, const char *dir, const char *name, const char *cpath,
                      const char *host, bool into)
{
	char host_name[NAME_MAX + 1];
	int host_dir, rc;

	if ((host_dir = host_side(host, cpath, into, host_name, sizeof(host_name))) < 0)
		return 1;
	rc = into ? ctr_cp_in_stopped(s, dir, name, cpath, host_dir, host_name)
	          : ctr_cp_out_stopped(s, dir, name, cpath, host_dir, host_name);
	close(host_dir);
	return rc;
}

int ctr_cp(struct store *s, const char *dir, const char *name, const char *cpath, const char *host,
           bool into)
{
	char host_name[NAME_MAX + 1];
	struct run_cp c = {.into = into, .path = cpath, .host_name = host_name, .host_dir = -1};
	pid_t init = -1, child = -1;
	int st = 0;

	if (!store_container_running(dir))
		return cp_stopped(s, dir, name, cpath, host, into);
	if ((c.pidfd = ctr_init_pidfd(dir, &init)) < 0) {
		cli_error("cp: %s: running, and its init is not found: %s", name, strerror(errno));
		return 1;
	}
	c.ns_flags = ctr_namespaces(init) & (CLONE_NEWUSER | CLONE_NEWNS);
	if ((c.host_dir = host_side(host, cpath, into, host_name, sizeof(host_name))) >= 0) {
		fflush(NULL);
		if ((child = fork()) == 0)
			run_cp_enter(&c);
		while (child > 0 && waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		if (child < 0)
			cli_error("cp: fork: %s", strerror(errno));
		close(c.host_dir);
	}
	close(c.pidfd);
	return c.host_dir >= 0 && child > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
