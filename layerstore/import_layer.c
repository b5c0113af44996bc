/* SPDX-License-Identifier: MIT */
/*
 * Importing a bare layer tarball as a one-layer image.  gzip and zstd
 * layers are stored as they are; other compressions (xz, bzip2, ...) have no
 * OCI media type, so they are stored decompressed.  The diff-id comes from
 * the same pass that indexes the layer.  The generated config takes its
 * time from the file's mtime, so importing the same file twice yields the
 * same image.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive_dl.h"
#include "import.h"
#include "sys.h"

static int copy_raw(struct importer *im, int fd, struct member *m)
{
	char buf[1 << 16];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_fail(im->err, STRATA_ERR_SYS, errno, "%s: %s", im->what,
			                   strerror(errno));
		if (store_blob_writer_write(&m->blob, buf, (size_t)n, im->err))
			return -1;
		store_import_progress(im, (uint64_t)n);
	}
	return 0;
}

/* A compression without an OCI media type: store the tar inside. */
static int copy_decompressed(struct importer *im, int fd, struct member *m)
{
	struct import_reader *c = malloc(sizeof(*c));
	struct archive *a = sym_archive_read_new();
	struct archive_entry *ae;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r, rc = -1;

	if (!a || !c) {
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	c->im = im;
	c->fd = fd;
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_raw(a);
	if (sym_archive_read_open(a, c, NULL, store_import_read, NULL) != ARCHIVE_OK ||
	    sym_archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		strata_fail(im->err, STRATA_ERR_FORMAT, 0, "%s: %s", im->what,
		            sym_archive_error_string(a) ?: "cannot read");
		goto out;
	}
	while ((r = sym_archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
		if (store_blob_writer_write(&m->blob, buf, size, im->err))
			goto out;
	if (r != ARCHIVE_EOF) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: %s", im->what,
		            sym_archive_error_string(a) ?: "damaged");
		goto out;
	}
	rc = 0;
out:
	sym_archive_read_free(a);
	free(c);
	return rc;
}

/* "app-1.2.tar.gz" → "app-1.2:latest"; NULL when nothing usable is left. */
static char *name_from_file(const char *path)
{
	static const char *const exts[] = {
	    ".tar.gz", ".tar.zst", ".tar.xz", ".tar.bz2", ".tar.lz4", ".tar.lzma", ".tgz", ".tzst",
	    ".txz",    ".tar",     ".gz",     ".zst",     ".xz",      ".bz2",      ".lz4", ".lzma"};
	char *copy = strdup(path), *base, *out = NULL;
	size_t n;

	if (!copy)
		return NULL;
	base = basename(copy);
	n = strlen(base);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t e = strlen(exts[i]);

		if (n > e && strcmp(base + n - e, exts[i]) == 0) {
			base[n - e] = '\0';
			break;
		}
	}
	for (char *p = base; *p; p++)
		*p = isalnum((unsigned char)*p) || strchr("._-", *p)
		         ? (char)tolower((unsigned char)*p)
		         : '-';
	if (isalnum((unsigned char)base[0]) && asprintf(&out, "%s:latest", base) < 0)
		out = NULL;
	free(copy);
	return out;
}

static json_t *make_config(struct importer *im, int fd, const char *diff_id)
{
	char created[32], by[512];
	struct stat st;
	struct tm tm;

	if (fstat(fd, &st) < 0)
		st.st_mtime = 0;
	gmtime_r(&st.st_mtime, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	{
		/* The file's name, not the path typed: the same file imported
		 * from anywhere is the same image. */
		char *copy = strdup(im->what);

		snprintf(by, sizeof(by), "strata import %s", copy ? basename(copy) : "layer");
		free(copy);
	}
	return json_pack("{s:s, s:s, s:s, s:{}, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "architecture",
	                 store_host_architecture(), "os", "linux", "created", created, "config",
	                 "rootfs", "type", "layers", "diff_ids", diff_id, "history", "created",
	                 created, "created_by", by);
}

/* Indexes the layer under a temporary cache key, learns its diff-id, then
 * gives the cache entries their real (diff-id) names. */
static int index_bare(struct importer *im, struct member *m, bool compressed,
                      char diff_id[STORE_DIGEST_MAX])
{
	struct strata_layer_info info;
	struct strata_layer *layer;
	char key[96], from[128], to[128], final[LAYER_KEY_MAX];
	bool keep_temp;
	int dirfd, rc = 0;

	snprintf(key, sizeof(key), "import-%ld-%.16s", (long)getpid(), digest_hex(m->blob.digest));
	if (store_import_open_layer(im, m, compressed ? key : digest_hex(m->blob.digest), &layer))
		return -1;
	strata_layer_info(layer, &info);
	snprintf(diff_id, STORE_DIGEST_MAX, "%s", compressed ? info.diff_id : m->blob.digest);
	strata_layer_close(layer);
	if (!compressed)
		return 0;
	if (!store_digest_valid(diff_id))
		return strata_fail(im->err, STRATA_ERR_INDEX, 0, "%s: no diff-id computed",
		                   im->what);
	/* When the store already serves this diff-id from another file (the
	 * uncompressed blob, or this blob stored before), keep that file's
	 * index; mounts rebuild it if it is missing. */
	keep_temp =
	    !store_blob_exists(im->store, diff_id) && !store_blob_stored(im->store, &m->blob);
	dirfd = open(im->store->layer_cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	store_layer_cache_key(diff_id, m->blob.digest, final);
	if (keep_temp)
		store_import_built_key(im, final, m->blob.digest);
	for (int i = 0; i < 2 && dirfd >= 0 && rc == 0; i++) {
		const char *ext = i ? ".tar" : ".idx";

		snprintf(from, sizeof(from), "%s%s", key, ext);
		snprintf(to, sizeof(to), "%s%s", final, ext);
		if (!keep_temp)
			unlinkat(dirfd, from, 0);
		else if (renameat(dirfd, from, dirfd, to) < 0 && !(i == 1 && errno == ENOENT))
			rc = strata_fail(im->err, STRATA_ERR_SYS, errno, "%s/%s: %s",
			                 im->store->layer_cache, to, strerror(errno));
	}
	if (dirfd < 0) {
		rc = strata_fail(im->err, STRATA_ERR_SYS, errno, "%s: %s", im->store->layer_cache,
		                 strerror(errno));
	} else {
		snprintf(from, sizeof(from), "%s.lock", key); /* the temp key's */
		unlinkat(dirfd, from, 0);
		close(dirfd);
	}
	return rc;
}

int store_import_bare_layer(struct importer *im, int fd)
{
	char diff_id[STORE_DIGEST_MAX], digest[STORE_DIGEST_MAX];
	const char *mt;
	json_t *config = NULL, *layers = NULL;
	struct member *m = store_member_add(im, STORE_BARE_LAYER_MEMBER);
	enum store_layer_magic magic = store_layer_magic(fd);
	bool compressed = magic == MAGIC_GZIP || magic == MAGIC_ZSTD;
	char *cfg_text = NULL, *name = NULL;
	size_t cfg_len;
	uint64_t size;
	int rc = -1;

	if (!m || store_blob_writer_start(im->store, &m->blob, im->err))
		return -1;
	m->captured = true; /* freed with the importer */
	if ((magic == MAGIC_OTHER ? copy_decompressed(im, fd, m) : copy_raw(im, fd, m)) ||
	    store_blob_writer_finish(&m->blob, im->err))
		return -1;
	if (index_bare(im, m, compressed, diff_id))
		return -1;
	mt = magic == MAGIC_GZIP   ? MT_OCI_LAYER_GZIP
	     : magic == MAGIC_ZSTD ? MT_OCI_LAYER_ZSTD
	                           : MT_OCI_LAYER;
	m->pending = true;
	config = make_config(im, fd, diff_id);
	layers = json_pack("[{s:s, s:s, s:I}]", "mediaType", mt, "digest", m->blob.digest, "size",
	                   (json_int_t)m->blob.size);
	if (!config || !layers || !(cfg_text = store_json_blob(config, &cfg_len))) {
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		goto out;
	}
	if (store_import_put(im, cfg_text, cfg_len, digest))
		goto out;
	if (store_import_make_manifest(im, digest, cfg_len, layers, digest, &size))
		goto out;
	name = name_from_file(im->what);
	rc = store_import_add_image(im, digest, size, name, MT_OCI_MANIFEST);
out:
	free(name);
	free(cfg_text);
	json_decref(layers);
	json_decref(config);
	return rc;
}
