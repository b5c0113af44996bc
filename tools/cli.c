/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "attach.h"
#include "cli.h"
#include "strata-store.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(const struct strata_error *err)
{
	cli_error("%s", err->msg);
	return err->code == STRATA_ERR_OPTION ? EXIT_USAGE : 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'strata %s --help')\n", cmd);
	return EXIT_USAGE;
}

int cli_other_option(int c, const char *cmd, const char *usage, char *const *argv)
{
	if (c == 'h') {
		fputs(usage, stdout);
		return 0;
	}
	return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
}

void cli_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "strata: %s\n", msg);
}

int cli_layer_options(struct strata_layer_options *o, const char *cache_dir, bool reindex,
                      uint64_t max_layer_size)
{
	char *dir = NULL;

	memset(o, 0, sizeof(*o));
	if (cache_dir ? !(dir = strdup(cache_dir)) : strata_default_cache_dir(&dir, NULL) < 0) {
		cli_error("cache directory: out of memory");
		return -1;
	}
	o->cache_dir = dir;
	o->warn = cli_warn;
	o->warn_ctx = NULL;
	o->force_reindex = reindex;
	o->max_layer_size = max_layer_size ? max_layer_size : cli_default_max_layer_size(dir);
	return 0;
}

uint64_t cli_parse_bytes(const char *s)
{
	static const char suffixes[] = "kmgt";
	char *end;
	double v = strtod(s, &end);
	const char *unit = *end ? strchr(suffixes, tolower((unsigned char)*end)) : NULL;
	double bytes = v;

	/* Plain decimals only: strtod would take "0x10", "1e3" and "inf". */
	if (!isdigit((unsigned char)*s) || strspn(s, "0123456789.") != (size_t)(end - s) ||
	    (*end && !unit))
		return 0;
	if (unit) {
		bytes = v * (double)((uint64_t)1 << (10 * (unit - suffixes + 1)));
		end++;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	/* 2^64 and more do not fit: no size either. */
	return *end || !(bytes >= 1 && bytes < 18446744073709551616.0) ? 0 : (uint64_t)bytes;
}

int cli_fetch_timeout_option(const char *cmd, const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (*end || end == arg || n < 1 || n > 3600)
		return cli_usage_error(cmd,
		                       "--fetch-timeout: '%s' is not a number of seconds "
		                       "from 1 to 3600",
		                       arg);
	return setenv("STRATA_REGISTRY_TIMEOUT", arg, 1) < 0 ? 1 : 0;
}

int cli_max_layer_size_option(const char *cmd, const char *arg, uint64_t *out)
{
	*out = cli_parse_bytes(arg);
	if (!*out)
		return cli_usage_error(cmd, "--max-layer-size %s: not a size (e.g. 64G)", arg);
	return 0;
}

/* statvfs of @dir, or of its nearest existing parent (the cache directory
 * is made when the first layer is indexed). */
static int statvfs_nearest(const char *dir, struct statvfs *sv)
{
	char *p = strdup(dir);
	int rc = -1;

	while (p && (rc = statvfs(*p ? p : ".", sv)) < 0 && errno == ENOENT && *p &&
	       strcmp(p, "/") != 0) {
		char *slash = strrchr(p, '/');

		if (!slash)
			*p = '\0'; /* "cache" → "." */
		else
			slash[slash == p] = '\0'; /* "/a/b" → "/a", "/a" → "/" */
	}
	free(p);
	return rc;
}

/* 256 GiB is enough for any layer a registry takes (ECR: 52,000 MiB
 * compressed), and a bomb stops within minutes; the option raises it.  90%
 * of the space available: no one layer fills the disk, nor takes what root
 * keeps back for itself (f_bavail). */
uint64_t cli_default_max_layer_size(const char *dir)
{
	uint64_t max = CLI_MAX_LAYER_SIZE;
	struct statvfs sv;

	if (statvfs_nearest(dir, &sv) == 0) {
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize / 10 * 9;
		uint64_t unit = avail >= (1 << 20) ? 1 << 20 : 1 << 10;

		avail -= avail % unit; /* a round number in messages */
		if (avail < max)
			max = avail ? avail : unit;
	}
	return max;
}

void cli_layer_options_free(struct strata_layer_options *o)
{
	free((char *)o->cache_dir);
	o->cache_dir = NULL;
}

/* The absolute path of @path without touching @path itself, which may be a
 * dead FUSE mount that every stat() fails on. */
int cli_absolute_path(const char *path, char *out, size_t size)
{
	char *d = strdup(path), *b = strdup(path), *real = NULL;
	int rc = -1;

	if (d && b) {
		const char *base = basename(b);

		if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0)
			real = realpath(path, NULL), *b = '\0';
		else
			real = realpath(dirname(d), NULL);
	}
	if (real && !*b && snprintf(out, size, "%s", real) < (int)size)
		rc = 0;
	else if (real && *b &&
	         snprintf(out, size, "%s/%s", strcmp(real, "/") ? real : "", basename(b)) <
	             (int)size)
		rc = 0;
	free(real);
	free(d);
	free(b);
	return rc;
}

int cli_open_store(const char *root, bool create, struct store **out)
{
	char *dflt = root ? NULL : store_default_root();
	struct strata_error err;
	int rc;

	if (!root && !dflt) {
		cli_error("store: out of memory");
		return 1;
	}
	rc = store_open(root ? root : dflt, create, out, &err) ? cli_fail(&err) : 0;
	free(dflt);
	return rc;
}

void cli_human_size(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
}

int cli_parse_store_opts(int argc, char **argv, const char *cmd, const char *usage,
                         const char **root, bool *json)
{
	enum { OPT_ROOT = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			*root = optarg;
			break;
		case OPT_JSON:
			if (!json)
				return cli_usage_error(cmd,
				                       "--json: not an option of this command");
			*json = true;
			break;
		default:
			return cli_other_option(c, cmd, usage, argv);
		}
	}
	return -1;
}

int cli_parse_no_args(int argc, char **argv, const char *cmd, const char *usage, const char **root)
{
	int rc = cli_parse_store_opts(argc, argv, cmd, usage, root, NULL);

	if (rc < 0 && optind != argc)
		return cli_usage_error(cmd, "no arguments expected");
	return rc;
}

int cli_open_source(const char *root, const char *ref, unsigned allowed, struct store **s,
                    struct store_source *src)
{
	struct strata_error err;

	if (cli_open_store(root, false, s))
		return 1;
	if (store_source_open(*s, ref, allowed, cli_warn, src, &err)) {
		store_close(*s);
		return cli_fail(&err);
	}
	return 0;
}

void cli_close_source(struct store *s, struct store_source *src)
{
	store_source_close(src);
	store_close(s);
}

void cli_print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(v);
}

json_t *cli_container_json(const struct store_container *c)
{
	json_t *st = json_loads(c->state_json, 0, NULL);

	if (!json_is_object(st)) {
		json_decref(st);
		st = json_object();
	}
	json_object_set_new(st, "name", json_string(c->name));
	json_object_set_new(st, "status", json_string(c->running ? "running" : "exited"));
	/* As podman's inspect spells it. */
	json_object_set_new(st, "OOMKilled", json_boolean(c->oom_killed));
	return st;
}

int cli_bool_option(const char *cmd, const char *opt, const char *arg, bool *out)
{
	if (!arg || strcmp(arg, "true") == 0)
		*out = true;
	else if (strcmp(arg, "false") == 0)
		*out = false;
	else
		return cli_usage_error(cmd, "%s takes true or false, not '%s'", opt, arg);
	return 0;
}

int cli_detach_keys_option(const char *cmd, const char *arg, struct detach_keys *k)
{
	if (detach_keys_parse(arg, k) < 0)
		return cli_usage_error(
		    cmd,
		    "--detach-keys %s: expected comma-separated ctrl-X (X in a-z "
		    "@ [ \\ ] ^ _) or single characters, as ctrl-p,ctrl-q",
		    arg);
	return 0;
}
