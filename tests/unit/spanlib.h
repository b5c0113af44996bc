/* SPDX-License-Identifier: MIT */
/*
 * The span cache over a layer read in place, from its index, counting what
 * its decoders do: how many started at a checkpoint and how many bytes they
 * decoded (tests of "each byte once", test_seek.c and test_frames.c).
 */
#ifndef STRATA_TEST_SPANLIB_H
#define STRATA_TEST_SPANLIB_H

#include <stdint.h>

#include "index.h"
#include "strata-fs.h"

struct tl_spans {
	int fd;
	struct ix_map m;
	unsigned starts;  /* decoders started at a checkpoint */
	uint64_t decoded; /* bytes decoded */
	struct strata_layer *layer;
};

/* Opens (indexing when needed) the layer @blob with its index in @cache. */
void tl_spans_open(struct tl_spans *k, const char *blob, const char *cache);
/* Stream bytes [off, off + len) through the cache, in reads of at most
 * @step bytes, checked against @plain (the tar). */
void tl_spans_read(struct tl_spans *k, const uint8_t *plain, uint64_t off, size_t len, size_t step);
void tl_spans_close(struct tl_spans *k);

/* The layer both suites read in place: ~7 MiB of tar, incompressible
 * pattern files and long compressible runs, so that spans come both short
 * in the file and long.  A new directory @*dir (named after @what) holds
 * it as "layer.tar", and its index cache; @*plain its bytes. */
struct tl_seek_tar {
	char *dir, *cache, *tar;
	uint8_t *plain;
	size_t plain_len;
};
void tl_seek_tar_make(struct tl_seek_tar *t, const char *what);

#endif
