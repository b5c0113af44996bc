/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gzip.h"

int fs_gz_reader_init(struct gz_reader *g, int fd, struct strata_error *err)
{
	memset(&g->zs, 0, sizeof(g->zs));
	g->fd = fd;
	g->read = NULL;
	g->in_member = false;
	g->saw_padding = false;
	g->eof = false;
	/* 16 + 15: gzip wrapper only, the largest window. */
	if (inflateInit2(&g->zs, 16 + 15) != Z_OK)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	return 0;
}

void fs_gz_reader_end(struct gz_reader *g)
{
	inflateEnd(&g->zs);
}

/* Damage: "gzip: <why>". */
static int corrupt(struct strata_error *err, const char *why)
{
	return strata_fail(err, STRATA_ERR_CORRUPT, 0, "gzip: %s", why);
}

static int fill(struct gz_reader *g, struct strata_error *err)
{
	ssize_t n;

	do
		n = g->read ? g->read(g->read_ctx, g->in, sizeof(g->in))
		            : read(g->fd, g->in, sizeof(g->in));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s", strerror(errno));
	g->zs.next_in = g->in;
	g->zs.avail_in = (uInt)n;
	return 0;
}

/*
 * Between members: more members may follow (concatenated gzip is valid),
 * and so may zero padding, as tape-blocked archives have.  Anything else is
 * damage: a member whose magic was hit must not read as the end.
 */
static int start_member(struct gz_reader *g, struct strata_error *err)
{
	while (g->zs.avail_in > 0 && g->zs.next_in[0] == 0) {
		g->zs.next_in++;
		g->zs.avail_in--;
		g->saw_padding = true;
	}
	if (g->zs.avail_in == 0)
		return 0;
	if (g->saw_padding)
		return corrupt(err, "data after the trailing padding");
	if (inflateReset(&g->zs) != Z_OK)
		return corrupt(err, "cannot restart");
	g->in_member = true;
	return 0;
}

int fs_gz_reader_next(struct gz_reader *g, const void **buf, size_t *size, struct strata_error *err)
{
	g->zs.next_out = g->out;
	g->zs.avail_out = sizeof(g->out);
	while (g->zs.avail_out == sizeof(g->out) && !g->eof) {
		int r;

		if (g->zs.avail_in == 0) {
			if (fill(g, err))
				return -1;
			if (g->zs.avail_in == 0) {
				if (g->in_member)
					return corrupt(err, "truncated (unexpected end of file)");
				g->eof = true;
				break;
			}
		}
		if (!g->in_member) {
			if (start_member(g, err))
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
			return corrupt(err, g->zs.msg ? g->zs.msg : "corrupt data");
		}
	}
	*buf = g->out;
	*size = sizeof(g->out) - g->zs.avail_out;
	return 0;
}
