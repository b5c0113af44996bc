/* SPDX-License-Identifier: MIT */
/* A container's cgroups: layout, files, usage, removal (cgroup.h). */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "strata-store.h"
#include "sys.h"

enum cg_layout cg_layout(void)
{
	struct statfs sf;

	if (statfs(CG_ROOT, &sf) < 0)
		return CG_NONE;
	if (sf.f_type == CGROUP2_SUPER_MAGIC)
		return CG_V2;
	if (statfs(CG_ROOT "/memory", &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC) {
		/* A v1 host need not mount memory; pids is as telling. */
		if (statfs(CG_ROOT "/pids", &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC)
			return CG_NONE;
	}
	return statfs(CG_ROOT "/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC ? CG_HYBRID
	                                                                                : CG_V1;
}

const char *cg_layout_name(enum cg_layout l)
{
	static const char *const names[] = {"none", "v1", "hybrid", "v2"};

	return names[l];
}

/* Whether the comma-separated @list names @word. */
static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* @path's text, read once: the callers look up one hierarchy at a time,
 * and strata run makes up to seven groups, each of which read the two
 * files again (10 opens and parses a root start).  A process's mounts and
 * groups do not change under it while it makes its container's groups.
 * NULL when it cannot be read. */
static FILE *open_cached(const char *path, char **text, size_t *len)
{
	if (!*text) {
		FILE *f = fopen(path, "re");
		char buf[8192];
		size_t n;

		while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
			char *t = realloc(*text, *len + n + 1);

			if (!t) {
				free(*text);
				*text = NULL;
				*len = 0;
				break;
			}
			memcpy(t + *len, buf, n);
			*text = t;
			*len += n;
		}
		if (f)
			fclose(f);
		if (!*text)
			return NULL;
	}
	return fmemopen(*text, *len, "r");
}

static FILE *open_mountinfo(void)
{
	static char *text;
	static size_t len;

	return open_cached("/proc/self/mountinfo", &text, &len);
}

static FILE *open_own_cgroups(void)
{
	static char *text;
	static size_t len;

	return open_cached("/proc/self/cgroup", &text, &len);
}

/* A cgroup mount from mountinfo: of v1 holding @ctrl, or (@ctrl "") the
 * cgroup2 one at CG_ROOT.  Its mount point into @mnt, and its root, the
 * group of the hierarchy it shows, into @root ("/" mostly; a container
 * without a cgroup namespace is shown only its own group).  The last such
 * mount: one made later on the same point covers the earlier.  0, or -1. */
static int find_mount(const char *ctrl, char mnt[PATH_MAX], char root[PATH_MAX])
{
	FILE *f = open_mountinfo();
	char line[4096], type[64], opts[1024], m[PATH_MAX], r[PATH_MAX];
	int rc = -1;

	while (f && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2 ||
		    sscanf(dash, " - %63s %*s %1023s", type, opts) != 2)
			continue;
		if (*ctrl ? strcmp(type, "cgroup") == 0 && in_list(opts, ctrl)
		          : strcmp(type, "cgroup2") == 0 && strcmp(m, CG_ROOT) == 0) {
			memcpy(mnt, m, sizeof(m));
			memcpy(root, r, sizeof(r));
			rc = 0;
		}
	}
	if (f)
		fclose(f);
	return rc;
}

/* The caller's path in the hierarchy whose /proc/self/cgroup line names
 * @ctrl ("" for v2's "0::" line). */
static int own_path(const char *ctrl, char *out, size_t size)
{
	FILE *f = open_own_cgroups();
	char line[PATH_MAX];
	int rc = -1;

	while (f && rc < 0 && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;

		if (!p)
			continue;
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		/* v2's line is "0::PATH": hierarchy 0, no controllers. */
		if (*ctrl ? in_list(c + 1, ctrl) : c == line + 1 && line[0] == '0' && !c[1])
			/* "/" is the hierarchy's root: no trailing slash. */
			rc =
			    snprintf(out, size, "%s", strcmp(p, "/") ? p : "") < (int)size ? 0 : -1;
	}
	if (f)
		fclose(f);
	return rc;
}

/* The caller's group of the hierarchy of @ctrl (v2's for ""), as a
 * directory: the mount point, and the path below the mount's root. */
static int own_dir(const char *ctrl, char *out, size_t size)
{
	char mnt[PATH_MAX], root[PATH_MAX], path[PATH_MAX];
	const char *rel = path;
	size_t n;

	if (find_mount(ctrl, mnt, root) < 0 || own_path(ctrl, path, sizeof(path)) < 0)
		return -1;
	n = strcmp(root, "/") ? strlen(root) : 0;
	if (n && strncmp(path, root, n) == 0 && (path[n] == '/' || !path[n]))
		rel = path + n;
	return snprintf(out, size, "%s%s", mnt, rel) < (int)size ? 0 : -1;
}

int cg_v1_own(const char *ctrl, char *out, size_t size)
{
	return own_dir(ctrl, out, size);
}

int cg_v2_own(char *out, size_t size)
{
	return own_dir("", out, size);
}

int cg_write(const char *dir, const char *name, const char *text)
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

int cg_read(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

bool cg_has_file(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int64_t cg_read_key(const char *dir, const char *name, const char *key)
{
	char path[PATH_MAX], k[64];
	long long v;
	int64_t out = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	while (f && out < 0 && fscanf(f, "%63s %lld", k, &v) == 2)
		if (strcmp(k, key) == 0)
			out = v;
	if (f)
		fclose(f);
	return out;
}

/* rmdir of a group whose last task is still leaving fails with EBUSY for
 * a moment after the launcher reaped the daemon: up to 2 s, by 5 ms. */
static int rmdir_group(const char *dir)
{
	for (int i = 0; i < 400; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	}
	return -1;
}

int cg_remove(char *const *dirs)
{
	int rc = 0;

	for (size_t i = 0; dirs && dirs[i]; i++) {
		char parent[PATH_MAX], *slash;

		if (rmdir_group(dirs[i]) < 0)
			rc = -1;
		/* The shared "strata" parent goes with its last container (a
		 * run making one meanwhile makes it again: run_cgroup.c). */
		snprintf(parent, sizeof(parent), "%s", dirs[i]);
		slash = strrchr(parent, '/');
		if (slash && slash - parent >= 7 && strncmp(slash - 7, "/strata", 7) == 0) {
			*slash = '\0';
			(void)rmdir(parent);
		}
	}
	return rc;
}

bool cg_oom_killed(char *const *dirs)
{
	for (size_t i = 0; dirs && dirs[i]; i++)
		if (cg_read_key(dirs[i], "memory.oom_control", "oom_kill") > 0 ||
		    cg_read_key(dirs[i], "memory.events", "oom_kill") > 0)
			return true;
	return false;
}

void cg_dirs_free(char **dirs)
{
	for (size_t i = 0; dirs && dirs[i]; i++)
		free(dirs[i]);
	free(dirs);
}

/* Whether each of @dirs is a group of container @name: a damaged record
 * must not make us remove another empty group. */
static bool named_after(char *const *dirs, const char *name)
{
	for (size_t i = 0; dirs[i]; i++) {
		const char *base = strrchr(dirs[i], '/') + 1;

		if (strncmp(dirs[i], CG_ROOT "/", strlen(CG_ROOT) + 1) != 0 ||
		    (strcmp(base, name) != 0 &&
		     (strncmp(base, "strata-", 7) != 0 || strcmp(base + 7, name) != 0)))
			return false;
	}
	return true;
}

void cg_reap_dead(struct store *s, const struct store_container *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX], **dirs = NULL;
		struct strata_error err;
		int lock;

		if (cs[i].running || store_container_path(s, cs[i].name, dir, sizeof(dir)) < 0 ||
		    !(dirs = store_container_cgroups(dir)))
			continue;
		if (!named_after(dirs, cs[i].name)) {
			cg_dirs_free(dirs);
			continue;
		}
		/* Under its lock: a run starting it again meanwhile makes groups
		 * of the same names, not to be taken from under it. */
		if ((lock = store_container_lock(dir, &err)) >= 0) {
			if (cg_remove(dirs) == 0)
				store_container_set_cgroups(dir, NULL);
			close(lock);
		}
		cg_dirs_free(dirs);
	}
}
