/* SPDX-License-Identifier: MIT */
/*
 * Reading an image archive (docker-archive or oci-archive, compressed or
 * not) in one pass: every regular member is hashed into an unnamed temp
 * file as it streams by, so whichever of them the manifests later name is
 * already checked and only needs a link into the store.
 *
 * Whether a file is an image archive or a bare layer is decided from the
 * first member's name: image archives start with oci-layout, index.json,
 * manifest.json, repositories, blobs/, a <64 hex> directory or a <64 hex>.*
 * file; a root file system does not.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_dl.h"
#include "import.h"

/* Enough for any real image archive; a root file system has far more. */
#define MAX_MEMBERS 65536

static bool is_hex64(const char *s, size_t n)
{
	return n == 64 && strspn(s, "0123456789abcdef") >= 64;
}

static bool looks_like_image_archive(const char *name)
{
	static const char *const top[] = {"oci-layout", "index.json", "manifest.json",
	                                  "repositories", "blobs"};
	size_t first;

	while (strncmp(name, "./", 2) == 0)
		name += 2;
	first = strcspn(name, "/");
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (strlen(top[i]) == first && strncmp(name, top[i], first) == 0)
			return true;
	/* "<hex>/layer.tar", "<hex>.json", and skopeo's "<hex>.tar". */
	return first >= 64 && is_hex64(name, 64) && (first == 64 || name[64] == '.');
}

/* A member of a compressed archive is decompressed into the store: held to
 * the limit a compressed layer is (a 4 MB docker-archive.tar.gz can hold 4
 * GiB of zeros).  An uncompressed archive's members are as big as it is. */
static int over_limit(struct importer *im, struct archive *a, struct member *m, size_t more)
{
	uint64_t max = im->opts->max_layer_size;
	char limit[64];

	if (!max || sym_archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE ||
	    more <= max - m->blob.size)
		return 0;
	strata_size_text(max, limit, sizeof(limit));
	return strata_fail(im->err, STRATA_ERR_UNSUPPORTED, EFBIG,
	                   "%s: member '%s': decompresses to more than %s (the limit; raise it "
	                   "with --max-layer-size)",
	                   im->what, m->path, limit);
}

static int capture(struct importer *im, struct archive *a, struct member *m)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	if (store_blob_writer_start(im->store, &m->blob, im->err))
		return -1;
	while ((r = sym_archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
		if (over_limit(im, a, m, size)) {
			store_blob_writer_abort(&m->blob);
			return -1;
		}
		/* Sparse members would need holes filled; image archives have none. */
		if ((uint64_t)off != m->blob.size) {
			store_blob_writer_abort(&m->blob);
			return strata_fail(im->err, STRATA_ERR_UNSUPPORTED, 0,
			                   "%s: member '%s': sparse members are not supported",
			                   im->what, m->path);
		}
		if (store_blob_writer_write(&m->blob, buf, size, im->err)) {
			store_blob_writer_abort(&m->blob);
			return -1;
		}
	}
	if (r != ARCHIVE_EOF || store_blob_writer_finish(&m->blob, im->err)) {
		if (r != ARCHIVE_EOF)
			strata_fail(im->err, STRATA_ERR_CORRUPT, sym_archive_errno(a),
			            "%s: member '%s': %s", im->what, m->path,
			            sym_archive_error_string(a) ?: "truncated");
		store_blob_writer_abort(&m->blob);
		return -1;
	}
	m->captured = true;
	return 0;
}

/* A symlink or hard link inside the archive, to a member it also holds. */
static int add_link(struct importer *im, struct member *m, const char *target, bool hard)
{
	char *dir = strdup(m->path);

	if (!dir)
		return strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	/* Hard link targets are archive paths; symlinks are relative to the
	 * link's directory, and an absolute or climbing one must stay inside. */
	m->link = store_path_normalize(hard ? "" : dirname(dir), target);
	free(dir);
	if (!m->link)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, EPERM,
		                   "%s: member '%s': link to '%s' leaves the archive", im->what,
		                   m->path, target);
	return 0;
}

static int scan_member(struct importer *im, struct archive *a, struct archive_entry *ae)
{
	const char *name = sym_archive_entry_pathname(ae);
	const char *hard = sym_archive_entry_hardlink(ae);
	mode_t type = sym_archive_entry_filetype(ae);
	struct member *m;

	if (!name)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: a member without a name",
		                   im->what);
	if (type == AE_IFDIR) {
		char *norm = store_path_normalize("", name);

		free(norm);
		return norm ? 0
		            : strata_fail(im->err, STRATA_ERR_CORRUPT, EPERM,
		                          "%s: member '%s': a path that leaves the archive",
		                          im->what, name);
	}
	if (!hard && type != AE_IFREG && type != AE_IFLNK)
		return 0; /* devices and fifos mean nothing in an image archive */
	if (im->n_members >= MAX_MEMBERS)
		return strata_fail(im->err, STRATA_ERR_FORMAT, 0,
		                   "%s: more than %d members: not an image archive", im->what,
		                   MAX_MEMBERS);
	m = store_member_add(im, name);
	if (!m)
		return -1;
	if (hard)
		return add_link(im, m, hard, true);
	if (type == AE_IFLNK)
		return add_link(im, m, sym_archive_entry_symlink(ae) ?: "", false);
	return capture(im, a, m);
}

int store_archive_scan(struct importer *im, int fd)
{
	struct import_reader *src = malloc(sizeof(*src));
	struct archive *a = sym_archive_read_new();
	struct archive_entry *ae;
	bool first = true;
	int r, rc = -1;

	if (!src || !a) {
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	src->im = im;
	src->fd = fd;
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_tar(a);
	if (sym_archive_read_open(a, src, NULL, store_import_read, NULL) != ARCHIVE_OK) {
		strata_fail(im->err, STRATA_ERR_FORMAT, 0, "%s: %s", im->what,
		            sym_archive_error_string(a) ?: "cannot read");
		goto out;
	}
	while ((r = sym_archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = sym_archive_entry_pathname(ae) ?: "";

		/* "./", the root of a `tar -C dir -cf x.tar .`, says nothing yet. */
		if (first && strspn(name, "./") == strlen(name) && strstr(name, "..") == NULL)
			continue;
		if (first && !looks_like_image_archive(name)) {
			rc = 1;
			goto out;
		}
		first = false;
		if (scan_member(im, a, ae))
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		strata_fail(im->err, first ? STRATA_ERR_FORMAT : STRATA_ERR_CORRUPT, 0, "%s: %s",
		            im->what,
		            first ? "not a tar archive, an image archive or an OCI layout"
		                  : sym_archive_error_string(a) ?: "truncated or damaged");
		goto out;
	}
	/* An empty tar is a valid (empty) layer. */
	rc = first ? 1 : 0;
out:
	sym_archive_read_free(a);
	free(src);
	if (rc == 1 && lseek(fd, 0, SEEK_SET) < 0)
		rc = strata_fail(im->err, STRATA_ERR_SYS, errno, "%s: %s", im->what,
		                 strerror(errno));
	return rc;
}
