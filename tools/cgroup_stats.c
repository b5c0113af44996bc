/* SPDX-License-Identifier: MIT */
/* What a container's cgroups hold, for strata stats (cgroup.h).  Each of
 * the container's groups is read for the files it has: a v1 group holds
 * one controller's, the v2 group all of them. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"

/* A number, or -1 for "max" and v1's "no limit" (PAGE_COUNTER_MAX pages,
 * near 2^63). */
static int64_t read_num(const char *dir, const char *name)
{
	char buf[64], *end;
	long long v;

	if (cg_read(dir, name, buf, sizeof(buf)) < 0 || strcmp(buf, "max") == 0)
		return -1;
	v = strtoll(buf, &end, 10);
	return end == buf || v >= (1LL << 62) ? -1 : v;
}

/* Bytes read and written: v1's blkio.throttle.io_service_bytes lines
 * "MAJ:MIN Read N", v2's io.stat lines "MAJ:MIN rbytes=N wbytes=N ...". */
static void read_io(const char *dir, struct cg_stats *st)
{
	char path[PATH_MAX], line[512], op[32];
	unsigned long long v;
	bool v1 = cg_has_file(dir, "blkio.throttle.io_service_bytes_recursive");
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir,
	         v1 ? "blkio.throttle.io_service_bytes_recursive" : "io.stat");
	if (!(f = fopen(path, "re")))
		return;
	st->io_read = st->io_write = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *r = strstr(line, "rbytes="), *w = strstr(line, "wbytes=");

		if (v1 && sscanf(line, "%*s %31s %llu", op, &v) == 2) {
			if (strcmp(op, "Read") == 0)
				st->io_read += (int64_t)v;
			else if (strcmp(op, "Write") == 0)
				st->io_write += (int64_t)v;
		} else if (!v1 && r && w) {
			st->io_read += strtoll(r + 7, NULL, 10);
			st->io_write += strtoll(w + 7, NULL, 10);
		}
	}
	fclose(f);
}

static void read_one(const char *dir, struct cg_stats *st)
{
	int64_t v;

	if (cg_has_file(dir, "memory.usage_in_bytes")) {
		st->mem_usage = read_num(dir, "memory.usage_in_bytes");
		st->mem_limit = read_num(dir, "memory.limit_in_bytes");
	} else if (cg_has_file(dir, "memory.current")) {
		st->mem_usage = read_num(dir, "memory.current");
		st->mem_limit = read_num(dir, "memory.max");
	}
	if ((v = read_num(dir, "cpuacct.usage")) >= 0)
		st->cpu_usec = v / 1000;
	else if ((v = cg_read_key(dir, "cpu.stat", "usage_usec")) >= 0)
		st->cpu_usec = v;
	if (cg_has_file(dir, "pids.current")) {
		st->pids = read_num(dir, "pids.current");
		st->pids_limit = read_num(dir, "pids.max");
	}
	if (cg_has_file(dir, "blkio.throttle.io_service_bytes_recursive") ||
	    cg_has_file(dir, "io.stat"))
		read_io(dir, st);
}

void cg_read_stats(char *const *dirs, struct cg_stats *st)
{
	*st = (struct cg_stats){-1, -1, -1, -1, -1, -1, -1, -1};
	for (size_t i = 0; dirs && dirs[i]; i++)
		read_one(dirs[i], st);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void cg_sample(char **const *dirs, size_t n, unsigned interval_ms, struct cg_stats *out)
{
	int64_t *before = calloc(n + 1, sizeof(*before));
	double t0 = now_us(), t1;

	for (size_t i = 0; i < n; i++) {
		cg_read_stats(dirs[i], &out[i]);
		if (before)
			before[i] = out[i].cpu_usec;
	}
	nanosleep(&(struct timespec){interval_ms / 1000, (long)(interval_ms % 1000) * 1000000},
	          NULL);
	t1 = now_us();
	for (size_t i = 0; i < n; i++) {
		cg_read_stats(dirs[i], &out[i]);
		if (before && before[i] >= 0 && out[i].cpu_usec >= before[i] && t1 > t0)
			out[i].cpu_percent =
			    (double)(out[i].cpu_usec - before[i]) * 100.0 / (t1 - t0);
	}
	free(before);
}
