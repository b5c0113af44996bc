/* SPDX-License-Identifier: MIT */
/* strata ps and strata rm: the containers of a store. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "strata-store.h"

static void show(const char *dir, const char *name, json_t *arr)
{
	char path[PATH_MAX + 16], status[64];
	json_t *st;
	bool running = container_running(dir);

	snprintf(path, sizeof(path), "%s/state.json", dir);
	st = json_load_file(path, 0, NULL);
	if (!json_is_object(st)) {
		json_decref(st);
		st = json_object();
	}
	if (running)
		snprintf(status, sizeof(status), "running");
	else if (json_is_integer(json_object_get(st, "exit_code")))
		snprintf(status, sizeof(status), "exited (%lld)",
		         (long long)json_integer_value(json_object_get(st, "exit_code")));
	else
		snprintf(status, sizeof(status), "exited (killed)");
	if (arr) {
		json_object_set_new(st, "name", json_string(name));
		json_object_set_new(st, "status", json_string(running ? "running" : "exited"));
		json_array_append(arr, st);
	} else {
		const char *image = json_string_value(json_object_get(st, "image"));
		const char *created = json_string_value(json_object_get(st, "created"));

		printf("%-20s %-30s %-16s %s\n", name, image ? image : "?", status,
		       created ? created : "-");
	}
	json_decref(st);
}

int cmd_ps(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata ps [--json] [--root DIR]\n"
	    "\n"
	    "List the containers of the store, running and stopped: NAME, IMAGE,\n"
	    "STATUS (running, or exited with the command's status) and CREATED.\n";
	const char *root = NULL;
	struct store *s;
	bool json = false;
	json_t *arr = NULL;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = cli_parse_store_opts(argc, argv, "ps", usage, &root, &json);

	if (rc >= 0)
		return rc;
	if (optind != argc)
		return cli_usage_error("ps", "no arguments expected");
	if (cli_open_store(root, false, &s))
		return 1;
	snprintf(path, sizeof(path), "%s/strata/containers", store_root(s));
	if (json)
		arr = json_array();
	else
		printf("%-20s %-30s %-16s %s\n", "NAME", "IMAGE", "STATUS", "CREATED");
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char dir[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%.3800s/%s", path, de->d_name);
		show(dir, de->d_name, arr);
	}
	if (d)
		closedir(d);
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	}
	store_close(s);
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	static const char usage[] = "Usage: strata rm [--root DIR] NAME...\n"
	                            "\n"
	                            "Remove stopped containers and their writable layers.\n";
	const char *root = NULL;
	struct store *s;
	int rc = cli_parse_store_opts(argc, argv, "rm", usage, &root, NULL);

	if (rc >= 0)
		return rc;
	if (optind == argc)
		return cli_usage_error("rm", "no container given");
	if (cli_open_store(root, false, &s))
		return 1;
	rc = 0;
	for (int i = optind; i < argc; i++) {
		char dir[PATH_MAX];

		if (strchr(argv[i], '/') || argv[i][0] == '.') {
			cli_error("rm: %s: not a container name", argv[i]);
			rc = 1;
			continue;
		}
		snprintf(dir, sizeof(dir), "%s/strata/containers/%s", store_root(s), argv[i]);
		if (access(dir, F_OK) < 0) {
			cli_error("rm: %s: no such container", argv[i]);
			rc = 1;
		} else if (container_running(dir)) {
			cli_error("rm: %s: still running", argv[i]);
			rc = 1;
		} else if (container_remove_tree(dir) < 0) {
			cli_error("rm: %s: %s", argv[i], strerror(errno));
			rc = 1;
		}
	}
	store_close(s);
	return rc;
}
