/* SPDX-License-Identifier: MIT */
/*
 * The files the launcher leaves in a container's directory, so that diff
 * and commit read its upper as the container saw it: uid_map and gid_map
 * (the user namespace it ran in; none for root, whose maps are the
 * identity) and mountpoints (what the init made in the upper to mount
 * over, left out of the changes).  And, while it runs, cgroups: the
 * groups of the container, for whoever finds it dead to remove.
 */
#include <errno.h>
#include <fcntl.h>
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

/* Written in place into a new file (the run's end, or the reaper,
 * removes it): not state.json, whose replacing rename ext4 makes flush
 * (1.8 ms and more per run, measured). */
void store_container_set_cgroups(const char *dir, char *const *cgroups)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	FILE *mem;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroups", dir);
	if (!cgroups || !cgroups[0] || !(mem = open_memstream(&text, &len))) {
		(void)unlink(path);
		return;
	}
	for (size_t i = 0; cgroups[i]; i++)
		fprintf(mem, "%s\n", cgroups[i]);
	if (fclose(mem) == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0) {
		(void)sys_write_all(fd, text, len);
		close(fd);
	}
	free(text);
}

char **store_container_cgroups(const char *dir)
{
	char path[PATH_MAX], line[PATH_MAX], **v = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroups", dir);
	if (!(f = fopen(path, "re")))
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char **nv = realloc(v, (n + 2) * sizeof(*v));

		line[strcspn(line, "\n")] = '\0';
		if (nv)
			v = nv;
		if (!nv || !(v[n] = strdup(line))) {
			/* Out of memory: none, rather than a part. */
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(v);
			v = NULL;
			break;
		}
		v[++n] = NULL;
	}
	fclose(f);
	return v;
}
