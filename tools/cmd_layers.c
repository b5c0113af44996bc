/* SPDX-License-Identifier: MIT */
/* strata layers: what each layer of an image does, and what it wastes. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "strata-store.h"
#include "read_opts.h"

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

static json_t *layer_json(const struct store_layer *l, size_t i, const struct store_layer_stats *st,
                          const char *by)
{
	return json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:s?}",
	                 "index", (int)i, "digest", l->digest, "diff_id", l->diff_id, "size",
	                 (json_int_t)l->size, "files", (json_int_t)st->files, "added",
	                 (json_int_t)st->added, "changed", (json_int_t)st->changed, "deleted",
	                 (json_int_t)st->deleted, "bytes", (json_int_t)st->bytes, "wasted",
	                 (json_int_t)st->wasted, "compression", st->compression, "seekable",
	                 st->seekable, "created_by", by);
}

static void print_layer(const struct store_layer *l, size_t i, const struct store_layer_stats *st,
                        const char *by)
{
	char size[32], bytes[32], wasted[32];

	cli_human_size(l->size, size, sizeof(size));
	cli_human_size(st->bytes, bytes, sizeof(bytes));
	cli_human_size(st->wasted, wasted, sizeof(wasted));
	/* A plain tar is read where it lies: seeking is no question for it. */
	printf("%-3zu %-12.12s %10s %7llu %7llu %7llu %7llu %10s %10s %-5s %-8s  %.60s\n", i,
	       l->digest + 7, size, (unsigned long long)st->files, (unsigned long long)st->added,
	       (unsigned long long)st->changed, (unsigned long long)st->deleted, bytes, wasted,
	       strcmp(st->compression, "none") == 0 ? "-"
	       : st->seekable                       ? "yes"
	                                            : "no",
	       st->compression, by ? by : "");
}

/* The --top biggest wasted files, as JSON (empty without --wasted). */
static json_t *wasted_json(const struct read_opts *o, const struct store_wasted *w, size_t n)
{
	json_t *top = json_array();

	for (size_t i = 0; o->wasted && i < n && i < (size_t)o->top; i++)
		json_array_append_new(top, json_pack("{s:s, s:I, s:i, s:i, s:s}", "path", w[i].path,
		                                     "size", (json_int_t)w[i].size, "layer",
		                                     (int)w[i].layer, "by", (int)w[i].by, "how",
		                                     w[i].deleted ? "deleted" : "overwritten"));
	return top;
}

static void print_wasted(const struct read_opts *o, const struct store_wasted *w, size_t n,
                         uint64_t total)
{
	char size[32];

	cli_human_size(total, size, sizeof(size));
	printf("\nwasted: %s in %zu files\n", size, n);
	for (size_t i = 0; i < n && i < (size_t)o->top; i++) {
		cli_human_size(w[i].size, size, sizeof(size));
		printf("%10s  /%s  (layer %zu, %s in layer %zu)\n", size, w[i].path, w[i].layer,
		       w[i].deleted ? "deleted" : "overwritten", w[i].by);
	}
}

/* Prints the table (or JSON) of @src's layers from @stats. */
static void print_layers(const struct read_opts *o, const struct store_source *src,
                         const struct store_layer_stats *stats, const struct store_wasted *w,
                         size_t n_w)
{
	json_t *cfg = json_loads(src->img->config_json, 0, NULL);
	json_t *arr = o->json ? json_array() : NULL;
	uint64_t total = 0;

	if (!arr)
		printf("%-3s %-12s %10s %7s %7s %7s %7s %10s %10s %-5s %-8s  %s\n", "#", "DIGEST",
		       "SIZE", "FILES", "ADDED", "CHANGED", "DELETED", "BYTES", "WASTED", "SEEK",
		       "COMP", "CREATED BY");
	for (size_t i = 0; i < src->n_layers; i++) {
		const char *by = created_by(json_object_get(cfg, "history"), i);

		total += stats[i].wasted;
		if (arr)
			json_array_append_new(arr,
			                      layer_json(&src->img->layers[i], i, &stats[i], by));
		else
			print_layer(&src->img->layers[i], i, &stats[i], by);
	}
	if (arr)
		cli_print_json(json_pack("{s:s, s:o, s:I, s:o}", "image", src->img->digest,
		                         "layers", arr, "wasted", (json_int_t)total, "top_wasted",
		                         wasted_json(o, w, n_w)));
	else if (o->wasted)
		print_wasted(o, w, n_w, total);
	json_decref(cfg);
}

int cmd_layers(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: strata layers [--wasted [--top N]] [--json] [--root DIR] IMAGE\n"
	    "\n"
	    "Per layer: digest, size, files it adds, changes and deletes, bytes of file\n"
	    "data, bytes wasted (files a later layer overwrites or deletes) and the\n"
	    "command that created it.  --wasted lists the biggest wasted files.\n";
	struct read_opts o = {0};
	struct store_layer_stats *stats;
	struct store_wasted *wasted = NULL;
	struct store_source src;
	struct strata_error err;
	struct store *s;
	size_t n_wasted = 0;
	int rc = read_opts_parse(argc, argv, "layers", usage, &o);

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("layers", "expected one IMAGE");
	if (cli_open_source(o.root, argv[optind], STORE_SOURCE_IMAGE, &s, &src))
		return 1;
	stats = calloc(src.n_layers + 1, sizeof(*stats));
	rc = stats ? store_layer_stats(&src, stats, &wasted, &n_wasted, &err)
	           : strata_fail(&err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	if (rc == 0)
		print_layers(&o, &src, stats, wasted, n_wasted);
	else
		cli_fail(&err);
	store_wasted_free(wasted, n_wasted);
	free(stats);
	cli_close_source(s, &src);
	return rc ? 1 : 0;
}
