/* SPDX-License-Identifier: MIT */
/*
 * The files the launcher leaves in a container's directory, so that diff
 * and commit read its upper as the container saw it: uid_map and gid_map
 * (the user namespace it ran in; none for root, whose maps are the
 * identity) and mountpoints (what the init made in the upper to mount
 * over, left out of the changes).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "sys.h"

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return sys_write_file_volatile(path, text, strlen(text));
}

void store_container_save_id_maps(const char *dir, pid_t pid)
{
	static const char *const files[] = {"uid_map", "gid_map"};

	/* Root's maps are the identity, which is what no file means (and
	 * cheaper than reading them back and writing them at every start). */
	if (getuid() == 0) {
		for (int i = 0; i < 2; i++) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			(void)unlink(path);
		}
		return;
	}
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX], text[4096];
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, files[i]);
		f = fopen(path, "re");
		n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		if (f)
			fclose(f);
		text[n] = '\0';
		if (n)
			write_text(dir, files[i], text);
	}
}

void store_container_add_mount_points(const char *dir, const char *lines)
{
	char path[PATH_MAX], old[16384] = "", *copy = strdup(lines), *save = NULL;
	size_t len;
	FILE *f;

	if (!copy)
		return;
	snprintf(path, sizeof(path), "%s/mountpoints", dir);
	f = fopen(path, "re");
	len = f ? fread(old, 1, sizeof(old) - 1, f) : 0;
	if (f)
		fclose(f);
	old[len] = '\0';
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char needle[PATH_MAX + 2];

		/* Each once: a line of its own, the first or one after a newline. */
		snprintf(needle, sizeof(needle), "\n%s\n", line);
		if (strstr(old, needle) || strncmp(old, needle + 1, strlen(needle + 1)) == 0)
			continue;
		len = strlen(old);
		snprintf(old + len, sizeof(old) - len, "%s\n", line);
	}
	free(copy);
	if (*old)
		write_text(dir, "mountpoints", old);
}

static char *read_small(const char *dir, const char *name)
{
	char path[PATH_MAX + 32], *text = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (getdelim(&text, &cap, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* What the launcher recorded: the id maps and the mount points it made. */
void store_container_dir_options(const char *dir, struct strata_dir_options *o)
{
	char *mps = read_small(dir, "mountpoints");

	o->uid_map = read_small(dir, "uid_map");
	o->gid_map = read_small(dir, "gid_map");
	for (char *save = NULL, *line = mps ? strtok_r(mps, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char **v = realloc(o->hide, (o->n_hide + 1) * sizeof(*v));
		char *copy = strdup(line);

		if (!v || !copy) {
			free(copy);
			if (v)
				o->hide = v;
			break;
		}
		o->hide = v;
		o->hide[o->n_hide++] = copy;
	}
	free(mps);
}

void store_container_dir_options_free(struct strata_dir_options *o)
{
	free((char *)o->uid_map);
	free((char *)o->gid_map);
	for (size_t i = 0; i < o->n_hide; i++)
		free(o->hide[i]);
	free(o->hide);
}
