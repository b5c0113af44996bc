/* SPDX-License-Identifier: MIT */
/*
 * The overlay option interface's mount: checks, lowers, call forms
 * (ovl_mount.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "cli.h"
#include "ovl_mount.h"
#include "strata-store.h"

/* @path is @dir or below it. */
static bool inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* @what=@path exists (a directory unless @file_ok) and is not the mount
 * point or under it; its real path in @real. */
static int check_one(const char *what, const char *path, bool file_ok, const char *mountpoint,
                     char real[PATH_MAX], struct stat *st, struct strata_error *err)
{
	if (!realpath(path, real) || stat(real, st) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s=%s: %s", what, path,
		                   strerror(errno));
	if (!S_ISDIR(st->st_mode) && !(file_ok && S_ISREG(st->st_mode)))
		return strata_fail(err, STRATA_ERR_SYS, ENOTDIR, "%s=%s: not a directory%s", what,
		                   path, file_ok ? " or a tar file" : "");
	if (inside(real, mountpoint))
		return strata_fail(err, STRATA_ERR_OPTION, 0,
		                   "%s=%s: inside the mount point %s (the mount would serve "
		                   "itself)",
		                   what, path, mountpoint);
	return 0;
}

/*
 * xattr_permissions=1 keeps every owner in a security.* xattr, which only
 * a privileged daemon may write: refused at mount, as fuse-overlayfs
 * does, rather than failing every create.  Asked without writing: a
 * replace of a missing xattr is refused (EPERM) before it is found
 * missing (ENODATA).
 */
static int check_security_xattr(const struct ovl_opts *o, struct strata_error *err)
{
	static const char name[] = "security.fuseoverlayfs.override_stat";

	if (o->xattr_permissions != 1 || getxattr(o->upperdir, name, NULL, 0) >= 0 ||
	    setxattr(o->upperdir, name, "", 0, XATTR_REPLACE) == 0 || errno == ENODATA)
		return 0;
	return strata_fail(err, STRATA_ERR_OPTION, 0, "xattr_permissions=1: upperdir=%s: %s%s",
	                   o->upperdir, strerror(errno),
	                   errno == EPERM ? " (security.* xattrs need privilege; "
	                                    "xattr_permissions=2 keeps them in user.*)"
	                                  : "");
}

int ovl_check_dirs(const struct ovl_opts *o, const char *mountpoint, struct strata_error *err)
{
	char up[PATH_MAX], work[PATH_MAX], low[PATH_MAX];
	struct stat ust, wst, lst;

	for (size_t i = 0; i < o->n_lowers; i++) {
		struct stat st;

		/* An image name is no path: ovl_open_lowers looks it up. */
		if (stat(o->lowers[i], &st) < 0 && errno == ENOENT && o->lowers[i][0] != '/' &&
		    o->lowers[i][0] != '.')
			continue;
		if (check_one("lowerdir", o->lowers[i], true, mountpoint, low, &lst, err))
			return -1;
	}
	if (!o->upperdir && !o->workdir)
		return 0;
	if (!o->upperdir || !o->workdir)
		return strata_fail(err, STRATA_ERR_OPTION, 0, "%s= needs %s= too",
		                   o->upperdir ? "upperdir" : "workdir",
		                   o->upperdir ? "workdir" : "upperdir");
	if (check_one("upperdir", o->upperdir, false, mountpoint, up, &ust, err) ||
	    check_one("workdir", o->workdir, false, mountpoint, work, &wst, err))
		return -1;
	/* overlayfs' rules, so that what works here works there too. */
	if (ust.st_dev != wst.st_dev)
		return strata_fail(err, STRATA_ERR_OPTION, 0,
		                   "workdir=%s: not on the file system of upperdir=%s (overlayfs "
		                   "needs both on one)",
		                   o->workdir, o->upperdir);
	if (inside(work, up) || inside(up, work))
		return strata_fail(err, STRATA_ERR_OPTION, 0,
		                   "workdir=%s and upperdir=%s: one is inside the other",
		                   o->workdir, o->upperdir);
	return check_security_xattr(o, err);
}

struct lowers {
	struct strata_layer **v;
	size_t n;
};

static int push(struct lowers *l, struct strata_layer *layer, struct strata_error *err)
{
	struct strata_layer **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v) {
		strata_layer_close(layer);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	v[l->n++] = layer;
	l->v = v;
	return 0;
}

/* An image of the store, its layers lowest first. */
static int push_image(struct lowers *l, const char *name, const char *root,
                      const struct strata_layer_options *lo, struct strata_error *err)
{
	char *dflt = root ? NULL : store_default_root();
	struct store_image *img = NULL;
	struct strata_layer **ls = NULL;
	struct store *s = NULL;
	int rc = -1;

	if ((!root && !dflt) || store_open(root ? root : dflt, false, &s, err) ||
	    store_resolve(s, name, &img, err)) {
		/* Whatever the store said, the user named a missing path or image. */
		strata_fail(err, STRATA_ERR_SYS, ENOENT,
		            "lowerdir=%s: not a directory, a tar file or an image of the store",
		            name);
		goto out;
	}
	store_trust_blobs(s);
	if (store_pin(s, img, err) == 0 && store_open_layers(s, img, lo, &ls, err) == 0) {
		rc = 0;
		for (size_t i = 0; i < img->n_layers; i++)
			if (rc || (rc = push(l, ls[i], err)))
				strata_layer_close(ls[i]);
	}
out:
	free(ls);
	free(dflt);
	store_image_free(img);
	if (s)
		store_close(s);
	return rc;
}

/* One lowerdir= entry: a directory, a tar file, or an image. */
static int push_lower(struct lowers *l, const char *path, const char *root,
                      const struct strata_layer_options *lo, bool *image, struct strata_error *err)
{
	struct strata_layer *layer;
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		/* Read lazily, as it is used. */
		return strata_layer_open_lower_dir(path, NULL, &layer, err) ? -1
		                                                            : push(l, layer, err);
	if (stat(path, &st) == 0)
		return strata_layer_open_tar(path, lo, &layer, err) ? -1 : push(l, layer, err);
	if (*image)
		return strata_fail(err, STRATA_ERR_OPTION, 0,
		                   "lowerdir=%s: one image of the store at most in a mount", path);
	*image = true;
	return push_image(l, path, root, lo, err);
}

int ovl_open_lowers(const struct ovl_opts *o, const struct strata_layer_options *lo,
                    const char *root, struct strata_layer ***out, size_t *n,
                    struct strata_error *err)
{
	struct lowers l = {0};
	bool image = false;

	/* lowerdir= lists the top first; a union is built lowest first. */
	for (size_t i = o->n_lowers; i-- > 0;) {
		if (push_lower(&l, o->lowers[i], root, lo, &image, err)) {
			while (l.n > 0)
				strata_layer_close(l.v[--l.n]);
			free(l.v);
			return -1;
		}
	}
	/* Every kind of lower alike: directories, tar files, images. */
	for (size_t i = 0; i < l.n; i++)
		strata_layer_set_idmap(l.v[i], o->uid_map, o->gid_map);
	*out = l.v;
	*n = l.n;
	return 0;
}
