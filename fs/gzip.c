/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gzip.h"

int gz_reader_init(struct gz_reader *g, int fd)
{
	memset(&g->zs, 0, sizeof(g->zs));
	g->fd = fd;
	g->in_member = false;
	g->saw_padding = false;
	g->eof = false;
	g->why[0] = '\0';
	/* 16 + 15: gzip wrapper only, the largest window. */
	if (inflateInit2(&g->zs, 16 + 15) != Z_OK) {
		snprintf(g->why, sizeof(g->why), "out of memory");
		return -1;
	}
	return 0;
}

void gz_reader_end(struct gz_reader *g)
{
	inflateEnd(&g->zs);
}

static int fail(struct gz_reader *g, const char *why)
{
	snprintf(g->why, sizeof(g->why), "%s", why);
	return -1;
}

static int fill(struct gz_reader *g)
{
	ssize_t n;

	do
		n = read(g->fd, g->in, sizeof(g->in));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(g, strerror(errno));
	g->zs.next_in = g->in;
	g->zs.avail_in = (uInt)n;
	return 0;
}

/*
 * Between members: more members may follow (concatenated gzip is valid),
 * and so may zero padding, as tape-blocked archives have.  Anything else is
 * damage: a member whose magic was hit must not read as the end.
 */
static int start_member(struct gz_reader *g)
{
	while (g->zs.avail_in > 0 && g->zs.next_in[0] == 0) {
		g->zs.next_in++;
		g->zs.avail_in--;
		g->saw_padding = true;
	}
	if (g->zs.avail_in == 0)
		return 0;
	if (g->saw_padding)
		return fail(g, "gzip: data after the trailing padding");
	if (inflateReset(&g->zs) != Z_OK)
		return fail(g, "gzip: cannot restart");
	g->in_member = true;
	return 0;
}

int gz_reader_next(struct gz_reader *g, const void **buf, size_t *size)
{
	g->zs.next_out = g->out;
	g->zs.avail_out = sizeof(g->out);
	while (g->zs.avail_out == sizeof(g->out) && !g->eof) {
		int r;

		if (g->zs.avail_in == 0) {
			if (fill(g))
				return -1;
			if (g->zs.avail_in == 0) {
				if (g->in_member)
					return fail(g, "gzip: truncated (unexpected end of file)");
				g->eof = true;
				break;
			}
		}
		if (!g->in_member) {
			if (start_member(g))
				return -1;
			if (!g->in_member)
				continue;
		}
		r = inflate(&g->zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			g->in_member = false; /* CRC-32 and length checked by zlib */
		} else if (r == Z_BUF_ERROR && g->zs.avail_in == 0) {
			continue;
		} else if (r != Z_OK) {
			char why[sizeof(g->why)];

			snprintf(why, sizeof(why), "gzip: %s",
			         g->zs.msg ? g->zs.msg : "corrupt data");
			return fail(g, why);
		}
	}
	*buf = g->out;
	*size = sizeof(g->out) - g->zs.avail_out;
	return 0;
}
