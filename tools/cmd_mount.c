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
#include "ovl_mount.h"
#include "strata-store.h"

static void mount_usage(FILE *out)
{
	fputs("Usage: strata mount [OPTIONS] IMAGE MOUNTPOINT\n"
	      "       strata mount [OPTIONS] --layer FILE|DIR [--layer FILE|DIR ...] MOUNTPOINT\n"
	      "       strata mount [OPTIONS] -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W] "
	      "MOUNTPOINT\n"
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
	      "  -o OPTIONS            mount options, comma-separated: overlayfs' and\n"
	      "                        fuse-overlayfs' (lowerdir=, upperdir=, workdir=,\n"
	      "                        uidmapping=, volatile, ...; strata-overlay-options(7)),\n"
	      "                        mount flags (ro, nosuid, noatime, ...), FUSE's\n"
	      "                        (allow_other, ...), nonempty to mount over a\n"
	      "                        non-empty directory, span_cache=SIZE as --span-cache\n"
	      "  -f, --foreground      stay in the foreground\n"
	      "  -d, --debug           log every FUSE request (implies -f)\n"
	      "      --lazy            an IMAGE missing from the store is pulled from its\n"
	      "                        registry lazily first (strata pull --lazy)\n"
	      "      --tls-verify=false  that pull may use plain HTTP or unverified TLS\n"
	      "      --fetch-timeout SECONDS\n"
	      "                        a lazy layer's read fails with EIO when its registry\n"
	      "                        sends nothing for this long (default 30)\n"
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
	struct ovl_opts ovl;
	char *mountpoint;
	const char *cache_dir;
	const char *upper;
	const char *root;
	const char *image;
	bool reindex;
	bool metacopy;
	bool lazy, tls_verify_off; /* --lazy: pull a missing image lazily */
	uint64_t max_layer_size;   /* 0: the default */
	struct strata_mount_options mo;
};

static int span_cache_option(struct mount_args *a, const char *arg)
{
	a->mo.span_cache = cli_parse_bytes(arg);
	if (!a->mo.span_cache)
		return cli_usage_error("mount", "span cache size %s: not a size (e.g. 64M)", arg);
	return 0;
}

/* -o: 0, or the exit status with the error said. */
static int add_options(struct mount_args *a, const char *arg)
{
	char why[512];

	if (ovl_opts_parse(&a->ovl, arg, why, sizeof(why)))
		return cli_usage_error("mount", "-o: %s", why);
	return 0;
}

enum {
	OPT_CACHE_DIR = 256,
	OPT_REINDEX,
	OPT_THREADS,
	OPT_ROOT,
	OPT_MAX_LAYER_SIZE,
	OPT_SPAN_CACHE,
	OPT_METACOPY,
	OPT_LAZY,
	OPT_TLS,
	OPT_FETCH_TIMEOUT
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
		return add_options(a, arg);
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
	case OPT_LAZY:
		a->lazy = true;
		return 0;
	case OPT_FETCH_TIMEOUT:
		return cli_fetch_timeout_option("mount", arg);
	case OPT_TLS:
		return cli_parse_tls_verify(arg, "mount", &a->tls_verify_off) < 0 ? 0 : 2;
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

/* What -o gave, where the other options put it.  0 or the exit status. */
static int apply_options(struct mount_args *a)
{
	struct ovl_opts *o = &a->ovl;
	int rc;

	if (o->has_lowerdir && a->n_layers)
		return cli_usage_error("mount", "-o lowerdir= and --layer: give one of them");
	if (o->upperdir && a->upper)
		return cli_usage_error("mount", "-o upperdir= and --upper: give one of them");
	if (o->upperdir && !o->has_lowerdir)
		return cli_usage_error("mount", "-o upperdir= needs lowerdir=");
	if (o->span_cache && (rc = span_cache_option(a, o->span_cache)))
		return rc;
	/* squash_to_uid= and squash_to_gid= win over squash_to_root. */
	if (o->squash_to_root && o->squash_uid < 0)
		o->squash_uid = 0;
	if (o->squash_to_root && o->squash_gid < 0)
		o->squash_gid = 0;
	a->mo.allow_nonempty = o->nonempty;
	a->metacopy = a->metacopy || o->metacopy;
	if (o->upperdir)
		a->upper = o->upperdir;
	a->mo.fuse_opts = o->fuse;
	return 0;
}

/* IMAGE (unless --layer) and the mountpoint, made absolute. */
static int mount_operands(int argc, char **argv, struct mount_args *a)
{
	int rc;

	if ((rc = apply_options(a)))
		return rc;
	/* Options come first ("+" in getopt's string): a dash after IMAGE is
	 * a mistake. */
	if (a->n_layers == 0 && !a->ovl.has_lowerdir && argc - optind == 2 &&
	    argv[optind][0] != '-' && argv[optind + 1][0] != '-')
		a->image = argv[optind++];
	else if (a->n_layers == 0 && !a->ovl.has_lowerdir)
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
	    {"lazy", no_argument, NULL, OPT_LAZY},
	    {"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
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
	strata_union_set_volatile(u, a->ovl.is_volatile);
	strata_union_set_noacl(u, a->ovl.noacl);
	strata_union_set_squash(u, a->ovl.squash_uid, a->ovl.squash_gid);
	strata_union_set_xattr_permissions(u, a->ovl.xattr_permissions);
	strata_union_set_upper_format(
	    u, a->ovl.upper_format == OVL_UPPER_OVERLAY ? STRATA_UPPER_OVERLAY : STRATA_UPPER_OCI);
	if (a->upper && strata_union_set_upper(u, a->upper, &err))
		rc = cli_fail(&err);
	else
		rc = strata_fuse_run(u, &a->mo, &err) ? cli_fail(&err) : 0;
	strata_union_free(u);
	return rc;
}

/* The image, pulled lazily first when missing and --lazy says so.  0, or
 * 1 after printing why. */
static int resolve_or_pull(const struct mount_args *a, struct store *s, struct store_image **img)
{
	struct store_pull_options po = {.tls_verify_off = a->tls_verify_off, .lazy = true};
	struct store_pulled pulled;
	struct strata_error err;
	int rc;

	if (store_resolve(s, a->image, img, &err) == 0)
		return 0;
	if (!a->lazy || err.sys_errno != ENOENT)
		return cli_fail(&err);
	if (cli_pull(s, a->image, &po, true, &pulled))
		return 1;
	rc = store_resolve(s, pulled.digest, img, &err) ? cli_fail(&err) : 0;
	store_pulled_free(&pulled);
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

	if (cli_open_store(a->root, a->lazy, &s))
		return 1;
	store_trust_blobs(s);
	free(*layers);
	*layers = NULL;
	if (resolve_or_pull(a, s, &img)) {
		rc = 1;
		goto out;
	}
	/* Pinned first: gc then keeps the blobs and the index being built. */
	if (store_pin(s, img, &err) || store_open_layers(s, img, lo, layers, &err)) {
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

/* The --layer files, or -o lowerdir='s entries (which may replace
 * *@layers).  0 or the exit status. */
static int open_layers(struct mount_args *a, const struct strata_layer_options *lo,
                       struct strata_layer ***layers)
{
	struct strata_error err;

	if (a->ovl.has_lowerdir) {
		free(*layers);
		*layers = NULL;
		if (ovl_check_dirs(&a->ovl, a->mountpoint, &err) ||
		    ovl_open_lowers(&a->ovl, lo, a->root, layers, &a->n_layers, &err))
			return cli_fail(&err);
		return 0;
	}
	for (size_t i = 0; i < a->n_layers; i++) {
		if (open_layer(a->layers[i], lo, &(*layers)[i], &err)) {
			while (i-- > 0)
				strata_layer_close((*layers)[i]);
			return cli_fail(&err);
		}
	}
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	struct mount_args a = {0};
	struct strata_layer_options lo;
	struct strata_layer **layers;
	int rc;

	ovl_opts_init(&a.ovl);
	a.layers = calloc((size_t)argc, sizeof(*a.layers));
	layers = calloc((size_t)argc, sizeof(*layers));
	if (!a.layers || !layers) {
		cli_error("out of memory");
		rc = 1;
		goto out;
	}
	rc = parse(argc, argv, &a);
	if (rc == 0 && (a.lazy || a.tls_verify_off) && !a.image)
		rc = cli_usage_error("mount", "--lazy and --tls-verify go with an IMAGE");
	if (rc)
		goto out;
	rc = 1;
	if (cli_layer_options(&lo, a.cache_dir, a.reindex, a.max_layer_size))
		goto out;
	if (a.image ? open_image(&a, &lo, &layers) == 0 : (rc = open_layers(&a, &lo, &layers)) == 0)
		rc = serve(&a, layers);
	/* In the daemon, after the unmount: an image's record goes. */
	store_unpin();
	cli_layer_options_free(&lo);
out:
	free(layers);
	free(a.layers);
	ovl_opts_free(&a.ovl);
	free(a.mountpoint);
	return rc;
}
