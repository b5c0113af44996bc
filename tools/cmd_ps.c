/* SPDX-License-Identifier: MIT */
/* strata ps: the containers of a store. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "cgroup.h"
#include "cli.h"
#include "strata-store.h"

static void show_json(const struct store_container *c, json_t *arr)
{
	json_array_append_new(arr, cli_container_json(c));
}

static void show(const struct store_container *c)
{
	char status[64];

	if (c->running)
		snprintf(status, sizeof(status), "running");
	else if (c->has_exit_code)
		snprintf(status, sizeof(status),
		         c->oom_killed ? "exited (%d, OOMKilled)" : "exited (%d)", c->exit_code);
	else
		snprintf(status, sizeof(status), "exited (killed)");
	printf("%-20s %-30s %-16s %s\n", c->name, c->image ? c->image : "?", status,
	       c->created ? c->created : "-");
}

int cmd_ps(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata ps [--json] [--root DIR]\n"
	    "\n"
	    "List the containers of the store, running and stopped: NAME, IMAGE,\n"
	    "STATUS (running, or exited with the command's status, and OOMKilled when\n"
	    "the kernel's OOM killer killed in its cgroups, past its memory limit) and CREATED.\n";
	struct store_container *cs = NULL;
	struct strata_error err;
	const char *root = NULL;
	struct store *s;
	bool json = false;
	json_t *arr = NULL;
	size_t n = 0;
	int rc = cli_parse_store_opts(argc, argv, "ps", usage, &root, &json);

	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cli_usage_error("ps", "no arguments expected");
	if (cli_open_store(root, false, &s))
		return 1;
	/* An unreadable containers directory lists as none, as it always did. */
	if (store_container_list(s, &cs, &n, &err))
		n = 0;
	cg_reap_dead(s, cs, n);
	if (json)
		arr = json_array();
	else
		printf("%-20s %-30s %-16s %s\n", "NAME", "IMAGE", "STATUS", "CREATED");
	for (size_t i = 0; i < n; i++)
		arr ? show_json(&cs[i], arr) : show(&cs[i]);
	if (arr)
		cli_print_json(arr);
	store_containers_free(cs, n);
	store_close(s);
	return 0;
}
