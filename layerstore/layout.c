/* SPDX-License-Identifier: MIT */
/*
 * The store as an OCI image layout: opening and creating it, index.json
 * under its lock, tags as org.opencontainers.image.ref.name annotations.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "sys.h"

char *store_default_root(void)
{
	const char *env = getenv("STRATA_ROOT");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	char *out = NULL;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/strata");
	if (xdg && xdg[0] == '/')
		return asprintf(&out, "%s/strata", xdg) < 0 ? NULL : out;
	if (!home || !*home)
		home = "/tmp";
	return asprintf(&out, "%s/.local/share/strata", home) < 0 ? NULL : out;
}

static int write_at(struct store *s, const char *name, const char *text, struct strata_error *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->root, name);
	if (sys_write_file_atomic(path, text, strlen(text)) < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* An empty directory becomes an empty layout. */
static int create_layout(struct store *s, struct strata_error *err)
{
	if (mkdirat(s->root_fd, "blobs", 0755) < 0 && errno != EEXIST)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/blobs: %s", s->root,
		                   strerror(errno));
	if (mkdirat(s->root_fd, "blobs/sha256", 0755) < 0 && errno != EEXIST)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/blobs/sha256: %s", s->root,
		                   strerror(errno));
	if (write_at(s, "index.json", "{\"schemaVersion\":2,\"manifests\":[]}\n", err))
		return -1;
	/* oci-layout last: its presence says the layout is complete. */
	return write_at(s, "oci-layout", "{\"imageLayoutVersion\":\"" MT_OCI_LAYOUT_VERSION "\"}\n",
	                err);
}

static bool dir_is_empty(int fd)
{
	DIR *d = sys_opendir_at(fd);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* strata's own folder; only needed (and only created) by commands that write. */
static void open_private_dirs(struct store *s)
{
	static const char *const dirs[] = {"strata", "strata/tmp", "strata/layers",
	                                   "strata/mounts"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		(void)mkdirat(s->root_fd, dirs[i], 0755);
	s->tmp_fd = store_openat(s->root_fd, "strata/tmp", O_RDONLY | O_DIRECTORY);
}

int store_open(const char *root, bool create, struct store **out, struct strata_error *err)
{
	struct store *s = calloc(1, sizeof(*s));
	struct stat st;

	if (!s || !(s->root = strdup(root)) ||
	    asprintf(&s->layer_cache, "%s/strata/layers", root) < 0) {
		if (s)
			s->layer_cache = NULL;
		store_close(s);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	s->root_fd = s->blobs_fd = s->tmp_fd = s->import_lock_fd = -1;
	if (create && sys_mkdir_p(root) < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "store %s: %s", root, strerror(errno));
		goto fail;
	}
	s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		strata_fail(err, STRATA_ERR_SYS, errno, "store %s: %s", root,
		            errno == ENOENT ? "no such store (import an image first)"
		                            : strerror(errno));
		goto fail;
	}
	/* Absolute from here on: the mount daemon and containers leave the
	 * working directory, and paths derived from the root must still work. */
	{
		char *abs = realpath(root, NULL);

		if (abs) {
			free(s->root);
			free(s->layer_cache);
			s->root = abs;
			if (asprintf(&s->layer_cache, "%s/strata/layers", abs) < 0) {
				s->layer_cache = NULL;
				strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
				goto fail;
			}
		}
	}
	/* Two first imports at once: one creates, the other waits and finds
	 * a whole layout (flock on the directory itself). */
	if (create)
		while (flock(s->root_fd, LOCK_EX) < 0 && errno == EINTR)
			;
	if (fstatat(s->root_fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		bool empty = dir_is_empty(s->root_fd);

		/* An empty directory is a store yet to be made, as a missing
		 * one is: ENOENT lets `run` pull into it. */
		if (empty && !create) {
			strata_fail(
			    err, STRATA_ERR_SYS, ENOENT,
			    "store %s: no such store (an empty directory: import or pull an "
			    "image first)",
			    root);
			goto fail;
		}
		if (!empty) {
			strata_fail(err, STRATA_ERR_USAGE, 0, "store %s: not an OCI image layout",
			            root);
			goto fail;
		}
		if (create_layout(s, err))
			goto fail;
	}
	if (create)
		flock(s->root_fd, LOCK_UN);
	s->blobs_fd = store_openat(s->root_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY);
	if (s->blobs_fd < 0) {
		strata_fail(err, STRATA_ERR_CORRUPT, errno, "store %s: blobs/sha256: %s", root,
		            strerror(errno));
		goto fail;
	}
	if (create)
		open_private_dirs(s);
	else if ((s->tmp_fd = store_openat(s->root_fd, "strata/tmp", O_RDONLY | O_DIRECTORY)) < 0 &&
	         errno == ENOENT)
		/* A layout another tool made (skopeo copy ... oci:DIR): strata's
		 * folder comes when something first needs it. */
		open_private_dirs(s);
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->blobs_fd >= 0)
		close(s->blobs_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->import_lock_fd >= 0)
		close(s->import_lock_fd);
	free(s->layer_cache);
	free(s->root);
	free(s);
}

const char *store_root(const struct store *s)
{
	return s->root;
}

const char *store_layer_cache(const struct store *s)
{
	return s->layer_cache;
}

/* ---- locks ---- */

static int lock_file(struct store *s, const char *name, int how, struct strata_error *err)
{
	int fd;

	(void)mkdirat(s->root_fd, "strata", 0755);
	fd = store_openat(s->root_fd, name, O_RDWR | O_CREAT);
	if (fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", s->root, name,
		                   strerror(errno));
	while (flock(fd, how) < 0) {
		if (errno == EINTR)
			continue;
		strata_fail(err, STRATA_ERR_SYS, errno, "%s/%s: %s", s->root, name,
		            strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int store_import_lock(struct store *s, bool exclusive, struct strata_error *err)
{
	if (s->import_lock_fd >= 0)
		return 0;
	s->import_lock_fd = lock_file(s, "strata/gc.lock", exclusive ? LOCK_EX : LOCK_SH, err);
	return s->import_lock_fd < 0 ? -1 : 0;
}

void store_import_unlock(struct store *s)
{
	if (s->import_lock_fd >= 0)
		close(s->import_lock_fd);
	s->import_lock_fd = -1;
}

/* ---- index.json ---- */

int store_index_load(struct store *s, json_t **index, struct strata_error *err)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *v, *m;

	snprintf(path, sizeof(path), "%s/index.json", s->root);
	v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: %s", path, jerr.text);
	m = json_object_get(v, "manifests");
	if (!json_is_object(v) || !json_is_array(m)) {
		json_decref(v);
		return strata_fail(err, STRATA_ERR_CORRUPT, 0, "%s: no manifests array", path);
	}
	*index = v;
	return 0;
}

static int index_lock_fd = -1; /* one writer per process at a time */

int store_index_lock(struct store *s, json_t **index, struct strata_error *err)
{
	int fd = lock_file(s, "strata/index.lock", LOCK_EX, err);

	if (fd < 0)
		return -1;
	if (store_index_load(s, index, err)) {
		close(fd);
		return -1;
	}
	index_lock_fd = fd;
	return 0;
}

int store_index_save(struct store *s, json_t *index, struct strata_error *err)
{
	char *text = json_dumps(index, JSON_INDENT(2));
	int rc;

	if (!text)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "index.json: out of memory");
	/* json_dumps leaves no final newline; files are nicer with one. */
	char *nl = NULL;
	if (asprintf(&nl, "%s\n", text) < 0)
		nl = NULL;
	free(text);
	if (!nl)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "index.json: out of memory");
	rc = write_at(s, "index.json", nl, err);
	free(nl);
	/* The rename itself must survive a crash too. */
	if (rc == 0 && fsync(s->root_fd) < 0)
		rc = strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", s->root, strerror(errno));
	return rc;
}

void store_index_unlock(struct store *s, json_t *index)
{
	(void)s;
	json_decref(index);
	if (index_lock_fd >= 0)
		close(index_lock_fd);
	index_lock_fd = -1;
}

/* ---- references ---- */

char *store_ref_normalize(const char *ref)
{
	static const char *const prefixes[] = {"docker.io/library/", "docker.io/",
	                                       "index.docker.io/library/", "localhost/"};
	const char *slash, *colon;
	char *out;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (strncmp(ref, prefixes[i], n) == 0 && ref[n]) {
			ref += n;
			break;
		}
	}
	slash = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	if (strchr(ref, '@') || (colon && (!slash || colon > slash)))
		return strdup(ref);
	return asprintf(&out, "%s:latest", ref) < 0 ? NULL : out;
}

bool store_valid_tag(const char *name)
{
	/* The OCI ref.name grammar, loosely: components of [A-Za-z0-9._-]
	 * separated by '/', ':' or '@'; no whitespace, no control bytes. */
	size_t n = strlen(name);

	if (n == 0 || n > 255 ||
	    !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]))
		return false;
	return strspn(name,
	              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@+") == n;
}

int store_index_add(json_t *index, const char *digest, uint64_t size, const char *media_type,
                    const char *name, struct strata_error *err)
{
	json_t *manifests = json_object_get(index, "manifests"), *d, *ann;
	char *norm = name ? store_ref_normalize(name) : NULL;
	size_t i;
	json_t *m;

	if (name && !norm)
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	/* A tag names one image: take it from whatever had it. */
	json_array_foreach(manifests, i, m)
	{
		const char *old =
		    store_json_str(json_object_get(m, "annotations"), ANNOTATION_REF_NAME);
		char *old_norm = old ? store_ref_normalize(old) : NULL;
		bool same_name = norm && old_norm && strcmp(norm, old_norm) == 0;
		bool same_untagged =
		    !name && !old && strcmp(store_json_str(m, "digest") ?: "", digest) == 0;

		free(old_norm);
		if (same_untagged) {
			free(norm);
			return 0;
		}
		/* The tag moves here; an untagged entry of this image is now
		 * redundant. */
		if (same_name ||
		    (name && !old && strcmp(store_json_str(m, "digest") ?: "", digest) == 0)) {
			json_array_remove(manifests, i);
			i--;
		}
	}
	free(norm);
	d = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
	              (json_int_t)size);
	if (d && name) {
		ann = json_pack("{s:s}", ANNOTATION_REF_NAME, name);
		if (!ann || json_object_set_new(d, "annotations", ann)) {
			json_decref(d);
			d = NULL;
		}
	}
	if (!d || json_array_append_new(manifests, d))
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "index.json: out of memory");
	return 0;
}

int store_list(struct store *s, struct store_entry **out, size_t *n, struct strata_error *err)
{
	json_t *index, *manifests, *m;
	struct store_entry *v;
	size_t i, k = 0;

	if (store_index_load(s, &index, err))
		return -1;
	manifests = json_object_get(index, "manifests");
	v = calloc(json_array_size(manifests) + 1, sizeof(*v));
	if (!v) {
		json_decref(index);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	json_array_foreach(manifests, i, m)
	{
		const char *d = store_json_str(m, "digest");
		const char *name =
		    store_json_str(json_object_get(m, "annotations"), ANNOTATION_REF_NAME);

		if (!store_digest_valid(d))
			continue;
		memcpy(v[k].digest, d, STORE_DIGEST_MAX);
		v[k].name = name ? strdup(name) : NULL;
		k++;
	}
	json_decref(index);
	*out = v;
	*n = k;
	return 0;
}

void store_entries_free(struct store_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

void store_trust_blobs(struct store *s)
{
	s->trust_blobs = true;
}
