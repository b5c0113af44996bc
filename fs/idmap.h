/* SPDX-License-Identifier: MIT */
/*
 * A user namespace's id map ("inside outside count" lines, as in
 * /proc/PID/uid_map), read backwards: an id on disk (outside) to the id
 * the container saw (inside).  Layers read from a directory that a
 * container with such a map wrote use it (layer_dir.c; and every lower
 * of a mount, uidmapping=/gidmapping=: strata_layer_set_idmap).
 */
#ifndef STRATA_IDMAP_H
#define STRATA_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#define FS_IDMAP_MAX 16

struct fs_idmap {
	struct {
		uint32_t inside, outside, count;
	} r[FS_IDMAP_MAX];
	size_t n;
};

/* @text's lines into @m (NULL text: an empty map, ids kept); lines that
 * do not parse, and those past FS_IDMAP_MAX, are left out. */
void fs_idmap_parse(const char *text, struct fs_idmap *m);
/* The inside id of @id on disk; @id itself where no range holds it. */
uint32_t fs_idmap_inside(const struct fs_idmap *m, uint32_t id);

struct stat;
struct strata_layer;
/* @st's owner and group as layer @l shows them (its maps, layer.h). */
void fs_idmap_stat(const struct strata_layer *l, struct stat *st);

#endif
