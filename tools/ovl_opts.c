/* SPDX-License-Identifier: MIT */
/*
 * overlayfs' and fuse-overlayfs' -o options (ovl_opts.h).  Words are split
 * at commas a backslash does not escape, lowerdir= at such colons, and the
 * backslashes go after the split: "lowerdir=a\:b" is one directory "a:b".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovl_opts.h"

static int fail(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* The next word of @s (advanced past it and its separator), escapes kept,
 * or NULL at the end.  NULL with *@oom set when out of memory. */
static char *next_word(const char **s, char sep, bool *oom)
{
	const char *p = *s, *start = p;
	char *w;

	if (!*p)
		return NULL;
	while (*p && *p != sep)
		p += (p[0] == '\\' && p[1]) ? 2 : 1;
	if (!(w = strndup(start, (size_t)(p - start))))
		*oom = true;
	*s = *p ? p + 1 : p;
	return w;
}

static void unescape(char *w)
{
	char *o = w;

	for (; *w; w++) {
		if (*w == '\\' && w[1])
			w++;
		*o++ = *w;
	}
	*o = '\0';
}

/* Replaces *@dst with an unescaped copy of @value. */
static int set_path(char **dst, const char *value, const char *name, char *why, size_t size)
{
	char *v = strdup(value);

	if (!v)
		return fail(why, size, "out of memory");
	unescape(v);
	if (!*v) {
		free(v);
		return fail(why, size, "%s= names no directory", name);
	}
	free(*dst);
	*dst = v;
	return 0;
}

static void free_lowers(struct ovl_opts *o)
{
	for (size_t i = 0; i < o->n_lowers; i++)
		free(o->lowers[i]);
	free(o->lowers);
	o->lowers = NULL;
	o->n_lowers = 0;
}

static int set_lowers(struct ovl_opts *o, const char *value, char *why, size_t size)
{
	const char *p = value;
	bool oom = false;
	char *w;

	free_lowers(o);
	o->has_lowerdir = true;
	if (!*value)
		return fail(why, size, "lowerdir= names no directory");
	/* Each entry ends at a colon: "a::b" and a trailing ":" hold an empty one. */
	for (size_t n = 1;; n++) {
		char **v = realloc(o->lowers, n * sizeof(*v));

		if (!v)
			return fail(why, size, "out of memory");
		o->lowers = v;
		if (!(w = next_word(&p, ':', &oom)) && !oom)
			w = strdup("");
		if (!w)
			return fail(why, size, "out of memory");
		o->lowers[o->n_lowers++] = w;
		unescape(w);
		if (!*w)
			return fail(why, size,
			            "lowerdir=%s: entry %zu is empty (data-only lowers, '::', "
			            "are not supported)",
			            value, n);
		if (!*p && p[-1] != ':')
			return 0;
	}
}

/* "DISK:SHOWN:LEN[:DISK:SHOWN:LEN...]" → "SHOWN DISK LEN\n" lines. */
static int set_idmap(char **dst, const char *value, const char *name, char *why, size_t size)
{
	char *lines = NULL, *t;
	size_t len = 0;
	const char *p = value;

	while (*p) {
		unsigned long v[3];
		char *end;

		for (int i = 0; i < 3; i++) {
			errno = 0;
			v[i] = strtoul(p, &end, 10);
			if (end == p || errno || v[i] > UINT32_MAX || (*end && *end != ':') ||
			    (i < 2 && !*end)) {
				free(lines);
				return fail(
				    why, size,
				    "%s=%s: not DISK-ID:SHOWN-ID:COUNT triples separated by ':'",
				    name, value);
			}
			p = *end ? end + 1 : end;
		}
		t = realloc(lines, len + 40);
		if (!t) {
			free(lines);
			return fail(why, size, "out of memory");
		}
		lines = t;
		len += (size_t)sprintf(lines + len, "%lu %lu %lu\n", v[1], v[0], v[2]);
	}
	if (!lines)
		return fail(why, size, "%s= gives no mapping", name);
	free(*dst);
	*dst = lines;
	return 0;
}

static int set_id(int64_t *dst, const char *value, const char *name, char *why, size_t size)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (!*value || *end || errno || v >= UINT32_MAX || value[0] == '-')
		return fail(why, size, "%s=%s: not a user or group id", name, value);
	*dst = (int64_t)v;
	return 0;
}

/* Appends @w to the options libfuse sees. */
static int add_fuse(struct ovl_opts *o, const char *w, char *why, size_t size)
{
	size_t len = o->fuse ? strlen(o->fuse) : 0;
	char *n = realloc(o->fuse, len + strlen(w) + 2);

	if (!n)
		return fail(why, size, "out of memory");
	if (len)
		n[len++] = ',';
	strcpy(n + len, w);
	o->fuse = n;
	return 0;
}

static bool in_list(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(w, *list) == 0)
			return true;
	return false;
}

/* Mount flags and FUSE's own options: libfuse applies them. */
static const char *const fuse_words[] = {"rw",
                                         "ro",
                                         "dev",
                                         "nodev",
                                         "suid",
                                         "nosuid",
                                         "exec",
                                         "noexec",
                                         "sync",
                                         "async",
                                         "dirsync",
                                         "atime",
                                         "noatime",
                                         "diratime",
                                         "nodiratime",
                                         "relatime",
                                         "norelatime",
                                         "strictatime",
                                         "nostrictatime",
                                         "lazytime",
                                         "nolazytime",
                                         "allow_other",
                                         "allow_root",
                                         "default_permissions",
                                         "auto_unmount",
                                         "blkdev",
                                         NULL};
static const char *const fuse_prefixes[] = {"fsname=", "subtype=", "max_read=", "blksize=", NULL};
/* mount(8)'s and fstab's own words, and overlay options with nothing to do
 * in strata (docs/strata-overlay-options.7 says why for each). */
static const char *const ignored_words[] = {
    "defaults",     "auto",    "noauto",   "nofail",  "_netdev",   "user",
    "users",        "nouser",  "owner",    "group",   "userxattr", "acl",
    "static_nlink", "ino32_t", "fast_ino", "plugins", NULL};
static const char *const ignored_prefixes[] = {
    "comment=", "x-",       "redirect_dir=", "index=",   "xino=",      "nfs_export=",  "uuid=",
    "fsync=",   "timeout=", "threaded=",     "context=", "fscontext=", "rootcontext=", NULL};

static bool has_prefix(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strncmp(w, *list, strlen(*list)) == 0)
			return true;
	return false;
}

/* key=value options; 1 when @w is none of them. */
static int keyed(struct ovl_opts *o, const char *w, char *why, size_t size)
{
	const char *v = strchr(w, '=');
	size_t k = v ? (size_t)(v - w) : strlen(w);

	if (!v)
		return 1;
	v++;
#define KEY(s) (k == sizeof(s) - 1 && strncmp(w, s, k) == 0)
	if (KEY("lowerdir"))
		return set_lowers(o, v, why, size);
	if (KEY("upperdir"))
		return set_path(&o->upperdir, v, "upperdir", why, size);
	if (KEY("workdir"))
		return set_path(&o->workdir, v, "workdir", why, size);
	if (KEY("uidmapping"))
		return set_idmap(&o->uid_map, v, "uidmapping", why, size);
	if (KEY("gidmapping"))
		return set_idmap(&o->gid_map, v, "gidmapping", why, size);
	if (KEY("squash_to_uid"))
		return set_id(&o->squash_uid, v, "squash_to_uid", why, size);
	if (KEY("squash_to_gid"))
		return set_id(&o->squash_gid, v, "squash_to_gid", why, size);
	if (KEY("xattr_permissions")) {
		if (strlen(v) != 1 || v[0] < '0' || v[0] > '2')
			return fail(why, size, "xattr_permissions=%s: 0, 1 or 2", v);
		o->xattr_permissions = v[0] - '0';
		return 0;
	}
	if (KEY("upper_format")) {
		if (strcmp(v, "oci") && strcmp(v, "overlay"))
			return fail(why, size, "upper_format=%s: oci or overlay", v);
		o->upper_format = v[0] == 'o' && v[1] == 'c' ? OVL_UPPER_OCI : OVL_UPPER_OVERLAY;
		return 0;
	}
	if (KEY("metacopy")) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return fail(why, size, "metacopy=%s: on or off", v);
		o->metacopy = strcmp(v, "on") == 0;
		return 0;
	}
#undef KEY
	return 1;
}

static int parse_word(struct ovl_opts *o, char *w, char *why, size_t size)
{
	int rc;

	if (!*w)
		return 0; /* "a,,b", as mount(8) and overlayfs take it */
	if ((rc = keyed(o, w, why, size)) <= 0)
		return rc;
	/* libfuse splits its options at commas too, and takes the same
	 * escapes: words for it go as they came. */
	if (in_list(w, fuse_words) || has_prefix(w, fuse_prefixes)) {
		if (strcmp(w, "ro") == 0 || strcmp(w, "rw") == 0)
			o->ro = w[1] == 'o';
		return add_fuse(o, w, why, size);
	}
	unescape(w);
	if (strcmp(w, "volatile") == 0)
		o->is_volatile = true;
	else if (strcmp(w, "noacl") == 0)
		o->noacl = true;
	else if (strcmp(w, "squash_to_root") == 0)
		o->squash_to_root = true;
	else if (strcmp(w, "nonempty") == 0)
		o->nonempty = true;
	else if (strncmp(w, "span_cache=", 11) == 0) {
		free(o->span_cache);
		if (!(o->span_cache = strdup(w + 11)))
			return fail(why, size, "out of memory");
	} else if (!in_list(w, ignored_words) && !has_prefix(w, ignored_prefixes))
		return fail(why, size, "unknown mount option '%s'", w);
	return 0;
}

int ovl_opts_parse(struct ovl_opts *o, const char *text, char *why, size_t whysize)
{
	const char *p = text;
	bool oom = false;
	char *w;

	while ((w = next_word(&p, ',', &oom))) {
		int rc = parse_word(o, w, why, whysize);

		free(w);
		if (rc)
			return rc;
	}
	return oom ? fail(why, whysize, "out of memory") : 0;
}

void ovl_opts_init(struct ovl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->squash_uid = o->squash_gid = -1;
}

void ovl_opts_free(struct ovl_opts *o)
{
	free_lowers(o);
	free(o->upperdir);
	free(o->workdir);
	free(o->uid_map);
	free(o->gid_map);
	free(o->fuse);
	free(o->span_cache);
	ovl_opts_init(o);
}
