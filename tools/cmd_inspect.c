/* SPDX-License-Identifier: MIT */
/*
 * strata inspect, layers, ls and cat: read an image straight from the store
 * and its layer indexes, without unpacking or mounting anything.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "source.h"
#include "sys.h"

struct opts {
	const char *root;
	bool json, wasted, recursive, show_layer;
	long top;
};

/* Options shared by these commands; -1 to go on, else an exit status. */
static int parse(int argc, char **argv, const char *cmd, const char *usage, struct opts *o)
{
	enum { OPT_ROOT = 256, OPT_JSON, OPT_WASTED, OPT_LAYER, OPT_TOP };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"wasted", no_argument, NULL, OPT_WASTED},
	    {"layer", no_argument, NULL, OPT_LAYER},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"recursive", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->top = 10;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "Rh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			o->root = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_WASTED:
			o->wasted = true;
			break;
		case OPT_LAYER:
			o->show_layer = true;
			break;
		case OPT_TOP:
			o->top = strtol(optarg, NULL, 10);
			if (o->top <= 0)
				return cli_usage_error(cmd, "--top %s: a positive number", optarg);
			break;
		case 'R':
			o->recursive = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_usage_error(cmd, "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	return -1;
}

static void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(v);
}

/* ---- inspect ---- */

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

int cmd_inspect(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata inspect [--root DIR] IMAGE\n"
	    "\n"
	    "Print IMAGE as JSON: digest, names, created, os/architecture, size, its\n"
	    "config (Env, Cmd, ...), history and layers (digest, diff-id, size, media\n"
	    "type), read from the store alone.\n";
	struct opts o = {0};
	struct store_image *img;
	struct strata_error err;
	struct store *s;
	json_t *cfg, *out, *layers;
	uint64_t size;
	int rc = parse(argc, argv, "inspect", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("inspect", "expected one IMAGE");
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (store_resolve(s, argv[optind], &img, &err)) {
		store_close(s);
		return cli_fail(&err);
	}
	cfg = json_loads(img->config_json, 0, NULL);
	layers = json_array();
	size = img->config_size + img->manifest_size;
	for (size_t i = 0; i < img->n_layers; i++) {
		size += img->layers[i].size;
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:s}", "digest",
		                                        img->layers[i].digest, "diff_id",
		                                        img->layers[i].diff_id, "size",
		                                        (json_int_t)img->layers[i].size,
		                                        "media_type", img->layers[i].media_type));
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
	print_json(out);
	return 0;
}

/* ---- layers ---- */

struct offender {
	char *path;
	uint64_t size;
	size_t layer, by;
	bool deleted;
};

struct layer_stats {
	struct strata_layer **layers;
	size_t n, i;
	uint64_t added, changed, deleted, files, bytes, wasted;
	struct offender *offenders;
	size_t n_off, cap_off;
};

/* Is @path visible in layers [0, @below)? */
static bool visible_below(struct layer_stats *st, size_t below, const char *path,
                          struct strata_entry *e)
{
	return below > 0 && strata_stack_lookup(st->layers, below, path, e) == 0;
}

static int count_hidden(void *ctx, const struct strata_entry *e)
{
	struct layer_stats *st = ctx;
	struct strata_entry mine;

	/* Under an opaque dir, what the layer does not bring back is gone. */
	if (*e->path && strata_stack_lookup(&st->layers[st->i], 1, e->path, &mine) != 0)
		st->deleted++;
	return 0;
}

static void add_offender(struct layer_stats *st, const char *path, uint64_t size, size_t by,
                         bool deleted)
{
	if (st->n_off == st->cap_off) {
		size_t cap = st->cap_off ? 2 * st->cap_off : 64;
		struct offender *v = realloc(st->offenders, cap * sizeof(*v));

		if (!v)
			return;
		st->offenders = v;
		st->cap_off = cap;
	}
	st->offenders[st->n_off++] = (struct offender){strdup(path), size, st->i, by, deleted};
}

/* Bytes a later layer overwrites or deletes: what the file costs for
 * nothing (dive's "wasted space"). */
static void check_wasted(struct layer_stats *st, const struct strata_entry *e)
{
	struct strata_entry top;

	if (!S_ISREG(e->st.st_mode) || e->hardlink)
		return;
	if (strata_stack_lookup(st->layers, st->n, e->path, &top) == 0 && top.layer == st->i)
		return;
	/* Find the layer that hid it: the lowest above whose stack differs. */
	for (size_t j = st->i + 1; j <= st->n; j++) {
		if (strata_stack_lookup(st->layers, j, e->path, &top) == 0 && top.layer == st->i)
			continue;
		st->wasted += (uint64_t)e->st.st_size;
		add_offender(st, e->path, (uint64_t)e->st.st_size, j - 1,
		             strata_stack_lookup(st->layers, j, e->path, &top) != 0);
		return;
	}
}

static int layer_entry(void *ctx, const struct strata_entry *e)
{
	struct layer_stats *st = ctx;
	struct strata_entry below;

	if (!*e->path || (e->flags & STRATA_ENTRY_IMPLICIT))
		return 0;
	if (e->flags & STRATA_ENTRY_WHITEOUT) {
		if (visible_below(st, st->i, e->path, &below))
			st->deleted++;
		return 0;
	}
	if (e->flags & STRATA_ENTRY_OPAQUE && st->i > 0)
		strata_stack_walk(st->layers, st->i, e->path, true, count_hidden, st);
	if (!S_ISDIR(e->st.st_mode)) {
		st->files++;
		if (S_ISREG(e->st.st_mode) && !e->hardlink)
			st->bytes += (uint64_t)e->st.st_size;
	}
	if (!visible_below(st, st->i, e->path, &below))
		st->added++;
	else if (!S_ISDIR(e->st.st_mode) || e->st.st_mode != below.st.st_mode ||
	         e->st.st_uid != below.st.st_uid || e->st.st_gid != below.st.st_gid)
		st->changed++;
	check_wasted(st, e);
	return 0;
}

/* history entries that made layers, in order (empty_layer ones skipped). */
static const char *created_by(json_t *history, size_t layer)
{
	size_t i, k = 0;
	json_t *h;

	json_array_foreach(history, i, h)
	{
		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (k++ == layer)
			return json_string_value(json_object_get(h, "created_by"));
	}
	return NULL;
}

static int by_size(const void *a, const void *b)
{
	const struct offender *x = a, *y = b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : strcmp(x->path, y->path);
}

int cmd_layers(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata layers [--wasted [--top N]] [--json] [--root DIR] IMAGE\n"
	    "\n"
	    "Per layer: digest, size, files it adds, changes and deletes, bytes of file\n"
	    "data, bytes wasted (files a later layer overwrites or deletes) and the\n"
	    "command that created it.  --wasted lists the biggest wasted files.\n";
	struct opts o = {0};
	struct source src;
	struct store *s;
	json_t *arr = NULL, *cfg;
	uint64_t total_wasted = 0;
	struct offender *all = NULL;
	size_t n_all = 0;
	int rc = parse(argc, argv, "layers", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("layers", "expected one IMAGE");
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (source_open(s, argv[optind], SOURCE_IMAGE, &src)) {
		store_close(s);
		return 1;
	}
	cfg = json_loads(src.img->config_json, 0, NULL);
	if (o.json)
		arr = json_array();
	else
		printf("%-3s %-12s %10s %7s %7s %7s %7s %10s %10s  %s\n", "#", "DIGEST", "SIZE",
		       "FILES", "ADDED", "CHANGED", "DELETED", "BYTES", "WASTED", "CREATED BY");
	for (size_t i = 0; i < src.n_layers; i++) {
		struct layer_stats st = {.layers = src.layers, .n = src.n_layers, .i = i};
		const struct store_layer *l = &src.img->layers[i];
		const char *by = created_by(json_object_get(cfg, "history"), i);
		char size[32], bytes[32], wasted[32];

		strata_layer_walk(src.layers[i], layer_entry, &st);
		total_wasted += st.wasted;
		if (arr) {
			json_array_append_new(
			    arr,
			    json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}",
			              "index", (int)i, "digest", l->digest, "diff_id", l->diff_id,
			              "size", (json_int_t)l->size, "files", (json_int_t)st.files,
			              "added", (json_int_t)st.added, "changed",
			              (json_int_t)st.changed, "deleted", (json_int_t)st.deleted,
			              "bytes", (json_int_t)st.bytes, "wasted",
			              (json_int_t)st.wasted, "created_by", by));
		} else {
			cli_human_size(l->size, size, sizeof(size));
			cli_human_size(st.bytes, bytes, sizeof(bytes));
			cli_human_size(st.wasted, wasted, sizeof(wasted));
			printf("%-3zu %-12.12s %10s %7llu %7llu %7llu %7llu %10s %10s  %.60s\n", i,
			       l->digest + 7, size, (unsigned long long)st.files,
			       (unsigned long long)st.added, (unsigned long long)st.changed,
			       (unsigned long long)st.deleted, bytes, wasted, by ? by : "");
		}
		all = realloc(all, (n_all + st.n_off + 1) * sizeof(*all));
		if (all && st.n_off)
			memcpy(all + n_all, st.offenders, st.n_off * sizeof(*all));
		n_all += all ? st.n_off : 0;
		free(st.offenders);
	}
	if (all && n_all)
		qsort(all, n_all, sizeof(*all), by_size);
	if (arr) {
		json_t *top = json_array();

		for (size_t i = 0; o.wasted && i < n_all && i < (size_t)o.top; i++)
			json_array_append_new(
			    top, json_pack("{s:s, s:I, s:i, s:i, s:s}", "path", all[i].path, "size",
			                   (json_int_t)all[i].size, "layer", (int)all[i].layer,
			                   "by", (int)all[i].by, "how",
			                   all[i].deleted ? "deleted" : "overwritten"));
		print_json(json_pack("{s:s, s:o, s:I, s:o}", "image", src.img->digest, "layers",
		                     arr, "wasted", (json_int_t)total_wasted, "top_wasted", top));
	} else if (o.wasted) {
		char w[32];

		cli_human_size(total_wasted, w, sizeof(w));
		printf("\nwasted: %s in %zu files\n", w, n_all);
		for (size_t i = 0; i < n_all && i < (size_t)o.top; i++) {
			cli_human_size(all[i].size, w, sizeof(w));
			printf("%10s  /%s  (layer %zu, %s in layer %zu)\n", w, all[i].path,
			       all[i].layer, all[i].deleted ? "deleted" : "overwritten", all[i].by);
		}
	}
	for (size_t i = 0; i < n_all; i++)
		free(all[i].path);
	free(all);
	json_decref(cfg);
	source_close(&src);
	store_close(s);
	return 0;
}

/* ---- ls ---- */

struct ls_ctx {
	struct opts *o;
	struct source *src;
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

static const char *layer_label(const struct source *src, uint32_t layer, char *buf, size_t size)
{
	if (src->kind == SOURCE_CONTAINER && layer == src->n_layers - 1)
		return "upper";
	if (src->kind == SOURCE_LAYER)
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

int cmd_ls(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata ls [-R] [--layer] [--json] [--root DIR] SOURCE [PATH]\n"
	    "\n"
	    "List PATH (default /) of an image, a layer (by digest) or a container as\n"
	    "its mount would show it: mode, owner, size, mtime, name.  --layer adds the\n"
	    "layer each entry comes from; -R lists everything below PATH.\n";
	struct opts o = {0};
	struct ls_ctx c = {.o = &o};
	struct source src;
	struct store *s;
	char *path;
	int rc = parse(argc, argv, "ls", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("ls", "expected SOURCE [PATH]");
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (source_open(s, argv[optind], SOURCE_IMAGE | SOURCE_LAYER | SOURCE_CONTAINER, &src)) {
		store_close(s);
		return 1;
	}
	path = strdup(argc - optind == 2 ? argv[optind + 1] : "/");
	c.src = &src;
	c.arr = o.json ? json_array() : NULL;
	{
		char *p = path;

		while (*p == '/')
			p++;
		while (*p && p[strlen(p) - 1] == '/')
			p[strlen(p) - 1] = '\0';
		c.top = p;
		rc = strata_stack_walk(src.layers, src.n_layers, p, o.recursive, ls_entry, &c);
	}
	if (rc < 0) {
		cli_error("ls: %s: %s", argv[optind + 1], strerror(-rc));
		json_decref(c.arr);
		rc = 1;
	} else {
		if (c.arr)
			print_json(c.arr);
		rc = 0;
	}
	free(path);
	source_close(&src);
	store_close(s);
	return rc;
}

/* ---- cat ---- */

/* Resolves @path in the image, following symlinks as the kernel would
 * inside its root (absolute targets from the image's root). */
static int lookup_follow(const struct source *src, const char *path, struct strata_entry *e)
{
	char cur[PATH_MAX], next[PATH_MAX];

	snprintf(cur, sizeof(cur), "%s", path);
	for (int hops = 0; hops < 40; hops++) {
		char *norm = NULL;
		int rc;

		/* Normalize ".." lexically: it cannot climb above the root. */
		{
			char *parts[PATH_MAX / 2], *save = NULL, buf[PATH_MAX];
			size_t n = 0, len = 0;

			snprintf(buf, sizeof(buf), "%s", cur);
			for (char *t = strtok_r(buf, "/", &save); t;
			     t = strtok_r(NULL, "/", &save)) {
				if (strcmp(t, ".") == 0)
					continue;
				if (strcmp(t, "..") == 0) {
					if (n)
						n--;
					continue;
				}
				parts[n++] = t;
			}
			next[0] = '\0';
			for (size_t i = 0; i < n; i++)
				len += (size_t)snprintf(next + len, sizeof(next) - len, "%s%s",
				                        i ? "/" : "", parts[i]);
			norm = next;
		}
		rc = strata_stack_lookup(src->layers, src->n_layers, norm, e);
		if (rc == 0 && S_ISLNK(e->st.st_mode)) {
			char dir[PATH_MAX], *slash;

			snprintf(dir, sizeof(dir), "%s", norm);
			slash = strrchr(dir, '/');
			if (slash)
				*slash = '\0';
			else
				dir[0] = '\0';
			if (e->link_len && e->link[0] == '/')
				snprintf(cur, sizeof(cur), "%.*s", (int)e->link_len, e->link);
			else
				snprintf(cur, sizeof(cur), "%s/%.*s", dir, (int)e->link_len,
				         e->link);
			continue;
		}
		if (rc == 0)
			return 0;
		/* A symlink in a directory component: resolve it and go on. */
		{
			char prefix[PATH_MAX];
			size_t len = 0;
			struct strata_entry d;
			bool replaced = false;

			for (char *p = norm; *p && !replaced; p++) {
				if (*p != '/')
					continue;
				len = (size_t)(p - norm);
				snprintf(prefix, sizeof(prefix), "%.*s", (int)len, norm);
				if (strata_stack_lookup(src->layers, src->n_layers, prefix, &d) ==
				        0 &&
				    S_ISLNK(d.st.st_mode)) {
					char *slash = strrchr(prefix, '/'), *joined = NULL;
					int base_len = slash ? (int)(slash - prefix) : 0;

					if (d.link_len && d.link[0] == '/'
					        ? asprintf(&joined, "%.*s/%s", (int)d.link_len,
					                   d.link, norm + len + 1) < 0
					        : asprintf(&joined, "%.*s/%.*s/%s", base_len,
					                   prefix, (int)d.link_len, d.link,
					                   norm + len + 1) < 0)
						return -ENOMEM;
					if (strlen(joined) >= sizeof(cur)) {
						free(joined);
						return -ENAMETOOLONG;
					}
					memcpy(cur, joined, strlen(joined) + 1);
					free(joined);
					replaced = true;
				}
			}
			if (!replaced)
				return rc;
		}
	}
	return -ELOOP;
}

int cmd_cat(int argc, char **argv)
{
	static const char usage[] = "Usage: strata cat [--root DIR] SOURCE PATH...\n"
	                            "\n"
	                            "Write files of an image, a layer or a container to standard\n"
	                            "output, following symlinks inside the image.\n";
	static char buf[1 << 17];
	struct opts o = {0};
	struct source src;
	struct store *s;
	int rc = parse(argc, argv, "cat", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind < 2)
		return cli_usage_error("cat", "expected SOURCE PATH...");
	if (cli_open_store(o.root, false, &s))
		return 1;
	if (source_open(s, argv[optind], SOURCE_IMAGE | SOURCE_LAYER | SOURCE_CONTAINER, &src)) {
		store_close(s);
		return 1;
	}
	rc = 0;
	for (int i = optind + 1; i < argc; i++) {
		struct strata_entry e;
		int r = lookup_follow(&src, argv[i], &e);
		uint64_t off = 0;

		if (r == 0 && !S_ISREG(e.st.st_mode))
			r = S_ISDIR(e.st.st_mode) ? -EISDIR : -EINVAL;
		if (r < 0) {
			cli_error("cat: %s: %s", argv[i],
			          r == -EINVAL ? "not a regular file" : strerror(-r));
			rc = 1;
			continue;
		}
		while (off < (uint64_t)e.st.st_size) {
			ssize_t n = strata_entry_pread(&e, buf, sizeof(buf), off);

			if (n <= 0 || sys_write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
				cli_error("cat: %s: %s", argv[i], strerror(n < 0 ? errno : EIO));
				rc = 1;
				break;
			}
			off += (uint64_t)n;
		}
	}
	source_close(&src);
	store_close(s);
	return rc;
}
