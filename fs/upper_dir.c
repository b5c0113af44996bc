/* SPDX-License-Identifier: MIT */
/*
 * Listing a directory that has an upper part: the upper's names, minus its
 * whiteouts and every reserved .wh..wh. name (the opaque marker, the work
 * directory of uppers older than 5deed37), merged with what the lower
 * layers still show.  A listing is a snapshot taken at opendir (and at
 * rewinddir), so offsets stay stable while the directory changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atime.h"
#include "sys.h"
#include "upper.h"
#include "vec.h"

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, const char *name, size_t len)
{
	if (VEC_RESERVE(ns->v, ns->cap, ns->n + 1) < 0)
		return ENOMEM;
	ns->v[ns->n] = strndup(name, len);
	if (!ns->v[ns->n])
		return ENOMEM;
	ns->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_sort(struct names *ns)
{
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_name);
}

/* Among the first @n names, which are sorted. */
static bool names_has(const struct names *ns, size_t n, const char *name)
{
	return n > 0 && bsearch(&name, ns->v, n, sizeof(*ns->v), cmp_name) != NULL;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

/* The upper directory's visible names, and the names its whiteouts hide;
 * @flags: O_NOATIME or 0. */
static int read_upper(int dirfd, int flags, struct names *shown, struct names *hidden)
{
	DIR *d = sys_opendir_flags(dirfd, flags);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno;
	/* A listing is whole or fails: readdir ends with NULL on an error
	 * too, which only errno tells from the end. */
	while (!rc && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if ((de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) &&
		    fs_upper_chr_whiteout_at(dirfd, n))
			rc = names_add(hidden, n, strlen(n));
		else if (!name_reserved(n))
			rc = names_add(shown, n, strlen(n));
		else if (strncmp(n, ".wh..wh.", 8) != 0)
			rc = names_add(hidden, n + 4, strlen(n + 4));
	}
	if (!rc && errno)
		rc = errno;
	closedir(d);
	return rc;
}

int fs_upper_dir_list(struct strata_union *u, struct inode *dir, bool reading,
                      struct upper_listing *out)
{
	struct names shown = {0}, hidden = {0};
	struct upper_ref ref;
	uint64_t n_lower = 0;
	size_t n_upper;
	int rc;

	rc = fs_upper_ref_get(u, dir, &ref);
	if (!rc)
		rc = read_upper(ref.fd, reading ? fs_atime_open_flag(u, ref.fd, true) : O_NOATIME,
		                &shown, &hidden);
	fs_upper_ref_put(&ref);
	if (!rc && dir->n_srcs > 0)
		rc = fs_union_dir_size(u, dir, &n_lower);
	if (rc)
		goto out;
	names_sort(&shown);
	names_sort(&hidden);
	n_upper = shown.n;
	for (uint64_t i = 0; !rc && i < n_lower; i++) {
		struct union_src s = fs_union_dir_entry(u, dir, i);
		const struct strata_layer *l = union_layer(u, &s);
		size_t len;
		const char *nm;
		char name[256];

		if (l->ops->flags(l, s.node) & LAYER_WHITEOUT)
			continue;
		nm = l->ops->name(l, s.node, &len);
		if (len >= sizeof(name))
			continue;
		memcpy(name, nm, len);
		name[len] = '\0';
		/* The upper names are sorted only up to n_upper: search there. */
		if (names_has(&shown, n_upper, name) || names_has(&hidden, hidden.n, name))
			continue;
		rc = names_add(&shown, name, len);
	}
	if (rc)
		goto out;
	names_sort(&shown);
	out->names = shown.v;
	out->n = shown.n;
	shown.v = NULL;
	shown.n = 0;
out:
	names_free(&shown);
	names_free(&hidden);
	return rc;
}

void fs_upper_listing_free(struct upper_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}
