/* SPDX-License-Identifier: MIT */
/* Id maps read backwards (idmap.h). */
#include <stdio.h>
#include <string.h>

#include "idmap.h"

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
