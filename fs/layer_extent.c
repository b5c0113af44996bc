/* SPDX-License-Identifier: MIT */
/* Reading a layer extent, whichever of the three kinds it is (layer.h). */
#include <errno.h>
#include <string.h>

#include "layer.h"
#include "sys.h"

int fs_layer_extent_read(const struct layer_extent *x, void *buf)
{
	ssize_t n;

	if (x->fd == LAYER_FD_HOLE) {
		memset(buf, 0, x->len);
		return 0;
	}
	if (x->fd == LAYER_FD_READ)
		return x->from->ops->read(x->from, x->off, buf, x->len);
	n = sys_pread_full(x->fd, buf, x->len, (off_t)x->off);
	if (n < 0)
		return errno;
	return (uint64_t)n == x->len ? 0 : EIO; /* a layer that shrank under us */
}
