/* SPDX-License-Identifier: MIT */
/*
 * A container's cgroups (cgroup.c): which layout the host has, where a
 * container's groups go, what they hold (usage, OOM kills), and their
 * removal.  strata run makes them (run_cgroup.c), strata stats reads them.
 *
 *   cgroup v2:     /sys/fs/cgroup is cgroup2; one group, under the caller's
 *   cgroup v1:     /sys/fs/cgroup holds one hierarchy per controller
 *   hybrid:        v1 hierarchies, and a v2 tree (unified) beside them that
 *                  holds no controller we use: treated as v1
 */
#ifndef STRATA_CGROUP_H
#define STRATA_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_ROOT "/sys/fs/cgroup"

enum cg_layout { CG_NONE, CG_V1, CG_HYBRID, CG_V2 };

enum cg_layout cg_layout(void);
const char *cg_layout_name(enum cg_layout l);

/* v1: the mount point of @ctrl's hierarchy and the caller's cgroup in it,
 * joined, into @out ("" for the root).  0, or -1 when @ctrl is not
 * mounted. */
int cg_v1_own(const char *ctrl, char *out, size_t size);
/* v2: the caller's cgroup directory. */
int cg_v2_own(char *out, size_t size);

/* Writes @text to @dir/@name.  0, or -1 with errno. */
int cg_write(const char *dir, const char *name, const char *text);
/* Reads @dir/@name into @buf (NUL-terminated, trailing newline cut).  0,
 * or -1 with errno. */
int cg_read(const char *dir, const char *name, char *buf, size_t size);
/* The number after "@key " in the key-value file @dir/@name; -1 without. */
int64_t cg_read_key(const char *dir, const char *name, const char *key);
bool cg_has_file(const char *dir, const char *name);

/* Removes the container's groups @dirs (NULL-terminated), waiting a
 * little (bounded) for the last tasks to leave, and their "strata"
 * parents when empty.  0, or -1 when one stays. */
int cg_remove(char *const *dirs);
/* Whether the kernel's OOM killer killed a task in one of @dirs. */
bool cg_oom_killed(char *const *dirs);

struct store;
struct store_container;
/* The groups of containers @cs that are dead (their launcher was killed,
 * so no one removed them): removed, under each container's lock, and
 * dropped from its record.  Every command that lists containers calls it. */
void cg_reap_dead(struct store *s, const struct store_container *cs, size_t n);
/* Frees what store_container_cgroups() returns. */
void cg_dirs_free(char **dirs);

/* What a container's groups hold, as `strata stats` shows it; -1: not
 * known (no such controller here). */
struct cg_stats {
	int64_t mem_usage, mem_limit; /* bytes; limit -1: none */
	int64_t cpu_usec;             /* CPU time used, microseconds */
	int64_t pids, pids_limit;     /* pids_limit -1: none */
	int64_t io_read, io_write;    /* bytes */
	double cpu_percent;           /* of one CPU, over the sample; -1: not known */
};
void cg_read_stats(char *const *dirs, struct cg_stats *st);
/* Reads the groups of @n containers (@dirs[i] each) twice, @interval_ms
 * apart, into @out[i]: the CPU % is over that time. */
void cg_sample(char **const *dirs, size_t n, unsigned interval_ms, struct cg_stats *out);

#endif
