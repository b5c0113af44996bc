/* SPDX-License-Identifier: MIT */
/*
 * Export: an image as an oci-archive (an OCI layout in a tar, blobs byte for
 * byte, so digests survive the round trip) or a docker-archive (manifest.json,
 * "<config hex>.json" and uncompressed "<diff-id hex>/layer.tar" files, the
 * form every docker, podman and skopeo loads).  Archives are deterministic:
 * fixed order, owner root, mtime 0.  A file is written beside its final name
 * and renamed into place only when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "archive_dl.h"
#include "lazy_blob.h"
#include "store.h"
#include "sys.h"

struct writer {
	struct archive *a;
	struct strata_error *err;
	const char *what;
};

static int wfail(struct writer *w)
{
	int en = sym_archive_errno(w->a);

	return strata_fail(w->err, STRATA_ERR_SYS, en > 0 ? en : EIO, "%s: %s", w->what,
	                   sym_archive_error_string(w->a) ?: strerror(en > 0 ? en : EIO));
}

static int add_header(struct writer *w, const char *name, mode_t type, uint64_t size)
{
	struct archive_entry *e = sym_archive_entry_new();
	int r;

	if (!e)
		return strata_fail(w->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	sym_archive_entry_set_pathname(e, name);
	sym_archive_entry_set_filetype(e, type);
	sym_archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	sym_archive_entry_set_size(e, type == AE_IFDIR ? 0 : (la_int64_t)size);
	sym_archive_entry_set_mtime(e, 0, 0);
	r = sym_archive_write_header(w->a, e);
	sym_archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : wfail(w);
}

static int add_dir(struct writer *w, const char *name)
{
	return add_header(w, name, AE_IFDIR, 0);
}

static int add_bytes(struct writer *w, const char *name, const void *buf, size_t len)
{
	if (add_header(w, name, AE_IFREG, len))
		return -1;
	if (len && sym_archive_write_data(w->a, buf, len) != (la_ssize_t)len)
		return wfail(w);
	return 0;
}

static int add_fd(struct writer *w, const char *name, int fd, uint64_t size)
{
	/* From the heap, not thread-local: see store_digest_fd(). */
	const size_t buf_size = 1 << 17;
	char *buf;
	uint64_t done = 0;
	int rc = 0;

	if (add_header(w, name, AE_IFREG, size))
		return -1;
	if (!(buf = malloc(buf_size)))
		return strata_fail(w->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	while (!rc && done < size) {
		size_t want = size - done < buf_size ? (size_t)(size - done) : buf_size;
		ssize_t n = sys_pread_full(fd, buf, want, (off_t)done);

		if (n <= 0)
			rc = strata_fail(w->err, STRATA_ERR_SYS, n < 0 ? errno : EIO,
			                 "%s: reading %s: %s", w->what, name,
			                 n < 0 ? strerror(errno) : "file shrank");
		else if (sym_archive_write_data(w->a, buf, (size_t)n) != n)
			rc = wfail(w);
		else
			done += (uint64_t)n;
	}
	free(buf);
	return rc;
}

static int add_blob(struct store *s, struct writer *w, const char *name, const char *digest)
{
	uint64_t size;
	int fd = store_blob_open(s, digest, &size, w->err), rc;

	if (fd < 0)
		return -1;
	rc = add_fd(w, name, fd, size);
	close(fd);
	return rc;
}

static int write_oci(struct store *s, struct writer *w, const struct store_image *img,
                     const char *name)
{
	json_t *index = json_pack("{s:i, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "manifests",
	                          "mediaType", img->manifest_media_type, "digest", img->digest,
	                          "size", (json_int_t)img->manifest_size);
	char path[96], *text;
	size_t len;
	int rc;

	if (index && name)
		json_object_set_new(json_array_get(json_object_get(index, "manifests"), 0),
		                    "annotations", json_pack("{s:s}", ANNOTATION_REF_NAME, name));
	text = index ? json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(index);
	if (!text)
		return strata_fail(w->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	len = strlen(text);
	rc = add_bytes(w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}",
	               strlen("{\"imageLayoutVersion\":\"1.0.0\"}")) ||
	     add_bytes(w, "index.json", text, len) || add_dir(w, "blobs/") ||
	     add_dir(w, "blobs/sha256/");
	free(text);
	if (rc)
		return -1;
	snprintf(path, sizeof(path), "blobs/sha256/%s", digest_hex(img->digest));
	if (add_blob(s, w, path, img->digest))
		return -1;
	snprintf(path, sizeof(path), "blobs/sha256/%s", digest_hex(img->config_digest));
	if (add_blob(s, w, path, img->config_digest))
		return -1;
	for (size_t i = 0; i < img->n_layers; i++) {
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			dup |= strcmp(img->layers[k].digest, img->layers[i].digest) == 0;
		snprintf(path, sizeof(path), "blobs/sha256/%s", digest_hex(img->layers[i].digest));
		if (!dup && add_blob(s, w, path, img->layers[i].digest))
			return -1;
	}
	return 0;
}

/* Another compression read in place (zstd of several frames, xz of several
 * blocks): libarchive's raw reader decompresses @in into @out (libzstd and
 * liblzma check what the formats carry).  0, 1 for damage, or -1. */
static int copy_raw(int in, int out, uint64_t *size)
{
	struct archive *a = sym_archive_read_new();
	struct archive_entry *e;
	const void *buf;
	size_t n;
	la_int64_t off;
	int r = ARCHIVE_FATAL;

	if (a && sym_archive_read_support_filter_all(a) == ARCHIVE_OK &&
	    sym_archive_read_support_format_raw(a) == ARCHIVE_OK &&
	    sym_archive_read_open_fd(a, in, 128 * 1024) == ARCHIVE_OK &&
	    sym_archive_read_next_header(a, &e) == ARCHIVE_OK)
		while ((r = sym_archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK &&
		       sys_write_all(out, buf, n) == 0)
			*size += n;
	if (a)
		sym_archive_read_free(a);
	return r == ARCHIVE_EOF ? 0 : r == ARCHIVE_OK ? -1 : 1;
}

/* zlib's gzread of @in into @out (it checks every member's CRC).  0, 1
 * for damage, or -1; @in is closed. */
static int copy_gzip(int in, int out, uint64_t *size)
{
	const size_t buf_size = 128 * 1024;
	char *buf = malloc(buf_size);
	gzFile gz = buf ? gzdopen(in, "rb") : NULL;
	int n = 0;

	if (!gz) {
		free(buf);
		close(in);
		errno = ENOMEM;
		return -1;
	}
	while ((n = gzread(gz, buf, buf_size)) > 0 && sys_write_all(out, buf, (size_t)n) == 0)
		*size += (uint64_t)n;
	free(buf);
	gzclose(gz);
	return n < 0 ? 1 : n == 0 ? 0 : -1;
}

/* A layer read in place has no decompressed copy: its tar is decompressed
 * now into an unnamed file in the cache.  The fd, or -1 with @err filled. */
static int decompress_blob(struct store *s, const struct store_layer *l, uint64_t *size,
                           struct strata_error *err)
{
	char source[STORE_DIGEST_MAX], path[PATH_MAX];
	unsigned char magic[2] = {0};
	int in, out = -1, rc = -1;

	store_layer_source(s, l, source);
	store_blob_path(s, source, path, sizeof(path));
	*size = 0;
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in >= 0)
		out = open(s->layer_cache, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out >= 0 && pread(in, magic, 2, 0) >= 0) {
		rc = magic[0] == 0x1f && magic[1] == 0x8b ? copy_gzip(in, out, size)
		                                          : copy_raw(in, out, size);
		if (magic[0] == 0x1f && magic[1] == 0x8b)
			in = -1; /* closed by gzclose */
	}
	if (in >= 0)
		close(in);
	if (rc == 0 && lseek(out, 0, SEEK_SET) == 0)
		return out;
	strata_fail(err, rc > 0 ? STRATA_ERR_CORRUPT : STRATA_ERR_SYS, rc > 0 ? EIO : errno,
	            "layer %s: %s: %s", l->digest, path,
	            rc > 0 ? "corrupt compressed data" : strerror(errno));
	if (out >= 0)
		close(out);
	return -1;
}

/* The uncompressed tar of a layer: the blob itself, or the decompressed
 * copy its index uses (made now if missing), or for a layer read in place
 * (gzip, zstd of several frames, xz of several blocks) the blob
 * decompressed now. */
static int open_uncompressed(struct store *s, const struct store_image *img, size_t i,
                             uint64_t *size, struct strata_error *err)
{
	const struct store_layer *l = &img->layers[i];
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (store_blob_exists(s, l->diff_id))
		return store_blob_open(s, l->diff_id, size, err);
	{
		char key[LAYER_KEY_MAX];

		store_layer_cache_key(l->diff_id, l->digest, key);
		snprintf(path, sizeof(path), "%s/%s.tar", s->layer_cache, key);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return decompress_blob(s, l, size, err);
	if (fd < 0 || fstat(fd, &st) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "layer %s: %s: %s", l->digest, path,
		            strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int write_docker(struct store *s, struct writer *w, const struct store_image *img,
                        const char *name)
{
	json_t *layers = json_array(), *manifest;
	char path[128], *text = NULL;
	size_t len;
	int rc = -1;

	for (size_t i = 0; layers && i < img->n_layers; i++) {
		snprintf(path, sizeof(path), "%s/layer.tar", digest_hex(img->layers[i].diff_id));
		json_array_append_new(layers, json_string(path));
	}
	snprintf(path, sizeof(path), "%s.json", digest_hex(img->config_digest));
	manifest = json_pack("[{s:s, s:o, s:o}]", "Config", path, "RepoTags",
	                     name ? json_pack("[s]", name) : json_array(), "Layers", layers);
	if (manifest)
		text = json_dumps(manifest, JSON_COMPACT);
	json_decref(manifest);
	if (!text)
		return strata_fail(w->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	len = strlen(text);
	if (add_bytes(w, path, img->config_json, img->config_size))
		goto out;
	for (size_t i = 0; i < img->n_layers; i++) {
		uint64_t size;
		bool dup = false;
		int fd;

		for (size_t k = 0; k < i; k++)
			dup |= strcmp(img->layers[k].diff_id, img->layers[i].diff_id) == 0;
		if (dup)
			continue;
		snprintf(path, sizeof(path), "%s/", digest_hex(img->layers[i].diff_id));
		if (add_dir(w, path))
			goto out;
		fd = open_uncompressed(s, img, i, &size, w->err);
		if (fd < 0)
			goto out;
		snprintf(path, sizeof(path), "%s/layer.tar", digest_hex(img->layers[i].diff_id));
		rc = add_fd(w, path, fd, size);
		close(fd);
		if (rc)
			goto out;
		rc = -1;
	}
	rc = add_bytes(w, "manifest.json", text, len);
out:
	free(text);
	return rc;
}

/* The tag @ref names, as stored, when @ref is a tag of @img. */
static char *tag_of(struct store *s, const char *ref, const struct store_image *img)
{
	char *want = store_ref_normalize(ref), *out = NULL;
	struct store_entry *v;
	struct strata_error ignored;
	size_t n;

	if (!want || store_list(s, &v, &n, &ignored)) {
		free(want);
		return NULL;
	}
	for (size_t i = 0; i < n && !out; i++) {
		char *have = v[i].name ? store_ref_normalize(v[i].name) : NULL;

		if (have && strcmp(v[i].digest, img->digest) == 0 && strcmp(have, want) == 0)
			out = have;
		else
			free(have);
	}
	store_entries_free(v, n);
	free(want);
	return out;
}

/* Decompressed copies exist once every layer has been indexed. */
static int ensure_copies(struct store *s, const struct store_image *img, struct strata_error *err)
{
	struct strata_layer_options lo = {0};
	struct strata_layer **layers;

	if (store_open_layers(s, img, &lo, &layers, err))
		return -1;
	for (size_t i = 0; i < img->n_layers; i++)
		strata_layer_close(layers[i]);
	free(layers);
	return 0;
}

int store_export(struct store *s, const char *ref, enum store_export_format fmt, const char *path,
                 struct strata_error *err)
{
	struct writer w = {.err = err, .what = path};
	struct store_image *img;
	char *tmp = NULL, *name = NULL;
	int fd = -1, rc = -1;

	if (dl_archive_load(err) || store_resolve(s, ref, &img, err))
		return -1;
	name = tag_of(s, ref, img);
	if (store_lazy_complete_image(s, img, err) ||
	    (fmt == STORE_EXPORT_DOCKER && ensure_copies(s, img, err)))
		goto out;
	if (strcmp(path, "-") == 0) {
		fd = STDOUT_FILENO;
		w.what = "standard output";
	} else if ((fd = sys_tmpfile_beside(path, &tmp)) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	w.a = sym_archive_write_new();
	if (!w.a || sym_archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
	    sym_archive_write_open_fd(w.a, fd) != ARCHIVE_OK) {
		strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "%s: cannot start the archive", path);
		goto out;
	}
	rc = fmt == STORE_EXPORT_OCI ? write_oci(s, &w, img, name) : write_docker(s, &w, img, name);
	if (rc == 0 && sym_archive_write_close(w.a) != ARCHIVE_OK)
		rc = wfail(&w);
	if (rc == 0 && tmp && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
out:
	if (w.a)
		sym_archive_write_free(w.a);
	if (tmp) {
		close(fd);
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	free(name);
	store_image_free(img);
	return rc;
}
