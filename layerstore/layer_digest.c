/* SPDX-License-Identifier: MIT */
/* The diff-id of a compressed layer: SHA-256 of what it decompresses to. */
#include <errno.h>
#include <unistd.h>

#include "archive_dl.h"
#include "sha256.h"
#include "store.h"

int store_layer_diff_id(int fd, char out[STORE_DIGEST_MAX], struct strata_error *err)
{
	struct archive *a;
	struct sha256 *sha = NULL;
	struct archive_entry *ae;
	unsigned char md[32];
	const void *buf;
	size_t size;
	la_int64_t off;
	int r, rc = -1;

	if (dl_archive_load(err) || !(sha = sha256_new(err)))
		return -1;
	if (!(a = sym_archive_read_new())) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_raw(a);
	if (lseek(fd, 0, SEEK_SET) < 0 || sym_archive_read_open_fd(a, fd, 1 << 17) != ARCHIVE_OK ||
	    sym_archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s",
		            sym_archive_error_string(a) ?: "unreadable");
		goto out;
	}
	while ((r = sym_archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
		if (sha256_update(sha, buf, size) < 0)
			break;
	if (r != ARCHIVE_EOF) {
		strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s",
		            sym_archive_error_string(a) ?: "damaged");
		goto out;
	}
	if (sha256_final(sha, md) == 0) {
		store_digest_format(md, out);
		rc = 0;
	}
out:
	sha256_free(sha);
	if (a)
		sym_archive_read_free(a);
	return rc;
}
