/* SPDX-License-Identifier: MIT */
/*
 * The call forms of other programs, turned into strata mount's:
 *
 *   strata -o lowerdir=...,upperdir=...,workdir=... [-f] [-d] MERGED
 *       fuse-overlayfs' (podman's mount_program);
 *   mount.fuse.strata SRC MNT [-n] [-s] [-v] [-f] [-o OPTS]
 *       mount(8)'s helper, for `mount -t fuse.strata` and fstab lines;
 *   strata SRC MNT -o OPTS
 *       mount.fuse3's, for `mount -t fuse -o ... strata#SRC MNT`.
 *
 * SRC is the source mount(8) shows: ignored when OPTS name lowerdir=,
 * else the lower layer (a directory, a tar file or an image of the store).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ovl_mount.h"

#define HELPER_SYNOPSIS "mount.fuse.strata SOURCE MOUNTPOINT [-nsvf] [-o OPTIONS]"
static const char helper_usage[] =
    "Usage: " HELPER_SYNOPSIS "\n"
    "\n"
    "mount(8)'s helper for 'mount -t fuse.strata' and fstab lines: mounts as\n"
    "'strata mount -o OPTIONS MOUNTPOINT'.  SOURCE is the lower layer (a\n"
    "directory, a tar file or an image of the store) unless OPTIONS give\n"
    "lowerdir=.  See strata-overlay-options(7) and mount.fuse.strata(8).\n";

/* The defaults of these forms, before the caller's options (a later one
 * wins): an upper in the overlay form, which podman and the kernel read;
 * and as fuse-overlayfs, as a kernel overlay mount is, root's mount is for
 * every user (the container's processes run as others). */
static const char *form_defaults(void)
{
	return geteuid() == 0 ? "upper_format=overlay,allow_other" : "upper_format=overlay";
}

int cmd_mount_overlay(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 3, sizeof(*args));
	int rc;

	if (!args) {
		cli_error("out of memory");
		return 1;
	}
	/* strata mount's own syntax from argv[1] on, after the default. */
	args[0] = "mount";
	args[1] = "-o";
	args[2] = (char *)form_defaults();
	memcpy(args + 3, argv + 1, (size_t)argc * sizeof(*args));
	rc = cmd_mount(argc + 2, args);
	free(args);
	return rc;
}

/* "lowerdir=" and @src with its ':', ',' and '\' escaped as overlayfs'. */
static char *lowerdir_of(const char *src)
{
	char *out = malloc(strlen("lowerdir=") + 2 * strlen(src) + 1), *o;

	if (!out)
		return NULL;
	o = out + sprintf(out, "lowerdir=");
	for (; *src; src++) {
		if (*src == ':' || *src == ',' || *src == '\\')
			*o++ = '\\';
		*o++ = *src;
	}
	*o = '\0';
	return out;
}

struct helper_args {
	char *opts; /* every -o, joined */
	bool fake;
};

static int add_opts(struct helper_args *h, const char *o)
{
	size_t len = h->opts ? strlen(h->opts) : 0;
	char *n = realloc(h->opts, len + strlen(o) + 2);

	if (!n) {
		cli_error("out of memory");
		return 1;
	}
	if (len)
		n[len++] = ',';
	strcpy(n + len, o);
	h->opts = n;
	return 0;
}

/* The flags after SRC and MNT (mount(8) puts them there). */
static int helper_flags(int argc, char **argv, struct helper_args *h)
{
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			if (add_opts(h, argv[++i]))
				return 1;
		} else if (strncmp(a, "-o", 2) == 0 && a[2]) {
			if (add_opts(h, a + 2))
				return 1;
		} else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
			i++; /* mount.fuse3 names the type it was given */
		} else if (strcmp(a, "-f") == 0) {
			h->fake = true;
		} else if (strcmp(a, "-n") && strcmp(a, "-s") && strcmp(a, "-v")) {
			cli_error("mount helper: unknown argument '%s' (usage: %s)", a,
			          HELPER_SYNOPSIS);
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* Whether the comma-separated @opts hold a word starting with @key. */
static bool has_key(const char *opts, const char *key)
{
	for (const char *p = opts; (p = strstr(p, key)); p++)
		if (p == opts || p[-1] == ',')
			return true;
	return false;
}

/* Whether the comma-separated @opts hold the word @w. */
static bool has_word(const char *opts, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = opts; (p = strstr(p, w)); p++)
		if ((p == opts || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

/* `mount -o remount,...`: the kernel changes a FUSE mount's flags itself
 * (ro, nosuid, ...); mount(8) gives them all, merged with the mount's.
 * The daemon keeps the atime rules it started with. */
static int remount(const char *mnt, const char *opts)
{
	static const struct {
		const char *word;
		unsigned long flag;
	} flags[] = {
	    {"ro", MS_RDONLY},         {"nosuid", MS_NOSUID},
	    {"nodev", MS_NODEV},       {"noexec", MS_NOEXEC},
	    {"noatime", MS_NOATIME},   {"nodiratime", MS_NODIRATIME},
	    {"relatime", MS_RELATIME}, {"strictatime", MS_STRICTATIME},
	    {"sync", MS_SYNCHRONOUS},  {"dirsync", MS_DIRSYNC},
	    {"lazytime", MS_LAZYTIME},
	};
	unsigned long f = MS_REMOUNT;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (has_word(opts, flags[i].word))
			f |= flags[i].flag;
	if (mount(NULL, mnt, NULL, f, NULL) < 0) {
		cli_error("remount %s: %s", mnt, strerror(errno));
		return 32; /* mount(8)'s "mount failure" */
	}
	return 0;
}

int cmd_mount_helper(int argc, char **argv)
{
	struct helper_args h = {0};
	char *args[10], *lower = NULL;
	struct stat st;
	int n = 0, rc;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(helper_usage, stdout);
		return 0;
	}
	if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		cli_error("mount helper: usage: %s", HELPER_SYNOPSIS);
		return EXIT_USAGE;
	}
	if ((rc = helper_flags(argc, argv, &h)) || h.fake)
		goto out;
	if (h.opts && has_word(h.opts, "remount")) {
		rc = remount(argv[2], h.opts);
		goto out;
	}
	args[n++] = "mount";
	args[n++] = "-o", args[n++] = (char *)form_defaults();
	if (h.opts)
		args[n++] = "-o", args[n++] = h.opts;
	if (h.opts && has_key(h.opts, "lowerdir=")) {
		/* SRC only names the mount in mountinfo. */
	} else if (stat(argv[1], &st) == 0) {
		if (!(lower = lowerdir_of(argv[1]))) {
			cli_error("out of memory");
			rc = 1;
			goto out;
		}
		args[n++] = "-o", args[n++] = lower;
	} else {
		args[n++] = argv[1]; /* an image of the store */
	}
	args[n++] = argv[2];
	args[n] = NULL;
	rc = cmd_mount(n, args);
out:
	free(lower);
	free(h.opts);
	return rc;
}
