/* SPDX-License-Identifier: MIT */
/*
 * strata inspect CONTAINER: its record (state.json, as strata ps --json
 * prints it, kept for scripts that read it) with podman's inspect members
 * over it: State (the init's pid while it runs), Config (what strata run
 * resolved: the command, environment, user, directory), HostConfig,
 * Mounts, GraphDriver (its upper), IDMappings, NetworkSettings and
 * EffectiveCaps.  Read from the container's directory and /proc alone.
 */
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctr.h"
#include "run.h"
#include "run_args.h"
#include "strata-store.h"

/* An id map file of @dir ("inside outside count" lines) as OCI's
 * LinuxIDMapping list; none (root's runs) is the identity. */
static json_t *id_map(const char *dir, const char *file)
{
	char path[PATH_MAX];
	json_t *list = json_array();
	unsigned long in, out, count;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!(f = fopen(path, "re"))) {
		json_array_append_new(list, json_pack("{s:i, s:i, s:I}", "ContainerID", 0, "HostID",
		                                      0, "Size", (json_int_t)4294967295LL));
		return list;
	}
	while (fscanf(f, "%lu %lu %lu", &in, &out, &count) == 3)
		json_array_append_new(list, json_pack("{s:I, s:I, s:I}", "ContainerID",
		                                      (json_int_t)in, "HostID", (json_int_t)out,
		                                      "Size", (json_int_t)count));
	fclose(f);
	return list;
}

/* The capability mask @caps as podman names them: ["CAP_CHOWN", ...]. */
static json_t *cap_names(uint64_t caps)
{
	json_t *list = json_array();

	for (int cap = 0; cap < 64; cap++) {
		const char *name = run_cap_name(cap);
		char up[64] = "CAP_";

		if (!(caps & (1ULL << cap)) || !name)
			continue;
		for (size_t i = 0; name[i] && i + 5 < sizeof(up); i++)
			up[4 + i] = (char)toupper((unsigned char)name[i]);
		json_array_append_new(list, json_string(up));
	}
	return list;
}

static json_t *strings(char **v)
{
	json_t *list = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(list, json_string(v[i]));
	return list;
}

/* State: podman's names; Pid is the init's (0 unless running), ConmonPid
 * its launcher's or supervisor's. */
static json_t *state(const struct store_container *c, json_t *rec, const char *dir)
{
	pid_t init = 0;
	int fd = c->running ? ctr_init_pidfd(dir, &init) : -1;
	json_t *reason = json_object_get(rec, "reason");

	if (fd >= 0)
		close(fd);
	else
		init = 0;
	return json_pack(
	    "{s:s, s:b, s:i, s:i, s:i, s:O?, s:O?, s:b, s:O?}", "Status",
	    c->running ? "running" : "exited", "Running", c->running, "Pid", (int)init, "ConmonPid",
	    c->running ? (int)json_integer_value(json_object_get(rec, "pid")) : 0, "ExitCode",
	    c->has_exit_code ? c->exit_code : 0, "StartedAt", json_object_get(rec, "started_at"),
	    "FinishedAt", json_object_get(rec, "finished_at"), "OOMKilled", c->oom_killed, "Error",
	    reason);
}

/* -p's ports as podman's PortBindings: {"80/tcp": [{"HostIp", "HostPort"}]}. */
static json_t *port_bindings(json_t *proc)
{
	json_t *out = json_object(), *p;
	char key[32], port[8];
	size_t i;

	json_array_foreach(json_object_get(proc, "ports"), i, p)
	{
		json_t *list;

		snprintf(key, sizeof(key), "%d/%s",
		         (int)json_integer_value(json_object_get(p, "container_port")),
		         json_string_value(json_object_get(p, "protocol")) ?: "tcp");
		snprintf(port, sizeof(port), "%d",
		         (int)json_integer_value(json_object_get(p, "host_port")));
		if (!(list = json_object_get(out, key))) {
			list = json_array();
			json_object_set_new(out, key, list);
		}
		json_array_append_new(list,
		                      json_pack("{s:O?, s:s}", "HostIp",
		                                json_object_get(p, "host_ip"), "HostPort", port));
	}
	return out;
}

/* Config and HostConfig, from what strata run recorded of the process. */
static void config(json_t *out, const struct store_container *c, json_t *proc)
{
	const char *seccomp = json_string_value(json_object_get(proc, "seccomp"));
	uint64_t caps = (uint64_t)json_integer_value(json_object_get(proc, "caps"));
	char opt[PATH_MAX + 16];

	json_object_set_new(
	    out, "Config",
	    json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s?}", "Hostname",
	              json_object_get(proc, "hostname"), "User", json_object_get(proc, "user"),
	              "Env", json_object_get(proc, "env"), "Cmd", json_object_get(proc, "argv"),
	              "WorkingDir", json_object_get(proc, "workdir"), "Tty",
	              json_object_get(proc, "tty"), "OpenStdin",
	              json_object_get(proc, "interactive"), "Image", c->image));
	snprintf(opt, sizeof(opt), "seccomp=%s", seccomp ? seccomp : "default");
	json_object_set_new(out, "HostConfig",
	                    json_pack("{s:O?, s:O?, s:[s], s:o}", "NetworkMode",
	                              json_object_get(proc, "network"), "ReadonlyRootfs",
	                              json_object_get(proc, "read_only"), "SecurityOpt", opt,
	                              "PortBindings", port_bindings(proc)));
	json_object_set_new(out, "EffectiveCaps", cap_names(caps));
	json_object_set_new(out, "NetworkSettings",
	                    json_pack("{s:O?, s:o}", "Mode", json_object_get(proc, "network"),
	                              "Ports", port_bindings(proc)));
}

/* Mounts: the -v and --mount binds, --tmpfs and --device, as podman
 * lists them (a record older than --tmpfs has binds alone). */
static json_t *mounts(json_t *proc)
{
	json_t *list = json_array(), *b;
	size_t i;

	json_array_foreach(json_object_get(proc, "binds"), i, b)
	{
		bool ro = json_is_true(json_object_get(b, "read_only"));
		const char *type = json_string_value(json_object_get(b, "type"));
		json_t *src = json_object_get(b, "source");

		json_array_append_new(
		    list, json_pack("{s:s, s:O, s:O, s:b, s:s, s:O?}", "Type", type ? type : "bind",
		                    "Source", src ? src : json_null(), "Destination",
		                    json_object_get(b, "destination"), "RW", !ro, "Mode",
		                    ro ? "ro" : "rw", "Options", json_object_get(b, "options")));
	}
	return list;
}

json_t *ctr_inspect(const struct store *s, const struct store_container *c, const char *dir)
{
	json_t *out = cli_container_json(c), *proc = json_object_get(out, "process");
	char upper[PATH_MAX], rootfs[PATH_MAX];
	char **groups = store_container_cgroups(dir);

	if (!out)
		return NULL;
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	snprintf(rootfs, sizeof(rootfs), "%s/strata/rootfs", store_root(s));
	json_object_set_new(out, "Id", json_string(c->name));
	json_object_set_new(out, "Name", json_string(c->name));
	json_object_set_new(out, "Image", json_string(c->digest ? c->digest : ""));
	json_object_set_new(out, "ImageName", json_string(c->image ? c->image : ""));
	json_object_set_new(out, "Created", json_string(c->created ? c->created : ""));
	json_object_set_new(out, "State", state(c, out, dir));
	config(out, c, proc);
	json_object_set(json_object_get(out, "Config"), "StopSignal",
	                json_object_get(out, "stop_signal") ?: json_null());
	json_object_set_new(out, "Mounts", mounts(proc));
	/* The image's union is mounted on rootfs in the container's mount
	 * namespace only: the host sees an empty directory there. */
	json_object_set_new(out, "GraphDriver",
	                    json_pack("{s:s, s:{s:s, s:s}}", "Name", "strata", "Data", "UpperDir",
	                              upper, "MountPoint", rootfs));
	json_object_set_new(out, "IDMappings",
	                    json_pack("{s:o, s:o}", "UidMap", id_map(dir, "uid_map"), "GidMap",
	                              id_map(dir, "gid_map")));
	json_object_set_new(out, "CgroupPaths", strings(groups));
	strv_free(groups);
	return out;
}
