/* SPDX-License-Identifier: MIT */
/* Id maps read backwards (idmap.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "idmap.h"
#include "layer.h"

void fs_idmap_parse(const char *text, struct fs_idmap *m)
{
	m->n = 0;
	while (text && *text && m->n < FS_IDMAP_MAX) {
		unsigned long in, out, count;

		if (sscanf(text, "%lu %lu %lu", &in, &out, &count) == 3) {
			m->r[m->n].inside = (uint32_t)in;
			m->r[m->n].outside = (uint32_t)out;
			m->r[m->n++].count = (uint32_t)count;
		}
		text = strchr(text, '\n');
		text = text ? text + 1 : NULL;
	}
}

uint32_t fs_idmap_inside(const struct fs_idmap *m, uint32_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (id >= m->r[i].outside && id - m->r[i].outside < m->r[i].count)
			return m->r[i].inside + (id - m->r[i].outside);
	return id;
}

void strata_layer_set_idmap(struct strata_layer *l, const char *uid_map, const char *gid_map)
{
	fs_idmap_parse(uid_map, &l->uids);
	fs_idmap_parse(gid_map, &l->gids);
}

void fs_idmap_stat(const struct strata_layer *l, struct stat *st)
{
	st->st_uid = fs_idmap_inside(&l->uids, st->st_uid);
	st->st_gid = fs_idmap_inside(&l->gids, st->st_gid);
}
