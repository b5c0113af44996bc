/* SPDX-License-Identifier: MIT */
/* Growable arrays: see vec.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* Small arrays start here: fewer reallocs for the common short lists. */
#define VEC_MIN_CAP 16

int vec_reserve(void *array, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : VEC_MIN_CAP;
	void *old, *grown;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			goto nomem;
		ncap *= 2;
	}
	if (elem && ncap > SIZE_MAX / elem)
		goto nomem;
	/* The caller's pointer has its own type: read and write it as bytes,
	 * which any pointer to an object may be (C11 6.2.5p28, 6.5p7). */
	memcpy(&old, array, sizeof(old));
	grown = realloc(old, ncap * elem);
	if (!grown)
		goto nomem;
	memcpy(array, &grown, sizeof(grown));
	*cap = ncap;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}
