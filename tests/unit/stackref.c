/* SPDX-License-Identifier: MIT */
/*
 * The reference a stack of layers is checked against: the tree GNU tar
 * makes when the layers are extracted one over the other, as an OCI
 * applier does (image-spec layer.md, "Applying Changesets").  For each
 * layer, its whiteouts act on what the layers below left first (a
 * whiteout removes its name, an opaque marker empties its directory); what
 * it replaces is removed as `tar --recursive-unlink` would (a file where a
 * directory was, a directory where a file or a symlink was, a symlink on
 * the way to one of its entries); then `tar -x` extracts the rest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stackgen.h"
#include "testlib.h"

extern char **environ;

static void rel(char *buf, size_t size, const char *root, const char *p)
{
	snprintf(buf, size, "%s%s%s", root, *p ? "/" : "", p);
}

/* A directory the layer implies: every missing or non-directory component
 * of @dir becomes a directory (mode 0755, as tar and the index default). */
static void ensure_dirs(const char *root, const char *dir)
{
	char p[2 * SG_PATH + 256], part[SG_PATH];
	struct stat st;
	size_t len = 0;

	while (dir[len]) {
		len += strcspn(dir + len, "/");
		snprintf(part, sizeof(part), "%.*s", (int)len, dir);
		rel(p, sizeof(p), root, part);
		if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode))
			unlink(p);
		if (mkdir(p, 0755) == 0)
			chmod(p, 0755);
		if (dir[len] == '/')
			len++;
	}
}

static void parent_of(const char *path, char *buf, size_t size)
{
	const char *s = strrchr(path, '/');

	snprintf(buf, size, "%.*s", s ? (int)(s - path) : 0, path);
}

static void remove_path(const char *root, const char *p)
{
	char full[2 * SG_PATH + 256];

	rel(full, sizeof(full), root, p);
	tl_rmrf(full);
}

static void empty_dir(const char *root, const char *dir)
{
	char full[2 * SG_PATH + 256], sub[2 * SG_PATH + 512];
	DIR *d;
	struct dirent *de;

	rel(full, sizeof(full), root, dir);
	d = opendir(full);
	ck_assert_ptr_nonnull(d);
	/* Removing while reading: each name is seen at most once, and a pass
	 * over a directory this small sees them all. */
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", full, de->d_name);
		tl_rmrf(sub);
	}
	closedir(d);
}

/* Whiteouts act on the layers below only: before this layer's entries,
 * opaque markers first (a whiteout's directory may be inside an opaque
 * one), and the directories the markers imply made last. */
static void apply_whiteouts(const struct sg_layer *l, const char *root)
{
	char dir[SG_PATH];

	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < l->n; i++) {
			const struct sg_entry *e = &l->e[i];

			if (e->type != (pass == 0 ? 'o' : 'w') && !(pass == 2 && e->type == 'o'))
				continue;
			parent_of(e->path, dir, sizeof(dir));
			ensure_dirs(root, dir);
			if (pass == 0)
				empty_dir(root, dir);
			else if (pass == 1)
				remove_path(root, e->hides);
		}
}

/* What tar --recursive-unlink would remove before extracting @e. */
static void make_room(const struct sg_entry *e, const char *root)
{
	char dir[SG_PATH], full[2 * SG_PATH + 256];
	struct stat st;

	parent_of(e->path, dir, sizeof(dir));
	ensure_dirs(root, dir);
	rel(full, sizeof(full), root, e->path);
	if (lstat(full, &st) == 0 && !(e->type == 'd' && S_ISDIR(st.st_mode)))
		tl_rmrf(full);
}

static void run_tar(const char *tar, const char *root)
{
	char *argv[] = {"tar", "-xf", (char *)tar, "-C", (char *)root, "--exclude=.wh.*", NULL};
	pid_t pid;
	int status;

	ck_assert_int_eq(posix_spawnp(&pid, "tar", NULL, NULL, argv, environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tar -x %s failed", tar);
}

void sg_apply_reference(const struct sg_stack *st, char *const *tars, const char *root)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct sg_layer *l = &st->l[i];

		apply_whiteouts(l, root);
		for (size_t k = 0; k < l->n; k++)
			if (l->e[k].type != 'w' && l->e[k].type != 'o')
				make_room(&l->e[k], root);
		run_tar(tars[i], root);
	}
}
