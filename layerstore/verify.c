/* SPDX-License-Identifier: MIT */
/*
 * Layers whose index was adopted from the registry's index artifact on a
 * whole pull (pull_blob.c), verified afterwards.
 *
 * Such a pull checks every blob against its digest, as any pull does, but
 * neither decompresses it nor indexes it: that is the CPU a pull spends
 * beyond skopeo's (issue 14's bench).  Until verified, the layer is
 * served through an index strata did not build, and its diff-id (what
 * the config says its uncompressed bytes hash to) is unchecked: the trust
 * a lazy layer has until it is whole (docs/index-artifact.md).
 * strata/lazy/<hex>.unverified holds the diff-id to check.
 *
 * Verifying (`strata fsck --adopted`, which pull starts at idle priority
 * as it ends, and every `strata fsck`): the blob is indexed again into a
 * scratch cache directory, its diff-id computed in the same pass.
 *   - The diff-id differs: the image's config lies about the layer, which
 *     a pull that indexes as it downloads refuses.  strata/lazy/<hex>.failed
 *     says so, and opening the layer fails with it from then on.
 *   - The index differs from the adopted one: the artifact lied.  strata's
 *     own replaces it in the cache (mounts opened before keep the one they
 *     mapped), and the caller is told.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazy_blob.h"
#include "sys.h"

#define UNVERIFIED ".unverified"
#define FAILED     ".failed"

int store_adopted_mark(struct store *s, const char *digest, const char *diff_id,
                       struct strata_error *err)
{
	return store_lazy_write_mark(s, digest, UNVERIFIED, diff_id, err);
}

bool store_adopted_failed(struct store *s, const char *digest, char *why, size_t size)
{
	return store_lazy_read_mark(s, digest, FAILED, why, size);
}

/* The portable form of the index of @path in cache @dir, into a memfd. */
static int export_from(struct store *s, const char *dir, const char *path, const char *key,
                       struct strata_error *err)
{
	struct strata_layer_options lo = {.cache_dir = dir, .cache_key = key};
	int fd = memfd_create("strata-index", MFD_CLOEXEC);

	(void)s;
	if (fd < 0)
		return strata_fail(err, STRATA_ERR_SYS, errno, "memfd: %s", strerror(errno));
	if (strata_layer_index_export(path, &lo, fd, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether two files hold the same bytes. */
static bool same_bytes(int a, int b)
{
	char x[65536], y[65536];
	struct stat sa, sb;
	off_t off = 0;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0 || sa.st_size != sb.st_size)
		return false;
	while (off < sa.st_size) {
		ssize_t n = sys_pread_full(a, x, sizeof(x), off);

		if (n <= 0 || sys_pread_full(b, y, (size_t)n, off) != n || memcmp(x, y, (size_t)n))
			return false;
		off += n;
	}
	return true;
}

/* @path's index built again in @scratch: its diff-id into @got. */
static int rebuild(const char *path, const char *scratch, const char *key, const char *digest,
                   char got[STORE_DIGEST_MAX], struct strata_error *err)
{
	struct strata_layer_options lo = {.cache_dir = scratch,
	                                  .cache_key = key,
	                                  .name = digest,
	                                  .force_reindex = true,
	                                  .want_diff_id = true};
	struct strata_layer_info info;
	struct strata_layer *layer;

	if (strata_layer_open_tar(path, &lo, &layer, err))
		return -1;
	strata_layer_info(layer, &info);
	/* A plain tar's diff-id is its digest. */
	snprintf(got, STORE_DIGEST_MAX, "%s", info.diff_id[0] ? info.diff_id : digest);
	strata_layer_close(layer);
	return 0;
}

/* Compares the adopted index with the one rebuilt in @scratch; when they
 * differ, the rebuilt one takes its place.  1 replaced, 0 same (or none
 * left to compare: the cache lost it, and gets the rebuilt one), -1. */
static int settle_index(struct store *s, const char *path, const char *scratch, const char *key,
                        struct strata_error *err)
{
	char from[PATH_MAX + LAYER_KEY_MAX + 8], to[PATH_MAX + LAYER_KEY_MAX + 8];
	int a = export_from(s, s->layer_cache, path, key, err), b = -1, lock, rc = 0;

	/* An adopted index the cache lost since is no lie: put back. */
	if (a >= 0)
		b = export_from(s, scratch, path, key, err);
	if (b < 0 && a >= 0) {
		close(a);
		return -1;
	}
	if (a >= 0 && same_bytes(a, b))
		rc = 0;
	else {
		snprintf(from, sizeof(from), "%s/%s.idx", scratch, key);
		snprintf(to, sizeof(to), "%s/%s.idx", s->layer_cache, key);
		lock = store_layer_cache_lock(s, key);
		rc = rename(from, to) < 0
		         ? strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", to, strerror(errno))
		         : a >= 0;
		if (lock >= 0)
			close(lock);
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return rc;
}

/* Removes the scratch directory and what the build left in it. */
static void remove_scratch(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

/* One layer, its mark held: 0 verified (*@lied when its index was
 * replaced), 1 failed (marked), 2 not there yet, -1 not decided (the
 * mark stays). */
static int verify_layer(struct store *s, const char *digest, const char *diff_id, bool *lied,
                        struct strata_error *err)
{
	char path[PATH_MAX], scratch[PATH_MAX], key[LAYER_KEY_MAX], got[STORE_DIGEST_MAX];
	char why[512];
	int rc;

	*lied = false;
	/* Not in blobs/: a pull still at work (or one that failed, whose
	 * marks gc takes with its blobs). */
	if (store_blob_path(s, digest, path, sizeof(path)) < 0 || access(path, F_OK) < 0)
		return 2;
	store_layer_cache_key(diff_id, digest, key);
	snprintf(scratch, sizeof(scratch), "%s/verify.XXXXXX", s->layer_cache);
	if (!mkdtemp(scratch))
		return strata_fail(err, STRATA_ERR_SYS, errno, "%s: %s", scratch, strerror(errno));
	rc = rebuild(path, scratch, key, digest, got, err);
	if (rc == 0 && strcmp(got, diff_id) != 0) {
		snprintf(why, sizeof(why), "its uncompressed digest is %s, the config says %s", got,
		         diff_id);
		rc = store_lazy_write_mark(s, digest, FAILED, why, err) ? -1 : 1;
		if (rc > 0)
			strata_fail(err, STRATA_ERR_CORRUPT, 0, "layer %s: %s", digest, why);
	} else if (rc == 0) {
		rc = settle_index(s, path, scratch, key, err);
		*lied = rc > 0;
		rc = rc < 0 ? -1 : 0;
	}
	remove_scratch(scratch);
	return rc;
}

/* The layer of mark @name (<hex>.unverified), if no one else holds it. */
static int verify_mark(struct store *s, int dir, const char *name,
                       const struct store_verify_options *o, struct store_verify_result *res)
{
	char digest[STORE_DIGEST_MAX], diff_id[STORE_DIGEST_MAX] = "";
	char msg[sizeof(((struct strata_error *)0)->msg) + 128];
	struct strata_error err;
	bool lied;
	ssize_t n;
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) { /* another verifier has it */
		close(fd);
		return 0;
	}
	n = sys_pread_full(fd, diff_id, sizeof(diff_id) - 1, 0);
	diff_id[n > 0 ? n : 0] = '\0';
	snprintf(digest, sizeof(digest), "sha256:%.*s", (int)strcspn(name, "."), name);
	if (!store_digest_valid(digest) || !store_digest_valid(diff_id)) {
		unlinkat(dir, name, 0); /* not ours to keep */
		close(fd);
		return 0;
	}
	rc = verify_layer(s, digest, diff_id, &lied, &err);
	if (rc == 2) {
		close(fd);
		return 0;
	}
	if (rc >= 0 && faccessat(dir, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		unlinkat(dir, name, 0);
	close(fd);
	if (rc == 0) {
		res->verified++;
		if (lied && o->warn) {
			snprintf(msg, sizeof(msg),
			         "layer %s: the registry's index artifact did not describe it; "
			         "strata's own index replaces it",
			         digest);
			o->warn(o->warn_ctx, msg);
		}
		res->replaced += lied;
		return 0;
	}
	if (rc > 0)
		res->failed++;
	if (o->warn && (rc < 0 || o->warn_failed)) {
		snprintf(msg, sizeof(msg), "%s", err.msg);
		o->warn(o->warn_ctx, msg);
	}
	return rc > 0 ? 0 : -1;
}

int store_verify_adopted(struct store *s, const struct store_verify_options *o,
                         struct store_verify_result *res, struct strata_error *err)
{
	int dir = store_openat(s->root_fd, "strata/lazy", O_RDONLY | O_DIRECTORY), rc = 0;
	struct dirent *e;
	DIR *d;

	memset(res, 0, sizeof(*res));
	if (dir < 0)
		return errno == ENOENT
		           ? 0
		           : strata_fail(err, STRATA_ERR_SYS, errno, "%s/strata/lazy: %s", s->root,
		                         strerror(errno));
	d = fdopendir(dir);
	if (!d) {
		close(dir);
		return strata_fail(err, STRATA_ERR_NOMEM, ENOMEM, "out of memory");
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len > strlen(UNVERIFIED) &&
		    strcmp(e->d_name + len - strlen(UNVERIFIED), UNVERIFIED) == 0 &&
		    verify_mark(s, dirfd(d), e->d_name, o, res) < 0)
			res->undecided++;
	}
	closedir(d);
	if (res->undecided)
		rc = strata_fail(err, STRATA_ERR_SYS, EIO,
		                 "%zu adopted layer%s could not be verified (see above)",
		                 res->undecided, res->undecided == 1 ? "" : "s");
	return rc;
}
