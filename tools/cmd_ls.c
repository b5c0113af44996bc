/* SPDX-License-Identifier: MIT */
/* strata ls: a directory of an image, a layer or a container, as its mount
 * would list it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "strata-store.h"
#include "read_opts.h"

struct ls_ctx {
	struct read_opts *o;
	struct store_source *src;
	json_t *arr;
	const char *top; /* the path asked for: listed itself only if not a dir */
};

static void mode_string(mode_t m, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";

	out[0] = types[(m >> 12) & 15];
	for (int i = 0; i < 9; i++)
		out[1 + i] = m & (0400 >> i) ? "rwxrwxrwx"[i] : '-';
	if (m & S_ISUID)
		out[3] = m & S_IXUSR ? 's' : 'S';
	if (m & S_ISGID)
		out[6] = m & S_IXGRP ? 's' : 'S';
	if (m & S_ISVTX)
		out[9] = m & S_IXOTH ? 't' : 'T';
	out[10] = '\0';
}

static const char *layer_label(const struct store_source *src, uint32_t layer, char *buf,
                               size_t size)
{
	if (src->kind == STORE_SOURCE_CONTAINER && layer == src->n_layers - 1)
		return "upper";
	if (src->kind == STORE_SOURCE_LAYER)
		layer = (uint32_t)src->layer_index;
	snprintf(buf, size, "%u:%.12s", layer, src->img->layers[layer].digest + 7);
	return buf;
}

static int ls_entry(void *ctx, const struct strata_entry *e)
{
	struct ls_ctx *c = ctx;
	char mode[11], when[20], lbuf[32];
	const char *label = layer_label(c->src, e->layer, lbuf, sizeof(lbuf));
	struct tm tm;
	time_t t = e->st.st_mtime;

	if (strcmp(e->path, c->top) == 0 && S_ISDIR(e->st.st_mode))
		return 0;
	if (c->arr) {
		json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:s}", "path", e->path,
		                      "mode", (int)e->st.st_mode, "uid", (int)e->st.st_uid, "gid",
		                      (int)e->st.st_gid, "size", (json_int_t)e->st.st_size, "mtime",
		                      (json_int_t)e->st.st_mtime, "layer", label);

		if (j && e->link)
			json_object_set_new(j, "link", json_stringn(e->link, e->link_len));
		json_array_append_new(c->arr, j);
		return 0;
	}
	mode_string(e->st.st_mode, mode);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("%s %5u %5u %10lld %s %s%s%.*s", mode, (unsigned)e->st.st_uid,
	       (unsigned)e->st.st_gid, (long long)e->st.st_size, when, c->o->recursive ? "/" : "",
	       c->o->recursive         ? e->path
	       : strrchr(e->path, '/') ? strrchr(e->path, '/') + 1
	                               : e->path,
	       e->link ? 4 : 0, " -> ");
	if (e->link)
		printf("%.*s", (int)e->link_len, e->link);
	if (c->o->show_layer)
		printf("  [%s]", label);
	putchar('\n');
	return 0;
}

/* "/usr/bin/" as layer walks name it: "usr/bin".  In place. */
static const char *walk_path(char *p)
{
	while (*p == '/')
		p++;
	while (*p && p[strlen(p) - 1] == '/')
		p[strlen(p) - 1] = '\0';
	return p;
}

int cmd_ls(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata ls [-R|--recursive] [--layer] [--json] [--root DIR] SOURCE [PATH]\n"
	    "\n"
	    "List PATH (default /) of an image, a layer (by digest) or a container as\n"
	    "its mount would show it: mode, owner, size, mtime, name.  --layer adds the\n"
	    "layer each entry comes from; -R lists everything below PATH.\n";
	struct read_opts o = {0};
	struct ls_ctx c = {.o = &o};
	struct store_source src;
	struct store *s;
	struct strata_error err;
	char *path;
	int rc = read_opts_parse(argc, argv, "ls", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("ls", "expected SOURCE [PATH]");
	if (cli_open_source(o.root, argv[optind], STORE_SOURCE_ANY, &s, &src))
		return 1;
	path = strdup(argc - optind == 2 ? argv[optind + 1] : "/");
	c.src = &src;
	c.arr = o.json ? json_array() : NULL;
	c.top = path ? walk_path(path) : NULL;
	rc = c.top ? strata_stack_walk(src.layers, src.n_layers, c.top, o.recursive, ls_entry, &c,
	                               NULL, &err) < 0
	                 ? -err.sys_errno
	                 : 0
	           : -ENOMEM;
	if (rc < 0) {
		cli_error("ls: %s: %s", argc - optind == 2 ? argv[optind + 1] : "/", strerror(-rc));
		json_decref(c.arr);
		rc = 1;
	} else {
		if (c.arr)
			cli_print_json(c.arr);
		rc = 0;
	}
	free(path);
	cli_close_source(s, &src);
	return rc;
}
