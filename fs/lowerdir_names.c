/* SPDX-License-Identifier: MIT */
/* Whiteout names and the order of a lower directory's listing (lowerdir.h). */
#include <stdlib.h>
#include <string.h>

#include "lowerdir.h"
#include "upper.h"

enum ld_name fs_ld_name_kind(const char *name, size_t len)
{
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return LD_NAME_SKIP;
	if (len < 4 || memcmp(name, ".wh.", 4) != 0)
		return LD_NAME_PLAIN;
	if (len == 12 && memcmp(name, ".wh..wh..opq", 12) == 0)
		return LD_NAME_OPAQUE;
	/* ".wh." alone hides no name; ".wh..wh.*" are aufs' own (.plnk...). */
	if (len == 4 || (len >= 8 && memcmp(name + 4, ".wh.", 4) == 0))
		return LD_NAME_SKIP;
	return LD_NAME_WHITEOUT;
}

int fs_ld_namecmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int by_name(const void *pa, const void *pb, void *arena)
{
	const struct ld_ent *a = pa, *b = pb;
	const char *s = arena;
	int c = fs_ld_namecmp(s + a->off, a->len, s + b->off, b->len);

	/* Of one name, the object first: it is the one kept. */
	return c ? c : (int)a->whiteout - (int)b->whiteout;
}

size_t fs_ld_sort(struct ld_ent *e, size_t n, const char *arena)
{
	size_t k = 0;

	if (n < 2)
		return n;
	qsort_r(e, n, sizeof(*e), by_name, (void *)arena);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && fs_ld_namecmp(arena + e[k - 1].off, e[k - 1].len, arena + e[i].off,
		                           e[i].len) == 0)
			continue;
		e[k++] = e[i];
	}
	return k;
}

bool fs_ld_opaque_value(const char *v, ssize_t len)
{
	return len == 1 && v[0] == 'y';
}

bool fs_ld_private_xattr(const char *name)
{
	/* What an upper hides (upper_whiteout.c, xattr.c), one list. */
	return fs_upper_is_overlay_xattr(name) || strncmp(name, "user.strata.", 12) == 0;
}
