/* SPDX-License-Identifier: MIT */
/*
 * Resource limits through cgroups, v1 or v2 (cgroup.h says which host has
 * which).  The container gets groups of its own, which the launcher moves
 * the init into while the init builds the root (cmd_run.c); the init
 * waits for that before it starts the command (run_init.c).  The FUSE
 * daemon serving the root stays outside, so a --memory OOM kill can never
 * take the file system from under the container.
 *
 *   v1 / hybrid, as root: <caller's group>/strata/<name> in each hierarchy
 *                         (memory, cpu, cpuacct, pids, blkio, cpuset;
 *                         devices for --device's r or w)
 *   v2:                   <caller's group>/strata-<name>, which must be
 *                         delegated to the caller (rootless: systemd's
 *                         user slice, as podman uses)
 *   v1 rootless:          none: a v1 hierarchy cannot be delegated safely
 *
 * A limit the user asked for is never silently dropped: where it cannot
 * be applied the run fails and says why.  Without one, root still gets
 * groups (the pids default, OOM reports, stats); others run as before
 * where there are none to have.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "run.h"
#include "sys.h"

#define MAX_DIRS 8

/* Set while making groups no limit was asked for (root's default ones):
 * a host that will not give them (a read-only /sys/fs/cgroup in a
 * container, say) runs the container without, as before, in silence. */
static bool quiet;

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_error("%s", msg);
}

/* The groups being made: their directories, for the init and cleanup. */
struct made {
	char *dirs[MAX_DIRS + 1];
	size_t n;
	const struct run_limits *lim;
	const char *name;
};

/* Writes a limit file of @dir, @opt the option it serves.  0, or -1 after
 * saying why. */
static int set_text(const char *dir, const char *opt, const char *file, const char *text)
{
	if (cg_write(dir, file, text) == 0)
		return 0;
	say("run: --%s: %s/%s: %s", opt, dir, file, strerror(errno));
	return -1;
}

/* set_text() of @v in @fmt (a format without a number is taken as is). */
static int set_limit(const char *dir, const char *opt, const char *file, const char *fmt,
                     unsigned long long v)
{
	char text[64];

	if (strchr(fmt, '%'))
		snprintf(text, sizeof(text), fmt, v);
	else
		snprintf(text, sizeof(text), "%s", fmt);
	return set_text(dir, opt, file, text);
}

/* v2's cpu.weight for v1's cpu.shares and back, as crun converts them. */
static unsigned long long weight_of_shares(unsigned long long s)
{
	return 1 + ((s - 2) * 9999) / 262142;
}

static unsigned long long shares_of_weight(unsigned long long w)
{
	return 2 + ((w - 1) * 262142) / 9999;
}

/* Makes @dir for the container: a stale one (its container was killed
 * before its groups went) is removed first; a "strata" parent the end of
 * its last container just removed is made again. */
static int make_group(const char *dir)
{
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	for (int i = 0; i < 3; i++) {
		if (mkdir(dir, 0755) == 0)
			return 0;
		if (errno == EEXIST && rmdir(dir) < 0)
			break;
		if (errno == ENOENT && mkdir(parent, 0755) < 0 && errno != EEXIST)
			break;
	}
	say("run: cgroup %s: %s", dir,
	    errno == EBUSY ? "in use (a container of this name in another store?)"
	                   : strerror(errno));
	return -1;
}

/* Whether @dir is made already: a hierarchy of several controllers. */
static bool have_dir(const struct made *m, const char *dir)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->dirs[i], dir) == 0)
			return true;
	return false;
}

static int add_dir(struct made *m, const char *dir)
{
	if (m->n == MAX_DIRS || !(m->dirs[m->n] = strdup(dir))) {
		say("run: cgroup %s: out of memory", dir);
		return -1;
	}
	m->dirs[++m->n] = NULL;
	return 0;
}

/* ---- cgroup v1 ---- */

/* A new cpuset group has no CPUs and no memory nodes: it gets its
 * parent's, then --cpuset-cpus. */
static int v1_cpuset_init(const char *parent, const char *dir)
{
	char buf[512];

	for (int i = 0; i < 2; i++) {
		const char *f = i ? "cpuset.cpus" : "cpuset.mems";

		if (cg_read(parent, f, buf, sizeof(buf)) < 0 || cg_write(dir, f, buf) < 0) {
			say("run: --cpuset-cpus: %s/%s: %s", dir, f, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int v1_memory(const struct run_limits *l, const char *dir)
{
	int64_t swap = l->memory_swap ? l->memory_swap : (int64_t)l->memory * 2;

	if (l->memory && set_limit(dir, "memory", "memory.limit_in_bytes", "%llu", l->memory) < 0)
		return -1;
	/* memory.memsw exists only with swap accounting. */
	bool memsw = cg_has_file(dir, "memory.memsw.limit_in_bytes");

	if (l->memory && l->memory_swap > 0 && !memsw) {
		say("run: --memory-swap: %s has no memory.memsw.limit_in_bytes (the kernel "
		    "does not account swap: boot it with swapaccount=1)",
		    dir);
		return -1;
	}
	if (l->memory && memsw &&
	    set_limit(dir, "memory-swap", "memory.memsw.limit_in_bytes", swap < 0 ? "-1" : "%llu",
	              (unsigned long long)swap) < 0)
		return -1;
	if (l->memory_reservation &&
	    set_limit(dir, "memory-reservation", "memory.soft_limit_in_bytes", "%llu",
	              l->memory_reservation) < 0)
		return -1;
	return 0;
}

static int v1_cpu(const struct run_limits *l, const char *dir)
{
	unsigned long long shares = l->cpu_shares   ? l->cpu_shares
	                            : l->cpu_weight ? shares_of_weight(l->cpu_weight)
	                                            : 0;

	if (l->cpus > 0 && (set_limit(dir, "cpus", "cpu.cfs_period_us", "%llu", 100000) < 0 ||
	                    set_limit(dir, "cpus", "cpu.cfs_quota_us", "%llu",
	                              (unsigned long long)(l->cpus * 100000)) < 0))
		return -1;
	if (shares && set_limit(dir, l->cpu_shares ? "cpu-shares" : "cpu-weight", "cpu.shares",
	                        "%llu", shares) < 0)
		return -1;
	return 0;
}

static int v1_blkio(const struct run_limits *l, const char *dir)
{
	const char *f = cg_has_file(dir, "blkio.weight")       ? "blkio.weight"
	                : cg_has_file(dir, "blkio.bfq.weight") ? "blkio.bfq.weight"
	                                                       : NULL;

	if (!l->blkio_weight)
		return 0;
	if (!f) {
		say("run: --blkio-weight: %s has no blkio.weight (the disks' I/O scheduler "
		    "has no weights: bfq or cfq has)",
		    dir);
		return -1;
	}
	return set_limit(dir, "blkio-weight", f, "%llu", l->blkio_weight);
}

/* --device's r and w (run_mounts.c): one devices.deny line at a time. */
static int v1_devices(const struct run_limits *l, const char *dir)
{
	char rules[sizeof(l->devices_deny)], *line, *save = NULL;

	snprintf(rules, sizeof(rules), "%s", l->devices_deny);
	for (line = strtok_r(rules, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (set_text(dir, "device", "devices.deny", line) < 0)
			return -1;
	return 0;
}

static int v1_limits(const struct run_limits *l, const char *ctrl, const char *parent,
                     const char *dir)
{
	if (strcmp(ctrl, "memory") == 0)
		return v1_memory(l, dir);
	if (strcmp(ctrl, "cpu") == 0)
		return v1_cpu(l, dir);
	if (strcmp(ctrl, "pids") == 0)
		return set_limit(dir, "pids-limit", "pids.max", l->pids < 0 ? "max" : "%llu",
		                 (unsigned long long)(l->pids ? l->pids : RUN_PIDS_DEFAULT));
	if (strcmp(ctrl, "blkio") == 0)
		return v1_blkio(l, dir);
	if (strcmp(ctrl, "devices") == 0)
		return v1_devices(l, dir);
	if (strcmp(ctrl, "cpuset") == 0)
		return v1_cpuset_init(parent, dir) < 0
		           ? -1
		           : set_text(dir, "cpuset-cpus", "cpuset.cpus", l->cpuset_cpus);
	return 0;
}

/* Which v1 controllers the container needs, and the option that needs each
 * (NULL: wanted, for stats and the pids default, but not asked for). */
static const char *v1_needs(const struct run_limits *l, const char *ctrl)
{
	if (strcmp(ctrl, "memory") == 0)
		return l->memory ? "memory" : l->memory_reservation ? "memory-reservation" : NULL;
	if (strcmp(ctrl, "cpu") == 0)
		return l->cpus > 0     ? "cpus"
		       : l->cpu_shares ? "cpu-shares"
		       : l->cpu_weight ? "cpu-weight"
		                       : NULL;
	if (strcmp(ctrl, "pids") == 0)
		return l->pids > 0 ? "pids-limit" : NULL;
	if (strcmp(ctrl, "blkio") == 0)
		return l->blkio_weight ? "blkio-weight" : NULL;
	if (strcmp(ctrl, "devices") == 0)
		return l->devices_deny[0] ? "device" : NULL;
	return l->cpuset_cpus[0] ? "cpuset-cpus" : NULL;
}

/* <own>/strata, made when missing (a cpuset one gets its parent's CPUs
 * and memory nodes, or nothing could join it). */
static int v1_parent(const char *ctrl, const char *own, char *parent, size_t size)
{
	snprintf(parent, size, "%.4000s/strata", own);
	if (mkdir(parent, 0755) == 0) {
		if (strcmp(ctrl, "cpuset") == 0 && v1_cpuset_init(own, parent) < 0)
			return -1;
	} else if (errno != EEXIST) {
		say("run: cgroup %s: %s", parent, strerror(errno));
		return -1;
	}
	return 0;
}

/* The container's group in the hierarchy of @ctrl, with its limits. */
static int v1_group_make(struct made *m, const char *ctrl, const char *opt)
{
	char own[PATH_MAX - 200], parent[PATH_MAX - 100], dir[PATH_MAX];

	if (cg_v1_own(ctrl, own, sizeof(own)) < 0) {
		say("run: --%s: no cgroup v1 hierarchy has the %s controller", opt, ctrl);
		return -1;
	}
	if (v1_parent(ctrl, own, parent, sizeof(parent)) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/%s", parent, m->name);
	if (!have_dir(m, dir)) {
		if (make_group(dir) < 0)
			return -1;
		if (add_dir(m, dir) < 0) {
			rmdir(dir);
			return -1;
		}
	}
	return v1_limits(m->lim, ctrl, parent, dir);
}

/* The container's group in the hierarchy of @ctrl, with its limits.  One
 * that no option asked for (for stats, the pids default) is had where
 * the host gives it, in silence where it does not. */
static int v1_group(struct made *m, const char *ctrl)
{
	const char *opt = v1_needs(m->lim, ctrl);
	bool was = quiet;

	if (opt)
		return v1_group_make(m, ctrl, opt);
	if (strcmp(ctrl, "cpuset") == 0 || strcmp(ctrl, "devices") == 0)
		return 0; /* an unrestricted cpuset or devices group is no use */
	quiet = true;
	(void)v1_group_make(m, ctrl, ctrl);
	quiet = was;
	return 0;
}

static int v1_create(struct made *m)
{
	static const char *const ctrls[] = {"memory", "cpu",    "cpuacct", "pids",
	                                    "blkio",  "cpuset", "devices"};

	if (geteuid() != 0) {
		if (!m->lim->asked)
			return 0;
		say("run: resource limits: this host has cgroup v1, whose hierarchies cannot "
		    "be delegated safely to an unprivileged user: run as root, or on a "
		    "cgroup v2 host");
		return -1;
	}
	for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++)
		if (v1_group(m, ctrls[i]) < 0)
			return -1;
	return 0;
}

/* ---- cgroup v2 ---- */

/* Whether @dir's cgroup.controllers lists @ctrl. */
static bool v2_has(const char *dir, const char *ctrl)
{
	char list[512];
	size_t n = strlen(ctrl);

	if (cg_read(dir, "cgroup.controllers", list, sizeof(list)) < 0)
		return false;
	for (const char *p = list; (p = strstr(p, ctrl)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

/* The controllers to enable ("+memory +cpu ..."), into @ctl: those asked
 * must be there; -1 after saying which is not. */
static int v2_controllers(const struct run_limits *l, const char *own, char *ctl, size_t size)
{
	static const char *const ctrls[] = {"memory", "cpu", "pids", "io", "cpuset"};
	const char *asked[] = {l->memory || l->memory_reservation ? "memory" : NULL,
	                       l->cpus > 0                      ? "cpus"
	                       : l->cpu_shares || l->cpu_weight ? "cpu-weight"
	                                                        : NULL,
	                       l->pids > 0 ? "pids-limit" : NULL,
	                       l->blkio_weight ? "blkio-weight" : NULL,
	                       l->cpuset_cpus[0] ? "cpuset-cpus" : NULL};
	char list[512] = "";

	ctl[0] = '\0';
	for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
		if (v2_has(own, ctrls[i])) {
			if (i < 4 || asked[i]) /* an unrestricted cpuset is no use */
				snprintf(ctl + strlen(ctl), size - strlen(ctl), "%s+%s",
				         *ctl ? " " : "", ctrls[i]);
		} else if (asked[i]) {
			cg_read(own, "cgroup.controllers", list, sizeof(list));
			say("run: --%s: cgroup %s has no %s controller (its cgroup.controllers: "
			    "%s); on a host that mounts cgroup v1 too, it may be bound there",
			    asked[i], own, ctrls[i], *list ? list : "none");
			return -1;
		}
	}
	return 0;
}

/* Passes @ctl's controllers to @own's children. */
/* The leaves earlier launchers moved themselves into (below) outlive
 * them: the empty ones go (rmdir fails on a populated group). */
static void v2_sweep_leaves(const char *own)
{
	DIR *d = opendir(own);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char leaf[PATH_MAX];

		if (strncmp(de->d_name, "strata-launcher-", 16) != 0)
			continue;
		snprintf(leaf, sizeof(leaf), "%.3800s/%.255s", own, de->d_name);
		(void)rmdir(leaf);
	}
	if (d)
		closedir(d);
}

/* Passes @ctl's controllers to @own's children; moving ourselves out of
 * the way only when @may_move (a limit was asked: without one, a run
 * goes without groups rather than leave a leaf behind). */
static int v2_enable(const char *own, const char *ctl, bool may_move)
{
	/* Controllers pass to children only through subtree_control, which the
	 * kernel refuses (EBUSY) while the group itself holds processes,
	 * except at the root.  In a delegated scope that holds just us (say
	 * systemd-run --user --scope -p Delegate=yes), we move ourselves to a
	 * leaf first, as crun does. */
	int rc = *ctl ? cg_write(own, "cgroup.subtree_control", ctl) : 0;

	if (rc < 0 && errno == EBUSY && may_move) {
		char leaf[PATH_MAX];

		v2_sweep_leaves(own);
		snprintf(leaf, sizeof(leaf), "%.4000s/strata-launcher-%ld", own, (long)getpid());
		if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
		    cg_write(leaf, "cgroup.procs", "0") == 0)
			rc = cg_write(own, "cgroup.subtree_control", ctl);
	}
	return rc;
}

static int v2_memory(const struct run_limits *l, const char *dir)
{
	/* memory.swap.max is swap alone; --memory-swap counts both. */
	int64_t swap = l->memory_swap < 0 ? -1
	               : l->memory_swap   ? l->memory_swap - (int64_t)l->memory
	                                  : (int64_t)l->memory;

	if (l->memory && set_limit(dir, "memory", "memory.max", "%llu", l->memory) < 0)
		return -1;
	if (l->memory && (l->memory_swap || cg_has_file(dir, "memory.swap.max")) &&
	    set_limit(dir, "memory-swap", "memory.swap.max", swap < 0 ? "max" : "%llu",
	              (unsigned long long)swap) < 0)
		return -1;
	if (l->memory_reservation &&
	    set_limit(dir, "memory-reservation", "memory.low", "%llu", l->memory_reservation) < 0)
		return -1;
	return 0;
}

static int v2_cpu(const struct run_limits *l, const char *dir)
{
	unsigned long long w = l->cpu_weight   ? l->cpu_weight
	                       : l->cpu_shares ? weight_of_shares(l->cpu_shares)
	                                       : 0;

	if (l->cpus > 0 && set_limit(dir, "cpus", "cpu.max", "%llu 100000",
	                             (unsigned long long)(l->cpus * 100000)) < 0)
		return -1;
	if (w && set_limit(dir, "cpu-weight", "cpu.weight", "%llu", w) < 0)
		return -1;
	if (l->cpuset_cpus[0] && set_text(dir, "cpuset-cpus", "cpuset.cpus", l->cpuset_cpus) < 0)
		return -1;
	return 0;
}

/* --blkio-weight: bfq's own weight file, else io.weight, whose 1..10000
 * blkio's 10..1000 maps onto as crun maps it. */
static int v2_io(const struct run_limits *l, const char *dir)
{
	if (!l->blkio_weight)
		return 0;
	if (cg_has_file(dir, "io.bfq.weight"))
		return set_limit(dir, "blkio-weight", "io.bfq.weight", "%llu", l->blkio_weight);
	return set_limit(dir, "blkio-weight", "io.weight", "default %llu",
	                 1 + (l->blkio_weight - 10) * 9999 / 990);
}

static int v2_limits(const struct run_limits *l, const char *dir)
{
	if (v2_memory(l, dir) < 0 || v2_cpu(l, dir) < 0 || v2_io(l, dir) < 0)
		return -1;
	/* The pids default applies wherever the controller is. */
	if (cg_has_file(dir, "pids.max") &&
	    set_limit(dir, "pids-limit", "pids.max", l->pids < 0 ? "max" : "%llu",
	              (unsigned long long)(l->pids ? l->pids : RUN_PIDS_DEFAULT)) < 0)
		return -1;
	return 0;
}

static int v2_create(struct made *m)
{
	char own[PATH_MAX - 200], dir[PATH_MAX], ctl[128];

	if (cg_v2_own(own, sizeof(own)) < 0) {
		if (m->lim->asked)
			say("run: resource limits: no cgroup v2 entry in /proc/self/cgroup");
		return m->lim->asked ? -1 : 0;
	}
	if (v2_controllers(m->lim, own, ctl, sizeof(ctl)) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/strata-%s", own, m->name);
	if (v2_enable(own, ctl, m->lim->asked) < 0 || (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
		/* Not ours to use: fine, unless a limit was asked. */
		if (m->lim->asked)
			say("run: resource limits: cgroup %s is not delegated to you (%s)", own,
			    strerror(errno));
		return m->lim->asked ? -1 : 0;
	}
	if (add_dir(m, dir) < 0)
		return -1;
	return v2_limits(m->lim, dir);
}

/* ---- the container's groups ---- */

int run_cgroup_join(char *const *dirs, pid_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%ld", (long)pid);
	for (size_t i = 0; dirs && dirs[i]; i++)
		if (cg_write(dirs[i], "cgroup.procs", text) < 0) {
			cli_error("run: cgroup %s: %s", dirs[i], strerror(errno));
			return -1;
		}
	return 0;
}

/* cgroup v1's `tasks` file moves one thread; "0" is the writer's own, and
 * for that the kernel skips the global threadgroup lock whose write side
 * waits for an RCU grace period (cgroup_procs_write_start()): 0.1 ms
 * against 5-18 ms through cgroup.procs on this 250 Hz host.  A
 * single-threaded process moving itself so is moved whole.  cgroup v2
 * has no `tasks`: its cgroup.procs, and the lock. */
static int open_self_file(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/tasks", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	return fd;
}

int run_cgroup_enter(char *const *dirs)
{
	for (size_t i = 0; dirs && dirs[i]; i++) {
		int fd = open_self_file(dirs[i]), rc;

		rc = fd < 0 ? -1 : sys_write_all(fd, "0", 1);
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			cli_error("joining cgroup %s: %s", dirs[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

int *run_cgroup_self_fds(char *const *dirs)
{
	size_t n = 0;
	int *fds;

	while (dirs && dirs[n])
		n++;
	if (!n || !(fds = malloc((n + 1) * sizeof(*fds))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/tasks", dirs[i]);
		fds[i] = open(path, O_WRONLY | O_CLOEXEC);
		fds[i + 1] = -1;
		if (fds[i] < 0) { /* v2, or gone: the launcher's way says why */
			run_cgroup_close_fds(&fds);
			return NULL;
		}
	}
	return fds;
}

int run_cgroup_enter_fds(const int *fds)
{
	for (size_t i = 0; fds && fds[i] >= 0; i++)
		if (sys_write_all(fds[i], "0", 1) < 0)
			return -1;
	return 0;
}

void run_cgroup_close_fds(int **fds)
{
	for (size_t i = 0; *fds && (*fds)[i] >= 0; i++)
		close((*fds)[i]);
	free(*fds);
	*fds = NULL;
}

/* Removes the groups made so far. */
static void drop(struct made *m)
{
	cg_remove(m->dirs);
	for (size_t i = 0; i < m->n; i++)
		free(m->dirs[i]);
}

int run_cgroup_create(const struct run_limits *lim, const char *name, char ***dirs)
{
	struct made m = {.lim = lim, .name = name};
	enum cg_layout layout = cg_layout();
	int rc;

	*dirs = NULL;
	if (lim->disabled)
		return 0;
	if (layout == CG_NONE) {
		if (lim->asked)
			say("run: resource limits: no cgroup file system is mounted at %s",
			    CG_ROOT);
		return lim->asked ? -1 : 0;
	}
	quiet = !lim->asked;
	rc = layout == CG_V2 ? v2_create(&m) : v1_create(&m);
	if (rc == 0 && m.n && !(*dirs = malloc((m.n + 1) * sizeof(**dirs)))) {
		say("run: out of memory");
		rc = -1;
	}
	quiet = false;
	if (rc < 0 || m.n == 0) {
		drop(&m);
		/* None asked for: it runs without, as where there are none. */
		return lim->asked ? rc : 0;
	}
	memcpy(*dirs, m.dirs, (m.n + 1) * sizeof(**dirs));
	return 0;
}

bool run_cgroup_finish(char **dirs)
{
	bool oom = cg_oom_killed(dirs);

	cg_remove(dirs);
	for (size_t i = 0; dirs && dirs[i]; i++)
		free(dirs[i]);
	free(dirs);
	return oom;
}

/* ---- the options ---- */

/* A number in [@min, @max] into *@out: 0, or -1. */
static int parse_range(const char *arg, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(arg, &end, 10);
	return *arg && !*end && !errno && *out >= min && *out <= max ? 0 : -1;
}

static int limit_size(const char *opt, const char *arg, uint64_t *out)
{
	*out = cli_parse_bytes(arg);
	return *out ? 0 : cli_usage_error("run", "--%s %s: not a size (e.g. 512m, 2g)", opt, arg);
}

static int limit_number(const char *opt, const char *arg, long long min, long long max,
                        long long *out)
{
	if (parse_range(arg, min, max, out) == 0)
		return 0;
	return cli_usage_error("run", "--%s %s: not a number from %lld to %lld", opt, arg, min,
	                       max);
}

int run_limits_check(const struct run_limits *lim)
{
	if (lim->memory_swap > 0 && (uint64_t)lim->memory_swap < lim->memory)
		return cli_usage_error("run", "--memory-swap: less than --memory (it counts both)");
	if (lim->memory_swap > 0 && !lim->memory)
		return cli_usage_error("run", "--memory-swap: needs --memory");
	if (lim->disabled && lim->asked)
		return cli_usage_error("run", "--cgroups disabled: no resource limit can apply");
	return 0;
}

int run_limit_option(struct run_limits *lim, const char *opt, const char *arg)
{
	long long v = 0;
	char *end;
	int rc = 0;

	/* podman's: disabled leaves the container in the caller's groups,
	 * and saves the launcher the groups' cost (about 2 ms a run on v1). */
	if (strcmp(opt, "cgroups") == 0) {
		if (strcmp(arg, "enabled") && strcmp(arg, "disabled"))
			return cli_usage_error("run", "--cgroups %s: enabled or disabled", arg);
		lim->disabled = arg[0] == 'd';
		return 0;
	}
	if (strcmp(opt, "memory") == 0)
		rc = limit_size(opt, arg, &lim->memory);
	else if (strcmp(opt, "memory-reservation") == 0)
		rc = limit_size(opt, arg, &lim->memory_reservation);
	else if (strcmp(opt, "memory-swap") == 0) {
		uint64_t b = 0;

		bool none =
		    arg[0] == '-' && arg[1] && strspn(arg + 1, "0123456789") == strlen(arg + 1);

		rc = none ? 0 : limit_size(opt, arg, &b);
		lim->memory_swap = b ? (int64_t)b : -1;
	} else if (strcmp(opt, "cpus") == 0) {
		lim->cpus = strtod(arg, &end);
		if (*end || end == arg || !(lim->cpus >= 0.01 && lim->cpus <= 4096))
			rc = cli_usage_error("run",
			                     "--cpus %s: not a number of CPUs (0.01 or more)", arg);
	} else if (strcmp(opt, "cpu-shares") == 0) {
		rc = limit_number(opt, arg, 2, 262144, &v);
		lim->cpu_shares = (uint64_t)v;
	} else if (strcmp(opt, "cpu-weight") == 0) {
		rc = limit_number(opt, arg, 1, 10000, &v);
		lim->cpu_weight = (uint64_t)v;
	} else if (strcmp(opt, "cpuset-cpus") == 0) {
		if (!*arg || strspn(arg, "0123456789,-") != strlen(arg) ||
		    strlen(arg) >= sizeof(lim->cpuset_cpus))
			rc = cli_usage_error("run", "--cpuset-cpus %s: expected CPUs like 0-2,4",
			                     arg);
		else
			snprintf(lim->cpuset_cpus, sizeof(lim->cpuset_cpus), "%s", arg);
	} else if (strcmp(opt, "pids-limit") == 0) {
		/* podman: 0 or -1 mean no limit. */
		rc = limit_number(opt, arg, -4194304, 4194304, &v);
		lim->pids = v <= 0 ? -1 : v;
	} else if (strcmp(opt, "blkio-weight") == 0) {
		rc = limit_number(opt, arg, 10, 1000, &v);
		lim->blkio_weight = (uint64_t)v;
	}
	/* "No pids limit" is no limit to fail over. */
	if (!(strcmp(opt, "pids-limit") == 0 && lim->pids < 0))
		lim->asked = true;
	return rc;
}
