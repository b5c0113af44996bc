/* SPDX-License-Identifier: MIT */
/*
 * Streaming gzip decoding with zlib, checking every member's CRC-32 and
 * length (libarchive 3.6 checks neither).  Private to libstrata-fs; the
 * future random-access checkpoints build on the same zlib stream.
 */
#ifndef STRATA_GZIP_H
#define STRATA_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <zlib.h>

#include "strata-error.h"

struct gz_reader {
	z_stream zs;
	int fd;
	/* When set, bytes come from here instead of @fd (a stream). */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *read_ctx;
	bool in_member;   /* between a member's header and its trailer */
	bool saw_padding; /* zero bytes after a member: only more zeros may follow */
	bool eof;
	unsigned char in[128 * 1024];
	unsigned char out[256 * 1024];
};

/* Reads from @fd's current offset.  0, or -1 with @err filled. */
int fs_gz_reader_init(struct gz_reader *g, int fd, struct strata_error *err);
void fs_gz_reader_end(struct gz_reader *g);
/* The next decompressed bytes: *size 0 at the end.  0, or -1 with @err
 * filled (STRATA_ERR_CORRUPT for damage, STRATA_ERR_SYS for a read). */
int fs_gz_reader_next(struct gz_reader *g, const void **buf, size_t *size,
                      struct strata_error *err);

#endif
