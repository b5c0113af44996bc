/* SPDX-License-Identifier: MIT */
/*
 * Decompression ahead of the tar reader, in a thread of its own
 * (index_pipe.c).  Private to libstrata-fs.
 *
 * Indexing a compressed layer is two jobs in a row per buffer: inflate
 * (with checkpoints, CRCs, the copy and the diff-id) and parse the tar
 * into the builder's tree.  Run one after the other they add up (a layer
 * of a million small files: 5.0 s of inflate and 3.3 s of the rest); in
 * two threads the slower one sets the pace.
 */
#ifndef STRATA_INDEX_PIPE_H
#define STRATA_INDEX_PIPE_H

#include <stddef.h>

/* The next bytes of the stream into *@buf and *@size (valid until the next
 * call; *@size 0 at the end): 0, or an errno with a message in @msg. */
typedef int (*ix_produce_fn)(void *ctx, const void **buf, size_t *size, char *msg, size_t msg_size);

struct ix_pipe;

/* Starts a thread calling @produce until the end or an error, a few
 * buffers ahead of the reader.  NULL when out of memory or threads: the
 * caller then calls @produce itself. */
struct ix_pipe *fs_ix_pipe_start(ix_produce_fn produce, void *ctx);
/* As @produce would answer, in order; the bytes stay valid until the
 * next call. */
int fs_ix_pipe_next(struct ix_pipe *p, const void **buf, size_t *size, char *msg, size_t msg_size);
/* Stops the thread (after the buffer it is making), waits for it, frees:
 * after this, what @produce changed in its context is seen. */
void fs_ix_pipe_end(struct ix_pipe *p);

#endif
