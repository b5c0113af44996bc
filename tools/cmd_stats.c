/* SPDX-License-Identifier: MIT */
/* strata stats: what running containers use, from their cgroups. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static const char usage[] =
    "Usage: strata stats [--no-stream] [--format json] [--root DIR] [CONTAINER...]\n"
    "\n"
    "Show what running containers (all of them, or those named) use, read\n"
    "from their cgroups (v1 or v2): CPU % of one CPU, memory use and limit,\n"
    "processes and their limit, bytes read and written to block devices.\n"
    "Refreshed every second until they all end, or once with --no-stream.\n"
    "\n"
    "Options:\n"
    "      --no-stream       print one sample and exit\n"
    "      --format json     a JSON array, one object per container\n"
    "      --root DIR        the image store\n"
    "  -h, --help            show this help\n";

struct stats_opts {
	const char *root;
	bool no_stream, json;
};

static int parse(int argc, char **argv, struct stats_opts *o)
{
	enum { OPT_ROOT = 256, OPT_NO_STREAM, OPT_FORMAT };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == OPT_ROOT)
			o->root = optarg;
		else if (c == OPT_NO_STREAM)
			o->no_stream = true;
		else if (c == OPT_FORMAT && strcmp(optarg, "json") == 0)
			o->json = true;
		else if (c == OPT_FORMAT)
			return cli_usage_error("stats", "--format %s: only json", optarg);
		else
			return cli_other_option(c, "stats", usage, argv);
	}
	return -1;
}

/* The running containers named in @names (all running ones when none):
 * their indexes in @cs into @pick.  The count, or -1 after saying why. */
static long pick(const struct store_container *cs, size_t n, char **names, int n_names,
                 size_t *pick)
{
	size_t k = 0;

	for (int j = 0; j < n_names; j++) {
		size_t i = 0;

		while (i < n && strcmp(cs[i].name, names[j]) != 0)
			i++;
		if (i == n || !cs[i].running) {
			cli_error("stats: %s: %s", names[j],
			          i == n ? "no such container" : "not running");
			return -1;
		}
		pick[k++] = i;
	}
	for (size_t i = 0; n_names == 0 && i < n; i++)
		if (cs[i].running)
			pick[k++] = i;
	return (long)k;
}

static json_t *num_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static void print_json(const struct store_container *c, const struct cg_stats *st, json_t *arr)
{
	json_array_append_new(
	    arr, json_pack(
	             "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", c->name,
	             "cpu_percent", st->cpu_percent < 0 ? json_null() : json_real(st->cpu_percent),
	             "cpu_usec", num_or_null(st->cpu_usec), "mem_usage", num_or_null(st->mem_usage),
	             "mem_limit", num_or_null(st->mem_limit), "pids", num_or_null(st->pids),
	             "pids_limit", num_or_null(st->pids_limit), "block_read",
	             num_or_null(st->io_read), "block_write", num_or_null(st->io_write)));
}

/* A size, "--" when not known; a missing limit is the host's memory. */
static void size_text(int64_t v, char *out, size_t size)
{
	if (v < 0)
		snprintf(out, size, "--");
	else
		cli_human_size((uint64_t)v, out, size);
}

static void print_row(const struct store_container *c, const struct cg_stats *st)
{
	char use[32], lim[32], rd[32], wr[32], mem[72], io[72], cpu[16] = "--", pct[16] = "--",
	                                                        pids[24] = "--";
	int64_t limit = st->mem_limit >= 0
	                    ? st->mem_limit
	                    : (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);

	size_text(st->mem_usage, use, sizeof(use));
	size_text(limit, lim, sizeof(lim));
	size_text(st->io_read, rd, sizeof(rd));
	size_text(st->io_write, wr, sizeof(wr));
	snprintf(mem, sizeof(mem), "%s / %s", use, lim);
	snprintf(io, sizeof(io), "%s / %s", rd, wr);
	if (st->cpu_percent >= 0)
		snprintf(cpu, sizeof(cpu), "%.2f%%", st->cpu_percent);
	if (st->mem_usage >= 0 && limit > 0)
		snprintf(pct, sizeof(pct), "%.2f%%", (double)st->mem_usage * 100.0 / (double)limit);
	if (st->pids >= 0)
		snprintf(pids, sizeof(pids), "%lld", (long long)st->pids);
	printf("%-20s %-8s %-24s %-8s %-6s %s\n", c->name, cpu, mem, pct, pids, io);
}

/* One sample of the containers @pick of @cs, printed.  How many still run. */
static size_t show(struct store *s, const struct store_container *cs, const size_t *pick, size_t k,
                   bool json, unsigned interval_ms)
{
	char **dirs[k + 1];
	struct cg_stats st[k + 1];
	json_t *arr = json ? json_array() : NULL;
	size_t running = 0;

	for (size_t i = 0; i < k; i++) {
		char dir[PATH_MAX];

		dirs[i] = store_container_path(s, cs[pick[i]].name, dir, sizeof(dir)) < 0
		              ? NULL
		              : store_container_cgroups(dir);
	}
	cg_sample(dirs, k, interval_ms, st);
	if (!json)
		printf("%-20s %-8s %-24s %-8s %-6s %s\n", "NAME", "CPU %", "MEM USAGE / LIMIT",
		       "MEM %", "PIDS", "BLOCK I/O");
	for (size_t i = 0; i < k; i++) {
		json ? print_json(&cs[pick[i]], &st[i], arr) : print_row(&cs[pick[i]], &st[i]);
		/* Its groups gone, nothing reads: it has ended. */
		running += st[i].pids > 0 || (st[i].pids < 0 && st[i].cpu_usec >= 0);
		cg_dirs_free(dirs[i]);
	}
	if (arr)
		cli_print_json(arr);
	fflush(stdout);
	return running;
}

int cmd_stats(int argc, char **argv)
{
	struct stats_opts o = {0};
	struct store_container *cs = NULL;
	struct strata_error err;
	struct store *s;
	size_t n = 0, *which;
	long k;
	int rc = parse(argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (store_container_list(s, &cs, &n, &err)) {
		store_close(s);
		return cli_fail(&err);
	}
	ctr_reap_dead(s, &cs, &n);
	which = calloc(n + 1, sizeof(*which));
	k = which ? pick(cs, n, argv + optind, argc - optind, which) : -1;
	rc = k < 0 ? 1 : 0;
	/* Streaming ends when every container shown has ended (no process
	 * left in its groups), or with ^C. */
	if (k >= 0)
		while (show(s, cs, which, (size_t)k, o.json, o.no_stream ? 500 : 1000) &&
		       !o.no_stream)
			;
	free(which);
	store_containers_free(cs, n);
	store_close(s);
	return rc;
}
