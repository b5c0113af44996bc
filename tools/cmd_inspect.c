/* SPDX-License-Identifier: MIT */
/* strata inspect: an image as JSON, from the store alone. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "cli.h"
#include "ctr.h"
#include "strata-store.h"
#include "read_opts.h"

static json_t *names_of(struct store *s, const char *digest)
{
	json_t *names = json_array();
	struct store_entry *v;
	struct strata_error err;
	size_t n;

	if (store_list(s, &v, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			if (v[i].name && strcmp(v[i].digest, digest) == 0)
				json_array_append_new(names, json_string(v[i].name));
		store_entries_free(v, n);
	}
	return names;
}

/* @name as a container of the store, printed: 0, or -1 when there is no
 * container of that name.  Containers come first, as with podman. */
static int inspect_container(struct store *s, const char *name)
{
	struct store_container *cs;
	struct strata_error err;
	char dir[PATH_MAX];
	size_t n, i;

	if (store_container_list(s, &cs, &n, &err) < 0)
		return -1;
	ctr_reap_dead(s, &cs, &n);
	for (i = 0; i < n && strcmp(cs[i].name, name) != 0; i++)
		;
	if (i < n && store_container_path(s, name, dir, sizeof(dir)) == 0)
		cli_print_json(ctr_inspect(s, &cs[i], dir));
	store_containers_free(cs, n);
	return i < n ? 0 : -1;
}

int cmd_inspect(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata inspect [--root DIR] IMAGE|CONTAINER\n"
	    "\n"
	    "Print IMAGE as JSON: digest, names, created, os/architecture, size, its\n"
	    "config (Env, Cmd, ...), history and layers (digest, diff-id, size, media\n"
	    "type, seekable: read in place, from its cached index; null when not\n"
	    "indexed yet), read from the store alone.  A CONTAINER (looked for first):\n"
	    "its record, as strata ps prints it in JSON, and podman's members: State (Pid:\n"
	    "its init's), Config (Env, Cmd, User, WorkingDir...), HostConfig, Mounts,\n"
	    "GraphDriver (its upper), IDMappings, EffectiveCaps, CgroupPaths.\n";
	struct read_opts o = {0};
	struct store_image *img;
	struct strata_error err;
	struct store *s;
	json_t *cfg, *out, *layers;
	uint64_t size;
	int rc = read_opts_parse(argc, argv, "inspect", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("inspect", "expected one IMAGE");
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (inspect_container(s, argv[optind]) == 0) {
		store_close(s);
		return 0;
	}
	if (store_resolve(s, argv[optind], &img, &err)) {
		store_close(s);
		return cli_fail(&err);
	}
	cfg = json_loads(img->config_json, 0, NULL);
	layers = json_array();
	size = img->config_size + img->manifest_size;
	for (size_t i = 0; i < img->n_layers; i++) {
		/* From the cached index only: null until a mount indexes it. */
		int seekable = store_layer_seekable(s, &img->layers[i]);

		size += img->layers[i].size;
		json_array_append_new(
		    layers, json_pack("{s:s, s:s, s:I, s:s, s:o}", "digest", img->layers[i].digest,
		                      "diff_id", img->layers[i].diff_id, "size",
		                      (json_int_t)img->layers[i].size, "media_type",
		                      img->layers[i].media_type, "seekable",
		                      seekable < 0 ? json_null() : json_boolean(seekable)));
	}
	out = json_pack("{s:s, s:o, s:s?, s:s?, s:s?, s:s?, s:I, s:s, s:s, s:O?, s:O?, s:o}",
	                "digest", img->digest, "names", names_of(s, img->digest), "created",
	                img->created, "os", img->os, "architecture", img->architecture, "variant",
	                img->variant, "size", (json_int_t)size, "manifest_media_type",
	                img->manifest_media_type, "config_digest", img->config_digest, "config",
	                json_object_get(cfg, "config"), "history", json_object_get(cfg, "history"),
	                "layers", layers);
	json_decref(cfg);
	store_image_free(img);
	store_close(s);
	if (!out) {
		cli_error("inspect: out of memory");
		return 1;
	}
	cli_print_json(out);
	return 0;
}
