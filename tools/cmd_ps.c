/* SPDX-License-Identifier: MIT */
/* strata ps: the containers of a store. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cgroup.h"
#include "cli.h"
#include "ctr.h"
#include "strata-store.h"

static void show_json(const struct store_container *c, json_t *arr)
{
	json_array_append_new(arr, cli_container_json(c));
}

static void show(const struct store_container *c, time_t now)
{
	char status[96], ports[1024];

	ctr_status_text(c, now, status, sizeof(status));
	ctr_ports_text(c, ports, sizeof(ports));
	printf("%-20s %-30s %-32s %-20s %s\n", c->name, c->image ? c->image : "?", status,
	       c->created ? c->created : "-", ports);
}

int cmd_ps(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata ps [--json] [--root DIR]\n"
	    "\n"
	    "List the containers of the store, running and stopped: NAME, IMAGE,\n"
	    "STATUS (Up and for how long, or Exited with the command's status and how long\n"
	    "ago, and OOMKilled when the kernel's OOM killer killed in its cgroups, past its\n"
	    "memory limit; or why there is no status: its launcher or supervisor died),\n"
	    "CREATED and PORTS (those strata run publishes: HOST_IP:HOST_PORT->PORT/PROTOCOL).\n"
	    "A container found dead that was to be removed at its end is removed.\n";
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
	ctr_reap_dead(s, &cs, &n);
	if (json)
		arr = json_array();
	else
		printf("%-20s %-30s %-32s %-20s %s\n", "NAME", "IMAGE", "STATUS", "CREATED",
		       "PORTS");
	for (size_t i = 0; i < n; i++)
		arr ? show_json(&cs[i], arr) : show(&cs[i], time(NULL));
	if (arr)
		cli_print_json(arr);
	store_containers_free(cs, n);
	store_close(s);
	return 0;
}
