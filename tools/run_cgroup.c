/* SPDX-License-Identifier: MIT */
/*
 * --memory and --cpus through cgroup v2.  The container gets a child cgroup
 * of the caller's own, which must be delegated to the caller (writable, with
 * the memory and cpu controllers available).  Where that is not so, the
 * run fails and says why: a limit the user asked for is never silently
 * dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "sys.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* "512m", "2g", "1048576" → bytes; 0 on error. */
uint64_t run_parse_bytes(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mult = 1;

	switch (*end) {
	case 'k':
	case 'K':
		mult = 1ULL << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1ULL << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1ULL << 30;
		end++;
		break;
	case '\0':
		break;
	default:
		return 0;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	return *end || v <= 0 ? 0 : (uint64_t)(v * (double)mult);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = sys_write_all(fd, text, strlen(text));
	close(fd);
	return rc;
}

/* Whether @dir's cgroup.controllers lists @name; its text goes to @list. */
static bool has_controller(const char *dir, const char *name, char *list, size_t size)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	list[0] = '\0';
	f = fopen(path, "re");
	if (f) {
		if (fgets(list, (int)size, f))
			list[strcspn(list, "\n")] = '\0';
		fclose(f);
	}
	for (const char *p = list; (p = strstr(p, name)); p += strlen(name))
		if ((p == list || p[-1] == ' ') && (p[strlen(name)] == ' ' || !p[strlen(name)]))
			return true;
	return false;
}

/* The caller's cgroup v2 directory. */
static int own_cgroup(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX];
	int rc = -1;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			/* "0::/" is the root itself: no trailing slash. */
			snprintf(out, size, "%s%.3900s", CGROUP_ROOT,
			         strcmp(line + 3, "/") ? line + 3 : "");
			rc = 0;
		}
	if (f)
		fclose(f);
	return rc;
}

/* Our own cgroup (v2) in @parent, checked to have the controllers @lim
 * needs.  0, or -1 after saying why. */
static int usable_parent(const struct run_limits *lim, char *parent, size_t size)
{
	struct statfs sf;

	if (statfs(CGROUP_ROOT, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		cli_error("run: --memory/--cpus: cgroup v2 is not mounted at %s (this system uses "
		          "cgroup v1); limits need cgroup v2",
		          CGROUP_ROOT);
		return -1;
	}
	if (own_cgroup(parent, size) < 0) {
		cli_error("run: --memory/--cpus: no cgroup v2 entry in /proc/self/cgroup");
		return -1;
	}
	/* A controller missing here (bound to a cgroup v1 hierarchy on a
	 * hybrid system, or not delegated to us by our parent) would make
	 * every write below fail with a bare ENOENT: name it instead. */
	for (int i = 0; i < 2; i++) {
		const char *c = i == 0 ? "memory" : "cpu";
		char list[256];

		if ((i == 0 ? lim->memory > 0 : lim->cpus > 0) &&
		    !has_controller(parent, c, list, sizeof(list))) {
			cli_error(
			    "run: --%s: cgroup %s has no %s controller (its cgroup.controllers: "
			    "%s); on a system that mounts cgroup v1 too, it may be bound there",
			    i == 0 ? "memory" : "cpus", parent, c, *list ? list : "none");
			return -1;
		}
	}
	return 0;
}

/* Passes the controllers @lim needs to @parent's children.  0, or -1. */
static int enable_controllers(const struct run_limits *lim, const char *parent)
{
	/* Controllers pass to children only through subtree_control, which the
	 * kernel refuses (EBUSY) while the parent itself holds processes,
	 * except at the root.  In a delegated scope that holds just us (say
	 * systemd-run --user --scope -p Delegate=yes), we move ourselves to a
	 * leaf first, as crun does. */
	const char *ctl = lim->memory && lim->cpus ? "+memory +cpu"
	                  : lim->memory            ? "+memory"
	                                           : "+cpu";
	int rc = write_file(parent, "cgroup.subtree_control", ctl);

	if (rc < 0 && errno == EBUSY) {
		char leaf[PATH_MAX];

		snprintf(leaf, sizeof(leaf), "%.4000s/strata-launcher-%ld", parent, (long)getpid());
		if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) && run_cgroup_enter(leaf, 0) == 0)
			rc = write_file(parent, "cgroup.subtree_control", ctl);
	}
	return rc;
}

/* Writes one limit file of the new cgroup @dir; gives it up on failure. */
static int set_limit(const char *dir, const char *opt, const char *file, const char *text)
{
	if (write_file(dir, file, text) == 0)
		return 0;
	cli_error("run: --%s: %s/%s: %s", opt, dir, file, strerror(errno));
	rmdir(dir);
	return -1;
}

int run_cgroup_create(const struct run_limits *lim, const char *name, char *dir, size_t size)
{
	char parent[PATH_MAX - 64], text[64];

	if (usable_parent(lim, parent, sizeof(parent)) < 0)
		return -1;
	snprintf(dir, size, "%s/strata-%s", parent, name);
	if (enable_controllers(lim, parent) < 0 || (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
		cli_error("run: --memory/--cpus: cgroup %s is not delegated to you (%s)", parent,
		          strerror(errno));
		return -1;
	}
	if (lim->memory) {
		snprintf(text, sizeof(text), "%llu", (unsigned long long)lim->memory);
		if (set_limit(dir, "memory", "memory.max", text) < 0)
			return -1;
	}
	if (lim->cpus > 0) {
		snprintf(text, sizeof(text), "%llu 100000",
		         (unsigned long long)(lim->cpus * 100000));
		if (set_limit(dir, "cpus", "cpu.max", text) < 0)
			return -1;
	}
	return 0;
}

int run_cgroup_enter(const char *dir, pid_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%ld", (long)pid);
	if (write_file(dir, "cgroup.procs", text) < 0) {
		cli_error("run: cgroup %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
