/* SPDX-License-Identifier: MIT */
/*
 * Growable arrays, written once: an array is a pointer, a count the caller
 * keeps and a capacity vec_reserve() keeps.  Growth doubles (amortized
 * O(1) appends), the multiplication is checked for overflow, and on
 * failure the array is left exactly as it was, so nothing already in it is
 * lost or leaked.
 *
 *	struct item *v = NULL;
 *	size_t n = 0, cap = 0;
 *
 *	if (VEC_RESERVE(v, cap, n + 1) < 0)
 *		return -1;          // errno ENOMEM; v still holds n items
 *	v[n++] = item;
 */
#ifndef STRATA_VEC_H
#define STRATA_VEC_H

#include <stddef.h>

/* Makes *@array (of @elem-byte elements, *@cap of them allocated) hold at
 * least @need.  0, or -1 with errno ENOMEM and *@array untouched.  @array
 * is the address of the caller's pointer, whatever its type. */
int vec_reserve(void *array, size_t *cap, size_t need, size_t elem);

#define VEC_RESERVE(v, cap, need) vec_reserve(&(v), &(cap), (need), sizeof(*(v)))

#endif
