/* SPDX-License-Identifier: MIT */
/* strata mount: index the layers, then mount their union. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "strata-store.h"

static void mount_usage(FILE *out)
{
	fputs("Usage: strata mount [OPTIONS] IMAGE MOUNTPOINT\n"
	      "       strata mount [OPTIONS] --layer FILE|DIR [--layer FILE|DIR ...] MOUNTPOINT\n"
	      "\n"
	      "Mount an image from the store (by name, digest or digest prefix), or the\n"
	      "union of layers (lowest first), at MOUNTPOINT, read-only\n"
	      "unless --upper gives a writable layer,\n"
	      "served straight from the tarballs.  Layers may be plain tar or\n"
	      "compressed with gzip, zstd, xz, bzip2 or anything else libarchive\n"
	      "decompresses, detected from content, or directories, read as they\n"
	      "are used (\".wh.NAME\" files and 0/0 character devices are whiteouts),\n"
	      "which must not change while mounted.\n"
	      "\n"
	      "Options:\n"
	      "  -l, --layer FILE|DIR  a layer, lowest first (repeat for each layer): a tar\n"
	      "                        file, or a directory\n"
	      "  -u, --upper DIR       a writable layer on top, kept in DIR as an OCI\n"
	      "                        changeset (without it the mount is read-only)\n"
	      "      --metacopy        a lower file whose metadata alone changes keeps\n"
	      "                        its data below (DIR then needs its layers)\n"
	      "  -o OPTIONS            FUSE mount options, comma-separated (allow_other,\n"
	      "                        nonempty to mount over a non-empty directory,\n"
	      "                        span_cache=SIZE as --span-cache, ...)\n"
	      "  -f, --foreground      stay in the foreground\n"
	      "  -d, --debug           log every FUSE request (implies -f)\n"
	      "      --root DIR        the image store (default $STRATA_ROOT, /var/lib/strata\n"
	      "                        as root, else $XDG_DATA_HOME/strata)\n"
	      "      --cache-dir DIR   where indexes of --layer files are kept\n"
	      "                        (default $STRATA_CACHE_DIR, /var/cache/strata as root,\n"
	      "                        else $XDG_CACHE_HOME/strata or ~/.cache/strata)\n"
	      "      --reindex         rebuild the indexes even if cached ones are valid\n"
	      "      --max-layer-size SIZE\n"
	      "                        the most a compressed --layer may decompress to\n"
	      "                        (default 256G, or 90% of the cache's free space)\n"
	      "      --threads N       at most N FUSE worker threads\n"
	      "      --span-cache SIZE memory for decompressed spans of gzip layers, which\n"
	      "                        are read in place (default 64M)\n"
	      "  -h, --help            show this help\n"
	      "\n"
	      "Unmount with 'strata umount MOUNTPOINT' or by sending SIGTERM to the daemon.\n",
	      out);
}

struct mount_args {
	const char **layers;
	size_t n_layers;
	char *fuse_opts;
	char *mountpoint;
	const char *cache_dir;
	const char *upper;
	const char *root;
	const char *image;
	bool reindex;
	bool metacopy;
	uint64_t max_layer_size; /* 0: the default */
	struct strata_mount_options mo;
};

static int span_cache_option(struct mount_args *a, const char *arg)
{
	a->mo.span_cache = cli_parse_bytes(arg);
	if (!a->mo.span_cache)
		return cli_usage_error("mount", "span cache size %s: not a size (e.g. 64M)", arg);
	return 0;
}

/* Adds -o options, keeping back the ones strata handles itself.  0, or the
 * exit status with the error said. */
static int add_fuse_opts(struct mount_args *a, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 1;

	if (!copy) {
		cli_error("out of memory");
		return 1;
	}
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		size_t len = a->fuse_opts ? strlen(a->fuse_opts) : 0;
		char *n;

		if (strcmp(o, "nonempty") == 0) {
			a->mo.allow_nonempty = true;
			continue;
		}
		if (strncmp(o, "span_cache=", 11) == 0) {
			if ((rc = span_cache_option(a, o + 11)))
				goto bad;
			continue;
		}
		n = realloc(a->fuse_opts, len + strlen(o) + 2);
		if (!n) {
			cli_error("out of memory");
			rc = 1;
			goto bad;
		}
		if (len)
			n[len++] = ',';
		strcpy(n + len, o);
		a->fuse_opts = n;
	}
	free(copy);
	return 0;
bad:
	free(copy);
	return rc;
}

enum {
	OPT_CACHE_DIR = 256,
	OPT_REINDEX,
	OPT_THREADS,
	OPT_ROOT,
	OPT_MAX_LAYER_SIZE,
	OPT_SPAN_CACHE,
	OPT_METACOPY
};

/* One option: 0, or the exit status. */
static int mount_option(struct mount_args *a, int c, const char *arg, const char *given)
{
	char *end;
	unsigned long n;

	switch (c) {
	case 'l':
		a->layers[a->n_layers++] = arg;
		return 0;
	case 'u':
		a->upper = arg;
		return 0;
	case 'o':
		return add_fuse_opts(a, arg);
	case OPT_SPAN_CACHE:
		return span_cache_option(a, arg);
	case 'f':
		a->mo.foreground = true;
		return 0;
	case 'd':
		a->mo.debug = a->mo.foreground = true;
		return 0;
	case OPT_CACHE_DIR:
		a->cache_dir = arg;
		return 0;
	case OPT_REINDEX:
		a->reindex = true;
		return 0;
	case OPT_METACOPY:
		a->metacopy = true;
		return 0;
	case OPT_ROOT:
		a->root = arg;
		return 0;
	case OPT_MAX_LAYER_SIZE:
		return cli_max_layer_size_option("mount", arg, &a->max_layer_size);
	case OPT_THREADS:
		n = strtoul(arg, &end, 10);
		if (*end || n == 0 || n > 1024)
			return cli_usage_error(
			    "mount", "--threads: '%s' is not a number from 1 to 1024", arg);
		a->mo.max_threads = (unsigned)n;
		return 0;
	case 'h':
		mount_usage(stdout);
		exit(0);
	}
	return cli_usage_error("mount", "unknown or incomplete option '%s'", given);
}

/* IMAGE (unless --layer) and the mountpoint, made absolute. */
static int mount_operands(int argc, char **argv, struct mount_args *a)
{
	/* Options come first ("+" in getopt's string): a dash after IMAGE is
	 * a mistake. */
	if (a->n_layers == 0 && argc - optind == 2 && argv[optind][0] != '-' &&
	    argv[optind + 1][0] != '-')
		a->image = argv[optind++];
	else if (a->n_layers == 0)
		return cli_usage_error("mount", argc - optind < 2 ? "no image or --layer given"
		                                                  : "too many arguments");
	if (optind != argc - 1)
		return cli_usage_error("mount",
		                       optind == argc ? "no mountpoint given"
		                                      : "one mountpoint expected, got %d",
		                       argc - optind);
	/* Absolute: the daemon leaves its working directory, and must unmount
	 * the same path it mounted. */
	a->mountpoint = malloc(PATH_MAX);
	if (!a->mountpoint || cli_absolute_path(argv[optind], a->mountpoint, PATH_MAX)) {
		cli_error("%s: %s", argv[optind], strerror(errno ? errno : ENAMETOOLONG));
		return 1;
	}
	a->mo.mountpoint = a->mountpoint;
	a->mo.fuse_opts = a->fuse_opts;
	return 0;
}

static int parse(int argc, char **argv, struct mount_args *a)
{
	static const struct option longopts[] = {
	    {"layer", required_argument, NULL, 'l'},
	    {"upper", required_argument, NULL, 'u'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"debug", no_argument, NULL, 'd'},
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	    {"reindex", no_argument, NULL, OPT_REINDEX},
	    {"metacopy", no_argument, NULL, OPT_METACOPY},
	    {"threads", required_argument, NULL, OPT_THREADS},
	    {"span-cache", required_argument, NULL, OPT_SPAN_CACHE},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"max-layer-size", required_argument, NULL, OPT_MAX_LAYER_SIZE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+l:u:o:fdh", longopts, NULL)) != -1)
		if ((rc = mount_option(a, c, optarg, argv[optind - 1])))
			return rc;
	return mount_operands(argc, argv, a);
}

static int serve(struct mount_args *a, struct strata_layer **layers)
{
	struct strata_union *u;
	struct strata_error err;
	int rc;

	if (strata_union_new(layers, a->n_layers, &u, &err))
		return cli_fail(&err);
	strata_union_set_metacopy(u, a->metacopy);
	if (a->upper && strata_union_set_upper(u, a->upper, &err))
		rc = cli_fail(&err);
	else
		rc = strata_fuse_run(u, &a->mo, &err) ? cli_fail(&err) : 0;
	strata_union_free(u);
	return rc;
}

/* An image from the store: its layers, and a record that keeps `strata gc`
 * from removing them while the mount lives. */
static int open_image(struct mount_args *a, const struct strata_layer_options *lo,
                      struct strata_layer ***layers)
{
	struct store_image *img = NULL;
	struct strata_error err;
	struct store *s;
	int rc = 1;

	if (cli_open_store(a->root, false, &s))
		return 1;
	store_trust_blobs(s);
	free(*layers);
	*layers = NULL;
	/* Pinned first: gc then keeps the blobs and the index being built. */
	if (store_resolve(s, a->image, &img, &err) || store_pin(s, img, &err) ||
	    store_open_layers(s, img, lo, layers, &err)) {
		cli_fail(&err);
		goto out;
	}
	a->n_layers = img->n_layers;
	rc = 0;
out:
	if (rc && *layers) {
		for (size_t i = 0; img && i < img->n_layers; i++)
			strata_layer_close((*layers)[i]);
	}
	store_image_free(img);
	store_close(s);
	return rc;
}

/* A --layer: a directory (read lazily, never indexed) or a tar file. */
static int open_layer(const char *path, const struct strata_layer_options *lo,
                      struct strata_layer **out, struct strata_error *err)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return strata_layer_open_lower_dir(path, NULL, out, err);
	return strata_layer_open_tar(path, lo, out, err);
}

int cmd_mount(int argc, char **argv)
{
	struct mount_args a = {0};
	struct strata_layer_options lo;
	struct strata_layer **layers;
	struct strata_error err;
	int rc;

	a.layers = calloc((size_t)argc, sizeof(*a.layers));
	layers = calloc((size_t)argc, sizeof(*layers));
	if (!a.layers || !layers) {
		cli_error("out of memory");
		return 1;
	}
	rc = parse(argc, argv, &a);
	if (rc)
		goto out;
	rc = 1;
	if (cli_layer_options(&lo, a.cache_dir, a.reindex, a.max_layer_size))
		goto out;
	if (a.image) {
		if (open_image(&a, &lo, &layers) == 0)
			rc = serve(&a, layers);
		/* In the daemon, after the unmount: its record goes. */
		store_unpin();
		cli_layer_options_free(&lo);
		goto out;
	}
	for (size_t i = 0; i < a.n_layers; i++) {
		if (open_layer(a.layers[i], &lo, &layers[i], &err)) {
			cli_fail(&err);
			while (i-- > 0)
				strata_layer_close(layers[i]);
			cli_layer_options_free(&lo);
			goto out;
		}
	}
	cli_layer_options_free(&lo);
	rc = serve(&a, layers);
out:
	free(layers);
	free(a.layers);
	free(a.fuse_opts);
	free(a.mountpoint);
	return rc;
}
