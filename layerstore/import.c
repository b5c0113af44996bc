/* SPDX-License-Identifier: MIT */
/*
 * Import: what the importers share, and store_import(), which tells a
 * docker-archive, an oci-archive, an OCI layout directory and a bare layer
 * apart by content and hands over to the matching importer.
 *
 * Nothing an import reads is trusted: every blob is hashed as it is copied
 * and compared with the digest that names it, every layer is indexed (one
 * decompression) and its diff-id compared with the config's, and only then
 * is it linked into the store.  index.json changes last, in one locked
 * update, so an import that fails or is killed leaves no tag behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "archive_dl.h"
#include "crypto_dl.h"
#include "import.h"
#include "sys.h"
#include "vec.h"

const char *store_host_architecture(void)
{
	static const char *const map[][2] = {
	    {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i686", "386"},
	    {"i386", "386"},        {"armv7l", "arm"},    {"armv6l", "arm"},
	    {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"},
	};
	static struct utsname u;

	if (uname(&u) == 0)
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(u.machine, map[i][0]) == 0)
				return map[i][1];
	return u.machine[0] ? u.machine : "unknown";
}

void store_import_progress(struct importer *im, uint64_t add)
{
	im->progress_done += add;
	if (im->opts->progress)
		im->opts->progress(im->opts->progress_ctx, im->progress_done, im->progress_total);
}

la_ssize_t store_import_read(struct archive *a, void *ctx, const void **buf)
{
	struct import_reader *r = ctx;
	ssize_t n;

	do
		n = read(r->fd, r->buf, sizeof(r->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		sym_archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	store_import_progress(r->im, (uint64_t)n);
	*buf = r->buf;
	return n;
}

char *store_path_normalize(const char *base_dir, const char *path)
{
	size_t cap = strlen(base_dir) + strlen(path) + 2, n = 0;
	char *joined = malloc(cap), *out = malloc(cap), *save = NULL, *part;

	if (!joined || !out) {
		free(joined);
		free(out);
		return NULL;
	}
	snprintf(joined, cap, "%s/%s", path[0] == '/' ? "" : base_dir, path);
	out[0] = '\0';
	for (part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			char *slash;

			if (n == 0)
				goto escape;
			slash = strrchr(out, '/');
			n = slash ? (size_t)(slash - out) : 0;
			out[n] = '\0';
			continue;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "/" : "", part);
	}
	free(joined);
	return out;
escape:
	free(joined);
	free(out);
	errno = EPERM;
	return NULL;
}

static struct member *member_find(struct importer *im, const char *path)
{
	for (size_t i = 0; i < im->n_members; i++)
		if (strcmp(im->members[i]->path, path) == 0)
			return im->members[i];
	return NULL;
}

struct member *store_member_add(struct importer *im, const char *path)
{
	struct member *m;
	char *norm;

	/* A name that climbs out of the archive is an attack or garbage; an
	 * absolute one is read relative to the archive, as tar does. */
	norm = store_path_normalize("", path);
	if (!norm) {
		if (errno == EPERM)
			strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
			            "%s: member '%s': a path that leaves the archive", im->what,
			            path);
		else
			strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	if ((m = member_find(im, norm))) {
		/* tar semantics: a later member replaces an earlier one. */
		if (m->captured)
			store_blob_writer_abort(&m->blob);
		free(m->link);
		m->link = NULL;
		m->captured = false;
		free(norm);
		return m;
	}
	if (VEC_RESERVE(im->members, im->cap_members, im->n_members + 1) < 0) {
		free(norm);
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		free(norm);
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	im->members[im->n_members++] = m;
	m->blob.fd = -1;
	m->path = norm;
	return m;
}

/* A layout directory: copy the file in through the hasher, once. */
static struct member *capture_from_dir(struct importer *im, const char *path)
{
	struct member *m = store_member_add(im, path);
	char buf[1 << 16];
	ssize_t n;
	int fd;

	if (!m)
		return NULL;
	/* openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: a symlinked blob, or
	 * one that points outside the layout, is refused, never followed. */
	fd = store_openat(im->dir_fd, m->path, O_RDONLY);
	if (fd < 0) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, errno, "%s: %s: %s", im->what, m->path,
		            errno == ELOOP || errno == EXDEV ? "a symlink (refused)"
		                                             : strerror(errno));
		return NULL;
	}
	if (store_blob_writer_start(im->store, &m->blob, im->err))
		goto fail;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strata_fail(im->err, STRATA_ERR_SYS, errno, "%s: %s: %s", im->what, m->path,
			            strerror(errno));
			goto fail;
		}
		if (store_blob_writer_write(&m->blob, buf, (size_t)n, im->err))
			goto fail;
		store_import_progress(im, (uint64_t)n);
	}
	if (store_blob_writer_finish(&m->blob, im->err))
		goto fail;
	close(fd);
	m->captured = true;
	return m;
fail:
	close(fd);
	store_blob_writer_abort(&m->blob);
	return NULL;
}

struct member *store_member_get(struct importer *im, const char *path)
{
	char *norm = store_path_normalize("", path);
	struct member *m;

	if (!norm) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, EPERM, "%s: '%s': leaves the archive",
		            im->what, path);
		return NULL;
	}
	for (int depth = 0; depth < 16; depth++) {
		m = member_find(im, norm);
		if (!m && im->dir_fd >= 0) {
			m = capture_from_dir(im, norm);
			free(norm);
			return m;
		}
		if (!m || (!m->captured && !m->link))
			break;
		if (!m->link) {
			free(norm);
			return m;
		}
		free(norm);
		norm = strdup(m->link);
		if (!norm)
			break;
	}
	strata_fail(im->err, STRATA_ERR_CORRUPT, ENOENT, "%s: '%s': not in the archive", im->what,
	            path);
	free(norm);
	return NULL;
}

char *store_member_read(struct importer *im, struct member *m, const char *what)
{
	char *buf;
	ssize_t n;

	if (m->blob.size > JSON_BLOB_MAX) {
		strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: %s: too big for JSON", im->what,
		            what);
		return NULL;
	}
	buf = malloc(m->blob.size + 1);
	if (!buf) {
		strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
		return NULL;
	}
	n = sys_pread_full(m->blob.fd, buf, m->blob.size, 0);
	if (n < 0 || (uint64_t)n != m->blob.size) {
		free(buf);
		strata_fail(im->err, STRATA_ERR_SYS, errno, "%s: %s: short read", im->what, what);
		return NULL;
	}
	buf[m->blob.size] = '\0';
	return buf;
}

json_t *store_member_json(struct importer *im, struct member *m, const char *what)
{
	char *buf = store_member_read(im, m, what);
	json_t *v;

	if (!buf)
		return NULL;
	v = store_json_parse(buf, m->blob.size, what, im->err);
	free(buf);
	return v;
}

static int check_blob(struct importer *im, struct member *m, const char *digest, uint64_t size)
{
	if (digest && strcmp(m->blob.digest, digest) != 0)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: blob %s: digest mismatch (content is %s)", im->what, digest,
		                   m->blob.digest);
	if (size != UINT64_MAX && m->blob.size != size)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: blob %s: size mismatch (%llu bytes, descriptor says %llu)",
		                   im->what, m->blob.digest, (unsigned long long)m->blob.size,
		                   (unsigned long long)size);
	return 0;
}

int store_import_json_blob(struct importer *im, struct member *m, const char *digest, uint64_t size)
{
	if (check_blob(im, m, digest, size))
		return -1;
	m->pending = true;
	return 0;
}

int store_import_put(struct importer *im, const void *buf, size_t len,
                     char digest[STORE_DIGEST_MAX])
{
	char name[32];
	struct member *m;

	snprintf(name, sizeof(name), "(made)/%u", im->n_made++);
	m = store_member_add(im, name);
	if (!m || store_blob_writer_start(im->store, &m->blob, im->err))
		return -1;
	m->captured = true;
	if (store_blob_writer_write(&m->blob, buf, len, im->err) ||
	    store_blob_writer_finish(&m->blob, im->err))
		return -1;
	m->pending = true;
	memcpy(digest, m->blob.digest, STORE_DIGEST_MAX);
	return 0;
}

void store_import_built_key(struct importer *im, const char *key, const char *blob)
{
	struct built_key *v;
	char name[PATH_MAX];
	struct stat st;

	/* Only what this import brings: an entry that was there stays. */
	snprintf(name, sizeof(name), "%s/%s.idx", im->store->layer_cache, key);
	if (stat(name, &st) == 0)
		return;
	v = realloc(im->keys, (im->n_keys + 1) * sizeof(*v));
	if (!v)
		return;
	im->keys = v;
	snprintf(v[im->n_keys].key, LAYER_KEY_MAX, "%s", key);
	snprintf(v[im->n_keys].blob, STORE_DIGEST_MAX, "%s", blob);
	im->n_keys++;
}

/* Everything checked: now the blobs get their names, then the tags. */
static int commit_members(struct importer *im)
{
	for (size_t i = 0; i < im->n_members; i++)
		if (im->members[i]->pending &&
		    store_blob_writer_commit(&im->members[i]->blob, im->err))
			return -1;
	return 0;
}

/* A failed import leaves no cache entry behind for a blob it never stored. */
static void drop_built_keys(struct importer *im)
{
	int dirfd = open(im->store->layer_cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; dirfd >= 0 && i < im->n_keys; i++) {
		char name[LAYER_KEY_MAX + 8];

		snprintf(name, sizeof(name), "%s.idx", im->keys[i].key);
		unlinkat(dirfd, name, 0);
		snprintf(name, sizeof(name), "%s.tar", im->keys[i].key);
		unlinkat(dirfd, name, 0);
		snprintf(name, sizeof(name), "%s.lock", im->keys[i].key);
		unlinkat(dirfd, name, 0);
	}
	if (dirfd >= 0)
		close(dirfd);
}

enum store_layer_magic store_layer_magic(int fd)
{
	unsigned char b[512] = {0};
	ssize_t n = sys_pread_full(fd, b, sizeof(b), 0);

	if (n >= 262 && memcmp(b + 257, "ustar", 5) == 0)
		return MAGIC_TAR;
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return MAGIC_GZIP;
	if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return MAGIC_ZSTD;
	if ((n >= 6 && memcmp(b,
	                      "\xfd"
	                      "7zXZ\0",
	                      6) == 0) ||
	    (n >= 3 && memcmp(b, "BZh", 3) == 0) ||
	    (n >= 4 && memcmp(b, "\x04\x22\x4d\x18", 4) == 0) ||
	    (n >= 3 && memcmp(b, "\x5d\0\0", 3) == 0))
		return MAGIC_OTHER;
	/* An empty file is an empty layer; a pre-POSIX tar has no magic
	 * either, but decompressing it as "raw" copies it unchanged. */
	return n == 0 ? MAGIC_TAR : MAGIC_OTHER;
}

static const char *sniff_media_type(int fd)
{
	switch (store_layer_magic(fd)) {
	case MAGIC_GZIP:
		return MT_OCI_LAYER_GZIP;
	case MAGIC_ZSTD:
		return MT_OCI_LAYER_ZSTD;
	default:
		return MT_OCI_LAYER;
	}
}

/* Indexes the layer while it is still an unnamed temp file: a layer whose
 * diff-id does not match never gets a name in the store.  The index names
 * the temp file's inode, which the link into blobs/ keeps.  A blob already
 * stored is indexed as stored, so its index stays valid. */
int store_import_open_layer(struct importer *im, struct member *m, const char *key,
                            struct strata_layer **out)
{
	struct strata_layer_options lo = {
	    .cache_dir = im->store->layer_cache,
	    .cache_key = key,
	    .want_diff_id = true,
	    .warn = im->opts->warn,
	    .warn_ctx = im->opts->warn_ctx,
	    .max_layer_size = im->opts->max_layer_size,
	};
	char proc[PATH_MAX], why[sizeof(im->err->msg)], name[PATH_MAX];
	const char *colon;
	int lock, rc;

	/* Its warnings name the layer as the user knows it, not the temp
	 * file's /proc/self/fd path. */
	if (strcmp(m->path, STORE_BARE_LAYER_MEMBER) == 0) /* the file is the layer */
		snprintf(name, sizeof(name), "%s", im->what);
	else
		snprintf(name, sizeof(name), "%s: %s", im->what, m->path);
	lo.name = name;

	if (!store_blob_stored(im->store, &m->blob) ||
	    store_blob_path(im->store, m->blob.digest, proc, sizeof(proc)))
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m->blob.fd);
	lock = store_layer_cache_lock(im->store, key);
	store_import_built_key(im, key, m->blob.digest);
	rc = strata_layer_open_tar(proc, &lo, out, im->err);
	if (lock >= 0)
		close(lock);
	if (rc == 0)
		return 0;
	/* "<name>: <why>": the name gives way to the layer's digest. */
	colon = strncmp(im->err->msg, name, strlen(name)) == 0 ? im->err->msg + strlen(name)
	                                                       : strstr(im->err->msg, ": ");
	snprintf(why, sizeof(why), "%s", colon && colon[0] == ':' ? colon + 2 : im->err->msg);
	return strata_fail(im->err, im->err->code, im->err->sys_errno, "%s: layer %s: %s", im->what,
	                   m->blob.digest, why);
}

static int index_layer(struct importer *im, struct member *m, const char *diff_id)
{
	struct strata_layer_info info;
	struct strata_layer *layer;
	char actual[STORE_DIGEST_MAX], key[LAYER_KEY_MAX];
	int rc = 0;

	/* The store has this layer uncompressed, and mounts use that one: only
	 * check that this blob decompresses to it. */
	if (strcmp(m->blob.digest, diff_id) != 0 && store_blob_exists(im->store, diff_id)) {
		if (store_layer_diff_id(m->blob.fd, actual, im->err))
			return strata_fail(im->err, STRATA_ERR_CORRUPT, 0, "%s: layer %s: %s",
			                   im->what, m->blob.digest, im->err->msg);
		if (strcmp(actual, diff_id) != 0)
			return strata_fail(
			    im->err, STRATA_ERR_CORRUPT, 0,
			    "%s: layer %s: uncompressed digest %s, config says diff-id %s",
			    im->what, m->blob.digest, actual, diff_id);
		return 0;
	}

	store_layer_cache_key(diff_id, m->blob.digest, key);
	if (store_import_open_layer(im, m, key, &layer))
		return -1;
	strata_layer_info(layer, &info);
	if (info.diff_id[0] && strcmp(info.diff_id, diff_id) != 0)
		rc = strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                 "%s: layer %s: uncompressed digest %s, config says diff-id %s",
		                 im->what, m->blob.digest, info.diff_id, diff_id);
	strata_layer_close(layer);
	return rc;
}

int store_import_layer_blob(struct importer *im, struct member *m, const char *digest,
                            uint64_t size, const char *diff_id, const char **media_type)
{
	if (check_blob(im, m, digest, size))
		return -1;
	if (!*media_type) {
		if (store_layer_magic(m->blob.fd) == MAGIC_OTHER)
			return strata_fail(
			    im->err, STRATA_ERR_UNSUPPORTED, 0,
			    "%s: layer %s: compressed in a format OCI images cannot carry "
			    "(only gzip and zstd)",
			    im->what, m->blob.digest);
		*media_type = sniff_media_type(m->blob.fd);
	}
	if (strcmp(*media_type, MT_OCI_LAYER) == 0 && strcmp(m->blob.digest, diff_id) != 0)
		return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
		                   "%s: layer %s: uncompressed, so its diff-id must be its digest, "
		                   "but the config says %s",
		                   im->what, m->blob.digest, diff_id);
	if (index_layer(im, m, diff_id))
		return -1;
	m->pending = true;
	return 0;
}

int store_import_make_manifest(struct importer *im, const char *config_digest, uint64_t config_size,
                               json_t *layers, char digest[STORE_DIGEST_MAX], uint64_t *size)
{
	json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
	                      MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
	                      config_digest, "size", (json_int_t)config_size, "layers", layers);
	size_t len;
	char *text = m ? store_json_blob(m, &len) : NULL;
	int rc;

	json_decref(m);
	if (!text)
		return strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	rc = store_import_put(im, text, len, digest);
	*size = len;
	free(text);
	return rc;
}

int store_import_add_image(struct importer *im, const char *digest, uint64_t size, const char *name,
                           const char *media_type)
{
	size_t n = im->n_images + 1;
	struct store_imported *v = realloc(im->images, n * sizeof(*v));
	const char **mts = NULL;
	uint64_t *sizes;

	if (v)
		im->images = v;
	sizes = v ? realloc(im->sizes, n * sizeof(*sizes)) : NULL;
	if (sizes)
		im->sizes = sizes;
	if (sizes)
		mts = realloc(im->media_types, n * sizeof(*mts));
	if (!mts)
		return strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	im->media_types = mts;
	mts[n - 1] = media_type;
	memset(&v[n - 1], 0, sizeof(v[0]));
	memcpy(v[n - 1].digest, digest, STORE_DIGEST_MAX);
	sizes[n - 1] = size;
	if (name && !(v[n - 1].name = strdup(name)))
		return strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	im->n_images = n;
	return 0;
}

/* The last step: every image's tag in one index.json update. */
static int commit_images(struct importer *im)
{
	json_t *index;
	int rc = 0;

	if (im->n_images == 0)
		return strata_fail(im->err, STRATA_ERR_FORMAT, 0, "%s: no image in it%s", im->what,
		                   im->opts->ref ? " with that --ref" : "");
	if (im->opts->tag) {
		size_t distinct = 1;

		/* One image may come with several names: that is still one. */
		for (size_t i = 1; i < im->n_images; i++)
			distinct += strcmp(im->images[i].digest, im->images[0].digest) != 0;
		if (distinct > 1)
			return strata_fail(im->err, STRATA_ERR_OPTION, 0,
			                   "%s: holds %zu images; --tag needs exactly one",
			                   im->what, distinct);
		for (size_t i = 1; i < im->n_images; i++)
			free(im->images[i].name);
		im->n_images = 1;
		free(im->images[0].name);
		if (!(im->images[0].name = strdup(im->opts->tag)))
			return strata_fail(im->err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < im->n_images; i++)
		if (im->images[i].name && !store_valid_tag(im->images[i].name))
			return strata_fail(im->err, STRATA_ERR_CORRUPT, 0,
			                   "%s: '%s': not a valid image name", im->what,
			                   im->images[i].name);
	if (commit_members(im) || store_index_lock(im->store, &index, im->err))
		return -1;
	for (size_t i = 0; i < im->n_images && rc == 0; i++)
		rc = store_index_add(index, im->images[i].digest, im->sizes[i], im->media_types[i],
		                     im->images[i].name, im->err);
	if (rc == 0)
		rc = store_index_save(im->store, index, im->err);
	store_index_unlock(im->store, index);
	return rc;
}

static void importer_free(struct importer *im)
{
	for (size_t i = 0; i < im->n_members; i++) {
		if (im->members[i]->captured)
			store_blob_writer_abort(&im->members[i]->blob);
		free(im->members[i]->path);
		free(im->members[i]->link);
		free(im->members[i]);
	}
	free(im->members);
	free(im->keys);
	free(im->sizes);
	free(im->media_types);
	if (im->dir_fd >= 0)
		close(im->dir_fd);
}

/* After an archive scan or on a layout dir: which kind of image source? */
static int import_members(struct importer *im)
{
	struct member *m;
	json_t *j;
	int rc;

	/* docker-archive first: docker 25+ writes both manifest.json and an
	 * OCI index.json, and only manifest.json carries the full names. */
	if (im->dir_fd < 0
	        ? member_find(im, "manifest.json") != NULL
	        : faccessat(im->dir_fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		return store_import_docker(im);
	}
	if (im->dir_fd < 0 ? member_find(im, "index.json") != NULL
	                   : faccessat(im->dir_fd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!(m = store_member_get(im, "index.json")) ||
		    !(j = store_member_json(im, m, "index.json")))
			return -1;
		rc = store_import_oci(im, j);
		json_decref(j);
		return rc;
	}
	return strata_fail(
	    im->err, STRATA_ERR_FORMAT, 0,
	    "%s: neither an OCI layout (index.json) nor a docker archive (manifest.json)",
	    im->what);
}

int store_import(struct store *s, const char *path, const struct store_import_options *opts,
                 struct store_imported **out, size_t *n_out, struct strata_error *err)
{
	struct importer im = {.store = s, .opts = opts, .err = err, .what = path, .dir_fd = -1};
	struct stat st;
	int fd = -1, rc = -1;

	if (s->tmp_fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, EACCES, "store %s: cannot write to it",
		                   s->root);
	if (dl_archive_load(err) || dl_crypto_load(err))
		return -1;
	if (store_import_lock(s, false, err))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if (faccessat(fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    faccessat(fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			strata_fail(err, STRATA_ERR_FORMAT, 0,
			            "%s: a directory, but not an OCI layout", path);
			goto out;
		}
		im.dir_fd = fd;
		fd = -1;
		rc = import_members(&im);
	} else if (!S_ISREG(st.st_mode)) {
		strata_fail(err, STRATA_ERR_FORMAT, 0, "%s: not a file or directory", path);
	} else {
		im.progress_total = (uint64_t)st.st_size;
		/* An empty file is an empty layer, as it is to mount. */
		rc = st.st_size == 0 ? 1 : store_archive_scan(&im, fd);
		if (rc == 1) {
			im.progress_done = 0;
			rc = store_import_bare_layer(&im, fd);
		} else if (rc == 0) {
			rc = import_members(&im);
		}
	}
	if (rc == 0)
		rc = commit_images(&im);
	if (rc)
		drop_built_keys(&im);
out:
	if (fd >= 0)
		close(fd);
	importer_free(&im);
	store_import_unlock(s);
	if (rc == 0) {
		*out = im.images;
		*n_out = im.n_images;
	} else {
		store_imported_free(im.images, im.n_images);
	}
	return rc;
}

void store_imported_free(struct store_imported *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}
